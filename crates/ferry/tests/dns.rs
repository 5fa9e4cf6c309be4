//! The embedded resolver, seen from inside sandboxes: scoped names, changes taking effect at
//! once, forwarding to a loopback upstream of the host, and no forwarding from internal
//! networks. Lookups go through the sandbox's own libc (`getent hosts`), as a program's would.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};

/// `getent hosts NAME` inside a sandbox: the first address, or None.
fn resolve(h: &Host, from: &str, name: &str) -> Option<String> {
    let r = h.ferry(&["exec", from, "--", "getent", "hosts", name]);
    (r.code == 0).then(|| {
        r.stdout
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

#[test]
fn names_are_scoped_and_changes_are_immediate() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.ok(&["network", "create", "other"]);
    h.sleeper("cli", &["--network", "appnet"]);
    // The seeds' walk: no such name yet, then it resolves, later it is gone again.
    assert_eq!(resolve(&h, "cli", "web"), None);
    h.sleeper("web", &["--network", "appnet", "--network-alias", "www"]);
    h.sleeper("far", &["--network", "other"]);
    let web = h.ip("web", "appnet");
    let resolv = h.ok(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.contains("ndots:0"), "{resolv}");
    let short = h.inspect("web")["Id"].as_str().unwrap()[..12].to_string();
    for name in ["web", "WEB", "www", "web.appnet", short.as_str()] {
        assert_eq!(resolve(&h, "cli", name), Some(web.clone()), "{name}");
    }
    assert_eq!(resolve(&h, "cli", "far"), None, "far is on another network");
    // PTR: the address maps back to the sandbox's name on the network.
    let ptr = h.ok(&["exec", "cli", "--", "getent", "hosts", &web]);
    assert!(ptr.contains("web.appnet"), "{ptr}");

    // connect makes far resolvable at once, disconnect takes it away at once.
    h.ok(&["network", "connect", "other", "cli"]);
    assert_eq!(resolve(&h, "cli", "far"), Some(h.ip("far", "other")));
    h.ok(&["network", "disconnect", "other", "cli"]);
    assert_eq!(resolve(&h, "cli", "far"), None);

    // rm: gone at once; recreated under the same name: the new address.
    h.ok(&["rm", "-f", "web"]);
    assert_eq!(resolve(&h, "cli", "web"), None);
    h.sleeper("blocker", &["--network", "appnet"]);
    h.sleeper("web", &["--network", "appnet"]);
    let new_web = h.ip("web", "appnet");
    assert_ne!(new_web, web, "serial allocation gives a new address");
    assert_eq!(resolve(&h, "cli", "web"), Some(new_web));

    // A shared alias answers with every holder's address.
    h.sleeper("a1", &["--network", "appnet", "--network-alias", "pool"]);
    h.sleeper("a2", &["--network", "appnet", "--network-alias", "pool"]);
    let all = h.ok(&["exec", "cli", "--", "getent", "ahostsv4", "pool"]);
    for sb in ["a1", "a2"] {
        assert!(all.contains(&h.ip(sb, "appnet")), "{sb} missing: {all}");
    }

    // The default bridge has no embedded DNS, as in Docker.
    h.sleeper("plain", &[]);
    let resolv = h.ok(&["exec", "plain", "--", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
}

/// A fake upstream on the host's loopback: `upstream.py ADDR MODE LOG` answers every A query
/// with 192.0.2.99 (TTL 60; TTL 0 for names starting with "nocache"), or with SERVFAIL when
/// MODE is `servfail`, and appends each name and type it is asked for to LOG. Names starting
/// with "hole" are never answered nor logged (a server that drops them).
const UPSTREAM: &str = r#"
import socket, sys
addr, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
while True:
    q, a = s.recvfrom(512)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += q[i] + 1
    name = ".".join(labels)
    qtype = int.from_bytes(q[i + 1:i + 3], "big")
    if name.startswith("hole"):
        continue
    with open(log, "a") as f:
        f.write("%s %d\n" % (name, qtype))
    end = i + 5
    if mode == "servfail":
        r = q[:2] + b"\x81\x82" + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:end]
    else:
        ttl = 0 if name.startswith("nocache") else 60
        r = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end]
        r += b"\xc0\x0c\x00\x01\x00\x01" + ttl.to_bytes(4, "big") + b"\x00\x04" + bytes([192, 0, 2, 99])
    s.sendto(r, a)
"#;

/// Starts a fake upstream on `addr` in the test's host namespace; returns its query log.
fn upstream(h: &Host, addr: &str, mode: &str) -> std::path::PathBuf {
    let script = h.dir.path().join("upstream.py");
    std::fs::write(&script, UPSTREAM).unwrap();
    let log = h.dir.path().join(format!("queries-{addr}.log"));
    h.spawn(&format!(
        "python3 {} {addr} {mode} {}",
        script.display(),
        log.display()
    ));
    assert!(eventually(5, || h
        .sh(&format!("ss -lun | grep -q {addr}:53"))
        .code
        == 0));
    log
}

/// How many times the upstream logging to `log` was asked for `name`'s A record.
fn asked(log: &std::path::Path, name: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.eq_ignore_ascii_case(&format!("{name} 1")))
        .count()
}

/// Restarts the daemon with `daemon.json` set to `json`.
fn with_daemon_json(h: &mut Host, json: &str) {
    h.stop_daemon(false);
    std::fs::write(h.dir.path().join("daemon.json"), json).unwrap();
    h.start_daemon();
}

#[test]
fn other_names_are_forwarded_from_the_host_but_not_from_internal_networks() {
    let mut h = Host::new();
    upstream(&h, "127.0.0.53", "answer");
    with_daemon_json(&mut h, r#"{"dns": ["127.0.0.53"]}"#);
    h.ok(&["network", "create", "appnet"]);
    h.ok(&["network", "create", "--internal", "private"]);
    h.sleeper("cli", &["--network", "appnet"]);
    h.sleeper("inner", &["--network", "private"]);
    assert_eq!(
        resolve(&h, "cli", "example.test"),
        Some("192.0.2.99".into()),
        "forwarded to the host's loopback upstream"
    );
    let resolv = h.ok(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("ExtServers: [127.0.0.53]"), "{resolv}");
    assert_eq!(
        resolve(&h, "inner", "example.test"),
        None,
        "internal: no way out"
    );
    assert!(
        resolve(&h, "inner", "cli").is_none(),
        "cli is not on private"
    );
    // A restart brings every resolver back before the API answers.
    h.stop_daemon(false);
    h.start_daemon();
    assert_eq!(
        resolve(&h, "cli", "example.test"),
        Some("192.0.2.99".into())
    );
    h.sleeper("peer", &["--network", "appnet"]);
    assert_eq!(resolve(&h, "cli", "peer"), Some(h.ip("peer", "appnet")));
}

#[test]
fn forwarded_answers_are_cached_for_their_ttl_and_failover_skips_dead_and_failing_servers() {
    let mut h = Host::new();
    // 127.0.0.52 has no server (port unreachable), 127.0.0.54 answers SERVFAIL; 127.0.0.53
    // answers. Each query walks down the list until an answer comes.
    let failing = upstream(&h, "127.0.0.54", "servfail");
    let good = upstream(&h, "127.0.0.53", "answer");
    with_daemon_json(
        &mut h,
        r#"{"dns": ["127.0.0.52", "127.0.0.54", "127.0.0.53"]}"#,
    );
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    for _ in 0..3 {
        assert_eq!(
            resolve(&h, "cli", "cached.example.test"),
            Some("192.0.2.99".into())
        );
    }
    assert_eq!(asked(&failing, "cached.example.test"), 1, "tried once");
    assert_eq!(
        asked(&good, "cached.example.test"),
        1,
        "answered once, then from the cache"
    );
    // A TTL of 0 is never cached.
    for _ in 0..2 {
        assert_eq!(
            resolve(&h, "cli", "nocache.example.test"),
            Some("192.0.2.99".into())
        );
    }
    assert_eq!(asked(&good, "nocache.example.test"), 2);
    // A cached answer counts its TTL down.
    let dig = h.ok(&[
        "exec",
        "cli",
        "--",
        "dig",
        "+noall",
        "+answer",
        "@127.0.0.11",
        "cached.example.test",
    ]);
    let ttl: u32 = dig.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ttl <= 60 && ttl > 0, "{dig}");
}

#[test]
fn big_answers_truncate_over_udp_then_come_whole_over_tcp() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.77.0.0/24", "appnet"]);
    // 40 holders of one alias: 40 A records do not fit in 512 bytes.
    for i in 0..40 {
        h.sleeper(
            &format!("m{i}"),
            &["--network", "appnet", "--network-alias", "many"],
        );
    }
    h.sleeper("cli", &["--network", "appnet"]);
    let udp = h.ok(&[
        "exec",
        "cli",
        "--",
        "dig",
        "+ignore",
        "+noedns",
        "+notcp",
        "@127.0.0.11",
        "many",
    ]);
    assert!(udp.contains(" tc "), "TC bit over UDP: {udp}");
    let tcp = h.ok(&[
        "exec",
        "cli",
        "--",
        "dig",
        "+tcp",
        "+noall",
        "+answer",
        "@127.0.0.11",
        "many",
    ]);
    assert_eq!(
        tcp.lines().filter(|l| l.contains("\tA\t")).count(),
        40,
        "{tcp}"
    );
    // Without +ignore dig retries over TCP by itself, as stub resolvers do.
    let auto = h.ok(&[
        "exec",
        "cli",
        "--",
        "dig",
        "+noedns",
        "+noall",
        "+answer",
        "@127.0.0.11",
        "many",
    ]);
    assert_eq!(
        auto.lines().filter(|l| l.contains("\tA\t")).count(),
        40,
        "{auto}"
    );
}

#[test]
fn idle_and_trickling_tcp_clients_do_not_delay_anyone() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("web", &["--network", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    // 70 connections that send nothing (more than one sandbox's 64 TCP slots), and one that
    // sends a byte a second: the aardvark-dns flaw (CVE-2024-8418) stalled every client.
    let pid = h.inspect("cli")["State"]["Pid"].as_u64().unwrap();
    h.spawn(&format!(
        "nsenter --net=/proc/{pid}/ns/net python3 -c '
import socket, time
idle = [socket.create_connection((\"127.0.0.11\", 53)) for _ in range(70)]
t = socket.create_connection((\"127.0.0.11\", 53))
for b in b\"\\x00\\x20abcdefghijklmnopqrstuvwxyz\": t.send(bytes([b])); time.sleep(1)
'"
    ));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let web = h.ip("web", "appnet");
    let started = std::time::Instant::now();
    // UDP clients are never held up.
    assert_eq!(resolve(&h, "cli", "web"), Some(web.clone()));
    // A TCP client is served within the idle deadline at worst (slots free after 5 s).
    let tcp = h.ok(&[
        "exec",
        "cli",
        "--",
        "dig",
        "+tcp",
        "+tries=1",
        "+time=12",
        "+short",
        "@127.0.0.11",
        "web",
    ]);
    assert_eq!(tcp.trim(), web);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "served while slow clients hold connections"
    );
    let log = h.daemon_log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn links_on_the_default_bridge_name_their_target_in_etc_hosts() {
    let h = Host::new();
    h.sleeper("db", &[]);
    h.sleeper("app", &["--link", "db:database"]);
    let db = h.ip("db", "bridge");
    let hosts = h.ok(&["exec", "app", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{db}\tdatabase db")), "{hosts}");
    assert_eq!(resolve(&h, "app", "database"), Some(db.clone()));
    h.ok(&["exec", "app", "--", "ping", "-c1", "-W2", "database"]);
    let links = &h.inspect("app")["HostConfig"]["Links"];
    assert_eq!(links[0], "/db:/app/database", "{links}");
    // Errors: unknown target, bad syntax, and starting while the target is stopped.
    let e = h.fails(&["run", "-d", "--link", "nosuch", "--", "sleep", "1"]);
    assert!(e.contains("no such sandbox"), "{e}");
    let e = h.fails(&["run", "-d", "--link", "db:", "--", "sleep", "1"]);
    assert!(e.contains("invalid --link"), "{e}");
    h.ok(&["stop", "-t", "0", "app"]);
    h.ok(&["stop", "-t", "0", "db"]);
    let e = h.fails(&["start", "app"]);
    assert!(
        e.contains("cannot link to sandbox db: it is not running"),
        "{e}"
    );
}

/// Floods 127.0.0.11 from inside a sandbox with queries for names the upstream never answers,
/// 100 every 50 ms (about 2000 a second: with the 2 s upstream timeout, far more than 1024 are
/// outstanding), until the file STOP exists or 200000 are sent. Writes READY once the first
/// SERVFAIL comes back, that is once the resolver refuses the flood's excess.
const FLOOD: &str = r#"
import os, socket, sys, threading, time
stop, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.11", 53))
def reader():
    while True:
        r = s.recv(4096)
        if r[3] & 0x0F == 2 and not os.path.exists(ready):
            open(ready, "w").write("servfail\n")
threading.Thread(target=reader, daemon=True).start()
sent = 0
while not os.path.exists(stop) and sent < 200000:
    for _ in range(100):
        name = b"\x0ahole%06d" % (sent % 1000000) + b"\x07example\x04test\x00"
        s.send((sent % 65536).to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x01\x00\x01")
        sent += 1
    time.sleep(0.05)
"#;

#[test]
fn one_sandbox_flooding_a_dead_upstream_does_not_starve_the_others() {
    let mut h = Host::new();
    let log = upstream(&h, "127.0.0.53", "answer");
    with_daemon_json(&mut h, r#"{"dns": ["127.0.0.53"]}"#);
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("flooder", &["--network", "appnet"]);
    h.sleeper("victim", &["--network", "appnet"]);
    let script = h.dir.path().join("flood.py");
    std::fs::write(&script, FLOOD).unwrap();
    let (stop, ready) = (h.dir.path().join("stop"), h.dir.path().join("ready"));
    // The flood ends with the test, even a failed one.
    struct Stop(std::path::PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, "");
        }
    }
    let stopper = Stop(stop);
    let pid = h.inspect("flooder")["State"]["Pid"].as_u64().unwrap();
    h.spawn(&format!(
        "nsenter --net=/proc/{pid}/ns/net python3 {} {} {}",
        script.display(),
        stopper.0.display(),
        ready.display()
    ));
    assert!(
        eventually(60, || ready.exists()),
        "the flood never met its bound"
    );
    // While the flood goes on, another sandbox's forwarded names still resolve (each a new
    // name, so none comes from the cache).
    for i in 0..5 {
        let name = format!("ext{i}.example.test");
        assert_eq!(
            resolve(&h, "victim", &name),
            Some("192.0.2.99".into()),
            "{name} while another sandbox floods"
        );
        assert_eq!(asked(&log, &name), 1, "{name} forwarded once");
    }
    drop(stopper);
    // The flooder's slots come back once its forwards time out.
    assert!(eventually(30, || resolve(
        &h,
        "flooder",
        "after.example.test"
    ) == Some("192.0.2.99".into())));
    let daemon_log = h.daemon_log();
    assert!(
        daemon_log.contains("the sandbox has its share of queries being forwarded"),
        "{daemon_log}"
    );
    assert!(!daemon_log.contains("panicked"), "{daemon_log}");
}

#[test]
fn badvers_any_and_zone_transfers_are_answered_by_ferry_not_forwarded() {
    let mut h = Host::new();
    let log = upstream(&h, "127.0.0.53", "answer");
    with_daemon_json(&mut h, r#"{"dns": ["127.0.0.53"]}"#);
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("web", &["--network", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    let dig = |args: &[&str]| {
        let mut a = vec!["exec", "cli", "--", "dig", "@127.0.0.11"];
        a.extend_from_slice(args);
        h.ok(&a)
    };
    // EDNS version 1: BADVERS, with an OPT record of version 0.
    let r = dig(&["+edns=1", "+noednsnegotiation", "example.test"]);
    assert!(r.contains("status: BADVERS"), "{r}");
    assert!(r.contains("EDNS: version: 0"), "{r}");
    // ANY: one synthesized HINFO for an outside name (RFC 8482), the addresses of a local one.
    let r = dig(&["+noall", "+answer", "ANY", "example.test"]);
    assert_eq!(r.lines().count(), 1, "{r}");
    assert!(r.contains("HINFO\t\"RFC8482\" \"\""), "{r}");
    let r = dig(&["+noall", "+answer", "ANY", "web"]);
    assert!(r.contains(&format!("A\t{}", h.ip("web", "appnet"))), "{r}");
    // Zone transfers (over TCP, as they are asked) are refused: the reply's RCODE is 5.
    for qtype in [252, 251] {
        let ask = format!(
            "import socket; s = socket.create_connection(('127.0.0.11', 53)); \
             q = b'\\x00\\x07\\x00\\x00\\x00\\x01' + bytes(6) + b'\\x06appnet\\x00' + ({qtype}).to_bytes(2, 'big') + b'\\x00\\x01'; \
             s.sendall(len(q).to_bytes(2, 'big') + q); r = s.recv(4096); print(r[5] & 15)"
        );
        let rcode = h.ok(&["exec", "cli", "--", "python3", "-c", &ask]);
        assert_eq!(rcode, "5", "qtype {qtype}");
    }
    // None of them reached the upstream; an ordinary query still does.
    assert_eq!(
        resolve(&h, "cli", "plain.example.test"),
        Some("192.0.2.99".into())
    );
    let asked_for = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        asked_for
            .lines()
            .all(|l| l.starts_with("plain.example.test ")),
        "{asked_for}"
    );
    assert_eq!(asked(&log, "plain.example.test"), 1, "{asked_for}");
}

#[test]
fn a_default_bridge_sandbox_connected_to_a_user_network_gets_the_resolver_and_keeps_it() {
    let mut h = Host::new();
    upstream(&h, "127.0.0.53", "answer");
    with_daemon_json(&mut h, r#"{"dns": ["127.0.0.53"]}"#);
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("peer", &["--network", "appnet"]);
    h.sleeper("plain", &[]);
    let resolv = |h: &Host| h.ok(&["exec", "plain", "--", "cat", "/etc/resolv.conf"]);
    assert!(!resolv(&h).contains("127.0.0.11"), "{}", resolv(&h));
    assert_eq!(resolve(&h, "plain", "peer"), None);

    // Docker's walk: connect, the peer resolves by name; names outside are forwarded to the
    // host's (loopback) server, listed as ExtServers.
    h.ok(&["network", "connect", "appnet", "plain"]);
    let r = resolv(&h);
    assert!(r.contains("nameserver 127.0.0.11"), "{r}");
    assert!(r.contains("ExtServers: [127.0.0.53]"), "{r}");
    assert!(r.contains("ndots:0"), "{r}");
    let peer = h.ip("peer", "appnet");
    assert_eq!(resolve(&h, "plain", "peer"), Some(peer.clone()));
    assert_eq!(resolve(&h, "plain", "peer.appnet"), Some(peer.clone()));
    assert_eq!(
        resolve(&h, "plain", "one.example.test"),
        Some("192.0.2.99".into())
    );
    // The peer finds it too.
    assert_eq!(resolve(&h, "peer", "plain"), Some(h.ip("plain", "appnet")));

    // A restart keeps its resolver.
    h.stop_daemon(false);
    h.start_daemon();
    assert_eq!(resolve(&h, "plain", "peer"), Some(peer.clone()));

    // Disconnected from its only user network: 127.0.0.11 stays, as in Docker, and names
    // outside still resolve through the default bridge's way out; the peer's name is no
    // longer local, so it is forwarded like any other (and the fake upstream answers all).
    h.ok(&["network", "disconnect", "appnet", "plain"]);
    assert!(
        resolv(&h).contains("nameserver 127.0.0.11"),
        "{}",
        resolv(&h)
    );
    assert_eq!(resolve(&h, "plain", "peer"), Some("192.0.2.99".into()));
    assert_eq!(
        resolve(&h, "plain", "two.example.test"),
        Some("192.0.2.99".into())
    );
    // And after another restart.
    h.stop_daemon(false);
    h.start_daemon();
    assert_eq!(
        resolve(&h, "plain", "three.example.test"),
        Some("192.0.2.99".into())
    );
    // A new run starts afresh, with the host's servers again, as Docker does.
    h.ok(&["restart", "-t", "0", "plain"]);
    assert!(!resolv(&h).contains("127.0.0.11"), "{}", resolv(&h));
}

#[test]
fn connecting_a_sandbox_whose_program_holds_port_53_is_refused_and_changes_nothing() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "dnsd",
        "--",
        "socat",
        "UDP4-RECVFROM:53,fork",
        "SYSTEM:true",
    ]);
    assert!(eventually(10, || h
        .ferry(&["exec", "dnsd", "--", "ss", "-lun"])
        .stdout
        .contains(":53 ")));
    let before = h.ok(&["exec", "dnsd", "--", "cat", "/etc/resolv.conf"]);
    let r = h.ferry(&["network", "connect", "appnet", "dnsd"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("127.0.0.11:53 is in use"), "{}", r.stderr);
    let nets = &h.inspect("dnsd")["NetworkSettings"]["Networks"];
    assert!(nets.get("appnet").is_none(), "{nets}");
    let links = h.ok(&["exec", "dnsd", "--", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 2, "lo and eth0 only: {links}");
    assert_eq!(
        h.ok(&["exec", "dnsd", "--", "cat", "/etc/resolv.conf"]),
        before
    );
}

//! Services seen from inside sandboxes and from another host: the VIP balancing connections
//! over the replicas, `tasks.NAME`, dnsrr, scaling and replica restarts taking effect at once,
//! the routing mesh keeping the client's address, and clean removal.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};
use std::collections::BTreeMap;

/// A replica program: answers each TCP connection on port 80 with its host name, then echoes.
const REPLICA: &[&str] = &[
    "socat",
    "TCP-LISTEN:80,fork,reuseaddr",
    "SYSTEM:echo $HOSTNAME; cat",
];

/// A client that opens `n` connections to `addr:port` one after another and prints how many
/// answered with each host name, as JSON.
fn count_script(addr: &str, port: u16, n: usize) -> String {
    format!(
        r#"
import socket, json, collections
c = collections.Counter()
for _ in range({n}):
    s = socket.create_connection(("{addr}", {port}), timeout=5)
    c[s.makefile().readline().strip()] += 1
    s.close()
print(json.dumps(c))
"#
    )
}

/// Connection counts per answering host name, made from inside `from`.
fn spread(h: &Host, from: &str, addr: &str, port: u16, n: usize) -> BTreeMap<String, usize> {
    let out = h.ok(&[
        "exec",
        from,
        "--",
        "python3",
        "-c",
        &count_script(addr, port, n),
    ]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn service(h: &Host, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["service", "inspect", name])).unwrap();
    v[0].clone()
}

fn running(h: &Host, name: &str) -> u64 {
    service(h, name)["ServiceStatus"]["RunningTasks"]
        .as_u64()
        .unwrap()
}

/// `getent ahostsv4 NAME` inside a sandbox: the distinct addresses.
fn addresses(h: &Host, from: &str, name: &str) -> Vec<String> {
    let r = h.ferry(&["exec", from, "--", "getent", "ahostsv4", name]);
    let mut v: Vec<String> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn create_web(h: &Host, extra: &[&str]) {
    let mut args = vec!["service", "create", "--name", "web", "--network", "appnet"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(REPLICA);
    h.ok(&args);
}

#[test]
fn a_vip_balances_connections_over_live_replicas() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.88.0.0/24", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    create_web(&h, &["--replicas", "3"]);
    assert!(eventually(10, || running(&h, "web") == 3));
    let vip = service(&h, "web")["Endpoint"]["VirtualIPs"][0]["Addr"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(vip.starts_with("10.88.0."), "{vip}");
    // DNS: NAME is the VIP, tasks.NAME the replicas.
    assert_eq!(addresses(&h, "cli", "web"), vec![vip.clone()]);
    let tasks = addresses(&h, "cli", "tasks.web");
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for slot in 1..=3 {
        let name = format!("web.{slot}");
        assert!(tasks.contains(&h.ip(&name, "appnet")), "{name}");
    }
    for sb in ["web.1", "web.2", "web.3"] {
        h.ok(&["exec", sb, "--", "true"]);
    }

    // 3000 new connections: each replica gets a third, within 5 points.
    let counts = spread(&h, "cli", "web", 80, 3000);
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (replica, n) in &counts {
        let share = *n as f64 / 3000.0;
        assert!(
            (share - 1.0 / 3.0).abs() <= 0.05,
            "{replica}: {share:.3} of {counts:?}"
        );
    }

    // A connection held open across a scale-down keeps working when its replica stays.
    let hold = r#"
import socket, sys, time, os
conns = []
for _ in range(12):
    s = socket.create_connection(("web", 80), timeout=5)
    conns.append((s, s.makefile().readline().strip()))
open(sys.argv[1] + "/ready", "w").close()
while not os.path.exists(sys.argv[1] + "/go"):
    time.sleep(0.05)
ok = 0
for s, name in conns:
    try:
        s.sendall(b"ping\n")
        s.settimeout(1)
        if s.makefile().readline().strip() == "ping":
            ok += 1
            print("alive", name, flush=True)
        else:
            print("dead", name, flush=True)
    except OSError:
        print("dead", name, flush=True)
"#;
    let flags = h.dir.path().to_path_buf();
    let script = h.dir.path().join("hold.py");
    std::fs::write(&script, hold).unwrap();
    let pid = h.inspect("cli")["State"]["Pid"].as_u64().unwrap();
    let out = h.dir.path().join("hold.out");
    h.spawn(&format!(
        "nsenter --net=/proc/{pid}/ns/net --uts=/proc/{pid}/ns/uts --mount=/proc/{pid}/ns/mnt python3 {} {} > {}",
        script.display(),
        flags.display(),
        out.display()
    ));
    assert!(eventually(10, || flags.join("ready").exists()));

    // Scale to 2: web.3 leaves the balancer at once, new connections never meet it.
    h.ok(&["service", "scale", "web=2"]);
    assert!(
        eventually(20, || h.ferry(&["inspect", "web.3"]).code != 0),
        "{}",
        h.daemon_log()
    );
    let counts = spread(&h, "cli", "web", 80, 300);
    let short3 = counts.keys().filter(|k| !k.is_empty()).count();
    assert_eq!(short3, 2, "two replicas answer: {counts:?}");
    std::fs::write(flags.join("go"), "").unwrap();
    // Connections to the removed replica time out (its address is gone): 1 s each at most.
    assert!(
        eventually(30, || std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            == 12),
        "{}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );
    let report = std::fs::read_to_string(&out).unwrap();
    let web1 = h.inspect("web.1")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let web2 = h.inspect("web.2")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_string();
    for line in report.lines() {
        let (state, name) = line.split_once(' ').unwrap();
        if name == web1 || name == web2 {
            assert_eq!(
                state, "alive",
                "established connection to a remaining replica: {report}"
            );
        }
    }

    // Scaling up adds backends without a restart of the others.
    let pid1 = h.inspect("web.1")["State"]["Pid"].as_u64().unwrap();
    h.ok(&["service", "scale", "web=4"]);
    assert!(eventually(10, || running(&h, "web") == 4));
    assert_eq!(h.inspect("web.1")["State"]["Pid"].as_u64().unwrap(), pid1);
    assert_eq!(spread(&h, "cli", "web", 80, 400).len(), 4);

    // A slot removed by a scale-down and brought back at once is created by the scale
    // itself: it is new, not a crashing replica waiting out a backoff.
    for _ in 0..3 {
        h.ok(&["service", "scale", "web=3"]);
        h.ok(&["service", "scale", "web=4"]);
        assert!(h.inspect("web.4")["State"]["Running"].as_bool().unwrap());
    }

    // A replica whose process dies is out of the balancer at once and restarted.
    let victim = h.inspect("web.2")["State"]["Pid"].as_u64().unwrap();
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    assert!(eventually(10, || {
        let p = h.inspect("web.2")["State"]["Pid"].as_u64().unwrap_or(0);
        p != 0 && p != victim && running(&h, "web") == 4
    }));
    let ps = h.ok(&["service", "ps", "web"]);
    assert_eq!(ps.matches("running").count(), 4, "{ps}");

    // Removal: replicas, VIP, names and load-balancer elements all go.
    h.ok(&["service", "rm", "web"]);
    assert_eq!(h.ferry(&["inspect", "web.1"]).code, 1);
    assert!(addresses(&h, "cli", "web").is_empty());
    let nft = h.sh("nft list table inet ferry");
    assert_eq!(nft.code, 0, "nft list table: {}", nft.stderr);
    assert!(!nft.stdout.contains(&vip), "{}", nft.stdout);
    let addrs = h.sh("ip -br addr").stdout;
    assert!(!addrs.contains(&format!("{vip}/32")), "{addrs}");
    h.ok(&["rm", "-f", "cli"]);
    h.ok(&["network", "rm", "appnet"]);
}

#[test]
fn dnsrr_names_every_replica_and_the_mesh_keeps_the_client_address() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.ok(&["network", "create", "other"]);
    h.sleeper("cli", &["--network", "appnet"]);
    h.sleeper("far", &["--network", "other"]);
    h.ok(&[
        "service",
        "create",
        "--name",
        "db",
        "--replicas",
        "2",
        "--network",
        "appnet",
        "--endpoint-mode",
        "dnsrr",
        "--",
        "sleep",
        "600",
    ]);
    assert!(eventually(10, || running(&h, "db") == 2));
    assert!(service(&h, "db")["Endpoint"]["VirtualIPs"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(addresses(&h, "cli", "db").len(), 2);

    // The seeds' nginx example: two replicas behind host port 8080, answering in turn,
    // reachable from another host, the host itself and another network.
    let o = h.outside();
    h.ok(&[
        "service",
        "create",
        "--name",
        "www",
        "--replicas",
        "2",
        "--network",
        "appnet",
        "--publish",
        "published=8080,target=80",
        "--",
        "socat",
        "TCP-LISTEN:80,fork,reuseaddr",
        "SYSTEM:read x; echo $HOSTNAME $SOCAT_PEERADDR",
    ]);
    assert!(eventually(10, || running(&h, "www") == 2));
    let mut seen = std::collections::BTreeSet::new();
    let mut peers = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = o.tcp(common::HOST_LINK_ADDR, 8080);
        let mut it = r.stdout.split_whitespace();
        if let (Some(host), Some(peer)) = (it.next(), it.next()) {
            seen.insert(host.to_string());
            peers.insert(peer.to_string());
        }
    }
    assert_eq!(seen.len(), 2, "both replicas answer: {seen:?}");
    assert_eq!(
        peers.into_iter().collect::<Vec<_>>(),
        vec![o.addr().to_string()],
        "the client's own address reaches the replica"
    );
    let from_far = h.tcp("far", common::HOST_LINK_ADDR, 8080);
    assert!(!from_far.stdout.trim().is_empty(), "{}", from_far.stderr);
    let from_host = h.sh("socat -t5 -T5 - TCP:127.0.0.1:8080,connect-timeout=2 </dev/null");
    assert!(!from_host.stdout.trim().is_empty(), "{}", from_host.stderr);
    // The port is held: neither a sandbox nor a host process can take it.
    let e = h.fails(&["run", "-d", "-p", "8080:80", "--", "sleep", "5"]);
    assert!(e.contains("8080"), "{e}");
    assert!(e.contains("published by service www"), "{e}");
    let e = h.fails(&[
        "service", "create", "--name", "www2", "-p", "8080:80", "--", "sleep", "5",
    ]);
    assert!(e.contains("service www"), "{e}");

    // --publish-rm frees the port; --publish-add takes another.
    h.ok(&[
        "service",
        "update",
        "--publish-rm",
        "8080",
        "--publish-add",
        "8081:80",
        "www",
    ]);
    assert!(o.tcp(common::HOST_LINK_ADDR, 8080).stdout.trim().is_empty());
    assert!(eventually(5, || !o
        .tcp(common::HOST_LINK_ADDR, 8081)
        .stdout
        .trim()
        .is_empty()));

    // A network used by a service cannot go.
    let e = h.fails(&["network", "rm", "appnet"]);
    assert!(e.contains("service"), "{e}");
}

#[test]
fn services_survive_a_daemon_crash_and_bad_input_is_refused() {
    let mut h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    create_web(&h, &["--replicas", "2", "-p", "9090:80"]);
    assert!(eventually(10, || running(&h, "web") == 2));
    let before = service(&h, "web");
    h.stop_daemon(true);
    h.start_daemon();
    let after = service(&h, "web");
    assert_eq!(before["Endpoint"], after["Endpoint"], "same VIP and ports");
    assert!(eventually(10, || running(&h, "web") == 2));
    assert_eq!(spread(&h, "cli", "web", 80, 60).len(), 2);
    // A replica that died while the daemon was down is started again.
    let pid = h.inspect("web.1")["State"]["Pid"].as_u64().unwrap();
    h.stop_daemon(true);
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    h.start_daemon();
    assert!(eventually(10, || running(&h, "web") == 2));

    for (args, msg) in [
        (vec!["--name", "web"], "already exists"),
        (
            vec![
                "--name",
                "x",
                "--replicas",
                "2",
                "-p",
                "published=1,target=2,mode=host",
            ],
            "mode=host",
        ),
        (vec!["--name", "x", "--network", "nosuch"], "not found"),
        (
            vec!["--name", "x", "--endpoint-mode", "rr"],
            "endpoint mode",
        ),
        (
            vec!["--name", "x", "-p", "published=1"],
            "target is missing",
        ),
        (vec!["--name", "bad name"], "invalid"),
    ] {
        let mut a = vec!["service", "create"];
        a.extend(args);
        a.extend(["--", "sleep", "1"]);
        let e = h.fails(&a);
        assert!(e.contains(msg), "{a:?}: {e}");
    }
    let e = h.fails(&["service", "scale", "nosuch=2"]);
    assert!(e.contains("no such service"), "{e}");
    let e = h.fails(&["service", "scale", "web=x"]);
    assert!(e.contains("not a replica count"), "{e}");
    // Nothing half-made: still exactly one service.
    assert_eq!(h.ok(&["service", "ls", "-q"]).lines().count(), 1);
}

#[test]
fn a_vip_connect_goes_straight_to_a_replica_and_the_host_path_is_the_fallback() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.sleeper("cli", &["--network", "appnet"]);
    h.ok(&[
        "service",
        "create",
        "--name",
        "peer",
        "--replicas",
        "2",
        "--network",
        "appnet",
        "--",
        "socat",
        "TCP-LISTEN:80,fork,reuseaddr",
        "SYSTEM:echo $SOCAT_PEERADDR",
    ]);
    assert!(eventually(10, || running(&h, "peer") == 2));
    let vip = service(&h, "peer")["Endpoint"]["VirtualIPs"][0]["Addr"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let cli = h.ip("cli", "appnet");
    let gateway = h.inspect("cli")["NetworkSettings"]["Networks"]["appnet"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = "socat -T2 - TCP:VIP:80,connect-timeout=2 </dev/null".replace("VIP", &vip);

    // A process of the sandbox (exec joins its cgroup) connects to a replica itself: the
    // replica sees the client's own address, as no translation happened on the way.
    let fast = h.ok(&["exec", "cli", "--", "sh", "-c", &ask]);
    assert_eq!(fast.trim(), cli);

    // A process in the sandbox's namespace but outside its cgroup takes the host's path:
    // translated on the host and masqueraded back into the bridge, so the replica sees the
    // gateway. Same service, same replicas.
    let pid = h.inspect("cli")["State"]["Pid"].as_u64().unwrap();
    let slow = common::ns_sh(
        std::path::Path::new(&format!("/proc/{pid}/ns/net")),
        &ask,
        None,
    );
    assert_eq!(slow.stdout.trim(), gateway, "{}", slow.stderr);

    // Without live replicas neither path connects: the fast path has no entry and the host
    // refuses.
    h.ok(&["service", "scale", "peer=0"]);
    let r = h.ferry(&["exec", "cli", "--", "sh", "-c", &ask]);
    assert!(r.stdout.trim().is_empty(), "{}", r.stdout);
}

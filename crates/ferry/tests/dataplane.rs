//! The data plane, proved with real traffic: egress masquerade, isolation between networks,
//! `enable_icc=false`, internal networks, published ports (from another machine, from the host,
//! hairpin, from other networks, IPv6, ranges, `-P`), port conflicts, conntrack flushing,
//! anti-spoofing, `--firewall none`, and the ruleset surviving a hand deletion and a crash.
//!
//! "Another machine" is the outside namespace of `Host::outside`, linked to the host namespace
//! at 192.0.2.0/24 and 2001:db8::/64, with no route to the sandbox subnets.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{
    eventually, Host, Outside, Run, HOST_LINK_ADDR, HOST_LINK_ADDR6, OUTSIDE_ADDR, OUTSIDE_ADDR6,
};

/// The protocol of a probe.
#[derive(Clone, Copy, Debug)]
enum P {
    Tcp,
    Udp,
    Icmp,
}
use P::{Icmp, Tcp, Udp};

/// Where a client runs: a sandbox, the host namespace, or the outside namespace.
#[derive(Clone, Copy)]
enum At<'a> {
    Sb(&'a Host, &'a str),
    Host(&'a Host),
    Out(&'a Outside),
}

impl At<'_> {
    fn name(&self) -> String {
        match self {
            At::Sb(_, n) => format!("sandbox {n}"),
            At::Host(_) => "the host".into(),
            At::Out(_) => "the outside".into(),
        }
    }

    /// Runs `sh -c cmd` there with `ping` on standard input.
    fn sh(&self, cmd: &str) -> Run {
        match self {
            At::Sb(h, n) => {
                h.ferry_stdin(&["exec", "-i", n, "--", "sh", "-c", cmd], Some("ping\n"))
            }
            At::Host(h) => h.sh_stdin(cmd, "ping\n"),
            At::Out(o) => o.sh_stdin(cmd, "ping\n"),
        }
    }
}

/// Seconds a client waits when a reply is expected, and when none is (a reply that would come
/// later than this would still be a reply, so every "no reply" has a working twin).
const WAIT: u32 = 5;
const NO_WAIT: u32 = 1;

fn bracket(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

/// The client command for a probe. TCP and UDP send `ping` and print the answer; ICMP prints
/// `pong` when the echo came back. UDP uses netcat, which ends at the first datagram back
/// (socat would wait out its timeout).
fn probe_cmd(p: P, addr: &str, port: u16, wait: u32, extra: &str) -> String {
    match p {
        Tcp => format!(
            "socat -t{wait} -T{wait} - TCP:{}:{port},connect-timeout={wait}{extra}",
            bracket(addr)
        ),
        Udp => format!("nc -u -W1 -w{wait} {extra} {addr} {port}"),
        Icmp => format!("ping -c1 -W{wait} {extra} {addr} >/dev/null && echo pong"),
    }
}

/// Sends a probe and returns the reply, trimmed (empty when nothing came back).
fn send(at: At, p: P, addr: &str, port: u16, wait: u32) -> String {
    at.sh(&probe_cmd(p, addr, port, wait, ""))
        .stdout
        .trim()
        .to_string()
}

/// Sends a probe that should be answered, and returns the answer.
fn reply(at: At, p: P, addr: &str, port: u16) -> String {
    send(at, p, addr, port, WAIT)
}

/// Asserts that none of the probes gets any answer. They run at once, as each waits out its
/// timeout.
fn no_reply(cases: &[(At, P, &str, u16)]) {
    let results: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|&(at, p, addr, port)| s.spawn(move || send(at, p, addr, port, NO_WAIT)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((at, p, addr, port), r) in cases.iter().zip(results) {
        assert!(
            r.is_empty(),
            "{} reached {addr} port {port} over {p:?} and got {r:?}",
            at.name()
        );
    }
}

/// Starts a sandbox with TCP and UDP servers (IPv4) on each of `ports`, answering with what
/// `reply` prints (a shell expression run per request), and waits until they listen.
fn server(h: &Host, name: &str, args: &[&str], ports: &[u16], reply: &str) {
    let mut script = String::new();
    for port in ports {
        script.push_str(&format!(
            "socat TCP-LISTEN:{port},reuseaddr,fork SYSTEM:'read x; {reply}' & socat UDP-RECVFROM:{port},reuseaddr,fork SYSTEM:'read x; {reply}' & "
        ));
    }
    script.push_str("wait");
    let mut a = vec!["run", "-d", "--name", name];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--", "sh", "-c", &script]);
    h.ok(&a);
    for port in ports {
        h.wait_listening(name, *port);
        wait_udp(h, name, *port);
    }
}

/// A server answering with the client address it saw.
fn peer_server(h: &Host, name: &str, args: &[&str], port: u16) {
    server(h, name, args, &[port], "echo $SOCAT_PEERADDR");
}

/// Waits until a UDP port is bound inside a sandbox.
fn wait_udp(h: &Host, name: &str, port: u16) {
    let pat = format!(":{port} ");
    assert!(
        eventually(10, || h
            .ferry(&["exec", name, "--", "ss", "-lun"])
            .stdout
            .contains(&pat)),
        "udp port {port} never bound in {name}"
    );
}

/// Waits until a TCP port listens in the host namespace.
fn wait_host_listening(h: &Host, port: u16) {
    let pat = format!(":{port} ");
    assert!(
        eventually(10, || h.sh("ss -ltnH").stdout.contains(&pat)),
        "port {port} never listened in the host namespace"
    );
}

/// A sandbox's gateway on a network.
fn gateway(h: &Host, sb: &str, net: &str) -> String {
    h.inspect(sb)["NetworkSettings"]["Networks"][net]["Gateway"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A network's first IPv4 subnet.
fn subnet(h: &Host, net: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", net])).expect("json");
    v[0]["IPAM"]["Config"]
        .as_array()
        .expect("IPAM config")
        .iter()
        .filter_map(|c| c["Subnet"].as_str())
        .find(|s| !s.contains(':'))
        .expect("an IPv4 subnet")
        .to_string()
}

/// The elements of one of ferry's nft maps or sets, as nft prints them.
fn elements(h: &Host, family: &str, map: &str) -> Vec<String> {
    let r = h.sh(&format!(
        "nft list map {family} ferry {map} 2>/dev/null || nft list set {family} ferry {map}"
    ));
    assert_eq!(r.code, 0, "nft list {map}: {}", r.stderr);
    let flat = r.stdout.replace('\n', " ");
    let Some(start) = flat.find("elements = {") else {
        return Vec::new();
    };
    let rest = &flat[start + "elements = {".len()..];
    let end = rest.find('}').expect("closing brace");
    rest[..end]
        .split(',')
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect()
}

/// The number of rules in one of ferry's tables.
fn rule_count(h: &Host, family: &str) -> usize {
    let r = h.sh(&format!("nft -j list table {family} ferry"));
    assert_eq!(r.code, 0, "nft list table: {}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("nft json");
    v["nftables"]
        .as_array()
        .expect("nftables array")
        .iter()
        .filter(|o| o.get("rule").is_some())
        .count()
}

#[test]
fn egress_is_masqueraded() {
    let h = Host::new();
    let o = h.outside();
    o.echo_server(7000);
    h.ok(&["network", "create", "usernet"]);
    h.ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "nomasq",
    ]);
    h.sleeper("a", &[]);
    h.sleeper("b", &["--network", "usernet"]);
    h.sleeper("c", &["--network", "nomasq"]);
    for sb in ["a", "b"] {
        for p in [Tcp, Udp] {
            assert_eq!(
                reply(At::Sb(&h, sb), p, OUTSIDE_ADDR, 7000),
                HOST_LINK_ADDR,
                "{sb} over {p:?}: the outside saw the host's address"
            );
        }
    }
    // Without masquerading the outside cannot answer: it has no route to the sandbox.
    let c = At::Sb(&h, "c");
    no_reply(&[(c, Tcp, OUTSIDE_ADDR, 7000), (c, Udp, OUTSIDE_ADDR, 7000)]);
    // The packets did leave, with the sandbox's own address: given a route back, they are
    // answered.
    let r = o.sh(&format!(
        "ip route add {} via {HOST_LINK_ADDR}",
        subnet(&h, "nomasq")
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c_ip = h.ip("c", "nomasq");
    for p in [Tcp, Udp] {
        assert_eq!(reply(c, p, OUTSIDE_ADDR, 7000), c_ip, "{p:?}");
    }
}

#[test]
fn networks_are_isolated() {
    let h = Host::new();
    h.ok(&["network", "create", "neta"]);
    h.ok(&["network", "create", "netb"]);
    server(&h, "sa", &["--network", "neta"], &[7000], "echo pong");
    server(&h, "sb", &["--network", "netb"], &[7000], "echo pong");
    h.sleeper("ca", &["--network", "neta"]);
    h.sleeper("cb", &["--network", "netb"]);
    h.sleeper("cab", &["--network", "neta", "--network", "netb"]);
    let ipa = h.ip("sa", "neta");
    let ipb = h.ip("sb", "netb");
    for (from, to) in [("ca", &ipa), ("cb", &ipb), ("cab", &ipa), ("cab", &ipb)] {
        for p in [Tcp, Udp, Icmp] {
            assert_eq!(
                reply(At::Sb(&h, from), p, to, 7000),
                "pong",
                "{from} to {to} over {p:?}"
            );
        }
    }
    let (ca, cb) = (At::Sb(&h, "ca"), At::Sb(&h, "cb"));
    no_reply(&[
        (ca, Tcp, &ipb, 7000),
        (ca, Udp, &ipb, 7000),
        (ca, Icmp, &ipb, 0),
        (cb, Tcp, &ipa, 7000),
        (cb, Udp, &ipa, 7000),
        (cb, Icmp, &ipa, 0),
    ]);
}

#[test]
fn icc_false_blocks_same_network() {
    let h = Host::new();
    h.ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "iso",
    ]);
    server(&h, "s1", &["--network", "iso"], &[7000], "echo pong");
    server(&h, "s2", &["--network", "iso"], &[7000], "echo pong");
    let gw = gateway(&h, "s1", "iso");
    h.spawn(&format!(
        "socat TCP-LISTEN:7100,bind={gw},reuseaddr,fork SYSTEM:'read x; echo host'"
    ));
    wait_host_listening(&h, 7100);
    for sb in ["s1", "s2"] {
        assert_eq!(reply(At::Sb(&h, sb), Tcp, &gw, 7100), "host", "{sb}");
        assert_eq!(reply(At::Sb(&h, sb), Icmp, &gw, 0), "pong", "{sb}");
    }
    let (ip1, ip2) = (h.ip("s1", "iso"), h.ip("s2", "iso"));
    let (s1, s2) = (At::Sb(&h, "s1"), At::Sb(&h, "s2"));
    no_reply(&[
        (s2, Tcp, &ip1, 7000),
        (s2, Udp, &ip1, 7000),
        (s2, Icmp, &ip1, 0),
        (s1, Tcp, &ip2, 7000),
        (s1, Icmp, &ip2, 0),
    ]);
}

#[test]
fn internal_network() {
    let h = Host::new();
    let o = h.outside();
    o.echo_server(7000);
    h.ok(&["network", "create", "--internal", "internalnet"]);
    server(
        &h,
        "s1",
        &["--network", "internalnet"],
        &[7000],
        "echo pong",
    );
    // NET_ADMIN, so that it can try to route around the rules below.
    h.sleeper(
        "s2",
        &["--network", "internalnet", "--cap-add", "NET_ADMIN"],
    );
    h.sleeper("free", &[]);
    let ip1 = h.ip("s1", "internalnet");
    for p in [Tcp, Udp, Icmp] {
        assert_eq!(reply(At::Sb(&h, "s2"), p, &ip1, 7000), "pong", "{p:?}");
    }
    // A sandbox on a normal network reaches the outside.
    assert_eq!(
        reply(At::Sb(&h, "free"), Tcp, OUTSIDE_ADDR, 7000),
        HOST_LINK_ADDR
    );
    // Give the internal sandbox a route through its gateway, so only ferry's rules stop it;
    // and the outside a route to the internal subnet.
    let gw = gateway(&h, "s2", "internalnet");
    assert!(!gw.is_empty(), "an internal network still has a gateway");
    let r = h.ferry(&[
        "exec",
        "s2",
        "--",
        "ip",
        "route",
        "replace",
        "192.0.2.0/24",
        "via",
        &gw,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = o.sh(&format!(
        "ip route add {} via {HOST_LINK_ADDR}",
        subnet(&h, "internalnet")
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s2 = At::Sb(&h, "s2");
    no_reply(&[
        (s2, Tcp, OUTSIDE_ADDR, 7000),
        (s2, Udp, OUTSIDE_ADDR, 7000),
        (s2, Icmp, OUTSIDE_ADDR, 0),
        (At::Out(&o), Tcp, &ip1, 7000),
        (At::Out(&o), Icmp, &ip1, 0),
    ]);
    let e = h.fails(&[
        "run",
        "-d",
        "-p",
        "8080:80",
        "--network",
        "internalnet",
        "--",
        "sleep",
        "600",
    ]);
    assert!(e.contains("internal"), "{e}");
}

#[test]
fn published_port_reachability() {
    let h = Host::new();
    let o = h.outside();
    h.ok(&["network", "create", "other"]);
    peer_server(&h, "web", &["-p", "8080:7000", "-p", "8080:7000/udp"], 7000);
    h.sleeper("same", &[]);
    h.sleeper("far", &["--network", "other"]);
    let gw = gateway(&h, "web", "bridge");
    let far_ip = h.ip("far", "other");
    let out = At::Out(&o);
    let host = At::Host(&h);
    let cases: Vec<(At, &str, &str)> = vec![
        // Another machine: its address is kept.
        (out, HOST_LINK_ADDR, OUTSIDE_ADDR),
        // The host itself: loopback is masqueraded to the gateway, other sources are kept.
        (host, "127.0.0.1", &gw),
        (host, HOST_LINK_ADDR, HOST_LINK_ADDR),
        (host, &gw, &gw),
        // Hairpin: a sandbox on the same bridge is masqueraded, so replies come back by the host.
        (At::Sb(&h, "same"), HOST_LINK_ADDR, &gw),
        // A sandbox on another network keeps its address.
        (At::Sb(&h, "far"), HOST_LINK_ADDR, &far_ip),
    ];
    for (at, addr, seen) in cases {
        for p in [Tcp, Udp] {
            assert_eq!(
                reply(at, p, addr, 8080),
                seen,
                "{} to {addr}:8080 over {p:?}",
                at.name()
            );
        }
    }
    let port = h.ok(&["port", "web"]);
    assert!(port.contains("7000/tcp -> 0.0.0.0:8080"), "{port}");
    assert!(port.contains("7000/udp -> 0.0.0.0:8080"), "{port}");
    let ports = &h.inspect("web")["NetworkSettings"]["Ports"];
    assert_eq!(
        ports["7000/tcp"],
        serde_json::json!([{"HostIp": "0.0.0.0", "HostPort": "8080"}]),
        "{ports}"
    );
}

#[test]
fn loopback_published_port_is_local_only() {
    let h = Host::new();
    let o = h.outside();
    peer_server(&h, "web", &["-p", "127.0.0.1:9090:7000"], 7000);
    let gw = gateway(&h, "web", "bridge");
    assert_eq!(reply(At::Host(&h), Tcp, "127.0.0.1", 9090), gw);
    let ip = h.ip("web", "bridge");
    let r = o.sh(&format!(
        "ip route add {} via {HOST_LINK_ADDR}",
        subnet(&h, "bridge")
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = At::Out(&o);
    no_reply(&[
        (out, Tcp, HOST_LINK_ADDR, 9090),
        (out, Tcp, &ip, 7000),
        (out, Udp, &ip, 7000),
    ]);
    // The outside sends to 127.0.0.1 itself, routed to the host (it gives up its own loopback
    // routes to do so, and would take answers from 127.0.0.1). The host sees those packets
    // arrive, and nothing answers them.
    let r = o.sh(&format!(
        "{GIVE_UP_LOOPBACK} && ip route add 127.0.0.1/32 via {HOST_LINK_ADDR} dev eth0 && sysctl -qw net.ipv4.conf.eth0.route_localnet=1"
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    count_arrivals(&h, "xo0", 9090);
    no_reply(&[(out, Tcp, "127.0.0.1", 9090)]);
    assert!(
        arrivals(&h, "xo0", 9090) > 0,
        "the probe never reached the host"
    );

    // A sandbox does the same through its gateway: neither the published port nor services
    // the host keeps on its loopback get its packets. (A TCP answer could not leave the host
    // with a loopback source anyway, so a UDP service that writes down what it receives shows
    // whether anything got through.)
    h.spawn("socat TCP-LISTEN:7300,bind=127.0.0.1,reuseaddr,fork SYSTEM:'read x; echo host'");
    let heard = h.dir.path().join("heard");
    h.spawn(&format!(
        "socat -u UDP-RECV:7301,bind=127.0.0.1 OPEN:{},creat,append",
        heard.display()
    ));
    wait_host_listening(&h, 7300);
    assert_eq!(reply(At::Host(&h), Tcp, "127.0.0.1", 7300), "host");
    let heard_text = || std::fs::read_to_string(&heard).unwrap_or_default();
    assert!(
        eventually(10, || {
            h.sh("echo local | nc -u -w0 127.0.0.1 7301");
            heard_text().contains("local")
        }),
        "the host's UDP service hears the host"
    );
    // The strongest sandbox there is: it may route and set sysctls as it likes.
    h.sleeper("sneaky", &["--privileged"]);
    let r = h.ferry(&[
        "exec",
        "sneaky",
        "--",
        "sh",
        "-c",
        &format!(
            "{GIVE_UP_LOOPBACK} && ip route add 127.0.0.1/32 via {gw} dev eth0 && sysctl -qw net.ipv4.conf.eth0.route_localnet=1"
        ),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The default network's bridge.
    let br = "ferry0";
    for port in [7300, 7301, 9090] {
        count_arrivals(&h, br, port);
    }
    let sneaky = At::Sb(&h, "sneaky");
    no_reply(&[
        (sneaky, Tcp, "127.0.0.1", 7300),
        (sneaky, Udp, "127.0.0.1", 7301),
        (sneaky, Tcp, "127.0.0.1", 9090),
    ]);
    for port in [7300, 7301, 9090] {
        assert!(
            arrivals(&h, br, port) > 0,
            "the probe to port {port} never reached the host"
        );
    }
    assert!(
        !heard_text().contains("ping"),
        "a sandbox reached the host's loopback: {}",
        heard_text()
    );
}

/// Shell commands that make a namespace route 127.0.0.1 like any other address.
const GIVE_UP_LOOPBACK: &str =
    "ip route del local 127.0.0.0/8 dev lo table local && ip route del local 127.0.0.1 dev lo table local";

/// Counts, in a table of the test's own, TCP and UDP packets for 127.0.0.1:`port` arriving on `dev`
/// in the host namespace (before any of ferry's chains).
fn count_arrivals(h: &Host, dev: &str, port: u16) {
    let r = h.sh(&format!(
        "nft add table inet probe && nft add chain inet probe pre '{{ type filter hook prerouting priority -400; }}' && nft add rule inet probe pre iifname {dev} ip daddr 127.0.0.1 th dport {port} counter comment '\"{dev}:{port}\"'"
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Packets counted by `count_arrivals`.
fn arrivals(h: &Host, dev: &str, port: u16) -> u64 {
    let out = h.sh("nft list chain inet probe pre").stdout;
    let line = out
        .lines()
        .find(|l| l.contains(&format!("\"{dev}:{port}\"")))
        .unwrap_or_else(|| panic!("no counter for {dev}:{port} in {out}"));
    line.split("packets ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {line}"))
}

#[test]
fn unpublished_port_not_reachable_directly() {
    let h = Host::new();
    let o = h.outside();
    server(
        &h,
        "web",
        &["-p", "8081:7001"],
        &[7000, 7001],
        "echo $SOCAT_SOCKPORT",
    );
    let ip = h.ip("web", "bridge");
    let r = o.sh(&format!(
        "ip route add {} via {HOST_LINK_ADDR}",
        subnet(&h, "bridge")
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = At::Out(&o);
    assert_eq!(reply(out, Tcp, HOST_LINK_ADDR, 8081), "7001");
    no_reply(&[
        (out, Tcp, &ip, 7000),
        (out, Udp, &ip, 7000),
        (out, Icmp, &ip, 0),
        // The published port too: only by the host's address.
        (out, Tcp, &ip, 7001),
    ]);
}

/// An IPv6 network with a sandbox publishing 8081 (every address, v4 and v6).
fn ipv6_web(h: &Host) {
    h.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:dead:beef::/64",
        "v6net",
    ]);
    h.echo_server("web6", &["--network", "v6net", "-p", "8081:7000"], 7000);
}

#[test]
fn ipv6_published_port() {
    let h = Host::new();
    let o = h.outside();
    o.echo_server(7100);
    ipv6_web(&h);
    let port = h.ok(&["port", "web6"]);
    for line in ["7000/tcp -> 0.0.0.0:8081", "7000/tcp -> [::]:8081"] {
        assert!(port.contains(line), "{line} missing from: {port}");
    }
    let host = At::Host(&h);
    let out = At::Out(&o);
    for (at, addr) in [
        (host, "127.0.0.1"),
        (host, HOST_LINK_ADDR6),
        (out, HOST_LINK_ADDR),
        (out, HOST_LINK_ADDR6),
    ] {
        assert_eq!(
            reply(at, Tcp, addr, 8081),
            "pong",
            "{} to [{addr}]:8081",
            at.name()
        );
    }
    // Egress over IPv6 is masqueraded too.
    let web6 = At::Sb(&h, "web6");
    let seen = reply(web6, Tcp, OUTSIDE_ADDR6, 7100);
    let seen: std::net::Ipv6Addr = seen
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .unwrap_or_else(|_| panic!("peer address: {seen:?}"));
    assert_eq!(seen, HOST_LINK_ADDR6.parse::<std::net::Ipv6Addr>().unwrap());
}

/// IPv6 has no `route_localnet`: a reply translated back to ::1 that arrives on a bridge is
/// dropped by the kernel, so only a userland proxy could serve ::1. ferry refuses to publish
/// on ::1, and leaves host connections to [::1]:PORT untranslated so that they meet its
/// reserving socket and are refused at once (clients then fall back to 127.0.0.1) instead of
/// hanging.
#[test]
fn ipv6_loopback_is_refused_not_left_hanging() {
    let h = Host::new();
    ipv6_web(&h);
    let e = h.fails(&[
        "run",
        "-d",
        "--network",
        "v6net",
        "-p",
        "[::1]:8082:7000",
        "--",
        "sleep",
        "60",
    ]);
    assert!(e.contains("::1") && e.contains("127.0.0.1"), "{e}");
    let host = At::Host(&h);
    assert_eq!(reply(host, Tcp, "127.0.0.1", 8081), "pong");
    let r = h.sh("socat -T3 - TCP:[::1]:8081,connect-timeout=3 </dev/null");
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("Connection refused"),
        "a refusal, not a timeout: {}",
        r.stderr
    );
}

#[test]
fn publish_all_and_ranges() {
    let h = Host::new();
    let range = h.sh("cat /proc/sys/net/ipv4/ip_local_port_range").stdout;
    let (lo, hi) = {
        let v: Vec<u16> = range
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        (v[0], v[1])
    };
    let host = At::Host(&h);
    server(
        &h,
        "pa",
        &["--expose", "7000", "-P"],
        &[7000],
        "echo $SOCAT_SOCKPORT",
    );
    let binding = h.ok(&["port", "pa", "7000"]);
    let p: u16 = binding
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("binding: {binding}"));
    assert!((lo..=hi).contains(&p), "{p} outside {lo}-{hi}");
    assert_eq!(reply(host, Tcp, "127.0.0.1", p), "7000");

    server(
        &h,
        "pr",
        &["-p", "9000-9001:7000-7001"],
        &[7000, 7001],
        "echo $SOCAT_SOCKPORT",
    );
    assert_eq!(reply(host, Tcp, "127.0.0.1", 9000), "7000");
    assert_eq!(reply(host, Tcp, "127.0.0.1", 9001), "7001");

    h.sleeper("first", &["-p", "9100:7000"]);
    server(
        &h,
        "second",
        &["-p", "9100-9105:7000"],
        &[7000],
        "echo second",
    );
    assert_eq!(h.ok(&["port", "second", "7000"]), "0.0.0.0:9101");
    assert_eq!(reply(host, Tcp, "127.0.0.1", 9101), "second");
}

#[test]
fn port_conflicts() {
    let h = Host::new();
    h.sleeper("first", &["-p", "8088:7000"]);
    let e = h.fails(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        "8088:7000",
        "--",
        "sleep",
        "600",
    ]);
    assert!(e.contains("sandbox first"), "{e}");

    // A host process holding a port is named.
    h.spawn("socat TCP-LISTEN:8090,reuseaddr,fork SYSTEM:cat");
    wait_host_listening(&h, 8090);
    let ss = h.sh("ss -ltnpH 'sport = :8090'").stdout;
    let pid = ss
        .split("pid=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no pid in {ss}"));
    let e = h.fails(&[
        "run",
        "-d",
        "--name",
        "third",
        "-p",
        "8090:7000",
        "--",
        "sleep",
        "600",
    ]);
    assert!(e.contains(&format!("pid {pid} (socat)")), "{e}");

    // A stopped sandbox frees its port.
    h.ok(&["stop", "-t", "1", "first"]);
    h.sleeper("fourth", &["-p", "8088:7000"]);

    // A published port cannot be taken by a host process.
    h.sleeper("fifth", &["-p", "8095:7000"]);
    for opts in ["", ",reuseaddr"] {
        let r = h.sh(&format!("timeout 3 socat TCP-LISTEN:8095{opts} -"));
        assert_ne!(r.code, 0, "a host process bound 8095{opts}");
        assert!(r.stderr.contains("Address already in use"), "{}", r.stderr);
    }
}

#[test]
fn udp_mapping_change_flushes_conntrack() {
    let h = Host::new();
    let o = h.outside();
    // The same client 5-tuple each time.
    let ask = || {
        o.sh_stdin(
            &format!("nc -u -W1 -w{WAIT} -p 40000 {HOST_LINK_ADDR} 5353"),
            "ping\n",
        )
        .stdout
        .trim()
        .to_string()
    };
    server(&h, "a", &["-p", "5353:5353/udp"], &[5353], "echo a");
    assert_eq!(ask(), "a");
    assert_eq!(ask(), "a", "the same flow again");
    let a_ip = h.ip("a", "bridge");
    h.ok(&["rm", "-f", "a"]);
    server(&h, "b", &["-p", "5353:5353/udp"], &[5353], "echo b");
    assert_ne!(a_ip, h.ip("b", "bridge"), "b has an address of its own");
    assert_eq!(ask(), "b", "the flow now goes to the new sandbox");
}

#[test]
fn anti_spoofing() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.73.0.0/24", "spoofnet"]);
    peer_server(&h, "srv", &["--network", "spoofnet"], 7000);
    h.sleeper("c", &["--network", "spoofnet", "--cap-add", "NET_ADMIN"]);
    let srv = h.ip("srv", "spoofnet");
    let c_ip = h.ip("c", "spoofnet");
    let c = At::Sb(&h, "c");
    assert_eq!(reply(c, Tcp, &srv, 7000), c_ip);
    let r = h.ferry(&[
        "exec",
        "c",
        "--",
        "ip",
        "addr",
        "add",
        "10.73.0.250/32",
        "dev",
        "eth0",
    ]);
    assert_eq!(
        r.code, 0,
        "sandboxes can change their interfaces: {}",
        r.stderr
    );
    let spoofed = |p: P, extra: &str| {
        c.sh(&probe_cmd(p, &srv, 7000, NO_WAIT, extra))
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(spoofed(Tcp, ",bind=10.73.0.250"), "");
    assert_eq!(spoofed(Udp, "-s 10.73.0.250"), "");
    assert_eq!(spoofed(Icmp, "-I 10.73.0.250"), "");
    // Its real address still works.
    assert_eq!(reply(c, Tcp, &srv, 7000), c_ip);
    assert_eq!(reply(c, Udp, &srv, 7000), c_ip);
    // A MAC of its own choosing cuts it off.
    let r = h.ferry(&[
        "exec",
        "c",
        "--",
        "ip",
        "link",
        "set",
        "eth0",
        "address",
        "02:00:00:00:00:99",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    no_reply(&[
        (c, Tcp, &srv, 7000),
        (c, Udp, &srv, 7000),
        (c, Icmp, &srv, 0),
    ]);
}

#[test]
fn firewall_none() {
    let h = Host::with_args(&["--firewall", "none"]);
    let info = h.ok(&["info"]);
    assert!(info.contains("Firewall: none"), "{info}");
    let tables = h.sh("nft list tables");
    assert_eq!(tables.code, 0, "{}", tables.stderr);
    assert!(!tables.stdout.contains("ferry"), "{}", tables.stdout);
    let e = h.fails(&["run", "-d", "-p", "8080:7000", "--", "sleep", "600"]);
    assert!(e.contains("firewall"), "{e}");
    // Nothing filters, so networks are not isolated: routing joins them.
    h.ok(&["network", "create", "neta"]);
    h.ok(&["network", "create", "netb"]);
    server(&h, "sa", &["--network", "neta"], &[7000], "echo pong");
    h.sleeper("cb", &["--network", "netb"]);
    let ipa = h.ip("sa", "neta");
    for p in [Tcp, Udp, Icmp] {
        assert_eq!(reply(At::Sb(&h, "cb"), p, &ipa, 7000), "pong", "{p:?}");
    }
    assert!(!h.sh("nft list tables").stdout.contains("ferry"));
}

#[test]
fn table_deleted_by_hand_is_restored() {
    let mut h = Host::new();
    h.ok(&["network", "create", "neta"]);
    h.ok(&["network", "create", "netb"]);
    server(
        &h,
        "sa",
        &["--network", "neta", "-p", "8080:7000"],
        &[7000],
        "echo pong",
    );
    h.sleeper("cb", &["--network", "netb"]);
    let ipa = h.ip("sa", "neta");
    let (host, cb) = (At::Host(&h), At::Sb(&h, "cb"));
    assert_eq!(reply(host, Tcp, "127.0.0.1", 8080), "pong");
    no_reply(&[(cb, Tcp, &ipa, 7000)]);
    let r = h.sh("nft delete table inet ferry && nft delete table bridge ferry");
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Without the tables, nothing is published and nothing is isolated.
    no_reply(&[(host, Tcp, "127.0.0.1", 8080)]);
    assert_eq!(reply(cb, Tcp, &ipa, 7000), "pong");
    h.stop_daemon(false);
    h.start_daemon();
    let (host, cb) = (At::Host(&h), At::Sb(&h, "cb"));
    assert_eq!(reply(host, Tcp, "127.0.0.1", 8080), "pong");
    no_reply(&[(cb, Tcp, &ipa, 7000), (cb, Icmp, &ipa, 0)]);
}

#[test]
fn kill_9_restart_keeps_port_elements_exact() {
    let mut h = Host::new();
    server(&h, "p1", &["-p", "8101:7000"], &[7000], "echo p1");
    server(&h, "p2", &["-p", "8102:7000"], &[7000], "echo p2");
    let ip1 = h.ip("p1", "bridge");
    assert_eq!(elements(&h, "inet", "ports4_any").len(), 2);
    let pid2 = h.inspect("p2")["State"]["Pid"].as_u64().expect("pid") as i32;
    h.stop_daemon(true);
    unsafe { libc::kill(pid2, libc::SIGKILL) };
    h.start_daemon();
    assert_eq!(
        elements(&h, "inet", "ports4_any"),
        vec![format!("tcp . 8101 : {ip1} . 7000")]
    );
    let host = At::Host(&h);
    assert_eq!(reply(host, Tcp, "127.0.0.1", 8101), "p1");
    no_reply(&[(host, Tcp, "127.0.0.1", 8102)]);
    // Its port is free again.
    server(&h, "p3", &["-p", "8102:7000"], &[7000], "echo p3");
    assert_eq!(reply(host, Tcp, "127.0.0.1", 8102), "p3");
    assert_eq!(elements(&h, "inet", "ports4_any").len(), 2);
}

#[test]
fn rules_are_fixed_only_elements_grow() {
    let h = Host::new();
    let inet = rule_count(&h, "inet");
    let bridge = rule_count(&h, "bridge");
    assert!(inet > 0 && bridge > 0);
    for i in 0..3u16 {
        h.sleeper(&format!("s{i}"), &["-p", &format!("{}:7000", 8200 + i)]);
    }
    assert_eq!(rule_count(&h, "inet"), inet);
    assert_eq!(rule_count(&h, "bridge"), bridge);
    assert_eq!(elements(&h, "inet", "ports4_any").len(), 3);
    assert_eq!(elements(&h, "bridge", "ports").len(), 3);
}

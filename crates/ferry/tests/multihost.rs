//! Several hosts on one underlay segment, a daemon each (the test bed of multi-host work):
//! each host reaches a sandbox of another through that host's published port, from the host
//! and from a sandbox of its own, with the traffic crossing the underlay, and the daemons keep
//! out of each other's way.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::Underlay;

#[test]
fn hosts_on_an_underlay_reach_each_other_s_published_ports() {
    let u = Underlay::new(2);
    let (a, b) = (&u.hosts[0], &u.hosts[1]);
    a.ok(&["network", "create", "--subnet", "10.61.0.0/24", "appnet"]);
    b.ok(&["network", "create", "--subnet", "10.62.0.0/24", "appnet"]);
    a.echo_server("web", &["--network", "appnet", "-p", "8080:7000"], 7000);
    // From host B itself, to host A's underlay address.
    let r = b.sh_stdin(
        &format!(
            "socat -t5 -T5 - TCP:{}:8080,connect-timeout=2",
            Underlay::addr(0)
        ),
        "ping\n",
    );
    assert_eq!(r.stdout.trim(), "pong", "host B to A's port: {}", r.stderr);
    // From a sandbox on host B.
    b.sleeper("cli", &["--network", "appnet"]);
    let t = b.tcp("cli", &Underlay::addr(0), 8080);
    assert_eq!(
        t.stdout.trim(),
        "pong",
        "B's sandbox to A's port: {}",
        t.stderr
    );
    // A's sandbox is not reachable at its own address from B, even with a route to it through
    // A: a network's sandboxes are reached through published ports only.
    let ip = a.ip("web", "appnet");
    let r = b.sh(&format!("ping -c1 -W1 {ip}"));
    assert_ne!(
        r.code, 0,
        "{ip} on A reached from B without a published port"
    );
    let r = b.sh(&format!(
        "ip route add 10.61.0.0/24 via {}",
        Underlay::addr(0)
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = b.sh_stdin(
        &format!("socat -t2 -T2 - TCP:{ip}:7000,connect-timeout=2"),
        "ping\n",
    );
    assert_ne!(
        r.stdout.trim(),
        "pong",
        "{ip} on A reached from B through a route, without a published port"
    );
}

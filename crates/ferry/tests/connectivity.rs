//! Real traffic between sandboxes: same network, two networks, container mode, host and none
//! modes, and connect/disconnect taking effect at once.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};

#[test]
fn two_sandboxes_on_one_network_talk_tcp_and_udp() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.echo_server("srv", &["--network", "appnet"], 7000);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "appnet",
        "--",
        "sleep",
        "600",
    ]);
    let ip = h.ip("srv", "appnet");
    assert!(
        ip.starts_with("172."),
        "address from the default pools: {ip}"
    );
    let t = h.tcp("cli", &ip, 7000);
    assert_eq!(t.stdout.trim(), "pong", "tcp: {}", t.stderr);
    let u = h.udp("cli", &ip, 7000);
    assert_eq!(u.stdout.trim(), "pong", "udp: {}", u.stderr);
}

#[test]
fn a_sandbox_on_two_networks_reaches_both() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.71.0.0/24", "front"]);
    h.ok(&["network", "create", "--subnet", "10.72.0.0/24", "back"]);
    h.echo_server("web", &["--network", "front"], 8080);
    h.echo_server("db", &["--network", "back"], 5432);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "gw",
        "--network",
        "front",
        "--network",
        "back",
        "--",
        "sleep",
        "600",
    ]);
    let gw = h.inspect("gw");
    let nets = &gw["NetworkSettings"]["Networks"];
    assert_eq!(
        nets["front"]["IPAddress"]
            .as_str()
            .unwrap()
            .rsplit_once('.')
            .unwrap()
            .0,
        "10.71.0"
    );
    assert_eq!(
        nets["back"]["IPAddress"]
            .as_str()
            .unwrap()
            .rsplit_once('.')
            .unwrap()
            .0,
        "10.72.0"
    );
    let links = h.ok(&["exec", "gw", "--", "ip", "-o", "link"]);
    assert!(links.contains("eth0") && links.contains("eth1"), "{links}");
    assert_eq!(
        h.tcp("gw", &h.ip("web", "front"), 8080).stdout.trim(),
        "pong"
    );
    assert_eq!(h.tcp("gw", &h.ip("db", "back"), 5432).stdout.trim(), "pong");
    // The default route goes through the first network, and moves when it is disconnected.
    let route = h.ok(&["exec", "gw", "--", "ip", "route", "show", "default"]);
    assert!(
        route.contains("10.71.0.1") && route.contains("eth0"),
        "{route}"
    );
    h.ok(&["network", "disconnect", "front", "gw"]);
    let route = h.ok(&["exec", "gw", "--", "ip", "route", "show", "default"]);
    assert!(
        route.contains("10.72.0.1") && route.contains("eth1"),
        "{route}"
    );
}

#[test]
fn container_mode_shares_localhost_and_ports() {
    let h = Host::new();
    h.ok(&["network", "create", "podnet"]);
    h.echo_server("main", &["--network", "podnet"], 9000);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:main",
        "--",
        "sleep",
        "600",
    ]);
    let t = h.tcp("side", "127.0.0.1", 9000);
    assert_eq!(t.stdout.trim(), "pong", "{}", t.stderr);
    // A port taken by one is taken for the other.
    let r = h.ferry(&["exec", "side", "--", "socat", "TCP-LISTEN:9000", "-"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Address already in use"), "{}", r.stderr);
    let a = h.ok(&["exec", "main", "--", "ip", "-o", "addr", "show", "eth0"]);
    let b = h.ok(&["exec", "side", "--", "ip", "-o", "addr", "show", "eth0"]);
    assert_eq!(a, b);
    // Joining a sandbox in container mode to a network is refused.
    let e = h.fails(&["network", "connect", "podnet", "side"]);
    assert!(e.contains("shares the network namespace of main"), "{e}");
}

#[test]
fn host_mode_sees_the_hosts_interfaces_and_none_has_only_loopback() {
    let h = Host::new();
    h.ok(&[
        "run",
        "-d",
        "--name",
        "hm",
        "--network",
        "host",
        "--",
        "sleep",
        "600",
    ]);
    let links = h.ok(&["exec", "hm", "--", "ip", "-o", "link"]);
    assert!(
        links.contains("ferry0"),
        "host mode sees the host's bridge: {links}"
    );
    h.ok(&[
        "run",
        "-d",
        "--name",
        "nm",
        "--network",
        "none",
        "--",
        "sleep",
        "600",
    ]);
    let links = h.ok(&["exec", "nm", "--", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:"), "{links}");
    let e = h.fails(&["network", "connect", "bridge", "hm"]);
    assert!(e.contains("host's network namespace"), "{e}");
    let e = h.fails(&["network", "connect", "bridge", "nm"]);
    assert!(e.contains("--network none"), "{e}");
}

#[test]
fn connect_and_disconnect_change_reachability_at_once() {
    let h = Host::new();
    // The first network is internal: no default route, so n2 is reachable only once connected
    // (isolation between non-internal networks is the nftables data plane's job).
    h.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.73.0.0/24",
        "n1",
    ]);
    h.ok(&["network", "create", "--subnet", "10.74.0.0/24", "n2"]);
    h.echo_server("srv", &["--network", "n2", "--ip", "10.74.0.50"], 7100);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "n1",
        "--",
        "sleep",
        "600",
    ]);
    let r = h.tcp("c", "10.74.0.50", 7100);
    assert_ne!(r.stdout.trim(), "pong", "not yet connected");
    h.ok(&[
        "network",
        "connect",
        "--alias",
        "client",
        "--ip",
        "10.74.0.60",
        "n2",
        "c",
    ]);
    assert_eq!(h.tcp("c", "10.74.0.50", 7100).stdout.trim(), "pong");
    let ins = h.inspect("c");
    assert_eq!(
        ins["NetworkSettings"]["Networks"]["n2"]["IPAddress"],
        "10.74.0.60"
    );
    assert_eq!(
        ins["NetworkSettings"]["Networks"]["n2"]["Aliases"][0],
        "client"
    );
    let hosts = h.ok(&["exec", "c", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.74.0.60"), "{hosts}");
    let net: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "n2"])).unwrap();
    assert_eq!(net[0]["Containers"].as_object().unwrap().len(), 2);

    h.ok(&["network", "disconnect", "n2", "c"]);
    assert_ne!(h.tcp("c", "10.74.0.50", 7100).stdout.trim(), "pong");
    let links = h.ok(&["exec", "c", "--", "ip", "-o", "link"]);
    assert!(!links.contains("eth1"), "{links}");
    // The freed address can be taken again by a static request.
    h.ok(&["network", "connect", "--ip", "10.74.0.60", "n2", "c"]);
    assert_eq!(h.tcp("c", "10.74.0.50", 7100).stdout.trim(), "pong");
    let route = h.ok(&["exec", "c", "--", "ip", "route", "show", "default"]);
    assert!(
        route.contains("10.74.0.1"),
        "the default route skips the internal network: {route}"
    );
    h.ok(&["network", "disconnect", "n2", "c"]);
    let route = h.ok(&["exec", "c", "--", "ip", "route", "show", "default"]);
    assert!(route.is_empty(), "{route}");
}

#[test]
fn run_attached_returns_output_and_exit_code_and_rm_cleans_up() {
    let h = Host::new();
    let r = h.ferry(&[
        "run",
        "--rm",
        "--name",
        "once",
        "--",
        "sh",
        "-c",
        "echo hello; exit 3",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "hello");
    assert!(
        eventually(5, || h.ferry(&["inspect", "once"]).code != 0),
        "--rm removed it"
    );
    assert!(
        eventually(5, || h.veths() == 0),
        "veth removed: {:?}",
        h.links()
    );
    // Logs of a detached sandbox, hostname and extra hosts.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "talk",
        "-h",
        "box1",
        "--add-host",
        "db:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        "--",
        "sh",
        "-c",
        "hostname; cat /etc/hosts; sleep 600",
    ]);
    assert!(eventually(5, || h.ok(&["logs", "talk"]).contains("db")));
    let logs = h.ok(&["logs", "talk"]);
    assert!(logs.starts_with("box1"), "{logs}");
    assert!(logs.contains("10.1.2.3\tdb"), "{logs}");
    assert!(
        logs.contains("172.17.0.1\tgw"),
        "host-gateway is the default bridge's gateway: {logs}"
    );
    // exec passes stdin and the exit code through.
    let r = h.ferry_stdin(
        &[
            "exec",
            "-i",
            "talk",
            "--",
            "sh",
            "-c",
            "read x; echo got $x; exit 7",
        ],
        Some("abc\n"),
    );
    assert_eq!(r.code, 7);
    assert_eq!(r.stdout.trim(), "got abc");
}

#[test]
fn stop_start_restart_keep_the_configuration() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.75.0.0/24", "n"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "s",
        "--network",
        "n",
        "--ip",
        "10.75.0.9",
        "--",
        "sleep",
        "600",
    ]);
    h.ok(&["stop", "-t", "1", "s"]);
    let ins = h.inspect("s");
    assert_eq!(ins["State"]["Status"], "exited");
    assert_eq!(ins["State"]["ExitCode"], 143, "SIGTERM exit");
    assert_eq!(ins["NetworkSettings"]["Networks"]["n"]["IPAddress"], "");
    assert_eq!(h.veths(), 0);
    h.ok(&["start", "s"]);
    assert_eq!(h.ip("s", "n"), "10.75.0.9");
    h.ok(&["restart", "-t", "0", "s"]);
    assert_eq!(h.inspect("s")["State"]["Status"], "running");
    let ps = h.ok(&["ps"]);
    assert!(ps.contains(" s\n") || ps.ends_with(" s"), "{ps}");
}

#[test]
fn ipv6_networks_carry_traffic_and_get_ula_subnets_automatically() {
    let h = Host::new();
    h.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.76.0.0/24",
        "--subnet",
        "fd00:76::/64",
        "dual",
    ]);
    h.echo_server("srv6", &["--network", "dual", "--ip6", "fd00:76::50"], 7300);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "c6",
        "--network",
        "dual",
        "--",
        "sleep",
        "600",
    ]);
    let ins = h.inspect("srv6");
    let ep = &ins["NetworkSettings"]["Networks"]["dual"];
    assert_eq!(ep["GlobalIPv6Address"], "fd00:76::50");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
    assert_eq!(ep["IPv6Gateway"], "fd00:76::1");
    assert!(ep["IPAddress"].as_str().unwrap().starts_with("10.76.0."));
    let t = h.tcp("c6", "[fd00:76::50]", 7300);
    assert_eq!(t.stdout.trim(), "pong", "{}", t.stderr);
    let route = h.ok(&["exec", "c6", "--", "ip", "-6", "route", "show", "default"]);
    assert!(route.contains("fd00:76::1"), "{route}");
    // --ipv6 without an IPv6 subnet takes a /64 from the host's ULA pool.
    h.ok(&["network", "create", "--ipv6", "auto6"]);
    let n: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "auto6"])).unwrap();
    let subnets: Vec<&str> = n[0]["IPAM"]["Config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Subnet"].as_str().unwrap())
        .collect();
    assert_eq!(subnets.len(), 2, "{subnets:?}");
    assert!(
        subnets[1].starts_with("fd") && subnets[1].ends_with("::/64"),
        "{subnets:?}"
    );
}

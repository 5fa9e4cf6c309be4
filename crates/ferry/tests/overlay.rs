//! Overlay networks across a swarm of real daemons: hosts in network namespaces on one
//! underlay bridge, the first a manager running its etcd member, the others joined as
//! workers. Real traffic only: TCP, UDP and ping between sandboxes on different hosts, names
//! across hosts, isolation between two overlays and the relay through a sandbox on both, a
//! killed daemon whose endpoints are withdrawn from the others, and a restart that removes
//! what the cluster no longer has.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host, Underlay};

/// Lease TTL of the test swarm, in seconds (etcd's shortest).
const TTL: u64 = 2;

/// Waits until the network is listed on `h`.
fn wait_network(h: &Host, name: &str) {
    assert!(
        eventually(10, || h.ferry(&["network", "inspect", name]).code == 0),
        "network {name} never appeared: {}",
        h.ok(&["network", "ls"])
    );
}

/// Resolves a name from inside a sandbox through the embedded resolver.
fn resolve(h: &Host, from: &str, name: &str) -> String {
    h.ferry(&[
        "exec",
        from,
        "--",
        "dig",
        "+short",
        "+time=1",
        "+tries=1",
        "@127.0.0.11",
        name,
    ])
    .stdout
    .trim()
    .to_string()
}

#[test]
fn sandboxes_on_different_hosts_talk_over_an_overlay_by_address_and_name() {
    let mut u = Underlay::new(3);
    u.swarm(TTL, false);
    let (a, b, c) = (&u.hosts[0], &u.hosts[1], &u.hosts[2]);

    // Made on the manager, listed with scope swarm everywhere; encryption is refused with
    // what the kernel lacks.
    a.ok(&["network", "create", "-d", "overlay", "--attachable", "ov"]);
    let refused = a.fails(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        "ov2",
    ]);
    assert!(refused.contains("IPsec"), "{refused}");
    // Without --attachable an overlay is for services: a sandbox is refused, as in Docker.
    a.ok(&["network", "create", "-d", "overlay", "svconly"]);
    let refused = a.fails(&["run", "-d", "--network", "svconly", "--", "sleep", "60"]);
    assert!(refused.contains("not manually attachable"), "{refused}");
    for h in [b, c] {
        wait_network(h, "ov");
        let ls = h.ok(&["network", "ls", "--filter", "scope=swarm"]);
        assert!(ls.contains("ov") && ls.contains("overlay"), "{ls}");
    }

    a.echo_server("web", &["--network", "ov"], 7000);
    b.sleeper("client", &["--network", "ov"]);
    let web_ip = a.ip("web", "ov");
    let client_ip = b.ip("client", "ov");
    assert!(web_ip.starts_with("10."), "from the swarm's pool: {web_ip}");
    assert_ne!(web_ip, client_ip);

    // TCP, UDP and ping from B to A, by address and by name.
    assert!(
        eventually(10, || b
            .tcp("client", &web_ip, 7000)
            .stdout
            .contains("pong")),
        "TCP over the overlay"
    );
    assert!(
        b.udp("client", &web_ip, 7000).stdout.contains("pong"),
        "UDP"
    );
    assert!(
        b.ferry(&["exec", "client", "--", "ping", "-c1", "-W2", &web_ip])
            .code
            == 0
    );
    assert!(
        eventually(10, || resolve(b, "client", "web") == web_ip),
        "web by name from B: {}",
        resolve(b, "client", "web")
    );
    assert!(b.tcp("client", "web.ov", 7000).stdout.contains("pong"));
    // The don't-fragment sweep: the overlay's MTU is the underlay's less 50.
    assert!(
        b.ferry(&["exec", "client", "--", "ping", "-c1", "-W2", "-M", "do", "-s", "1422", &web_ip])
            .code
            == 0
    );
    let too_big = b.ferry(&[
        "exec", "client", "--", "ping", "-c1", "-W1", "-M", "do", "-s", "1423", &web_ip,
    ]);
    assert_ne!(
        too_big.code, 0,
        "a packet over the overlay's MTU went through"
    );

    // Two overlays are isolated; a sandbox on both (on a third host) reaches each.
    a.ok(&["network", "create", "-d", "overlay", "--attachable", "back"]);
    wait_network(c, "back");
    c.echo_server("db", &["--network", "back"], 7001);
    c.sleeper("broker", &["--network", "ov"]);
    c.ok(&["network", "connect", "back", "broker"]);
    let db_ip = c.ip("db", "back");
    assert!(
        !b.tcp("client", &db_ip, 7001).stdout.contains("pong"),
        "an overlay reached another"
    );
    assert!(eventually(10, || c
        .tcp("broker", "web", 7000)
        .stdout
        .contains("pong")));
    let r = c.tcp("broker", "db", 7001);
    assert!(
        r.stdout.contains("pong"),
        "broker to db on back: {} {}",
        r.stderr,
        resolve(c, "broker", "db")
    );

    // A bridge network of a host does not reach its overlay sandboxes: the host is no router
    // on an overlay. An internal overlay gives its sandboxes no way out at all.
    a.ok(&["network", "create", "--subnet", "10.250.0.0/24", "local"]);
    a.sleeper("onbridge", &["--network", "local"]);
    assert!(!a.tcp("onbridge", &web_ip, 7000).stdout.contains("pong"));
    a.ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--internal",
        "--attachable",
        "sealed",
    ]);
    a.sleeper("inside", &["--network", "sealed"]);
    let links = a.ok(&["exec", "inside", "--", "ip", "-o", "link"]);
    assert!(
        !links.contains("eth1"),
        "an internal overlay's sandbox got a way out: {links}"
    );
    let routes = a.ok(&["exec", "inside", "--", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    // The sandbox's interface is a macvlan on the network's VXLAN device, which goes with
    // the node's last endpoint on the network.
    let eth0 = a.ok(&["exec", "inside", "--", "ip", "-d", "link", "show", "eth0"]);
    assert!(eth0.contains("macvlan mode bridge"), "{eth0}");
    let sealed: serde_json::Value =
        serde_json::from_str(&a.ok(&["network", "inspect", "sealed"])).unwrap();
    let vni = sealed[0]["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
        .as_str()
        .unwrap()
        .to_string();
    let vxlan_of_sealed = || {
        a.sh("ip -d link show type vxlan")
            .stdout
            .contains(&format!("vxlan id {vni} "))
    };
    assert!(vxlan_of_sealed(), "no VXLAN device for the sealed overlay");
    a.ok(&["rm", "-f", "inside"]);
    assert!(
        eventually(10, || !vxlan_of_sealed()),
        "the sealed overlay's VXLAN device outlived its last endpoint"
    );

    // A partition shorter than the lease changes nothing.
    b.sh("ip link set ul0 down");
    std::thread::sleep(std::time::Duration::from_millis(600));
    b.sh("ip link set ul0 up");
    for _ in 0..10 {
        assert_eq!(
            resolve(a, "web", "client"),
            client_ip,
            "a short partition withdrew B"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // A daemon killed: its endpoints leave every other node's kernel and resolver within the
    // lease's TTL (and a second), though its sandboxes still run.
    b.sleeper("lost", &["--network", "ov"]);
    let lost_ip = b.ip("lost", "ov");
    assert!(eventually(10, || resolve(a, "web", "lost") == lost_ip));
    let pid = b.daemon_pid().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    assert!(
        eventually(TTL + 5, || resolve(a, "web", "lost").is_empty()
            && !a
                .sh("ip neigh show")
                .stdout
                .contains(&format!("{lost_ip} "))),
        "the dead node's endpoint is still on A"
    );
    eprintln!(
        "overlay: a dead node's endpoint withdrawn after {:?}",
        started.elapsed()
    );

    // While B is down, web goes: B's kernel still points at it. B restarted finds its
    // sandboxes, publishes them again, and removes what the cluster no longer has.
    a.ok(&["rm", "-f", "web"]);
    let b_host = &u.hosts[1];
    assert!(b_host
        .sh("ip neigh show")
        .stdout
        .contains(&format!("{web_ip} ")));
    u.hosts[1].start_daemon();
    let (b, c) = (&u.hosts[1], &u.hosts[2]);
    assert!(
        eventually(10, || resolve(c, "broker", "lost") == lost_ip),
        "the restarted node's sandbox was not published again"
    );
    assert!(
        eventually(10, || !b
            .sh("ip neigh show")
            .stdout
            .contains(&format!("{web_ip} "))),
        "B kept the entry of a sandbox removed while it was down: {}",
        b.sh("ip neigh show").stdout
    );

    // A partition longer than the lease: B is withdrawn, and comes back by itself when it
    // heals; its sandboxes ran on all along.
    b.sh("ip link set ul0 down");
    assert!(
        eventually(TTL + 5, || resolve(c, "broker", "lost").is_empty()),
        "a partitioned node's endpoint stayed"
    );
    b.sh("ip link set ul0 up");
    assert!(
        eventually(20, || resolve(c, "broker", "lost") == lost_ip),
        "the healed node's endpoint did not come back"
    );
    assert!(eventually(10, || c
        .ferry(&["exec", "broker", "--", "ping", "-c1", "-W1", &lost_ip])
        .code
        == 0));
}

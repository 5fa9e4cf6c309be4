//! The macvlan and ipvlan drivers with real traffic: sandboxes sit on a parent's segment
//! (the host end of a veth pair whose other end is an "outside" machine), with addresses and
//! MACs of their own; Docker's refusals; the host's own interface with `ferry.host_access`;
//! a network's own parent when none is given; what the kernel lacks, refused in one line.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host, OUTSIDE_ADDR};

/// Link kinds the machine running the tests must support (`FERRY_EXPECT_LINK_KINDS=vlan,ipvlan`):
/// a test of a kind listed there fails when the kernel lacks it, instead of checking the
/// refusal.
fn expected(kind: &str) -> bool {
    std::env::var("FERRY_EXPECT_LINK_KINDS")
        .unwrap_or_default()
        .split(',')
        .any(|k| k.trim() == kind)
}

/// Whether the kernel can make links of `kind`, asked inside the test host's namespace.
fn supported(h: &Host, kind: &str) -> bool {
    let probe = match kind {
        "vlan" => "ip link add pk0 type veth peer name pk1 && ip link add link pk0 name pk0.9 type vlan id 9",
        "ipvlan" => "ip link add pk0 type veth peer name pk1 && ip link add link pk0 name pk2 type ipvlan mode l2",
        other => panic!("no probe for {other}"),
    };
    let ok = h.sh(probe).code == 0;
    h.sh("ip link del pk0");
    ok
}

fn mac(h: &Host, sandbox: &str, network: &str) -> String {
    h.inspect(sandbox)["NetworkSettings"]["Networks"][network]["MacAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn sandboxes_sit_on_the_parent_segment_with_their_own_addresses_and_macs() {
    let h = Host::new();
    let o = h.outside();
    o.echo_server(9000);
    let before = h.links();
    h.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "192.0.2.0/24",
        "--gateway",
        OUTSIDE_ADDR,
        "--ip-range",
        "192.0.2.64/26",
        "-o",
        "parent=xo0",
        "lan",
    ]);
    h.echo_server("a", &["--network", "lan"], 7000);
    h.sleeper("b", &["--network", "lan", "--ip", "192.0.2.100"]);
    let a = h.ip("a", "lan");
    assert_eq!(a, "192.0.2.64", "first address of the range");
    assert_eq!(h.ip("b", "lan"), "192.0.2.100");

    // The outside machine sees the sandbox's own address (no NAT) and its own MAC.
    let t = h.tcp("b", OUTSIDE_ADDR, 9000);
    assert_eq!(t.stdout.trim(), "192.0.2.100", "{}", t.stderr);
    let neigh = o.sh("ip neigh show 192.0.2.100").stdout;
    assert!(
        neigh.contains(&mac(&h, "b", "lan")),
        "outside learnt the sandbox's MAC: {neigh}"
    );
    // Sandboxes reach each other directly, by name through the embedded resolver.
    let t = h.tcp("b", "a", 7000);
    assert_eq!(t.stdout.trim(), "pong", "b to a by name: {}", t.stderr);
    // The sandbox's default route is the gateway on the segment.
    let r = h.ferry(&["exec", "b", "--", "ip", "route", "show", "default"]);
    assert!(
        r.stdout.contains(&format!("via {OUTSIDE_ADDR}")),
        "{}",
        r.stdout
    );
    // As in Docker, the host cannot reach its own macvlan sandboxes: the parent's frames go
    // out to the wire, never to the parent's macvlan links.
    let r = h.sh(&format!("ping -c1 -W1 {a}"));
    assert_ne!(
        r.code, 0,
        "the host reached a macvlan sandbox without host access"
    );

    let net = h.ok(&["network", "inspect", "lan"]);
    let net: serde_json::Value = serde_json::from_str(&net).expect("inspect json");
    assert_eq!(net[0]["Driver"], "macvlan");
    assert_eq!(net[0]["Options"]["parent"], "xo0");
    assert_eq!(net[0]["Internal"], false);

    // Docker's refusals, with what to do.
    let e = h.fails(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "198.51.100.0/24",
        "-o",
        "parent=xo0",
        "lan2",
    ]);
    assert!(
        e.contains("network lan is already using parent interface xo0"),
        "{e}"
    );
    let e = h.fails(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "198.51.100.0/24",
        "-o",
        "parent=nosuch0",
        "lan2",
    ]);
    assert!(e.contains("parent interface nosuch0 does not exist"), "{e}");
    let e = h.fails(&[
        "run",
        "-d",
        "-p",
        "8080:80",
        "--network",
        "lan",
        "--",
        "sleep",
        "60",
    ]);
    assert!(
        e.contains("ports cannot be published on macvlan network lan"),
        "{e}"
    );
    let e = h.fails(&[
        "service",
        "create",
        "--name",
        "web",
        "--network",
        "lan",
        "--",
        "sleep",
        "60",
    ]);
    assert!(e.contains("a service cannot use network lan"), "{e}");
    let e = h.fails(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        "macvlan_mode=sideways",
        "lan3",
    ]);
    assert!(e.contains("macvlan_mode"), "{e}");
    let names = h.ok(&["network", "ls"]);
    assert!(
        !names.contains("lan2") && !names.contains("lan3"),
        "{names}"
    );

    // Connect and disconnect work as on bridges.
    h.sleeper("c", &[]);
    h.ok(&["network", "connect", "lan", "c"]);
    let t = h.tcp("c", "a", 7000);
    assert_eq!(t.stdout.trim(), "pong", "connected sandbox: {}", t.stderr);
    h.ok(&["network", "disconnect", "lan", "c"]);
    let r = h.ferry(&["exec", "c", "--", "ip", "-d", "-o", "link"]);
    assert_eq!(r.stdout.matches("macvlan").count(), 0, "{}", r.stdout);

    h.ok(&["rm", "-f", "a", "b", "c"]);
    h.ok(&["network", "rm", "lan"]);
    assert_eq!(h.links(), before, "a user's parent is left alone");
}

#[test]
fn host_access_gives_the_host_a_way_to_its_macvlan_sandboxes() {
    let h = Host::new();
    let _o = h.outside();
    let links_before = h.links();
    h.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "192.0.2.0/24",
        "--gateway",
        OUTSIDE_ADDR,
        "--ip-range",
        "192.0.2.64/26",
        "-o",
        "parent=xo0",
        "-o",
        "ferry.host_access=true",
        "lan",
    ]);
    let net = h.ok(&["network", "inspect", "lan"]);
    let net: serde_json::Value = serde_json::from_str(&net).expect("inspect json");
    assert_eq!(
        net[0]["IPAM"]["Config"][0]["AuxiliaryAddresses"]["ferry-host"], "192.0.2.127",
        "the host's address is reserved: {net}"
    );
    h.echo_server("a", &["--network", "lan"], 7000);
    let a = h.ip("a", "lan");
    let r = h.sh_stdin(
        &format!("socat -t5 -T5 - TCP:{a}:7000,connect-timeout=2"),
        "ping\n",
    );
    assert_eq!(r.stdout.trim(), "pong", "host to sandbox: {}", r.stderr);
    // And back: the sandbox reaches the host at its address on the network.
    h.spawn("socat TCP4-LISTEN:7100,bind=192.0.2.127,reuseaddr,fork SYSTEM:'read x; echo host'");
    assert!(eventually(10, || h
        .sh("ss -ltnH")
        .stdout
        .contains("192.0.2.127:7100")));
    let t = h.tcp("a", "192.0.2.127", 7100);
    assert_eq!(t.stdout.trim(), "host", "sandbox to host: {}", t.stderr);

    // A mode in which the kernel passes nothing between them is refused.
    let e = h.fails(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "198.51.100.0/24",
        "-o",
        "macvlan_mode=private",
        "-o",
        "ferry.host_access=true",
        "priv",
    ]);
    assert!(e.contains("needs macvlan_mode=bridge"), "{e}");

    h.ok(&["rm", "-f", "a"]);
    h.ok(&["network", "rm", "lan"]);
    assert_eq!(
        h.links(),
        links_before,
        "the host's interface goes with the network"
    );
    let routes = h.sh("ip route").stdout;
    assert!(!routes.contains("192.0.2.64/26"), "{routes}");
}

#[test]
fn without_a_parent_the_network_is_internal_on_a_parent_of_its_own() {
    let h = Host::new();
    let links_before = h.links();
    h.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.77.0.0/24",
        "solo",
    ]);
    let net = h.ok(&["network", "inspect", "solo"]);
    let net: serde_json::Value = serde_json::from_str(&net).expect("inspect json");
    assert_eq!(net[0]["Internal"], true, "{net}");
    let id = net[0]["Id"].as_str().unwrap_or_default().to_string();
    let parent = format!("mv-{}", &id[..12]);
    assert!(h.links().contains(&parent), "{:?}", h.links());

    h.echo_server("a", &["--network", "solo"], 7000);
    h.sleeper("b", &["--network", "solo"]);
    let t = h.tcp("b", "a", 7000);
    assert_eq!(t.stdout.trim(), "pong", "{}", t.stderr);
    let r = h.ferry(&["exec", "b", "--", "ip", "route", "show", "default"]);
    assert_eq!(r.stdout.trim(), "", "internal: no default route");

    // A crash leaves nothing that a restart does not put right: the network's parent is
    // made again if it went, and links of networks that are gone are swept.
    h.sh(&format!("ip link del {parent}"));
    h.sh("ip link add mv-0123456789ab type veth peer name mp-0123456789ab");
    let mut h = h;
    h.stop_daemon(true);
    h.start_daemon();
    let links = h.links();
    assert!(links.contains(&parent), "parent made again: {links:?}");
    assert!(
        !links.iter().any(|l| l.ends_with("0123456789ab")),
        "orphans swept: {links:?}"
    );

    h.ok(&["rm", "-f", "a", "b"]);
    h.ok(&["network", "rm", "solo"]);
    assert_eq!(h.links(), links_before, "the network's parent goes with it");
}

#[test]
fn a_dotted_parent_is_a_vlan_sub_interface_made_and_removed_with_the_network() {
    let h = Host::new();
    let o = h.outside();
    let links_before = h.links();
    let args = [
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.50.0.0/24",
        "--gateway",
        "10.50.0.2",
        "-o",
        "parent=xo0.50",
        "tagged",
    ];
    if !supported(&h, "vlan") {
        assert!(
            !expected("vlan"),
            "FERRY_EXPECT_LINK_KINDS lists vlan, but this kernel cannot make 802.1q links"
        );
        let e = h.fails(&args);
        assert!(
            e.contains("this kernel has no vlan support") && e.contains("8021q"),
            "{e}"
        );
        assert_eq!(h.links(), links_before, "nothing made");
        assert!(!h.ok(&["network", "ls"]).contains("tagged"));
        return;
    }
    // A tagged peer: the outside machine's VLAN 50.
    let r = o.sh("ip link add link eth0 name eth0.50 type vlan id 50 && ip addr add 10.50.0.2/24 dev eth0.50 && ip link set eth0.50 up");
    assert_eq!(r.code, 0, "{}", r.stderr);
    o.spawn("socat TCP4-LISTEN:9050,reuseaddr,fork SYSTEM:'read x; echo $SOCAT_PEERADDR'");
    h.ok(&args);
    assert!(h.links().contains(&"xo0.50".to_string()));
    h.sleeper("a", &["--network", "tagged"]);
    assert!(eventually(10, || o.sh("ss -ltnH").stdout.contains(":9050")));
    let t = h.tcp("a", "10.50.0.2", 9050);
    assert_eq!(t.stdout.trim(), h.ip("a", "tagged"), "{}", t.stderr);
    h.ok(&["rm", "-f", "a"]);
    h.ok(&["network", "rm", "tagged"]);
    assert_eq!(
        h.links(),
        links_before,
        "the sub-interface ferry made is gone"
    );
}

#[test]
fn ipvlan_works_where_the_kernel_has_it_and_is_refused_in_one_line_where_not() {
    let h = Host::new();
    let o = h.outside();
    o.echo_server(9000);
    let links_before = h.links();
    let args = [
        "network",
        "create",
        "-d",
        "ipvlan",
        "--subnet",
        "192.0.2.0/24",
        "--gateway",
        OUTSIDE_ADDR,
        "--ip-range",
        "192.0.2.64/26",
        "-o",
        "parent=xo0",
        "-o",
        "ipvlan_mode=l2",
        "ipv",
    ];
    if !supported(&h, "ipvlan") {
        assert!(
            !expected("ipvlan"),
            "FERRY_EXPECT_LINK_KINDS lists ipvlan, but this kernel cannot make ipvlan links"
        );
        let e = h.fails(&args);
        assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
        assert!(
            e.contains("this kernel has no ipvlan support") && e.contains("CONFIG_IPVLAN"),
            "{e}"
        );
        assert_eq!(h.links(), links_before, "nothing made");
        assert!(!h.ok(&["network", "ls"]).contains("ipv"));
        return;
    }
    h.ok(&args);
    h.echo_server("a", &["--network", "ipv"], 7000);
    h.sleeper("b", &["--network", "ipv"]);
    let t = h.tcp("b", OUTSIDE_ADDR, 9000);
    assert_eq!(t.stdout.trim(), h.ip("b", "ipv"), "{}", t.stderr);
    let t = h.tcp("b", "a", 7000);
    assert_eq!(t.stdout.trim(), "pong", "{}", t.stderr);
    h.ok(&["rm", "-f", "a", "b"]);
    h.ok(&["network", "rm", "ipv"]);
    assert_eq!(h.links(), links_before);
}

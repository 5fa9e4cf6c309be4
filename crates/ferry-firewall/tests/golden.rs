//! Golden tests: the nft text ferry renders, compared with the expected files in
//! `tests/golden/`. Run with `FERRY_UPDATE_GOLDEN=1` to rewrite them after a deliberate change,
//! then review the diff. When run as root with `nft` installed, the rendered scripts are also
//! applied inside a private network namespace, so the kernel itself checks them.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_firewall::{full, ruleset, BridgeNet, BridgePort, Changes, LbEntry};
use ferry_types::ports::{PortKey, Proto, PublishedPort};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod fixture;
use fixture::network;

fn endpoint(_net: &BridgeNet, host_ifname: &str, v4: &str, v6: Option<&str>) -> BridgePort {
    let addr = |a: &str| a.parse::<ipnet::IpNet>().unwrap().addr();
    BridgePort {
        port: host_ifname.into(),
        mac: "02:42:AC:11:00:02".into(),
        ipv4: Some(addr(v4)),
        ipv6: v6.map(addr),
    }
}

fn port(host_ip: &str, host_port: u16, target: &str, port: u16, proto: Proto) -> PublishedPort {
    PublishedPort {
        container: PortKey { port, proto },
        host_ip: host_ip.parse().unwrap(),
        host_port,
        target: target.parse().unwrap(),
    }
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("FERRY_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with FERRY_UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from its golden file; if the change is intended, rerun with FERRY_UPDATE_GOLDEN=1 and review the diff"
    );
}

/// Applies scripts in order inside a fresh network namespace, when the kernel can be asked.
fn kernel_accepts(scripts: &[&str]) {
    let root = nix_is_root();
    let nft = Command::new("nft").arg("--version").output().is_ok();
    assert!(
        root && nft,
        "the kernel check of the golden rules needs root and nft (as CI runs it)"
    );
    let mut sh = String::new();
    for s in scripts {
        sh.push_str(&format!("nft -f - <<'EOF_NFT'\n{s}EOF_NFT\n"));
    }
    // The script goes in on standard input: the whole ruleset is longer than one argument
    // may be.
    let mut child = Command::new("unshare")
        .args(["-n", "sh", "-e", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sh.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft rejected the script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn ruleset_has_its_fixed_shape() {
    let r = ruleset();
    golden("ruleset.nft", &r);
    kernel_accepts(&[&r]);
}

#[test]
fn network_endpoint_and_port_changes() {
    let net = network("web", "fr-web", "172.18.0.0/16", false, true);
    let internal = network("db", "fr-db", "172.19.0.0/16", true, false);
    let ep = endpoint(&net, "vf0123456789a", "172.18.0.2/16", Some("fd00::2/64"));
    let iep = endpoint(&internal, "vfbbbbbbbbbbb", "172.19.0.2/16", None);
    let ports = [
        port("0.0.0.0", 8080, "172.18.0.2", 80, Proto::Tcp),
        port("::", 8080, "fd00::2", 80, Proto::Tcp),
        port("127.0.0.1", 5353, "172.18.0.2", 53, Proto::Udp),
        port("fd00::1", 9000, "fd00::2", 9000, Proto::Sctp),
    ];

    let mut add = Changes::new();
    add.add_network(&net).add_network(&internal);
    golden("networks_add.nft", add.render());

    let mut eps = Changes::new();
    eps.add_endpoint(&net, &ep).add_endpoint(&internal, &iep);
    for p in &ports {
        eps.add_port(p);
    }
    golden("endpoints_add.nft", eps.render());

    let mut rm = Changes::new();
    for p in &ports {
        rm.remove_port(p);
    }
    rm.remove_endpoint(&net, &ep)
        .remove_endpoint(&internal, &iep);
    golden("endpoints_remove.nft", rm.render());

    let mut rm_nets = Changes::new();
    rm_nets.remove_network(&net).remove_network(&internal);

    // Removing twice must not fail: the second removal finds nothing and changes nothing.
    kernel_accepts(&[
        &ruleset(),
        add.render(),
        eps.render(),
        rm.render(),
        rm.render(),
        rm_nets.render(),
    ]);
}

#[test]
fn full_state_replaces_the_tables() {
    let net = network("bridge", "ferry0", "172.17.0.0/16", false, false);
    let ep = endpoint(&net, "vfccccccccccc", "172.17.0.2/16", None);
    let p = port("0.0.0.0", 80, "172.17.0.2", 8080, Proto::Tcp);
    let vip: Ipv4Addr = "172.17.0.100".parse().unwrap();
    let lb = [
        LbEntry {
            vip: Some(vip),
            proto: Proto::Tcp,
            port: 80,
            backends: vec![
                ("172.17.0.3".parse().unwrap(), 8080),
                ("172.17.0.2".parse().unwrap(), 8080),
            ],
        },
        LbEntry {
            vip: None,
            proto: Proto::Udp,
            port: 5353,
            backends: vec![("172.17.0.2".parse().unwrap(), 53)],
        },
    ];
    let text = full([&net], [(&net, &ep)], [&p], [vip], &lb);
    golden("full.nft", &text);
    // Applying it twice is how a restart rebuilds the tables from the store.
    kernel_accepts(&[&text, &text]);
}

fn backends(last_octets: &[u8], port: u16) -> Vec<(Ipv4Addr, u16)> {
    last_octets
        .iter()
        .map(|&o| (Ipv4Addr::new(172, 18, 0, o), port))
        .collect()
}

#[test]
fn service_backend_changes() {
    let net = network("web", "fr-web", "172.18.0.0/16", false, true);
    let vip = Ipv4Addr::new(172, 18, 0, 100);
    let three = backends(&[4, 2, 3], 8080);
    let two = backends(&[2, 3], 8080);
    let four = backends(&[2, 3, 5, 6], 8080);

    let mut nets = Changes::new();
    nets.add_network(&net);

    let mut add = Changes::new();
    add.add_vip(vip)
        .set_vip_backends(vip, Proto::Tcp, 80, &[], &three);
    golden("services_add.nft", add.render());

    // Only the slots whose backend changes are written.
    let mut down = Changes::new();
    down.set_vip_backends(vip, Proto::Tcp, 80, &three, &two);
    golden("services_scale_3_to_2.nft", down.render());

    let mut up = Changes::new();
    up.set_vip_backends(vip, Proto::Tcp, 80, &two, &four);
    golden("services_scale_2_to_4.nft", up.render());

    let mut rm = Changes::new();
    rm.set_vip_backends(vip, Proto::Tcp, 80, &four, &[])
        .remove_vip(vip);
    golden("services_remove.nft", rm.render());

    // Every port of the VIP (port 0): backends by address, the destination port kept.
    let mut all = Changes::new();
    all.set_vip_backends(vip, Proto::Tcp, 0, &[], &two);
    golden("services_all_ports.nft", all.render());
    let mut all_rm = Changes::new();
    all_rm.set_vip_backends(vip, Proto::Tcp, 0, &two, &[]);

    let mut mesh = Changes::new();
    mesh.set_mesh_backends(Proto::Tcp, 8000, &[], &two)
        .set_mesh_backends(Proto::Udp, 8000, &[], &backends(&[7], 53));
    golden("mesh_add.nft", mesh.render());

    let mut mesh_rm = Changes::new();
    mesh_rm
        .set_mesh_backends(Proto::Tcp, 8000, &two, &[])
        .set_mesh_backends(Proto::Udp, 8000, &backends(&[7], 53), &[]);

    // The host's load-balancer link on an overlay.
    let mut lb = Changes::new();
    lb.add_lb_link("fo-0123456789ab");
    golden("lb_link_add.nft", lb.render());
    let mut lb_rm = Changes::new();
    lb_rm.remove_lb_link("fo-0123456789ab");

    // Removing twice must not fail: the second removal finds nothing and changes nothing.
    kernel_accepts(&[
        &ruleset(),
        lb.render(),
        lb_rm.render(),
        lb_rm.render(),
        nets.render(),
        add.render(),
        down.render(),
        up.render(),
        rm.render(),
        rm.render(),
        all.render(),
        all_rm.render(),
        all_rm.render(),
        mesh.render(),
        mesh_rm.render(),
        mesh_rm.render(),
    ]);
}

//! `nft list ruleset` with every kind of ferry element present: it must succeed with the
//! platform's nft (Debian 12's nftables 1.0.6 segfaulted on a map declared with a `typeof`
//! hash), and what it prints must load back. An administrator's `nft list ruleset > backup`
//! and the firewall tools that read the ruleset depend on both.
//!
//! Needs root and `nft`; each step runs in a fresh network namespace of its own (`unshare
//! -n`), so the host's ruleset is never read or touched.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_firewall::{full, BridgeNet, BridgePort, LbEntry};
use ferry_types::ports::{PortKey, Proto, PublishedPort};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

mod fixture;
use fixture::network;

fn endpoint(_net: &BridgeNet, host_ifname: &str, v4: &str, v6: Option<&str>) -> BridgePort {
    let addr = |a: &str| a.parse::<ipnet::IpNet>().unwrap().addr();
    BridgePort {
        port: host_ifname.into(),
        mac: "02:42:ac:12:00:02".into(),
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

/// Runs `script` (nft commands) with `sh` in a fresh network namespace; returns its output.
fn in_fresh_netns(what: &str, script: &str) -> String {
    let mut child = Command::new("unshare")
        .args(["-n", "sh", "-e", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("unshare (this test needs root): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {} (exit {:?}, signal {:?}); stdout so far: {} bytes",
        String::from_utf8_lossy(&out.stderr),
        out.status.code(),
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        out.stdout.len()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `nft -f` of `text`, then `nft list ruleset`, as one shell script.
fn load_then_list(text: &str) -> String {
    format!("nft -f - <<'EOF_NFT'\n{text}EOF_NFT\nnft list ruleset\n")
}

#[test]
fn nft_lists_every_kind_of_element_and_loads_the_listing_back() {
    let web = network("web", "fr-web", "172.18.0.0/16", false, true);
    // Internal, and inter-container communication off: `internal` and `isolated` elements.
    let db = network("db", "fr-db", "172.19.0.0/16", true, false);
    let ep = endpoint(&web, "vf0123456789a", "172.18.0.2/16", Some("fd00::2/64"));
    let isolated = endpoint(&db, "vfbbbbbbbbbbb", "172.19.0.2/16", None);
    let ports = [
        port("10.0.0.1", 8080, "172.18.0.2", 80, Proto::Tcp),
        port("0.0.0.0", 8081, "172.18.0.2", 80, Proto::Tcp),
        port("fd00::1", 9000, "fd00::2", 9000, Proto::Udp),
        port("::", 9001, "fd00::2", 9000, Proto::Tcp),
    ];
    let vip = Ipv4Addr::new(172, 18, 0, 100);
    let backends = vec![
        (Ipv4Addr::new(172, 18, 0, 2), 8080),
        (Ipv4Addr::new(172, 18, 0, 3), 8080),
    ];
    let lb = [
        // Given ports (lb4_N), every port (vipall4_N), the routing mesh (mesh4_N).
        LbEntry {
            vip: Some(vip),
            proto: Proto::Tcp,
            port: 80,
            backends: backends.clone(),
        },
        LbEntry {
            vip: Some(vip),
            proto: Proto::Tcp,
            port: 0,
            backends: backends.clone(),
        },
        LbEntry {
            vip: None,
            proto: Proto::Udp,
            port: 5353,
            backends: vec![(Ipv4Addr::new(172, 18, 0, 3), 53)],
        },
    ];
    let text = full(
        [&web, &db],
        [(&web, &ep), (&db, &isolated)],
        &ports,
        [vip],
        &lb,
    );

    let listed = in_fresh_netns(
        "nft list ruleset with ferry's tables",
        &load_then_list(&text),
    );
    // Every kind of element is in the listing, not only the declarations.
    for element in [
        "\"fr-web\" . \"fr-web\"",                         // bridge_pairs
        "elements = { \"fr-db\" }",                        // internal
        "\"vfbbbbbbbbbbb\"",                               // ports, isolated
        "\"vf0123456789a\" . 02:42:ac:12:00:02 . fd00::2", // addrs6
        "10.0.0.1 . tcp . 8080 : 172.18.0.2 . 80",         // ports4
        "tcp . 8081 : 172.18.0.2 . 80",                    // ports4_any
        "fd00::1 . udp . 9000 : fd00::2 . 9000",           // ports6
        "tcp . 9001 : fd00::2 . 9000",                     // ports6_any
        "172.18.0.100 . tcp . 80 : 172.18.0.2 . 8080",     // lb4_N
        "172.18.0.100 : 172.18.0.3",                       // vipall4_N
        "udp . 5353 : 172.18.0.3 . 53",                    // mesh4_N
    ] {
        assert!(listed.contains(element), "{element} not listed:\n{listed}");
    }
    assert!(listed.contains("table bridge ferry"), "{listed}");

    // The listing loads into another fresh namespace and lists the same again.
    let again = in_fresh_netns("nft -f of the listing", &load_then_list(&listed));
    assert_eq!(listed, again, "the listing did not load back as it was");
}

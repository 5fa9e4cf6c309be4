//! Removal replies before the kernel has finished unregistering what it removes: the links
//! are retired (down, renamed) at once and deleted in the background. Names are free at once,
//! a sandbox is cut off at once, and a kill before the deletion leaks nothing.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};

#[test]
fn names_are_free_at_once_after_a_removal() {
    let h = Host::new();
    let opt = "com.docker.network.bridge.name=brfast";
    for round in 0..5 {
        let name = format!("n{round}");
        h.ok(&[
            "network",
            "create",
            "-o",
            opt,
            "--subnet",
            "10.91.0.0/24",
            &name,
        ]);
        h.ok(&["network", "rm", &name]);
    }
    // A disconnect followed at once by a connect reuses the interface name in the sandbox.
    h.ok(&["network", "create", "--subnet", "10.92.0.0/24", "a"]);
    h.ok(&["network", "create", "--subnet", "10.93.0.0/24", "b"]);
    h.sleeper("s", &["--network", "a"]);
    for _ in 0..5 {
        h.ok(&["network", "connect", "b", "s"]);
        h.ok(&["network", "disconnect", "b", "s"]);
    }
    h.ok(&["network", "connect", "b", "s"]);
    let r = h.ferry(&["exec", "s", "--", "ip", "-o", "addr", "show", "eth1"]);
    assert!(r.stdout.contains("10.93.0."), "{} {}", r.stdout, r.stderr);
    // A disconnected sandbox is cut off at once: its old interface is down before the reply.
    h.sleeper("t", &["--network", "b"]);
    let t_ip = h.ip("t", "b");
    h.ok(&["network", "disconnect", "b", "s"]);
    let r = h.ferry(&["exec", "s", "--", "ping", "-c1", "-W1", &t_ip]);
    assert_ne!(r.code, 0, "reached {t_ip} after disconnect");
    // Everything retired is gone soon after.
    h.ok(&["rm", "-f", "s", "t"]);
    assert!(
        eventually(10, || !h.all_links().iter().any(|l| l.starts_with("fz"))),
        "retired links left: {:?}",
        h.all_links()
    );
}

#[test]
fn retired_links_a_kill_left_behind_are_swept_at_start() {
    let mut h = Host::new();
    // What a daemon killed between a retirement and its deletion leaves: tombstones.
    h.sh("ip link add fz0000000000001 type veth peer name fz0000000000002");
    h.sh("ip link add fz0000000000003 type bridge");
    h.ok(&["network", "create", "--subnet", "10.94.0.0/24", "kept"]);
    h.stop_daemon(true);
    h.start_daemon();
    let links = h.all_links();
    assert!(
        !links.iter().any(|l| l.starts_with("fz")),
        "tombstones swept: {links:?}"
    );
    assert!(h.ok(&["network", "ls"]).contains("kept"));
}

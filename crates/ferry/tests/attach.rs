//! Sandboxes ferry did not start: a namespace made with `ip netns add` is attached to ferry's
//! networks, reaches ferry's sandboxes by name and is reached back, publishes a port, and is
//! detached (twice, and after its namespace is gone) leaving nothing behind.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};

/// A namespace made with `ip netns add` (a file under /run/netns, a fresh network of its
/// own), deleted when dropped.
struct IpNetns {
    name: String,
}

impl IpNetns {
    fn new(tag: &str) -> Self {
        let name = format!("ferry-test-{tag}-{}", std::process::id());
        let r = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        assert!(
            r.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        IpNetns { name }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    fn sh(&self, cmd: &str) -> common::Run {
        common::ns_sh(std::path::Path::new(&self.path()), cmd, None)
    }

    fn delete(&self) {
        for pid in ferry_kernel::netns::pids_in(std::path::Path::new(&self.path())) {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

impl Drop for IpNetns {
    fn drop(&mut self) {
        self.delete();
    }
}

fn attach(h: &Host, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["network", "attach"];
    a.extend_from_slice(args);
    serde_json::from_str(&h.ok(&a)).expect("attach prints JSON")
}

#[test]
fn an_ip_netns_namespace_is_attached_reaches_sandboxes_by_name_and_is_reached_back() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.81.0.0/24", "appnet"]);
    h.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        "10.82.0.0/24",
        "solo",
    ]);
    h.echo_server("srv", &["--network", "appnet"], 7000);
    h.sleeper("cli", &["--network", "appnet"]);
    let veths_before = h.veths();
    let ns = IpNetns::new("attach");
    let made = attach(
        &h,
        &[
            "--netns",
            &ns.path(),
            "--id",
            "ctr1",
            "--alias",
            "web",
            "-p",
            "18080:7100",
            "appnet",
        ],
    );
    assert_eq!(made["ifname"], "eth0", "{made}");
    assert_eq!(made["gateway"], "10.81.0.1", "{made}");
    assert_eq!(made["dns_server"], "127.0.0.11", "{made}");
    let addr = made["ipv4_address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        addr.starts_with("10.81.0.") && addr.ends_with("/24"),
        "{made}"
    );
    let ip = addr.trim_end_matches("/24").to_string();
    let link = ns.sh("ip -o addr show eth0").stdout;
    assert!(link.contains(&addr), "address inside the namespace: {link}");

    // It resolves ferry's names at 127.0.0.11 and reaches the sandbox.
    let r = ns.sh("dig +short +time=2 +tries=2 @127.0.0.11 -t A -q srv");
    let srv = h.ip("srv", "appnet");
    assert_eq!(r.stdout.trim(), srv, "{}", r.stderr);
    let r = common::ns_sh(
        std::path::Path::new(&ns.path()),
        &format!("socat -t5 -T5 - TCP:{srv}:7000,connect-timeout=2"),
        Some("ping\n"),
    );
    assert_eq!(r.stdout.trim(), "pong", "{}", r.stderr);

    // And is reached back, by its ID and by its alias, and through its published port.
    common::ns_spawn(
        std::path::Path::new(&ns.path()),
        "socat TCP4-LISTEN:7100,reuseaddr,fork SYSTEM:'read x; echo attached'",
    );
    assert!(eventually(10, || ns
        .sh("ss -ltnH")
        .stdout
        .contains(":7100")));
    for name in ["ctr1", "web", ip.as_str()] {
        let t = h.tcp("cli", name, 7100);
        assert_eq!(t.stdout.trim(), "attached", "{name}: {}", t.stderr);
    }
    let r = h.sh_stdin(
        "socat -t5 -T5 - TCP:127.0.0.1:18080,connect-timeout=2",
        "ping\n",
    );
    assert_eq!(r.stdout.trim(), "attached", "published port: {}", r.stderr);

    // ps, inspect and network inspect show it; what needs a process of ferry's is refused.
    assert!(h.ok(&["ps"]).contains("ctr1"));
    let i = h.inspect("ctr1");
    assert_eq!(i["NetworkSettings"]["SandboxKey"], ns.path(), "{i}");
    let net = h.ok(&["network", "inspect", "appnet"]);
    assert!(net.contains("ctr1"), "{net}");
    let e = h.fails(&["stop", "ctr1"]);
    assert!(e.contains("a container ferry did not start"), "{e}");
    assert!(e.contains("ferry network detach"), "{e}");
    let e = h.fails(&["exec", "ctr1", "--", "true"]);
    assert!(e.contains("a container ferry did not start"), "{e}");
    let e = h.fails(&[
        "network",
        "attach",
        "--netns",
        &ns.path(),
        "--id",
        "ctr1",
        "appnet",
    ]);
    assert!(e.contains("already connected to network appnet"), "{e}");
    let e = h.fails(&[
        "network",
        "attach",
        "--netns",
        &ns.path(),
        "--id",
        "ctr2",
        "--ifname",
        "eth0",
        "solo",
    ]);
    assert!(e.contains("interface eth0 already exists"), "{e}");
    let e = h.fails(&[
        "network",
        "attach",
        "--netns",
        "/proc/self/ns/net",
        "--id",
        "x",
        "appnet",
    ]);
    assert!(!e.is_empty());
    let e = h.fails(&[
        "network",
        "attach",
        "--netns",
        "/nonexistent",
        "--id",
        "x",
        "appnet",
    ]);
    assert!(e.contains("does not exist"), "{e}");

    // A second network: the next free interface, made by the macvlan driver inside the
    // namespace, and taken out of it again on detach while the namespace lives on.
    let made = attach(&h, &["--netns", &ns.path(), "--id", "ctr1", "solo"]);
    assert_eq!(made["ifname"], "eth1", "{made}");
    assert!(ns.sh("ip -d -o link show eth1").stdout.contains("macvlan"));
    h.ok(&["network", "detach", "--id", "ctr1", "solo"]);
    assert_ne!(ns.sh("ip link show eth1").code, 0, "eth1 removed");

    // Detach is idempotent, and leaves nothing behind.
    h.ok(&["network", "detach", "--id", "ctr1", "appnet"]);
    h.ok(&["network", "detach", "--id", "ctr1", "appnet"]);
    assert!(!h.ok(&["ps", "-a"]).contains("ctr1"));
    assert_eq!(h.veths(), veths_before);
    // The pair is down at once and deleted in the background.
    assert!(
        eventually(10, || ns.sh("ip link show eth0").code != 0),
        "eth0 removed"
    );
    let rules = h.sh("nft list ruleset").stdout;
    assert!(
        !rules.contains(&ip),
        "firewall elements of {ip} left: {rules}"
    );
    let r = h.sh_stdin(
        "socat -t2 -T2 - TCP:127.0.0.1:18080,connect-timeout=1",
        "ping\n",
    );
    assert_ne!(r.stdout.trim(), "attached", "the port went with it");
    // ferry's own sandboxes are not detached this way.
    let e = h.fails(&["network", "detach", "--id", "cli", "appnet"]);
    assert!(e.contains("ferry network disconnect"), "{e}");
}

#[test]
fn a_namespace_deleted_before_detach_leaves_nothing_behind() {
    let mut h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.83.0.0/24", "appnet"]);
    let veths_before = h.veths();
    let ns = IpNetns::new("gone");
    let made = attach(&h, &["--netns", &ns.path(), "--id", "gone1", "appnet"]);
    let first = made["ipv4_address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ns.delete();
    h.ok(&["network", "detach", "--id", "gone1", "appnet"]);
    assert!(!h.ok(&["ps", "-a"]).contains("gone1"));
    assert_eq!(h.veths(), veths_before);
    // Its address is free again.
    let first_ip = first.trim_end_matches("/24");
    let ns2 = IpNetns::new("again");
    let made = attach(
        &h,
        &[
            "--netns",
            &ns2.path(),
            "--id",
            "again1",
            "--ip",
            first_ip,
            "appnet",
        ],
    );
    assert_eq!(made["ipv4_address"], first, "{made}");

    // A namespace that goes while the daemon is down is forgotten at the next start.
    h.stop_daemon(true);
    ns2.delete();
    h.start_daemon();
    assert!(!h.ok(&["ps", "-a"]).contains("again1"));
    assert_eq!(h.veths(), veths_before);
    let ns3 = IpNetns::new("third");
    let made = attach(
        &h,
        &[
            "--netns",
            &ns3.path(),
            "--id",
            "third1",
            "--ip",
            first_ip,
            "appnet",
        ],
    );
    assert_eq!(made["ipv4_address"], first, "address released: {made}");
    // One that lives on is still attached after a restart.
    h.stop_daemon(true);
    h.start_daemon();
    assert!(h.ok(&["ps"]).contains("third1"));
    h.ok(&["rm", "-f", "third1"]);
    assert_eq!(h.veths(), veths_before);
}

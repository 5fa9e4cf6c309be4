//! The embedded resolver, seen from inside sandboxes: scoped names, changes taking effect at
//! once, forwarding to a loopback upstream of the host, and no forwarding from internal
//! networks. Lookups go through the sandbox's own libc (`getent hosts`), as a program's would.

mod common;
use common::{eventually, Host};

/// `getent hosts NAME` inside a sandbox: the first address, or None.
fn resolve(h: &Host, from: &str, name: &str) -> Option<String> {
    let r = h.ferry(&["exec", from, "--", "getent", "hosts", name]);
    (r.code == 0).then(|| {
        r.stdout
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

fn sleeper(h: &Host, name: &str, args: &[&str]) {
    let mut a = vec!["run", "-d", "--name", name];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--", "sleep", "600"]);
    h.ok(&a);
}

#[test]
fn names_are_scoped_and_changes_are_immediate() {
    let h = Host::new();
    h.ok(&["network", "create", "appnet"]);
    h.ok(&["network", "create", "other"]);
    sleeper(
        &h,
        "web",
        &["--network", "appnet", "--network-alias", "www"],
    );
    sleeper(&h, "cli", &["--network", "appnet"]);
    sleeper(&h, "far", &["--network", "other"]);
    let web = h.ip("web", "appnet");
    let resolv = h.ok(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.contains("ndots:0"), "{resolv}");
    let short = h.inspect("web")["Id"].as_str().unwrap()[..12].to_string();
    for name in ["web", "WEB", "www", "web.appnet", short.as_str()] {
        assert_eq!(resolve(&h, "cli", name), Some(web.clone()), "{name}");
    }
    assert_eq!(resolve(&h, "cli", "far"), None, "far is on another network");
    // PTR: the address maps back to the sandbox's name on the network.
    let ptr = h.ok(&["exec", "cli", "--", "getent", "hosts", &web]);
    assert!(ptr.contains("web.appnet"), "{ptr}");

    // connect makes far resolvable at once, disconnect takes it away at once.
    h.ok(&["network", "connect", "other", "cli"]);
    assert_eq!(resolve(&h, "cli", "far"), Some(h.ip("far", "other")));
    h.ok(&["network", "disconnect", "other", "cli"]);
    assert_eq!(resolve(&h, "cli", "far"), None);

    // rm: gone at once; recreated under the same name: the new address.
    h.ok(&["rm", "-f", "web"]);
    assert_eq!(resolve(&h, "cli", "web"), None);
    sleeper(&h, "blocker", &["--network", "appnet"]);
    sleeper(&h, "web", &["--network", "appnet"]);
    let new_web = h.ip("web", "appnet");
    assert_ne!(new_web, web, "serial allocation gives a new address");
    assert_eq!(resolve(&h, "cli", "web"), Some(new_web));

    // A shared alias answers with every holder's address.
    sleeper(
        &h,
        "a1",
        &["--network", "appnet", "--network-alias", "pool"],
    );
    sleeper(
        &h,
        "a2",
        &["--network", "appnet", "--network-alias", "pool"],
    );
    let all = h.ok(&["exec", "cli", "--", "getent", "ahostsv4", "pool"]);
    for sb in ["a1", "a2"] {
        assert!(all.contains(&h.ip(sb, "appnet")), "{sb} missing: {all}");
    }

    // The default bridge has no embedded DNS, as in Docker.
    sleeper(&h, "plain", &[]);
    let resolv = h.ok(&["exec", "plain", "--", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
}

/// A fake upstream on the host's loopback (127.0.0.53, like systemd-resolved) answering every
/// A query with 192.0.2.99.
const UPSTREAM: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.53", 53))
while True:
    q, a = s.recvfrom(512)
    i = 12
    while q[i]:
        i += q[i] + 1
    end = i + 5
    r = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end]
    r += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 99])
    s.sendto(r, a)
"#;

#[test]
fn other_names_are_forwarded_from_the_host_but_not_from_internal_networks() {
    let mut h = Host::new();
    std::fs::write(h.dir.path().join("upstream.py"), UPSTREAM).unwrap();
    h.spawn(&format!(
        "python3 {}",
        h.dir.path().join("upstream.py").display()
    ));
    assert!(eventually(5, || h
        .sh("ss -lun | grep -q 127.0.0.53:53")
        .code
        == 0));
    h.stop_daemon(false);
    std::fs::write(
        h.dir.path().join("daemon.json"),
        r#"{"dns": ["127.0.0.53"]}"#,
    )
    .unwrap();
    h.start_daemon();
    h.ok(&["network", "create", "appnet"]);
    h.ok(&["network", "create", "--internal", "private"]);
    sleeper(&h, "cli", &["--network", "appnet"]);
    sleeper(&h, "inner", &["--network", "private"]);
    assert_eq!(
        resolve(&h, "cli", "example.test"),
        Some("192.0.2.99".into()),
        "forwarded to the host's loopback upstream"
    );
    let resolv = h.ok(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("ExtServers: [127.0.0.53]"), "{resolv}");
    assert_eq!(
        resolve(&h, "inner", "example.test"),
        None,
        "internal: no way out"
    );
    assert!(
        resolve(&h, "inner", "cli").is_none(),
        "cli is not on private"
    );
    // A restart brings every resolver back before the API answers.
    h.stop_daemon(false);
    h.start_daemon();
    assert_eq!(
        resolve(&h, "cli", "example.test"),
        Some("192.0.2.99".into())
    );
    sleeper(&h, "peer", &["--network", "appnet"]);
    assert_eq!(resolve(&h, "cli", "peer"), Some(h.ip("peer", "appnet")));
}

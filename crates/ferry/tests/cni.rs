//! Conformance of ferry's CNI plugin: the `ferry-cni` executable is exec'd as a runtime
//! execs it (its `CNI_*` environment, the configuration on stdin) for every cniVersion from
//! 0.3.0 to 1.1.0, against a private daemon; results, errors and exit codes are checked, and
//! so is the traffic of what ADD made.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, ns_sh, Host};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// One plugin call's outcome: its exit code and the JSON it printed (null when nothing).
struct Call {
    code: i32,
    out: Value,
    stderr: String,
}

/// Execs the plugin from the host's namespace, as a runtime does.
fn cni(h: &Host, env: &[(&str, &str)], stdin: &str) -> Call {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", h.netns.display()))
        .arg(env!("CARGO_BIN_EXE_ferry-cni"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("exec ferry-cni");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    Call {
        code: o.status.code().unwrap_or(-1),
        out: if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        },
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A call that must succeed.
fn ok(h: &Host, env: &[(&str, &str)], stdin: &str) -> Value {
    let c = cni(h, env, stdin);
    assert_eq!(c.code, 0, "{env:?} {stdin}: {} {}", c.out, c.stderr);
    c.out
}

/// A call that must fail with `code` in the spec's error object, echoing `version`.
fn fails(h: &Host, env: &[(&str, &str)], stdin: &str, code: u64, version: &str) -> Value {
    let c = cni(h, env, stdin);
    assert_ne!(c.code, 0, "{env:?} {stdin} succeeded: {}", c.out);
    assert_eq!(c.out["code"], code, "{env:?} {stdin}: {}", c.out);
    assert_eq!(c.out["cniVersion"], version, "{}", c.out);
    assert!(
        c.out["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        c.out
    );
    c.out
}

/// A container's network namespace, kept by a bind mount under the test's directory.
fn container_ns(h: &Host, name: &str) -> PathBuf {
    let p = h.dir.path().join(format!("ctr-{name}"));
    ferry_kernel::netns::create_mounted(&p).unwrap();
    p
}

fn env<'a>(cmd: &'a str, id: &'a str, netns: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CNI_COMMAND", cmd),
        ("CNI_CONTAINERID", id),
        ("CNI_NETNS", netns),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
    ]
}

/// The plugin's configuration as a runtime sends it.
fn conf(h: &Host, version: &str, extra: Value) -> String {
    let mut c = json!({
        "cniVersion": version,
        "name": "cninet",
        "type": "ferry",
        "socket": h.socket(),
        "capabilities": {"portMappings": true, "aliases": true, "ips": true, "mac": true},
    });
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c.to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_version_adds_checks_and_deletes_with_its_result_shape() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.91.0.0/24", "cninet"]);
    let veths_before = h.veths();
    for (i, v) in VERSIONS.iter().enumerate() {
        let id = format!("ctr{i}");
        let ns = container_ns(&h, &id);
        let c = conf(&h, v, json!({}));
        let r = ok(&h, &env("ADD", &id, s(&ns)), &c);
        assert_eq!(r["cniVersion"], *v, "{r}");
        assert_eq!(
            r["interfaces"][0],
            json!({"name": "eth0", "mac": r["interfaces"][0]["mac"], "sandbox": s(&ns)}),
            "{r}"
        );
        let ip = &r["ips"][0];
        assert_eq!(ip["interface"], 0, "{r}");
        assert_eq!(ip["gateway"], "10.91.0.1", "{r}");
        if v.starts_with("0.") {
            assert_eq!(ip["version"], "4", "{v}: {r}");
        } else {
            assert!(ip.get("version").is_none(), "{v}: {r}");
        }
        assert_eq!(
            r["routes"][0],
            json!({"dst": "0.0.0.0/0", "gw": "10.91.0.1"})
        );
        assert_eq!(r["dns"]["nameservers"], json!(["127.0.0.11"]), "{r}");
        let addr = ip["address"].as_str().unwrap().to_string();
        let inside = ns_sh(&ns, "ip -o addr show eth0", None).stdout;
        assert!(inside.contains(&addr), "{addr} not in {inside}");

        // CHECK with ADD's result passes; a second ADD on the same interface fails.
        let with_prev = conf(&h, v, json!({"prevResult": r}));
        assert_eq!(ok(&h, &env("CHECK", &id, s(&ns)), &with_prev), Value::Null);
        fails(&h, &env("ADD", &id, s(&ns)), &c, 100, v);
        // CHECK sees an interface gone.
        if *v == "1.0.0" {
            ns_sh(&ns, "ip link set eth0 name gone0", None);
            fails(&h, &env("CHECK", &id, s(&ns)), &with_prev, 101, v);
            ns_sh(&ns, "ip link set gone0 name eth0", None);
        }

        // DEL, then DEL again (and once more without prevResult): all succeed.
        assert_eq!(ok(&h, &env("DEL", &id, s(&ns)), &with_prev), Value::Null);
        ok(&h, &env("DEL", &id, s(&ns)), &with_prev);
        ok(&h, &env("DEL", &id, ""), &c);
        fails(&h, &env("CHECK", &id, s(&ns)), &with_prev, 3, v);
        assert!(!h.ok(&["ps", "-a"]).contains(&id));
        let bare = addr.split('/').next().unwrap();
        let rules = h.sh("nft list ruleset").stdout;
        assert!(!rules.contains(bare), "rules of {bare} left: {rules}");
    }
    assert!(eventually(10, || h.veths() == veths_before), "veths left");
}

#[test]
fn a_cni_container_is_named_published_and_reached() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.92.0.0/24", "cninet"]);
    h.echo_server("srv", &["--network", "cninet"], 7000);
    h.sleeper("cli", &["--network", "cninet"]);
    let ns = container_ns(&h, "web");
    // podman's shape: aliases by network, ports, the static IP and MAC in CNI_ARGS.
    let c = conf(
        &h,
        "1.0.0",
        json!({"runtimeConfig": {
            "aliases": {"cninet": ["web"], "othernet": ["nope"]},
            "portMappings": [{"hostPort": 18081, "containerPort": 7100, "protocol": "tcp"}],
        }}),
    );
    let mut e = env("ADD", "podmanctr", s(&ns));
    e.push((
        "CNI_ARGS",
        "IgnoreUnknown=1;K8S_POD_NAME=c1;MAC=02:42:0a:5c:00:32;IP=10.92.0.50",
    ));
    let r = ok(&h, &e, &c);
    assert_eq!(r["ips"][0]["address"], "10.92.0.50/24", "{r}");
    assert_eq!(r["interfaces"][0]["mac"], "02:42:0a:5c:00:32", "{r}");

    // The container resolves ferry's names and reaches a ferry sandbox.
    let srv = h.ip("srv", "cninet");
    let d = ns_sh(
        &ns,
        "dig +short +time=2 +tries=2 @127.0.0.11 -t A -q srv",
        None,
    );
    assert_eq!(d.stdout.trim(), srv, "{}", d.stderr);
    let t = ns_sh(
        &ns,
        &format!("socat -t5 -T5 - TCP:{srv}:7000,connect-timeout=2"),
        Some("ping\n"),
    );
    assert_eq!(t.stdout.trim(), "pong", "{}", t.stderr);

    // A ferry sandbox reaches it by its alias, its ID, and the host through its port.
    common::ns_spawn(
        &ns,
        "socat TCP4-LISTEN:7100,reuseaddr,fork SYSTEM:'read x; echo cni'",
    );
    assert!(eventually(10, || ns_sh(&ns, "ss -ltnH", None)
        .stdout
        .contains(":7100")));
    for name in ["web", "podmanctr", "10.92.0.50"] {
        let t = h.tcp("cli", name, 7100);
        assert_eq!(t.stdout.trim(), "cni", "{name}: {}", t.stderr);
    }
    assert_ne!(h.tcp("cli", "nope", 7100).stdout.trim(), "cni");
    let p = h.sh_stdin(
        "socat -t5 -T5 - TCP:127.0.0.1:18081,connect-timeout=2",
        "ping\n",
    );
    assert_eq!(p.stdout.trim(), "cni", "published port: {}", p.stderr);

    // A second CNI container on the network resolves the first by its alias.
    let ns2 = container_ns(&h, "peer");
    ok(
        &h,
        &env("ADD", "peer", s(&ns2)),
        &conf(&h, "0.4.0", json!({})),
    );
    let d = ns_sh(
        &ns2,
        "dig +short +time=2 +tries=2 @127.0.0.11 -t A -q web",
        None,
    );
    assert_eq!(d.stdout.trim(), "10.92.0.50", "{}", d.stderr);

    // DEL (as ctr sends it: no prevResult, CNI_NETNS empty) leaves no endpoint or rule.
    ok(
        &h,
        &env("DEL", "podmanctr", ""),
        &conf(&h, "1.0.0", json!({})),
    );
    assert!(!h.ok(&["ps", "-a"]).contains("podmanctr"));
    let rules = h.sh("nft list ruleset").stdout;
    assert!(!rules.contains("10.92.0.50"), "{rules}");
    assert!(!rules.contains("18081"), "{rules}");
}

#[test]
fn version_errors_status_gc_and_deletes_of_what_is_gone() {
    let mut h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.93.0.0/24", "cninet"]);

    // VERSION as podman sends it: dummy env, the version echoed.
    let v = ok(
        &h,
        &[
            ("CNI_COMMAND", "VERSION"),
            ("CNI_CONTAINERID", ""),
            ("CNI_NETNS", "dummy"),
            ("CNI_IFNAME", "dummy"),
            ("CNI_PATH", "dummy"),
        ],
        r#"{"cniVersion":"1.0.0"}"#,
    );
    assert_eq!(
        v,
        json!({"cniVersion":"1.0.0","supportedVersions":VERSIONS})
    );

    // Errors in the spec's object, with its codes.
    let ns = container_ns(&h, "e");
    let add = env("ADD", "e1", s(&ns));
    fails(&h, &add, &conf(&h, "0.2.0", json!({})), 1, "1.1.0");
    fails(&h, &add, &conf(&h, "9.0.0", json!({})), 1, "1.1.0");
    fails(&h, &add[..3], &conf(&h, "1.0.0", json!({})), 4, "1.0.0");
    fails(
        &h,
        &env("ADD", "e1", "relative"),
        &conf(&h, "1.0.0", json!({})),
        4,
        "1.0.0",
    );
    fails(&h, &add, r#"{"cniVersion":"0.4.0","name":"#, 6, "1.1.0");
    fails(
        &h,
        &add,
        &conf(&h, "0.4.0", json!({"name": ""})),
        7,
        "0.4.0",
    );
    fails(
        &h,
        &add,
        &conf(
            &h,
            "1.0.0",
            json!({"runtimeConfig": {"ips": ["10.93.0.1", "10.93.0.2"]}}),
        ),
        7,
        "1.0.0",
    );
    let mut bad_args = add.clone();
    bad_args.push(("CNI_ARGS", "FOO=bar"));
    fails(&h, &bad_args, &conf(&h, "1.0.0", json!({})), 2, "1.0.0");
    fails(
        &h,
        &add,
        &conf(&h, "1.0.0", json!({"network": "nosuch"})),
        100,
        "1.0.0",
    );

    // DEL after a failed ADD (an address outside the subnet): no prevResult, no netns.
    let bad_ip = conf(
        &h,
        "1.0.0",
        json!({"runtimeConfig": {"ips": ["10.99.0.5/24"]}}),
    );
    fails(&h, &add, &bad_ip, 100, "1.0.0");
    ok(&h, &env("DEL", "e1", ""), &conf(&h, "1.0.0", json!({})));
    assert!(!h.ok(&["ps", "-a"]).contains("e1"));

    // DEL of a container whose namespace was deleted.
    let gone = container_ns(&h, "gone");
    let r = ok(
        &h,
        &env("ADD", "gone1", s(&gone)),
        &conf(&h, "1.0.0", json!({})),
    );
    ferry_kernel::netns::remove(&gone).unwrap();
    ok(
        &h,
        &env("DEL", "gone1", s(&gone)),
        &conf(&h, "1.0.0", json!({"prevResult": r})),
    );
    assert!(!h.ok(&["ps", "-a"]).contains("gone1"));

    // GC: what the runtime lists stays, the rest goes, under either key; what others
    // attached is not the plugin's to collect.
    let keep = container_ns(&h, "keep");
    let drop1 = container_ns(&h, "drop1");
    let drop2 = container_ns(&h, "drop2");
    let c11 = conf(&h, "1.1.0", json!({}));
    for (id, ns) in [("keep", &keep), ("drop1", &drop1), ("drop2", &drop2)] {
        ok(&h, &env("ADD", id, s(ns)), &c11);
    }
    let manual = container_ns(&h, "manual");
    h.ok(&[
        "network",
        "attach",
        "--netns",
        s(&manual),
        "--id",
        "manual",
        "cninet",
    ]);
    let gc = [("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")];
    ok(
        &h,
        &gc,
        &conf(
            &h,
            "1.1.0",
            json!({"cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}, {"containerID": "drop2", "ifname": "eth0"}]}),
        ),
    );
    let ps = h.ok(&["ps", "-a"]);
    assert!(
        ps.contains("keep") && ps.contains("drop2") && ps.contains("manual"),
        "{ps}"
    );
    assert!(!ps.contains("drop1"), "{ps}");
    ok(
        &h,
        &gc,
        &conf(
            &h,
            "1.1.0",
            json!({"cni.dev/attachments": [{"containerID": "keep", "ifname": "eth0"}]}),
        ),
    );
    let ps = h.ok(&["ps", "-a"]);
    assert!(ps.contains("keep") && ps.contains("manual"), "{ps}");
    assert!(!ps.contains("drop2"), "{ps}");
    // A GC without the list is refused, not taken as an empty one.
    fails(&h, &gc, &c11, 7, "1.1.0");
    assert!(h.ok(&["ps", "-a"]).contains("keep"));

    // STATUS: ready while the daemon answers, 50 when it does not; ADD then says try again.
    let status = [("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/opt/cni/bin")];
    assert_eq!(ok(&h, &status, &c11), Value::Null);
    fails(
        &h,
        &status,
        &conf(&h, "1.1.0", json!({"network": "nosuch"})),
        50,
        "1.1.0",
    );
    h.stop_daemon(false);
    fails(&h, &status, &c11, 50, "1.1.0");
    let late = container_ns(&h, "late");
    fails(&h, &env("ADD", "late", s(&late)), &c11, 11, "1.1.0");
    h.start_daemon();
    assert_eq!(ok(&h, &status, &c11), Value::Null);
}

#[test]
fn a_container_on_two_networks_publishes_its_ports_once() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.96.0.0/24", "cninet"]);
    h.ok(&["network", "create", "--subnet", "10.97.0.0/24", "second"]);
    let ns = container_ns(&h, "two");
    // podman hands the same ports to the plugin of each network.
    let ports = json!({"runtimeConfig": {"portMappings": [{"hostPort": 18082, "containerPort": 80, "protocol": "tcp"}]}});
    let first = ok(
        &h,
        &env("ADD", "two", s(&ns)),
        &conf(&h, "1.0.0", ports.clone()),
    );
    let mut second_conf: Value = serde_json::from_str(&conf(&h, "1.0.0", ports)).unwrap();
    second_conf["name"] = "second".into();
    let mut e = env("ADD", "two", s(&ns));
    e[3] = ("CNI_IFNAME", "eth1");
    let second = ok(&h, &e, &second_conf.to_string());
    assert_eq!(second["interfaces"][0]["name"], "eth1", "{second}");
    assert!(second["ips"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("10.97.0."));
    assert!(first["ips"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("10.96.0."));
    assert!(h.ok(&["ps"]).contains("0.0.0.0:18082->80/tcp"));
    // Each network's DEL takes its own endpoint; the record goes with the last.
    let mut d = env("DEL", "two", s(&ns));
    d[3] = ("CNI_IFNAME", "eth1");
    ok(&h, &d, &second_conf.to_string());
    assert!(h.ok(&["ps"]).contains("0.0.0.0:18082->80/tcp"));
    // The pair is down at once and deleted in the background.
    assert!(
        eventually(10, || ns_sh(&ns, "ip link show eth1", None).code != 0),
        "eth1 removed"
    );
    ok(
        &h,
        &env("DEL", "two", s(&ns)),
        &conf(&h, "1.0.0", json!({})),
    );
    assert!(!h.ok(&["ps", "-a"]).contains("two"));
}

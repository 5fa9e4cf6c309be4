//! `ferry compose` end to end, on the three example projects of `examples/`: two networks
//! joined by a broker, the vault pair finding each other by name, and two replicas behind a
//! published port. Each is brought up, checked with real traffic, changed, and taken down.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host, HOST_LINK_ADDR};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .join("compose.yaml")
}

/// A copy of an example in the test's directory, with `edit` applied to the file, so the
/// test can change it as a user would.
fn edited(h: &Host, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = h.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    let text = std::fs::read_to_string(example(name)).unwrap();
    let changed = edit(text.clone());
    assert_ne!(text, changed, "the edit changed nothing");
    std::fs::write(&file, changed).unwrap();
    file
}

fn compose(h: &Host, file: &Path, args: &[&str]) -> common::Run {
    let f = file.to_str().unwrap();
    let mut a = vec!["compose", "-f", f];
    a.extend_from_slice(args);
    h.ferry(&a)
}

fn compose_ok(h: &Host, file: &Path, args: &[&str]) -> String {
    let r = compose(h, file, args);
    assert_eq!(
        r.code, 0,
        "compose {args:?} failed: {}{}",
        r.stdout, r.stderr
    );
    r.stdout + &r.stderr
}

/// Sandbox names and IDs, of all sandboxes.
fn sandboxes(h: &Host) -> BTreeSet<(String, String)> {
    h.ok(&["ps", "-a", "--no-trunc", "--format", "json"])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["Names"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches('/')
                    .to_string(),
                v["Id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn id_of(h: &Host, name: &str) -> String {
    h.inspect(name)["Id"].as_str().unwrap().to_string()
}

fn network_names(h: &Host) -> BTreeSet<String> {
    h.ok(&["network", "ls", "--format", "json"])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["Name"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Waits until the project's logs of `service` contain `text`.
fn logs_show(h: &Host, file: &Path, service: &str, text: &str) -> bool {
    eventually(20, || {
        compose(h, file, &["logs", service]).stdout.contains(text)
    })
}

#[test]
fn two_networks_joined_by_a_broker() {
    let h = Host::new();
    let file = example("two-networks");
    let out = compose_ok(&h, &file, &["up", "-d"]);
    assert!(out.contains("Network two-networks_front  Created"), "{out}");

    // The client, on front only, reaches the backend through the broker.
    assert!(
        logs_show(&h, &file, "client", "hello from the backend"),
        "{}",
        compose(&h, &file, &["logs"]).stdout
    );
    // ...and cannot reach the backend itself: no name, and no route to its address.
    let backend = h.ip("two-networks-backend-1", "two-networks_back");
    assert!(backend.starts_with("10.77.2."), "{backend}");
    let r = h.ferry(&[
        "exec",
        "two-networks-client-1",
        "--",
        "getent",
        "hosts",
        "backend",
    ]);
    assert_ne!(
        r.code, 0,
        "the backend's name resolves on front: {}",
        r.stdout
    );
    let r = h.tcp("two-networks-client-1", &backend, 9000);
    assert!(!r.stdout.contains("hello"), "front reached back directly");
    // The broker has an address on each network; back is internal.
    let broker = h.inspect("two-networks-broker-1");
    let nets = broker["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(nets.len(), 2);
    let back: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "two-networks_back"])).unwrap();
    assert_eq!(back[0]["Internal"], true);
    assert_eq!(
        back[0]["Labels"]["com.docker.compose.project"],
        "two-networks"
    );
    assert_eq!(back[0]["Labels"]["com.docker.compose.network"], "back");

    // ps lists the project's three sandboxes and their services.
    let ps = compose_ok(&h, &file, &["ps"]);
    for s in ["backend", "broker", "client"] {
        assert!(ps.contains(&format!("two-networks-{s}-1")), "{ps}");
    }

    // Objects of others survive `down`; a second `up` changes nothing.
    h.sleeper("bystander", &[]);
    h.ok(&["network", "create", "mine"]);
    let before = sandboxes(&h);
    let out = compose_ok(&h, &file, &["up", "-d"]);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(sandboxes(&h), before);

    // Without the file, the project name is enough: its objects are found by label.
    h.ok(&["compose", "-p", "two-networks", "down"]);
    let left: Vec<String> = sandboxes(&h).into_iter().map(|(n, _)| n).collect();
    assert_eq!(left, ["bystander"]);
    let nets = network_names(&h);
    assert!(nets.contains("mine") && !nets.iter().any(|n| n.starts_with("two-networks")));
    let links = h.links().join(" ");
    assert_eq!(h.veths(), 1, "only the bystander's veth is left: {links}");
}

#[test]
fn vault_pair_finds_its_peer_by_name_and_a_changed_service_alone_is_recreated() {
    let h = Host::new();
    let file = example("vault");
    compose_ok(&h, &file, &["up", "-d"]);
    assert!(
        logs_show(&h, &file, "security-processor", "HTTP/1.0 200 OK"),
        "{}",
        compose(&h, &file, &["logs"]).stdout
    );
    // The static address and the alias.
    assert_eq!(h.ip("vault-vault-ms-1", "vault_vault-net"), "172.30.50.10");
    let r = h.ferry(&[
        "exec",
        "vault-security-processor-1",
        "--",
        "getent",
        "hosts",
        "vault",
    ]);
    assert!(r.stdout.starts_with("172.30.50.10"), "{}", r.stdout);

    // The seeds' compose walk: change the processor; `up` recreates it alone. It keeps its
    // name, gets a new address, and still finds the vault by name.
    let vault_id = id_of(&h, "vault-vault-ms-1");
    let old_addr = h.ip("vault-security-processor-1", "vault_vault-net");
    let old_id = id_of(&h, "vault-security-processor-1");
    let changed = edited(&h, "vault", |t| t.replace("while sleep 3", "while sleep 1"));
    let out = compose_ok(&h, &changed, &["up", "-d"]);
    assert!(
        out.contains("Sandbox vault-security-processor-1  Removed"),
        "{out}"
    );
    assert!(!out.contains("vault-vault-ms-1"), "{out}");
    assert_eq!(id_of(&h, "vault-vault-ms-1"), vault_id);
    assert_ne!(id_of(&h, "vault-security-processor-1"), old_id);
    let new_addr = h.ip("vault-security-processor-1", "vault_vault-net");
    assert!(new_addr.starts_with("172.30.50."), "{new_addr}");
    assert_ne!(new_addr, old_addr);
    assert!(logs_show(
        &h,
        &changed,
        "security-processor",
        "HTTP/1.0 200 OK"
    ));

    // config prints the resolved file, interpolated.
    let cfg = compose_ok(&h, &changed, &["config"]);
    assert!(
        cfg.contains("VAULT_PORT: '8200'") || cfg.contains("VAULT_PORT: \"8200\""),
        "{cfg}"
    );

    compose_ok(&h, &changed, &["down"]);
    assert!(sandboxes(&h).is_empty());
    assert!(!network_names(&h).contains("vault_vault-net"));
}

/// Connects `n` times to `addr:8080` from `sh` and returns the distinct answers.
fn answers(run: impl Fn(&str) -> common::Run, addr: &str, n: usize) -> BTreeSet<String> {
    let r = run(&format!(
        "for i in $(seq {n}); do curl -s -m 5 http://{addr}:8080/; done"
    ));
    r.stdout.lines().map(str::to_string).collect()
}

#[test]
fn two_replicas_behind_one_published_port() {
    let h = Host::new();
    let file = example("web-replicas");
    let out = compose_ok(&h, &file, &["up", "-d"]);
    assert!(out.contains("Service web-replicas-web  Created"), "{out}");
    let svc: serde_json::Value =
        serde_json::from_str(&h.ok(&["service", "inspect", "web-replicas-web"])).unwrap();
    assert_eq!(
        svc[0]["Spec"]["Labels"]["com.docker.compose.service"],
        "web"
    );
    assert!(eventually(20, || {
        let ps = compose(&h, &file, &["ps"]).stdout;
        ps.contains("web-replicas-web-1") && ps.contains("web-replicas-web-2")
    }));

    // Both replicas answer on host port 8080, from the host and from another host.
    let on_host = |n| answers(|c| h.sh(c), "127.0.0.1", n);
    assert!(
        eventually(20, || on_host(30).len() == 2),
        "{:?}",
        on_host(30)
    );
    let outside = h.outside();
    let from_outside = answers(|c| outside.sh(c), HOST_LINK_ADDR, 30);
    assert_eq!(from_outside.len(), 2, "{from_outside:?}");
    assert!(from_outside.iter().all(|a| a.starts_with("hello from ")));
    // The client reaches the service by its compose name.
    assert!(logs_show(&h, &file, "client", "hello from "));

    // Scaling in the file adds a replica and leaves the others running.
    let ids = (
        id_of(&h, "web-replicas-web-1"),
        id_of(&h, "web-replicas-web-2"),
    );
    let scaled = edited(&h, "web-replicas", |t| {
        t.replace("replicas: 2", "replicas: 3")
    });
    let out = compose_ok(&h, &scaled, &["up", "-d"]);
    assert!(out.contains("Service web-replicas-web  Scaled"), "{out}");
    assert!(!out.contains("Removed"), "{out}");
    assert_eq!(
        (
            id_of(&h, "web-replicas-web-1"),
            id_of(&h, "web-replicas-web-2")
        ),
        ids
    );
    assert!(
        eventually(20, || on_host(60).len() == 3),
        "{:?}",
        on_host(60)
    );

    // down frees the port and leaves nothing behind.
    compose_ok(&h, &scaled, &["down"]);
    let r = h.ferry(&["service", "ls", "-q"]);
    assert!(r.stdout.trim().is_empty(), "{}", r.stdout);
    assert!(sandboxes(&h).is_empty());
    h.sleeper("after", &["-p", "8080:80"]);
}

#[test]
fn bad_files_and_taken_names_are_refused_and_leave_nothing() {
    let h = Host::new();
    let dir = h.dir.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");

    std::fs::write(&file, "services:\n  web:\n    image: nginx\n").unwrap();
    let e = compose(&h, &file, &["up", "-d"]).stderr;
    assert!(e.contains("image") && e.contains("command"), "{e}");

    // The project name defaults to the directory's name; a network of that name that the
    // project did not make is not taken over.
    std::fs::write(&file, "services:\n  a:\n    command: sleep 600\n").unwrap();
    h.ok(&["network", "create", "proj_default"]);
    let e = compose(&h, &file, &["up", "-d"]).stderr;
    assert!(
        e.contains("network proj_default already exists and was not created by project proj"),
        "{e}"
    );
    assert!(sandboxes(&h).is_empty());
    h.ok(&["network", "rm", "proj_default"]);

    // Nor a sandbox of that name.
    h.sleeper("proj-a-1", &[]);
    let e = compose(&h, &file, &["up", "-d"]).stderr;
    assert!(e.contains("proj-a-1 is already used"), "{e}");
    assert!(!network_names(&h).contains("proj_default"));
    h.ok(&["rm", "-f", "proj-a-1"]);

    // A port taken by someone else: the failing sandbox is not left half-made, and down
    // cleans what was made.
    h.sleeper("holder", &["-p", "8081:80"]);
    std::fs::write(
        &file,
        "services:\n  a:\n    command: sleep 600\n    ports: ['8081:80']\n",
    )
    .unwrap();
    let r = compose(&h, &file, &["up", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("8081"), "{}", r.stderr);
    let names: Vec<String> = sandboxes(&h).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["holder"]);
    compose_ok(&h, &file, &["down"]);
    assert!(!network_names(&h).contains("proj_default"));

    // Unknown services in logs.
    let e = compose(&h, &file, &["logs", "nope"]).stderr;
    assert!(e.contains("no such service: nope"), "{e}");
}

#[test]
fn replicas_with_their_own_ports_and_dns_round_robin() {
    let h = Host::new();
    let dir = h.dir.path().join("rr");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::write(
        &file,
        r#"
services:
  w:
    command: [socat, "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo $$HOSTNAME"]
    ports: ["8090-8091:80"]
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  c:
    command: sleep 600
"#,
    )
    .unwrap();
    compose_ok(&h, &file, &["up", "-d"]);
    // No VIP: the name answers both replicas.
    let svc: serde_json::Value =
        serde_json::from_str(&h.ok(&["service", "inspect", "rr-w"])).unwrap();
    assert_eq!(svc[0]["Endpoint"]["VirtualIPs"], serde_json::json!([]));
    assert!(eventually(20, || {
        let r = h.ferry(&["exec", "rr-c-1", "--", "getent", "ahostsv4", "w"]);
        let addrs: BTreeSet<&str> = r
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        addrs.len() == 2
    }));
    // Each replica publishes one port of the range itself.
    let hostname = |port: u16| {
        h.sh(&format!(
            "socat -T2 - TCP:127.0.0.1:{port},connect-timeout=2 </dev/null"
        ))
        .stdout
        .trim()
        .to_string()
    };
    assert!(eventually(20, || {
        let (a, b) = (hostname(8090), hostname(8091));
        !a.is_empty() && !b.is_empty() && a != b
    }));
    // A third replica would have no port of the range left: refused, and nothing changes.
    let three = dir.join("three.yaml");
    std::fs::write(
        &three,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("replicas: 2", "replicas: 3"),
    )
    .unwrap();
    let r = compose(&h, &three, &["-p", "rr", "up", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("8090-8091"), "{}", r.stderr);
    compose_ok(&h, &file, &["down"]);
    assert!(sandboxes(&h).is_empty());
}

#[test]
fn network_modes_and_dependency_conditions() {
    let h = Host::new();
    let dir = h.dir.path().join("modes");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    let text = r#"
services:
  init:
    command: sh -c "exit $${INIT_STATUS:-0}"
    environment: [INIT_STATUS]
  srv:
    command: ["socat", "TCP-LISTEN:7000,fork,reuseaddr", "SYSTEM:echo shared"]
    depends_on:
      init: {condition: service_completed_successfully}
  side:
    command: sleep 600
    network_mode: service:srv
  lonely:
    command: sleep 600
    network_mode: none
"#;
    std::fs::write(&file, text).unwrap();
    compose_ok(&h, &file, &["up", "-d"]);
    // side shares srv's namespace: srv's port is on side's loopback.
    assert!(eventually(10, || {
        h.ferry(&[
            "exec",
            "modes-side-1",
            "--",
            "sh",
            "-c",
            "socat -T2 - TCP:127.0.0.1:7000 </dev/null",
        ])
        .stdout
        .contains("shared")
    }));
    let links = h.ok(&["exec", "modes-lonely-1", "--", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "none has loopback only: {links}");
    compose_ok(&h, &file, &["down"]);

    // A dependency that fails stops `up` before its dependents start, with its status.
    let mut cmd = std::process::Command::new(common::ferry_bin());
    let out = cmd
        .args(["compose", "-f", file.to_str().unwrap(), "up", "-d"])
        .env("FERRY_HOST", format!("unix://{}", h.socket().display()))
        .env("INIT_STATUS", "3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "srv depends on init completing successfully, but modes-init-1 exited with status 3"
        ),
        "{err}"
    );
    let names: Vec<String> = sandboxes(&h).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["modes-init-1", "modes-lonely-1"]);
    compose_ok(&h, &file, &["down"]);
}

#[test]
fn confinement_keys_reach_sandboxes_and_replicas() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::new();
    // The sandbox's user (1000) must reach the directories below the test's own.
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let dir = h.dir.path().join("conf");
    let (data, mnt, open) = (dir.join("data"), dir.join("mnt"), dir.join("open"));
    for d in [&dir, &data, &mnt, &open] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::os::unix::fs::chown(&data, Some(1000), Some(1000)).unwrap();
    // Writable by anyone on the host: only the read-only root can stop a write there.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.join("compose.yaml");
    let text = format!(
        r#"
services:
  app:
    command: sleep 600
    user: "1000"
    read_only: true
    volumes: ["./data:{mnt}"]
  admin:
    command: sleep 600
    cap_add: [NET_ADMIN]
    deploy: {{replicas: 2}}
"#,
        mnt = mnt.display()
    );
    std::fs::write(&file, &text).unwrap();
    compose_ok(&h, &file, &["up", "-d"]);
    let exec = |cmd: &str| h.ferry(&["exec", "conf-app-1", "--", "sh", "-c", cmd]);

    // The program and what runs beside it are user 1000.
    let r = exec("id -u");
    assert_eq!((r.code, r.stdout.trim()), (0, "1000"), "{}", r.stderr);
    assert_eq!(h.inspect("conf-app-1")["Config"]["User"], "1000");
    // The bind is writable, and the write lands in the project's ./data.
    let r = exec(&format!("echo written > {}/f", mnt.display()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(data.join("f")).unwrap(),
        "written\n"
    );
    assert!(
        !mnt.join("f").exists(),
        "the host's own directory is untouched"
    );
    // The rest of the root is read-only, even where permissions would allow the write.
    let r = exec(&format!("echo x > {}/g", open.display()));
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    assert!(!open.join("g").exists());
    let host_config = &h.inspect("conf-app-1")["HostConfig"];
    assert_eq!(host_config["ReadonlyRootfs"], true);
    assert_eq!(
        host_config["Binds"],
        serde_json::json!([format!("{}:{}", data.display(), mnt.display())])
    );

    // The replicated service's template carries cap_add to every replica. (Whether the
    // capability is in effect is the daemon's part, not compose's.)
    for replica in ["conf-admin-1", "conf-admin-2"] {
        assert!(eventually(20, || h.ferry(&["inspect", replica]).code == 0));
        assert_eq!(
            h.inspect(replica)["HostConfig"]["CapAdd"],
            serde_json::json!(["NET_ADMIN"]),
            "{replica}"
        );
    }

    // A changed key recreates that service alone.
    let app_id = id_of(&h, "conf-app-1");
    std::fs::write(&file, text.replace("[NET_ADMIN]", "[NET_ADMIN, NET_RAW]")).unwrap();
    let out = compose_ok(&h, &file, &["up", "-d"]);
    assert!(out.contains("Service conf-admin  Removed"), "{out}");
    assert!(!out.contains("conf-app-1"), "{out}");
    assert_eq!(id_of(&h, "conf-app-1"), app_id);
    assert!(eventually(20, || {
        h.ferry(&["inspect", "conf-admin-2"]).code == 0
            && h.inspect("conf-admin-2")["HostConfig"]["CapAdd"]
                == serde_json::json!(["NET_ADMIN", "NET_RAW"])
    }));

    compose_ok(&h, &file, &["down"]);
    assert!(sandboxes(&h).is_empty());
}

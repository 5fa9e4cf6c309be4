//! `ferry stack` across three real daemons on an underlay: the seeds' walkthrough of a web
//! service on one node reading from a database service on another by service name, deployed
//! from a compose file; placement from `deploy.placement` and `deploy.mode: global`; `stack
//! ls|services|ps`; a second deploy that changes one service's replicas and leaves the
//! others' tasks alone; a change that makes a service again; `--prune`; `stack rm` leaving
//! nothing on any node; and the files and nodes a stack refuses.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{api, eventually, Host, Underlay};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lease TTL of the test swarm, in seconds (etcd's shortest).
const TTL: u64 = 2;

/// The walkthrough: `db` answers every TCP connection with a row; `web` answers each of its
/// own by asking `db`, by name, and passing the row on. db runs on the manager, web on the
/// workers.
const STACK: &str = r#"
services:
  db:
    command: ["socat", "TCP-LISTEN:5432,fork,reuseaddr", "SYSTEM:echo row-42"]
    deploy:
      placement:
        constraints: [node.role == manager]
  web:
    command: ["socat", "TCP-LISTEN:80,fork,reuseaddr", 'SYSTEM:socat -t5 - TCP\:db\:5432']
    build: .
    environment:
      TIER: front
    deploy:
      replicas: 2
      placement:
        constraints: [node.role == worker]
      update_config:
        parallelism: 2
  agent:
    command: ["sleep", "infinity"]
    deploy:
      mode: global
networks:
  default:
    attachable: true
"#;

/// A compose file in the host's directory.
fn file(h: &Host, name: &str, text: &str) -> PathBuf {
    let p = h.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `stack deploy -c FILE STACK`: (exit code, stdout + stderr).
fn deploy(h: &Host, f: &Path, extra: &[&str], stack: &str) -> (i32, String) {
    let mut args = vec!["stack", "deploy", "-c", f.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(stack);
    let r = h.ferry(&args);
    (r.code, r.stdout + &r.stderr)
}

/// The running tasks of a service: (task ID, node ID).
fn running(h: &Host, service: &str) -> BTreeSet<(String, String)> {
    let (code, v) = api(h, "GET", &format!("/services/{service}/tasks"), None);
    if code != 200 {
        return BTreeSet::new();
    }
    v.as_array()
        .unwrap()
        .iter()
        .filter(|t| t["DesiredState"] == "Running" && t["State"] == "running")
        .map(|t| {
            (
                t["ID"].as_str().unwrap().to_string(),
                t["NodeID"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn nodes(tasks: &BTreeSet<(String, String)>) -> BTreeSet<String> {
    tasks.iter().map(|(_, n)| n.clone()).collect()
}

/// Whether a host has any object of the stack: a service, a network or a replica.
fn leftovers(h: &Host, stack: &str) -> Vec<String> {
    let prefix = format!("{stack}_");
    let mut out = Vec::new();
    for (what, list) in [
        ("service", h.ok(&["service", "ls"])),
        ("network", h.ok(&["network", "ls"])),
        ("sandbox", h.ok(&["ps", "-a"])),
    ] {
        for l in list.lines().skip(1) {
            if l.split_whitespace().any(|w| w.starts_with(&prefix)) {
                out.push(format!("{what}: {l}"));
            }
        }
    }
    out
}

/// What the client on `h` sees of web, for a failed check.
fn diagnose(h: &Host) -> String {
    let mut out = String::new();
    for name in ["web", "tasks.web", "db", "tasks.agent"] {
        let r = h.ferry(&["exec", "client", "--", "getent", "ahostsv4", name]);
        let addrs: BTreeSet<&str> = r
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        out += &format!("{name} -> {addrs:?}\n");
        if name == "tasks.web" || name == "web" {
            for addr in addrs {
                let t = h.tcp("client", addr, 80);
                out += &format!("  {addr}:80 -> {:?} {:?}\n", t.stdout, t.stderr);
            }
        }
    }
    out + &h.ok(&["service", "ls"])
}

#[test]
fn a_stack_runs_the_walkthrough_across_nodes_updates_what_changed_and_goes_away_whole() {
    let u = Underlay::new(3);
    u.swarm(TTL, false);
    let (a, b, c) = (&u.hosts[0], &u.hosts[1], &u.hosts[2]);
    let (ida, idb, idc) = (a.node_id(), b.node_id(), c.node_id());
    let stack = file(a, "stack.yaml", STACK);

    // Bad input first: refused before anything is made.
    let on_worker = file(b, "stack.yaml", STACK);
    let (code, out) = deploy(b, &on_worker, &[], "app");
    assert_ne!(code, 0);
    assert!(out.contains("this node is not a swarm manager"), "{out}");
    let (code, out) = deploy(
        a,
        &file(
            a,
            "typo.yaml",
            &STACK.replace("    build: .", "    biuld: ."),
        ),
        &[],
        "app",
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("unknown key \"biuld\"") && out.contains("did you mean \"build\""),
        "{out}"
    );
    let (code, out) = deploy(
        a,
        &file(
            a,
            "bridge.yaml",
            &STACK.replace("    attachable: true", "    driver: bridge"),
        ),
        &[],
        "app",
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("the network app_default cannot be used with services: only networks scoped to the swarm can be used"),
        "{out}"
    );
    let (code, out) = deploy(
        a,
        &file(
            a,
            "external.yaml",
            &STACK.replace(
                "    attachable: true",
                "    external: true\n    name: nosuch",
            ),
        ),
        &[],
        "app",
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("network \"nosuch\" is declared as external, but could not be found"),
        "{out}"
    );
    for h in [a, b, c] {
        assert!(leftovers(h, "app").is_empty(), "{:?}", leftovers(h, "app"));
    }

    // Deploy: networks and services made, the unsupported key named as Docker names it.
    let (code, out) = deploy(a, &stack, &[], "app");
    assert_eq!(code, 0, "{out}");
    for line in [
        "Ignoring unsupported options: build",
        "Creating network app_default",
        "Creating service app_db",
        "Creating service app_web",
        "Creating service app_agent",
    ] {
        assert!(out.contains(line), "{line:?} missing: {out}");
    }
    // Placement: db on the manager, web's two replicas one on each worker.
    assert!(
        eventually(30, || nodes(&running(a, "app_db"))
            == BTreeSet::from([ida.clone()])),
        "db: {:?}",
        running(a, "app_db")
    );
    assert!(
        eventually(30, || nodes(&running(a, "app_web"))
            == BTreeSet::from([idb.clone(), idc.clone()])),
        "web: {:?}",
        running(a, "app_web")
    );
    // The global service: one replica on every node.
    assert!(
        eventually(30, || nodes(&running(a, "app_agent"))
            == BTreeSet::from([ida.clone(), idb.clone(), idc.clone()])),
        "agent: {:?}",
        running(a, "app_agent")
    );
    let v: serde_json::Value =
        serde_json::from_str(&a.ok(&["service", "inspect", "app_web"])).unwrap();
    assert_eq!(
        v[0]["Spec"]["Labels"]["com.docker.stack.namespace"], "app",
        "{v}"
    );
    assert_eq!(
        v[0]["Spec"]["TaskTemplate"]["Placement"]["Constraints"],
        serde_json::json!(["node.role==worker"])
    );
    assert_eq!(v[0]["Spec"]["UpdateConfig"]["Parallelism"], 2);

    // The walkthrough's traffic: a client on the manager asks web (on a worker), which asks
    // db (back on the manager) by name.
    a.sleeper("client", &["--network", "app_default"]);
    assert!(
        eventually(20, || a.tcp("client", "web", 80).stdout.contains("row-42")),
        "{}",
        diagnose(a)
    );

    // The views, from a worker too.
    let ls = b.ok(&["stack", "ls"]);
    assert!(
        ls.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            == ["NAME", "SERVICES"]
            && ls
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["app", "3"]),
        "{ls}"
    );
    assert!(
        eventually(10, || {
            let s = a.ok(&["stack", "services", "app"]);
            s.lines().any(|l| l.contains("app_db") && l.contains("1/1"))
                && s.lines()
                    .any(|l| l.contains("app_web") && l.contains("2/2"))
        }),
        "{}",
        a.ok(&["stack", "services", "app"])
    );
    assert_eq!(a.ok(&["stack", "services", "-q", "app"]).lines().count(), 3);
    let ps = c.ok(&["stack", "ps", "app"]);
    assert!(ps.lines().next().unwrap().contains("NODE"), "{ps}");
    for name in ["app_db.1", "app_web.1", "app_web.2", "app_agent."] {
        assert!(
            ps.lines()
                .any(|l| l.contains(name) && l.contains("running")),
            "{name}: {ps}"
        );
    }
    let r = a.ferry(&["stack", "ps", "nosuch"]);
    assert!(
        r.stderr.contains("Nothing found in stack: nosuch"),
        "{}",
        r.stderr
    );

    // A second deploy of the same file changes nothing.
    let db_tasks = running(a, "app_db");
    let agent_tasks = running(a, "app_agent");
    let (code, out) = deploy(a, &stack, &[], "app");
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("Updating") && !out.contains("Creating"),
        "{out}"
    );

    // Only web's replicas change: web is updated, the others are not and keep their tasks.
    let more = file(
        a,
        "more.yaml",
        "services:\n  web:\n    deploy:\n      replicas: 3\n",
    );
    let r = a.ferry(&[
        "stack",
        "deploy",
        "-c",
        stack.to_str().unwrap(),
        "-c",
        more.to_str().unwrap(),
        "app",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Updating service app_web"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("app_db") && !r.stdout.contains("app_agent"),
        "{}",
        r.stdout
    );
    assert!(
        eventually(30, || running(a, "app_web").len() == 3),
        "{:?}",
        running(a, "app_web")
    );
    assert_eq!(running(a, "app_agent"), agent_tasks);
    assert_eq!(running(a, "app_db"), db_tasks, "db's tasks were replaced");
    assert!(nodes(&running(a, "app_web")).is_subset(&BTreeSet::from([idb.clone(), idc.clone()])));
    // The new replicas' records reach node A's balancer a moment after their nodes report
    // them running.
    assert!(eventually(10, || a
        .tcp("client", "web", 80)
        .stdout
        .contains("row-42")));

    // A change an update cannot make (web's labels) makes the service again, under the
    // same name, answering as before.
    let (code, out) = deploy(
        a,
        &file(
            a,
            "relabelled.yaml",
            &STACK.replace(
                "      TIER: front",
                "      TIER: front\n    labels: [team=web]",
            ),
        ),
        &[],
        "app",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Recreating service app_web") && out.contains("labels"),
        "{out}"
    );
    assert!(
        !out.contains("app_db") && !out.contains("app_agent"),
        "{out}"
    );
    assert!(
        eventually(30, || running(a, "app_web").len() == 2
            && a.tcp("client", "web", 80).stdout.contains("row-42")),
        "{}",
        diagnose(a)
    );
    let v: serde_json::Value =
        serde_json::from_str(&a.ok(&["service", "inspect", "app_web"])).unwrap();
    assert_eq!(v[0]["Spec"]["Labels"]["team"], "web", "{v}");

    // A service gone from the file stays without --prune, and goes with it.
    let web_only = file(
        a,
        "web-only.yaml",
        &STACK.replace(
            "  db:\n    command: [\"socat\", \"TCP-LISTEN:5432,fork,reuseaddr\", \"SYSTEM:echo row-42\"]\n    deploy:\n      placement:\n        constraints: [node.role == manager]\n",
            "",
        ),
    );
    let (code, out) = deploy(a, &web_only, &[], "app");
    assert_eq!(code, 0, "{out}");
    assert!(!running(a, "app_db").is_empty());
    let (code, out) = deploy(a, &web_only, &["--prune"], "app");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Removing service app_db"), "{out}");
    assert!(eventually(20, || running(a, "app_db").is_empty()));

    // stack rm: nothing of the stack on any node, and a worker may not.
    a.ok(&["rm", "-f", "client"]);
    let (code, out) = {
        let r = b.ferry(&["stack", "rm", "app"]);
        (r.code, r.stdout + &r.stderr)
    };
    assert_ne!(code, 0);
    assert!(out.contains("not a swarm manager"), "{out}");
    let out = a.ok(&["stack", "rm", "app"]);
    assert!(
        out.contains("Removing service app_web") && out.contains("Removing network app_default"),
        "{out}"
    );
    for (i, h) in [a, b, c].into_iter().enumerate() {
        assert!(
            eventually(30, || leftovers(h, "app").is_empty()),
            "host {i}: {:?}\n{out}\n{}\n{}",
            leftovers(h, "app"),
            h.ferry(&["network", "inspect", "app_default"]).stdout,
            h.daemon_log()
                .lines()
                .filter(|l| l.contains("app_default") || l.contains("WARN"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(a.ok(&["stack", "ls"]).lines().count() <= 1);
    let r = a.ferry(&["stack", "rm", "app"]);
    assert!(
        r.stderr.contains("Nothing found in stack: app"),
        "{}",
        r.stderr
    );
}

//! `service logs` on a swarm: from any node (a worker here) it shows the output of the
//! service's replicas on every node, each line prefixed as Docker does
//! (`NAME.SLOT.TASKID@NODE    | line`); `-f` follows every node, replicas that start later
//! included; a node that cannot be reached is reported and the others still print; and the
//! node endpoint that serves each node's replicas answers only clients with a certificate of
//! the swarm's CA.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{api, eventually, ferry_bin, Host, Underlay};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Lease TTL of the test swarm, in seconds (etcd's shortest).
const TTL: u64 = 2;

/// The node endpoint's port (the default).
const NODE_PORT: u16 = 7946;

/// A replica: says it started, with its host name, then ticks every 300 ms with the time it
/// printed the tick (ns since the epoch; the hosts share one clock).
const PROGRAM: &str = r#"echo "start $HOSTNAME"; i=0; while sleep 0.3; do i=$((i+1)); echo "tick $i $HOSTNAME $(date +%s%N)"; done"#;

/// The running tasks of a service: (ID, slot, node host name).
fn running_tasks(h: &Host, service: &str) -> Vec<(String, u64, String)> {
    let (code, v) = api(h, "GET", &format!("/services/{service}/tasks"), None);
    assert_eq!(code, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .filter(|t| t["DesiredState"] == "Running" && t["State"] == "running")
        .map(|t| {
            (
                t["ID"].as_str().unwrap().to_string(),
                t["Slot"].as_u64().unwrap(),
                t["Node"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The names of the running replica sandboxes of a service on `h`.
fn replica_names(h: &Host, service: &str) -> Vec<String> {
    h.ok(&["ps", "--format", "json"])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["Names"][0]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .filter(|n| n.starts_with(&format!("{service}.")))
        .collect()
}

/// The prefix `service logs` gives each replica on `h` → the host name that replica prints,
/// from the replica sandboxes `h` runs (named `NAME.SLOT.TASKID`).
fn local_replicas(h: &Host, service: &str, node: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in replica_names(h, service) {
        let name = name.as_str();
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "a replica named {name}");
        let hostname = h.ok(&["exec", name, "--", "hostname"]);
        let prefix = format!("{service}.{}.{}@{node}    | ", parts[1], &parts[2][..12]);
        out.insert(prefix, hostname);
    }
    out
}

fn logs(h: &Host, args: &[&str]) -> Vec<String> {
    let mut all = vec!["service", "logs"];
    all.extend_from_slice(args);
    h.ok(&all).lines().map(String::from).collect()
}

/// The highest tick each host name printed in `lines`.
fn last_ticks(lines: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in lines {
        let Some((_, text)) = l.split_once("    | ") else {
            continue;
        };
        let w: Vec<&str> = text.split_whitespace().collect();
        if let ["tick", n, host, _] = w.as_slice() {
            let n: u64 = n.parse().unwrap();
            let e = out.entry(host.to_string()).or_insert(0);
            *e = (*e).max(n);
        }
    }
    out
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `service logs -f` running in the background; its lines so far, each with when it came.
struct Follow {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<(u128, String)>>>,
}

impl Follow {
    fn start(h: &Host, service: &str) -> Self {
        let mut child = Command::new(ferry_bin())
            .args(["service", "logs", "-f", service])
            .env("FERRY_HOST", format!("unix://{}", h.socket().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                sink.lock().unwrap().push((now_ns(), l));
            }
        });
        Follow { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// From a tick's printing to its line out of the CLI, in ms, for the ticks of the
    /// replicas `of` (host names) printed after `since`.
    fn latencies(&self, of: &[String], since: u128) -> Vec<f64> {
        let mut v = Vec::new();
        for (came, l) in self.lines.lock().unwrap().iter() {
            let Some((_, text)) = l.split_once("    | ") else {
                continue;
            };
            if let ["tick", _, host, printed] = text.split_whitespace().collect::<Vec<_>>()[..] {
                let printed: u128 = printed.parse().unwrap();
                if of.iter().any(|h| h == host) && printed > since {
                    v.push(came.saturating_sub(printed) as f64 / 1e6);
                }
            }
        }
        v.sort_by(f64::total_cmp);
        v
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn service_logs_from_a_worker_merge_every_nodes_replicas() {
    let u = Underlay::new(3);
    u.swarm(TTL, false);
    let (a, b, c) = (&u.hosts[0], &u.hosts[1], &u.hosts[2]);
    a.ok(&[
        "service",
        "create",
        "--name",
        "talk",
        "--replicas",
        "3",
        "--",
        "sh",
        "-c",
        PROGRAM,
    ]);
    assert!(
        eventually(60, || {
            running_tasks(a, "talk").len() == 3
                && u.hosts.iter().all(|h| replica_names(h, "talk").len() == 1)
        }),
        "3 replicas, one per node: {:?}",
        running_tasks(a, "talk")
    );
    let node = running_tasks(a, "talk")[0].2.clone();
    // Prefix → the host name that replica prints, each from the node that runs it.
    let mut expected = BTreeMap::new();
    for h in &u.hosts {
        expected.extend(local_replicas(h, "talk", &node));
    }
    assert_eq!(expected.len(), 3, "{expected:?}");

    // From a worker: every node's replica, with Docker's prefix.
    let mut seen = Vec::new();
    assert!(
        eventually(20, || {
            seen = logs(c, &["talk"]);
            expected
                .iter()
                .all(|(prefix, host)| seen.contains(&format!("{prefix}start {host}")))
        }),
        "every replica's first line from a worker, prefixed: expected {expected:?}, saw {seen:?}"
    );
    for l in &seen {
        let (prefix, text) = l.split_at(l.find("    | ").unwrap() + 6);
        let host = expected
            .get(prefix)
            .unwrap_or_else(|| panic!("a line of no replica: {l}"));
        // `start HOST` or `tick N HOST TIME`: the line of the replica its prefix names.
        let words: Vec<&str> = text.split_whitespace().collect();
        let of_host = match words.as_slice() {
            ["start", h] | ["tick", _, h, _] => *h == host.as_str(),
            _ => false,
        };
        assert!(of_host, "{l}");
    }

    // --tail 1: one line per replica; --timestamps: the time first; the options Docker has.
    let tail = logs(c, &["--tail", "1", "talk"]);
    assert_eq!(tail.len(), 3, "{tail:?}");
    for prefix in expected.keys() {
        assert_eq!(
            tail.iter().filter(|l| l.starts_with(prefix)).count(),
            1,
            "{tail:?}"
        );
    }
    let stamped = logs(b, &["--timestamps", "--tail", "1", "talk"]);
    assert_eq!(stamped.len(), 3, "{stamped:?}");
    for l in &stamped {
        let (time, rest) = l.split_once(' ').unwrap();
        assert!(time.starts_with("20") && time.ends_with('Z'), "{l}");
        assert!(rest.starts_with("talk."), "{l}");
    }
    let raw = logs(c, &["--raw", "--tail", "1", "talk"]);
    assert!(raw.iter().all(|l| l.starts_with("tick ")), "{raw:?}");
    let no_ids = logs(c, &["--no-task-ids", "--tail", "1", "talk"]);
    assert!(
        no_ids.iter().all(|l| l.starts_with("talk.")
            && l.contains(&format!("@{node}    | "))
            && l.split('@').next().unwrap().split('.').count() == 2),
        "{no_ids:?}"
    );
    let whole = logs(c, &["--no-trunc", "--tail", "1", "talk"]);
    let ids: Vec<String> = running_tasks(a, "talk").into_iter().map(|t| t.0).collect();
    assert!(
        whole
            .iter()
            .all(|l| ids.iter().any(|id| l.contains(&format!(".{id}@")))),
        "{whole:?} {ids:?}"
    );

    // A Docker client gets Docker's multiplexed stream, with the replica's IDs as details.
    let r = c.sh(&format!(
        "curl -s --unix-socket {} 'http://ferry/v1.44/services/talk/logs?stdout=1&details=1&tail=1'",
        c.socket().display()
    ));
    assert_eq!(
        r.stdout.matches("com.docker.swarm.task.id=").count(),
        3,
        "{}",
        r.stdout
    );

    // -f from a worker: lines the other nodes' replicas print after it started.
    let before = last_ticks(&logs(b, &["talk"]));
    let follow = Follow::start(b, "talk");
    assert!(
        eventually(20, || {
            let now = last_ticks(&follow.lines());
            expected.values().all(|host| {
                now.get(host).copied().unwrap_or(0) > before.get(host).copied().unwrap_or(0) + 2
            })
        }),
        "followed lines of every node after {before:?}: {:?}",
        follow.lines()
    );
    let started = now_ns();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let here: Vec<String> = local_replicas(b, "talk", &node).into_values().collect();
    let others: Vec<String> = expected
        .values()
        .filter(|h| !here.contains(h))
        .cloned()
        .collect();
    let lat = follow.latencies(&others, started);
    assert!(lat.len() >= 20, "{lat:?}");
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    eprintln!(
        "service logs -f on a worker, from a tick printed on another node to its line: \
         p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} lines)",
        at(0.5),
        at(0.99),
        at(1.0),
        lat.len()
    );

    // A replica that starts later, wherever it lands, is followed too.
    a.ok(&["service", "scale", "talk=4"]);
    assert!(
        eventually(30, || follow
            .lines()
            .iter()
            .any(|l| l.starts_with("talk.4.") && l.contains("    | start "))),
        "the new replica's first line: {:?}",
        follow.lines()
    );
    drop(follow);

    // A node whose endpoint cannot be reached is reported; the others still print.
    let r = a.sh(&format!(
        "nft add table inet block && nft add chain inet block in '{{ type filter hook input priority 0; }}' && nft add rule inet block in tcp dport {NODE_PORT} reject with tcp reset"
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = c.ferry(&["service", "logs", "--tail", "1", "talk"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("cannot be read") && r.stderr.contains(&Underlay::addr(0)),
        "{}",
        r.stderr
    );
    assert!(r.stdout.lines().count() >= 2, "{}", r.stdout);
    a.sh("nft delete table inet block");

    // The node endpoint: a client without a certificate, or with one the swarm's CA did not
    // issue, gets nothing; a node's own certificate is answered.
    let (code, svc) = api(a, "GET", "/services/talk", None);
    assert_eq!(code, 200, "{svc}");
    let url = format!(
        "https://{}:{NODE_PORT}/ferry/node/services/{}/logs",
        Underlay::addr(0),
        svc["ID"].as_str().unwrap()
    );
    let r = c.sh(&format!("curl -sSk --max-time 5 {url}"));
    assert_ne!(r.code, 0, "answered without a certificate: {}", r.stdout);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let dir = c.dir.path().display().to_string();
    let r = c.sh(&format!(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {dir}/k.pem -out {dir}/c.pem -subj /CN=intruder -days 1 2>&1 && curl -sSk --max-time 5 --cert {dir}/c.pem --key {dir}/k.pem {url}"
    ));
    assert_ne!(
        r.code, 0,
        "answered a certificate of no swarm: {}",
        r.stdout
    );
    assert!(!r.stdout.contains("ServiceId"), "{}", r.stdout);
    let swarm_dir = c.data_root().join("swarm");
    let r = c.sh(&format!(
        "curl -sSk --max-time 5 --cert {0}/node.crt --key {0}/node.key '{url}?tail=1'",
        swarm_dir.display()
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"ServiceId\""), "{}", r.stdout);
}

#[test]
fn service_logs_of_a_service_of_one_host() {
    let h = Host::new();
    h.ok(&[
        "service",
        "create",
        "--name",
        "solo",
        "--replicas",
        "2",
        "--",
        "sh",
        "-c",
        "echo hello $HOSTNAME; exec sleep 1000",
    ]);
    let mut lines = Vec::new();
    assert!(
        eventually(20, || {
            lines = logs(&h, &["solo"]);
            lines.len() == 2
        }),
        "{lines:?}"
    );
    lines.sort();
    for (i, l) in lines.iter().enumerate() {
        let name = format!("solo.{}", i + 1);
        let host = h.ok(&["exec", &name, "--", "hostname"]);
        assert_eq!(l, &format!("{name}    | hello {host}"));
    }
}

/// The real docker CLI on a ferry swarm: `docker service ps` lists every node's tasks in
/// Docker's columns (filters by node and desired state, `-q`, `--format`), and `docker service
/// logs` prints every node's replicas with Docker's prefix, of a service or of one task; an
/// unknown name fails with Docker's words.
#[test]
fn docker_cli_service_ps_and_logs() {
    let u = Underlay::new(2);
    u.swarm(TTL, false);
    let (a, b) = (&u.hosts[0], &u.hosts[1]);
    a.ok(&[
        "service",
        "create",
        "--name",
        "hello",
        "--replicas",
        "2",
        "--",
        "sh",
        "-c",
        "echo hello $HOSTNAME; exec sleep 1000",
    ]);
    assert!(
        eventually(60, || running_tasks(a, "hello").len() == 2
            && u.hosts.iter().all(|h| replica_names(h, "hello").len() == 1)),
        "2 replicas, one per node: {:?}",
        running_tasks(a, "hello")
    );
    let tasks = running_tasks(a, "hello");
    let node = tasks[0].2.clone();
    // `docker info` reads the swarm in Docker's shape (managers as Peers).
    assert_eq!(
        a.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{len .Swarm.RemoteManagers}}"
        ]),
        "active true 1"
    );

    // `service ps`: Docker's columns, a row per task, by slot.
    let ps = a.docker_ok(&["service", "ps", "hello"]);
    let rows: Vec<&str> = ps.lines().collect();
    assert_eq!(rows.len(), 3, "{ps}");
    for col in [
        "ID",
        "NAME",
        "IMAGE",
        "NODE",
        "DESIRED STATE",
        "CURRENT STATE",
    ] {
        assert!(rows[0].contains(col), "{ps}");
    }
    for (row, slot) in rows[1..].iter().zip(1..) {
        let w: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(w[1], format!("hello.{slot}"), "{ps}");
        assert_eq!(
            &w[2..6],
            ["host", node.as_str(), "Running", "Running"],
            "{ps}"
        );
        let full = tasks.iter().find(|t| t.1 == slot).unwrap();
        assert_eq!(w[0], &full.0[..12], "{ps}");
    }
    let fmt = a.docker_ok(&[
        "service",
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Name}} {{.DesiredState}}",
        "hello",
    ]);
    let mut want: Vec<String> = tasks
        .iter()
        .map(|t| format!("{} hello.{} Running", t.0, t.1))
        .collect();
    want.sort_by_key(|l| l.split(' ').nth(1).unwrap().to_string());
    assert_eq!(fmt.lines().collect::<Vec<_>>(), want);
    // From the worker, by node: the task the worker runs.
    let on_b = b.docker_ok(&["service", "ps", "-q", "--filter", "node=self", "hello"]);
    let b_task = replica_names(b, "hello").remove(0);
    let b_task = b_task.split('.').nth(2).unwrap();
    // `-q` prints whole IDs, as Docker's does.
    assert_eq!(on_b, b_task);
    let on_b = a.docker_ok(&[
        "service",
        "ps",
        "-q",
        "--filter",
        &format!("node={}", b.node_id()),
        "hello",
    ]);
    assert_eq!(on_b, b_task);
    assert_eq!(
        a.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=shutdown",
            "hello"
        ]),
        ""
    );
    assert_eq!(
        a.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            "hello"
        ])
        .lines()
        .count(),
        2
    );
    let r = a.docker(&["service", "ps", "nope"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no such service: nope"), "{}", r.stderr);
    let (code, t) = api(a, "GET", &format!("/v1.50/tasks/{}", tasks[0].0), None);
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["Status"]["State"], "running");
    assert_eq!(t["DesiredState"], "running");
    assert_eq!(t["Slot"].as_u64(), Some(tasks[0].1));
    let (code, _) = api(a, "GET", "/v1.50/tasks/nope", None);
    assert_eq!(code, 404);

    // `service logs`: every node's replica, with Docker's prefix, as ferry's own CLI prints.
    let mut expected = BTreeMap::new();
    for h in &u.hosts {
        expected.extend(local_replicas(h, "hello", &node));
    }
    let mut want: Vec<String> = expected
        .iter()
        .map(|(prefix, host)| format!("{prefix}hello {host}"))
        .collect();
    want.sort();
    for h in [a, b] {
        let mut got = Vec::new();
        assert!(
            eventually(20, || {
                got = h
                    .docker_ok(&["service", "logs", "hello"])
                    .lines()
                    .map(String::from)
                    .collect();
                got.sort();
                got == want
            }),
            "docker service logs: {got:?}, want {want:?}"
        );
    }
    let raw = a.docker_ok(&["service", "logs", "--raw", "hello"]);
    assert_eq!(raw.lines().count(), 2, "{raw}");
    assert!(raw.lines().all(|l| l.starts_with("hello ")), "{raw}");
    // One task: its own lines only.
    let one = a.docker_ok(&["service", "logs", &tasks[0].0]);
    let prefix = format!("hello.{}.{}@{node}    | ", tasks[0].1, &tasks[0].0[..12]);
    assert_eq!(one, format!("{prefix}hello {}", expected[&prefix]));
    let r = a.docker(&["service", "logs", "nope"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no such task or service: nope"),
        "{}",
        r.stderr
    );

    // Scaled down: the task let go is history, `shutdown` as Docker says it.
    a.ok(&["service", "scale", "hello=1"]);
    let shown = |filter: &str| {
        a.docker_ok(&[
            "service",
            "ps",
            "--filter",
            filter,
            "--format",
            "{{.Name}} {{.DesiredState}} {{.CurrentState}}",
            "hello",
        ])
    };
    let mut gone = String::new();
    assert!(
        eventually(30, || {
            gone = shown("desired-state=shutdown");
            gone.starts_with("hello.2 Shutdown Shutdown")
        }),
        "{gone}"
    );
    assert!(shown("desired-state=running").starts_with("hello.1 Running Running"));
}

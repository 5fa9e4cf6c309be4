//! Random kills: every kind of operation (networks, sandboxes with published ports, connect
//! and disconnect, stop and start, services created, scaled and removed) runs while the daemon
//! is killed with SIGKILL at random moments. After each restart the kernel must match what
//! the daemon reports: no process, link, directory, nftables element or DNS name that nothing
//! owns, no address given twice, and what runs answers on its names and published ports.
//!
//! The operations are drawn from a seeded generator; the seed is printed first, and
//! `FERRY_CHURN_SEED=N` draws the same operations again (the moments of the kills depend on
//! the machine's speed, so a run is not replayed exactly). `FERRY_CHURN_ROUNDS=N` runs N
//! rounds instead of 60, for a longer soak.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How many rounds of operations end with the daemon killed (some rounds kill the start
/// that follows as well).
const ROUNDS: usize = 60;
/// Names the operations draw from: networks `cn0..`, sandboxes `cs0..`, services `cv0..`.
const NETWORKS: usize = 4;
const SANDBOXES: usize = 8;
const SERVICES: usize = 3;
const MAX_REPLICAS: u64 = 3;
/// The first routing-mesh port; service `cvJ` publishes `MESH_PORT + J`.
const MESH_PORT: u16 = 18100;

/// SplitMix64: small, seeded, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[self.below(v.len() as u64) as usize])
    }
}

/// The CLI, usable from another thread while the test kills the daemon.
#[derive(Clone)]
struct Cli {
    socket: PathBuf,
}

impl Cli {
    /// Runs one command; its error output when it failed.
    fn run(&self, args: &[String]) -> Result<(), String> {
        let out = Command::new(common::ferry_bin())
            .args(args)
            .env("FERRY_HOST", format!("unix://{}", self.socket.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

/// What the daemon reports, gathered once per round.
#[derive(Default)]
struct Snapshot {
    /// Every network: name → (ID, driver, IPv4 gateways).
    networks: BTreeMap<String, (String, String, Vec<String>)>,
    /// Every sandbox, as `ps -a --format json` shows it.
    sandboxes: Vec<Value>,
    /// `inspect` of the running sandboxes, by name.
    inspect: BTreeMap<String, Value>,
    /// `service inspect` of every service, by name.
    services: BTreeMap<String, Value>,
    /// `service ps` of every service: (replica name, desired state, state).
    tasks: BTreeMap<String, Vec<(String, String, String)>>,
}

fn name_of(s: &Value) -> String {
    s["Names"][0]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

fn running(s: &Value) -> bool {
    s["State"] == "running"
}

fn label<'a>(s: &'a Value, key: &str) -> Option<&'a str> {
    s["Labels"][key].as_str()
}

/// One endpoint of a running sandbox.
struct Ep {
    sandbox: String,
    network_id: String,
    veth: String,
    mac: String,
    ip: String,
}

impl Snapshot {
    fn take(h: &Host) -> Snapshot {
        let mut s = Snapshot::default();
        let ids: Vec<String> = h
            .ok(&["network", "ls", "-q", "--no-trunc"])
            .lines()
            .map(String::from)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["network", "inspect"];
            args.extend(ids.iter().map(String::as_str));
            let v: Value = serde_json::from_str(&h.ok(&args)).unwrap();
            for n in v.as_array().unwrap() {
                let gws = n["IPAM"]["Config"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["Gateway"].as_str().map(String::from))
                    .collect();
                s.networks.insert(
                    n["Name"].as_str().unwrap().to_string(),
                    (
                        n["Id"].as_str().unwrap().to_string(),
                        n["Driver"].as_str().unwrap().to_string(),
                        gws,
                    ),
                );
            }
        }
        s.sandboxes = h
            .ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let run: Vec<String> = s
            .sandboxes
            .iter()
            .filter(|x| running(x))
            .map(name_of)
            .collect();
        if !run.is_empty() {
            let mut args = vec!["inspect"];
            args.extend(run.iter().map(String::as_str));
            // A sandbox may end between the two calls: inspect what is still there.
            let r = h.ferry(&args);
            if let Ok(Value::Array(v)) = serde_json::from_str::<Value>(&r.stdout) {
                for i in v {
                    let n = i["Name"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('/');
                    s.inspect.insert(n.to_string(), i.clone());
                }
            }
        }
        let svcs: Vec<String> = h
            .ok(&["service", "ls", "-q"])
            .lines()
            .map(String::from)
            .collect();
        if !svcs.is_empty() {
            let mut args = vec!["service", "inspect"];
            args.extend(svcs.iter().map(String::as_str));
            let v: Value = serde_json::from_str(&h.ok(&args)).unwrap();
            for x in v.as_array().unwrap() {
                let name = x["Spec"]["Name"].as_str().unwrap().to_string();
                let tasks = h
                    .ok(&["service", "ps", &name])
                    .lines()
                    .skip(1)
                    .map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        (f[1].to_string(), f[2].to_string(), f[3].to_string())
                    })
                    .collect();
                s.tasks.insert(name.clone(), tasks);
                s.services.insert(name, x.clone());
            }
        }
        s
    }

    fn network_name(&self, id: &str) -> Option<&str> {
        self.networks
            .iter()
            .find(|(_, (i, _, _))| i == id)
            .map(|(n, _)| n.as_str())
    }

    /// The endpoints of running sandboxes.
    fn endpoints(&self) -> Vec<Ep> {
        let mut out = Vec::new();
        for s in self.sandboxes.iter().filter(|s| running(s)) {
            for (_, e) in s["NetworkSettings"]["Networks"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let (Some(eid), Some(ip)) = (e["EndpointID"].as_str(), e["IPAddress"].as_str())
                else {
                    continue;
                };
                if eid.is_empty() || ip.is_empty() {
                    continue;
                }
                out.push(Ep {
                    sandbox: name_of(s),
                    network_id: e["NetworkID"].as_str().unwrap_or_default().to_string(),
                    veth: format!("vf{}", &eid[..11]),
                    mac: e["MacAddress"].as_str().unwrap_or_default().to_string(),
                    ip: ip.to_string(),
                });
            }
        }
        out
    }

    /// A service's replica count.
    fn desired(&self, service: &str) -> Option<u64> {
        self.services
            .get(service)
            .and_then(|s| s["Spec"]["Mode"]["Replicated"]["Replicas"].as_u64())
    }

    /// Running replicas of a service in a wanted slot (what the balancer should hold).
    fn live_replicas(&self, service: &str) -> Vec<&Value> {
        let Some(svc) = self.services.get(service) else {
            return Vec::new();
        };
        let want = self.desired(service).unwrap_or(0);
        let id = svc["ID"].as_str().unwrap_or_default();
        self.sandboxes
            .iter()
            .filter(|s| running(s) && label(s, "com.docker.swarm.service.id") == Some(id))
            .filter(|s| {
                label(s, "com.docker.swarm.task.slot")
                    .and_then(|x| x.parse::<u64>().ok())
                    .is_some_and(|slot| slot >= 1 && slot <= want)
            })
            .collect()
    }
}

/// Violations found, by kind, each counted once however many rounds it lasts.
#[derive(Default)]
struct Findings {
    seen: BTreeSet<String>,
    by_kind: BTreeMap<&'static str, Vec<String>>,
}

impl Findings {
    fn add(&mut self, round: usize, kind: &'static str, key: String, detail: String) {
        if self.seen.insert(format!("{kind}/{key}")) {
            println!("round {round}: {kind}: {detail}");
            self.by_kind
                .entry(kind)
                .or_default()
                .push(format!("round {round}: {detail}"));
        }
    }
}

/// The kinds of violation the checks look for, in the order of the summary.
const KINDS: &[&str] = &[
    "daemon_not_starting",
    "untracked_process",
    "sandbox_without_process",
    "surplus_replica",
    "service_ps_mismatch",
    "service_not_converged",
    "orphan_link",
    "missing_link",
    "orphan_dir",
    "missing_dir",
    "nft_orphan_element",
    "nft_missing_element",
    "dns_stale_name",
    "dns_missing_name",
    "duplicate_address",
    "port_not_answering",
];

/// A process's command line (arguments joined by spaces) and parent PID, unless it is gone
/// or a zombie.
fn process(pid: u32) -> Option<(String, u32)> {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    if f.first() == Some(&"Z") {
        return None;
    }
    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
    Some((cmd.trim().to_string(), f.get(1)?.parse().ok()?))
}

/// The first process of each sandbox of this test: those whose command line carries the
/// test's token and whose parent's does not (ferry's init and the program it runs both
/// carry it; so do socat's children for each connection). PID → command line.
fn token_processes(token: &str) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some((cmd, ppid)) = process(pid) else {
            continue;
        };
        if cmd.contains(token) && !process(ppid).is_some_and(|(c, _)| c.contains(token)) {
            out.insert(pid, cmd);
        }
    }
    out
}

/// The populated sandbox cgroups of the daemon's tree: sandbox ID → PIDs.
fn sandbox_cgroups(h: &Host) -> BTreeMap<String, Vec<u32>> {
    let (Ok(rel), Some(mount)) = (
        std::fs::read_to_string(h.exec_root().join("cgroup")),
        ferry_kernel::sock_lb::cgroup2_mount(),
    ) else {
        return BTreeMap::new();
    };
    let dir = mount
        .join(rel.trim().trim_start_matches('/'))
        .join("sandboxes");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let procs = std::fs::read_to_string(e.path().join("cgroup.procs")).ok()?;
            let pids: Vec<u32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            (!pids.is_empty()).then(|| (e.file_name().to_string_lossy().into_owned(), pids))
        })
        .collect()
}

/// An nftables element in a canonical text form: `a . b` for concatenations, `k : v` for
/// map entries.
fn nft_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.contains_key("concat") => o["concat"]
            .as_array()
            .unwrap()
            .iter()
            .map(nft_text)
            .collect::<Vec<_>>()
            .join(" . "),
        Value::Object(o) if o.contains_key("elem") => nft_text(&o["elem"]["val"]),
        Value::Array(kv) if kv.len() == 2 => format!("{} : {}", nft_text(&kv[0]), nft_text(&kv[1])),
        other => other.to_string(),
    }
}

/// Every element of ferry's sets and maps: "family/name" → elements.
fn nft_elements(h: &Host) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for family in ["inet", "bridge"] {
        let r = h.sh(&format!("nft -j list table {family} ferry"));
        let v: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
        for o in v["nftables"].as_array().into_iter().flatten() {
            for k in ["set", "map"] {
                if let Some(s) = o.get(k) {
                    let elems: BTreeSet<String> = s["elem"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(nft_text)
                        .collect();
                    let name = s["name"].as_str().unwrap_or_default();
                    // The balancer has one map per slot (`vipall4_7`): its elements are
                    // counted as `KEY . SLOT : VALUE` of one map (`vipall4`).
                    let sliced = name.rsplit_once('_').filter(|(base, n)| {
                        matches!(*base, "vipall4" | "lb4" | "mesh4") && n.parse::<u8>().is_ok()
                    });
                    match sliced {
                        Some((base, slot)) => {
                            let all: &mut BTreeSet<String> =
                                out.entry(format!("{family}/{base}")).or_default();
                            for e in elems {
                                let (k, v) = e.split_once(" : ").unwrap_or((&e, ""));
                                all.insert(format!("{k} . {slot} : {v}"));
                            }
                        }
                        None => {
                            out.insert(format!("{family}/{name}"), elems);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The links of the host namespace: name → (kind, alias).
fn links(h: &Host) -> BTreeMap<String, (String, String)> {
    let r = h.sh("ip -j -d link show");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["ifname"].as_str().unwrap_or_default().to_string(),
                (
                    l["linkinfo"]["info_kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    l["ifalias"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// One line of a published port or mesh port: what `socat` reads from 127.0.0.1:port.
fn answer(h: &Host, port: u64) -> String {
    h.sh_stdin(
        &format!("socat -t3 -T3 - TCP:127.0.0.1:{port},connect-timeout=2"),
        "\n",
    )
    .stdout
    .trim()
    .to_string()
}

/// What each name resolves to (IPv4) inside a sandbox, through the embedded resolver.
fn dig(h: &Host, from: &str, names: &[String]) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let mut args = vec![
        "exec",
        from,
        "--",
        "dig",
        "+noall",
        "+answer",
        "+tries=1",
        "+time=3",
        "@127.0.0.11",
    ];
    args.extend(names.iter().map(String::as_str));
    let r = h.ferry(&args);
    if r.code != 0 {
        return None;
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in r.stdout.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 5 && f[3] == "A" {
            out.entry(f[0].trim_end_matches('.').to_string())
                .or_default()
                .insert(f[4].to_string());
        }
    }
    Some(out)
}

struct Churn<'a> {
    h: &'a Host,
    token: String,
    found: Findings,
    round: usize,
    /// What the checks looked at, summed over the rounds: processes, veths, nftables
    /// elements, DNS answers, ports.
    looked: [usize; 5],
    /// Every sandbox seen so far: short ID → name.
    names: BTreeMap<String, String>,
}

impl Churn<'_> {
    fn flag(&mut self, kind: &'static str, key: impl Into<String>, detail: impl Into<String>) {
        self.found.add(self.round, kind, key.into(), detail.into());
    }

    /// Waits (bounded) until every service runs its replica count, then looks.
    fn settle(&mut self) -> Snapshot {
        let converged = |s: &Snapshot| {
            s.services
                .values()
                .all(|v| v["ServiceStatus"]["RunningTasks"] == v["ServiceStatus"]["DesiredTasks"])
        };
        let mut snap = Snapshot::take(self.h);
        if !converged(&snap) {
            eventually(15, || {
                snap = Snapshot::take(self.h);
                converged(&snap)
            });
        }
        for (name, v) in &snap.services {
            if !converged(&Snapshot {
                services: [(name.clone(), v.clone())].into(),
                ..Default::default()
            }) {
                let st = &v["ServiceStatus"];
                self.found.add(
                    self.round,
                    "service_not_converged",
                    format!("{name}/{}", self.round),
                    format!(
                        "{name}: {} of {} replicas run",
                        st["RunningTasks"], st["DesiredTasks"]
                    ),
                );
            }
        }
        snap
    }

    fn check(&mut self) {
        let snap = self.settle();
        self.remember(&snap);
        self.check_processes(&snap);
        self.check_replicas(&snap);
        self.check_links(&snap);
        self.check_dirs(&snap);
        self.check_nft(&snap);
        self.check_addresses(&snap);
        self.check_dns(&snap);
        self.check_ports(&snap);
    }

    fn remember(&mut self, snap: &Snapshot) {
        for s in &snap.sandboxes {
            let id = s["Id"].as_str().unwrap_or_default();
            self.names
                .insert(id[..12.min(id.len())].to_string(), name_of(s));
        }
    }

    /// Every sandbox process belongs to a running sandbox the daemon knows, and every running
    /// sandbox has its process. Leaked ones are killed once counted, so later rounds start clean.
    fn check_processes(&mut self, snap: &Snapshot) {
        let procs = token_processes(&self.token);
        self.looked[0] += procs.len();
        let mut known = BTreeSet::new();
        for (name, i) in &snap.inspect {
            let pid = i["State"]["Pid"].as_u64().unwrap_or(0) as u32;
            known.insert(pid);
            if !procs.contains_key(&pid) {
                self.flag(
                    "sandbox_without_process",
                    format!("{name}/{pid}"),
                    format!("{name} is running with PID {pid}, which is not its process"),
                );
            }
        }
        // Every populated sandbox cgroup is a running sandbox's, and holds its process.
        let running_ids: BTreeMap<&str, (&str, u32)> = snap
            .inspect
            .iter()
            .map(|(n, i)| {
                (
                    i["Id"].as_str().unwrap_or_default(),
                    (n.as_str(), i["State"]["Pid"].as_u64().unwrap_or(0) as u32),
                )
            })
            .collect();
        for (id, pids) in sandbox_cgroups(self.h) {
            match running_ids.get(id.as_str()) {
                Some((_, pid)) if pids.contains(pid) => {}
                Some((name, pid)) => self.flag(
                    "sandbox_without_process",
                    format!("{name}/{pid}/cgroup"),
                    format!("{name}'s process {pid} is not in its cgroup, which holds {pids:?}"),
                ),
                // Standbys the daemon made ahead of `run`s, born in the cgroups of the IDs
                // they were made for.
                None if pids
                    .iter()
                    .all(|p| common::standby_parent(*p) == self.h.daemon_pid()) => {}
                None => {
                    let whose = self
                        .names
                        .get(&id[..12.min(id.len())])
                        .map(|n| format!("of {n}"))
                        .unwrap_or_else(|| "of a sandbox never seen".into());
                    self.flag(
                        "untracked_process",
                        format!("cgroup/{id}"),
                        format!("cgroup {id} ({whose}) holds {pids:?} but is no running sandbox's"),
                    );
                }
            }
        }
        for (pid, cmd) in procs.iter().filter(|(p, _)| !known.contains(p)) {
            // Its host name is its sandbox's short ID (replicas and `run` set no other).
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let host = String::from_utf8_lossy(&env)
                .split('\0')
                .find_map(|v| v.strip_prefix("HOSTNAME=").map(String::from))
                .unwrap_or_default();
            let whose = match self.names.get(&host) {
                Some(n) => {
                    let now = snap
                        .sandboxes
                        .iter()
                        .find(|s| s["Id"].as_str().is_some_and(|i| i.starts_with(&host)))
                        .map(|s| s["State"].as_str().unwrap_or_default().to_string())
                        .unwrap_or_else(|| "removed".into());
                    format!("sandbox {n} ({host}), now {now}")
                }
                None => format!("a sandbox never seen ({host})"),
            };
            self.flag(
                "untracked_process",
                pid.to_string(),
                format!("PID {pid} ({cmd}) of {whose} belongs to no running sandbox"),
            );
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
    }

    /// No replica above its service's count or of a service that is gone, and `service ps`
    /// lists exactly the sandboxes labelled as the service's replicas.
    fn check_replicas(&mut self, snap: &Snapshot) {
        for s in snap.sandboxes.iter() {
            let Some(svc) = label(s, "com.docker.swarm.service.name") else {
                continue;
            };
            let slot: u64 = label(s, "com.docker.swarm.task.slot")
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let name = name_of(s);
            let id = label(s, "com.docker.swarm.service.id").unwrap_or_default();
            let svc_id = snap.services.get(svc).and_then(|v| v["ID"].as_str());
            let why = match (svc_id, snap.desired(svc)) {
                (Some(i), Some(n)) if i == id && slot >= 1 && slot <= n => continue,
                (Some(i), Some(n)) if i == id => format!("slot {slot} above the count {n}"),
                _ => "its service is gone".to_string(),
            };
            self.flag(
                "surplus_replica",
                s["Id"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{name} ({}): {why}",
                    s["State"].as_str().unwrap_or_default()
                ),
            );
        }
        for (svc, tasks) in &snap.tasks {
            let id = snap.services[svc]["ID"].as_str().unwrap_or_default();
            let by_label: BTreeSet<String> = snap
                .sandboxes
                .iter()
                .filter(|s| label(s, "com.docker.swarm.service.id") == Some(id))
                .map(|s| format!("{} {}", name_of(s), s["State"].as_str().unwrap_or_default()))
                .collect();
            let by_ps: BTreeSet<String> =
                tasks.iter().map(|(n, _, st)| format!("{n} {st}")).collect();
            if by_label != by_ps {
                self.flag(
                    "service_ps_mismatch",
                    format!("{svc}/{}", self.round),
                    format!("{svc}: ps shows {by_label:?}, service ps {by_ps:?}"),
                );
            }
        }
    }

    /// Host-side veths are exactly the running endpoints'; bridges exactly the networks'.
    fn check_links(&mut self, snap: &Snapshot) {
        let links = links(self.h);
        let eps = snap.endpoints();
        self.looked[1] += eps.len();
        let want: BTreeMap<&str, &Ep> = eps.iter().map(|e| (e.veth.as_str(), e)).collect();
        for (name, (kind, alias)) in &links {
            if kind == "veth" && name.starts_with("vf") && !want.contains_key(name.as_str()) {
                self.flag(
                    "orphan_link",
                    name.clone(),
                    format!("veth {name} belongs to no running endpoint"),
                );
            }
            if let Some(id) = alias.strip_prefix("ferry:net:") {
                if snap.network_name(id).is_none() {
                    self.flag(
                        "orphan_link",
                        name.clone(),
                        format!("bridge {name} of network {id}, which is gone"),
                    );
                }
            }
        }
        for (veth, e) in &want {
            if !links.contains_key(*veth) {
                self.flag(
                    "missing_link",
                    veth.to_string(),
                    format!("{}'s veth {veth} is missing", e.sandbox),
                );
            }
        }
        for (name, (id, driver, _)) in &snap.networks {
            let alias = format!("ferry:net:{id}");
            if driver == "bridge" && !links.values().any(|(_, a)| *a == alias) {
                self.flag(
                    "missing_link",
                    id.clone(),
                    format!("network {name} has no bridge"),
                );
            }
        }
    }

    /// Sandbox directories are exactly the sandboxes'.
    fn check_dirs(&mut self, snap: &Snapshot) {
        let dirs: BTreeSet<String> = std::fs::read_dir(self.h.data_root().join("sandboxes"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let ids: BTreeSet<String> = snap
            .sandboxes
            .iter()
            .map(|s| s["Id"].as_str().unwrap_or_default().to_string())
            .collect();
        for d in dirs.difference(&ids) {
            self.flag(
                "orphan_dir",
                d.clone(),
                format!("sandbox directory {d} has no record"),
            );
        }
        for i in ids.difference(&dirs) {
            self.flag(
                "missing_dir",
                i.clone(),
                format!("sandbox {i} has no directory"),
            );
        }
    }

    /// ferry's sets and maps hold exactly what the running endpoints, published ports,
    /// networks and services call for.
    fn check_nft(&mut self, snap: &Snapshot) {
        let actual = nft_elements(self.h);
        self.looked[2] += actual.values().map(BTreeSet::len).sum::<usize>();
        let links = links(self.h);
        let bridge_of: BTreeMap<String, String> = links
            .iter()
            .filter_map(|(n, (_, a))| {
                a.strip_prefix("ferry:net:")
                    .map(|id| (id.to_string(), n.clone()))
            })
            .collect();
        let mut want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut add = |set: &'static str, e: String| {
            want.entry(set).or_default().insert(e);
        };
        for e in snap.endpoints() {
            let br = bridge_of.get(&e.network_id).cloned().unwrap_or_default();
            add("bridge/ports", e.veth.clone());
            add("bridge/macs", format!("{} . {}", e.veth, e.mac));
            add(
                "bridge/addrs4",
                format!("{} . {} . {}", e.veth, e.mac, e.ip),
            );
            add("inet/masq4", e.ip.clone());
            add("inet/members4", format!("{br} . {}", e.ip));
        }
        for (id, _, _) in snap.networks.values().filter(|(_, d, _)| d == "bridge") {
            if let Some(br) = bridge_of.get(id) {
                add("inet/bridges", br.clone());
                add("inet/bridge_pairs", format!("{br} . {br}"));
            }
        }
        for s in snap.sandboxes.iter().filter(|s| running(s)) {
            let ips: Vec<String> = s["NetworkSettings"]["Networks"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, e)| e["IPAddress"].as_str().map(String::from))
                .collect();
            for p in s["Ports"].as_array().into_iter().flatten() {
                let (Some(public), Some(private)) =
                    (p["PublicPort"].as_u64(), p["PrivatePort"].as_u64())
                else {
                    continue;
                };
                let proto = p["Type"].as_str().unwrap_or("tcp");
                let hostip = p["IP"].as_str().unwrap_or_default();
                // The target is one of the sandbox's addresses; which one is the daemon's
                // choice, so the expectation takes it from the element when it is one of them.
                let key = if hostip.is_empty() || hostip == "0.0.0.0" {
                    ("inet/ports4_any", format!("{proto} . {public}"))
                } else {
                    ("inet/ports4", format!("{hostip} . {proto} . {public}"))
                };
                let target = actual
                    .get(key.0)
                    .into_iter()
                    .flatten()
                    .find_map(|e| e.strip_prefix(&format!("{} : ", key.1)))
                    .and_then(|t| t.split(" . ").next())
                    .filter(|ip| ips.iter().any(|x| x == ip))
                    .map(String::from)
                    .or_else(|| ips.first().cloned())
                    .unwrap_or_default();
                add(key.0, format!("{} : {target} . {private}", key.1));
            }
        }
        // The balancer: every VIP served; its 64 slots (and each mesh port's) spread over
        // the live replicas' addresses, or absent when none is live.
        for (name, svc) in &snap.services {
            let live = snap.live_replicas(name);
            let addr_on = |sb: &Value, net: &str| -> Option<String> {
                sb["NetworkSettings"]["Networks"]
                    .as_object()?
                    .values()
                    .find(|e| e["NetworkID"] == net)
                    .and_then(|e| e["IPAddress"].as_str().map(String::from))
            };
            for v in svc["Endpoint"]["VirtualIPs"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let vip = v["Addr"].as_str().unwrap_or_default();
                let vip = vip.split('/').next().unwrap_or_default().to_string();
                let net = v["NetworkID"].as_str().unwrap_or_default();
                add("inet/vips4", vip.clone());
                let backends: Vec<String> = live.iter().filter_map(|sb| addr_on(sb, net)).collect();
                if !backends.is_empty() {
                    for slot in 0..64 {
                        let b = &backends[slot % backends.len()];
                        add("inet/vipall4", format!("{vip} . {slot} : {b}"));
                    }
                }
            }
            let first = svc["Spec"]["TaskNetworks"][0]["Target"].as_str();
            let first_id = first
                .and_then(|n| snap.networks.get(n))
                .map(|n| n.0.clone());
            for p in svc["Endpoint"]["Ports"].as_array().into_iter().flatten() {
                if p["PublishMode"] != "ingress" {
                    continue;
                }
                let backends: Vec<String> = live
                    .iter()
                    .filter_map(|sb| addr_on(sb, first_id.as_deref().unwrap_or_default()))
                    .collect();
                if !backends.is_empty() {
                    for slot in 0..64 {
                        let b = &backends[slot % backends.len()];
                        add(
                            "inet/mesh4",
                            format!(
                                "{} . {} . {slot} : {b} . {}",
                                p["Protocol"].as_str().unwrap_or("tcp"),
                                p["PublishedPort"],
                                p["TargetPort"]
                            ),
                        );
                    }
                }
            }
        }
        // Which replica holds which slot is the daemon's choice: compare what each VIP or
        // mesh port's slots lead to, and which slots exist.
        let spread = |set: &BTreeSet<String>| -> BTreeSet<String> {
            let mut by_key: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
            for e in set {
                let (k, v) = e.split_once(" : ").unwrap_or((e, ""));
                let k = k.rsplit_once(" . ").map(|x| x.0).unwrap_or(k);
                let x = by_key.entry(k.to_string()).or_default();
                x.0 += 1;
                x.1.insert(v.to_string());
            }
            by_key
                .into_iter()
                .map(|(k, (n, v))| format!("{k}: {n} slots to {v:?}"))
                .collect()
        };
        let names: BTreeSet<&str> = actual
            .keys()
            .map(String::as_str)
            .chain(want.keys().copied())
            .collect();
        for set in names {
            let mut have = actual.get(set).cloned().unwrap_or_default();
            let mut need = want.get(set).cloned().unwrap_or_default();
            if matches!(set, "inet/vipall4" | "inet/mesh4" | "inet/lb4") {
                have = spread(&have);
                need = spread(&need);
            }
            for e in have.difference(&need) {
                self.flag(
                    "nft_orphan_element",
                    format!("{set}/{e}"),
                    format!("{set}: {e} has no owner"),
                );
            }
            for e in need.difference(&have) {
                self.flag(
                    "nft_missing_element",
                    format!("{set}/{e}"),
                    format!("{set}: {e} is missing"),
                );
            }
        }
    }

    /// No address is given twice on a network (endpoints, VIPs and gateways together).
    fn check_addresses(&mut self, snap: &Snapshot) {
        let mut holders: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for e in snap.endpoints() {
            holders
                .entry((e.network_id.clone(), e.ip.clone()))
                .or_default()
                .push(e.sandbox.clone());
        }
        for (name, svc) in &snap.services {
            for v in svc["Endpoint"]["VirtualIPs"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let ip = v["Addr"].as_str().unwrap_or_default();
                holders
                    .entry((
                        v["NetworkID"].as_str().unwrap_or_default().to_string(),
                        ip.split('/').next().unwrap_or_default().to_string(),
                    ))
                    .or_default()
                    .push(format!("VIP of {name}"));
            }
        }
        for (name, (id, _, gws)) in &snap.networks {
            for g in gws {
                holders
                    .entry((id.clone(), g.clone()))
                    .or_default()
                    .push(format!("gateway of {name}"));
            }
        }
        for ((net, ip), who) in holders.into_iter().filter(|(_, w)| w.len() > 1) {
            self.flag(
                "duplicate_address",
                format!("{net}/{ip}/{who:?}"),
                format!("{ip} is held by {who:?}"),
            );
        }
    }

    /// Seen from running sandboxes that together cover every user-defined network with one,
    /// each name answers exactly the addresses the daemon reports for it on the asking
    /// sandbox's networks: nothing for a removed or stopped sandbox.
    fn check_dns(&mut self, snap: &Snapshot) {
        let mut names: BTreeSet<String> = (0..SANDBOXES).map(|i| format!("cs{i}")).collect();
        for j in 0..SERVICES {
            names.insert(format!("cv{j}"));
            names.insert(format!("tasks.cv{j}"));
            for slot in 1..=MAX_REPLICAS {
                names.insert(format!("cv{j}.{slot}"));
            }
        }
        let names: Vec<String> = names.into_iter().collect();
        // What each name answers on one network: the daemon's DNSNames and VIPs.
        let answers_on = |id: &str| {
            let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for s in snap.sandboxes.iter().filter(|s| running(s)) {
                for e in s["NetworkSettings"]["Networks"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                    .filter(|e| e["NetworkID"] == id)
                {
                    let ip = e["IPAddress"].as_str().unwrap_or_default().to_string();
                    for n in e["DNSNames"].as_array().into_iter().flatten() {
                        if let Some(n) = n.as_str() {
                            want.entry(n.to_string()).or_default().insert(ip.clone());
                        }
                    }
                }
            }
            for (name, svc) in &snap.services {
                for v in svc["Endpoint"]["VirtualIPs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if v["NetworkID"] == id {
                        let ip = v["Addr"].as_str().unwrap_or_default();
                        want.entry(name.clone())
                            .or_default()
                            .insert(ip.split('/').next().unwrap_or_default().to_string());
                    }
                }
            }
            want
        };
        let user_nets: BTreeMap<&str, &str> = snap
            .networks
            .iter()
            .filter(|(n, _)| n.starts_with("cn"))
            .map(|(n, (id, _, _))| (id.as_str(), n.as_str()))
            .collect();
        let mut covered = BTreeSet::new();
        for s in snap.sandboxes.iter().filter(|s| running(s)) {
            let on: Vec<(&str, &str)> = s["NetworkSettings"]["Networks"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|e| e["NetworkID"].as_str())
                .filter_map(|id| user_nets.get_key_value(id).map(|(i, n)| (*i, *n)))
                .collect();
            if on.iter().all(|(id, _)| covered.contains(id)) {
                continue;
            }
            let prober = name_of(s);
            let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (id, _) in &on {
                covered.insert(*id);
                for (n, ips) in answers_on(id) {
                    want.entry(n).or_default().extend(ips);
                }
            }
            let Some(got) = dig(self.h, &prober, &names) else {
                continue;
            };
            self.looked[3] += got.values().map(BTreeSet::len).sum::<usize>();
            let nets: Vec<&str> = on.iter().map(|(_, n)| *n).collect();
            let empty = BTreeSet::new();
            for n in &names {
                let w = want.get(n).unwrap_or(&empty);
                let g = got.get(n).unwrap_or(&empty);
                for ip in g.difference(w) {
                    self.flag(
                        "dns_stale_name",
                        format!("{n}/{ip}"),
                        format!(
                            "{n} answers {ip} in {prober} (on {nets:?}), which the daemon does not give it"
                        ),
                    );
                }
                for ip in w.difference(g) {
                    self.flag(
                        "dns_missing_name",
                        format!("{n}/{ip}/{}", self.round),
                        format!("{n} does not answer {ip} in {prober} (on {nets:?})"),
                    );
                }
            }
        }
    }

    /// Published ports answer with their sandbox's host name; mesh ports with one of the
    /// live replicas'.
    fn check_ports(&mut self, snap: &Snapshot) {
        for s in snap.sandboxes.iter().filter(|s| running(s)) {
            let name = name_of(s);
            let Some(hostname) = snap
                .inspect
                .get(&name)
                .and_then(|i| i["Config"]["Hostname"].as_str())
            else {
                continue;
            };
            for p in s["Ports"].as_array().into_iter().flatten() {
                let Some(port) = p["PublicPort"].as_u64() else {
                    continue;
                };
                self.looked[4] += 1;
                if !eventually(5, || answer(self.h, port) == hostname) {
                    self.flag(
                        "port_not_answering",
                        format!("{name}/{port}/{}", self.round),
                        format!("{name}'s port {port} does not answer"),
                    );
                }
            }
        }
        for (name, svc) in &snap.services {
            let hosts: BTreeSet<String> = snap
                .live_replicas(name)
                .iter()
                .filter_map(|sb| snap.inspect.get(&name_of(sb)))
                .filter_map(|i| i["Config"]["Hostname"].as_str().map(String::from))
                .collect();
            if hosts.is_empty() {
                continue;
            }
            for p in svc["Endpoint"]["Ports"].as_array().into_iter().flatten() {
                let Some(port) = p["PublishedPort"].as_u64() else {
                    continue;
                };
                self.looked[4] += 1;
                if !eventually(5, || hosts.contains(&answer(self.h, port))) {
                    self.flag(
                        "port_not_answering",
                        format!("{name}/{port}/{}", self.round),
                        format!("service {name}'s mesh port {port} does not answer"),
                    );
                }
            }
        }
    }

    /// A random batch of operations that fit what exists.
    fn operations(&self, rng: &mut Rng, snap: &Snapshot) -> Vec<Vec<String>> {
        let mut nets: BTreeSet<String> = snap
            .networks
            .keys()
            .filter(|n| n.starts_with("cn"))
            .cloned()
            .collect();
        // name → (running, networks)
        let mut sbs: BTreeMap<String, (bool, BTreeSet<String>)> = snap
            .sandboxes
            .iter()
            .filter(|s| name_of(s).starts_with("cs"))
            .map(|s| {
                let n = s["NetworkSettings"]["Networks"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                (name_of(s), (running(s), n))
            })
            .collect();
        let mut svcs: BTreeSet<String> = snap.services.keys().cloned().collect();
        let program = |extra: &mut Vec<String>| {
            extra.extend([
                "--".to_string(),
                "socat".to_string(),
                "TCP-LISTEN:80,fork,reuseaddr".to_string(),
                format!("SYSTEM:echo $HOSTNAME; : {}", self.token),
            ]);
        };
        let mut ops = Vec::new();
        let count = 2 + rng.below(4);
        while (ops.len() as u64) < count {
            let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
            let net_list: Vec<String> = nets.iter().cloned().collect();
            let sb_list: Vec<String> = sbs.keys().cloned().collect();
            let op = match rng.below(11) {
                0 => {
                    let k = rng.below(NETWORKS as u64);
                    let name = format!("cn{k}");
                    if !nets.insert(name.clone()) {
                        continue;
                    }
                    s(&[
                        "network",
                        "create",
                        "--subnet",
                        &format!("10.77.{k}.0/24"),
                        &name,
                    ])
                }
                1 => {
                    let Some(n) = rng.pick(&net_list).cloned() else {
                        continue;
                    };
                    nets.remove(&n);
                    s(&["network", "rm", &n])
                }
                2 | 3 => {
                    let name = format!("cs{}", rng.below(SANDBOXES as u64));
                    if sbs.contains_key(&name) {
                        continue;
                    }
                    let net = rng.pick(&net_list).cloned().unwrap_or("bridge".into());
                    let net = if rng.chance(20) { "bridge".into() } else { net };
                    let mut a = s(&["run", "-d", "--name", &name, "--network", &net]);
                    if rng.chance(50) {
                        a.extend(s(&["-p", "127.0.0.1::80"]));
                    }
                    program(&mut a);
                    sbs.insert(name, (true, [net].into()));
                    a
                }
                4 => {
                    let Some(n) = rng.pick(&sb_list).cloned() else {
                        continue;
                    };
                    sbs.remove(&n);
                    s(&["rm", "-f", &n])
                }
                5 => {
                    let (Some(n), Some(net)) =
                        (rng.pick(&sb_list).cloned(), rng.pick(&net_list).cloned())
                    else {
                        continue;
                    };
                    if let Some(x) = sbs.get_mut(&n) {
                        if x.1.contains("bridge") || !x.1.insert(net.clone()) {
                            continue;
                        }
                    }
                    s(&["network", "connect", &net, &n])
                }
                6 => {
                    let Some(n) = rng.pick(&sb_list).cloned() else {
                        continue;
                    };
                    let on: Vec<String> = sbs[&n].1.iter().cloned().collect();
                    let Some(net) = rng.pick(&on).cloned() else {
                        continue;
                    };
                    if let Some(x) = sbs.get_mut(&n) {
                        x.1.remove(&net);
                    }
                    s(&["network", "disconnect", &net, &n])
                }
                7 => {
                    let Some(n) = rng.pick(&sb_list).cloned() else {
                        continue;
                    };
                    let x = sbs.get_mut(&n).unwrap();
                    x.0 = !x.0;
                    if x.0 {
                        s(&["start", &n])
                    } else {
                        s(&["stop", "-t", "1", &n])
                    }
                }
                8 => {
                    let j = rng.below(SERVICES as u64);
                    let name = format!("cv{j}");
                    let Some(net) = rng.pick(&net_list).cloned() else {
                        continue;
                    };
                    if !svcs.insert(name.clone()) {
                        continue;
                    }
                    let r = (1 + rng.below(MAX_REPLICAS)).to_string();
                    let mut a = s(&[
                        "service",
                        "create",
                        "--name",
                        &name,
                        "--network",
                        &net,
                        "--replicas",
                        &r,
                    ]);
                    if rng.chance(50) {
                        a.extend(s(&["--publish", &format!("{}:80", MESH_PORT + j as u16)]));
                    }
                    program(&mut a);
                    a
                }
                9 => {
                    let list: Vec<String> = svcs.iter().cloned().collect();
                    let Some(n) = rng.pick(&list).cloned() else {
                        continue;
                    };
                    let r = rng.below(MAX_REPLICAS + 1);
                    s(&["service", "scale", &format!("{n}={r}")])
                }
                _ => {
                    let list: Vec<String> = svcs.iter().cloned().collect();
                    let Some(n) = rng.pick(&list).cloned() else {
                        continue;
                    };
                    svcs.remove(&n);
                    s(&["service", "rm", &n])
                }
            };
            ops.push(op);
        }
        ops
    }
}

#[test]
fn random_kills_during_every_operation_leave_nothing_behind() {
    let seed = std::env::var("FERRY_CHURN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                ^ u64::from(std::process::id())
        });
    println!("churn seed: {seed} (FERRY_CHURN_SEED={seed} draws the same operations)");
    let mut rng = Rng(seed);
    let mut h = Host::new();
    // Names the resolver does not know are forwarded: to the test's own loopback, where
    // nothing listens, so they fail at once wherever the test runs.
    h.stop_daemon(false);
    std::fs::write(
        h.dir.path().join("daemon.json"),
        r#"{"dns": ["127.0.0.1"]}"#,
    )
    .unwrap();
    h.start_daemon();
    let cli = Cli { socket: h.socket() };
    let token = format!("ferrychurn{seed:x}");
    let mut ops_run = 0usize;
    let mut kills = 0usize;
    let mut found = Findings::default();
    let mut looked = [0usize; 5];
    let mut names = BTreeMap::new();
    // Operations that succeeded, were refused, were cut short by the kill, came after it.
    let mut outcomes = [0usize; 4];
    // Each round: a thread runs a batch of operations while this one kills the daemon after
    // a random delay; then the daemon is started again and what it left is checked.
    let rounds = std::env::var("FERRY_CHURN_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ROUNDS);
    for round in 1..=rounds {
        let snap = Snapshot::take(&h);
        let mut churn = Churn {
            h: &h,
            token: token.clone(),
            found,
            round,
            looked,
            names,
        };
        churn.remember(&snap);
        let batch = churn.operations(&mut rng, &snap);
        found = std::mem::take(&mut churn.found);
        names = std::mem::take(&mut churn.names);
        ops_run += batch.len();
        // The kill lands during a chosen operation of the batch, at a random moment of it
        // (operations take tens to hundreds of milliseconds).
        let victim = rng.below(batch.len() as u64) as usize;
        let delay = rng.below(150);
        println!(
            "round {round}: {} sandboxes ({} running), {} services, {} networks; kill {delay} ms into operation {} of: {}",
            snap.sandboxes.len(),
            snap.sandboxes.iter().filter(|s| running(s)).count(),
            snap.services.len(),
            snap.networks.len(),
            victim + 1,
            batch
                .iter()
                .map(|op| op.iter().take_while(|a| *a != "--").cloned().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let c = cli.clone();
        let (started, starts) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            batch
                .iter()
                .enumerate()
                .map(|(i, op)| {
                    let _ = started.send(i);
                    c.run(op)
                })
                .collect::<Vec<_>>()
        });
        while let Ok(i) = starts.recv() {
            if i == victim {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(delay));
        h.stop_daemon(true);
        kills += 1;
        let results = worker.join().unwrap_or_default();
        for r in &results {
            match r {
                Ok(()) => outcomes[0] += 1,
                Err(e) if e.contains("cannot connect to the ferry daemon") => outcomes[3] += 1,
                Err(e) if e.contains("talking to the ferry daemon") => outcomes[2] += 1,
                Err(_) => outcomes[1] += 1,
            }
        }
        // Now and then the next start is killed too, at a random moment of its reconcile.
        if rng.chance(25) {
            let delay = rng.below(150);
            println!("    and {delay} ms into the start that follows");
            h.spawn_daemon(&[]);
            std::thread::sleep(Duration::from_millis(delay));
            h.stop_daemon(true);
            kills += 1;
        }
        if let Err(e) = h.try_start_daemon(&[]) {
            // Nothing more can be checked: the rest of the log says why.
            let why = e.lines().rev().find(|l| l.contains("Error")).unwrap_or("");
            found.add(round, "daemon_not_starting", String::new(), why.to_string());
            println!("{e}");
            break;
        }
        let mut churn = Churn {
            h: &h,
            token: token.clone(),
            found,
            round,
            looked,
            names,
        };
        churn.check();
        found = churn.found;
        looked = churn.looked;
        names = churn.names;
    }

    let total: usize = found.by_kind.values().map(Vec::len).sum();
    let mut summary = format!(
        "churn seed {seed}: {kills} kills, {ops_run} operations, {total} violations\n  \
         operations: {} succeeded, {} refused, {} cut short by the kill, {} after it\n  \
         checked: {} sandbox processes, {} veths, {} nftables elements, {} DNS answers, {} ports\n",
        outcomes[0],
        outcomes[1],
        outcomes[2],
        outcomes[3],
        looked[0],
        looked[1],
        looked[2],
        looked[3],
        looked[4]
    );
    for kind in KINDS {
        let v = found.by_kind.get(kind).map(Vec::as_slice).unwrap_or(&[]);
        summary.push_str(&format!("  {kind}: {}\n", v.len()));
        for d in v.iter().take(3) {
            summary.push_str(&format!("      {d}\n"));
        }
    }
    println!("{summary}");
    assert!(kills >= rounds || found.by_kind.contains_key("daemon_not_starting"));
    assert_eq!(total, 0, "{summary}");
}

//! Crash safety and live restore: restarts keep state and running sandboxes; a killed daemon
//! leaves nothing behind once it is back.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host};

#[test]
fn a_restart_keeps_networks_addresses_and_running_sandboxes() {
    let mut h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.81.0.0/24", "keep"]);
    h.echo_server("srv", &["--network", "keep"], 7200);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "keep",
        "--",
        "sleep",
        "600",
    ]);
    let ip = h.ip("srv", "keep");
    let pid = h.inspect("srv")["State"]["Pid"].as_u64().unwrap();
    for kill in [false, true] {
        h.stop_daemon(kill);
        // Sandboxes keep running and talking while the daemon is away.
        assert_eq!(h.tcp("c", &ip, 7200).code, 1, "exec needs the daemon");
        h.start_daemon();
        assert_eq!(h.ip("srv", "keep"), ip);
        assert_eq!(h.inspect("srv")["State"]["Pid"].as_u64().unwrap(), pid);
        assert_eq!(h.tcp("c", &ip, 7200).stdout.trim(), "pong");
    }
    // Addresses in use stay taken after the restart: the next one is new.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "d",
        "--network",
        "keep",
        "--",
        "sleep",
        "600",
    ]);
    let d = h.ip("d", "keep");
    assert!(d != ip && d != h.ip("c", "keep"), "{d}");
    // The adopted process's exit is still noticed.
    h.ok(&["stop", "-t", "1", "srv"]);
    assert_eq!(h.inspect("srv")["State"]["Status"], "exited");
    assert!(h.daemon_log().contains("adopted running sandbox"));
}

#[test]
fn kill_9_then_restart_leaves_no_orphans() {
    let mut h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.82.0.0/24", "n"]);
    // `gone` leaves a background process behind when its main process dies.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "--network",
        "n",
        // No init and no PID namespace of its own: nothing but ferry ends the leftover.
        "--pid",
        "host",
        "--init=false",
        "--",
        "sh",
        "-c",
        "sleep 600 & exec sleep 601",
    ]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "stays",
        "--network",
        "n",
        "--",
        "sleep",
        "600",
    ]);
    let pid = h.inspect("gone")["State"]["Pid"].as_u64().unwrap() as u32;
    let group = || ferry_kernel::netns::pids_in(&ferry_kernel::netns::of_pid(pid));
    assert!(eventually(5, || group().len() == 2), "{:?}", group());
    let child = *group().iter().find(|p| **p != pid).unwrap();
    h.stop_daemon(true);
    // While the daemon is down the main process dies, and debris of an interrupted operation
    // appears: a veth with ferry's mark that no record owns.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let made = h.sh("ip link add vfdeadbeef01 type veth peer name tmp0");
    assert_eq!(made.code, 0, "{}", made.stderr);
    let made =
        h.sh("ip link add fr-orphan type bridge && ip link set fr-orphan alias ferry:net:deadbeef");
    assert_eq!(made.code, 0, "{}", made.stderr);
    h.start_daemon();
    let links = h.links();
    assert!(!links.iter().any(|l| l == "vfdeadbeef01"), "{links:?}");
    assert!(!links.iter().any(|l| l == "fr-orphan"), "{links:?}");
    assert_eq!(
        h.veths(),
        1,
        "only the live sandbox's veth remains: {links:?}"
    );
    assert!(
        eventually(5, || !common::is_alive(child)),
        "the leftover process was killed"
    );
    let gone = h.inspect("gone");
    assert_eq!(gone["State"]["Status"], "exited");
    assert_eq!(gone["State"]["ExitCode"], 255);
    assert_eq!(h.inspect("stays")["State"]["Status"], "running");
    // Removing everything leaves only the default bridge.
    h.ok(&["rm", "-f", "gone", "stays"]);
    h.ok(&["network", "rm", "n"]);
    let links = h.links();
    assert_eq!(
        links
            .iter()
            .filter(|l| l.starts_with("vf") || l.starts_with("fr-"))
            .count(),
        0,
        "{links:?}"
    );
    assert!(links.iter().any(|l| l == "ferry0"));
}

#[test]
fn a_sandbox_s_leftover_processes_end_with_it() {
    let h = Host::new();
    h.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        // No init and no PID namespace of its own: nothing but ferry ends the leftover.
        "--pid",
        "host",
        "--init=false",
        "--",
        "sh",
        "-c",
        "sleep 600 & exec sleep 601",
    ]);
    let pid = h.inspect("p")["State"]["Pid"].as_u64().unwrap() as u32;
    let ns = ferry_kernel::netns::identity(&ferry_kernel::netns::of_pid(pid)).unwrap();
    assert!(eventually(5, || ferry_kernel::netns::pids_in_identity(ns)
        .len()
        == 2));
    h.ok(&["stop", "-t", "1", "p"]);
    assert!(eventually(5, || ferry_kernel::netns::pids_in_identity(ns).is_empty()));
}

#[test]
fn a_removed_bridge_is_restored_on_restart() {
    let mut h = Host::new();
    h.ok(&[
        "network",
        "create",
        "--subnet",
        "10.83.0.0/24",
        "-o",
        "com.docker.network.bridge.name=br-restore",
        "r",
    ]);
    h.stop_daemon(false);
    assert_eq!(h.sh("ip link del br-restore").code, 0);
    h.start_daemon();
    let a = h.sh("ip -o addr show dev br-restore").stdout;
    assert!(a.contains("10.83.0.1/24"), "{a}");
}

#[test]
fn a_second_daemon_on_the_same_data_root_refuses_to_start() {
    let h = Host::new();
    let r = std::process::Command::new(common::ferry_bin())
        .args(["daemon", "--data-root"])
        .arg(h.data_root())
        .arg("--exec-root")
        .arg(h.dir.path().join("run2"))
        .arg("--config-file")
        .arg(h.dir.path().join("daemon.json"))
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("another ferry daemon") && e.contains("is using data root"),
        "{e}"
    );
}

#[test]
fn the_cli_says_when_no_daemon_runs() {
    let r = std::process::Command::new(common::ferry_bin())
        .args(["-H", "unix:///nonexistent/ferry.sock", "network", "ls"])
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0));
    let e = String::from_utf8_lossy(&r.stderr);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("cannot connect to the ferry daemon at unix:///nonexistent/ferry.sock"),
        "{e}"
    );
}

/// The sandbox directories under the data root.
fn sandbox_dirs(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(h.data_root().join("sandboxes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Full IDs of every sandbox the daemon knows, sorted.
fn sandbox_ids(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = h
        .ok(&["ps", "-aq", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Names of every sandbox the daemon knows, sorted.
fn sandbox_names(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = h
        .ok(&["ps", "-a", "--format", "json"])
        .lines()
        .map(|l| {
            let s: serde_json::Value = serde_json::from_str(l).unwrap();
            s["Names"][0]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    v.sort();
    v
}

/// `service ps NAME` as (name, desired state, current state), sorted.
fn tasks(h: &Host, service: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = h
        .ok(&["service", "ps", service])
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect();
    out.sort();
    out
}

/// The IPv4 addresses `name` resolves to inside `from`, sorted.
fn resolve(h: &Host, from: &str, name: &str) -> Vec<String> {
    let r = h.ferry(&["exec", from, "--", "getent", "ahostsv4", name]);
    let mut v: Vec<String> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The elements of the VIP balancer's slot maps (`vipall4_0` … `vipall4_63`), as
/// `SLOT: VIP : REPLICA`.
fn vip_slots(h: &Host) -> Vec<String> {
    let r = h.sh("nft -j list table inet ferry");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut out = Vec::new();
    for o in v["nftables"].as_array().unwrap() {
        let Some(slot) = o["map"]["name"]
            .as_str()
            .and_then(|n| n.strip_prefix("vipall4_"))
        else {
            continue;
        };
        for e in o["map"]["elem"].as_array().into_iter().flatten() {
            out.push(format!(
                "{slot}: {} : {}",
                e[0].as_str().unwrap_or_default(),
                e[1].as_str().unwrap_or_default()
            ));
        }
    }
    out
}

/// A service of `n` sleeping replicas on a new network, with a client beside them; returns
/// each replica's (PID, address) by slot.
fn sleeping_service(h: &Host, subnet: &str, n: u32) -> Vec<(u32, String)> {
    h.ok(&["network", "create", "--subnet", subnet, "svcnet"]);
    h.sleeper("cli", &["--network", "svcnet"]);
    h.ok(&[
        "service",
        "create",
        "--name",
        "web",
        "--network",
        "svcnet",
        "--replicas",
        &n.to_string(),
        "--",
        "sleep",
        "600",
    ]);
    assert!(
        eventually(20, || tasks(h, "web")
            .iter()
            .filter(|t| t.2 == "running")
            .count()
            == n as usize),
        "{:?}",
        tasks(h, "web")
    );
    (1..=n)
        .map(|slot| {
            let name = format!("web.{slot}");
            let pid = h.inspect(&name)["State"]["Pid"].as_u64().unwrap() as u32;
            (pid, h.ip(&name, "svcnet"))
        })
        .collect()
}

#[test]
fn a_crash_in_a_scale_down_leaves_no_surplus_replica_once_restarted() {
    let mut h = Host::new();
    let replicas = sleeping_service(&h, "10.84.0.0/24", 3);
    h.stop_daemon(false);
    h.start_daemon_crashing_at("service-update-saved");
    assert_ne!(h.ferry(&["service", "scale", "web=1"]).code, 0);
    h.wait_daemon_crashed();
    // What the crash leaves: the count of 1 on record, three replicas running.
    for (pid, _) in &replicas {
        assert!(common::is_alive(*pid));
    }
    h.start_daemon();
    // Removed before the API answered.
    for (pid, _) in &replicas[1..] {
        assert!(!common::is_alive(*pid), "surplus replica {pid} still runs");
    }
    assert!(common::is_alive(replicas[0].0));
    assert_eq!(sandbox_names(&h), ["cli", "web.1"]);
    assert_eq!(
        tasks(&h, "web"),
        [("web.1".into(), "Running".into(), "running".into())]
    );
    let svc: serde_json::Value =
        serde_json::from_str(&h.ok(&["service", "inspect", "web"])).unwrap();
    assert_eq!(svc[0]["ServiceStatus"]["RunningTasks"], 1);
    assert_eq!(svc[0]["ServiceStatus"]["DesiredTasks"], 1);
    assert_eq!(resolve(&h, "cli", "tasks.web"), [replicas[0].1.clone()]);
    assert!(resolve(&h, "cli", "web.2").is_empty());
    assert!(resolve(&h, "cli", "web.3").is_empty());
    // Their veths, balancer slots and directories went with them.
    assert_eq!(h.veths(), 2, "{:?}", h.links());
    let lb = vip_slots(&h);
    assert!(
        lb.iter()
            .all(|e| e.ends_with(&format!(" : {}", replicas[0].1))),
        "{lb:?}"
    );
    assert_eq!(lb.len(), 64, "{lb:?}");
    assert_eq!(sandbox_dirs(&h), sandbox_ids(&h));
    // Scaling up again makes new replicas in the freed slots.
    h.ok(&["service", "scale", "web=3"]);
    assert!(eventually(20, || tasks(&h, "web")
        .iter()
        .filter(|t| t.2 == "running")
        .count()
        == 3));
}

#[test]
fn a_crash_in_service_rm_is_finished_on_restart() {
    let mut h = Host::new();
    let replicas = sleeping_service(&h, "10.85.0.0/24", 2);
    let vip = resolve(&h, "cli", "web");
    assert_eq!(vip.len(), 1, "{vip:?}");
    h.stop_daemon(false);
    h.start_daemon_crashing_at("service-rm-saved");
    assert_ne!(h.ferry(&["service", "rm", "web"]).code, 0);
    h.wait_daemon_crashed();
    for (pid, _) in &replicas {
        assert!(common::is_alive(*pid));
    }
    h.start_daemon();
    for (pid, _) in &replicas {
        assert!(!common::is_alive(*pid), "replica {pid} still runs");
    }
    assert_eq!(h.ok(&["service", "ls", "-q"]), "");
    assert_eq!(sandbox_names(&h), ["cli"]);
    assert!(resolve(&h, "cli", "web").is_empty());
    assert!(resolve(&h, "cli", "tasks.web").is_empty());
    assert_eq!(h.veths(), 1, "{:?}", h.links());
    let addrs = h.sh("ip -o addr show").stdout;
    assert!(!addrs.contains(&format!("{}/32", vip[0])), "{addrs}");
    let vips = h.sh("nft -j list set inet ferry vips4").stdout;
    assert!(vips.contains("\"vips4\""), "{vips}");
    assert!(!vips.contains(&format!("\"{}\"", vip[0])), "{vips}");
    assert_eq!(vip_slots(&h), Vec::<String>::new());
    assert_eq!(sandbox_dirs(&h), sandbox_ids(&h));
    // The name is free again.
    h.ok(&[
        "service",
        "create",
        "--name",
        "web",
        "--network",
        "svcnet",
        "--",
        "sleep",
        "600",
    ]);
}

#[test]
fn replicas_of_a_service_whose_record_is_gone_are_removed_on_start() {
    let mut h = Host::new();
    let replicas = sleeping_service(&h, "10.86.0.0/24", 2);
    let svc: serde_json::Value =
        serde_json::from_str(&h.ok(&["service", "inspect", "web"])).unwrap();
    let id = svc[0]["ID"].as_str().unwrap().to_string();
    h.stop_daemon(false);
    {
        use ferry_store::{Op, Store, Table};
        let store = ferry_store::RedbStore::open(&h.data_root().join("ferry.db")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.apply_ops(vec![Op::delete(Table::Services, &id)]))
            .unwrap();
    }
    h.start_daemon();
    for (pid, _) in &replicas {
        assert!(
            !common::is_alive(*pid),
            "replica {pid} of no service still runs"
        );
    }
    assert_eq!(sandbox_names(&h), ["cli"]);
    assert!(resolve(&h, "cli", "tasks.web").is_empty());
    assert_eq!(h.veths(), 1, "{:?}", h.links());
    assert_eq!(sandbox_dirs(&h), sandbox_ids(&h));
}

#[test]
fn a_crash_in_rm_or_create_leaves_no_sandbox_directory_once_restarted() {
    let mut h = Host::new();
    h.sleeper("keep", &[]);
    h.sleeper("x", &[]);
    let x = h.inspect("x")["Id"].as_str().unwrap().to_string();
    h.stop_daemon(false);
    h.start_daemon_crashing_at("sandbox-rm-saved");
    assert_ne!(h.ferry(&["rm", "-f", "x"]).code, 0);
    h.wait_daemon_crashed();
    assert!(
        sandbox_dirs(&h).contains(&x),
        "the crash left x's directory"
    );
    h.start_daemon();
    assert_eq!(sandbox_names(&h), ["keep"]);
    assert_eq!(sandbox_dirs(&h), sandbox_ids(&h));

    h.stop_daemon(false);
    h.start_daemon_crashing_at("sandbox-create-dir");
    assert_ne!(
        h.ferry(&["run", "-d", "--name", "y", "--", "sleep", "600"])
            .code,
        0
    );
    h.wait_daemon_crashed();
    assert_eq!(sandbox_dirs(&h).len(), 2, "the crash left y's directory");
    h.start_daemon();
    assert_eq!(sandbox_names(&h), ["keep"]);
    assert_eq!(sandbox_dirs(&h), sandbox_ids(&h));
    // A name a crash interrupted is free.
    h.sleeper("y", &[]);
}

#[test]
fn an_unknown_crash_point_is_refused_by_name() {
    let mut h = Host::new();
    h.stop_daemon(false);
    let r = std::process::Command::new("nsenter")
        .arg(format!("--net={}", h.netns.display()))
        .arg(common::ferry_bin())
        .args(["daemon", "--data-root"])
        .arg(h.data_root())
        .arg("--exec-root")
        .arg(h.exec_root())
        .arg("--config-file")
        .arg(h.dir.path().join("daemon.json"))
        .env("FERRY_TEST_CRASH_AT", "nowhere")
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0));
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(
        e.contains("FERRY_TEST_CRASH_AT=nowhere names no crash point"),
        "{e}"
    );
    assert!(e.contains("service-rm-saved"), "{e}");
    h.start_daemon();
}

#[test]
fn a_crash_between_making_a_bridge_and_marking_it_does_not_stop_the_next_start() {
    let mut h = Host::new();
    h.stop_daemon(false);
    h.start_daemon_crashing_at("network-bridge-made");
    assert_ne!(
        h.ferry(&[
            "network",
            "create",
            "--subnet",
            "10.87.0.0/24",
            "-o",
            "com.docker.network.bridge.name=br-half",
            "half",
        ])
        .code,
        0
    );
    h.wait_daemon_crashed();
    // What the crash leaves: the network on record, its bridge without ferry's alias.
    let link: serde_json::Value =
        serde_json::from_str(&h.sh("ip -j -d link show br-half").stdout).unwrap();
    assert!(link[0]["ifalias"].is_null(), "{link}");
    h.start_daemon();
    let link: serde_json::Value =
        serde_json::from_str(&h.sh("ip -j -d link show br-half").stdout).unwrap();
    let net: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "half"])).unwrap();
    let id = net[0]["Id"].as_str().unwrap();
    assert_eq!(link[0]["ifalias"], format!("ferry:net:{id}"), "{link}");
    let a = h.sh("ip -o addr show dev br-half").stdout;
    assert!(a.contains("10.87.0.1/24"), "{a}");
    // The network works, and goes with its bridge.
    h.echo_server("srv", &["--network", "half"], 7300);
    h.sleeper("cli", &["--network", "half"]);
    assert_eq!(
        h.tcp("cli", &h.ip("srv", "half"), 7300).stdout.trim(),
        "pong"
    );
    h.ok(&["rm", "-f", "srv", "cli"]);
    h.ok(&["network", "rm", "half"]);
    assert!(!h.links().iter().any(|l| l == "br-half"));
}

#[test]
fn a_stranger_s_interface_with_a_network_s_bridge_name_is_not_taken() {
    let mut h = Host::new();
    h.ok(&[
        "network",
        "create",
        "--subnet",
        "10.88.0.0/24",
        "-o",
        "com.docker.network.bridge.name=br-taken",
        "taken",
    ]);
    h.stop_daemon(false);
    // While the daemon is down the bridge goes, and someone else makes one of that name.
    assert_eq!(
        h.sh("ip link del br-taken && ip link add br-taken type bridge")
            .code,
        0
    );
    h.spawn_daemon(&[]);
    assert!(
        eventually(20, || h.daemon_log().contains("br-taken already exists")),
        "{}",
        h.daemon_log()
    );
    let link: serde_json::Value =
        serde_json::from_str(&h.sh("ip -j -d link show br-taken").stdout).unwrap();
    assert!(
        link[0]["ifalias"].is_null(),
        "the stranger's bridge was marked: {link}"
    );
}

/// PIDs of the processes whose command line is `argv`.
fn pids_running(argv: &[&str]) -> Vec<u32> {
    let want = argv.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline")).ok() == Some(want.clone())
        })
        .collect()
}

#[test]
fn a_crash_between_a_start_and_its_record_leaves_nothing_running_once_restarted() {
    let mut h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.83.0.0/24", "n"]);
    h.stop_daemon(false);
    // `run -d` records the sandbox with its start's intent in one commit; the daemon dies
    // once the program runs on its veth, before its PID and namespace are recorded.
    h.start_daemon_crashing_at("sandbox-start-spawned");
    let argv = ["sleep", "6071"];
    let run = h.ferry(&[
        "run",
        "-d",
        "--name",
        "s",
        "--network",
        "n",
        "--ip",
        "10.83.0.9",
        "--",
        argv[0],
        argv[1],
    ]);
    assert_ne!(run.code, 0);
    h.wait_daemon_crashed();
    let left = pids_running(&argv);
    assert_eq!(left.len(), 1, "the crash left the program running");
    assert_eq!(h.veths(), 1, "the crash left the sandbox's veth");
    h.start_daemon();
    assert!(
        eventually(5, || !common::is_alive(left[0])),
        "the program the crash left was killed"
    );
    assert!(eventually(5, || h.veths() == 0), "{:?}", h.links());
    let s = h.inspect("s");
    assert_eq!(s["State"]["Status"], "exited");
    assert_eq!(s["State"]["ExitCode"], 255);
    // Its address is free again, and the sandbox starts as any other.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "--network",
        "n",
        "--ip",
        "10.83.0.9",
        "--",
        "sleep",
        "600",
    ]);
    h.ok(&["rm", "-f", "t"]);
    h.ok(&["start", "s"]);
    assert_eq!(h.inspect("s")["State"]["Status"], "running");
    assert_eq!(h.ip("s", "n"), "10.83.0.9");
}

/// Whether any process is in, or holds a descriptor of, the network namespace `ns`
/// (`net:[INODE]`), or a mount keeps it.
fn netns_in_use(ns: &str) -> bool {
    let inode = ns.trim_start_matches("net:[").trim_end_matches(']');
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(&format!("net:[{inode}]")));
    let procs = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok());
    mounted
        || procs.into_iter().any(|p| {
            let own = std::fs::read_link(format!("/proc/{p}/ns/net"))
                .is_ok_and(|l| l.display().to_string() == ns);
            own || std::fs::read_dir(format!("/proc/{p}/fd")).is_ok_and(|fds| {
                fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|l| l.display().to_string() == ns)
            })
        })
}

#[test]
fn sandboxes_made_ahead_of_starts_are_gone_with_a_killed_daemon() {
    let mut h = Host::new();
    // After a start, the daemon makes standby sandbox processes for the next ones.
    h.sleeper("a", &[]);
    let pid = h.daemon_pid().unwrap();
    assert!(
        eventually(10, || common::standbys_of(pid).len() >= 2),
        "{:?}",
        common::standbys_of(pid)
    );
    let tree = h.cgroup_tree().expect("the daemon's cgroup tree");
    let standbys: Vec<(u32, String, String)> = common::standbys_of(pid)
        .into_iter()
        .map(|s| {
            let ns = std::fs::read_link(format!("/proc/{s}/ns/net"))
                .unwrap()
                .display()
                .to_string();
            // Born in the cgroup of the sandbox ID it was made for.
            let cgroup = std::fs::read_to_string(format!("/proc/{s}/cgroup")).unwrap();
            let id = cgroup.trim().rsplit('/').next().unwrap().to_string();
            assert!(
                tree.join("sandboxes").join(&id).is_dir(),
                "{cgroup} is not a sandbox's cgroup of {}",
                tree.display()
            );
            (s, ns, id)
        })
        .collect();
    h.stop_daemon(true);
    for (s, ns, _) in &standbys {
        assert!(
            eventually(5, || !common::is_alive(*s)),
            "standby {s} outlived the daemon"
        );
        assert!(
            eventually(5, || !netns_in_use(ns)),
            "{ns} outlived the daemon"
        );
    }
    // Restarted, it sweeps their cgroups, adopts the running sandbox and starts others.
    h.start_daemon();
    for (_, _, id) in &standbys {
        assert!(
            !tree.join("sandboxes").join(id).exists(),
            "the cgroup of standby {id} was left"
        );
    }
    assert_eq!(h.inspect("a")["State"]["Status"], "running");
    h.sleeper("b", &["--network", "none"]);
    assert_eq!(h.inspect("b")["State"]["Status"], "running");
}

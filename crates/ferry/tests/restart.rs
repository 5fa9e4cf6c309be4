//! Crash safety and live restore: restarts keep state and running sandboxes; a killed daemon
//! leaves nothing behind once it is back.

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

//! ferry's CNI plugin under real runtimes: podman 4.3 with its CNI backend and
//! `ctr run --cni` with a private containerd put busybox containers on a ferry network, the
//! container gets its static address, its alias resolves from ferry's sandboxes, its published
//! port answers, and removing it leaves no endpoint or rule behind.
//!
//! Everything runs in the test's own network namespace and a mount namespace of its own, whose
//! tmpfs mounts over `/run/netns`, `/var/lib/cni`, `/etc/cni/net.d`, `/opt` and
//! `/run/containerd` keep the runtimes' files off the machine; the daemon runs there too, as
//! the paths the runtimes hand it only exist there.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{busybox_rootfs, eventually, Host, MountNs, Run};
use std::process::{Command, Stdio};

/// What the private mount namespace holds.
const RUNTIME_MOUNTS: &str = "set -e
            mount -t tmpfs cni-netns /run/netns 2>/dev/null || { mkdir -p /run/netns; mount -t tmpfs cni-netns /run/netns; }
            mkdir -p /var/lib/cni /etc/cni/net.d /run/containerd
            mount -t tmpfs cni-cache /var/lib/cni
            mount -t tmpfs cni-conf /etc/cni/net.d
            mount -t tmpfs cni-opt /opt
            mount -t tmpfs cni-containerd /run/containerd
            mkdir -p /opt/cni/bin
            echo ready
            exec sleep infinity";

/// Fails the test, naming the Debian package, when a runtime's program is missing.
fn require(programs: &[(&str, &str)]) {
    for (prog, pkg) in programs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{prog} is missing: apt-get install {pkg}");
    }
}

/// Runs `sh -c cmd` in the host's network namespace and the runtimes' mount namespace.
fn sh(h: &Host, m: &MountNs, cmd: &str) -> Run {
    let o = Command::new("nsenter")
        .arg(format!("--mount={}", m.path().display()))
        .arg(format!("--net={}", h.netns.display()))
        .args(["sh", "-c", cmd])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn sh_ok(h: &Host, m: &MountNs, cmd: &str) -> String {
    let r = sh(h, m, cmd);
    assert_eq!(r.code, 0, "{cmd}: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// The network list ferry ships (examples/cni/ferry.conflist), pointed at the test's daemon.
fn conflist(h: &Host, name: &str) -> String {
    let example = include_str!("../../../examples/cni/ferry.conflist");
    let mut v: serde_json::Value = serde_json::from_str(example).unwrap();
    v["name"] = name.into();
    v["plugins"][0]["socket"] = h.socket().display().to_string().into();
    v.to_string()
}

/// What a removed container must not leave: a sandbox record (only `keep` stay), a veth,
/// an nft rule of its address or port.
fn assert_nothing_left(h: &Host, veths_before: usize, addr: &str, port: &str, keep: &[&str]) {
    let left = || {
        h.ok(&["ps", "-a"])
            .lines()
            .skip(1)
            .filter(|l| !keep.iter().any(|k| l.ends_with(k)))
            .count()
    };
    assert!(
        eventually(10, || left() == 0),
        "endpoint left: {}",
        h.ok(&["ps", "-a"])
    );
    assert!(eventually(10, || h.veths() == veths_before), "veth left");
    let rules = h.sh("nft list ruleset").stdout;
    assert!(!rules.contains(addr), "rules of {addr} left: {rules}");
    assert!(!rules.contains(port), "rules of port {port} left: {rules}");
}

#[test]
fn podman_runs_a_container_on_a_ferry_network_with_ip_alias_and_port() {
    require(&[
        ("podman", "podman"),
        ("runc", "runc"),
        ("busybox", "busybox-static"),
    ]);
    let m = MountNs::new(RUNTIME_MOUNTS);
    let h = Host::with_mount_ns(&m.path());
    h.ok(&["network", "create", "--subnet", "10.94.0.0/24", "ferrynet"]);
    h.sleeper("cli", &["--network", "ferrynet"]);
    let veths_before = h.veths();
    let w = h.dir.path().join("podman");
    let (bin, netd) = (w.join("bin"), w.join("net.d"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&netd).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ferry-cni"), bin.join("ferry")).unwrap();
    std::fs::write(netd.join("ferrynet.conflist"), conflist(&h, "ferrynet")).unwrap();
    std::fs::write(
        w.join("containers.conf"),
        format!(
            "[network]\nnetwork_backend=\"cni\"\ncni_plugin_dirs=[\"{}\"]\nnetwork_config_dir=\"{}\"\n[engine]\ncgroup_manager=\"cgroupfs\"\nevents_logger=\"file\"\n",
            bin.display(),
            netd.display()
        ),
    )
    .unwrap();
    let (_, tar) = busybox_rootfs(&w, "etc/index.html", "served by a cni container\n");
    let podman = format!(
        "CONTAINERS_CONF={w}/containers.conf podman --root {w}/root --runroot {w}/runroot --tmpdir {w}/tmp --storage-driver vfs",
        w = w.display()
    );
    sh_ok(
        &h,
        &m,
        &format!("{podman} import {} localhost/bb", tar.display()),
    );
    let nets = sh_ok(&h, &m, &format!("{podman} network ls"));
    assert!(
        nets.contains("ferrynet") && nets.contains("ferry"),
        "{nets}"
    );

    sh_ok(
        &h,
        &m,
        &format!(
            "{podman} run -d --name web1 --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
             --network ferrynet:ip=10.94.0.50,mac=02:42:0a:5e:00:32 --network-alias web -p 18090:80 \
             localhost/bb httpd -f -p 80 -h /etc"
        ),
    );
    let inside = sh_ok(&h, &m, &format!("{podman} exec web1 ip addr show eth0"));
    assert!(inside.contains("10.94.0.50/24"), "{inside}");
    assert!(inside.contains("02:42:0a:5e:00:32"), "{inside}");
    let resolv = sh_ok(&h, &m, &format!("{podman} exec web1 cat /etc/resolv.conf"));
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(h.ok(&["ps"]).contains("0.0.0.0:18090->80/tcp"));

    // The alias and the address answer from a ferry sandbox; the port from the host.
    let get = |from: &str, url: &str| {
        h.ferry(&["exec", from, "--", "wget", "-T", "5", "-qO-", url])
            .stdout
    };
    assert!(eventually(10, || get("cli", "http://web/")
        .contains("served by a cni container")));
    assert!(get("cli", "http://10.94.0.50/").contains("served by a cni container"));
    let r = h.sh("wget -T 5 -qO- http://127.0.0.1:18090/");
    assert!(
        r.stdout.contains("served by a cni container"),
        "published port: {}",
        r.stderr
    );
    // And the container resolves ferry's sandboxes.
    let ns = sh_ok(
        &h,
        &m,
        &format!("{podman} exec web1 nslookup cli 127.0.0.11"),
    );
    assert!(ns.contains(&h.ip("cli", "ferrynet")), "{ns}");

    sh_ok(&h, &m, &format!("{podman} rm -f -t 0 web1"));
    assert_nothing_left(&h, veths_before, "10.94.0.50", "18090", &["cli"]);
}

#[test]
fn ctr_runs_a_container_on_a_ferry_network_and_delete_leaves_nothing() {
    require(&[
        ("containerd", "containerd"),
        ("ctr", "containerd"),
        ("runc", "runc"),
        ("busybox", "busybox-static"),
    ]);
    let m = MountNs::new(RUNTIME_MOUNTS);
    let h = Host::with_mount_ns(&m.path());
    h.ok(&["network", "create", "--subnet", "10.95.0.0/24", "ferrynet"]);
    let veths_before = h.veths();
    let w = h.dir.path().join("ctr");
    std::fs::create_dir_all(&w).unwrap();
    let (rootfs, _) = busybox_rootfs(&w, "etc/index.html", "served by a cni container\n");
    // ctr reads the first list in /etc/cni/net.d and execs plugins from /opt/cni/bin: both
    // are the mount namespace's own tmpfs.
    sh_ok(
        &h,
        &m,
        &format!(
            "cp {} /opt/cni/bin/ferry && cat > /etc/cni/net.d/10-ferry.conflist",
            env!("CARGO_BIN_EXE_ferry-cni")
        ),
    );
    std::fs::write(w.join("10-ferry.conflist"), conflist(&h, "ferrynet")).unwrap();
    sh_ok(
        &h,
        &m,
        &format!("cp {}/10-ferry.conflist /etc/cni/net.d/", w.display()),
    );
    std::fs::write(
        w.join("containerd.toml"),
        format!(
            "version = 2\nroot = \"{w}/root\"\nstate = \"{w}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{w}/containerd.sock\"\n[ttrpc]\n  address = \"{w}/containerd.sock.ttrpc\"\n",
            w = w.display()
        ),
    )
    .unwrap();
    let mut containerd = Command::new("nsenter")
        .arg(format!("--mount={}", m.path().display()))
        .arg(format!("--net={}", h.netns.display()))
        .arg("containerd")
        .arg("--config")
        .arg(w.join("containerd.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(w.join("containerd.log")).unwrap())
        .spawn()
        .unwrap();
    let ctr = format!("ctr -a {}/containerd.sock", w.display());
    let up = eventually(20, || sh(&h, &m, &format!("{ctr} version")).code == 0);
    let out = up.then(|| {
        sh(
            &h,
            &m,
            &format!(
                "{ctr} run --rm --cni --rootfs {} c1 /bin/sh -c 'ip -o addr show eth0; ip route; nslookup default-c1 127.0.0.11'",
                rootfs.display()
            ),
        )
    });
    let _ = containerd.kill();
    let _ = containerd.wait();
    assert!(
        up,
        "containerd did not start: {}",
        std::fs::read_to_string(w.join("containerd.log")).unwrap_or_default()
    );
    let out = out.unwrap();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("inet 10.95.0."), "{}", out.stdout);
    assert!(
        out.stdout.contains("default via 10.95.0.1"),
        "{}",
        out.stdout
    );
    // ctr's container ID, namespaced, is its name on ferry's resolver.
    let addr = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("10.95.0.") && w.ends_with("/24"))
        .unwrap()
        .trim_end_matches("/24")
        .to_string();
    assert!(
        out.stdout.contains(&format!("Address: {addr}")),
        "{}",
        out.stdout
    );
    // `--rm` deleted it: ctr's DEL (no netns, no prevResult) took everything away.
    assert_nothing_left(&h, veths_before, &addr, &format!("{addr} "), &[]);
}

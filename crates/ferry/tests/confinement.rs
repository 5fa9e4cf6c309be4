//! A sandbox is a real boundary: by default it is no more privileged than a Docker
//! container, and each of Docker's switches restores exactly what it names.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;

use common::*;

/// Runs `sh -c CMD` in the sandbox through `ferry exec`.
fn exec(h: &Host, sb: &str, cmd: &str) -> Run {
    h.ferry(&["exec", sb, "--", "sh", "-c", cmd])
}

/// A line of the sandbox's `/proc/1/status`, e.g. `CapEff`.
fn status(h: &Host, sb: &str, key: &str) -> String {
    let r = exec(h, sb, &format!("grep '^{key}:' /proc/1/status"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .split_once(':')
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// Docker's default capability set, as /proc shows it.
const DOCKER_CAPS: &str = "00000000a80425fb";

/// The errno a system call gets inside the sandbox, through Python's ctypes.
fn syscall_errno(h: &Host, sb: &str, call: &str) -> String {
    let script = format!(
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = {call}; \
         print(os.strerror(ctypes.get_errno()) if r != 0 else 'ok')"
    );
    let r = h.ferry(&["exec", sb, "--", "python3", "-c", &script]);
    assert_eq!(r.code, 0, "{call}: {}", r.stderr);
    r.stdout.trim().to_string()
}

#[test]
fn a_default_sandbox_cannot_reach_the_host_or_the_daemon() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.81.0.0/24", "n"]);
    h.sleeper("s", &["--network", "n"]);
    assert_eq!(status(&h, "s", "CapEff"), DOCKER_CAPS);
    assert_eq!(status(&h, "s", "CapBnd"), DOCKER_CAPS);
    assert_eq!(status(&h, "s", "CapInh"), "0000000000000000");
    assert_eq!(status(&h, "s", "NoNewPrivs"), "1");
    assert_eq!(status(&h, "s", "Seccomp"), "2");

    // Its own addresses and routes are the daemon's to set.
    let r = exec(&h, "s", "ip addr add 10.81.0.200/32 dev eth0");
    assert_ne!(r.code, 0, "ip addr add worked");
    assert_ne!(exec(&h, "s", "ip route add 10.99.0.0/24 dev eth0").code, 0);
    // No mounts, no new namespaces, no entering others.
    assert_ne!(exec(&h, "s", "mount -t tmpfs t /mnt").code, 0);
    assert_ne!(exec(&h, "s", "unshare -n true").code, 0);
    assert_ne!(exec(&h, "s", "nsenter -t 1 -n true").code, 0);
    assert_eq!(
        syscall_errno(&h, "s", "libc.unshare(0x40000000)"),
        "Operation not permitted"
    );
    // No kernel modules, no kexec, no keyrings.
    assert_eq!(
        syscall_errno(&h, "s", "libc.syscall(313, 0, b'', 0)"),
        "Operation not permitted",
        "finit_module"
    );
    assert_eq!(
        syscall_errno(&h, "s", "libc.syscall(246, 0, 0, 0, 0)"),
        "Operation not permitted",
        "kexec_load"
    );
    // ferry's own state is not there.
    let data = h.data_root().display().to_string();
    let r = exec(
        &h,
        "s",
        &format!("ls -A {data} | wc -l; cat {data}/ferry.db"),
    );
    assert_eq!(
        r.stdout.trim(),
        "0",
        "the data root shows files: {}",
        r.stdout
    );
    assert_ne!(r.code, 0);
    let sock = h.socket().display().to_string();
    let r = exec(
        &h,
        "s",
        &format!("curl -s --max-time 2 --unix-socket {sock} http://ferry/version"),
    );
    assert_ne!(r.code, 0, "the API answered a sandbox: {}", r.stdout);
    // Only its own processes, and no host devices.
    let r = exec(&h, "s", "ps -e -o pid=,comm=");
    let procs: Vec<&str> = r.stdout.lines().collect();
    assert!(procs.len() <= 4, "{procs:?}");
    assert!(procs[0].trim().starts_with("1 "), "{procs:?}");
    assert!(!r.stdout.contains("ferry daemon"), "{}", r.stdout);
    let r = exec(&h, "s", "ls /dev");
    assert!(
        !r.stdout.contains("sda") && !r.stdout.contains("vda"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("null"), "{}", r.stdout);
    // A device node it makes (it has CAP_MKNOD, as in Docker) cannot be opened: here, the
    // disk the host's root file system is on.
    let dev = std::os::unix::fs::MetadataExt::dev(&std::fs::metadata("/").unwrap());
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let node = h.dir.path().join("disk").display().to_string();
    let r = exec(
        &h,
        "s",
        &format!("mknod {node} b {major} {minor} && head -c1 {node} | wc -c"),
    );
    assert!(
        r.stderr.contains("Operation not permitted"),
        "the host's disk opened: {} {}",
        r.stdout,
        r.stderr
    );
    // /proc/sys is read-only; the kernel's sensitive files are masked.
    assert_ne!(
        exec(&h, "s", "echo 1 > /proc/sys/net/ipv4/ip_forward").code,
        0
    );
    let masked: Vec<&str> = ["kcore", "keys", "timer_list", "sched_debug"]
        .into_iter()
        .filter(|f| std::path::Path::new("/proc").join(f).exists())
        .collect();
    assert!(!masked.is_empty());
    for f in masked {
        assert_eq!(
            exec(&h, "s", &format!("wc -c < /proc/{f}")).stdout.trim(),
            "0",
            "/proc/{f} is readable"
        );
    }
    // A separate IPC namespace and cgroup namespace.
    for ns in ["ipc", "pid", "cgroup", "uts", "mnt"] {
        let inside = exec(&h, "s", &format!("readlink /proc/1/ns/{ns}")).stdout;
        let outside = std::fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .display()
            .to_string();
        assert_ne!(
            inside.trim(),
            outside,
            "{ns} namespace shared with the host"
        );
    }
    assert_eq!(
        exec(&h, "s", "grep '^0::' /proc/self/cgroup").stdout.trim(),
        "0::/"
    );
    // Traffic still flows.
    h.sleeper("t", &["--network", "n"]);
    let ip = h.ip("t", "n");
    assert_eq!(
        exec(&h, "s", &format!("ping -c1 -W2 {ip} >/dev/null")).code,
        0
    );
}

#[test]
fn each_switch_restores_what_it_names() {
    let h = Host::new();
    h.sleeper("netadmin", &["--cap-add", "NET_ADMIN"]);
    assert_eq!(status(&h, "netadmin", "CapEff"), "00000000a80435fb");
    assert_eq!(
        exec(&h, "netadmin", "ip addr add 127.0.0.77/8 dev lo").code,
        0
    );
    assert_ne!(exec(&h, "netadmin", "mount -t tmpfs t /mnt").code, 0);

    h.sleeper("none", &["--cap-drop", "ALL", "--cap-add", "kill"]);
    assert_eq!(status(&h, "none", "CapEff"), "0000000000000020");
    h.sleeper("nochown", &["--cap-drop", "CAP_CHOWN"]);
    assert_eq!(status(&h, "nochown", "CapEff"), "00000000a80425fa");

    h.sleeper("priv", &["--privileged"]);
    assert_eq!(
        exec(&h, "priv", "mount -t tmpfs t /mnt && umount /mnt").code,
        0
    );
    assert_eq!(status(&h, "priv", "Seccomp"), "0");
    assert_eq!(status(&h, "priv", "NoNewPrivs"), "0");

    h.sleeper("unconfined", &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(status(&h, "unconfined", "Seccomp"), "0");
    assert_eq!(status(&h, "unconfined", "CapEff"), DOCKER_CAPS);
    h.sleeper("nnp", &["--security-opt", "no-new-privileges=false"]);
    assert_eq!(status(&h, "nnp", "NoNewPrivs"), "0");
    assert_eq!(status(&h, "nnp", "Seccomp"), "2");

    h.sleeper("user", &["--user", "1000:1000"]);
    assert_eq!(exec(&h, "user", "id -u; id -g").stdout, "1000\n1000\n");
    assert_eq!(status(&h, "user", "CapEff"), "0000000000000000");

    h.sleeper("hostpid", &["--pid", "host"]);
    let r = exec(&h, "hostpid", "ps -e -o comm=");
    assert!(r.stdout.lines().count() > 10, "{}", r.stdout);
    h.sleeper("joinpid", &["--pid", "container:none"]);
    let r = exec(&h, "joinpid", "ps -e -o args=");
    assert_eq!(
        r.stdout.lines().filter(|l| l.trim() == "sleep 600").count(),
        2,
        "{}",
        r.stdout
    );
    h.sleeper("hostipc", &["--ipc", "host"]);
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_eq!(
        exec(&h, "hostipc", "readlink /proc/1/ns/ipc").stdout.trim(),
        host_ipc.display().to_string()
    );

    // Binds, read-only and read-write; and the API socket, bound on purpose.
    let dir = h.dir.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "hello").unwrap();
    let d = dir.display().to_string();
    h.sleeper("ro", &["-v", &format!("{d}:{d}:ro")]);
    assert_eq!(exec(&h, "ro", &format!("cat {d}/f")).stdout, "hello");
    assert_ne!(exec(&h, "ro", &format!("echo x > {d}/g")).code, 0);
    h.sleeper("rw", &["-v", &format!("{d}:{d}")]);
    assert_eq!(exec(&h, "rw", &format!("echo x > {d}/g")).code, 0);
    assert!(dir.join("g").exists());
    let sock = h.socket().display().to_string();
    h.sleeper("api", &["-v", &format!("{sock}:{sock}")]);
    let r = exec(
        &h,
        "api",
        &format!("curl -s --max-time 2 --unix-socket {sock} http://ferry/version"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The rest of the exec root stays hidden.
    let run = h.exec_root().display().to_string();
    assert_eq!(
        exec(&h, "api", &format!("ls -A {run}")).stdout.trim(),
        "ferry.sock"
    );

    // inspect shows the switches in Docker's fields.
    let hc = &h.inspect("netadmin")["HostConfig"];
    assert_eq!(hc["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(hc["Init"], true);
    let hc = &h.inspect("ro")["HostConfig"];
    assert_eq!(hc["Binds"], serde_json::json!([format!("{d}:{d}:ro")]));
    assert_eq!(h.inspect("user")["Config"]["User"], "1000:1000");
    assert_eq!(h.inspect("hostpid")["HostConfig"]["PidMode"], "host");
    assert_eq!(h.inspect("priv")["HostConfig"]["Privileged"], true);
}

#[test]
fn signals_exit_codes_and_orphans() {
    let h = Host::new();
    // SIGTERM reaches the program through ferry's init.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "--",
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    h.ok(&["stop", "-t", "5", "trap"]);
    assert_eq!(h.inspect("trap")["State"]["ExitCode"], 7);
    h.sleeper("sleeper", &[]);
    h.ok(&["stop", "-t", "5", "sleeper"]);
    assert_eq!(h.inspect("sleeper")["State"]["ExitCode"], 143);
    // What ignores SIGTERM gets SIGKILL after the timeout.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "--",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.1; done",
    ]);
    h.ok(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(h.inspect("stubborn")["State"]["ExitCode"], 137);
    // Without the init the program is PID 1, as in Docker: SIGTERM without a handler is
    // ignored by the kernel, so stop ends with SIGKILL.
    h.sleeper("bare", &["--init=false"]);
    assert!(exec(&h, "bare", "cat /proc/1/cmdline | tr '\\0' ' '")
        .stdout
        .starts_with("sleep 600"));
    h.ok(&["stop", "-t", "1", "bare"]);
    assert_eq!(h.inspect("bare")["State"]["ExitCode"], 137);
    // The exit code reaches `ferry run`.
    let r = h.ferry(&["run", "--rm", "--", "sh", "-c", "exit 42"]);
    assert_eq!(r.code, 42, "{}", r.stderr);
    // Orphans are reaped: a grandchild whose parent died leaves no zombie.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "orphans",
        "--",
        "sh",
        "-c",
        "sh -c 'sleep 0.2 &' ; sleep 600",
    ]);
    assert!(eventually(5, || {
        let r = exec(&h, "orphans", "ps -e -o stat=,comm=");
        r.code == 0
            && !r.stdout.lines().any(|l| l.trim_start().starts_with('Z'))
            && !r.stdout.contains("sleep 0.2")
            && r.stdout.contains("sleep")
    }));
    // When the sandbox's first process ends, whatever it left behind ends with it.
    let r = exec(&h, "orphans", "sleep 1000 >/dev/null 2>&1 & echo started");
    assert_eq!(r.code, 0);
    let tree = h.cgroup_tree().expect("the daemon's cgroup tree");
    let id = h.inspect("orphans")["Id"].as_str().unwrap().to_string();
    let cg = tree.join("sandboxes").join(&id);
    assert!(cg.is_dir(), "no cgroup {}", cg.display());
    h.ok(&["stop", "-t", "1", "orphans"]);
    assert!(
        eventually(5, || !cg.exists()),
        "the sandbox's cgroup stayed"
    );
}

#[test]
fn a_root_filesystem_is_pivoted_into_and_can_be_read_only() {
    let h = Host::new();
    let root = h.dir.path().join("rootfs");
    for d in ["bin", "etc", "tmp", "data"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for tool in ["sh", "ls", "cat", "id", "touch", "sleep", "ps", "mount"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\napp:x:4242:4343::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:4343:\n").unwrap();
    std::fs::write(root.join("etc/hosts"), "").unwrap();
    let r = root.display().to_string();
    let data = h.dir.path().join("vol");
    std::fs::create_dir(&data).unwrap();
    let v = format!("{}:/data/vol", data.display());
    h.ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--rootfs",
        &r,
        "--read-only",
        "-v",
        &v,
        "--user",
        "app",
        "--",
        "sleep",
        "600",
    ]);
    assert_eq!(exec(&h, "ro", "id -u; id -g").stdout, "4242\n4343\n");
    // Nothing of the host is left: not its files, not ferry's.
    assert_ne!(exec(&h, "ro", "ls /usr/bin/python3").code, 0);
    assert_ne!(
        exec(&h, "ro", &format!("ls {}", h.data_root().display())).code,
        0
    );
    assert_ne!(
        exec(&h, "ro", "touch /tmp/x").code,
        0,
        "the root is writable"
    );
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    assert_eq!(exec(&h, "ro", "touch /data/vol/y").code, 0);
    assert!(data.join("y").exists());
    // The mount point was made in the root filesystem; /etc/hosts is the sandbox's.
    assert!(root.join("data/vol").is_dir());
    assert!(exec(&h, "ro", "cat /etc/hosts")
        .stdout
        .contains("localhost"));
    h.ok(&[
        "run", "-d", "--name", "rw", "--rootfs", &r, "--", "sleep", "600",
    ]);
    assert_eq!(exec(&h, "rw", "touch /tmp/x").code, 0);
    assert!(root.join("tmp/x").exists());
}

#[test]
fn the_daemon_leaves_no_cgroup_behind_and_sweeps_what_a_crash_left() {
    let mut h = Host::new();
    let tree = h.cgroup_tree().expect("the daemon's cgroup tree");
    assert!(tree.join("daemon").is_dir());
    // A clean exit with nothing running removes the whole tree.
    h.stop_daemon(false);
    assert!(
        !tree.exists(),
        "{} stayed after a clean exit",
        tree.display()
    );
    // With a sandbox running, only what the sandbox needs stays, and a restart adopts it.
    h.start_daemon();
    h.sleeper("keep", &[]);
    let id = h.inspect("keep")["Id"].as_str().unwrap().to_string();
    h.stop_daemon(false);
    assert!(!tree.join("daemon").exists());
    assert!(tree.join("sandboxes").join(&id).is_dir());
    h.start_daemon();
    assert_eq!(h.inspect("keep")["State"]["Status"], "running");
    // A cgroup no sandbox owns (what a start the daemon died in leaves) is killed and removed.
    let stray = tree.join("sandboxes").join("0".repeat(64));
    std::fs::create_dir(&stray).unwrap();
    h.spawn(&format!(
        "sh -c 'echo $$ > {}/cgroup.procs; exec sleep 600'",
        stray.display()
    ));
    assert!(eventually(5, || ferry_kernel::process::cgroup::populated(
        &stray
    )));
    h.stop_daemon(true);
    h.start_daemon();
    assert!(!stray.exists(), "the stray cgroup survived a restart");
    assert_eq!(h.inspect("keep")["State"]["Status"], "running");
}

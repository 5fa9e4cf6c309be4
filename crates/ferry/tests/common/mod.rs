//! A private "host" for one test: a network namespace of its own (kept by a bind mount in a
//! temporary directory), private data and exec roots, and a ferry daemon running inside it.
//! Everything the daemon makes lives in that namespace, so tests run in parallel and never
//! touch the real host's network. Dropping the host tears it all down.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The ferry binary under test.
pub fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// One test host.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub netns: PathBuf,
    daemon: Option<Child>,
    extra_args: Vec<String>,
    /// A mount namespace the daemon runs in (`/proc/PID/ns/mnt`), when not the test's own.
    mount_ns: Option<PathBuf>,
}

/// Result of a CLI call.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Host {
    /// A new host with a daemon running.
    pub fn new() -> Self {
        Self::with_args(&[])
    }

    /// A new host whose daemon gets extra flags.
    pub fn with_args(args: &[&str]) -> Self {
        Self::build(args, None)
    }

    /// A new host whose daemon runs in the mount namespace at `mount_ns`, where the clients
    /// that hand it namespace paths (container runtimes) run too.
    pub fn with_mount_ns(mount_ns: &Path) -> Self {
        Self::build(&[], Some(mount_ns.to_path_buf()))
    }

    fn build(args: &[&str], mount_ns: Option<PathBuf>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ferry-test-")
            .tempdir()
            .expect("tempdir");
        let netns = dir.path().join("hostns");
        ferry_kernel::netns::create_mounted(&netns).expect("create host netns");
        let mut h = Host {
            dir,
            netns,
            daemon: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            mount_ns,
        };
        h.sh("ip link set lo up");
        h.start_daemon();
        h
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn socket(&self) -> PathBuf {
        self.exec_root().join("ferry.sock")
    }

    /// Starts the daemon inside the host namespace and waits until it answers.
    pub fn start_daemon(&mut self) {
        self.start_daemon_env(&[]);
    }

    /// Starts the daemon armed to kill itself with SIGKILL at the named crash point
    /// (`FERRY_TEST_CRASH_AT`), and waits until it answers.
    pub fn start_daemon_crashing_at(&mut self, point: &str) {
        self.start_daemon_env(&[("FERRY_TEST_CRASH_AT", point)]);
    }

    /// Waits for the daemon to end by itself (at its crash point); panics if it still
    /// answers after 20 s.
    pub fn wait_daemon_crashed(&mut self) {
        let mut c = self.daemon.take().expect("no daemon was started");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(st.signal(), Some(libc::SIGKILL), "daemon ended with {st}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.daemon = Some(c);
        panic!(
            "the daemon never reached its crash point: {}",
            self.daemon_log()
        );
    }

    /// The daemon's PID, while one runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(|c| c.id())
    }

    /// Starts the daemon with extra environment variables and waits until it answers.
    pub fn start_daemon_env(&mut self, env: &[(&str, &str)]) {
        if let Err(e) = self.try_start_daemon(env) {
            panic!("{e}");
        }
    }

    /// Starts the daemon and waits until it answers; says why when it does not.
    pub fn try_start_daemon(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        self.spawn_daemon(env);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.ferry(&["info"]).code == 0 {
                return Ok(());
            }
            if let Some(c) = self.daemon.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.daemon = None;
                    return Err(format!("daemon exited with {st}: {}", self.daemon_log()));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("daemon did not come up: {}", self.daemon_log()))
    }

    /// Starts the daemon without waiting for it to answer (to kill it while it starts).
    pub fn spawn_daemon(&mut self, env: &[(&str, &str)]) {
        let conf = self.dir.path().join("daemon.json");
        if !conf.exists() {
            std::fs::write(&conf, "{}").expect("daemon.json");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("log");
        let mut nsenter = Command::new("nsenter");
        if let Some(m) = &self.mount_ns {
            nsenter.arg(format!("--mount={}", m.display()));
        }
        let child = nsenter
            .arg(format!("--net={}", self.netns.display()))
            .arg(ferry_bin())
            .arg("daemon")
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .args(&self.extra_args)
            .env("FERRY_HOST", format!("unix://{}", self.socket().display()))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start daemon");
        self.daemon = Some(child);
    }

    /// The daemon's log so far.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Stops the daemon with SIGTERM (graceful) or SIGKILL.
    pub fn stop_daemon(&mut self, kill: bool) {
        if let Some(mut c) = self.daemon.take() {
            let sig = if kill { libc::SIGKILL } else { libc::SIGTERM };
            // nsenter execs the daemon, so the child is the daemon itself.
            unsafe { libc::kill(c.id() as i32, sig) };
            let _ = c.wait();
        }
    }

    /// Runs the CLI against this host's daemon.
    pub fn ferry(&self, args: &[&str]) -> Run {
        self.ferry_stdin(args, None)
    }

    /// Runs the CLI with standard input.
    pub fn ferry_stdin(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut cmd = Command::new(ferry_bin());
        cmd.args(args)
            .env("FERRY_HOST", format!("unix://{}", self.socket().display()));
        run_with_input(cmd, input)
    }

    /// Runs the CLI and insists on success; returns stdout, trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.ferry(args);
        assert_eq!(r.code, 0, "ferry {args:?} failed: {}{}", r.stdout, r.stderr);
        r.stdout.trim().to_string()
    }

    /// Runs the CLI and insists on failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.ferry(args);
        assert_ne!(
            r.code, 0,
            "ferry {args:?} unexpectedly succeeded: {}",
            r.stdout
        );
        r.stderr
    }

    /// Runs the docker CLI against this host's daemon (its own configuration directory, so
    /// nothing of the user's is read or written).
    pub fn docker(&self, args: &[&str]) -> Run {
        self.docker_stdin(args, None)
    }

    /// Runs the docker CLI with standard input.
    pub fn docker_stdin(&self, args: &[&str], input: Option<&str>) -> Run {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        run_with_input(cmd, input)
    }

    /// Runs the docker CLI and insists on success; returns stdout, trimmed.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let r = self.docker(args);
        assert_eq!(
            r.code, 0,
            "docker {args:?} failed: {}{}",
            r.stdout, r.stderr
        );
        r.stdout.trim().to_string()
    }

    /// Runs a shell command inside the host namespace.
    pub fn sh(&self, cmd: &str) -> Run {
        ns_sh(&self.netns, cmd, None)
    }

    /// Runs a shell command inside the host namespace with standard input.
    pub fn sh_stdin(&self, cmd: &str, input: &str) -> Run {
        ns_sh(&self.netns, cmd, Some(input))
    }

    /// Starts a command in the background inside the host namespace (killed when the host
    /// is dropped, like everything in its namespace).
    pub fn spawn(&self, cmd: &str) {
        ns_spawn(&self.netns, cmd);
    }

    /// Makes a second namespace, "outside" the host, linked to it by a veth pair:
    /// the host side is `HOST_LINK_ADDR`/24 (and `HOST_LINK_ADDR6`/64) and the outside side
    /// `OUTSIDE_ADDR`/24 (and `OUTSIDE_ADDR6`/64). The outside
    /// namespace has no route to the sandbox subnets, so a reply to a sandbox can only come
    /// back if ferry masquerades it. One per host.
    pub fn outside(&self) -> Outside {
        let netns = self.dir.path().join("outside");
        ferry_kernel::netns::create_mounted(&netns).expect("create outside netns");
        let o = Outside { netns };
        let r = self.sh(&format!(
            "ip link add xo0 type veth peer name eth0 netns {} && ip addr add {HOST_LINK_ADDR}/24 dev xo0 && ip addr add {HOST_LINK_ADDR6}/64 dev xo0 nodad && ip link set xo0 up",
            o.netns.display()
        ));
        assert_eq!(r.code, 0, "host side of the outside link: {}", r.stderr);
        let r = o.sh(&format!(
            "ip link set lo up && ip addr add {OUTSIDE_ADDR}/24 dev eth0 && ip addr add {OUTSIDE_ADDR6}/64 dev eth0 nodad && ip link set eth0 up"
        ));
        assert_eq!(r.code, 0, "outside side of the outside link: {}", r.stderr);
        o
    }

    /// Starts a sandbox that only sleeps, with extra `run` flags.
    pub fn sleeper(&self, name: &str, args: &[&str]) {
        let mut a = vec!["run", "-d", "--name", name];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--", "sleep", "600"]);
        self.ok(&a);
    }

    /// The daemon's cgroup tree (`ferry-<hash>`), when it made one.
    pub fn cgroup_tree(&self) -> Option<PathBuf> {
        let rel = std::fs::read_to_string(self.exec_root().join("cgroup")).ok()?;
        let mount = ferry_kernel::sock_lb::cgroup2_mount()?;
        Some(mount.join(rel.trim().trim_start_matches('/')))
    }

    /// JSON of `inspect`.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", name])).expect("json");
        v[0].clone()
    }

    /// IPv4 address of a sandbox on a network.
    pub fn ip(&self, sandbox: &str, network: &str) -> String {
        self.inspect(sandbox)["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Sends `ping` over TCP from one sandbox to `addr:port` and returns what came back.
    pub fn tcp(&self, from: &str, addr: &str, port: u16) -> Run {
        self.ping_over(from, &format!("TCP:{addr}:{port},connect-timeout=2"))
    }

    /// Sends `ping` over UDP and returns the reply.
    pub fn udp(&self, from: &str, addr: &str, port: u16) -> Run {
        self.ping_over(from, &format!("UDP:{addr}:{port}"))
    }

    /// Sends `ping` from inside a sandbox to a socat address and returns the reply. The
    /// timeouts are long enough for a loaded machine (socat waits 0.5 s by default).
    fn ping_over(&self, from: &str, address: &str) -> Run {
        self.ferry_stdin(
            &[
                "exec", "-i", from, "--", "socat", "-t5", "-T5", "-", address,
            ],
            Some("ping\n"),
        )
    }

    /// Starts a sandbox that answers `pong` on TCP and UDP at `port`.
    pub fn echo_server(&self, name: &str, net_args: &[&str], port: u16) {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(net_args);
        let script = format!(
            "socat TCP-LISTEN:{port},pf=ip6,reuseaddr,fork SYSTEM:'read x; echo pong' & socat UDP-RECVFROM:{port},pf=ip6,reuseaddr,fork SYSTEM:'read x; echo pong' & wait"
        );
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        self.ok(&args);
        self.wait_listening(name, port);
    }

    /// Waits until a TCP port listens inside a sandbox.
    pub fn wait_listening(&self, name: &str, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let pat = format!(":{port} ");
        while Instant::now() < deadline {
            let r = self.ferry(&["exec", name, "--", "ss", "-ltn"]);
            if r.stdout.contains(&pat) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("port {port} never listened in {name}");
    }

    /// This host's node ID in its swarm (`ferry info`).
    pub fn node_id(&self) -> String {
        let info = self.ok(&["info"]);
        info.lines()
            .find_map(|l| l.trim().strip_prefix("NodeID: "))
            .unwrap_or_else(|| panic!("no NodeID in info: {info}"))
            .to_string()
    }

    /// Links of the host namespace (names), retired ones left out.
    pub fn links(&self) -> Vec<String> {
        self.all_links()
            .into_iter()
            .filter(|l| !is_retired(l))
            .collect()
    }

    /// Every link of the host namespace, retired ones (down, renamed, deleted in the
    /// background) included.
    pub fn all_links(&self) -> Vec<String> {
        self.sh("ip -o link show")
            .stdout
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// Host ends of sandbox veths in the host namespace.
    pub fn veths(&self) -> usize {
        self.links().iter().filter(|l| l.starts_with("vf")).count()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            // Services first, or their supervisor would restart the replicas removed below.
            let services = self.ferry(&["service", "ls", "-q"]).stdout;
            for id in services.lines().filter(|l| !l.is_empty()) {
                let _ = self.ferry(&["service", "rm", id]);
            }
            let ids = self.ferry(&["ps", "-aq", "--no-trunc"]).stdout;
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = self.ferry(&["rm", "-f", id]);
            }
        }
        self.stop_daemon(true);
        for pid in ferry_kernel::netns::pids_in(&self.netns) {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = ferry_kernel::netns::remove(&self.netns);
        // The daemon's cgroup tree holds everything it started: whatever is still there
        // goes, then the tree.
        if let Some(dir) = self.cgroup_tree() {
            ferry_kernel::process::cgroup::kill_and_remove(&dir, Duration::from_secs(5));
        }
        unmount_under(self.dir.path());
    }
}

/// Detaches every mount at or below `dir` (the namespaces a test bound there for a runtime's
/// sake): a mounted namespace file pins its namespace and would outlive the test, and the
/// temporary directory could not be removed.
pub fn unmount_under(dir: &Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    // Deepest first, so that a mount inside another one goes before it.
    let mut points: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Several hosts on one segment: an underlay bridge in a namespace of its own, and each host
/// (its own namespace, roots and daemon) linked to it by a veth pair, with an address of
/// 198.51.100.0/24 (TEST-NET-2; it exists only inside the test's namespaces) on `ul0`.
pub struct Underlay {
    pub dir: tempfile::TempDir,
    pub netns: PathBuf,
    pub hosts: Vec<Host>,
}

impl Underlay {
    /// `n` hosts, each with its daemon running, on one underlay.
    pub fn new(n: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ferry-underlay-")
            .tempdir()
            .expect("tempdir");
        let netns = dir.path().join("underlay");
        ferry_kernel::netns::create_mounted(&netns).expect("create underlay netns");
        let r = ns_sh(
            &netns,
            "ip link set lo up && ip link add ul type bridge && ip link set ul up",
            None,
        );
        assert_eq!(r.code, 0, "underlay bridge: {}", r.stderr);
        let mut hosts = Vec::new();
        for i in 0..n {
            let h = Host::new();
            let r = ns_sh(
                &netns,
                &format!(
                    "ip link add u{i} type veth peer name ul0 netns {} && ip link set u{i} master ul up",
                    h.netns.display()
                ),
                None,
            );
            assert_eq!(r.code, 0, "underlay link of host {i}: {}", r.stderr);
            let r = h.sh(&format!(
                "ip addr add {}/24 dev ul0 && ip link set ul0 up",
                Self::addr(i)
            ));
            assert_eq!(r.code, 0, "underlay address of host {i}: {}", r.stderr);
            hosts.push(h);
        }
        Underlay { dir, netns, hosts }
    }

    /// Makes the hosts a swarm: host 0 inits it (session lease `ttl` seconds) and the others
    /// join, as workers, or as managers (each with an etcd member) when `managers`.
    pub fn swarm(&self, ttl: u64, managers: bool) {
        let (a, rest) = self.hosts.split_first().expect("hosts");
        a.ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            &Self::addr(0),
            "--lease-ttl",
            &ttl.to_string(),
        ]);
        let role = if managers { "manager" } else { "worker" };
        let token = a.ok(&["swarm", "join-token", "-q", role]);
        for (i, h) in rest.iter().enumerate() {
            h.ok(&[
                "swarm",
                "join",
                "--advertise-addr",
                &Self::addr(i + 1),
                "--token",
                token.trim(),
                &format!("{}:2377", Self::addr(0)),
            ]);
        }
    }

    /// Host `i`'s address on the underlay.
    pub fn addr(i: usize) -> String {
        format!("198.51.100.{}", 10 + i)
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        // The hosts go first (their Drop removes what their daemons made).
        self.hosts.clear();
        let _ = ferry_kernel::netns::remove(&self.netns);
    }
}

/// The host namespace's address on its link to the outside namespace (TEST-NET-1; it exists
/// only inside the test's namespaces).
pub const HOST_LINK_ADDR: &str = "192.0.2.1";
/// The outside namespace's address.
pub const OUTSIDE_ADDR: &str = "192.0.2.2";
/// The host namespace's IPv6 address on that link (documentation prefix).
pub const HOST_LINK_ADDR6: &str = "2001:db8::1";
/// The outside namespace's IPv6 address.
pub const OUTSIDE_ADDR6: &str = "2001:db8::2";

/// Another machine on the host's network: a namespace of its own, linked to the host
/// namespace by a veth pair. Its processes are killed and the namespace removed on drop.
pub struct Outside {
    pub netns: PathBuf,
}

impl Outside {
    /// Its address.
    pub fn addr(&self) -> &'static str {
        OUTSIDE_ADDR
    }

    /// Runs a shell command in it.
    pub fn sh(&self, cmd: &str) -> Run {
        ns_sh(&self.netns, cmd, None)
    }

    /// Runs a shell command in it with standard input.
    pub fn sh_stdin(&self, cmd: &str, input: &str) -> Run {
        ns_sh(&self.netns, cmd, Some(input))
    }

    /// Starts a command in the background in it.
    pub fn spawn(&self, cmd: &str) {
        ns_spawn(&self.netns, cmd);
    }

    /// Starts TCP and UDP servers on `port` (IPv4 and IPv6) that read a line and answer with
    /// the address they saw the client come from (`SOCAT_PEERADDR`, IPv6 in brackets), and
    /// waits until all four listen.
    pub fn echo_server(&self, port: u16) {
        for (tcp, udp) in [
            ("TCP4-LISTEN", "UDP4-RECVFROM"),
            ("TCP6-LISTEN", "UDP6-RECVFROM"),
        ] {
            for kind in [tcp, udp] {
                let v6only = if kind.contains('6') {
                    ",ipv6only=1"
                } else {
                    ""
                };
                self.spawn(&format!(
                    "socat {kind}:{port},reuseaddr,fork{v6only} SYSTEM:'read x; echo $SOCAT_PEERADDR'"
                ));
            }
        }
        let pat = format!(":{port} ");
        let count = |cmd: &str| self.sh(cmd).stdout.matches(&pat).count();
        assert!(
            eventually(10, || count("ss -ltnH") == 2 && count("ss -lunH") == 2),
            "outside echo server on port {port} never listened"
        );
    }

    /// Sends `ping` over TCP to `addr:port` and returns what came back.
    pub fn tcp(&self, addr: &str, port: u16) -> Run {
        let addr = if addr.contains(':') {
            format!("[{addr}]")
        } else {
            addr.to_string()
        };
        self.sh_stdin(
            &format!("socat -t5 -T5 - TCP:{addr}:{port},connect-timeout=2"),
            "ping\n",
        )
    }

    /// Sends `ping` over UDP to `addr:port` and returns the reply (netcat ends at the first
    /// datagram back; socat would wait out its timeout).
    pub fn udp(&self, addr: &str, port: u16) -> Run {
        self.sh_stdin(&format!("nc -u -W1 -w5 {addr} {port}"), "ping\n")
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for pid in ferry_kernel::netns::pids_in(&self.netns) {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = ferry_kernel::netns::remove(&self.netns);
    }
}

/// A link ferry retired: renamed to a tombstone, deleted in the background.
pub fn is_retired(name: &str) -> bool {
    ferry_engine::drivers::reaper::is_tombstone(name)
}

/// Runs `sh -c cmd` inside the namespace at `netns`, with optional standard input.
pub fn ns_sh(netns: &Path, cmd: &str, input: Option<&str>) -> Run {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", netns.display()))
        .args(["sh", "-c", cmd]);
    run_with_input(c, input)
}

/// Runs a command to completion, feeding it `input` (or nothing) on standard input.
fn run_with_input(mut cmd: Command, input: Option<&str>) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let (Some(i), Some(mut s)) = (input, child.stdin.take()) {
        let _ = s.write_all(i.as_bytes());
    }
    Run::from(child.wait_with_output().expect("wait for child"))
}

/// Starts `sh -c cmd` in the background inside the namespace at `netns`, its output discarded.
pub fn ns_spawn(netns: &Path, cmd: &str) {
    let r = ns_sh(
        netns,
        &format!("({cmd}) >/dev/null 2>&1 </dev/null &"),
        None,
    );
    assert_eq!(r.code, 0, "spawn {cmd}: {}", r.stderr);
}

/// Polls `f` until it is true or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Whether a path is a mount point.
pub fn is_mounted(p: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*p.to_string_lossy()))
}

/// Whether a process exists and is not a zombie.
/// The parent of `pid` when it is a standby sandbox process (a daemon's child named
/// `ferry-standby`, made ahead of a `run`: see `ferry_kernel::process::standby`).
pub fn standby_parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if stat.get(open + 1..close)? != "ferry-standby" {
        return None;
    }
    stat.get(close + 2..)?.split(' ').nth(1)?.parse().ok()
}

/// The standby sandbox processes of the daemon `daemon`.
pub fn standbys_of(daemon: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| standby_parent(*p) == Some(daemon))
        .collect()
}

pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s.get(i + 2..i + 3).map(|c| c != "Z"))
        })
        .unwrap_or(false)
}

/// Calls the API with curl, the body read from a file (so it may be larger than one argument
/// can be); returns (status, body).
pub fn api(h: &Host, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let file = h.dir.path().join("request.json");
    let mut args = vec![
        "-s".to_string(),
        "-o".into(),
        "/dev/stdout".into(),
        "-w".into(),
        "\n%{http_code}".into(),
        "--unix-socket".into(),
        h.socket().display().to_string(),
        "-X".into(),
        method.into(),
    ];
    if let Some(b) = body {
        std::fs::write(&file, b).expect("request body file");
        args.extend([
            "-H".into(),
            "Content-Type: application/json".into(),
            "--data-binary".into(),
            format!("@{}", file.display()),
        ]);
    }
    args.push(format!("http://ferry{path}"));
    let out = std::process::Command::new("curl")
        .args(&args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The `message` of a Docker-style error body.
pub fn message(v: &serde_json::Value) -> String {
    v["message"].as_str().unwrap_or_default().to_string()
}

/// A process holding a private mount namespace of the test's own, where `setup` (a shell
/// script that ends by printing `ready` and sleeping) mounted tmpfs over the paths a real
/// client (podman, containerd, dockerd) writes, so their files stay off the machine.
pub struct MountNs {
    holder: Child,
}

impl MountNs {
    /// Makes the namespace and waits until `setup` is done.
    pub fn new(setup: &str) -> Self {
        use std::io::BufRead;
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", setup])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare -m");
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().expect("the holder's output"))
            .read_line(&mut line)
            .expect("the holder's first line");
        assert_eq!(line.trim(), "ready", "the mount namespace was not prepared");
        MountNs { holder }
    }

    /// Its namespace file.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/mnt", self.holder.id()))
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A busybox root filesystem under `dir` (the host's static busybox and the applets the
/// runtime tests use) with `text` at `page` (a path inside it) for httpd to serve, and its
/// tarball, for `podman import` and `docker import` (no registry).
pub fn busybox_rootfs(dir: &Path, page: &str, text: &str) -> (PathBuf, PathBuf) {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("rootfs/bin");
    let page = root.join(page);
    if let Some(d) = page.parent() {
        std::fs::create_dir_all(d).expect("the page's directory");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("/bin/busybox (busybox-static)");
    for a in [
        "sh", "ip", "cat", "httpd", "sleep", "nslookup", "wget", "echo",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).expect("an applet link");
    }
    std::fs::write(&page, text).expect("the page");
    let tar = dir.join("busybox.tar");
    let r = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .expect("tar");
    assert!(
        r.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    (root, tar)
}

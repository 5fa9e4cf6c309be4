//! ferry as a Docker network and IPAM plugin under a real dockerd (Debian's docker.io 20.10):
//! `docker network create -d ferry` makes a ferry network, `docker run --network` gets a ferry
//! endpoint with its static address and published port, names resolve between containers,
//! a restart of ferry leaves the containers working, and `docker rm` / `docker network rm`
//! leave nothing in ferry.
//!
//! The daemon, the plugin and dockerd share the test's network namespace and a mount
//! namespace of its own, whose tmpfs mounts over `/run/docker` (where dockerd finds plugins)
//! and `/run/containerd` keep dockerd off the machine's; dockerd's data and exec roots are in
//! the test's directory and it touches no iptables.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{busybox_rootfs, eventually, ferry_bin, Host, MountNs, Run};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the private mount namespace holds.
const DOCKERD_MOUNTS: &str = "set -e
            mkdir -p /run/docker /run/containerd
            mount -t tmpfs docker-run /run/docker
            mount -t tmpfs docker-containerd /run/containerd
            mkdir -p /run/docker/plugins
            echo ready
            exec sleep infinity";

/// `ferry docker-plugin` and dockerd, in the host's namespaces; dockerd stops first.
struct Docker {
    dir: PathBuf,
    mount_ns: PathBuf,
    netns: PathBuf,
    plugin: Option<Child>,
    dockerd: Option<Child>,
}

impl Docker {
    fn start(h: &Host, m: &MountNs) -> Self {
        let mut d = Docker {
            dir: h.dir.path().join("docker"),
            mount_ns: m.path(),
            netns: h.netns.clone(),
            plugin: None,
            dockerd: None,
        };
        std::fs::create_dir_all(d.dir.join("config")).unwrap();
        let plugin = d
            .inside(ferry_bin())
            .arg("-H")
            .arg(format!("unix://{}", h.socket().display()))
            .args(["docker-plugin", "--log-level", "debug", "--state-dir"])
            .arg(d.dir.join("plugin"))
            .arg("--docker-host")
            .arg(format!("unix://{}", d.dir.join("docker.sock").display()))
            .stdout(d.log("plugin.log"))
            .stderr(d.log("plugin.log"))
            .spawn()
            .unwrap();
        d.plugin = Some(plugin);
        d.start_dockerd();
        d
    }

    /// A command run in the host's network and mount namespaces.
    fn inside(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount={}", self.mount_ns.display()))
            .arg(format!("--net={}", self.netns.display()))
            .arg(prog)
            .stdin(Stdio::null());
        c
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))
            .unwrap()
    }

    fn start_dockerd(&mut self) {
        let p = |s: &str| self.dir.join(s).display().to_string();
        let child = self
            .inside("dockerd")
            .args(["--data-root", &p("data"), "--exec-root", &p("exec")])
            .args(["--pidfile", &p("dockerd.pid")])
            .arg(format!("--host=unix://{}", p("docker.sock")))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .stdout(self.log("dockerd.log"))
            .stderr(self.log("dockerd.log"))
            .spawn()
            .unwrap();
        self.dockerd = Some(child);
        let mut exited = false;
        assert!(
            eventually(60, || {
                exited = self
                    .dockerd
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some());
                exited || self.docker(&["version"]).code == 0
            }) && !exited,
            "dockerd did not answer: {}",
            self.logs()
        );
    }

    /// Stops dockerd with SIGTERM and waits for it (and its containerd) to end.
    fn stop_dockerd(&mut self) {
        if let Some(mut c) = self.dockerd.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its containerd ends on its own once dockerd is gone; the socket says when.
        let sock = self.dir.join("exec/containerd/containerd.sock");
        eventually(15, || {
            std::os::unix::net::UnixStream::connect(&sock).is_err()
        });
    }

    fn docker(&self, args: &[&str]) -> Run {
        let o = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("config"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs a docker command that must succeed; returns stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.docker(args);
        assert_eq!(
            r.code,
            0,
            "docker {args:?} failed: {}{}\n{}",
            r.stdout,
            r.stderr,
            self.logs()
        );
        r.stdout.trim().to_string()
    }

    /// The tails of the plugin's and dockerd's logs, for a failure's message.
    fn logs(&self) -> String {
        let tail = |n: &str| {
            let s = std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "--- plugin.log\n{}\n--- dockerd.log\n{}",
            tail("plugin.log"),
            tail("dockerd.log")
        )
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        self.stop_dockerd();
        if let Some(mut c) = self.plugin.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The address `name` resolves to in ferry sandbox `fs` (`getent hosts`), if any.
fn ferry_says(h: &Host, name: &str) -> Option<String> {
    let r = h.ferry(&["exec", "fs", "--", "getent", "hosts", name]);
    (r.code == 0).then(|| {
        r.stdout
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// Fails the test, naming the Debian package, when a program is missing.
fn require(programs: &[(&str, &str)]) {
    for (prog, pkg) in programs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{prog} is missing: apt-get install {pkg}");
    }
}

#[test]
fn dockerd_runs_containers_on_ferry_networks_through_the_plugin() {
    require(&[
        ("dockerd", "docker.io"),
        ("docker", "docker.io"),
        ("containerd", "containerd"),
        ("runc", "runc"),
        ("busybox", "busybox-static"),
        ("curl", "curl"),
    ]);
    let m = MountNs::new(DOCKERD_MOUNTS);
    let mut h = Host::with_mount_ns(&m.path());
    let mut d = Docker::start(&h, &m);
    let (_, tar) = busybox_rootfs(h.dir.path(), "www/index.html", "served through ferry\n");
    d.ok(&["import", &tar.display().to_string(), "busybox:latest"]);

    // The network, with ferry's IPAM and a name of ferry's.
    d.ok(&[
        "network",
        "create",
        "-d",
        "ferry",
        "--ipam-driver",
        "ferry",
        "--subnet",
        "10.83.0.0/24",
        "-o",
        "ferry.name=dnet",
        "dnet",
    ]);
    let nets = h.ok(&["network", "ls"]);
    assert!(nets.contains("dnet"), "{nets}");
    let veths_before = h.veths();

    // A server with a static address, an alias and a published port.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "dnet",
        "--ip",
        "10.83.0.50",
        "--network-alias",
        "www",
        "-p",
        "8083:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let addr = d.ok(&["exec", "web", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains("10.83.0.50/24"), "{addr}");
    let routes = d.ok(&["exec", "web", "ip", "route"]);
    assert!(routes.contains("default via 10.83.0.1"), "{routes}");
    let ps = h.ok(&["ps"]);
    assert!(ps.contains("8083->80/tcp"), "{ps}");
    let page = |h: &Host| h.sh("curl -s -m 5 http://127.0.0.1:8083/").stdout;
    assert!(
        eventually(10, || page(&h).contains("served through ferry")),
        "published port: {}",
        page(&h)
    );

    // A client finds it by name and by alias (dockerd's resolver answers on the network).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "dnet",
        "busybox",
        "sleep",
        "600",
    ]);
    for name in ["web", "www"] {
        let got = d.ok(&["exec", "cli", "wget", "-qO-", &format!("http://{name}/")]);
        assert!(got.contains("served through ferry"), "{name}: {got}");
    }

    // A ferry sandbox on the network resolves the containers' names and aliases to the
    // addresses dockerd's resolver gives (the plugin reads them from dockerd).
    h.ok(&[
        "run",
        "-d",
        "--name",
        "fs",
        "--network",
        "dnet",
        "--",
        "sleep",
        "600",
    ]);
    let cli_ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.dnet.IPAddress}}",
        "cli",
    ]);
    let docker_says = |name: &str| d.ok(&["exec", "cli", "nslookup", name]);
    assert!(
        docker_says("www").contains("10.83.0.50"),
        "{}",
        docker_says("www")
    );
    assert!(
        docker_says("cli").contains(&cli_ip),
        "{}",
        docker_says("cli")
    );
    for (name, want) in [
        ("web", "10.83.0.50"),
        ("www", "10.83.0.50"),
        ("cli", &cli_ip),
    ] {
        let mut got = None;
        assert!(
            eventually(10, || {
                got = ferry_says(&h, name);
                got.as_deref() == Some(want)
            }),
            "{name} from a ferry sandbox: {got:?}, want {want}\n{}",
            d.logs()
        );
    }
    let got = h.ok(&["exec", "fs", "--", "wget", "-qO-", "http://www/"]);
    assert!(got.contains("served through ferry"), "{got}");
    // The other way: dockerd's resolver answers a Docker container from dockerd's records and
    // forwards the rest to the container's upstream servers, which know no ferry sandbox.
    let r = d.docker(&["exec", "cli", "nslookup", "fs"]);
    assert_ne!(r.code, 0, "{}", r.stdout);

    // ferry restarted under running containers: they keep working, new ones attach.
    h.stop_daemon(false);
    h.start_daemon();
    let got = d.ok(&["exec", "cli", "wget", "-qO-", "http://web/"]);
    assert!(got.contains("served through ferry"), "{got}");
    let got = d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnet",
        "busybox",
        "wget",
        "-qO-",
        "http://www/",
    ]);
    assert!(got.contains("served through ferry"), "{got}");
    assert!(
        page(&h).contains("served through ferry"),
        "published port after restart"
    );

    // A second ferry network on the running server: its ports stay with the first.
    d.ok(&[
        "network",
        "create",
        "-d",
        "ferry",
        "--subnet",
        "10.85.0.0/24",
        "dnet3",
    ]);
    d.ok(&["network", "connect", "dnet3", "web"]);
    let addr = d.ok(&["exec", "web", "ip", "-4", "addr", "show", "eth1"]);
    assert!(addr.contains("10.85.0."), "{addr}");
    assert!(page(&h).contains("served through ferry"), "published port");

    // Removing the containers and the networks leaves nothing in ferry, their names included.
    d.ok(&["rm", "-f", "web", "cli"]);
    assert!(
        eventually(10, || ferry_says(&h, "www").is_none()
            && ferry_says(&h, "cli").is_none()),
        "names left: {:?}",
        ferry_says(&h, "www")
    );
    h.ok(&["rm", "-f", "fs"]);
    d.ok(&["network", "rm", "dnet3"]);
    assert!(
        eventually(10, || h.ok(&["ps", "-a"]).lines().count() == 1),
        "endpoints left: {}",
        h.ok(&["ps", "-a"])
    );
    assert!(eventually(10, || h.veths() == veths_before), "veth left");
    let rules = h.sh("nft list ruleset").stdout;
    assert!(!rules.contains("10.83.0.50"), "rules left: {rules}");
    assert!(!rules.contains("8083"), "port rules left: {rules}");
    let holders = std::fs::read_dir(d.dir.join("plugin/netns"))
        .unwrap()
        .count();
    assert_eq!(holders, 0, "holder namespaces left");
    d.ok(&["network", "rm", "dnet"]);
    assert!(!h.ok(&["network", "ls"]).contains("dnet"));

    // dockerd's own IPAM: the pool it picks becomes the ferry network's subnet.
    let id = d.ok(&[
        "network",
        "create",
        "-d",
        "ferry",
        "--subnet",
        "10.84.0.0/24",
        "dnet2",
    ]);
    let ferry_name = format!("docker-{}", &id[..12]);
    assert!(h.ok(&["network", "ls"]).contains(&ferry_name));
    let got = d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnet2",
        "busybox",
        "ip",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(got.contains("10.84.0."), "{got}");

    // dockerd restarted while ferry runs: it re-sends nothing, and new containers attach,
    // their names followed again.
    d.stop_dockerd();
    d.start_dockerd();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "dnet2",
        "--network-alias",
        "api",
        "busybox",
        "sleep",
        "600",
    ]);
    // After it: dockerd's own IPAM does not know the addresses ferry hands out.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "fs2",
        "--network",
        &ferry_name,
        "--",
        "sleep",
        "600",
    ]);
    let again_ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.dnet2.IPAddress}}",
        "again",
    ]);
    let resolves = |name: &str| {
        h.ferry(&["exec", "fs2", "--", "getent", "hosts", name])
            .stdout
            .contains(&again_ip)
    };
    assert!(
        eventually(15, || resolves("again") && resolves("api")),
        "names after dockerd's restart\n{}",
        d.logs()
    );
    d.ok(&["rm", "-f", "again"]);
    h.ok(&["rm", "-f", "fs2"]);
    let got = d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnet2",
        "busybox",
        "ip",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(got.contains("10.84.0."), "{got}");
    d.ok(&["network", "rm", "dnet2"]);
    assert!(!h.ok(&["network", "ls"]).contains(&ferry_name));
}

//! Standby sandbox processes (`ferry_kernel::process::standby`): a sandbox started in a
//! standby made ahead is the sandbox a freshly cloned child would have made, confinement and
//! failures included. Needs root.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;

use ferry_kernel::process::{
    self, mounts::MountRequest, BindMount, Confinement, Mounts, Ns, SpawnSpec, Standby, Stdio,
};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// A filter that refuses `mkdir` and `mkdirat` with EACCES and allows the rest.
fn no_mkdir() -> Vec<libc::sock_filter> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    vec![
        insn(0x20, 0, 0, 0),                                 // A = syscall number
        insn(0x15, 2, 0, libc::SYS_mkdir as u32),            // mkdir: refuse
        insn(0x15, 1, 0, libc::SYS_mkdirat as u32),          // mkdirat: refuse
        insn(0x06, 0, 0, 0x7fff_0000),                       // allow
        insn(0x06, 0, 0, 0x0005_0000 | libc::EACCES as u32), // errno
    ]
}

fn init_binary() -> Arc<File> {
    Arc::new(File::open(env!("CARGO_BIN_EXE_ferry-init")).unwrap())
}

fn spec(dir: &Path, argv: &[&str], init: Option<Arc<File>>) -> SpawnSpec {
    SpawnSpec {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        workdir: Some(dir.display().to_string()),
        net: Ns::New,
        pid: Ns::New,
        ipc: Ns::New,
        uts: Ns::New,
        cgroupns: Ns::Host,
        hostname: Some("box".into()),
        domainname: Some("example".into()),
        cgroup: None,
        mounts: Mounts::New {
            request: MountRequest {
                hide: vec![dir.join("secret")],
                ..Default::default()
            },
            binds: vec![BindMount {
                source: dir.join("shared"),
                target: "/mnt".into(),
                read_only: true,
            }],
        },
        confinement: Confinement {
            caps: Some(ferry_kernel::caps::CapSet::docker_default().0),
            seccomp: Some(no_mkdir()),
            no_new_privs: true,
            user: None,
            groups: Vec::new(),
        },
        init,
        new_session: true,
        stdio: Stdio::Log(dir.join("out.log")),
    }
}

/// Waits for `pid` (a child of this process) and returns its exit code and its log.
fn finish(dir: &Path, pid: u32) -> (i32, String) {
    let mut status = 0;
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    let out = std::fs::read_to_string(dir.join("out.log")).unwrap_or_default();
    (libc::WEXITSTATUS(status), out)
}

/// A directory with a secret the sandbox must not see and a file shared read-only.
fn sandbox_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    std::fs::write(dir.path().join("secret/key"), "x").unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/note"), "shared\n").unwrap();
    dir
}

const PROBE: &str = "echo pid=$$; hostname; domainname; cat /proc/1/comm; \
     touch ro-probe 2>/dev/null && rm ro-probe || echo root-ro; \
     tr '\\0' ' ' </proc/1/cmdline; echo; env | sort | tr '\\n' ' '; echo; \
     grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; \
     ls /proc | grep -c '^[0-9]'; cat /mnt/note; touch /mnt/x 2>/dev/null || echo ro; \
     cat secret/key 2>/dev/null || echo hidden; mkdir /tmp/ferry-standby-probe 2>&1 | \
     grep -c 'Permission denied'; ls /dev | tr '\\n' ' '; echo; exit 7";

#[test]
fn a_standby_starts_the_sandbox_a_cloned_child_would() {
    for (init, read_only) in [
        (Some(init_binary()), false),
        (None, false),
        (Some(init_binary()), true),
    ] {
        let dir = sandbox_dir();
        let mut fresh = spec(dir.path(), &["sh", "-c", PROBE], init.clone());
        if let Mounts::New { request, .. } = &mut fresh.mounts {
            request.read_only = read_only;
        }
        let pid = process::spawn(&fresh).unwrap().pid;
        let (code, cloned) = finish(dir.path(), pid);
        assert_eq!(code, 7, "{cloned}");

        std::fs::remove_file(dir.path().join("out.log")).unwrap();
        let standby = Standby::spawn(&init_binary(), None).unwrap();
        let spid = standby.pid();
        let mut ahead = fresh.clone();
        // The standby's own network namespace: the one a start has plumbed.
        ahead.net = Ns::Join(standby.netns());
        assert!(standby.fits(&ahead));
        let started = standby.start(&ahead).unwrap();
        assert_eq!(
            started.pid, spid,
            "the standby is the sandbox's first process"
        );
        let (code, made_ahead) = finish(dir.path(), started.pid);
        assert_eq!(code, 7, "{made_ahead}");
        assert_eq!(
            made_ahead,
            cloned,
            "with init: {}, read-only: {read_only}",
            init.is_some()
        );
        assert_eq!(cloned.contains("root-ro\n"), read_only, "{cloned}");
        // What the probe saw is what a confined sandbox must see.
        let pid_line = if init.is_some() { "pid=2\n" } else { "pid=1\n" };
        assert!(cloned.starts_with(pid_line), "{cloned}");
        assert!(cloned.contains("box\nexample\n"), "{cloned}");
        let first = if init.is_some() {
            "ferry-init\n"
        } else {
            "sh\n"
        };
        assert!(cloned.contains(first), "{cloned}");
        if init.is_some() {
            assert!(cloned.contains("ferry-init -- sh -c echo"), "{cloned}");
        }
        assert!(
            cloned.contains("PATH=/usr/sbin:/usr/bin:/sbin:/bin "),
            "{cloned}"
        );
        assert!(cloned.contains("CapEff:\t00000000a80425fb"), "{cloned}");
        assert!(cloned.contains("NoNewPrivs:\t1"), "{cloned}");
        assert!(cloned.contains("Seccomp:\t2"), "{cloned}");
        assert!(cloned.contains("shared\nro\nhidden\n1\n"), "{cloned}");
    }
}

#[test]
fn a_standby_reports_the_step_that_failed_as_a_clone_does() {
    for (argv, missing_bind) in [(["no-such-program-here"], false), (["true"], true)] {
        let dir = sandbox_dir();
        let mut fresh = spec(dir.path(), &argv, Some(init_binary()));
        if missing_bind {
            if let Mounts::New { binds, .. } = &mut fresh.mounts {
                binds[0].source = dir.path().join("gone");
            }
        }
        let cloned = process::spawn(&fresh).unwrap_err().to_string();
        let standby = Standby::spawn(&init_binary(), None).unwrap();
        let spid = standby.pid();
        let mut ahead = fresh.clone();
        ahead.net = Ns::Join(standby.netns());
        let made_ahead = standby.start(&ahead).unwrap_err().to_string();
        assert_eq!(made_ahead, cloned);
        if missing_bind {
            assert!(cloned.contains("gone"), "{cloned}");
        } else {
            assert!(cloned.contains("no-such-program-here"), "{cloned}");
        }
        // It exited after reporting, and was reaped.
        assert!(!Path::new(&format!("/proc/{spid}")).exists());
    }
}

#[test]
fn a_standby_given_up_ends_and_takes_its_cgroup() {
    let Some(mount) = ferry_kernel::sock_lb::cgroup2_mount() else {
        panic!("this test needs a cgroup v2 hierarchy");
    };
    let parent = mount.join(format!("ferry-standby-test-{}", std::process::id()));
    let cgroup = parent.join("a-sandbox-id");
    let standby = Standby::spawn(&init_binary(), Some(&cgroup)).unwrap();
    let spid = standby.pid();
    assert_eq!(
        ferry_kernel::process::cgroup::procs(&cgroup),
        vec![spid],
        "born in the cgroup of its sandbox"
    );
    // A sandbox of another cgroup does not fit it.
    let dir = sandbox_dir();
    let mut other = spec(dir.path(), &["true"], Some(init_binary()));
    other.net = Ns::Join(standby.netns());
    other.cgroup = Some(parent.join("another-id"));
    assert!(!standby.fits(&other));
    drop(standby);
    assert!(!common::is_alive(spid));
    assert!(!cgroup.exists(), "its cgroup was left");
    let _ = std::fs::remove_dir(&parent);
}

/// The PIDs in sandbox `id`'s cgroup of the daemon of `h`.
fn cgroup_pids(h: &common::Host, id: &str) -> Vec<u32> {
    let tree = h.cgroup_tree().expect("the daemon's cgroup tree");
    ferry_kernel::process::cgroup::procs(&tree.join("sandboxes").join(id))
}

#[test]
fn a_created_sandbox_starts_in_the_standby_made_for_its_id() {
    let h = common::Host::new();
    // The first start makes standbys for the next sandboxes.
    h.sleeper("first", &[]);
    let daemon = h.daemon_pid().unwrap();
    assert!(common::eventually(10, || !common::standbys_of(daemon).is_empty()));
    let id = h.ok(&["create", "--name", "later", "--", "sleep", "600"]);
    let id = id.trim();
    // Created, not started: its cgroup already holds the standby reserved for it.
    let waiting = cgroup_pids(&h, id);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(common::standby_parent(waiting[0]), Some(daemon));
    h.ok(&["start", "later"]);
    let pid = h.inspect("later")["State"]["Pid"].as_u64().unwrap() as u32;
    assert_eq!(
        pid, waiting[0],
        "the standby is the sandbox's first process"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let shown: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    assert_eq!(
        shown,
        [&b"ferry-init"[..], b"--", b"sleep", b"600", b""],
        "PID 1's command line"
    );
    // A sandbox created and removed without a start gives its standby up.
    let id = h.ok(&["create", "--name", "never", "--", "sleep", "600"]);
    let waiting = cgroup_pids(&h, id.trim());
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    h.ok(&["rm", "never"]);
    assert!(
        !common::is_alive(waiting[0]),
        "the standby outlived its sandbox"
    );
    let tree = h.cgroup_tree().unwrap();
    assert!(!tree.join("sandboxes").join(id.trim()).exists());
}

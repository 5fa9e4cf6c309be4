//! Starting confined processes: new namespaces, mounts, capabilities and users, checked from
//! inside the process. Needs root.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_kernel::process::{
    self, mounts::MountRequest, Confinement, Mounts, Ns, SpawnSpec, Stdio,
};
use std::path::Path;

/// Docker's default capability set.
const DOCKER_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 10)
    | (1 << 13)
    | (1 << 18)
    | (1 << 27)
    | (1 << 29)
    | (1 << 31);

fn run(dir: &Path, script: &str, edit: impl FnOnce(&mut SpawnSpec)) -> (i32, String) {
    let log = dir.join("out.log");
    let _ = std::fs::remove_file(&log);
    let mut spec = SpawnSpec {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        workdir: None,
        net: Ns::New,
        pid: Ns::New,
        ipc: Ns::New,
        uts: Ns::New,
        cgroupns: Ns::Host,
        hostname: Some("box".into()),
        domainname: None,
        cgroup: None,
        mounts: Mounts::New {
            request: MountRequest {
                hide: vec![dir.join("secret")],
                ..Default::default()
            },
            binds: vec![],
        },
        confinement: Confinement {
            caps: Some(DOCKER_CAPS),
            no_new_privs: true,
            ..Default::default()
        },
        init: None,
        new_session: true,
        stdio: Stdio::Log(log.clone()),
    };
    edit(&mut spec);
    let pid = process::spawn(&spec).expect("spawn").pid;
    let mut status = 0;
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    (libc::WEXITSTATUS(status), out)
}

#[test]
fn a_default_process_is_pid_1_confined_and_sees_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    std::fs::write(dir.path().join("secret/key"), "x").unwrap();
    let (code, out) = run(
        dir.path(),
        "echo pid=$$; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; \
         ls /proc | grep -c '^[0-9]'; ls /dev | tr '\\n' ' '; echo; \
         cat secret/key 2>&1 || echo hidden; mount -t tmpfs x /mnt 2>&1 || echo nomount; \
         ip link add d0 type dummy 2>&1 || echo nolink; exit 3",
        |s| s.workdir = Some(dir.path().display().to_string()),
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("box\n"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("hidden"), "{out}");
    assert!(out.contains("nomount"), "{out}");
    assert!(out.contains("nolink"), "{out}");
    assert!(!out.contains("sda"), "{out}");
}

#[test]
fn a_failed_start_names_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    let spec = SpawnSpec {
        argv: vec!["no-such-program-here".into()],
        env: vec![],
        workdir: None,
        net: Ns::Host,
        pid: Ns::New,
        ipc: Ns::Host,
        uts: Ns::Host,
        cgroupns: Ns::Host,
        hostname: None,
        domainname: None,
        cgroup: None,
        mounts: Mounts::New {
            request: MountRequest::default(),
            binds: vec![],
        },
        confinement: Confinement::default(),
        init: None,
        new_session: true,
        stdio: Stdio::Log(log),
    };
    let e = process::spawn(&spec).unwrap_err().to_string();
    assert!(e.contains("no-such-program-here"), "{e}");
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn a_terminal_comes_from_the_sandboxs_own_devpts() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let spec = SpawnSpec {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "stty size; read go; tty; stty size; ls /dev/pts | tr '\\n' ' '; echo; \
             test -t 0 && test -t 1 && test -t 2 && echo all-terminals; \
             ps -o sid= -p $$ | tr -d ' '; exit 4"
                .into(),
        ],
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        workdir: Some(dir.path().display().to_string()),
        net: Ns::Host,
        pid: Ns::New,
        ipc: Ns::Host,
        uts: Ns::Host,
        cgroupns: Ns::Host,
        hostname: None,
        domainname: None,
        cgroup: None,
        mounts: Mounts::New {
            request: MountRequest::default(),
            binds: vec![],
        },
        confinement: Confinement::default(),
        init: None,
        new_session: true,
        stdio: Stdio::Tty {
            size: Some((20, 70)),
        },
    };
    let s = process::spawn(&spec).expect("spawn");
    let master = std::fs::File::from(s.pty.expect("a terminal"));
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // The size it started with first; then a new size, and the line it waits for.
    while !out.contains(&b'\n') {
        match (&master).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    ferry_kernel::pty::set_size(master.as_raw_fd(), 33, 101).unwrap();
    (&master).write_all(b"go\n").unwrap();
    loop {
        match (&master).read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO: no process holds the terminal any more
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let mut status = 0;
    unsafe { libc::waitpid(s.pid as i32, &mut status, 0) };
    let out = String::from_utf8_lossy(&out).replace('\r', "");
    assert_eq!(libc::WEXITSTATUS(status), 4, "{out}");
    assert!(out.contains("/dev/pts/0\n"), "{out}");
    // The size given at the start, then the one set while it ran.
    assert!(out.starts_with("20 70\n"), "{out}");
    assert!(out.contains("33 101\n"), "{out}");
    assert!(out.contains("\n0 ptmx \n"), "{out}");
    assert!(out.contains("all-terminals\n"), "{out}");
    // The session it leads is its own: PID 1 of its namespace.
    assert!(out.contains("\n1\n"), "{out}");
}

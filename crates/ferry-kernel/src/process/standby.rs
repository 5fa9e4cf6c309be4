//! Standby sandbox processes: a sandbox's first process made ahead of its start. Cloning
//! into new mount, UTS, IPC, PID and network namespaces, and loading ferry's init (the
//! loader, the C library's start-up, the runtime's) took 0.8–1.2 ms of every `run -d` (side
//! by side, docs/BENCHMARKS.md). A standby has done all of that already: it is ferry's init,
//! in namespaces of its own, born in the cgroup of the sandbox it is made for, waiting on a
//! socket. A start gives it its sandbox (the mounts, names and streams it sets up, the
//! confinement and the program), and it goes on exactly as a freshly cloned child and init
//! would: the same plan, run by the same code (`child::set_up`, then `init::take_over` or
//! `child::finish`), reporting on a pipe the same way.
//!
//! Crash-safe by construction: a standby holds only what it was cloned with, and its
//! socket's other end is the daemon's alone. When the daemon dies, however it dies, the
//! standby reads the end of the socket and exits, taking its namespaces with it.

use super::spawn::{self, Launch};
use super::{BindMount, Confinement, Mounts, Ns, SpawnSpec, Spawned, Stdio, User};
use crate::error::{KernelError, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The init's first argument that makes it a standby: `ferry-init --standby SOCKET PIPE`.
pub const ARG: &str = "--standby";

/// The largest start message a standby reads (a seccomp program is the bulk of one).
const MAX_MESSAGE: u32 = 4 << 20;

/// A standby sandbox process, owned by the daemon that cloned it.
#[derive(Debug)]
pub struct Standby {
    pid: u32,
    /// The cgroup it was born in, which its sandbox must be started in: moving a process
    /// into another cgroup waits out an RCU grace period (milliseconds, tens when the
    /// machine is idle), more than a standby saves.
    cgroup: Option<PathBuf>,
    /// The daemon's end of the standby's socket; `None` once the standby was started.
    sock: Option<OwnedFd>,
}

/// What a start hands a standby (the parts of a [`SpawnSpec`] that are not its namespaces).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Start {
    argv: Vec<String>,
    env: Vec<String>,
    workdir: Option<String>,
    hostname: Option<String>,
    domainname: Option<String>,
    cgroupns: bool,
    mounts: super::mounts::MountRequest,
    binds: Vec<BindMount>,
    new_session: bool,
    caps: Option<u64>,
    /// The seccomp program, one (code, jt, jf, k) per instruction.
    seccomp: Option<Vec<(u16, u8, u8, u32)>>,
    no_new_privs: bool,
    user: Option<User>,
    groups: Vec<u32>,
    init: bool,
}

impl Standby {
    /// Clones a standby running `init` (ferry's init, open), born in `cgroup` (made) when
    /// given: its sandbox must use that cgroup.
    pub fn spawn(init: &File, cgroup: Option<&Path>) -> Result<Self> {
        let (mine, theirs) = crate::pty::socket_pair()?;
        if let Some(dir) = cgroup {
            super::cgroup::create(dir)?;
        }
        let pid = spawn::spawn_standby(init, cgroup, &theirs).inspect_err(|_| {
            if let Some(dir) = cgroup {
                super::cgroup::remove(dir);
            }
        })?;
        Ok(Standby {
            pid,
            cgroup: cgroup.map(Path::to_path_buf),
            sock: Some(mine),
        })
    }

    /// Its PID (in the daemon's PID namespace); the sandbox's once started.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its network namespace, which a start plumbs before it hands the sandbox over.
    pub fn netns(&self) -> PathBuf {
        crate::netns::of_pid(self.pid)
    }

    /// Whether `spec` can start in this standby: a sandbox with new mount, UTS, IPC and PID
    /// namespaces, this standby's network namespace and cgroup, and its output in a log.
    /// Any other start clones a child of its own.
    pub fn fits(&self, spec: &SpawnSpec) -> bool {
        spec.net == Ns::Join(self.netns())
            && spec.cgroup == self.cgroup
            && spec.pid == Ns::New
            && spec.ipc == Ns::New
            && spec.uts == Ns::New
            && !matches!(spec.cgroupns, Ns::Join(_))
            && matches!(spec.mounts, Mounts::New { .. })
            && matches!(spec.stdio, Stdio::Log(_))
    }

    /// Starts `spec` (which [`fits`](Self::fits)) in this standby: hands it its sandbox and
    /// waits until the program runs, or the step that failed is reported (the standby then
    /// exits and is reaped).
    pub fn start(mut self, spec: &SpawnSpec) -> Result<Spawned> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let (Mounts::New { request, binds }, Stdio::Log(log)) = (&spec.mounts, &spec.stdio) else {
            return Err(unfit());
        };
        if !self.fits(spec) {
            return Err(unfit());
        }
        let c = &spec.confinement;
        let start = Start {
            argv: spec.argv.clone(),
            env: spec.env.clone(),
            workdir: spec.workdir.clone(),
            hostname: spec.hostname.clone(),
            domainname: spec.domainname.clone(),
            cgroupns: spec.cgroupns == Ns::New,
            mounts: request.clone(),
            binds: binds.clone(),
            new_session: spec.new_session,
            caps: c.caps,
            seccomp: c
                .seccomp
                .as_ref()
                .map(|p| p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()),
            no_new_privs: c.no_new_privs,
            user: c.user,
            groups: c.groups.clone(),
            init: spec.init.is_some(),
        };
        let body = serde_json::to_vec(&start)
            .map_err(|e| KernelError::io("encode a standby's start", std::io::Error::other(e)))?;
        let (rd, wr) = spawn::report_pipe()?;
        // Opened here, in the daemon's mount namespace, as a cloned child inherits it: opened
        // for writing inside the standby's own copy of the mounts, it would keep that copy's
        // root from being made read-only (EBUSY).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| KernelError::io(format!("open log {}", log.display()), e))?;
        let Some(sock) = self.sock.take() else {
            return Err(unfit());
        };
        let sent = crate::pty::send_fd(sock.as_raw_fd(), wr.as_raw_fd())
            .and_then(|()| crate::pty::send_fd(sock.as_raw_fd(), log.as_raw_fd()))
            .and_then(|()| {
                let mut s = File::from(sock);
                let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
                s.write_all(&len.to_ne_bytes())
                    .and_then(|()| s.write_all(&body))
                    .map_err(|e| KernelError::io("hand a standby its sandbox", e))
            });
        drop(wr);
        if let Err(e) = sent {
            // It reads the end of its socket and exits.
            reap(self.pid);
            return Err(e);
        }
        match spawn::wait_report(&rd, self.pid) {
            None => Ok(Spawned {
                pid: self.pid,
                pty: None,
            }),
            Some((stage, errno)) => {
                // Mount steps are named as the standby planned them, from the same spec.
                let steps = spawn::mount_steps(spec, request, binds).unwrap_or_default();
                Err(spawn::start_failure(&program, &steps, stage, errno))
            }
        }
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        // Not started: closing the socket ends it; it is this daemon's child to reap, and
        // its cgroup goes with it.
        if let Some(sock) = self.sock.take() {
            drop(sock);
            reap(self.pid);
            if let Some(dir) = &self.cgroup {
                super::cgroup::remove(dir);
            }
        }
    }
}

fn unfit() -> KernelError {
    KernelError::io(
        "start a standby",
        std::io::Error::other("the sandbox does not fit a standby process"),
    )
}

fn reap(pid: u32) {
    let mut status = 0;
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
}

/// Reports a failure before the plan runs, and returns the exit code to leave with.
fn fail_early(pipe: RawFd, errno: i32) -> i32 {
    // SAFETY: the pipe the daemon sent, this process's alone.
    let mut pipe = Some(unsafe { File::from_raw_fd(pipe) });
    super::init::report(&mut pipe, super::child::Stage::Setup, errno)
}

/// The standby's side, in ferry's init: says it runs (closes `ready`), waits on `sock` for
/// its sandbox, then sets it up and goes on as its first process. Returns the exit code;
/// 0 when the daemon closed the socket without a sandbox.
pub fn serve(sock: RawFd, ready: RawFd) -> i32 {
    unsafe {
        libc::close(ready);
        libc::prctl(
            libc::PR_SET_NAME,
            c"ferry-standby".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    let pipe = match crate::pty::recv_fd(sock, false) {
        Ok(Some(p)) => p,
        // The daemon is gone, or wants one standby fewer.
        _ => return 0,
    };
    // From here on the pipe is handed to the plan and the init as a raw descriptor.
    let pipe_fd = pipe.into_raw_fd();
    let log = match crate::pty::recv_fd(sock, false) {
        Ok(Some(l)) => l,
        _ => return fail_early(pipe_fd, libc::EPIPE),
    };
    let mut s = unsafe { File::from_raw_fd(sock) };
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return fail_early(pipe_fd, libc::EPIPE);
    }
    let len = u32::from_ne_bytes(len);
    if len > MAX_MESSAGE {
        return fail_early(pipe_fd, libc::E2BIG);
    }
    let mut body = vec![0u8; len as usize];
    if s.read_exact(&mut body).is_err() {
        return fail_early(pipe_fd, libc::EPIPE);
    }
    drop(s);
    let Ok(start) = serde_json::from_slice::<Start>(&body) else {
        return fail_early(pipe_fd, libc::EINVAL);
    };
    if start.init {
        // As a cloned child's init reads: ps shows the sandbox's program.
        let mut shown = vec![super::init::INIT_NAME.to_string(), "--".to_string()];
        shown.extend(start.argv.iter().cloned());
        super::init::show_command_line(&shown);
    }
    let spec = SpawnSpec {
        argv: start.argv.clone(),
        env: start.env.clone(),
        workdir: start.workdir,
        // Already the standby's own: `prepare` only reads that they are not the host's.
        net: Ns::New,
        pid: Ns::New,
        ipc: Ns::New,
        uts: Ns::New,
        cgroupns: if start.cgroupns { Ns::New } else { Ns::Host },
        hostname: start.hostname,
        domainname: start.domainname,
        // Born in its sandbox's.
        cgroup: None,
        mounts: Mounts::New {
            request: start.mounts,
            binds: start.binds,
        },
        confinement: Confinement {
            caps: start.caps,
            seccomp: start.seccomp.map(|p| {
                p.into_iter()
                    .map(|(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
                    .collect()
            }),
            no_new_privs: start.no_new_privs,
            user: start.user,
            groups: start.groups,
        },
        init: None,
        new_session: start.new_session,
        // Standard input from /dev/null; output and errors to the log the daemon opened.
        stdio: Stdio::Inherit { stdin: false },
    };
    let mut prepared = match spawn::prepare(&spec, Launch::InPlace { init: start.init }) {
        Ok(p) => p,
        Err(e) => return fail_early(pipe_fd, e.raw_errno().unwrap_or(libc::EINVAL)),
    };
    prepared.plan.stdio[1] = log.as_raw_fd();
    prepared.plan.stdio[2] = log.as_raw_fd();
    // SAFETY: this process is single-threaded and is the sandbox's first process, in its
    // namespaces: exactly the state a freshly cloned child runs the plan in.
    unsafe {
        super::child::set_up(&prepared.plan, &prepared.steps, pipe_fd);
        match prepared.handoff.take() {
            Some(h) => {
                // The init lives on: it keeps no descriptor the plan needed.
                drop(prepared);
                drop(log);
                let pipe = Some(File::from_raw_fd(pipe_fd));
                // The program's environment: a cloned child's init had it as its own.
                super::init::take_over(&h, pipe, &start.argv, Some(&start.env))
            }
            None => super::child::finish(&prepared.plan, pipe_fd),
        }
    }
}

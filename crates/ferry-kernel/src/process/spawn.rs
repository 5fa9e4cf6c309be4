//! Starting a process in a sandbox: new namespaces (`clone3`, so the process is PID 1 of a
//! PID namespace of its own and is born in its cgroup), or the namespaces of a running
//! sandbox (`ferry exec`), then the sandbox's mounts, user, capabilities, `no_new_privs` and
//! seccomp filter, and the program.
//!
//! Everything is prepared here, in the caller; the child (see `child.rs`) only makes system
//! calls on ready data, as a child forked from a threaded process must. It reports a failure
//! through a close-on-exec pipe (which step, which errno), so the caller gets a precise error
//! and a process that never ran its program is reaped at once.

use super::child::{self, ChildPlan, Stage};
use super::mounts::{self, MountRequest, PlannedBind};
use super::vfork;
use crate::error::{KernelError, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How a process gets one kind of namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ns {
    /// A new one of its own.
    #[default]
    New,
    /// The caller's (the host's, for the daemon).
    Host,
    /// The one at this path (`/proc/PID/ns/KIND`).
    Join(PathBuf),
}

impl Ns {
    fn open(&self, kind: &str) -> Result<Option<File>> {
        match self {
            Ns::Join(p) => File::open(p)
                .map(Some)
                .map_err(|e| KernelError::io(format!("open {kind} namespace {}", p.display()), e)),
            _ => Ok(None),
        }
    }
}

/// A file or directory bind-mounted into a new sandbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears in the sandbox (relative to its root).
    pub target: PathBuf,
    /// Read-only.
    pub read_only: bool,
}

/// The user a process runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
}

/// What confines the process, applied last, just before the program runs.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// Capabilities kept in every set (the bounding set included); `None` keeps them all.
    pub caps: Option<u64>,
    /// The seccomp filter; `None` for none.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// Set `no_new_privs`: setuid binaries and file capabilities grant nothing.
    pub no_new_privs: bool,
    /// The user; `None` keeps root.
    pub user: Option<User>,
    /// The user's supplementary groups.
    pub groups: Vec<u32>,
}

/// The mount namespace of the process.
#[derive(Debug, Clone)]
pub enum Mounts {
    /// A new one, set up as planned (see [`mounts::plan`]); the binds' sources are opened here.
    New {
        /// The plan's inputs, without the binds.
        request: MountRequest,
        /// The binds, in order.
        binds: Vec<BindMount>,
    },
    /// A running sandbox's: its mount namespace, then its root (`/proc/PID/root`).
    JoinOf(u32),
}

/// Where the process's standard streams go.
#[derive(Debug, Clone)]
pub enum Stdio {
    /// Standard input from /dev/null, output and errors appended to this file.
    Log(PathBuf),
    /// The caller's; standard input from /dev/null unless `stdin` is set.
    Inherit {
        /// Pass standard input through.
        stdin: bool,
    },
    /// A terminal opened in the sandbox's own devpts (the process must lead a new session):
    /// its master is returned in [`Spawned::pty`].
    Tty {
        /// Its window size (rows, columns) from the start, when known.
        size: Option<(u16, u16)>,
    },
}

/// A started process.
#[derive(Debug)]
pub struct Spawned {
    /// Its PID (in the caller's PID namespace).
    pub pid: u32,
    /// The master of its terminal, with [`Stdio::Tty`].
    pub pty: Option<OwnedFd>,
}

/// How to start a process in a sandbox.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Program and arguments (the program is looked up in the environment's `PATH`).
    pub argv: Vec<String>,
    /// Full environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory (`/` when unset).
    pub workdir: Option<String>,
    /// Network namespace.
    pub net: Ns,
    /// PID namespace: with `New` the process is PID 1 of its own.
    pub pid: Ns,
    /// IPC namespace.
    pub ipc: Ns,
    /// UTS namespace; a new one gets `hostname` and `domainname`.
    pub uts: Ns,
    /// Cgroup namespace; a new one is rooted at `cgroup`.
    pub cgroupns: Ns,
    /// Host name (with a new UTS namespace).
    pub hostname: Option<String>,
    /// Domain name (with a new UTS namespace).
    pub domainname: Option<String>,
    /// Cgroup directory the process is born in.
    pub cgroup: Option<PathBuf>,
    /// Its mounts.
    pub mounts: Mounts,
    /// Its confinement.
    pub confinement: Confinement,
    /// Runs ferry's init (this binary, open at this descriptor) as the sandbox's first
    /// process, which starts the program, passes signals on and reaps orphans.
    pub init: Option<std::sync::Arc<File>>,
    /// A new session (a sandbox's first process; not `ferry exec`, which keeps the terminal).
    pub new_session: bool,
    /// Standard streams.
    pub stdio: Stdio,
}

/// `CLONE_INTO_CGROUP` (its `libc` constant is typed too narrow for the value).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The argument that makes the `ferry` binary run as a sandbox's init.
pub const INIT_ARG0: &str = "ferry-init";

fn cstr(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        KernelError::io(
            format!("{what} {s:?}"),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte"),
        )
    })
}

/// The places the program may be, in `PATH` order, as `execvp` would try them.
fn candidates(program: &str, env: &[String]) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_string()];
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|d| {
            if d.is_empty() {
                format!("./{program}")
            } else {
                format!("{}/{program}", d.trim_end_matches('/'))
            }
        })
        .collect()
}

/// Everything the child needs, kept alive (and in place) until it has exec'd.
pub(super) struct Prepared {
    pub(super) plan: ChildPlan,
    pub(super) steps: Vec<mounts::Step>,
    _files: Vec<File>,
    _strings: Vec<CString>,
    cgroup: Option<File>,
    pid_ns: Option<File>,
    flags: u64,
    /// The report pipe: read end, and the write end until the child has it.
    pipe: (OwnedFd, std::sync::Mutex<Option<OwnedFd>>),
    /// The caller's end of the socket the terminal's master comes on.
    tty: Option<OwnedFd>,
    /// What ferry's init is to do, when it runs (in place: see [`Launch`]).
    pub(super) handoff: Option<super::init::Handoff>,
}

/// Who makes the process's namespaces and runs the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Launch {
    /// A child cloned into new namespaces runs it, then execs the init or the program.
    Clone,
    /// The calling process itself, already in the sandbox's new namespaces (a standby
    /// sandbox process, which is ferry's init's program): with `init`, the init's part is
    /// left to the caller as a handoff.
    InPlace {
        /// The process goes on as the sandbox's init.
        init: bool,
    },
}

/// The mount plan of a new mount namespace for `spec`: `request` and `binds` as given, the
/// namespaces it owns as `spec` says.
pub(super) fn mount_steps(
    spec: &SpawnSpec,
    request: &MountRequest,
    binds: &[BindMount],
) -> Result<Vec<mounts::Step>> {
    let mut req = request.clone();
    // A PID namespace other than the host's (its own, or another sandbox's) gets a /proc
    // that shows it.
    req.own_pid_ns = spec.pid != Ns::Host;
    req.own_ipc_ns = spec.ipc == Ns::New;
    req.own_net_ns = spec.net != Ns::Host;
    if binds.len() > mounts::MAX_BINDS {
        return Err(KernelError::io(
            "plan mounts",
            std::io::Error::other(format!(
                "{} binds, at most {} are supported",
                binds.len(),
                mounts::MAX_BINDS
            )),
        ));
    }
    for b in binds {
        req.binds.push(PlannedBind {
            source: b.source.clone(),
            target: b.target.clone(),
            read_only: b.read_only,
            is_dir: b.source.is_dir(),
        });
    }
    Ok(mounts::plan(&req))
}

/// A close-on-exec pipe a starting process reports a failure on: (read end, write end).
pub(super) fn report_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut pipe = [0i32; 2];
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(KernelError::io("pipe", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 made both descriptors, owned from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) })
}

/// A cgroup directory, open for `CLONE_INTO_CGROUP`.
fn open_cgroup(dir: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| KernelError::io(format!("open cgroup {}", dir.display()), e))
}

pub(super) fn prepare(spec: &SpawnSpec, launch: Launch) -> Result<Prepared> {
    let program = spec
        .argv
        .first()
        .ok_or_else(|| KernelError::io("spawn", std::io::Error::other("empty command")))?;
    let mut files: Vec<File> = Vec::new();
    let mut strings: Vec<CString> = Vec::new();
    let mut plan = ChildPlan::default();

    let mut flags: u64 = 0;
    let mut joins: Vec<(i32, libc::c_int)> = Vec::new();
    for (ns, kind, flag) in [
        (&spec.net, "net", libc::CLONE_NEWNET),
        (&spec.ipc, "ipc", libc::CLONE_NEWIPC),
        (&spec.uts, "uts", libc::CLONE_NEWUTS),
        (&spec.cgroupns, "cgroup", libc::CLONE_NEWCGROUP),
    ] {
        match ns {
            Ns::New if flag == libc::CLONE_NEWCGROUP => plan.unshare_cgroup = true,
            Ns::New => flags |= flag as u64,
            Ns::Host => {}
            Ns::Join(_) => {
                if let Some(f) = ns.open(kind)? {
                    joins.push((f.as_raw_fd(), flag));
                    files.push(f);
                }
            }
        }
    }
    if spec.pid == Ns::New {
        flags |= libc::CLONE_NEWPID as u64;
    }
    let pid_ns = spec.pid.open("pid")?;

    let mut steps = Vec::new();
    match &spec.mounts {
        Mounts::New { request, binds } => {
            flags |= libc::CLONE_NEWNS as u64;
            steps = mount_steps(spec, request, binds)?;
        }
        Mounts::JoinOf(pid) => {
            let mnt = File::open(format!("/proc/{pid}/ns/mnt"))
                .map_err(|e| KernelError::io(format!("open the mount namespace of {pid}"), e))?;
            joins.push((mnt.as_raw_fd(), libc::CLONE_NEWNS));
            files.push(mnt);
            let root = File::open(format!("/proc/{pid}/root"))
                .map_err(|e| KernelError::io(format!("open the root of {pid}"), e))?;
            plan.root_fd = root.as_raw_fd();
            files.push(root);
        }
    }
    plan.joins = joins;

    if spec.uts == Ns::New {
        if let Some(h) = &spec.hostname {
            let h = cstr("hostname", h)?;
            plan.hostname = (h.as_ptr(), h.as_bytes().len());
            strings.push(h);
        }
        if let Some(d) = &spec.domainname {
            let d = cstr("domain name", d)?;
            plan.domainname = (d.as_ptr(), d.as_bytes().len());
            strings.push(d);
        }
    }

    match &spec.stdio {
        Stdio::Log(path) => {
            let null = File::open("/dev/null").map_err(|e| KernelError::io("open /dev/null", e))?;
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| KernelError::io(format!("open log {}", path.display()), e))?;
            plan.stdio = [null.as_raw_fd(), log.as_raw_fd(), log.as_raw_fd()];
            files.push(null);
            files.push(log);
        }
        Stdio::Inherit { stdin } => {
            plan.stdio = [-1, -1, -1];
            if !stdin {
                let null =
                    File::open("/dev/null").map_err(|e| KernelError::io("open /dev/null", e))?;
                plan.stdio[0] = null.as_raw_fd();
                files.push(null);
            }
        }
        Stdio::Tty { size } => {
            plan.tty_size = size.unwrap_or((0, 0));
            if !spec.new_session {
                return Err(KernelError::io(
                    "spawn",
                    std::io::Error::other("a terminal needs a new session"),
                ));
            }
        }
    }
    plan.new_session = spec.new_session;

    let c = &spec.confinement;
    plan.caps = c.caps;
    plan.last_cap = super::caps_last();
    plan.no_new_privs = c.no_new_privs;
    plan.user = c.user.map(|u| (u.uid, u.gid));
    plan.groups = c.groups.clone();
    plan.seccomp = c.seccomp.clone();

    let workdir = cstr("working directory", spec.workdir.as_deref().unwrap_or("/"))?;
    plan.workdir = workdir.as_ptr();
    strings.push(workdir);

    // The pipe the child (and, after it, the init) reports failures on.
    let (rd, wr) = report_pipe()?;
    let mut argv_c: Vec<CString> = Vec::new();
    // The init pivots itself: until then the sandbox's root is where the plan mounted it.
    let unpivoted = match (&spec.init, steps.last()) {
        (Some(_), Some(mounts::Step::PivotRoot { new_root })) => {
            Some(PathBuf::from(new_root.to_string_lossy().into_owned()))
        }
        _ => None,
    };
    let tty = if matches!(spec.stdio, Stdio::Tty { .. }) {
        let ptmx = match &unpivoted {
            Some(r) => r.join("dev/ptmx"),
            None => PathBuf::from("/dev/ptmx"),
        };
        let ptmx = cstr("terminal", &ptmx.to_string_lossy())?;
        plan.tty_ptmx = ptmx.as_ptr();
        strings.push(ptmx);
        let (mine, theirs) = crate::pty::socket_pair()?;
        plan.tty_socket = theirs.as_raw_fd();
        files.push(File::from(theirs));
        Some(mine)
    } else {
        None
    };
    let mut handoff_kept = None;
    let init_wanted = match launch {
        Launch::Clone => spec.init.is_some(),
        Launch::InPlace { init } => init,
    };
    if init_wanted {
        // The init, not this child, pivots into the root filesystem (its own program must
        // be loaded from the host's first) and applies the confinement.
        let root = unpivoted;
        if root.is_some() {
            steps.pop();
        }
        let handoff = super::init::Handoff {
            root,
            caps: c.caps,
            last_cap: plan.last_cap,
            no_new_privs: c.no_new_privs,
            user: c.user.map(|u| (u.uid, u.gid)),
            groups: c.groups.clone(),
            seccomp: c.seccomp.clone(),
            workdir: spec.workdir.clone().unwrap_or_else(|| "/".into()),
        };
        if let (Launch::Clone, Some(init)) = (launch, &spec.init) {
            let memfd = handoff.to_memfd()?;
            plan.handoff_fd = memfd.as_raw_fd();
            argv_c.push(cstr("argument", INIT_ARG0)?);
            argv_c.push(cstr("argument", &memfd.as_raw_fd().to_string())?);
            argv_c.push(cstr("argument", &wr.as_raw_fd().to_string())?);
            argv_c.push(cstr("argument", "--")?);
            plan.exec_fd = init.as_raw_fd();
            files.push(memfd);
        } else {
            handoff_kept = Some(handoff);
        }
    }
    for a in &spec.argv {
        argv_c.push(cstr("argument", a)?);
    }
    let env_c = spec
        .env
        .iter()
        .map(|e| cstr("environment entry", e))
        .collect::<Result<Vec<_>>>()?;
    plan.argv = argv_c.iter().map(|s| s.as_ptr()).collect();
    plan.argv.push(std::ptr::null());
    plan.envp = env_c.iter().map(|s| s.as_ptr()).collect();
    plan.envp.push(std::ptr::null());
    if !init_wanted {
        for p in candidates(program, &spec.env) {
            let p = cstr("program path", &p)?;
            plan.candidates.push(p.as_ptr());
            strings.push(p);
        }
    }
    strings.extend(argv_c);
    strings.extend(env_c);

    let cgroup = match &spec.cgroup {
        Some(dir) => {
            flags |= CLONE_INTO_CGROUP;
            Some(open_cgroup(dir)?)
        }
        None => None,
    };
    Ok(Prepared {
        plan,
        steps,
        pipe: (rd, std::sync::Mutex::new(Some(wr))),
        _files: files,
        _strings: strings,
        cgroup,
        pid_ns,
        flags,
        tty,
        handoff: handoff_kept,
    })
}

/// Starts the process and returns its PID (in the caller's PID namespace), and the master of
/// its terminal with [`Stdio::Tty`]. The process is the caller's child: its exit is collected
/// with `waitid` (see `Pidfd`).
pub fn spawn(spec: &SpawnSpec) -> Result<Spawned> {
    let prepared = prepare(spec, Launch::Clone)?;
    let program = spec.argv.first().cloned().unwrap_or_default();
    // Joining a PID namespace changes where the calling thread's next child is born, and
    // must not outlast this start: a thread of its own then. Otherwise the calling thread
    // clones (a thread's start and join cost a hand-over each, on a busy machine a wait).
    let (pid, failure) = if prepared.pid_ns.is_some() {
        std::thread::scope(|s| {
            s.spawn(|| clone_child(&prepared))
                .join()
                .unwrap_or_else(|_| {
                    Err(KernelError::io("spawn", std::io::Error::other("panicked")))
                })
        })?
    } else {
        clone_child(&prepared)?
    };
    match failure {
        None => {
            // The child sent the master before it exec'd: it waits on the socket.
            let pty = match &prepared.tty {
                Some(sock) => {
                    Some(crate::pty::recv_fd(sock.as_raw_fd(), true)?.ok_or_else(|| {
                        KernelError::io(
                            format!("start {program:?}: receive its terminal"),
                            std::io::Error::other("none was sent"),
                        )
                    })?)
                }
                None => None,
            };
            Ok(Spawned { pid, pty })
        }
        Some((stage, errno)) => Err(start_failure(&program, &prepared.steps, stage, errno)),
    }
}

/// Clones the child and waits until it has exec'd (or failed, which is then returned).
fn clone_child(p: &Prepared) -> Result<(u32, Option<(u32, i32)>)> {
    if let Some(ns) = &p.pid_ns {
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
            return Err(KernelError::io(
                "join the PID namespace",
                std::io::Error::last_os_error(),
            ));
        }
    }
    let wr = p
        .pipe
        .1
        .lock()
        .ok()
        .and_then(|mut w| w.take())
        .ok_or_else(|| KernelError::io("spawn", std::io::Error::other("pipe already used")))?;
    let rd = &p.pipe.0;
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = p.flags;
    args.exit_signal = libc::SIGCHLD as u64;
    if let Some(cg) = &p.cgroup {
        args.cgroup = cg.as_raw_fd() as u64;
    }
    let r = match vfork::clone(&mut args, &p.plan, &p.steps, wr.as_raw_fd()) {
        Some(r) => r,
        None => {
            // SAFETY: without CLONE_VM this is a fork: the child gets a copy of this address
            // space and runs only `child::run`, which makes raw system calls on data prepared
            // above.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &mut args as *mut libc::clone_args,
                    std::mem::size_of::<libc::clone_args>(),
                )
            };
            if r == 0 {
                unsafe { child::run(&p.plan, &p.steps, wr.as_raw_fd()) }
            }
            r
        }
    };
    if r < 0 {
        return Err(KernelError::io(
            "clone3 (new namespaces)",
            std::io::Error::last_os_error(),
        ));
    }
    drop(wr);
    let pid = r as u32;
    Ok((pid, wait_report(rd, pid)))
}

/// Reads the report pipe of process `pid` until it closes (the program, or the init, runs:
/// `None`) or a failure arrives (stage, errno), in which case the process, which exits after
/// reporting, is reaped.
pub(super) fn wait_report(rd: &OwnedFd, pid: u32) -> Option<(u32, i32)> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        let n = unsafe {
            libc::read(
                rd.as_raw_fd(),
                buf[got..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - got,
            )
        };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got < buf.len() {
        // End of file: the pipe closed on exec.
        return None;
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some((stage, errno))
}

/// The error for a start that failed at `stage` with `errno` (mount steps named by `steps`).
pub(super) fn start_failure(
    program: &str,
    steps: &[mounts::Step],
    stage: u32,
    errno: i32,
) -> KernelError {
    let what = match Stage::from_code(stage) {
        Stage::Mount(i) => steps
            .get(i)
            .map(mounts::Step::describe)
            .unwrap_or_else(|| "mount".into()),
        Stage::Exec => format!("run {program:?}"),
        other => other.describe().to_string(),
    };
    KernelError::io(
        format!("start {program:?}: {what}"),
        std::io::Error::from_raw_os_error(errno),
    )
}

/// Clones a standby sandbox process (see `standby`): ferry's init (`init`, an open
/// executable) in new mount, UTS, IPC, PID and network namespaces, born in `cgroup` when
/// given, its standard streams on /dev/null, waiting on `sock` for its sandbox. Returns once
/// it runs.
pub(super) fn spawn_standby(init: &File, cgroup: Option<&Path>, sock: &OwnedFd) -> Result<u32> {
    let mut plan = ChildPlan::default();
    let null = File::open("/dev/null").map_err(|e| KernelError::io("open /dev/null", e))?;
    plan.stdio = [null.as_raw_fd(); 3];
    let (rd, wr) = report_pipe()?;
    let argv_c = [
        INIT_ARG0.to_string(),
        super::standby::ARG.to_string(),
        sock.as_raw_fd().to_string(),
        wr.as_raw_fd().to_string(),
    ]
    .iter()
    .map(|a| cstr("argument", a))
    .collect::<Result<Vec<_>>>()?;
    plan.argv = argv_c.iter().map(|a| a.as_ptr()).collect();
    plan.argv.push(std::ptr::null());
    plan.envp = vec![std::ptr::null()];
    plan.exec_fd = init.as_raw_fd();
    // The socket stays open across the exec (as a handoff does).
    plan.handoff_fd = sock.as_raw_fd();
    let mut flags = (libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET) as u64;
    let cgroup = match cgroup {
        Some(dir) => {
            flags |= CLONE_INTO_CGROUP;
            Some(open_cgroup(dir)?)
        }
        None => None,
    };
    let prepared = Prepared {
        plan,
        steps: Vec::new(),
        pipe: (rd, std::sync::Mutex::new(Some(wr))),
        _files: vec![null],
        _strings: argv_c,
        cgroup,
        pid_ns: None,
        flags,
        tty: None,
        handoff: None,
    };
    match clone_child(&prepared)? {
        (pid, None) => Ok(pid),
        (_, Some((stage, errno))) => Err(start_failure("ferry-init", &[], stage, errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_lookup_follows_path() {
        let env = vec!["PATH=/a:/b/".to_string()];
        assert_eq!(candidates("sh", &env), vec!["/a/sh", "/b/sh"]);
        assert_eq!(candidates("./x", &env), vec!["./x"]);
        assert_eq!(candidates("/bin/sh", &env), vec!["/bin/sh"]);
        assert!(candidates("sh", &[]).contains(&"/usr/bin/sh".to_string()));
    }
}

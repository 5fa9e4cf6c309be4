//! The child side of a sandbox start. It runs in a process forked from a threaded one, so it
//! makes raw system calls only, on data the parent prepared: no allocation, no locks, no
//! panics. A failure is written to the parent's pipe as (stage, errno) and the child exits.

use super::mounts::{Step, MAX_BINDS};
use std::ffi::c_char;

/// Where the child failed (sent to the parent as a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resetting signals and the session.
    Setup,
    /// Joining a namespace of another process.
    Join,
    /// A cgroup namespace of its own.
    CgroupNs,
    /// Host and domain name.
    Hostname,
    /// Mount step `i` of the plan.
    Mount(usize),
    /// Entering a running sandbox's root.
    Root,
    /// Standard streams.
    Stdio,
    /// The capability bounding set.
    Bounding,
    /// The seccomp filter.
    Seccomp,
    /// Groups and user.
    User,
    /// Capability sets.
    Caps,
    /// `no_new_privs`.
    NoNewPrivs,
    /// The working directory.
    Workdir,
    /// Running the program.
    Exec,
    /// Opening the sandbox's terminal.
    Tty,
}

const MOUNT_BASE: u32 = 1000;

impl Stage {
    /// Its number on the wire.
    pub fn code(self) -> u32 {
        match self {
            Stage::Setup => 1,
            Stage::Join => 2,
            Stage::CgroupNs => 3,
            Stage::Hostname => 4,
            Stage::Root => 5,
            Stage::Stdio => 6,
            Stage::Bounding => 7,
            Stage::Seccomp => 8,
            Stage::User => 9,
            Stage::Caps => 10,
            Stage::NoNewPrivs => 11,
            Stage::Workdir => 12,
            Stage::Exec => 13,
            Stage::Tty => 14,
            Stage::Mount(i) => MOUNT_BASE + i as u32,
        }
    }

    /// The stage a code names.
    pub fn from_code(c: u32) -> Stage {
        match c {
            1 => Stage::Setup,
            2 => Stage::Join,
            3 => Stage::CgroupNs,
            4 => Stage::Hostname,
            5 => Stage::Root,
            6 => Stage::Stdio,
            7 => Stage::Bounding,
            8 => Stage::Seccomp,
            9 => Stage::User,
            10 => Stage::Caps,
            11 => Stage::NoNewPrivs,
            12 => Stage::Workdir,
            14 => Stage::Tty,
            c if c >= MOUNT_BASE => Stage::Mount((c - MOUNT_BASE) as usize),
            _ => Stage::Exec,
        }
    }

    /// What was being done.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Setup => "reset signals and start a session",
            Stage::Join => "join the sandbox's namespaces",
            Stage::CgroupNs => "make a cgroup namespace",
            Stage::Hostname => "set the host name",
            Stage::Mount(_) => "mount",
            Stage::Root => "enter the sandbox's root",
            Stage::Stdio => "set up standard streams",
            Stage::Bounding => "drop capabilities from the bounding set",
            Stage::Seccomp => "install the seccomp filter",
            Stage::User => "switch user",
            Stage::Caps => "set capabilities",
            Stage::NoNewPrivs => "set no_new_privs",
            Stage::Workdir => "change to the working directory",
            Stage::Exec => "run the program",
            Stage::Tty => "open a terminal in the sandbox's devpts",
        }
    }
}

/// What the child does, prepared by the parent. Pointers point into strings the parent keeps
/// alive until the child has exec'd.
pub struct ChildPlan {
    /// Namespaces to join: (descriptor, `CLONE_NEW*` kind).
    pub joins: Vec<(i32, libc::c_int)>,
    /// A cgroup namespace of its own, rooted at the cgroup it was born in.
    pub unshare_cgroup: bool,
    /// Host name (pointer, length), when set.
    pub hostname: (*const c_char, usize),
    /// Domain name (pointer, length), when set.
    pub domainname: (*const c_char, usize),
    /// A running sandbox's root to enter (`-1`: none).
    pub root_fd: i32,
    /// Descriptors for standard input, output and error (`-1`: keep).
    pub stdio: [i32; 3],
    /// Start a new session.
    pub new_session: bool,
    /// The sandbox's `/dev/ptmx` (as seen once in its root), when the process gets a
    /// terminal: its slave becomes the standard streams and the controlling terminal, its
    /// master is sent on `tty_socket`. Null for none.
    pub tty_ptmx: *const c_char,
    /// The socket the terminal's master is sent on.
    pub tty_socket: i32,
    /// The terminal's window size (rows, columns); (0, 0) leaves it unset.
    pub tty_size: (u16, u16),
    /// Capabilities to keep; `None` keeps all.
    pub caps: Option<u64>,
    /// The highest capability number of this kernel.
    pub last_cap: u32,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// (uid, gid) to switch to.
    pub user: Option<(u32, u32)>,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Seccomp filter.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// Working directory.
    pub workdir: *const c_char,
    /// Arguments, null-terminated.
    pub argv: Vec<*const c_char>,
    /// Environment, null-terminated.
    pub envp: Vec<*const c_char>,
    /// Paths to try, in order, for the program.
    pub candidates: Vec<*const c_char>,
    /// Run this open executable instead (ferry's init), `-1` for none.
    pub exec_fd: i32,
    /// What the init is to do (see `init::Handoff`), `-1` for none.
    pub handoff_fd: i32,
}

impl Default for ChildPlan {
    fn default() -> Self {
        ChildPlan {
            joins: Vec::new(),
            unshare_cgroup: false,
            hostname: (std::ptr::null(), 0),
            domainname: (std::ptr::null(), 0),
            root_fd: -1,
            stdio: [-1; 3],
            new_session: false,
            tty_ptmx: std::ptr::null(),
            tty_socket: -1,
            tty_size: (0, 0),
            caps: None,
            last_cap: 40,
            no_new_privs: false,
            user: None,
            groups: Vec::new(),
            seccomp: None,
            workdir: std::ptr::null(),
            argv: Vec::new(),
            envp: Vec::new(),
            candidates: Vec::new(),
            exec_fd: -1,
            handoff_fd: -1,
        }
    }
}

// SAFETY: the pointers are read-only views of strings owned beside the plan, which outlives
// every thread that reads it.
unsafe impl Send for ChildPlan {}
unsafe impl Sync for ChildPlan {}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

unsafe fn fail(pipe: i32, stage: Stage, err: i32) -> ! {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&stage.code().to_ne_bytes());
    buf[4..].copy_from_slice(&err.to_ne_bytes());
    libc::write(pipe, buf.as_ptr() as *const libc::c_void, buf.len());
    libc::_exit(127)
}

macro_rules! check {
    ($pipe:expr, $stage:expr, $call:expr) => {
        if $call < 0 {
            fail($pipe, $stage, errno());
        }
    };
}

const NULL: *const c_char = std::ptr::null();

unsafe fn mount_step(step: &Step, trees: &mut [i32; MAX_BINDS]) -> Result<(), i32> {
    let p = |o: &Option<std::ffi::CString>| o.as_ref().map_or(NULL, |c| c.as_ptr());
    let (r, optional) = match step {
        Step::Mount {
            source,
            target,
            fstype,
            flags,
            data,
            optional,
        } => (
            libc::mount(
                p(source),
                target.as_ptr(),
                p(fstype),
                *flags,
                p(data) as *const libc::c_void,
            ),
            *optional,
        ),
        Step::ReadOnlyTree { target, optional } => {
            // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }
            let attr: [u64; 4] = [0x1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0];
            let r = libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                target.as_ptr(),
                0x8000u32, /* AT_RECURSIVE */
                attr.as_ptr(),
                std::mem::size_of_val(&attr),
            );
            (r as i32, *optional)
        }
        Step::Mkdir { path, mode } => {
            if libc::mkdir(path.as_ptr(), *mode) < 0 && errno() != libc::EEXIST {
                return Err(errno());
            }
            (0, false)
        }
        Step::Touch { path } => {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            );
            if fd >= 0 {
                libc::close(fd);
            }
            (fd.min(0), false)
        }
        Step::Mknod { path, major, minor } => (
            libc::mknod(
                path.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(*major, *minor),
            ),
            false,
        ),
        Step::Symlink { target, link } => (libc::symlink(target.as_ptr(), link.as_ptr()), false),
        Step::CloneTree { source, slot } => {
            let fd = libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                source.as_ptr(),
                (1u32 /* OPEN_TREE_CLONE */ | libc::O_CLOEXEC as u32 | 0x8000/* AT_RECURSIVE */)
                    as libc::c_uint,
            );
            if fd < 0 {
                return Err(errno());
            }
            trees[*slot] = fd as i32;
            (0, false)
        }
        Step::AttachTree { slot, target } => (
            libc::syscall(
                libc::SYS_move_mount,
                trees[*slot],
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                0x4u32, /* MOVE_MOUNT_F_EMPTY_PATH */
            ) as i32,
            false,
        ),
        Step::PivotRoot { new_root } => {
            pivot_root(new_root)?;
            (0, false)
        }
    };
    if r < 0 {
        let e = errno();
        if !(optional && e == libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}

/// Makes `new_root` (a mount point) the root and detaches the old one, so nothing of it stays
/// reachable (unlike `chroot`, which `CAP_SYS_CHROOT` can walk out of).
///
/// # Safety
/// Changes the root of the calling process's mount namespace for good.
pub unsafe fn pivot_root(new_root: &std::ffi::CStr) -> Result<(), i32> {
    let dot = c".".as_ptr();
    if libc::chdir(new_root.as_ptr()) < 0
        || libc::syscall(libc::SYS_pivot_root, dot, dot) < 0
        || libc::umount2(dot, libc::MNT_DETACH) < 0
        || libc::chdir(c"/".as_ptr()) < 0
    {
        return Err(errno());
    }
    Ok(())
}

/// Drops every capability not in `keep` from the bounding set (needs CAP_SETPCAP, so this
/// comes before the capability sets shrink).
unsafe fn drop_bounding(keep: u64, last_cap: u32) -> Result<(), i32> {
    for cap in 0..=last_cap.min(63) {
        if keep & (1u64 << cap) == 0
            && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
            && errno() != libc::EINVAL
        {
            return Err(errno());
        }
    }
    Ok(())
}

/// Sets effective and permitted to `keep`, inheritable and ambient to nothing (inheritable
/// is cleared as Docker does since CVE-2022-24769).
unsafe fn set_caps(keep: u64) -> Result<(), i32> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let lo = keep as u32;
    let hi = (keep >> 32) as u32;
    let data = [
        Data {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        Data {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) < 0 {
        return Err(errno());
    }
    if libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
        0,
        0,
    ) < 0
        && errno() != libc::EINVAL
    {
        return Err(errno());
    }
    Ok(())
}

unsafe fn install_seccomp(prog: &[libc::sock_filter]) -> Result<(), i32> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    if libc::syscall(
        libc::SYS_seccomp,
        1u32, /* SECCOMP_SET_MODE_FILTER */
        0u32,
        &fprog as *const libc::sock_fprog,
    ) < 0
    {
        return Err(errno());
    }
    Ok(())
}

/// The last steps before the program: capabilities, seccomp, user, `no_new_privs`.
pub struct Confine<'a> {
    /// Capabilities kept; `None` keeps all.
    pub caps: Option<u64>,
    /// The kernel's highest capability.
    pub last_cap: u32,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// (uid, gid).
    pub user: Option<(u32, u32)>,
    /// Supplementary groups (with `user`).
    pub groups: &'a [u32],
    /// Seccomp program.
    pub seccomp: Option<&'a [libc::sock_filter]>,
}

impl Confine<'_> {
    /// Applies them to the calling process (raw system calls only: safe after a fork).
    ///
    /// # Safety
    /// Changes the calling process's credentials for good.
    pub unsafe fn apply(&self) -> Result<(), (Stage, i32)> {
        if let Some(keep) = self.caps {
            drop_bounding(keep, self.last_cap).map_err(|e| (Stage::Bounding, e))?;
        }
        // Without no_new_privs a filter needs CAP_SYS_ADMIN, so it goes in before the user
        // and capabilities change (the filter must then allow those calls, as Docker's does).
        if let (Some(prog), false) = (self.seccomp, self.no_new_privs) {
            install_seccomp(prog).map_err(|e| (Stage::Seccomp, e))?;
        }
        let sys = |r: libc::c_int, stage: Stage| {
            if r < 0 {
                Err((stage, errno()))
            } else {
                Ok(())
            }
        };
        if let Some((uid, gid)) = self.user {
            sys(
                libc::setgroups(self.groups.len(), self.groups.as_ptr()),
                Stage::User,
            )?;
            sys(libc::setresgid(gid, gid, gid), Stage::User)?;
            // A non-root user loses every capability here, as in Docker.
            sys(libc::setresuid(uid, uid, uid), Stage::User)?;
        }
        if let Some(keep) = self.caps {
            if self.user.is_none_or(|(uid, _)| uid == 0) {
                set_caps(keep).map_err(|e| (Stage::Caps, e))?;
            }
        }
        if self.no_new_privs {
            sys(
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                Stage::NoNewPrivs,
            )?;
            if let Some(prog) = self.seccomp {
                install_seccomp(prog).map_err(|e| (Stage::Seccomp, e))?;
            }
        }
        Ok(())
    }
}

/// Sets every signal the daemon handles back to its default action (ignored ones stay
/// ignored, as across an exec): a child sharing the daemon's memory must run none of its
/// handlers, and the program gets defaults anyway.
unsafe fn default_handlers() {
    let mut dfl: libc::sigaction = std::mem::zeroed();
    dfl.sa_sigaction = libc::SIG_DFL;
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction != libc::SIG_DFL
            && old.sa_sigaction != libc::SIG_IGN
        {
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
    }
}

/// Opens a terminal through `ptmx` (the sandbox's, now that its root is in place), sends its
/// master on `socket`, and makes its slave the standard streams and the controlling terminal
/// of this session (the process leads a new one).
unsafe fn open_tty(ptmx: *const c_char, socket: i32, size: (u16, u16)) -> Result<(), i32> {
    let master = libc::open(ptmx, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
    if master < 0 {
        return Err(errno());
    }
    if size != (0, 0) {
        // Before the program runs: its first look at the size is the client's.
        let ws = libc::winsize {
            ws_row: size.0,
            ws_col: size.1,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        libc::ioctl(master, libc::TIOCSWINSZ, &ws);
    }
    let unlock: libc::c_int = 0;
    // The slave is opened from the master itself (TIOCGPTPEER), not by a path a process of
    // the sandbox could have replaced.
    let slave = if libc::ioctl(master, libc::TIOCSPTLCK, &unlock) < 0 {
        -1
    } else {
        libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 || crate::pty::send_fd_raw(socket, master) < 0 {
        let e = errno();
        libc::close(master);
        return Err(e);
    }
    libc::close(master);
    for target in 0..3 {
        if libc::dup2(slave, target) < 0 {
            return Err(errno());
        }
    }
    if slave > 2 {
        libc::close(slave);
    }
    if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Runs the plan and execs; never returns.
///
/// # Safety
/// Only in a child just cloned by `spawn` (forked, or sharing the caller's memory while the
/// caller waits: see `vfork`), with every signal blocked or with no handler that matters.
pub unsafe fn run(plan: &ChildPlan, steps: &[Step], pipe: i32) -> ! {
    set_up(plan, steps, pipe);
    if plan.exec_fd >= 0 {
        // ferry's init takes over from here: it pivots, confines itself and starts the
        // program, reporting on the same pipe (see `init`).
        for fd in [plan.handoff_fd, pipe] {
            check!(pipe, Stage::Setup, libc::fcntl(fd, libc::F_SETFD, 0));
        }
        libc::syscall(
            libc::SYS_execveat,
            plan.exec_fd,
            c"".as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        fail(pipe, Stage::Exec, errno());
    }
    finish(plan, pipe)
}

/// The process's session, namespaces, names, mounts and standard streams, as planned; every
/// other descriptor is made close-on-exec. Returns once done; a failure is reported on
/// `pipe` and ends the process. Also run by a standby sandbox process, in itself, when it
/// is given its sandbox (see `standby`).
///
/// # Safety
/// As [`run`].
pub unsafe fn set_up(plan: &ChildPlan, steps: &[Step], pipe: i32) {
    default_handlers();
    // Signals: the daemon's mask and ignored SIGPIPE must not reach the program.
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    check!(
        pipe,
        Stage::Setup,
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut())
    );
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    if plan.new_session {
        check!(pipe, Stage::Setup, libc::setsid());
    }
    for (fd, kind) in &plan.joins {
        check!(pipe, Stage::Join, libc::setns(*fd, *kind));
    }
    if plan.unshare_cgroup {
        check!(pipe, Stage::CgroupNs, libc::unshare(libc::CLONE_NEWCGROUP));
    }
    if !plan.hostname.0.is_null() {
        check!(
            pipe,
            Stage::Hostname,
            libc::sethostname(plan.hostname.0, plan.hostname.1)
        );
    }
    if !plan.domainname.0.is_null() {
        check!(
            pipe,
            Stage::Hostname,
            libc::setdomainname(plan.domainname.0, plan.domainname.1)
        );
    }
    // Device nodes and mount points get exactly the modes asked for.
    let old_umask = libc::umask(0);
    let mut trees = [-1i32; MAX_BINDS];
    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = mount_step(step, &mut trees) {
            fail(pipe, Stage::Mount(i), e);
        }
    }
    // Attached, the trees need no descriptor (a standby's init lives on with its own).
    for fd in trees {
        if fd >= 0 {
            libc::close(fd);
        }
    }
    libc::umask(old_umask);
    if plan.root_fd >= 0 {
        check!(pipe, Stage::Root, libc::fchdir(plan.root_fd));
        check!(pipe, Stage::Root, libc::chroot(c".".as_ptr()));
    }
    for (target, fd) in plan.stdio.iter().enumerate() {
        if *fd >= 0 {
            check!(pipe, Stage::Stdio, libc::dup2(*fd, target as i32));
        }
    }
    if !plan.tty_ptmx.is_null() {
        if let Err(e) = open_tty(plan.tty_ptmx, plan.tty_socket, plan.tty_size) {
            fail(pipe, Stage::Tty, e);
        }
    }
    // Nothing of the caller's but the standard streams reaches the program (the pipe and the
    // init binary close on exec, which is what they are for).
    libc::syscall(
        libc::SYS_close_range,
        3u32,
        u32::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
}

/// Confines the process and runs the program as planned (the program is the sandbox's first
/// process: no init). A failure is reported on `pipe` and ends the process.
///
/// # Safety
/// As [`run`], after [`set_up`].
pub unsafe fn finish(plan: &ChildPlan, pipe: i32) -> ! {
    let confine = Confine {
        caps: plan.caps,
        last_cap: plan.last_cap,
        no_new_privs: plan.no_new_privs,
        user: plan.user,
        groups: &plan.groups,
        seccomp: plan.seccomp.as_deref(),
    };
    if let Err((stage, e)) = confine.apply() {
        fail(pipe, stage, e);
    }
    if !plan.workdir.is_null() {
        check!(pipe, Stage::Workdir, libc::chdir(plan.workdir));
    }
    let mut err = libc::ENOENT;
    for path in &plan.candidates {
        libc::execve(*path, plan.argv.as_ptr(), plan.envp.as_ptr());
        let e = errno();
        // As execvp: a permission problem is worth reporting over "not found".
        if e != libc::ENOENT && e != libc::ENOTDIR {
            err = e;
            if e != libc::EACCES {
                break;
            }
        }
    }
    fail(pipe, Stage::Exec, err)
}

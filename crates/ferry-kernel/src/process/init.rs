//! ferry's init: the first process of a sandbox's PID namespace when `--init` is on (the
//! default). A program that is PID 1 gets no default signal actions (a `stop`'s SIGTERM
//! would be ignored) and must reap every orphan of the namespace; most programs do neither.
//! The init starts the program, passes every signal it gets on to it, reaps whatever exits,
//! and exits with the program's status (128 + signal when it was killed).
//!
//! The daemon's child sets up namespaces and mounts, then execs the init while the host's
//! root is still in view (the init is this very program, which needs the host's loader and
//! libraries). The init then pivots into the sandbox's root filesystem, confines itself as
//! the program will be (capabilities, seccomp, user, `no_new_privs`: as Docker's init is
//! confined like its container), and starts the program. It reports a failure on the
//! daemon's pipe, as the child does, so a start fails with the step that failed.

use super::child::{Confine, Stage};
use crate::error::{KernelError, Result};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// What the daemon's child hands to the init (in a memfd): the last steps of the start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handoff {
    /// Root filesystem to pivot into.
    pub root: Option<PathBuf>,
    /// Capabilities kept; `None` keeps all.
    pub caps: Option<u64>,
    /// The kernel's highest capability.
    pub last_cap: u32,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// (uid, gid).
    pub user: Option<(u32, u32)>,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Seccomp program.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// Working directory of the program.
    pub workdir: String,
}

impl Handoff {
    /// One `key value` line each.
    pub fn encode(&self) -> String {
        let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
        let mut s = String::new();
        s += &format!(
            "root {}\n",
            opt(self.root.as_ref().map(|r| r.display().to_string()))
        );
        s += &format!("caps {}\n", opt(self.caps.map(|c| format!("{c:x}"))));
        s += &format!("lastcap {}\n", self.last_cap);
        s += &format!("nnp {}\n", u8::from(self.no_new_privs));
        s += &format!("user {}\n", opt(self.user.map(|(u, g)| format!("{u}:{g}"))));
        let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
        s += &format!("groups {}\n", groups.join(","));
        let seccomp = self.seccomp.as_ref().map(|p| {
            p.iter()
                .map(|i| format!("{:04x}{:02x}{:02x}{:08x}", i.code, i.jt, i.jf, i.k))
                .collect::<String>()
        });
        s += &format!("seccomp {}\n", opt(seccomp));
        s += &format!("workdir {}\n", self.workdir);
        s
    }

    /// Parses what `encode` wrote.
    pub fn decode(text: &str) -> Option<Self> {
        let mut h = Handoff::default();
        for line in text.lines() {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            let some = |v: &str| (v != "-").then(|| v.to_string());
            match k {
                "root" => h.root = some(v).map(PathBuf::from),
                "caps" => {
                    h.caps = some(v)
                        .map(|c| u64::from_str_radix(&c, 16))
                        .transpose()
                        .ok()?
                }
                "lastcap" => h.last_cap = v.parse().ok()?,
                "nnp" => h.no_new_privs = v == "1",
                "user" => {
                    h.user = match some(v) {
                        Some(u) => {
                            let (a, b) = u.split_once(':')?;
                            Some((a.parse().ok()?, b.parse().ok()?))
                        }
                        None => None,
                    }
                }
                "groups" => {
                    h.groups = v
                        .split(',')
                        .filter(|g| !g.is_empty())
                        .map(str::parse)
                        .collect::<std::result::Result<_, _>>()
                        .ok()?
                }
                "seccomp" => {
                    h.seccomp = match some(v) {
                        None => None,
                        Some(hex) => {
                            let mut prog = Vec::new();
                            for chunk in hex.as_bytes().chunks(16) {
                                let c = std::str::from_utf8(chunk).ok()?;
                                if c.len() != 16 {
                                    return None;
                                }
                                prog.push(libc::sock_filter {
                                    code: u16::from_str_radix(&c[0..4], 16).ok()?,
                                    jt: u8::from_str_radix(&c[4..6], 16).ok()?,
                                    jf: u8::from_str_radix(&c[6..8], 16).ok()?,
                                    k: u32::from_str_radix(&c[8..16], 16).ok()?,
                                });
                            }
                            Some(prog)
                        }
                    }
                }
                "workdir" => h.workdir = v.to_string(),
                _ => return None,
            }
        }
        Some(h)
    }

    /// A close-on-exec memfd holding it, read from the start.
    pub fn to_memfd(&self) -> Result<std::fs::File> {
        let fd = unsafe { libc::memfd_create(c"ferry-init".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(KernelError::io(
                "memfd_create",
                std::io::Error::last_os_error(),
            ));
        }
        let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        f.write_all(self.encode().as_bytes())
            .and_then(|()| f.rewind())
            .map_err(|e| KernelError::io("write the init's handoff", e))?;
        Ok(f)
    }
}

/// The kernel's `struct prctl_mm_map` (`PR_SET_MM_MAP`).
#[repr(C)]
struct MmMap {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    auxv: *mut u64,
    auxv_size: u32,
    exe_fd: u32,
}

/// Makes `/proc/self/cmdline` read `args`: the init was started with descriptors for
/// arguments (or, as a standby, with its own), not with its sandbox's program. `PR_SET_MM_MAP` (the whole map, as the kernel keeps it, with new
/// argument bounds) needs no capability when neither the executable nor the auxiliary vector
/// changes; the one-field form needs `CAP_SYS_RESOURCE`, which hosts may withhold. Best
/// effort: a command line is for the people and tools that list processes.
pub(super) fn show_command_line(args: &[String]) {
    let Some(fields) = super::stat_fields("self") else {
        return;
    };
    let fields: Vec<u64> = fields.iter().map(|f| f.parse().unwrap_or(0)).collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    let mut area = Vec::new();
    for a in args {
        area.extend_from_slice(a.as_bytes());
        area.push(0);
    }
    // It must outlive the process's use of it: that is, the process.
    let area: &'static mut [u8] = Box::leak(area.into_boxed_slice());
    let start = area.as_ptr() as u64;
    let mut map = MmMap {
        start_code: field(26),
        end_code: field(27),
        start_data: field(45),
        end_data: field(46),
        start_brk: field(47),
        // SAFETY: sbrk(0) only reads the current break.
        brk: unsafe { libc::sbrk(0) } as u64,
        start_stack: field(28),
        arg_start: start,
        arg_end: start + area.len() as u64,
        env_start: field(50),
        env_end: field(51),
        auxv: std::ptr::null_mut(),
        auxv_size: 0,
        exe_fd: u32::MAX,
    };
    // SAFETY: the map describes this process's own memory, the area is never freed.
    unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP as libc::c_ulong,
            &mut map as *mut MmMap as libc::c_ulong,
            std::mem::size_of::<MmMap>() as libc::c_ulong,
            0,
        );
    }
}

/// Reports a failure on the daemon's pipe and returns the exit code to leave with.
pub(super) fn report(pipe: &mut Option<std::fs::File>, stage: Stage, errno: i32) -> i32 {
    if let Some(p) = pipe {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&stage.code().to_ne_bytes());
        buf[4..].copy_from_slice(&errno.to_ne_bytes());
        let _ = p.write_all(&buf);
    }
    127
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The init's name, in `ps` as in `/proc/PID/comm`.
pub(super) const INIT_NAME: &str = "ferry-init";

/// Signals passed on to the program.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
    libc::SIGPWR,
];

extern "C" fn noop(_: libc::c_int) {}

fn status_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Runs as `ferry-init HANDOFF-FD PIPE-FD -- PROGRAM ARGS...`, or as a standby sandbox
/// process (`ferry-init --standby SOCKET-FD PIPE-FD`, see `standby`); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    if let [flag, sock, pipe] = args {
        if flag == super::standby::ARG {
            return match (sock.parse::<i32>(), pipe.parse::<i32>()) {
                (Ok(sock), Ok(pipe)) => super::standby::serve(sock, pipe),
                _ => 127,
            };
        }
    }
    let (handoff_fd, pipe_fd, argv) = match args {
        [h, p, dash, rest @ ..] if dash == "--" && !rest.is_empty() => {
            match (h.parse::<i32>(), p.parse::<i32>()) {
                (Ok(h), Ok(p)) => (h, p, rest),
                _ => {
                    eprintln!("ferry-init: started without the daemon's handoff");
                    return 127;
                }
            }
        }
        _ => {
            eprintln!("ferry-init: usage: ferry-init HANDOFF-FD PIPE-FD -- PROGRAM [ARGS...]");
            return 127;
        }
    };
    // `ps` shows the program, not the descriptors.
    let mut shown = vec![INIT_NAME.to_string(), "--".to_string()];
    shown.extend(argv.iter().cloned());
    show_command_line(&shown);
    // SAFETY: the daemon's child passed these two descriptors, open, for this process alone.
    let mut pipe = Some(unsafe { std::fs::File::from_raw_fd(pipe_fd) });
    let mut text = String::new();
    let handoff = {
        let mut f = unsafe { std::fs::File::from_raw_fd(handoff_fd) };
        f.read_to_string(&mut text)
            .ok()
            .and_then(|_| Handoff::decode(&text))
    };
    let Some(h) = handoff else {
        return report(&mut pipe, Stage::Setup, libc::EINVAL);
    };
    take_over(&h, pipe, argv, None)
}

/// The init's work once the sandbox's namespaces and mounts are made: pivots into its root,
/// confines itself, starts `argv`, then passes signals on and reaps until the program ends.
/// Failures go to `pipe`, which closes once the program runs. The program gets `env`, or the
/// init's own environment. Returns the exit code.
pub(super) fn take_over(
    h: &Handoff,
    mut pipe: Option<std::fs::File>,
    argv: &[String],
    env: Option<&[String]>,
) -> i32 {
    if let Some(root) = &h.root {
        let Ok(root) = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()) else {
            return report(&mut pipe, Stage::Root, libc::EINVAL);
        };
        if let Err(e) = unsafe { super::child::pivot_root(&root) } {
            return report(&mut pipe, Stage::Root, e);
        }
    }
    let confine = Confine {
        caps: h.caps,
        last_cap: h.last_cap,
        no_new_privs: h.no_new_privs,
        user: h.user,
        groups: &h.groups,
        seccomp: h.seccomp.as_deref(),
    };
    if let Err((stage, e)) = unsafe { confine.apply() } {
        return report(&mut pipe, stage, e);
    }
    if std::env::set_current_dir(&h.workdir).is_err() {
        return report(&mut pipe, Stage::Workdir, last_errno());
    }
    if let Some(p) = &pipe {
        // The program must not inherit the report pipe.
        unsafe { libc::fcntl(p.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let Some(program) = argv.first() else {
        return report(&mut pipe, Stage::Exec, libc::ENOENT);
    };
    // SAFETY: plain signal-handling calls on local data, in a single-threaded process.
    unsafe {
        // A PID 1 only receives signals it has a handler for: install one, then block them
        // so that they wait for sigwaitinfo below.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
            libc::signal(sig, noop as *const () as libc::sighandler_t);
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::prctl(
            libc::PR_SET_NAME,
            c"ferry-init".as_ptr() as libc::c_ulong, // INIT_NAME
            0,
            0,
            0,
        );
        let mut cmd = std::process::Command::new(program);
        cmd.args(&argv[1..]);
        if let Some(env) = env {
            // Set on the command, `PATH` is also where the program is looked up.
            cmd.env_clear();
            for e in env {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                cmd.env(k, v);
            }
        }
        cmd.pre_exec(|| {
            // The program leads a process group of its own, as under a shell, and gets none
            // of the signals the init blocked for itself.
            libc::setpgid(0, 0);
            // With a terminal, that group is its foreground one (the init's was): the
            // program reads it and gets its job-control signals. SIGTTOU, which a
            // background group's tcsetpgrp would raise, is blocked for the call.
            if libc::isatty(0) == 1 {
                let mut ttou: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut ttou);
                libc::sigaddset(&mut ttou, libc::SIGTTOU);
                libc::sigprocmask(libc::SIG_BLOCK, &ttou, std::ptr::null_mut());
                libc::tcsetpgrp(0, libc::getpid());
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
        let child = match cmd.spawn() {
            Ok(c) => c.id() as libc::pid_t,
            Err(e) => {
                return report(
                    &mut pipe,
                    Stage::Exec,
                    e.raw_os_error().unwrap_or(libc::ENOENT),
                );
            }
        };
        // Closing the pipe tells the daemon the program runs.
        drop(pipe.take());
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&set, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    // Leaving ends the namespace: the kernel kills what is left in it.
                    return status_code(status);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handoff_survives_its_encoding() {
        let h = Handoff {
            root: Some("/srv/root".into()),
            caps: Some(0xa80425fb),
            last_cap: 40,
            no_new_privs: true,
            user: Some((1000, 100)),
            groups: vec![100, 10],
            seccomp: Some(vec![libc::sock_filter {
                code: 0x20,
                jt: 1,
                jf: 2,
                k: 0xc000_003e,
            }]),
            workdir: "/work dir".into(),
        };
        assert_eq!(Handoff::decode(&h.encode()), Some(h));
        let d = Handoff {
            workdir: "/".into(),
            ..Default::default()
        };
        assert_eq!(Handoff::decode(&d.encode()), Some(d));
        assert_eq!(Handoff::decode("what ever"), None);
    }
}

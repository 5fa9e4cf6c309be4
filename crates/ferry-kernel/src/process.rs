//! Sandbox processes: spawned into their namespaces, identified by PID plus start time (so a
//! recycled PID is never mistaken for them), and watched through pidfds, which also work for
//! processes this daemon did not start (live restore after a daemon restart).

use crate::error::{KernelError, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tokio::io::unix::AsyncFd;

/// A file bind-mounted over a path inside the sandbox (its own /etc/hosts, ...).
#[derive(Debug, Clone)]
pub struct BindFile {
    /// The file ferry wrote.
    pub source: PathBuf,
    /// Where it appears in the sandbox (relative to the root filesystem when one is set).
    pub target: PathBuf,
}

/// How to start a sandbox's process.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Program and arguments (the program is looked up in the sandbox's PATH).
    pub argv: Vec<String>,
    /// Full environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Network namespace to join; `None` keeps the host's.
    pub netns: Option<PathBuf>,
    /// Host name in a new UTS namespace; `None` keeps the host's UTS namespace.
    pub hostname: Option<String>,
    /// Domain name (with `hostname`).
    pub domainname: Option<String>,
    /// Files to bind over paths in a new mount namespace.
    pub binds: Vec<BindFile>,
    /// Root filesystem directory to chroot into.
    pub rootfs: Option<PathBuf>,
    /// File that receives stdout and stderr.
    pub log: PathBuf,
}

fn cstr(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        KernelError::io(
            format!("{what} {s:?}"),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte"),
        )
    })
}

/// Starts the process; returns its PID. The child is a session leader of its own, so signals
/// meant for the daemon's terminal or process group never reach it, and it outlives the daemon.
pub fn spawn(spec: &SpawnSpec) -> Result<u32> {
    let argv0 = spec
        .argv
        .first()
        .ok_or_else(|| KernelError::io("spawn", std::io::Error::other("empty command")))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| KernelError::io(format!("open log {}", spec.log.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| KernelError::io("duplicate log fd", e))?;
    let netns: Option<File> = match &spec.netns {
        Some(p) => Some(
            File::open(p).map_err(|e| KernelError::io(format!("open netns {}", p.display()), e))?,
        ),
        None => None,
    };
    // Everything the child needs is prepared here: after fork only async-signal-safe calls
    // (raw syscalls, no allocation) are made.
    let hostname = spec.hostname.as_deref().map(|h| h.as_bytes().to_vec());
    let domainname = spec.domainname.as_deref().map(|h| h.as_bytes().to_vec());
    let rootfs = match &spec.rootfs {
        Some(r) => Some(cstr("rootfs", &r.to_string_lossy())?),
        None => None,
    };
    let mut binds = Vec::new();
    for b in &spec.binds {
        let target = match &spec.rootfs {
            Some(r) => r.join(b.target.strip_prefix("/").unwrap_or(&b.target)),
            None => b.target.clone(),
        };
        binds.push((
            cstr("bind source", &b.source.to_string_lossy())?,
            cstr("bind target", &target.to_string_lossy())?,
        ));
    }
    let workdir = match &spec.workdir {
        Some(w) => Some(cstr("working directory", w)?),
        None => None,
    };
    let root = cstr("root", "/")?;
    let netns_fd: Option<RawFd> = netns.as_ref().map(|f| f.as_raw_fd());
    let new_mounts = !binds.is_empty() || rootfs.is_some();

    let mut cmd = Command::new(argv0);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    for kv in &spec.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            check(libc::setsid())?;
            if let Some(fd) = netns_fd {
                check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            if let Some(h) = &hostname {
                check(libc::unshare(libc::CLONE_NEWUTS))?;
                check(libc::sethostname(
                    h.as_ptr() as *const libc::c_char,
                    h.len(),
                ))?;
                if let Some(d) = &domainname {
                    check(libc::setdomainname(
                        d.as_ptr() as *const libc::c_char,
                        d.len(),
                    ))?;
                }
            }
            if new_mounts {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                // Slave: the host's later mounts still reach this namespace, while the
                // sandbox's own binds never leak out.
                check(libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                ))?;
                for (src, dst) in &binds {
                    check(libc::mount(
                        src.as_ptr(),
                        dst.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ))?;
                }
                if let Some(r) = &rootfs {
                    check(libc::chroot(r.as_ptr()))?;
                    check(libc::chdir(root.as_ptr()))?;
                }
            }
            if let Some(w) = &workdir {
                check(libc::chdir(w.as_ptr()))?;
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| KernelError::io(format!("start {argv0:?}"), e))?;
    drop(netns);
    // The Child is dropped without waiting: the exit is collected through a pidfd.
    Ok(child.id())
}

/// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip past its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// The process group of `pid` (field 5 of /proc/PID/stat).
pub fn pgid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(2)?.parse().ok()
}

/// Kills every process of the group led by `pid` (a sandbox's process is a session and group
/// leader, so this reaches what it left behind). A group already gone is not an error.
pub fn kill_group(pid: u32) -> Result<()> {
    signal_raw(-(pid as i64) as libc::pid_t, libc::SIGKILL)
}

fn signal_raw(target: libc::pid_t, sig: i32) -> Result<()> {
    let r = unsafe { libc::kill(target, sig) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(KernelError::io(format!("signal {sig} to {target}"), e));
    }
    Ok(())
}

/// True when `pid` is alive and is the very process that started at `ticks`.
pub fn is_same_process(pid: u32, ticks: u64) -> bool {
    start_ticks(pid) == Some(ticks) && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s.get(i + 2..i + 3).map(|c| c == "Z"))
        })
        .unwrap_or(false)
}

/// Sends a signal; a process already gone is not an error.
pub fn signal(pid: u32, sig: i32) -> Result<()> {
    signal_raw(pid as libc::pid_t, sig)
}

/// A handle on a process that becomes readable when the process exits.
pub struct Pidfd {
    fd: AsyncFd<OwnedFd>,
    pid: u32,
}

impl Pidfd {
    /// Opens a pidfd for `pid`. Must run inside a tokio runtime.
    pub fn open(pid: u32) -> Result<Self> {
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if r < 0 {
            return Err(KernelError::io(
                format!("pidfd_open {pid}"),
                std::io::Error::last_os_error(),
            ));
        }
        let fd = crate::fds::move_high(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        // SAFETY: the OwnedFd is moved into the AsyncFd, which deregisters it before closing it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| KernelError::io("register pidfd", e.into()))?;
        Ok(Self { fd, pid })
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the exit. Returns the exit code (128+signal for a killed process, as shells
    /// report it) when the process was this daemon's child, `None` when it was adopted and its
    /// status is therefore the kernel's to keep from us.
    pub async fn wait(self) -> Option<i32> {
        if let Ok(mut g) = self.fd.readable().await {
            g.retain_ready();
        }
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.get_ref().as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if r < 0 {
            return None;
        }
        let status = unsafe { info.si_status() };
        match info.si_code {
            libc::CLD_EXITED => Some(status),
            libc::CLD_KILLED | libc::CLD_DUMPED => Some(128 + status),
            _ => None,
        }
    }
}

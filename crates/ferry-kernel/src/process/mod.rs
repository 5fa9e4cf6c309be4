//! Sandbox processes: started into their namespaces and confined (`spawn`), identified by
//! PID plus start time (so a recycled PID is never mistaken for them), kept in a cgroup of
//! their own (`cgroup`), and watched through pidfds, which also work for processes this
//! daemon did not start (live restore after a daemon restart).

pub mod cgroup;
mod child;
pub mod init;
pub mod mounts;
pub mod spawn;
pub mod standby;
mod vfork;

pub use spawn::{
    spawn, BindMount, Confinement, Mounts, Ns, SpawnSpec, Spawned, Stdio, User, INIT_ARG0,
};
pub use standby::Standby;

use crate::error::{KernelError, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;

/// The highest capability number this kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn caps_last() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The fields of `/proc/WHICH/stat` from the third (the state) on: the command name before
/// them may contain spaces and parentheses, so they start past its last ')'.
pub(crate) fn stat_fields(which: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Field `n` (1-based, as proc(5) numbers them, from 3 on) of `/proc/PID/stat`.
fn stat_field<T: std::str::FromStr>(pid: u32, n: usize) -> Option<T> {
    stat_fields(&pid.to_string())?
        .get(n.checked_sub(3)?)?
        .parse()
        .ok()
}

/// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat_field(pid, 22)
}

/// The process group of `pid` (field 5 of /proc/PID/stat).
pub fn pgid_of(pid: u32) -> Option<u32> {
    stat_field(pid, 5)
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
    stat_field::<String>(pid, 3).is_some_and(|state| state == "Z")
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

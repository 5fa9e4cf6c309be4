//! File descriptor housekeeping for a daemon that holds a few descriptors per sandbox (a pidfd,
//! one socket per published port): the limit is raised to what the host allows, and those
//! long-lived descriptors are moved above [`HIGH_FLOOR`], so the numbers below it stay free for
//! code that cannot handle large ones (libnftables waits on its netlink socket with `select`,
//! which aborts the process for a descriptor at or above FD_SETSIZE, 1024).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Long-lived descriptors are moved to this number or above.
pub const HIGH_FLOOR: i32 = 1024;

/// Moves `fd` to a number at or above [`HIGH_FLOOR`] (close-on-exec), or returns it unchanged
/// when the limit does not allow that.
pub fn move_high(fd: OwnedFd) -> OwnedFd {
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor; the new one is owned by the result.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FLOOR) };
    if n < 0 {
        return fd;
    }
    drop(fd);
    // SAFETY: n is a fresh descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(n) }
}

/// The lowest free descriptor number (what the next `socket()` would get, barring races).
pub fn lowest_free() -> Option<i32> {
    // SAFETY: opening /dev/null and closing it at once.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just opened here.
    unsafe { libc::close(fd) };
    Some(fd)
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_descriptors_above_the_floor() {
        let _ = raise_nofile_limit();
        let f = std::fs::File::open("/dev/null").expect("open");
        let low = f.as_raw_fd();
        let high = move_high(OwnedFd::from(f));
        assert!(high.as_raw_fd() >= HIGH_FLOOR, "{}", high.as_raw_fd());
        // The low number is free again.
        assert!(lowest_free().is_some_and(|n| n <= low));
    }
}

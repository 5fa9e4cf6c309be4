//! Pseudo-terminals of sandbox processes (`docker run -t`, `docker exec -t`). The terminal is
//! opened by the sandbox's own child, after it entered the sandbox's mount namespace and root,
//! through the sandbox's `/dev/ptmx` (a link to its own devpts instance): the process never
//! holds a terminal of the host's devpts. The child passes the master back over a socket
//! (`SCM_RIGHTS`); the holder of the master (the daemon) relays it, sets its window size, and
//! hangs the terminal up by closing it.

use crate::error::{KernelError, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;

/// Room for one descriptor's control message (`CMSG_SPACE(sizeof(int))`), kept aligned.
const CMSG_WORDS: usize = 4;

/// Sends `fd` over the Unix socket `sock` with one byte of data. Raw system calls on the
/// stack only: safe in a child forked from a threaded process. Returns -1 with `errno` set
/// on failure.
///
/// # Safety
/// `sock` and `fd` must be open descriptors.
pub unsafe fn send_fd_raw(sock: RawFd, fd: RawFd) -> libc::c_int {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut buf = [0u64; CMSG_WORDS];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
    let c = libc::CMSG_FIRSTHDR(&msg);
    if c.is_null() {
        return -1;
    }
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = libc::SCM_RIGHTS;
    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
    loop {
        let r = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
        if r >= 0 {
            return 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return -1;
        }
    }
}

/// Sends `fd` over the Unix socket `sock`.
pub fn send_fd(sock: RawFd, fd: RawFd) -> Result<()> {
    // SAFETY: the caller's descriptors; the message is built on this stack.
    if unsafe { send_fd_raw(sock, fd) } < 0 {
        return Err(KernelError::io(
            "send the terminal",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Receives a descriptor sent with [`send_fd`]; `None` when the peer closed without sending
/// one, or, with `nonblocking`, when none is waiting.
pub fn recv_fd(sock: RawFd, nonblocking: bool) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut buf = [0u64; CMSG_WORDS];
    // SAFETY: a message header over local buffers, read back within their bounds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&buf);
        let flags = libc::MSG_CMSG_CLOEXEC | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        let r = loop {
            let r = libc::recvmsg(sock, &mut msg, flags);
            if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break r;
            }
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(KernelError::io("receive the terminal", e));
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// A connected pair of Unix stream sockets (close-on-exec) to pass a terminal over.
pub fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the two descriptors, owned below.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(KernelError::io(
            "socketpair",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fresh descriptors nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets the window size of the terminal `fd` (master or slave): the foreground process group
/// gets SIGWINCH.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(KernelError::io(
            "set the terminal's size",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// A terminal's master, for the async runtime: read what the process writes, write what it
/// reads, resize, hang up.
pub struct Pty {
    fd: AsyncFd<OwnedFd>,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .finish()
    }
}

impl Pty {
    /// Wraps a master (made non-blocking). Must run inside a tokio runtime.
    pub fn new(master: OwnedFd) -> Result<Self> {
        let master = crate::fds::move_high(master);
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        // SAFETY: the OwnedFd is moved into the AsyncFd, which deregisters it before closing it.
        let fd = unsafe {
            AsyncFd::register_with_interest(
                master,
                tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE,
            )
        }
        .map_err(|e| KernelError::io("register the terminal", e.into()))?;
        Ok(Self { fd })
    }

    /// Reads what the process wrote; 0 once no process holds the terminal any more (the
    /// kernel then answers EIO, after what was left is read).
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            // SAFETY: read into a caller's buffer within its length.
            let r = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => g.clear_ready(),
                Some(libc::EINTR) => {}
                Some(libc::EIO) => return Ok(0),
                _ => return Err(e),
            }
        }
    }

    /// Writes all of `data` as the process's input.
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut g = self.fd.writable().await?;
            // SAFETY: write from a caller's buffer within its length.
            let r = unsafe {
                libc::write(
                    self.fd.get_ref().as_raw_fd(),
                    data.as_ptr() as *const libc::c_void,
                    data.len(),
                )
            };
            if r >= 0 {
                data = &data[r as usize..];
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => g.clear_ready(),
                Some(libc::EINTR) => {}
                _ => return Err(e),
            }
        }
        Ok(())
    }

    /// Sets the window size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        set_size(self.fd.get_ref().as_raw_fd(), rows, cols)
    }

    /// Does to the terminal's processes what a hangup does: SIGHUP then SIGCONT to the session
    /// leader and to the foreground process group. (The master itself closes only when its
    /// last holder drops it; `TIOCSIG` sends only SIGINT, SIGQUIT and SIGTSTP.)
    pub fn hang_up(&self) {
        let fd = self.fd.get_ref().as_raw_fd();
        let mut sid: libc::pid_t = 0;
        let mut pgrp: libc::pid_t = 0;
        // SAFETY: the ioctls fill local integers; the targets are the terminal's own processes,
        // numbered in the caller's PID namespace.
        unsafe {
            let mut targets = Vec::with_capacity(2);
            if libc::ioctl(fd, libc::TIOCGSID, &mut sid) == 0 && sid > 0 {
                targets.push(sid);
            }
            if libc::ioctl(fd, libc::TIOCGPGRP, &mut pgrp) == 0 && pgrp > 0 {
                targets.push(-pgrp);
            }
            for sig in [libc::SIGHUP, libc::SIGCONT] {
                for t in &targets {
                    libc::kill(*t, sig);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_passes_over_a_socket_pair() {
        let (a, b) = socket_pair().unwrap();
        assert!(recv_fd(b.as_raw_fd(), true).unwrap().is_none());
        let f = std::fs::File::open("/dev/null").unwrap();
        send_fd(a.as_raw_fd(), f.as_raw_fd()).unwrap();
        let got = recv_fd(b.as_raw_fd(), false).unwrap().unwrap();
        let path = std::fs::read_link(format!("/proc/self/fd/{}", got.as_raw_fd())).unwrap();
        assert_eq!(path, std::path::Path::new("/dev/null"));
        drop(a);
        assert!(recv_fd(b.as_raw_fd(), false).unwrap().is_none());
    }
}

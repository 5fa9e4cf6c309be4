//! Runs a test body in a forked child, as ferry runs its confinement steps: after `fork`
//! only raw system calls, so the body reports through a pipe (numbers or raw bytes) and
//! the parent checks what it wrote and how it ended.

#![allow(dead_code)]

use std::os::fd::RawFd;

/// How the child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// `_exit(status)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

fn pipe() -> [RawFd; 2] {
    let mut fds = [0; 2];
    // SAFETY: fds is an array of two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    fds
}

/// Forks; the parent calls `setup` with the child's PID, then lets the child run `body`,
/// which writes its report to the descriptor it is given. Returns the report and how the
/// child ended.
pub fn run(setup: impl FnOnce(libc::pid_t), body: impl FnOnce(RawFd)) -> (Vec<u8>, Ended) {
    let go = pipe();
    let report = pipe();
    // SAFETY: the child only makes system calls on memory prepared before the fork, then
    // `_exit`s; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: reads one byte into b.
        unsafe { libc::read(go[0], &mut b as *mut u8 as *mut libc::c_void, 1) };
        body(report[1]);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    setup(pid);
    // SAFETY: plain descriptor calls on our own pipes.
    unsafe {
        libc::close(report[1]);
        assert_eq!(
            libc::write(go[1], b"g".as_ptr() as *const libc::c_void, 1),
            1
        );
        libc::close(go[0]);
        libc::close(go[1]);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into buf.
        let n = unsafe { libc::read(report[0], buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: closes our read end.
    unsafe { libc::close(report[0]) };
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let ended = if libc::WIFSIGNALED(status) {
        Ended::Signaled(libc::WTERMSIG(status))
    } else {
        Ended::Exited(libc::WEXITSTATUS(status))
    };
    (out, ended)
}

/// Child-safe: writes `values` to `fd`.
pub fn put(fd: RawFd, values: &[i64]) {
    // SAFETY: writes the bytes of values.
    unsafe {
        libc::write(
            fd,
            values.as_ptr() as *const libc::c_void,
            std::mem::size_of_val(values),
        )
    };
}

/// What [`put`] wrote.
pub fn values(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// Child-safe: the errno of the last failed call.
pub fn errno() -> i64 {
    // SAFETY: reads the calling thread's errno.
    i64::from(unsafe { *libc::__errno_location() })
}

/// Child-safe: `r` if it succeeded, `-errno` if it failed (`r` is -1).
pub fn result(r: i64) -> i64 {
    if r < 0 {
        -errno()
    } else {
        r
    }
}

/// Whether the test runs as root (the caller asserts it: these tests need real kernel
/// objects, as CI gives them).
pub fn root() -> bool {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() == 0 }
}

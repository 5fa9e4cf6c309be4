//! Knowing when files are written to (inotify `IN_MODIFY`), for the daemon to note when a
//! sandbox's output arrived without standing in its way. One inotify instance watches every
//! file (the kernel allows few instances per user, 128 by default, but many watches).

use crate::error::{KernelError, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use tokio::io::unix::AsyncFd;

/// An inotify instance watching files for modifications.
pub struct Watcher {
    fd: AsyncFd<OwnedFd>,
}

/// The watch descriptors named by the events in `buf` (a whole number of `inotify_event`s).
fn watches_in(buf: &[u8]) -> Vec<i32> {
    const HEADER: usize = 16; // wd, mask, cookie, len
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= buf.len() {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&buf[at + i..at + i + 4]);
            w
        };
        let wd = i32::from_ne_bytes(word(0));
        let len = u32::from_ne_bytes(word(12)) as usize;
        if !out.contains(&wd) {
            out.push(wd);
        }
        at += HEADER + len;
    }
    out
}

impl Watcher {
    /// A new instance. Must run inside a tokio runtime.
    pub fn new() -> Result<Self> {
        // SAFETY: inotify_init1 returns a fresh descriptor, owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(KernelError::io(
                "inotify_init1",
                std::io::Error::last_os_error(),
            ));
        }
        let fd = crate::fds::move_high(unsafe { OwnedFd::from_raw_fd(raw) });
        // SAFETY: the OwnedFd is moved into the AsyncFd, which deregisters it before closing it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| KernelError::io("register inotify", e.into()))?;
        Ok(Self { fd })
    }

    /// Watches `path`'s modifications; returns the watch descriptor.
    pub fn add(&self, path: &Path) -> Result<i32> {
        let what = || format!("watch {}", path.display());
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            KernelError::io(what(), std::io::Error::other("path contains a NUL byte"))
        })?;
        // SAFETY: a valid descriptor and a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(self.fd.get_ref().as_raw_fd(), c.as_ptr(), libc::IN_MODIFY)
        };
        if wd < 0 {
            return Err(KernelError::io(what(), std::io::Error::last_os_error()));
        }
        Ok(wd)
    }

    /// Stops watching `wd` (a watch already gone is not an error).
    pub fn remove(&self, wd: i32) {
        // SAFETY: plain call on a valid descriptor.
        unsafe { libc::inotify_rm_watch(self.fd.get_ref().as_raw_fd(), wd) };
    }

    /// Waits for modifications; returns the watches that saw some.
    pub async fn changed(&self) -> std::io::Result<Vec<i32>> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let mut g = self.fd.readable().await?;
            // SAFETY: read into a local buffer within its size.
            let r = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if r > 0 {
                return Ok(watches_in(&buf[..r as usize]));
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::WouldBlock => g.clear_ready(),
                std::io::ErrorKind::Interrupted => {}
                _ => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_names_its_watch() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let w = Watcher::new().unwrap();
        let wa = w.add(&a).unwrap();
        let wb = w.add(&b).unwrap();
        assert_ne!(wa, wb);
        std::fs::write(&b, "x").unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), w.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![wb]);
        w.remove(wa);
    }

    #[test]
    fn events_are_parsed_with_their_names() {
        let mut buf = Vec::new();
        for (wd, name_len) in [(3i32, 0u32), (5, 16), (3, 0)] {
            buf.extend_from_slice(&wd.to_ne_bytes());
            buf.extend_from_slice(&2u32.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&name_len.to_ne_bytes());
            buf.extend(std::iter::repeat_n(0u8, name_len as usize));
        }
        assert_eq!(watches_in(&buf), vec![3, 5]);
    }
}

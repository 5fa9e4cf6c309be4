//! Waiting for a file to be written to (inotify `IN_MODIFY`), for the daemon to note when a
//! sandbox's output arrived without reading it in the way.

use crate::error::{KernelError, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use tokio::io::unix::AsyncFd;

/// An inotify watch on one file's modifications.
pub struct Modified {
    fd: AsyncFd<OwnedFd>,
}

impl Modified {
    /// Watches `path`. Must run inside a tokio runtime.
    pub fn watch(path: &Path) -> Result<Self> {
        let what = || format!("watch {}", path.display());
        // SAFETY: inotify_init1 returns a fresh descriptor, owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(KernelError::io(what(), std::io::Error::last_os_error()));
        }
        let fd = crate::fds::move_high(unsafe { OwnedFd::from_raw_fd(raw) });
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            KernelError::io(what(), std::io::Error::other("path contains a NUL byte"))
        })?;
        // SAFETY: a valid descriptor and a NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
            return Err(KernelError::io(what(), std::io::Error::last_os_error()));
        }
        // SAFETY: the OwnedFd is moved into the AsyncFd, which deregisters it before closing it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| KernelError::io(what(), e.into()))?;
        Ok(Self { fd })
    }

    /// Waits until the file was written to since the last call (events in between are one).
    pub async fn changed(&self) -> std::io::Result<()> {
        let mut buf = [0u64; 512];
        loop {
            let mut g = self.fd.readable().await?;
            let mut got = false;
            loop {
                // SAFETY: read into a local buffer within its size.
                let r = unsafe {
                    libc::read(
                        self.fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        std::mem::size_of_val(&buf),
                    )
                };
                if r > 0 {
                    got = true;
                    continue;
                }
                let e = std::io::Error::last_os_error();
                if r < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if r < 0 && e.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(e);
                }
                g.clear_ready();
                break;
            }
            if got {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_wakes_the_watcher() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "").unwrap();
        let w = Modified::watch(&p).unwrap();
        let p2 = p.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::fs::write(p2, "x").unwrap();
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), w.changed())
            .await
            .unwrap()
            .unwrap();
    }
}

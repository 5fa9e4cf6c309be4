//! Network namespaces: made on a helper thread and held by a file (or by the processes inside
//! them), identified by (device, inode), and entered by short-lived helper threads.

use crate::error::{KernelError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Runs `f` on a fresh thread that has joined the network namespace at `path`, and returns its
/// result. The thread ends afterwards, so no thread is ever left in a foreign namespace.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let file = File::open(path)
        .map_err(|e| KernelError::io(format!("open netns {}", path.display()), e))?;
    let shown = path.display().to_string();
    std::thread::spawn(move || {
        setns(&file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::errno(format!("enter netns {shown}"), e))?;
        f()
    })
    .join()
    .map_err(|_| KernelError::io("netns helper thread", std::io::Error::other("panicked")))?
}

/// Creates a new network namespace held only by the returned file (no bind mount: nothing
/// outlives the daemon or the sandbox by accident, and no mount is copied into every other
/// sandbox's mount namespace). Runs `f` inside it on the same helper thread first. The
/// namespace lives while the file, or a process inside it, does.
pub fn create_held<T, F>(f: F) -> Result<(File, T)>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| KernelError::errno("unshare netns", e))?;
        let file = File::open("/proc/thread-self/ns/net")
            .map_err(|e| KernelError::io("open the new netns", e))?;
        Ok((file, f()?))
    })
    .join()
    .map_err(|_| KernelError::io("netns helper thread", std::io::Error::other("panicked")))?
}

/// A path that opens the namespace held by `file` while this process keeps it open.
pub fn held_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        file.as_raw_fd()
    ))
}

/// The path of a process's network namespace.
pub fn of_pid(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

/// Creates a namespace kept alive by a bind mount at `path` (for test hosts and tools that
/// need a namespace without a process in it).
pub fn create_mounted(path: &Path) -> Result<()> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let shown = path.display().to_string();
        File::create(&path)
            .map_err(|e| KernelError::io(format!("create netns file {shown}"), e))?;
        let made = unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::errno(format!("unshare netns for {shown}"), e))
            .and_then(|_| {
                mount(
                    Some("/proc/thread-self/ns/net"),
                    &path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| KernelError::errno(format!("bind-mount netns at {shown}"), e))
            });
        if made.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        made
    })
    .join()
    .map_err(|_| KernelError::io("netns helper thread", std::io::Error::other("panicked")))?
}

/// Unmounts and removes a namespace file; a missing one is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(KernelError::errno(
                format!("unmount netns {}", path.display()),
                e,
            ))
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(format!("remove {}", path.display()), e)),
    }
}

/// The (device, inode) pair that identifies a namespace.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// PIDs of the processes whose network namespace is the one at `path`.
pub fn pids_in(path: &Path) -> Vec<u32> {
    match identity(path) {
        Some(id) => pids_in_identity(id),
        None => Vec::new(),
    }
}

/// PIDs of the processes in the network namespace with this (device, inode) identity.
pub fn pids_in_identity(id: (u64, u64)) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| identity(Path::new(&format!("/proc/{pid}/ns/net"))) == Some(id))
        .collect()
}

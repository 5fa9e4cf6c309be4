//! Network namespaces kept alive by bind mounts (as iproute2's `ip netns` does), and running
//! code inside one on a helper thread.

use crate::error::{KernelError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Makes `dir` a shared mount point (binding it onto itself once), so that unmounting a netns
/// file there also unmounts it in the sandboxes' mount namespaces, which are slaves of the
/// host's. Without it every sandbox would pin every other sandbox's namespace.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| KernelError::io(format!("create {}", dir.display()), e))?;
    if !is_mount_point(dir) {
        mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| KernelError::errno(format!("bind-mount {} onto itself", dir.display()), e))?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| KernelError::errno(format!("make {} a shared mount", dir.display()), e))
}

fn is_mount_point(dir: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Ok(canon) = dir.canonicalize() else {
        return false;
    };
    let want = canon.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

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

/// Creates a new network namespace and keeps it alive by bind-mounting it at `path`. Then runs
/// `f` inside it on the same helper thread (for the first setup, e.g. bringing `lo` up).
pub fn create_with<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let path: PathBuf = path.to_path_buf();
    std::thread::spawn(move || {
        let shown = path.display().to_string();
        File::create(&path)
            .map_err(|e| KernelError::io(format!("create netns file {shown}"), e))?;
        let made = (|| {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| KernelError::errno(format!("unshare netns for {shown}"), e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| KernelError::errno(format!("bind-mount netns at {shown}"), e))
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        f()
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

/// The namespace files in a directory.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The (device, inode) pair that identifies a namespace.
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// PIDs of the processes whose network namespace is the one at `path`.
pub fn pids_in(path: &Path) -> Vec<u32> {
    let Some(id) = identity(path) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| identity(Path::new(&format!("/proc/{pid}/ns/net"))) == Some(id))
        .collect()
}

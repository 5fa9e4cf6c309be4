//! A cgroup (v2) per sandbox: every process a sandbox starts, forks or has `ferry exec`ed
//! into it lives in its cgroup, so after any crash the daemon finds all of them by reading a
//! directory, and kills them all in one write.

use crate::error::{KernelError, Result};
use std::path::{Path, PathBuf};

/// Creates the cgroup `dir` (an existing one is fine).
pub fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| KernelError::io(format!("create cgroup {}", dir.display()), e))
}

/// The PIDs in the cgroup `dir` (not its descendants); none when it does not exist.
pub fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// True while a process lives in `dir` or below it.
pub fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .map(|e| e.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

/// Kills every process in `dir` and below (`cgroup.kill`, or one SIGKILL per process on
/// kernels before 5.14). A cgroup already gone is not an error.
pub fn kill(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    match std::fs::write(dir.join("cgroup.kill"), "1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.exists() => {
            for pid in procs(dir) {
                super::signal(pid, libc::SIGKILL)?;
            }
            for child in children(dir) {
                kill(&child)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(format!("kill cgroup {}", dir.display()), e)),
    }
}

/// The child cgroups of `dir`.
pub fn children(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the cgroup `dir` and its descendants, which must hold no process. Returns false
/// when one still does (a killed process takes a moment to leave); gone already is fine.
pub fn remove(dir: &Path) -> bool {
    for child in children(dir) {
        remove(&child);
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Kills what is in `dir` and removes it, waiting up to `patience` for the processes to
/// leave. Returns false when it is still there afterwards.
pub fn kill_and_remove(dir: &Path, patience: std::time::Duration) -> bool {
    let _ = kill(dir);
    let deadline = std::time::Instant::now() + patience;
    loop {
        if remove(dir) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

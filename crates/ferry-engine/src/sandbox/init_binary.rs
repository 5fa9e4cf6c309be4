//! Which program runs as a sandbox's init: `ferry-init` installed beside the daemon's own
//! program, else the daemon's program itself (it becomes the init when started by that name).
//! The small program starts in a fraction of the time: the loader of the `ferry` binary
//! relocates and faults in the whole engine at every start.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The name of the init program, and the name the `ferry` binary answers to as one.
pub const NAME: &str = ferry_kernel::process::INIT_ARG0;

/// Where `ferry-init` is looked for: beside `exe`.
pub fn beside(exe: &Path) -> Option<PathBuf> {
    Some(exe.parent()?.join(NAME))
}

/// Opens the init program (open now: the files on disk may be replaced while the daemon runs).
pub fn open() -> std::io::Result<File> {
    let own = std::fs::read_link("/proc/self/exe").ok();
    if let Some(path) = own.as_deref().and_then(beside) {
        let runnable = |f: &File| {
            use std::os::unix::fs::PermissionsExt;
            f.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if let Some(f) = File::open(&path).ok().filter(runnable) {
            tracing::debug!(init = %path.display(), "sandboxes start under this init");
            return Ok(f);
        }
    }
    File::open("/proc/self/exe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_is_looked_for_beside_the_daemon() {
        assert_eq!(
            beside(Path::new("/usr/local/bin/ferry")),
            Some(PathBuf::from("/usr/local/bin/ferry-init"))
        );
        assert_eq!(beside(Path::new("/")), None);
    }
}

//! The daemon's cgroup tree, one per data root:
//!
//! ```text
//! <the daemon's own cgroup>/ferry-<hash of the data root>/   connect-time balancer linked here
//!     daemon/                                                 the daemon itself
//!     sandboxes/              device filter attached here
//!         <sandbox id>/                                       every process of one sandbox
//!     privileged/<sandbox id>/                                a --privileged sandbox's
//! ```
//!
//! The device filter (`ferry_kernel::devices`) lets sandboxes open only the harmless
//! devices, as Docker's device cgroup does: with CAP_MKNOD (in Docker's default set) a
//! sandbox could otherwise make a node for the host's disk and open it. It is attached with
//! `BPF_PROG_ATTACH`, so it stays while sandboxes outlive the daemon.
//!
//! A sandbox's processes, whatever they fork and whatever `ferry exec` adds, live in its
//! cgroup: after any crash the daemon finds them all by reading one directory, adopts those
//! the store wants running and kills the rest in one write. A clean exit leaves no directory
//! behind but those of sandboxes that keep running.

use ferry_kernel::process::cgroup;
use ferry_kernel::sock_lb;
use std::path::{Path, PathBuf};

/// The tree, when the kernel has cgroup v2 (without it, sandboxes run in the daemon's
/// cgroup and are tracked by process group, as before).
#[derive(Debug, Default)]
pub struct DaemonCgroup {
    /// Where the hierarchy is mounted in the daemon's mount namespace.
    mount: PathBuf,
    /// `ferry-<hash>`, absolute; `None` when there is no tree.
    root: Option<PathBuf>,
    /// The cgroup the daemon came from, relative to the hierarchy.
    original: PathBuf,
}

/// The name of a data root's tree, below `parent`.
pub fn root_for(parent: &Path, data_root: &Path) -> PathBuf {
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_root.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    parent.join(format!("ferry-{h:016x}"))
}

impl DaemonCgroup {
    /// Makes the tree and moves the daemon into it, so everything it starts afterwards is
    /// below it. Mounts the cgroup v2 hierarchy under `exec_root` when the daemon's mount
    /// namespace has none. Writes the tree's path, from the hierarchy's root, to
    /// `exec_root/cgroup`, for whoever cleans up after the daemon and its sandboxes.
    pub fn setup(data_root: &Path, exec_root: &Path) -> Self {
        let mount = match sock_lb::cgroup2_mount() {
            Some(m) => m,
            None => match sock_lb::mount_cgroup2(&exec_root.join("cgroup2")) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "no cgroup v2 hierarchy: sandboxes are tracked by process group, and service VIPs balanced by the host only");
                    return DaemonCgroup::default();
                }
            },
        };
        let original = sock_lb::cgroup_of("self").unwrap_or_default();
        let own = mount.join(original.strip_prefix("/").unwrap_or(&original));
        // A daemon restarted from inside its own tree (by one of its sandboxes, or from the
        // `daemon` leaf a killed one left) stays in that tree rather than nesting another.
        let root = own
            .ancestors()
            .find(|a| {
                a.file_name() == root_for(Path::new("/"), data_root).file_name()
                    && a.starts_with(&mount)
            })
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root_for(&own, data_root));
        let daemon = root.join("daemon");
        let made = cgroup::create(&root.join("sandboxes"))
            .and_then(|()| cgroup::create(&root.join("privileged")))
            .and_then(|()| sock_lb::enter_cgroup(&daemon));
        if let Err(e) = made {
            tracing::warn!(error = %e, "no cgroup tree: sandboxes are tracked by process group, and service VIPs balanced by the host only");
            return DaemonCgroup::default();
        }
        if let Err(e) =
            ferry_kernel::devices::DeviceFilter::default().attach(&root.join("sandboxes"))
        {
            tracing::error!(error = %e, "the device filter is off: sandboxes with CAP_MKNOD could open the host's devices");
        }
        // Relative to the hierarchy's root: the daemon's mount may be private.
        let rel = root.strip_prefix(&mount).unwrap_or(&root);
        let _ = std::fs::write(exec_root.join("cgroup"), format!("/{}", rel.display()));
        DaemonCgroup {
            mount,
            root: Some(root),
            original,
        }
    }

    /// The tree's root, when there is a tree.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Where sandboxes' cgroups are made, when there is a tree. A standby sandbox process
    /// is born in the cgroup of the sandbox ID it is made for (a process moved between
    /// cgroups waits out an RCU grace period: milliseconds).
    pub fn sandboxes(&self) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.join("sandboxes"))
    }

    /// The cgroup a sandbox starts in (not created), when there is a tree: privileged
    /// sandboxes are out of reach of the device filter.
    pub fn sandbox_for(&self, id: &str, privileged: bool) -> Option<PathBuf> {
        let dir = if privileged {
            "privileged"
        } else {
            "sandboxes"
        };
        self.root.as_ref().map(|r| r.join(dir).join(id))
    }

    /// The cgroup of a sandbox, whichever kind it is, when there is a tree.
    pub fn sandbox(&self, id: &str) -> Option<PathBuf> {
        let privileged = self.sandbox_for(id, true)?;
        if privileged.exists() {
            Some(privileged)
        } else {
            self.sandbox_for(id, false)
        }
    }

    /// The IDs of the sandboxes that have a cgroup.
    pub fn sandbox_ids(&self) -> Vec<String> {
        let Some(r) = &self.root else {
            return Vec::new();
        };
        cgroup::children(&r.join("sandboxes"))
            .iter()
            .chain(cgroup::children(&r.join("privileged")).iter())
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect()
    }

    /// On a clean exit: the daemon leaves its tree, and the tree goes unless sandboxes still
    /// run in it.
    pub fn leave(&self) {
        let Some(root) = &self.root else {
            return;
        };
        let back = self
            .mount
            .join(self.original.strip_prefix("/").unwrap_or(&self.original));
        let back = if back.starts_with(root) {
            root.parent().map(Path::to_path_buf).unwrap_or(back)
        } else {
            back
        };
        if let Err(e) = sock_lb::enter_cgroup(&back) {
            tracing::debug!(error = %e, "daemon cgroup not left");
            return;
        }
        let _ = cgroup::remove(&root.join("daemon"));
        let dirs = cgroup::children(&root.join("sandboxes"));
        for dir in dirs
            .iter()
            .chain(&cgroup::children(&root.join("privileged")))
        {
            if !cgroup::populated(dir) {
                let _ = cgroup::remove(dir);
            }
        }
        if !cgroup::populated(root) {
            let _ = cgroup::remove(root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tree_per_data_root() {
        let m = Path::new("/sys/fs/cgroup");
        let a = root_for(m, Path::new("/var/lib/ferry"));
        assert_eq!(a, root_for(m, Path::new("/var/lib/ferry")));
        assert_ne!(a, root_for(m, Path::new("/tmp/ferry-test-1/data")));
        assert!(a.to_string_lossy().starts_with("/sys/fs/cgroup/ferry-"));
    }
}

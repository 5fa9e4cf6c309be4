//! The mounts of a new sandbox's mount namespace, planned in the daemon as a list of plain
//! steps. The forked child only carries the steps out: after a fork of a threaded process it
//! may not allocate, so every path is a ready `CString` here.
//!
//! What the plan gives a sandbox that is not privileged (Docker's defaults, and two more):
//! its own `/proc` (it sees only its own processes), `/sys` read-only, a `/dev` of its own
//! holding only the harmless devices, the kernel's sensitive `/proc` files masked or
//! read-only, and, on the host's root, ferry's own state (data root, exec root, API socket)
//! hidden under empty read-only tmpfs mounts, so a sandbox cannot reach the daemon.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The most binds one sandbox can have (the child keeps their trees in a fixed array).
pub const MAX_BINDS: usize = 64;

/// A file or directory bind-mounted into the sandbox. Its source is copied as a detached
/// mount tree first thing, so a source under a directory hidden afterwards (ferry's own
/// socket, say) stays reachable, and a source outside a root filesystem too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PlannedBind {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears, relative to the sandbox's root.
    pub target: PathBuf,
    /// Read-only (recursively).
    pub read_only: bool,
    /// The source is a directory (a missing target under a hidden directory is made as one).
    pub is_dir: bool,
}

/// What the plan depends on.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MountRequest {
    /// Root filesystem to pivot into; `None` keeps the host's root.
    pub rootfs: Option<PathBuf>,
    /// The sandbox has a PID namespace other than the host's: it gets a `/proc` showing it.
    pub own_pid_ns: bool,
    /// The sandbox has a network namespace other than the host's: it gets a sysfs of its own
    /// (the host's cannot be mounted again with other flags).
    pub own_net_ns: bool,
    /// The sandbox has an IPC namespace of its own: it gets a `/dev/mqueue` of its own.
    pub own_ipc_ns: bool,
    /// `--privileged`: the host's devices, `/sys` writable, nothing masked.
    pub privileged: bool,
    /// `--read-only`: the root filesystem is read-only.
    pub read_only: bool,
    /// Binds, in order (the sandbox's `/etc` files, then `-v` volumes).
    pub binds: Vec<PlannedBind>,
    /// Paths of the host to hide (ferry's data root, exec root and socket); only with the
    /// host's root.
    pub hide: Vec<PathBuf>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `mount(2)`.
    Mount {
        /// Source (`None`: a null pointer).
        source: Option<CString>,
        /// Target.
        target: CString,
        /// File system type.
        fstype: Option<CString>,
        /// `MS_*` flags.
        flags: libc::c_ulong,
        /// File system options.
        data: Option<CString>,
        /// A missing target (`ENOENT`) is not an error.
        optional: bool,
    },
    /// Every mount at and below `target` becomes read-only (`mount_setattr`).
    ReadOnlyTree {
        /// Target.
        target: CString,
        /// A missing target is not an error.
        optional: bool,
    },
    /// A directory (an existing one is fine).
    Mkdir {
        /// Path.
        path: CString,
        /// Mode.
        mode: libc::mode_t,
    },
    /// An empty file (an existing one is fine).
    Touch {
        /// Path.
        path: CString,
    },
    /// A character device node.
    Mknod {
        /// Path.
        path: CString,
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A symbolic link `link -> target`.
    Symlink {
        /// What it points to.
        target: CString,
        /// The link.
        link: CString,
    },
    /// A detached copy of the mount tree at `source` (recursive), kept in slot `slot`.
    CloneTree {
        /// The host path.
        source: CString,
        /// Where the child keeps it.
        slot: usize,
    },
    /// The tree in slot `slot` attached at `target`.
    AttachTree {
        /// Slot.
        slot: usize,
        /// Target.
        target: CString,
    },
    /// `pivot_root` into `new_root` and detach the old root.
    PivotRoot {
        /// The new root (a mount point).
        new_root: CString,
    },
}

impl Step {
    /// A description for error messages.
    pub fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Step::Mount {
                source,
                target,
                fstype,
                ..
            } => match (fstype, source) {
                (Some(t), _) => format!("mount {} on {}", s(t), s(target)),
                (None, Some(src)) => format!("bind {} on {}", s(src), s(target)),
                (None, None) => format!("change the propagation of {}", s(target)),
            },
            Step::ReadOnlyTree { target, .. } => format!("make {} read-only", s(target)),
            Step::Mkdir { path, .. } => format!("create directory {}", s(path)),
            Step::Touch { path } => format!("create file {}", s(path)),
            Step::Mknod { path, .. } => format!("create device {}", s(path)),
            Step::Symlink { link, .. } => format!("create link {}", s(link)),
            Step::PivotRoot { new_root } => format!("pivot into {}", s(new_root)),
            Step::CloneTree { source, .. } => format!("copy the mount tree of {}", s(source)),
            Step::AttachTree { target, .. } => format!("bind onto {}", s(target)),
        }
    }
}

const NOSUID_NODEV_NOEXEC: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Files of `/proc` a sandbox does not read (Docker masks the same).
const MASKED_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
];
/// Directories masked by an empty read-only tmpfs.
const MASKED_DIRS: &[&str] = &[
    "/proc/acpi",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Kernel interfaces a sandbox may read but not write.
const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
/// Character devices of a sandbox's `/dev`: name, major, minor.
const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn c(p: &Path) -> CString {
    // Paths come from the daemon's validated configuration, which refuses NUL bytes.
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

fn cs(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// `path` inside the root `base` (`/` for the host's).
fn under(base: &Path, path: &Path) -> PathBuf {
    base.join(path.strip_prefix("/").unwrap_or(path))
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
    optional: bool,
) -> Step {
    Step::Mount {
        source: source.map(cs),
        target: c(target),
        fstype: fstype.map(cs),
        flags,
        data: data.map(cs),
        optional,
    }
}

/// Plans the mounts. Paths in the steps are as the child sees them before it pivots (inside
/// the rootfs directory when there is one).
pub fn plan(req: &MountRequest) -> Vec<Step> {
    let root = req.rootfs.clone().unwrap_or_else(|| PathBuf::from("/"));
    let at = |p: &str| under(&root, Path::new(p));
    let mut steps = vec![
        // Slave: the host's later mounts still reach the sandbox; its own never leak out.
        mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_SLAVE,
            None,
            false,
        ),
    ];
    for (slot, b) in req.binds.iter().enumerate().take(MAX_BINDS) {
        steps.push(Step::CloneTree {
            source: c(&b.source),
            slot,
        });
    }
    if let Some(r) = &req.rootfs {
        // pivot_root needs the new root to be a mount point.
        steps.push(Step::Mount {
            source: Some(c(r)),
            target: c(r),
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
            optional: false,
        });
        for d in ["/proc", "/sys", "/dev", "/etc"] {
            steps.push(Step::Mkdir {
                path: c(&at(d)),
                mode: 0o755,
            });
        }
    }
    if req.read_only {
        steps.push(Step::ReadOnlyTree {
            target: c(&root),
            optional: false,
        });
    }
    if req.own_pid_ns {
        steps.push(mount(
            Some("proc"),
            &at("/proc"),
            Some("proc"),
            NOSUID_NODEV_NOEXEC,
            None,
            false,
        ));
    }
    if req.privileged {
        if req.rootfs.is_some() {
            steps.push(mount(
                Some("sysfs"),
                &at("/sys"),
                Some("sysfs"),
                NOSUID_NODEV_NOEXEC,
                None,
                false,
            ));
            steps.push(mount(
                Some("/dev"),
                &at("/dev"),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
                false,
            ));
        }
    } else {
        plan_sys_and_dev(&mut steps, &root, req);
    }
    // ferry's own state: hidden under empty tmpfs mounts, writable until the binds that
    // the user placed inside them on purpose have their mount points.
    let hidden: Vec<PathBuf> = if req.rootfs.is_none() {
        req.hide.clone()
    } else {
        Vec::new()
    };
    for h in &hidden {
        steps.push(mount(
            Some("tmpfs"),
            h,
            Some("tmpfs"),
            NOSUID_NODEV_NOEXEC,
            Some("mode=755,size=64k"),
            true,
        ));
    }
    if !req.privileged {
        for f in MASKED_FILES {
            steps.push(mount(
                Some("/dev/null"),
                &at(f),
                None,
                libc::MS_BIND,
                None,
                true,
            ));
        }
        for d in MASKED_DIRS {
            steps.push(mount(
                Some("tmpfs"),
                &at(d),
                Some("tmpfs"),
                NOSUID_NODEV_NOEXEC | libc::MS_RDONLY,
                Some("size=0k"),
                true,
            ));
        }
        for p in READ_ONLY {
            steps.push(mount(
                Some(&at(p).to_string_lossy()),
                &at(p),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
                true,
            ));
            steps.push(Step::ReadOnlyTree {
                target: c(&at(p)),
                optional: true,
            });
        }
    }
    for (slot, b) in req.binds.iter().enumerate().take(MAX_BINDS) {
        let target = under(&root, &b.target);
        if let Some(h) = hidden.iter().find(|h| target.starts_with(h)) {
            // The mount point is made inside the (still writable) hiding tmpfs.
            let mut parents: Vec<&Path> = target
                .ancestors()
                .skip(1)
                .take_while(|a| a.starts_with(h) && a != h)
                .collect();
            parents.reverse();
            for p in parents {
                steps.push(Step::Mkdir {
                    path: c(p),
                    mode: 0o755,
                });
            }
            steps.push(if b.is_dir {
                Step::Mkdir {
                    path: c(&target),
                    mode: 0o755,
                }
            } else {
                Step::Touch { path: c(&target) }
            });
        }
        steps.push(Step::AttachTree {
            slot,
            target: c(&target),
        });
        if b.read_only {
            steps.push(Step::ReadOnlyTree {
                target: c(&target),
                optional: false,
            });
        }
    }
    for h in &hidden {
        // Only the tmpfs itself: binds inside it keep their own flags.
        steps.push(mount(
            None,
            h,
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | NOSUID_NODEV_NOEXEC,
            None,
            true,
        ));
    }
    if let Some(r) = &req.rootfs {
        steps.push(Step::PivotRoot { new_root: c(r) });
    }
    steps
}

fn plan_sys_and_dev(steps: &mut Vec<Step>, root: &Path, req: &MountRequest) {
    let at = |p: &str| under(root, Path::new(p));
    if req.own_net_ns {
        // A fresh sysfs shows the sandbox's own network devices, read-only.
        steps.push(mount(
            Some("sysfs"),
            &at("/sys"),
            Some("sysfs"),
            NOSUID_NODEV_NOEXEC | libc::MS_RDONLY,
            None,
            false,
        ));
    } else {
        steps.push(mount(
            Some("/sys"),
            &at("/sys"),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
            false,
        ));
        steps.push(Step::ReadOnlyTree {
            target: c(&at("/sys")),
            optional: false,
        });
    }
    steps.push(mount(
        Some("cgroup2"),
        &at("/sys/fs/cgroup"),
        Some("cgroup2"),
        NOSUID_NODEV_NOEXEC | libc::MS_RDONLY,
        None,
        true,
    ));
    steps.push(mount(
        Some("tmpfs"),
        &at("/dev"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
        false,
    ));
    for (name, major, minor) in DEVICES {
        steps.push(Step::Mknod {
            path: c(&at(&format!("/dev/{name}"))),
            major: *major,
            minor: *minor,
        });
    }
    steps.push(Step::Mkdir {
        path: c(&at("/dev/pts")),
        mode: 0o755,
    });
    steps.push(mount(
        Some("devpts"),
        &at("/dev/pts"),
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
        false,
    ));
    steps.push(Step::Symlink {
        target: cs("pts/ptmx"),
        link: c(&at("/dev/ptmx")),
    });
    steps.push(Step::Mkdir {
        path: c(&at("/dev/shm")),
        mode: 0o1777,
    });
    steps.push(mount(
        Some("shm"),
        &at("/dev/shm"),
        Some("tmpfs"),
        NOSUID_NODEV_NOEXEC,
        Some("mode=1777,size=65536k"),
        false,
    ));
    if req.own_ipc_ns {
        steps.push(Step::Mkdir {
            path: c(&at("/dev/mqueue")),
            mode: 0o755,
        });
        steps.push(mount(
            Some("mqueue"),
            &at("/dev/mqueue"),
            Some("mqueue"),
            NOSUID_NODEV_NOEXEC,
            None,
            true,
        ));
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink {
            target: cs(target),
            link: c(&at(&format!("/dev/{link}"))),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(req: &MountRequest) -> Vec<String> {
        plan(req).iter().map(Step::describe).collect()
    }

    #[test]
    fn default_sandbox_on_the_host_root() {
        let req = MountRequest {
            own_pid_ns: true,
            own_ipc_ns: true,
            own_net_ns: true,
            hide: vec!["/var/lib/ferry".into(), "/run/ferry".into()],
            ..Default::default()
        };
        let d = described(&req);
        assert_eq!(d[0], "change the propagation of /");
        assert_eq!(d[1], "mount proc on /proc");
        assert!(d.contains(&"mount sysfs on /sys".to_string()));
        assert!(d.contains(&"mount tmpfs on /dev".to_string()));
        assert!(d.contains(&"create device /dev/null".to_string()));
        assert!(d.contains(&"mount mqueue on /dev/mqueue".to_string()));
        assert!(d.contains(&"mount tmpfs on /var/lib/ferry".to_string()));
        assert!(d.contains(&"bind /dev/null on /proc/kcore".to_string()));
        assert!(d.contains(&"make /proc/sys read-only".to_string()));
        assert!(!d.iter().any(|s| s.starts_with("pivot")));
        // The hiding tmpfs mounts end read-only.
        assert!(plan(&req).iter().any(|s| matches!(s,
            Step::Mount { target, flags, .. }
                if target.as_bytes() == b"/run/ferry" && flags & libc::MS_REMOUNT != 0)));
    }

    #[test]
    fn rootfs_gets_everything_inside_and_pivots_last() {
        let req = MountRequest {
            rootfs: Some("/srv/root".into()),
            own_pid_ns: true,
            read_only: true,
            hide: vec!["/run/ferry".into()],
            binds: vec![PlannedBind {
                source: "/data/hosts".into(),
                target: "/etc/hosts".into(),
                read_only: false,
                is_dir: false,
            }],
            ..Default::default()
        };
        let d = described(&req);
        assert_eq!(d[1], "copy the mount tree of /data/hosts");
        assert_eq!(d[2], "bind /srv/root on /srv/root");
        assert!(d.contains(&"make /srv/root read-only".to_string()));
        assert!(d.contains(&"mount proc on /srv/root/proc".to_string()));
        assert!(d.contains(&"bind onto /srv/root/etc/hosts".to_string()));
        // Nothing of the host is hidden: after the pivot it is not there at all.
        assert!(!d.iter().any(|s| s.contains("/run/ferry")));
        assert_eq!(d.last().map(String::as_str), Some("pivot into /srv/root"));
        // No mqueue without an IPC namespace of its own.
        assert!(!d.iter().any(|s| s.contains("mqueue")));
    }

    #[test]
    fn a_bind_into_a_hidden_directory_gets_its_mount_point_made() {
        let req = MountRequest {
            own_pid_ns: true,
            hide: vec!["/run/ferry".into()],
            binds: vec![PlannedBind {
                source: "/run/ferry/ferry.sock".into(),
                target: "/run/ferry/sub/ferry.sock".into(),
                read_only: false,
                is_dir: false,
            }],
            ..Default::default()
        };
        let d = described(&req);
        let copy = d
            .iter()
            .position(|s| s == "copy the mount tree of /run/ferry/ferry.sock")
            .unwrap();
        let hide = d
            .iter()
            .position(|s| s == "mount tmpfs on /run/ferry")
            .unwrap();
        let mkdir = d
            .iter()
            .position(|s| s == "create directory /run/ferry/sub")
            .unwrap();
        let touch = d
            .iter()
            .position(|s| s == "create file /run/ferry/sub/ferry.sock")
            .unwrap();
        let bind = d
            .iter()
            .position(|s| s == "bind onto /run/ferry/sub/ferry.sock")
            .unwrap();
        assert!(copy < hide && hide < mkdir && mkdir < touch && touch < bind);
    }

    #[test]
    fn privileged_keeps_the_host_devices_and_masks_nothing() {
        let req = MountRequest {
            own_pid_ns: true,
            privileged: true,
            ..Default::default()
        };
        let d = described(&req);
        assert!(!d.iter().any(|s| s.contains("/dev") || s.contains("/sys")));
        assert!(!d.iter().any(|s| s.contains("kcore")));
    }
}

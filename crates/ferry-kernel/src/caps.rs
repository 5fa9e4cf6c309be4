//! Linux capabilities of a sandbox's process: the names, Docker's default set, Docker's
//! `--cap-add`/`--cap-drop`/`--privileged` arithmetic, and the system calls that put a set in
//! place in the forked child.
//!
//! # Order in the child
//!
//! Dropping from the bounding set needs `CAP_SETPCAP`, and `setuid`/`setgid` need
//! `CAP_SETUID`/`CAP_SETGID`, so the child, still root with every capability, does:
//!
//! 0. everything that needs privilege: joining namespaces, mounts, `chroot`, `sethostname`
//!    (the default seccomp filter refuses `mount` and `sethostname` to a sandbox without
//!    `CAP_SYS_ADMIN`);
//! 1. the seccomp filter ([`crate::seccomp::install`]), while it still holds
//!    `CAP_SYS_ADMIN`, which the kernel requires unless `no_new_privs` is set;
//! 2. [`bound`]: drops every capability not kept from the bounding set, clears the ambient
//!    set and the inheritable set;
//! 3. for a root process, [`restrict`]: effective = permitted = the kept set. For a non-root
//!    user, `setgroups`/`setgid`/`setuid` instead (without `PR_SET_KEEPCAPS`): moving every
//!    user ID away from 0 clears the permitted and effective sets, which is what Docker gives a
//!    non-root user (bounding set only; a set-user-ID-root program still gets at most the
//!    bounding set). Calling [`restrict`] after that fails with `EPERM`.
//! 4. `execve`.
//!
//! [`apply`] does 2 and 3 for a root process. The inheritable set is always emptied, as Docker
//! does since CVE-2022-24769 (an inheritable capability let a program with file capabilities
//! gain it across `execve`).

use crate::{KernelError, Result};
use std::fmt;

/// Every capability Linux defines, by number (`CAP_CHOWN` is 0).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The highest capability number ferry knows (`CAP_CHECKPOINT_RESTORE`).
pub const LAST_KNOWN: u32 = NAMES.len() as u32 - 1;

/// Docker's default capabilities (`moby/oci/caps/defaults.go`), by name.
const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A set of capabilities, one bit per capability number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(pub u64);

/// A capability name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown capability {name:?}: write a Linux capability name, with or without the CAP_ \
     prefix and in any case (NET_ADMIN, cap_net_admin), or ALL; the names are {}",
    known_names()
)]
pub struct CapError {
    /// The name as given.
    pub name: String,
}

fn known_names() -> String {
    NAMES
        .iter()
        .map(|n| n.trim_start_matches("CAP_"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The number of a capability, named as Docker accepts it (any case, `CAP_` optional).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// One name of `add`/`drop`, normalised: `None` for `ALL`.
fn normalize(name: &str) -> Result<Option<u32>, CapError> {
    if name.trim().eq_ignore_ascii_case("ALL") {
        return Ok(None);
    }
    number(name).map(Some).ok_or_else(|| CapError {
        name: name.to_string(),
    })
}

impl CapSet {
    /// No capability.
    pub const EMPTY: CapSet = CapSet(0);
    /// Every capability ferry knows (masked to the kernel's by [`bound`] and [`restrict`]).
    pub const ALL: CapSet = CapSet((1u64 << (LAST_KNOWN + 1)) - 1);

    /// Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
    /// SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
    pub fn docker_default() -> CapSet {
        DOCKER_DEFAULT
            .iter()
            .filter_map(|n| number(n))
            .fold(CapSet::EMPTY, CapSet::with)
    }

    /// The set with capability `cap` added.
    pub const fn with(self, cap: u32) -> CapSet {
        if cap > 63 {
            return self;
        }
        CapSet(self.0 | (1 << cap))
    }

    /// The set without capability `cap`.
    pub const fn without(self, cap: u32) -> CapSet {
        if cap > 63 {
            return self;
        }
        CapSet(self.0 & !(1 << cap))
    }

    /// Whether `cap` is in the set.
    pub const fn has(self, cap: u32) -> bool {
        cap <= 63 && self.0 & (1 << cap) != 0
    }

    /// Whether the capability called `name` (as [`number`] reads it) is in the set.
    pub fn has_named(self, name: &str) -> bool {
        number(name).is_some_and(|n| self.has(n))
    }

    /// Only the capabilities numbered up to `last_cap`.
    pub const fn up_to(self, last_cap: u32) -> CapSet {
        if last_cap >= 63 {
            return self;
        }
        CapSet(self.0 & ((1u64 << (last_cap + 1)) - 1))
    }

    /// The effective set of a sandbox, with Docker's semantics: `privileged` gives every
    /// capability; otherwise `ALL` in `add` gives every capability but those in `drop`, `ALL`
    /// in `drop` gives only those in `add`, and else the default set loses `drop` and gains
    /// `add`. Names are matched in any case, with or without `CAP_`.
    pub fn resolve(add: &[String], drop: &[String], privileged: bool) -> Result<CapSet, CapError> {
        if privileged {
            return Ok(CapSet::ALL);
        }
        let add = add
            .iter()
            .map(|n| normalize(n))
            .collect::<Result<Vec<_>, _>>()?;
        let drop = drop
            .iter()
            .map(|n| normalize(n))
            .collect::<Result<Vec<_>, _>>()?;
        let named =
            |list: &[Option<u32>]| list.iter().flatten().fold(CapSet::EMPTY, |s, c| s.with(*c));
        let (add_all, drop_all) = (add.contains(&None), drop.contains(&None));
        Ok(if add_all {
            CapSet(CapSet::ALL.0 & !named(&drop).0)
        } else if drop_all {
            named(&add)
        } else {
            CapSet((CapSet::docker_default().0 & !named(&drop).0) | named(&add).0)
        })
    }

    /// The names in the set (`CAP_CHOWN`, ...), by number.
    pub fn names(self) -> Vec<&'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.has(*i as u32))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CapSet({:#x}: {})", self.0, self.names().join(","))
    }
}

/// The highest capability number the running kernel knows, from
/// `/proc/sys/kernel/cap_last_cap` (daemon side; the child gets the number).
pub fn last_cap() -> Result<u32> {
    let path = "/proc/sys/kernel/cap_last_cap";
    let text =
        std::fs::read_to_string(path).map_err(|e| KernelError::io(format!("read {path}"), e))?;
    text.trim().parse().map_err(|_| {
        KernelError::io(
            format!("read {path}"),
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a number: {:?}", text.trim()),
            ),
        )
    })
}

// --- In the forked child: raw system calls only, no allocation, no panics. ---

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

fn capget() -> Result<[CapData; 2], i32> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are valid for the version-3 layout (two data entries).
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r < 0 {
        return Err(errno());
    }
    Ok(data)
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), i32> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid for the version-3 layout (two data entries).
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Child-safe. Drops every capability numbered up to `last_cap` that is not in `keep` from
/// the bounding set (needs `CAP_SETPCAP` in the effective set), clears the ambient set, and
/// empties the inheritable set (effective and permitted unchanged). Returns the errno of the
/// first call that failed.
pub fn bound(keep: CapSet, last_cap: u32) -> Result<(), i32> {
    let mut cap = 0;
    while cap <= last_cap && cap <= 63 {
        if !keep.has(cap) {
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            // EINVAL: a number this kernel does not know, nothing to drop.
            if r < 0 && errno() != libc::EINVAL {
                return Err(errno());
            }
        }
        cap += 1;
    }
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    let now = capget()?;
    let effective = u64::from(now[0].effective) | (u64::from(now[1].effective) << 32);
    let permitted = u64::from(now[0].permitted) | (u64::from(now[1].permitted) << 32);
    capset(effective, permitted, 0)
}

/// Child-safe. Sets effective = permitted = `keep` (up to `last_cap`), inheritable = none.
/// Only lowers: `keep` beyond the current permitted set fails with `EPERM`.
pub fn restrict(keep: CapSet, last_cap: u32) -> Result<(), i32> {
    let keep = keep.up_to(last_cap).0;
    capset(keep, keep, 0)
}

/// Child-safe. [`bound`] then [`restrict`]: the whole job for a process that stays root.
pub fn apply(keep: CapSet, last_cap: u32) -> Result<(), i32> {
    bound(keep, last_cap)?;
    restrict(keep, last_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn numbers_follow_the_kernel() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("net_admin"), Some(12));
        assert_eq!(number("Sys_Admin"), Some(21));
        assert_eq!(number("cap_checkpoint_restore"), Some(40));
        assert_eq!(number("BPF"), Some(39));
        assert_eq!(number("CAP_"), None);
        assert_eq!(number("NET_ADMINX"), None);
        assert_eq!(LAST_KNOWN, 40);
        assert_eq!(CapSet::ALL.names().len(), 41);
    }

    #[test]
    fn docker_default_is_fourteen_capabilities() {
        let d = CapSet::docker_default();
        // The value Docker containers show as CapBnd in /proc/self/status.
        assert_eq!(d.0, 0xa804_25fb);
        assert_eq!(d.names().len(), 14);
        assert!(d.has_named("MKNOD") && !d.has_named("SYS_ADMIN") && !d.has_named("NET_ADMIN"));
    }

    #[test]
    fn add_and_drop_change_the_default() {
        let r = CapSet::resolve(&s(&["net_admin"]), &s(&["CAP_MKNOD", "chown"]), false).unwrap();
        let want = CapSet::docker_default().with(12).without(27).without(0);
        assert_eq!(r, want);
        assert_eq!(
            CapSet::resolve(&[], &[], false).unwrap(),
            CapSet::docker_default()
        );
    }

    #[test]
    fn all_in_add_or_drop() {
        assert_eq!(
            CapSet::resolve(&s(&["ALL"]), &s(&["sys_admin"]), false).unwrap(),
            CapSet::ALL.without(21)
        );
        assert_eq!(
            CapSet::resolve(&s(&["KILL", "cap_net_raw"]), &s(&["all"]), false).unwrap(),
            CapSet::EMPTY.with(5).with(13)
        );
        assert_eq!(
            CapSet::resolve(&[], &s(&["ALL"]), false).unwrap(),
            CapSet::EMPTY
        );
        // As in Docker, ALL in add wins over ALL in drop.
        assert_eq!(
            CapSet::resolve(&s(&["ALL"]), &s(&["ALL"]), false).unwrap(),
            CapSet::ALL
        );
    }

    #[test]
    fn privileged_is_everything() {
        assert_eq!(
            CapSet::resolve(&[], &s(&["ALL"]), true).unwrap(),
            CapSet::ALL
        );
    }

    #[test]
    fn an_unknown_name_is_named_with_the_way_to_spell_one() {
        let e = CapSet::resolve(&s(&["NET_ADMIN", "CAP_NET_ADMINN"]), &[], false).unwrap_err();
        assert_eq!(e.name, "CAP_NET_ADMINN");
        let msg = e.to_string();
        assert!(msg.contains("\"CAP_NET_ADMINN\""), "{msg}");
        assert!(msg.contains("NET_ADMIN, NET_RAW"), "{msg}");
        assert!(msg.contains("or ALL"), "{msg}");
        assert!(CapSet::resolve(&[], &s(&["foo"]), false).is_err());
    }

    #[test]
    fn names_are_in_number_order() {
        assert_eq!(
            CapSet::EMPTY.with(21).with(0).names(),
            vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]
        );
        assert_eq!(CapSet::ALL.up_to(39), CapSet::ALL.without(40));
        assert_eq!(CapSet::ALL.up_to(63), CapSet::ALL);
    }
}

//! A profile read for one sandbox: the entries that apply to its capabilities, architecture
//! (x86_64, `amd64` in Docker's `arches`) and kernel, turned into a table of system call
//! numbers and their rules. Pure: the compiler to BPF reads only the table.
//!
//! Semantics, as Docker and runc give them:
//! - `includes` applies an entry only when every capability it names is held, the
//!   architecture is listed (when any is) and the kernel is at least `minKernel`; `excludes`
//!   skips an entry when any capability it names is held, the architecture is listed, or
//!   the kernel is at least `minKernel`.
//! - The conditions of one entry must all hold; but when two name the same argument, each is
//!   a rule of its own, any of which may hold (runc's reading, since libseccomp cannot AND two
//!   conditions on one argument).
//! - For one system call, rules with conditions are tried first, in profile order, and the
//!   first that holds decides; a rule without conditions decides otherwise, and the default
//!   action when there is none. Two rules without conditions that disagree are an error.
//! - Names of other architectures' system calls are skipped (and listed); unknown names are
//!   an error.

use super::profile::{Action, Filter, Op, Profile};
use super::{syscalls, SeccompError};
use crate::caps::{self, CapSet};
use std::collections::BTreeMap;
use std::fmt;

/// A kernel version, as `minKernel` names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// 6 in 6.18.
    pub major: u32,
    /// 18 in 6.18.
    pub minor: u32,
}

impl KernelVersion {
    /// Reads `MAJOR.MINOR[.anything]`.
    pub fn parse(s: &str) -> Option<KernelVersion> {
        let mut parts = s.trim().split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }

    /// The running kernel's version (daemon side).
    pub fn running() -> crate::Result<KernelVersion> {
        let u = nix::sys::utsname::uname()
            .map_err(|e| crate::KernelError::errno("read the kernel version (uname)", e))?;
        let release = u.release().to_string_lossy().into_owned();
        KernelVersion::parse(&release).ok_or_else(|| {
            crate::KernelError::io(
                "read the kernel version (uname)",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("release {release:?} is not MAJOR.MINOR"),
                ),
            )
        })
    }
}

/// What the filter is made for: the sandbox's capabilities and the kernel it runs on.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The capabilities the sandbox's process keeps.
    pub caps: CapSet,
    /// The running kernel.
    pub kernel: KernelVersion,
}

/// An action with its data, as the filter returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run the call.
    Allow,
    /// Fail it with this errno.
    Errno(u16),
    /// Kill the thread.
    KillThread,
    /// Kill the process.
    KillProcess,
    /// Send `SIGSYS`.
    Trap,
    /// Run and log it.
    Log,
    /// Tell the tracer, with this data.
    Trace(u16),
}

impl Verdict {
    /// The filter's return value (`SECCOMP_RET_*`).
    pub fn ret(self) -> u32 {
        match self {
            Verdict::Allow => 0x7fff_0000,
            Verdict::Errno(e) => 0x0005_0000 | u32::from(e),
            Verdict::KillThread => 0,
            Verdict::KillProcess => 0x8000_0000,
            Verdict::Trap => 0x0003_0000,
            Verdict::Log => 0x7ffc_0000,
            Verdict::Trace(d) => 0x7ff0_0000 | u32::from(d),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Allow => write!(f, "SCMP_ACT_ALLOW"),
            Verdict::Errno(e) => write!(f, "SCMP_ACT_ERRNO({e})"),
            Verdict::KillThread => write!(f, "SCMP_ACT_KILL_THREAD"),
            Verdict::KillProcess => write!(f, "SCMP_ACT_KILL_PROCESS"),
            Verdict::Trap => write!(f, "SCMP_ACT_TRAP"),
            Verdict::Log => write!(f, "SCMP_ACT_LOG"),
            Verdict::Trace(d) => write!(f, "SCMP_ACT_TRACE({d})"),
        }
    }
}

/// A condition on one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    /// The argument, 0 to 5.
    pub index: u8,
    /// The comparison.
    pub op: Op,
    /// The value (the mask for `MaskedEq`).
    pub value: u64,
    /// The masked value for `MaskedEq`.
    pub value_two: u64,
}

/// The rules of one system call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Tried in order; the first whose conditions all hold decides.
    pub when: Vec<(Vec<Cond>, Verdict)>,
    /// Otherwise (the default action when `None`).
    pub otherwise: Option<Verdict>,
    /// The entry that set `otherwise`, for error messages.
    otherwise_entry: usize,
}

/// A profile read for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// For system calls without rules.
    pub default: Verdict,
    /// The rules, by x86_64 system call number.
    pub syscalls: BTreeMap<u32, Rules>,
    /// `SECCOMP_FILTER_FLAG_*` to install with.
    pub flags: u32,
    /// Names of other architectures' system calls the profile names, skipped.
    pub skipped: Vec<String>,
}

fn invalid(place: String, message: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        place,
        message: message.into(),
    }
}

fn verdict(
    action: Action,
    errno: Option<u32>,
    place: &str,
    key: &str,
) -> Result<Verdict, SeccompError> {
    let eperm = libc::EPERM as u32;
    match action {
        Action::Errno | Action::Trace => {}
        _ if errno.is_some() => {
            return Err(invalid(
                format!("{place}.{key}"),
                "is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE",
            ))
        }
        _ => {}
    }
    Ok(match action {
        Action::Allow => Verdict::Allow,
        Action::Errno => {
            let e = errno.unwrap_or(eperm);
            if e > 4095 {
                return Err(invalid(
                    format!("{place}.{key}"),
                    format!("{e} is not an errno (at most 4095)"),
                ));
            }
            Verdict::Errno(e as u16)
        }
        Action::Kill | Action::KillThread => Verdict::KillThread,
        Action::KillProcess => Verdict::KillProcess,
        Action::Trap => Verdict::Trap,
        Action::Log => Verdict::Log,
        Action::Trace => {
            let d = errno.unwrap_or(eperm);
            let d = u16::try_from(d).map_err(|_| {
                invalid(
                    format!("{place}.{key}"),
                    format!("{d} does not fit in 16 bits"),
                )
            })?;
            Verdict::Trace(d)
        }
        Action::Notify => {
            return Err(invalid(
                place.to_string(),
                "SCMP_ACT_NOTIFY needs a user-space listener, which ferry does not provide",
            ))
        }
    })
}

/// Docker's architecture name (Go's `GOARCH`) for x86_64.
const OUR_ARCH: &str = "amd64";

/// Whether the entry applies to `target` (`includes`/`excludes`).
fn applies(
    includes: Option<&Filter>,
    excludes: Option<&Filter>,
    target: &Target,
    place: &str,
) -> Result<bool, SeccompError> {
    let held = |c: &String, key: &str| -> Result<bool, SeccompError> {
        let n = caps::number(c).ok_or_else(|| {
            invalid(
                format!("{place}.{key}.caps"),
                format!("unknown capability {c:?} (write CAP_SYS_ADMIN, ...)"),
            )
        })?;
        Ok(target.caps.has(n))
    };
    let min = |f: &Filter, key: &str| -> Result<Option<KernelVersion>, SeccompError> {
        f.min_kernel
            .as_deref()
            .map(|m| {
                KernelVersion::parse(m).ok_or_else(|| {
                    invalid(
                        format!("{place}.{key}.minKernel"),
                        format!("{m:?} is not a kernel version (MAJOR.MINOR)"),
                    )
                })
            })
            .transpose()
    };
    let mut keep = true;
    if let Some(ex) = excludes {
        let mut any_cap = false;
        for c in &ex.caps {
            any_cap |= held(c, "excludes")?;
        }
        let min_kernel = min(ex, "excludes")?;
        if ex.arches.iter().any(|a| a == OUR_ARCH)
            || any_cap
            || min_kernel.is_some_and(|m| target.kernel >= m)
        {
            keep = false;
        }
    }
    if let Some(inc) = includes {
        let mut all_caps = true;
        for c in &inc.caps {
            all_caps &= held(c, "includes")?;
        }
        let min_kernel = min(inc, "includes")?;
        if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == OUR_ARCH))
            || !all_caps
            || min_kernel.is_some_and(|m| target.kernel < m)
        {
            keep = false;
        }
    }
    Ok(keep)
}

/// The rule sets of one entry's conditions (one, or one per condition when two name the
/// same argument).
fn condition_sets(
    args: &[super::profile::Arg],
    place: &str,
) -> Result<Vec<Vec<Cond>>, SeccompError> {
    let mut conds = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        if a.index > 5 {
            return Err(invalid(
                format!("{place}.args[{i}].index"),
                format!("{} is not an argument number (0 to 5)", a.index),
            ));
        }
        conds.push(Cond {
            index: a.index as u8,
            op: a.op,
            value: a.value,
            value_two: a.value_two,
        });
    }
    let mut seen = [false; 6];
    let repeated = conds
        .iter()
        .any(|c| std::mem::replace(&mut seen[c.index as usize], true));
    Ok(if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    })
}

fn flags(profile: &Profile) -> Result<u32, SeccompError> {
    let mut bits = 0;
    for (i, f) in profile.flags.iter().flatten().enumerate() {
        bits |= match f.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => 1,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            other => {
                return Err(invalid(
                    format!("flags[{i}]"),
                    format!(
                        "{other:?} is not supported (SECCOMP_FILTER_FLAG_LOG, \
                         SECCOMP_FILTER_FLAG_SPEC_ALLOW or SECCOMP_FILTER_FLAG_TSYNC)"
                    ),
                ))
            }
        };
    }
    Ok(bits)
}

/// Reads `profile` for `target`.
pub fn resolve(profile: &Profile, target: &Target) -> Result<Table, SeccompError> {
    if profile
        .listener_path
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(invalid(
            "listenerPath".to_string(),
            "user-space notification is not supported by ferry",
        ));
    }
    let default = verdict(
        profile.default_action,
        profile.default_errno_ret,
        "defaultAction",
        "defaultErrnoRet",
    )?;
    let mut table = Table {
        default,
        syscalls: BTreeMap::new(),
        flags: flags(profile)?,
        skipped: Vec::new(),
    };
    for (entry, sc) in profile.syscalls.iter().enumerate() {
        let place = format!("syscalls[{entry}]");
        // Every name is checked, also in entries that do not apply, so a misspelling is
        // found whatever the sandbox's capabilities.
        let mut numbers = Vec::new();
        for name in sc.names.iter().chain(sc.name.iter()) {
            match syscalls::number(name) {
                Some(nr) => numbers.push((name.as_str(), nr)),
                None if syscalls::other_arch(name) => {
                    if !table.skipped.iter().any(|s| s == name) {
                        table.skipped.push(name.clone());
                    }
                }
                None => {
                    return Err(SeccompError::UnknownSyscall {
                        entry,
                        name: name.clone(),
                    })
                }
            }
        }
        let v = verdict(sc.action, sc.errno_ret, &place, "errnoRet")?;
        let sets = condition_sets(&sc.args, &place)?;
        if !applies(sc.includes.as_ref(), sc.excludes.as_ref(), target, &place)? {
            continue;
        }
        for (name, nr) in numbers {
            let rules = table.syscalls.entry(nr).or_default();
            if sc.args.is_empty() {
                match rules.otherwise {
                    Some(old) if old != v => {
                        return Err(SeccompError::Conflict {
                            name: name.to_string(),
                            first: (rules.otherwise_entry, old.to_string()),
                            second: (entry, v.to_string()),
                        })
                    }
                    _ => {
                        rules.otherwise = Some(v);
                        rules.otherwise_entry = entry;
                    }
                }
            } else {
                for conds in &sets {
                    rules.when.push((conds.clone(), v));
                }
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: CapSet) -> Target {
        Target {
            caps,
            kernel: KernelVersion { major: 6, minor: 1 },
        }
    }

    fn profile(json: &str) -> Profile {
        Profile::from_json(json).unwrap()
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v1045"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(
            KernelVersion::parse("4.8"),
            Some(KernelVersion { major: 4, minor: 8 })
        );
        assert!(KernelVersion::parse("4").is_none() && KernelVersion::parse("x.1").is_none());
        assert!(KernelVersion::parse("4.10") > KernelVersion::parse("4.8"));
        assert!(KernelVersion::running().is_ok());
    }

    #[test]
    fn includes_and_excludes_follow_caps_arches_and_kernel() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["riscv_flush_icache", "sync_file_range"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"arches": ["riscv64"]}},
                {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.2"}},
                {"names": ["acct"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "7.0"}}
            ]}"#,
        );
        let plain = resolve(&p, &target(CapSet::docker_default())).unwrap();
        let nr = |n| syscalls::number(n).unwrap();
        assert!(!plain.syscalls.contains_key(&nr("mount")));
        assert_eq!(
            plain.syscalls[&nr("clone3")].otherwise,
            Some(Verdict::Errno(38))
        );
        assert_eq!(
            plain.syscalls[&nr("arch_prctl")].otherwise,
            Some(Verdict::Allow)
        );
        assert!(!plain.syscalls.contains_key(&nr("sync_file_range")));
        assert!(!plain.syscalls.contains_key(&nr("kcmp")));
        assert_eq!(
            plain.syscalls[&nr("ptrace")].otherwise,
            Some(Verdict::Allow)
        );
        assert!(!plain.syscalls.contains_key(&nr("bpf")));
        assert_eq!(plain.syscalls[&nr("acct")].otherwise, Some(Verdict::Allow));
        assert_eq!(plain.skipped, vec!["riscv_flush_icache".to_string()]);
        assert_eq!(plain.default, Verdict::Errno(1));

        let admin = resolve(&p, &target(CapSet::docker_default().with(21))).unwrap();
        assert_eq!(admin.syscalls[&nr("mount")].otherwise, Some(Verdict::Allow));
        assert!(!admin.syscalls.contains_key(&nr("clone3")));
    }

    #[test]
    fn conditions_on_one_argument_become_alternatives() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 38, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mmap"], "action": "SCMP_ACT_KILL", "args": [
                    {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 3, "value": 32, "op": "SCMP_CMP_NE"}]}
            ]}"#,
        );
        let t = resolve(&p, &target(CapSet::EMPTY)).unwrap();
        let socket = &t.syscalls[&41];
        assert_eq!(socket.when.len(), 2);
        assert_eq!(socket.when[1].0[0].value, 40);
        assert_eq!(socket.when[1].1, Verdict::Errno(1));
        assert_eq!(socket.otherwise, None);
        let mmap = &t.syscalls[&9];
        assert_eq!(mmap.when.len(), 1);
        assert_eq!(mmap.when[0].0.len(), 2);
        assert_eq!(mmap.when[0].1, Verdict::KillThread);
    }

    #[test]
    fn errors_say_where_and_what() {
        let err = |json: &str| {
            resolve(&profile(json), &target(CapSet::EMPTY))
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write", "mkdri"], "action": "SCMP_ACT_ALLOW"}]}"#);
        assert!(e.contains("syscalls[1]") && e.contains("\"mkdri\""), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#);
        assert!(
            e.contains("syscalls[0].args[0].index") && e.contains("0 to 5"),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#);
        assert!(e.contains("syscalls[0].errnoRet"), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}"#);
        assert!(e.contains("defaultErrnoRet") && e.contains("4095"), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"}]}"#);
        assert!(
            e.contains("\"read\"") && e.contains("syscalls[0]") && e.contains("syscalls[1]"),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_FOO"]}}]}"#);
        assert!(
            e.contains("syscalls[0].includes.caps") && e.contains("CAP_FOO"),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "new"}}]}"#);
        assert!(e.contains("syscalls[0].excludes.minKernel"), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}"#,
        );
        assert!(e.contains("flags[0]"), "{e}");
    }

    #[test]
    fn the_same_action_twice_is_fine() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"name": "read", "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        let t = resolve(&p, &target(CapSet::EMPTY)).unwrap();
        assert_eq!(t.syscalls[&0].otherwise, Some(Verdict::Allow));
        assert_eq!(t.flags, 2);
    }
}

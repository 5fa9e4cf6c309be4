//! Seccomp filters for sandbox processes: Docker's profile format ([`Profile`]), ferry's
//! default profile ([`default_profile`]), a compiler from a profile to classic BPF for
//! x86_64 ([`compile`]), and its installation in the forked child ([`install`]).
//!
//! The daemon compiles (reading the profile for the sandbox's capabilities and the running
//! kernel); the child only installs the instructions it is given.
//!
//! # Installing
//!
//! The kernel takes a filter from a process that has set `no_new_privs` or holds
//! `CAP_SYS_ADMIN`. ferry, like Docker, does not set `no_new_privs` unless asked (a
//! set-user-ID program in the sandbox keeps working), so the child installs the filter while
//! it is still root with every capability, before it drops them (see [`crate::caps`]): the
//! filter must then allow what the child does after it (`capset`, `prctl`, `setgroups`,
//! `setgid`, `setuid`, `execve`), as every profile that runs anything does. With
//! `no_new_privs` requested, set it first (`prctl(PR_SET_NO_NEW_PRIVS, 1)`); the order is
//! then free.

mod cbpf;
mod default;
#[cfg(test)]
mod interp;
mod profile;
mod rules;
pub mod syscalls;

pub use cbpf::{AUDIT_ARCH_X86_64, MAX_INSNS};
pub use default::{default_profile, CLONE_NEW_FLAGS};
pub use profile::{Action, ArchMap, Arg, Filter, Op, Profile, Syscall};
pub use rules::{resolve, Cond, KernelVersion, Rules, Table, Target, Verdict};

use std::fmt;

/// A profile that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    /// Not JSON of Docker's profile format.
    #[error("seccomp profile: {0}")]
    Parse(String),
    /// A system call name that is not one.
    #[error(
        "seccomp profile: syscalls[{entry}]: unknown system call {name:?}: it is not a Linux \
         system call of x86_64 or of another architecture ferry knows; check the spelling \
         (names are those of `man 2 syscalls`, in lower case)"
    )]
    UnknownSyscall {
        /// Which entry of `syscalls`.
        entry: usize,
        /// The name.
        name: String,
    },
    /// A key with a value that cannot be used.
    #[error("seccomp profile: {place}: {message}")]
    Invalid {
        /// Where (`syscalls[3].args[0].index`).
        place: String,
        /// What is wrong.
        message: String,
    },
    /// Two rules without conditions for one system call that say different things.
    #[error(
        "seccomp profile: system call {name:?} gets {} in syscalls[{}] and {} in syscalls[{}], \
         both without argument conditions: remove one",
        first.1, first.0, second.1, second.0
    )]
    Conflict {
        /// The system call.
        name: String,
        /// The first entry and its action.
        first: (usize, String),
        /// The second entry and its action.
        second: (usize, String),
    },
    /// The program is longer than the kernel takes.
    #[error(
        "seccomp profile: the filter has {len} instructions, more than the kernel's limit of \
         4096: use fewer rules with argument conditions"
    )]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A fault of the compiler itself.
    #[error("seccomp compiler: {0}")]
    Internal(&'static str),
}

/// A compiled filter, ready for [`install_with_flags`].
#[derive(Clone)]
pub struct Compiled {
    /// The program.
    pub program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` the profile asked for.
    pub flags: u32,
    /// Other architectures' system calls the profile names, which were skipped (for a
    /// debug log).
    pub skipped: Vec<String>,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Compiles `profile` for a sandbox with `target`'s capabilities on `target`'s kernel.
pub fn compile(profile: &Profile, target: &Target) -> Result<Compiled, SeccompError> {
    let table = resolve(profile, target)?;
    Ok(Compiled {
        program: cbpf::generate(&table)?,
        flags: table.flags,
        skipped: table.skipped,
    })
}

/// Child-safe. Installs `prog` as the calling thread's seccomp filter (see the module's
/// documentation for what the kernel requires). Returns the errno on failure.
pub fn install(prog: &[libc::sock_filter]) -> Result<(), i32> {
    install_with_flags(prog, 0)
}

/// Child-safe. [`install`] with `SECCOMP_FILTER_FLAG_*` flags ([`Compiled::flags`]).
pub fn install_with_flags(prog: &[libc::sock_filter], flags: u32) -> Result<(), i32> {
    let Ok(len) = u16::try_from(prog.len()) else {
        return Err(libc::EINVAL);
    };
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `len` instructions that outlive the call; the kernel copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last_raw());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::interp::{run, Call};
    use super::*;
    use crate::caps::CapSet;

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
    const KILL_PROCESS: u32 = 0x8000_0000;

    fn target(caps: CapSet) -> Target {
        Target {
            caps,
            kernel: KernelVersion { major: 6, minor: 1 },
        }
    }

    fn nr(name: &str) -> u32 {
        syscalls::number(name).unwrap()
    }

    fn default_for(caps: CapSet) -> Vec<libc::sock_filter> {
        compile(&default_profile(), &target(caps)).unwrap().program
    }

    #[test]
    fn default_profile_refuses_what_docker_refuses() {
        let p = default_for(CapSet::docker_default());
        let call = |name: &str, args: &[u64]| run(&p, &Call::x86_64(nr(name), args));
        for name in [
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
            "mount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsmount",
            "move_mount",
            "open_tree",
            "fspick",
            "fsconfig",
            "mount_setattr",
            "unshare",
            "setns",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "open_by_handle_at",
            "name_to_handle_at",
            "reboot",
            "swapon",
            "swapoff",
            "syslog",
            "acct",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "iopl",
            "ioperm",
            "quotactl",
            "lookup_dcookie",
            "userfaultfd",
            "kcmp",
            "pidfd_getfd",
            "io_uring_setup",
            "uselib",
            "_sysctl",
            "listns",
            "vhangup",
            "mbind",
        ] {
            assert_eq!(call(name, &[]), EPERM, "{name}");
        }
        assert_eq!(call("clone3", &[]), ENOSYS);
        for name in [
            "read",
            "write",
            "getpid",
            "openat",
            "mmap",
            "execve",
            "exit_group",
            "chroot",
            "ptrace",
            "process_vm_readv",
            "mknod",
            "setuid",
            "capset",
            "prctl",
            "seccomp",
            "getrandom",
            "socketpair",
            "arch_prctl",
        ] {
            assert_eq!(call(name, &[]), ALLOW, "{name}");
        }
        // A number the kernel does not have yet.
        assert_eq!(run(&p, &Call::x86_64(600, &[])), EPERM);
    }

    #[test]
    fn clone_without_namespace_flags_only() {
        let p = default_for(CapSet::docker_default());
        let clone = |flags: u64| run(&p, &Call::x86_64(nr("clone"), &[flags]));
        // What fork and pthread_create pass.
        assert_eq!(clone(libc::SIGCHLD as u64), ALLOW);
        assert_eq!(clone(0x003d_0f00), ALLOW);
        for f in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ] {
            assert_eq!(clone(f as u64 | libc::SIGCHLD as u64), EPERM, "{f:#x}");
        }
        // High bits outside the mask do not matter; the mask holds on the full 64 bits.
        assert_eq!(clone(1 << 40 | libc::SIGCHLD as u64), ALLOW);
    }

    #[test]
    fn sys_admin_opens_what_docker_opens_with_it() {
        let p = default_for(CapSet::docker_default().with(21));
        for name in ["mount", "unshare", "setns", "bpf", "clone3", "sethostname"] {
            assert_eq!(run(&p, &Call::x86_64(nr(name), &[])), ALLOW, "{name}");
        }
        let newnet = libc::CLONE_NEWNET as u64;
        assert_eq!(run(&p, &Call::x86_64(nr("clone"), &[newnet])), ALLOW);
        assert_eq!(run(&p, &Call::x86_64(nr("keyctl"), &[])), EPERM);
        let no_chroot = default_for(CapSet::docker_default().without(18));
        assert_eq!(run(&no_chroot, &Call::x86_64(nr("chroot"), &[])), EPERM);
    }

    #[test]
    fn socket_families_and_personalities() {
        let p = default_for(CapSet::docker_default());
        let socket = |family: u64| run(&p, &Call::x86_64(nr("socket"), &[family, 1, 0]));
        assert_eq!(socket(libc::AF_INET as u64), ALLOW);
        assert_eq!(socket(libc::AF_NETLINK as u64), ALLOW);
        assert_eq!(socket(39), ALLOW);
        assert_eq!(socket(41), ALLOW);
        assert_eq!(socket(libc::AF_ALG as u64), EPERM);
        assert_eq!(socket(libc::AF_VSOCK as u64), EPERM);
        // The kernel reads an int: high bits do not hide the family.
        assert_eq!(socket(0xdead_beef_0000_0000 | libc::AF_ALG as u64), EPERM);
        let personality = |v: u64| run(&p, &Call::x86_64(nr("personality"), &[v]));
        for v in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(personality(v), ALLOW, "{v:#x}");
        }
        assert_eq!(personality(0x0040000), EPERM); // ADDR_NO_RANDOMIZE
        assert_eq!(personality(1 << 32), EPERM);
    }

    #[test]
    fn other_abis_are_killed() {
        let p = default_for(CapSet::docker_default());
        let mut i386 = Call::x86_64(20, &[]);
        i386.arch = 0x4000_0003; // AUDIT_ARCH_I386
        assert_eq!(run(&p, &i386), KILL_PROCESS);
        let x32 = Call::x86_64(0x4000_0000 | nr("getpid"), &[]);
        assert_eq!(run(&p, &x32), KILL_PROCESS);
    }

    /// Every comparison, on both halves of 64-bit arguments, around its boundary.
    #[test]
    fn comparisons_are_exact_on_64_bits() {
        let values: [u64; 9] = [
            0,
            1,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0001,
            0x1_ffff_ffff,
            0x2_0000_0000,
            u64::MAX - 1,
            u64::MAX,
        ];
        let ops = [
            (Op::Eq, "SCMP_CMP_EQ"),
            (Op::Ne, "SCMP_CMP_NE"),
            (Op::Lt, "SCMP_CMP_LT"),
            (Op::Le, "SCMP_CMP_LE"),
            (Op::Gt, "SCMP_CMP_GT"),
            (Op::Ge, "SCMP_CMP_GE"),
        ];
        for (op, name) in ops {
            for v in values {
                let json = format!(
                    r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["ioctl"],
                        "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                        "args": [{{"index": 3, "value": {v}, "op": "{name}"}}]}}]}}"#
                );
                let p = compile(&Profile::from_json(&json).unwrap(), &target(CapSet::EMPTY))
                    .unwrap()
                    .program;
                for a in values {
                    let want = match op {
                        Op::Eq => a == v,
                        Op::Ne => a != v,
                        Op::Lt => a < v,
                        Op::Le => a <= v,
                        Op::Gt => a > v,
                        Op::Ge => a >= v,
                        Op::MaskedEq => unreachable!(),
                    };
                    let got = run(&p, &Call::x86_64(16, &[0, 0, 0, a]));
                    let want = if want { 0x0005_0000 | 22 } else { ALLOW };
                    assert_eq!(got, want, "{a:#x} {name} {v:#x}");
                }
            }
        }
        for (mask, want) in [(0xff00_0000_0000_00ffu64, 0x1200_0000_0000_0034u64), (0, 0)] {
            let json = format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["ioctl"],
                    "action": "SCMP_ACT_KILL_PROCESS",
                    "args": [{{"index": 5, "value": {mask}, "valueTwo": {want},
                               "op": "SCMP_CMP_MASKED_EQ"}}]}}]}}"#
            );
            let p = compile(&Profile::from_json(&json).unwrap(), &target(CapSet::EMPTY))
                .unwrap()
                .program;
            for a in values
                .iter()
                .copied()
                .chain([0x12ab_cdef_0000_0034, 0x1300_0000_0000_0034])
            {
                let got = run(&p, &Call::x86_64(16, &[0, 0, 0, 0, 0, a]));
                let hit = a & mask == want;
                assert_eq!(got == KILL_PROCESS, hit, "{a:#x} & {mask:#x} == {want:#x}");
            }
        }
    }

    #[test]
    fn conditions_and_together_and_rules_go_in_order() {
        let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13, "syscalls": [
            {"names": ["mmap"], "action": "SCMP_ACT_TRAP", "args": [
                {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 3, "value": 32, "op": "SCMP_CMP_NE"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_LOG", "args": [
                {"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["mmap"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
        ]}"#;
        let p = compile(&Profile::from_json(json).unwrap(), &target(CapSet::EMPTY))
            .unwrap()
            .program;
        let mmap = |prot: u64, flags: u64| run(&p, &Call::x86_64(9, &[0, 4096, prot, flags]));
        assert_eq!(mmap(7, 2), 0x0003_0000); // exec and not anonymous: trap
        assert_eq!(mmap(7, 32), 0x7ffc_0000); // exec, anonymous: log
        assert_eq!(mmap(3, 2), ALLOW);
        assert_eq!(run(&p, &Call::x86_64(101, &[])), 0x7ff0_0007);
        assert_eq!(run(&p, &Call::x86_64(0, &[])), 0x0005_000d);
    }

    /// Every system call, each with a rule of its own: the search and the long jumps hold
    /// over the whole table, and every number lands on its own block.
    #[test]
    fn every_number_reaches_its_own_rule() {
        let syscalls: Vec<String> = syscalls::X86_64
            .iter()
            .map(|(n, nr)| {
                format!(
                    r#"{{"names": ["{n}"], "action": "SCMP_ACT_ERRNO", "errnoRet": {e},
                        "args": [{{"index": 1, "value": {nr}, "op": "SCMP_CMP_EQ"}}]}}"#,
                    e = nr % 4000 + 1
                )
            })
            .collect();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_KILL_THREAD", "syscalls": [{}]}}"#,
            syscalls.join(",")
        );
        let p = compile(&Profile::from_json(&json).unwrap(), &target(CapSet::EMPTY))
            .unwrap()
            .program;
        for (_, nr) in syscalls::X86_64 {
            assert_eq!(
                run(&p, &Call::x86_64(*nr, &[0, *nr as u64])),
                0x0005_0000 | (nr % 4000 + 1)
            );
            assert_eq!(run(&p, &Call::x86_64(*nr, &[0, 1 << 33])), 0, "{nr}");
        }
        for missing in [337, 400, 423, 471, 1000, 0x3fff_ffff] {
            assert_eq!(run(&p, &Call::x86_64(missing, &[])), 0);
        }
    }

    /// A block longer than a conditional jump reaches (many rules for one call) is jumped
    /// over with `ja`.
    #[test]
    fn long_blocks_are_jumped_over() {
        let args: Vec<String> = (0..120)
            .map(|v| format!(r#"{{"index": 0, "value": {v}, "op": "SCMP_CMP_EQ"}}"#))
            .collect();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{}]}},
                {{"names": ["write", "close", "getpid", "mmap"], "action": "SCMP_ACT_ALLOW"}}]}}"#,
            args.join(",")
        );
        let p = compile(&Profile::from_json(&json).unwrap(), &target(CapSet::EMPTY))
            .unwrap()
            .program;
        assert!(p.len() > 600);
        assert_eq!(run(&p, &Call::x86_64(0, &[119])), ALLOW);
        assert_eq!(run(&p, &Call::x86_64(0, &[120])), 0x0005_0001);
        for name in ["write", "close", "getpid", "mmap"] {
            assert_eq!(run(&p, &Call::x86_64(nr(name), &[])), ALLOW, "{name}");
        }
    }

    #[test]
    fn too_long_is_refused_with_its_length() {
        let args: Vec<String> = (0..1000)
            .map(|v| format!(r#"{{"index": 0, "value": {v}, "op": "SCMP_CMP_EQ"}}"#))
            .collect();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{}]}}]}}"#,
            args.join(",")
        );
        let e = compile(&Profile::from_json(&json).unwrap(), &target(CapSet::EMPTY)).unwrap_err();
        assert!(
            matches!(e, SeccompError::TooLong { len } if len > 4096),
            "{e}"
        );
    }

    #[test]
    fn the_default_profile_survives_json() {
        let p = default_profile();
        let again = Profile::from_json(&p.to_json()).unwrap();
        assert_eq!(again, p);
        let c = compile(&again, &target(CapSet::docker_default())).unwrap();
        assert!(c.program.len() < 1024, "{}", c.program.len());
        assert!(c.skipped.is_empty());
    }
}

//! ferry's built-in seccomp profile.
//!
//! It is an allow-list, as Docker's is: every system call not named here fails with EPERM.
//! A deny-list would let through whatever the kernel adds next; new system calls have
//! repeatedly brought new ways around a sandbox (the new mount API, `io_uring`, `clone3` with
//! namespace flags a filter cannot read), and an allow-list refuses them until someone has
//! looked at them. The price is that a program using a call added after this list fails with
//! EPERM (glibc and musl then fall back to older calls).
//!
//! It refuses what Docker's default refuses (checked against Docker's profile of 2026), and
//! three more, as ferry chooses to be at least as strict: `adjtimex` and `clock_adjtime`
//! need `CAP_SYS_TIME` (as `settimeofday` and `clock_settime`) and `name_to_handle_at` needs
//! `CAP_DAC_READ_SEARCH` (as `open_by_handle_at`). In short, without the capability that
//! would make them useful: loading kernel modules, `kexec`, mounting (`mount`, `umount2`,
//! `pivot_root` and the new mount API), new namespaces (`unshare`, `setns`, `clone` with any
//! `CLONE_NEW*` flag, `clone3` which gets ENOSYS so that libc falls back to `clone`), `bpf`,
//! `perf_event_open`, the kernel keyring, file handles, `reboot`, swap, `syslog`, `acct`,
//! setting the clock, port I/O, quotas, `lookup_dcookie`, `userfaultfd`, `io_uring`,
//! personalities other than Linux's usual ones, `AF_ALG` and `AF_VSOCK` sockets, and
//! `kcmp`/`pidfd_getfd`/`process_madvise` (which need `CAP_SYS_PTRACE`). `ptrace` and
//! `process_vm_*` are allowed (Linux 4.8 and later check seccomp after ptrace, so a tracee
//! cannot be used to get around the filter).

use super::profile::{Action, Arg, Filter, Op, Profile, Syscall};

/// System calls every sandbox may make, by topic.
const ALLOWED: &[&[&str]] = &[
    // Files and directories.
    &[
        "access",
        "chdir",
        "chmod",
        "chown",
        "close",
        "close_range",
        "copy_file_range",
        "creat",
        "dup",
        "dup2",
        "dup3",
        "faccessat",
        "faccessat2",
        "fadvise64",
        "fallocate",
        "fchdir",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "fchown",
        "fchownat",
        "fcntl",
        "fdatasync",
        "flock",
        "fstat",
        "fstatfs",
        "fsync",
        "ftruncate",
        "futimesat",
        "getcwd",
        "getdents",
        "getdents64",
        "lchown",
        "link",
        "linkat",
        "lseek",
        "lstat",
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "newfstatat",
        "open",
        "openat",
        "openat2",
        "pread64",
        "preadv",
        "preadv2",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "read",
        "readahead",
        "readlink",
        "readlinkat",
        "readv",
        "rename",
        "renameat",
        "renameat2",
        "rmdir",
        "sendfile",
        "splice",
        "stat",
        "statfs",
        "statx",
        "symlink",
        "symlinkat",
        "sync",
        "sync_file_range",
        "syncfs",
        "tee",
        "truncate",
        "umask",
        "unlink",
        "unlinkat",
        "utime",
        "utimensat",
        "utimes",
        "vmsplice",
        "write",
        "writev",
        "cachestat",
        "statmount",
        "listmount",
    ],
    // Extended attributes.
    &[
        "fgetxattr",
        "flistxattr",
        "fremovexattr",
        "fsetxattr",
        "getxattr",
        "getxattrat",
        "lgetxattr",
        "listxattr",
        "listxattrat",
        "llistxattr",
        "lremovexattr",
        "lsetxattr",
        "removexattr",
        "removexattrat",
        "setxattr",
        "setxattrat",
    ],
    // Waiting for descriptors, events, asynchronous I/O, file change notification.
    &[
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
        "poll",
        "ppoll",
        "pselect6",
        "select",
        "io_cancel",
        "io_destroy",
        "io_getevents",
        "io_pgetevents",
        "io_setup",
        "io_submit",
        "inotify_add_watch",
        "inotify_init",
        "inotify_init1",
        "inotify_rm_watch",
        "fanotify_mark",
        "ioctl",
        "pipe",
        "pipe2",
        "memfd_create",
        "memfd_secret",
    ],
    // Memory.
    &[
        "brk",
        "madvise",
        "map_shadow_stack",
        "membarrier",
        "mincore",
        "mlock",
        "mlock2",
        "mlockall",
        "mmap",
        "mprotect",
        "mremap",
        "mseal",
        "msync",
        "munlock",
        "munlockall",
        "munmap",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "remap_file_pages",
    ],
    // Processes, threads, identity, limits, scheduling.
    &[
        "arch_prctl",
        "capget",
        "capset",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "fork",
        "get_robust_list",
        "get_thread_area",
        "getcpu",
        "getegid",
        "geteuid",
        "getgid",
        "getgroups",
        "getpgid",
        "getpgrp",
        "getpid",
        "getppid",
        "getpriority",
        "getresgid",
        "getresuid",
        "getrlimit",
        "getrusage",
        "getsid",
        "gettid",
        "getuid",
        "ioprio_get",
        "ioprio_set",
        "modify_ldt",
        "pidfd_open",
        "prctl",
        "prlimit64",
        "process_mrelease",
        "restart_syscall",
        "rseq",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
        "seccomp",
        "set_robust_list",
        "set_thread_area",
        "set_tid_address",
        "setfsgid",
        "setfsuid",
        "setgid",
        "setgroups",
        "setpgid",
        "setpriority",
        "setregid",
        "setresgid",
        "setresuid",
        "setreuid",
        "setrlimit",
        "setsid",
        "setuid",
        "uname",
        "sysinfo",
        "times",
        "vfork",
        "wait4",
        "waitid",
        "uretprobe",
        "getrandom",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
    ],
    // Futexes and signals.
    &[
        "futex",
        "futex_requeue",
        "futex_wait",
        "futex_waitv",
        "futex_wake",
        "kill",
        "pidfd_send_signal",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_tgsigqueueinfo",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "tgkill",
        "tkill",
        "pause",
    ],
    // Time (reading it, timers, sleeping).
    &[
        "alarm",
        "clock_getres",
        "clock_gettime",
        "clock_nanosleep",
        "getitimer",
        "gettimeofday",
        "nanosleep",
        "setitimer",
        "time",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_settime",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_settime",
    ],
    // Sockets (`socket` itself has its own rules below).
    &[
        "accept",
        "accept4",
        "bind",
        "connect",
        "getpeername",
        "getsockname",
        "getsockopt",
        "listen",
        "recvfrom",
        "recvmmsg",
        "recvmsg",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setsockopt",
        "shutdown",
        "socketpair",
    ],
    // System V and POSIX IPC.
    &[
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedsend",
        "mq_unlink",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
    ],
];

/// System calls a capability makes useful, allowed only with it.
const WITH_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    (
        "CAP_DAC_READ_SEARCH",
        &["open_by_handle_at", "name_to_handle_at"],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["init_module", "finit_module", "delete_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "clock_settime", "adjtimex", "clock_adjtime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Every `CLONE_NEW*` flag `clone` takes: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET (0x7e020000).
pub const CLONE_NEW_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// Socket families refused: `AF_ALG` (the kernel's crypto API, a frequent source of
/// privilege escalations) and `AF_VSOCK` (a way out to the hypervisor or the host).
const REFUSED_FAMILIES: [u64; 2] = [38, 40];

/// Personalities allowed: Linux (0), Linux with 32-bit addresses (8), `UNAME26` and both,
/// and 0xffffffff (the query).
const PERSONALITIES: [u64; 5] = [0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| n.to_string()).collect()
}

fn entry(list: &[&str], action: Action) -> Syscall {
    Syscall {
        names: names(list),
        name: None,
        action,
        errno_ret: None,
        args: Vec::new(),
        comment: None,
        includes: None,
        excludes: None,
    }
}

fn caps(list: &[&str]) -> Option<Filter> {
    Some(Filter {
        caps: names(list),
        ..Filter::default()
    })
}

/// ferry's default profile (see the module's documentation).
pub fn default_profile() -> Profile {
    let mut syscalls: Vec<Syscall> = ALLOWED
        .iter()
        .map(|group| entry(group, Action::Allow))
        .collect();
    syscalls.push(Syscall {
        comment: Some("no tracee can get around the filter since Linux 4.8".into()),
        includes: Some(Filter {
            min_kernel: Some("4.8".into()),
            ..Filter::default()
        }),
        ..entry(
            &["ptrace", "process_vm_readv", "process_vm_writev"],
            Action::Allow,
        )
    });
    // The family is an int: only its low 32 bits count, as the kernel reads it.
    syscalls.push(Syscall {
        comment: Some("no AF_ALG or AF_VSOCK sockets".into()),
        args: REFUSED_FAMILIES
            .iter()
            .map(|f| Arg {
                index: 0,
                value: 0xffff_ffff,
                value_two: *f,
                op: Op::MaskedEq,
            })
            .collect(),
        ..entry(&["socket"], Action::Errno)
    });
    syscalls.push(entry(&["socket"], Action::Allow));
    syscalls.push(Syscall {
        comment: Some("Linux's usual personalities only".into()),
        args: PERSONALITIES
            .iter()
            .map(|p| Arg {
                index: 0,
                value: *p,
                value_two: 0,
                op: Op::Eq,
            })
            .collect(),
        ..entry(&["personality"], Action::Allow)
    });
    syscalls.push(Syscall {
        comment: Some("clone without new namespaces".into()),
        args: vec![Arg {
            index: 0,
            value: CLONE_NEW_FLAGS,
            value_two: 0,
            op: Op::MaskedEq,
        }],
        excludes: caps(&["CAP_SYS_ADMIN"]),
        ..entry(&["clone"], Action::Allow)
    });
    syscalls.push(Syscall {
        comment: Some("a filter cannot read clone3's flags: ENOSYS makes libc use clone".into()),
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: caps(&["CAP_SYS_ADMIN"]),
        ..entry(&["clone3"], Action::Errno)
    });
    for (cap, list) in WITH_CAPABILITY {
        syscalls.push(Syscall {
            includes: caps(&[cap]),
            ..entry(list, Action::Allow)
        });
    }
    Profile {
        default_action: Action::Errno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Some(vec!["SCMP_ARCH_X86_64".into()]),
        arch_map: None,
        flags: None,
        listener_path: None,
        listener_metadata: None,
        syscalls,
    }
}

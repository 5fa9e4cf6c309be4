//! Seccomp filters against the real kernel: a forked child installs a compiled filter, as a
//! sandbox's process does, then makes system calls and reports their results.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod child;

use ferry_kernel::caps::CapSet;
use ferry_kernel::seccomp::{self, KernelVersion, Profile, Target};

fn target(caps: CapSet) -> Target {
    Target {
        caps,
        kernel: KernelVersion::running().unwrap(),
    }
}

fn default_filter() -> Vec<libc::sock_filter> {
    seccomp::compile(
        &seccomp::default_profile(),
        &target(CapSet::docker_default()),
    )
    .unwrap()
    .program
}

fn installed(prog: &[libc::sock_filter]) -> i64 {
    seccomp::install(prog).map_or_else(|e| -i64::from(e), |_| 0)
}

const EPERM: i64 = -(libc::EPERM as i64);
const ENOSYS: i64 = -(libc::ENOSYS as i64);

/// The child is root with every capability, so each refusal below comes from the filter.
#[test]
fn the_default_filter_refuses_what_docker_refuses() {
    assert!(child::root(), "this test needs root");
    let prog = default_filter();
    let (out, ended) = child::run(
        |_| {},
        |fd| {
            let installed = installed(&prog);
            // SAFETY: plain system calls with valid (or null) pointers; the namespace and
            // mount calls are refused before they would do anything.
            let r = unsafe {
                let mut clone3_args = [0u64; 11];
                clone3_args[4] = libc::SIGCHLD as u64; // exit_signal
                [
                    installed,
                    child::result(libc::unshare(libc::CLONE_NEWNET) as i64),
                    child::result(libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null(),
                    ) as i64),
                    child::result(libc::syscall(
                        libc::SYS_init_module,
                        std::ptr::null::<u8>(),
                        0,
                        c"".as_ptr(),
                    )),
                    child::result(libc::syscall(
                        libc::SYS_clone3,
                        clone3_args.as_mut_ptr(),
                        std::mem::size_of_val(&clone3_args),
                    )),
                    // KEYCTL_GET_KEYRING_ID of the session keyring.
                    child::result(libc::syscall(libc::SYS_keyctl, 0, -3, 0)),
                    child::result(libc::syscall(
                        libc::SYS_clone,
                        (libc::CLONE_NEWNET | libc::SIGCHLD) as libc::c_ulong,
                        0,
                        0,
                        0,
                        0,
                    )),
                    child::result(libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) as i64),
                    child::result(libc::syscall(libc::SYS_setns, 0, libc::CLONE_NEWNET)),
                    child::result(libc::syscall(libc::SYS_bpf, 0, 0, 0)),
                ]
            };
            child::put(fd, &r);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    assert_eq!(
        child::values(&out),
        vec![0, EPERM, EPERM, EPERM, ENOSYS, EPERM, EPERM, EPERM, EPERM, EPERM],
        "install, unshare, mount, init_module, clone3, keyctl, clone(NEWNET), socket(AF_VSOCK), \
         setns, bpf"
    );
}

#[test]
fn the_default_filter_lets_ordinary_programs_run() {
    assert!(child::root(), "this test needs root");
    let prog = default_filter();
    let mut child_pid = 0;
    let (out, ended) = child::run(
        |pid| child_pid = pid,
        |fd| {
            let installed = installed(&prog);
            // SAFETY: plain system calls on descriptors and buffers of this function.
            let r = unsafe {
                let pid = child::result(libc::getpid() as i64);
                let mut p = [0; 2];
                let piped = child::result(libc::pipe2(p.as_mut_ptr(), 0) as i64);
                let wrote = child::result(
                    libc::write(p[1], b"x".as_ptr() as *const libc::c_void, 1) as i64,
                );
                let mut b = 0u8;
                let read = child::result(
                    libc::read(p[0], &mut b as *mut u8 as *mut libc::c_void, 1) as i64,
                );
                let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                let socket = child::result(sock as i64).min(1);
                libc::close(sock);
                // fork, as libc does it: clone without namespace flags.
                let forked =
                    libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0);
                if forked == 0 {
                    libc::_exit(7);
                }
                let mut status = 0;
                libc::waitpid(forked as libc::pid_t, &mut status, 0);
                let grandchild = if forked > 0 {
                    i64::from(libc::WEXITSTATUS(status))
                } else {
                    -child::errno()
                };
                let persona = child::result(libc::personality(0xffff_ffff) as i64).min(0);
                [
                    installed, pid, piped, wrote, read, socket, grandchild, persona,
                ]
            };
            child::put(fd, &r);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    assert_eq!(
        child::values(&out),
        vec![0, i64::from(child_pid), 0, 1, 1, 1, 7, 0],
        "install, getpid, pipe2, write, read, socket(AF_INET), fork, personality"
    );
}

/// An i386 system call (`int 0x80`) and an x32 one kill the process: the rules only know
/// x86_64 numbers.
#[test]
fn other_abis_kill_the_process() {
    assert!(child::root(), "this test needs root");
    let prog = default_filter();
    let (_, ended) = child::run(
        |_| {},
        |_| {
            if installed(&prog) == 0 {
                let mut eax: u32 = 20; // getpid on i386
                                       // SAFETY: an i386 getpid, which has no memory effect.
                unsafe { std::arch::asm!("int 0x80", inout("eax") eax) };
                let _ = eax;
            }
        },
    );
    assert_eq!(ended, child::Ended::Signaled(libc::SIGSYS));
    let (_, ended) = child::run(
        |_| {},
        |_| {
            if installed(&prog) == 0 {
                // SAFETY: an x32 getpid.
                unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
            }
        },
    );
    assert_eq!(ended, child::Ended::Signaled(libc::SIGSYS));
}

/// A deny-list profile in Docker's JSON: includes and excludes, argument conditions, other
/// architectures' names.
#[test]
fn a_docker_format_profile_compiles_and_holds() {
    assert!(child::root(), "this test needs root");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seccomp-denylist.json"
    ))
    .unwrap();
    let profile = Profile::from_json(&text).unwrap();
    let compiled = seccomp::compile(&profile, &target(CapSet::docker_default())).unwrap();
    assert_eq!(compiled.skipped, vec!["_llseek", "s390_runtime_instr"]);
    let prog = compiled.program;
    let (out, ended) = child::run(
        |_| {},
        |fd| {
            let installed = installed(&prog);
            // SAFETY: plain system calls on paths that do not exist and on /dev/null.
            let r = unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                [
                    installed,
                    child::result(libc::mkdir(c"/nonexistent-ferry-test/d".as_ptr(), 0o755) as i64),
                    child::result(libc::chmod(c"/nonexistent-ferry-test/f".as_ptr(), 0o644) as i64),
                    child::result(libc::personality(0) as i64),
                    child::result(libc::personality(0xffff_ffff) as i64).min(0),
                    child::result(libc::lseek(null, 0, libc::SEEK_END)),
                    child::result(libc::lseek(null, 0, libc::SEEK_SET)),
                    child::result(libc::getpriority(libc::PRIO_PROCESS, 0) as i64).min(0),
                    // glibc's getppid() does not expect failure: ask the kernel directly.
                    child::result(libc::syscall(libc::SYS_getppid)),
                ]
            };
            child::put(fd, &r);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    assert_eq!(
        child::values(&out),
        vec![0, -30, -(libc::ENOENT as i64), -22, 0, -29, 0, 0, -95],
        "install, mkdir, chmod, personality(0), personality(query), lseek(END), lseek(SET), \
         getpriority, getppid"
    );
}

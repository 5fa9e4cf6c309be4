//! ferry's init: the first process of a sandbox's PID namespace when `--init` is on (the
//! default). A program that is PID 1 gets no default signal actions (a `stop`'s SIGTERM
//! would be ignored) and must reap every orphan of the namespace; most programs do neither.
//! The init starts the program, passes every signal it gets on to it, reaps whatever exits,
//! and exits with the program's status (128 + signal when it was killed).

use std::os::unix::process::CommandExt;

/// Signals passed on to the program.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
    libc::SIGPWR,
];

extern "C" fn noop(_: libc::c_int) {}

fn status_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Runs `argv` (after a leading `--`) under the init; returns the exit code to exit with.
pub fn run(argv: &[String]) -> i32 {
    let argv = match argv.first().map(String::as_str) {
        Some("--") => &argv[1..],
        _ => argv,
    };
    let Some(program) = argv.first() else {
        eprintln!("ferry-init: no program given");
        return 127;
    };
    // SAFETY: plain signal-handling calls on local data, in a single-threaded process.
    unsafe {
        // A PID 1 only receives signals it has a handler for: install one, then block them
        // so that they wait for sigwaitinfo below.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
            libc::signal(sig, noop as *const () as libc::sighandler_t);
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::prctl(
            libc::PR_SET_NAME,
            c"ferry-init".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        );
        let mut cmd = std::process::Command::new(program);
        cmd.args(&argv[1..]);
        cmd.pre_exec(|| {
            // The program leads a process group of its own, as under a shell, and gets none
            // of the signals the init blocked for itself.
            libc::setpgid(0, 0);
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
        let child = match cmd.spawn() {
            Ok(c) => c.id() as libc::pid_t,
            Err(e) => {
                eprintln!("ferry-init: cannot run {program:?}: {e}");
                return if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                };
            }
        };
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&set, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    // Leaving ends the namespace: the kernel kills what is left in it.
                    return status_code(status);
                }
            }
        }
    }
}

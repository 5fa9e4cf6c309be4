//! `ferry exec`: runs a command in a running sandbox. The CLI starts it itself, in the
//! sandbox's namespaces, cgroup and root, confined as the sandbox's own processes are
//! (capabilities, seccomp, `no_new_privs`, user), so standard input, output and the exit code
//! pass straight through, as with `nsenter`. With `--tty` the command gets a terminal of the
//! sandbox's own devpts (opened by the child once inside the sandbox's root), which this
//! process relays to its own terminal, or hands to the daemon (`--tty-socket`, how the Docker
//! API's `exec -t` runs).

use clap::Args;
use ferry_client::Client;
use ferry_kernel::process::{self, Confinement, Mounts, Ns, SpawnSpec, Stdio};
use ferry_types::security::Seccomp;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// `exec` flags.
#[derive(Args)]
pub struct ExecArgs {
    /// Pass standard input through.
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a terminal (of the sandbox's own devpts).
    #[arg(short, long)]
    tty: bool,
    /// With --tty: send the terminal's master on this Unix socket (an inherited descriptor)
    /// instead of relaying it.
    #[arg(long, hide = true, requires = "tty")]
    tty_socket: Option<i32>,
    /// With --tty: the terminal's window size from the start, ROWSxCOLUMNS.
    #[arg(long, hide = true, requires = "tty", value_parser = parse_size)]
    tty_size: Option<(u16, u16)>,
    /// Environment variables, KEY=VALUE.
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Run as UID[:GID] or NAME[:GROUP] (default: the sandbox's user).
    #[arg(short, long)]
    user: Option<String>,
    /// Sandbox.
    name: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid size {s:?}: give ROWSxCOLUMNS");
    let (r, c) = s.split_once('x').ok_or_else(bad)?;
    Ok((r.parse().map_err(|_| bad())?, c.parse().map_err(|_| bad())?))
}

/// The caller's terminal's size, when standard input is one.
fn own_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a local winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::isatty(0) == 1 && libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0)
            .then_some((ws.ws_row, ws.ws_col))
    }
}

/// The sandbox's namespace of `kind`, or `Host` when it is the caller's own already.
fn ns_of(kind: &str, pid: u32) -> Ns {
    let ino = |p: String| std::fs::metadata(p).map(|m| m.ino()).ok();
    let mine = ino(format!("/proc/self/ns/{kind}"));
    let theirs = ino(format!("/proc/{pid}/ns/{kind}"));
    if mine.is_some() && mine == theirs {
        Ns::Host
    } else {
        Ns::Join(PathBuf::from(format!("/proc/{pid}/ns/{kind}")))
    }
}

/// Runs `ferry exec`; returns the command's exit code.
pub fn run(c: &Client, a: &ExecArgs) -> anyhow::Result<i32> {
    let target = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(c.sandbox_exec_target(&a.name))?
    };
    let pid = target.pid;
    let mut env: Vec<String> = target.env.clone();
    env.extend(a.env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", ferry_types::DEFAULT_PATH));
    }
    let workdir = a.workdir.clone().unwrap_or_else(|| {
        if target.working_dir.is_empty() {
            "/".into()
        } else {
            target.working_dir.clone()
        }
    });
    // Like the sandbox's own processes: in its cgroup, where the daemon's connect-time
    // balancing of service VIPs applies. Without one the host balances, with the same result.
    let cgroup = ferry_kernel::sock_lb::cgroup2_mount().and_then(|m| {
        let rel = ferry_kernel::sock_lb::cgroup_of(&pid.to_string()).ok()?;
        Some(m.join(rel)).filter(|d| d.is_dir())
    });
    let user_spec = a.user.clone().unwrap_or(target.user.clone());
    let (user, groups) = if user_spec.is_empty() {
        (None, Vec::new())
    } else {
        let read =
            |f: &str| std::fs::read_to_string(format!("/proc/{pid}/root/{f}")).unwrap_or_default();
        let (u, g) = ferry_engine::sandbox::confine::user(
            &user_spec,
            &read("etc/passwd"),
            &read("etc/group"),
        )
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        (Some(u), g)
    };
    let seccomp = match &target.seccomp {
        None | Some(Seccomp::Unconfined) => None,
        Some(s) => ferry_engine::sandbox::confine::seccomp_program(s, target.caps)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?,
    };
    let spec = SpawnSpec {
        argv: a.cmd.clone(),
        env,
        workdir: Some(workdir),
        net: ns_of("net", pid),
        pid: ns_of("pid", pid),
        ipc: ns_of("ipc", pid),
        uts: ns_of("uts", pid),
        cgroupns: ns_of("cgroup", pid),
        hostname: None,
        domainname: None,
        cgroup,
        mounts: Mounts::JoinOf(pid),
        confinement: Confinement {
            caps: target.caps,
            seccomp,
            no_new_privs: target.no_new_privileges,
            user,
            groups,
        },
        init: None,
        // A terminal needs a session of its own to be controlled by; without one the
        // command keeps the caller's terminal.
        new_session: a.tty,
        stdio: if a.tty {
            Stdio::Tty {
                size: a.tty_size.or_else(own_size),
            }
        } else {
            Stdio::Inherit {
                stdin: a.interactive,
            }
        },
    };
    let spawned = process::spawn(&spec)
        .map_err(|e| anyhow::anyhow!("cannot run {:?} in sandbox {}: {e}", a.cmd[0], a.name))?;
    let child = spawned.pid;
    let relay = match (spawned.pty, a.tty_socket) {
        (Some(master), Some(sock)) => {
            ferry_kernel::pty::send_fd(sock, std::os::fd::AsRawFd::as_raw_fd(&master))?;
            // SAFETY: the descriptor the daemon passed for this, used once.
            unsafe { libc::close(sock) };
            None
        }
        (Some(master), None) => Some(super::exec_tty::relay(master, a.interactive)),
        (None, _) => None,
    };
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(child as libc::pid_t, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    if let Some(r) = relay {
        r.finish();
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    })
}

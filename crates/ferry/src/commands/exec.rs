//! `ferry exec`: runs a command in a running sandbox's namespaces. The CLI joins the
//! namespaces itself (in the forked child, before exec), so standard input, output and the exit
//! code pass straight through, as with `nsenter`.

use clap::Args;
use ferry_api::client::{encode, Client};
use ferry_types::api::ExecTarget;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

/// `exec` flags.
#[derive(Args)]
pub struct ExecArgs {
    /// Pass standard input through.
    #[arg(short, long)]
    interactive: bool,
    /// Environment variables, KEY=VALUE.
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Sandbox.
    name: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

fn same_ns(kind: &str, pid: u32) -> bool {
    let a = std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .map(|m| m.ino())
        .ok();
    let b = std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .map(|m| m.ino())
        .ok();
    a.is_some() && a == b
}

/// Runs `ferry exec`; returns the command's exit code.
pub fn run(c: &Client, a: &ExecArgs) -> anyhow::Result<i32> {
    let target: ExecTarget = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(c.get(&format!("/containers/{}/exec-target", encode(&a.name))))?
    };
    let pid = target.pid;
    // Like the sandbox's own processes: in its cgroup, where the daemon's connect-time
    // balancing of service VIPs applies. Without it the host balances, with the same result.
    if let Err(e) = ferry_kernel::sock_lb::join_cgroup_of(pid) {
        tracing::debug!(error = %e, "exec stays in the caller's cgroup");
    }
    let mut fds = Vec::new();
    for kind in ["net", "uts", "mnt"] {
        if !same_ns(kind, pid) {
            let f = File::open(format!("/proc/{pid}/ns/{kind}")).map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the {kind} namespace of sandbox {}: {e}",
                    a.name
                )
            })?;
            fds.push(f);
        }
    }
    let root = File::open(format!("/proc/{pid}/root"))
        .map_err(|e| anyhow::anyhow!("cannot open the root of sandbox {}: {e}", a.name))?;
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let root_fd = root.as_raw_fd();
    let dot = std::ffi::CString::new(".")?;
    let workdir = a.workdir.clone().unwrap_or_else(|| {
        if target.working_dir.is_empty() {
            "/".into()
        } else {
            target.working_dir.clone()
        }
    });
    let workdir = std::ffi::CString::new(workdir)?;

    let mut cmd = Command::new(&a.cmd[0]);
    cmd.args(&a.cmd[1..]).env_clear();
    let mut env: Vec<String> = target.env.clone();
    env.extend(a.env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", ferry_types::DEFAULT_PATH));
    }
    for kv in &env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    if !a.interactive {
        cmd.stdin(Stdio::null());
    }
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| {
                if r < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            };
            for fd in &raw {
                check(libc::setns(*fd, 0))?;
            }
            check(libc::fchdir(root_fd))?;
            check(libc::chroot(dot.as_ptr()))?;
            check(libc::chdir(workdir.as_ptr()))?;
            Ok(())
        });
    }
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {:?} in sandbox {}: {e}", a.cmd[0], a.name))?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

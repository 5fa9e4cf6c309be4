//! The confinement flags of `run`, `create` and `service create`, as the docker CLI spells
//! them. `--security-opt seccomp=FILE` is read here and its JSON sent, as the docker CLI does.

use clap::Args;
use ferry_types::security::SecurityRequest;

/// Confinement flags.
#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// Add a Linux capability (repeatable; ALL for every one).
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop a Linux capability (repeatable; ALL for every one).
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give the sandbox every capability and the host's devices, with no seccomp filter.
    #[arg(long)]
    privileged: bool,
    /// seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false] (repeatable).
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Run as UID[:GID] or NAME[:GROUP].
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// PID namespace: host, or container:NAME (default: its own).
    #[arg(long)]
    pid: Option<String>,
    /// IPC namespace: private, host, or container:NAME.
    #[arg(long)]
    ipc: Option<String>,
    /// Run ferry's init as PID 1 (passes signals on, reaps orphans); the daemon's default
    /// is on, --init=false runs the program as PID 1 as Docker does.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    init: Option<bool>,
    /// Bind a host path, HOST:SANDBOX[:ro] (repeatable).
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Mount the sandbox's root filesystem read-only.
    #[arg(long = "read-only")]
    read_only: bool,
}

impl SecurityArgs {
    /// The request's confinement part.
    pub fn request(&self) -> anyhow::Result<SecurityRequest> {
        let mut security_opt = Vec::new();
        for o in &self.security_opt {
            security_opt.push(read_profile(o)?);
        }
        Ok(SecurityRequest {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt,
            user: self.user.clone().unwrap_or_default(),
            pid_mode: self.pid.clone().unwrap_or_default(),
            ipc_mode: self.ipc.clone().unwrap_or_default(),
            init: self.init,
            binds: self.volume.clone(),
            readonly_rootfs: self.read_only,
        })
    }
}

/// `seccomp=FILE` becomes `seccomp=<the file's JSON>`; everything else is sent as given.
pub fn read_profile(opt: &str) -> anyhow::Result<String> {
    match opt.split_once(['=', ':']) {
        Some(("seccomp", v)) if v != "unconfined" && !v.trim_start().starts_with('{') => {
            let text = std::fs::read_to_string(v)
                .map_err(|e| anyhow::anyhow!("cannot read seccomp profile {v}: {e}"))?;
            Ok(format!("seccomp={text}"))
        }
        _ => Ok(opt.to_string()),
    }
}

//! The etcd member a manager runs: `etcd` (Debian's `etcd-server`) as a child of the daemon,
//! its data under the data root, peer and client traffic on mutual TLS with the node's own
//! certificate from the cluster CA. A supervisor restarts it when it dies; it dies with the
//! daemon (parent-death signal), so a killed daemon leaves no member running behind it.

use crate::local::Files;
use crate::{Result, SwarmError};
use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The etcd binary; `FERRY_ETCD` names another.
const ETCD: &str = "etcd";
/// etcd's client port.
pub const CLIENT_PORT: u16 = 2379;
/// etcd's peer port.
pub const PEER_PORT: u16 = 2380;
/// How long a member that died waits before it is started again.
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// How long a stopping member may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The client URL of a member at `addr`.
pub fn client_url(addr: IpAddr) -> String {
    format!("https://{}", std::net::SocketAddr::new(addr, CLIENT_PORT))
}

/// The peer URL of a member at `addr`.
pub fn peer_url(addr: IpAddr) -> String {
    format!("https://{}", std::net::SocketAddr::new(addr, PEER_PORT))
}

/// How to start a member.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// Its name: the node ID.
    pub name: String,
    /// The node's advertise address: where it listens.
    pub addr: IpAddr,
    /// `name=peer-url,…` of every member, this one included (used on the first start only).
    pub initial_cluster: String,
    /// Whether this member starts a new cluster (init) or joins one (member add first).
    pub new_cluster: bool,
}

impl MemberConfig {
    /// etcd's arguments.
    fn args(&self, files: &Files) -> Vec<String> {
        let path = |p: std::path::PathBuf| p.display().to_string();
        let (client, peer) = (client_url(self.addr), peer_url(self.addr));
        vec![
            format!("--name={}", self.name),
            format!("--data-dir={}", path(files.etcd_data())),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster={}", self.initial_cluster),
            format!(
                "--initial-cluster-state={}",
                if self.new_cluster { "new" } else { "existing" }
            ),
            format!("--cert-file={}", path(files.node_cert())),
            format!("--key-file={}", path(files.node_key())),
            format!("--trusted-ca-file={}", path(files.ca_cert())),
            "--client-cert-auth=true".into(),
            format!("--peer-cert-file={}", path(files.node_cert())),
            format!("--peer-key-file={}", path(files.node_key())),
            format!("--peer-trusted-ca-file={}", path(files.ca_cert())),
            "--peer-client-cert-auth=true".into(),
            // A member that was removed must not start a cluster of its own.
            "--strict-reconfig-check=true".into(),
        ]
    }
}

/// A supervised etcd member.
pub struct EtcdMember {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl EtcdMember {
    /// Starts the member and its supervisor. Fails when etcd cannot be started at all (not
    /// installed); a member that starts and dies is restarted.
    pub async fn start(config: MemberConfig, files: Files) -> Result<Self> {
        std::fs::create_dir_all(files.dir()).map_err(SwarmError::io(format!(
            "cannot create {}",
            files.dir().display()
        )))?;
        let child = spawn(&config, &files)?;
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(supervise(config, files, child, stopping));
        Ok(EtcdMember { stop, task })
    }

    /// Stops the member (SIGTERM, then SIGKILL after a grace period) and its supervisor.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn etcd_bin() -> String {
    std::env::var("FERRY_ETCD").unwrap_or_else(|_| ETCD.to_string())
}

fn spawn(config: &MemberConfig, files: &Files) -> Result<tokio::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.etcd_log())
        .map_err(SwarmError::io(format!(
            "cannot open {}",
            files.etcd_log().display()
        )))?;
    let err_log = log
        .try_clone()
        .map_err(SwarmError::io("cannot open etcd's log"))?;
    let mut cmd = tokio::process::Command::new(etcd_bin());
    cmd.args(config.args(files))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(|e| {
        SwarmError::Unavailable(format!(
            "cannot start `{}`: {e}; swarm managers run an etcd member (apt-get install etcd-server)",
            etcd_bin()
        ))
    })?;
    if let Some(pid) = child.id() {
        let _ = files.write(&files.etcd_pid(), pid.to_string().as_bytes(), 0o644);
    }
    tracing::info!(pid = ?child.id(), name = %config.name, "etcd member started");
    Ok(child)
}

/// Keeps the member running until it is stopped; then no member runs and its PID file is
/// gone, also when the stop came while the member was down between two runs (a demoted
/// manager's member exits by itself once it is removed from the cluster).
async fn supervise(
    config: MemberConfig,
    files: Files,
    child: tokio::process::Child,
    stopping: watch::Receiver<bool>,
) {
    restart_until_stopped(&config, &files, child, stopping).await;
    let _ = std::fs::remove_file(files.etcd_pid());
    tracing::info!("etcd member stopped");
}

async fn restart_until_stopped(
    config: &MemberConfig,
    files: &Files,
    mut child: tokio::process::Child,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(status = ?status.ok(), log = %files.etcd_log().display(),
                    "the etcd member exited; restarting it");
                tokio::select! {
                    _ = tokio::time::sleep(RESTART_DELAY) => {}
                    _ = stopping.changed() => return,
                }
                match spawn(config, files) {
                    Ok(c) => child = c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot restart the etcd member");
                        tokio::select! {
                            _ = tokio::time::sleep(RESTART_DELAY * 5) => {}
                            _ = stopping.changed() => return,
                        }
                        continue;
                    }
                }
            }
            _ = stopping.changed() => {
                if let Some(pid) = child.id() {
                    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                }
                if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_talks_mutual_tls_on_its_advertise_address() {
        let c = MemberConfig {
            name: "n1".into(),
            addr: "192.0.2.1".parse().unwrap(),
            initial_cluster: "n0=https://192.0.2.9:2380,n1=https://192.0.2.1:2380".into(),
            new_cluster: false,
        };
        let args = c.args(&Files::new(std::path::Path::new("/d")));
        for want in [
            "--listen-client-urls=https://192.0.2.1:2379",
            "--initial-advertise-peer-urls=https://192.0.2.1:2380",
            "--initial-cluster-state=existing",
            "--client-cert-auth=true",
            "--peer-client-cert-auth=true",
            "--data-dir=/d/swarm/etcd",
            "--trusted-ca-file=/d/swarm/ca.crt",
        ] {
            assert!(
                args.iter().any(|a| a == want),
                "{want} missing from {args:?}"
            );
        }
        assert_eq!(client_url("::1".parse().unwrap()), "https://[::1]:2379");
    }
}

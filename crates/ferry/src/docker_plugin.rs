//! `ferry docker-plugin`: serves ferry as a Docker network and IPAM plugin (driver name
//! `ferry`) on a legacy plugin socket, in front of the daemon. Run it in dockerd's network
//! namespace, which must be the daemon's too; start it (and the daemon) before dockerd.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Where dockerd looks for a plugin named `ferry`.
pub const DEFAULT_PLUGIN_SOCKET: &str = "/run/docker/plugins/ferry.sock";

/// Flags of `ferry docker-plugin`.
#[derive(Args)]
pub struct DockerPluginArgs {
    /// The socket dockerd finds the plugin on (its name is the driver's: ferry.sock is `-d ferry`).
    #[arg(long, default_value = DEFAULT_PLUGIN_SOCKET)]
    socket: PathBuf,
    /// Where the endpoints' holder namespaces are mounted (a mount namespace shared with the
    /// daemon's).
    #[arg(long = "state-dir", default_value = "/run/ferry/docker-plugin")]
    state_dir: PathBuf,
    /// dockerd's API socket, where the plugin reads containers' names and aliases (dockerd
    /// sends a driver none) to make them names of their ferry endpoints.
    #[arg(long = "docker-host", default_value = "unix:///var/run/docker.sock")]
    docker_host: String,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long = "log-level", short = 'l', default_value = "info")]
    log_level: String,
}

/// Serves until SIGTERM or SIGINT; returns the exit code.
pub fn run(a: DockerPluginArgs, daemon: PathBuf) -> anyhow::Result<i32> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&a.log_level))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(dir) = a.socket.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot make {}", dir.display()))?;
        }
        // A socket left by a plugin that did not stop cleanly.
        let _ = std::fs::remove_file(&a.socket);
        let listener = tokio::net::UnixListener::bind(&a.socket)
            .with_context(|| format!("cannot listen on {}", a.socket.display()))?;
        tracing::info!(socket = %a.socket.display(), daemon = %daemon.display(), "serving the Docker plugin");
        let docker_socket = a
            .docker_host
            .strip_prefix("unix://")
            .with_context(|| {
                format!(
                    "--docker-host {:?}: dockerd's socket is given as unix:///PATH",
                    a.docker_host
                )
            })?
            .to_string();
        let plugin = std::sync::Arc::new(ferry_docker_plugin::Plugin::new(daemon, a.state_dir));
        tokio::spawn(ferry_docker_plugin::names::follow(
            plugin.clone(),
            ferry_docker_plugin::dockerd::Dockerd::new(docker_socket),
        ));
        let stop = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! { _ = t.recv() => {}, _ = i.recv() => {} }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        let served = ferry_docker_plugin::serve(plugin, listener, stop).await;
        let _ = std::fs::remove_file(&a.socket);
        served.context("plugin server failed")?;
        Ok(0)
    })
}

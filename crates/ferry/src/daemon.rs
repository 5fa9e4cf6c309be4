//! The daemon (`ferryd`, or `ferry daemon`): loads settings, takes the data root's lock, opens the store, starts the
//! engine (which reconciles the kernel) and serves the API until SIGTERM or SIGINT. Sandbox
//! processes keep running when the daemon stops; the next start adopts them.

use clap::Args;
use ferry_engine::{Controller, DaemonConfig, DaemonJson};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Daemon flags.
#[derive(Args)]
pub struct DaemonArgs {
    /// Persistent state directory.
    #[arg(long = "data-root")]
    data_root: Option<PathBuf>,
    /// Runtime state directory (socket, namespace mounts).
    #[arg(long = "exec-root")]
    exec_root: Option<PathBuf>,
    /// daemon.json with Docker's networking keys.
    #[arg(long = "config-file")]
    config_file: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long = "log-level", short = 'l')]
    log_level: Option<String>,
    /// Default bridge address and prefix (overrides daemon.json).
    #[arg(long)]
    bip: Option<String>,
    /// Default MTU (overrides daemon.json).
    #[arg(long)]
    mtu: Option<u32>,
    /// Who manages packet filtering and NAT: nftables (ferry's own tables) or none.
    #[arg(long, value_parser = ["nftables", "none"])]
    firewall: Option<String>,
    /// Docker's switch: --iptables=false is --firewall=none.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    iptables: Option<bool>,
    /// Seconds an API client has to send a request's headers (counted from the moment the
    /// daemon waits for them, an idle kept-alive connection included), then its body; past
    /// that its connection is closed.
    #[arg(long = "api-read-timeout", value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    api_read_timeout: u64,
    /// The port of the node endpoint a swarm node serves on its advertise address, where the
    /// other nodes read its replicas' output (mutual TLS with the cluster's certificates).
    #[arg(long = "node-port", value_name = "PORT", default_value_t = ferry_swarm::DEFAULT_NODE_PORT)]
    node_port: u16,
}

const DEFAULT_CONFIG: &str = "/etc/ferry/daemon.json";

/// Runs the daemon; returns the exit code.
pub fn run(a: DaemonArgs, host: Option<&str>) -> anyhow::Result<i32> {
    keep_freed_memory();
    let file_path = a
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let json = DaemonJson::load(&file_path, a.config_file.is_some())?;
    let level = a
        .log_level
        .clone()
        .or(json.log_level.clone())
        .unwrap_or_else(|| {
            if json.debug == Some(true) {
                "debug".into()
            } else {
                "info".into()
            }
        });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&level)
                .map_err(|e| anyhow::anyhow!("invalid --log-level {level:?}: {e}"))?,
        )
        .with_writer(std::io::stderr)
        .init();

    let data_root = a
        .data_root
        .clone()
        .or(json.data_root.clone())
        .unwrap_or_else(|| "/var/lib/ferry".into());
    let exec_root = a
        .exec_root
        .clone()
        .or(json.exec_root.clone())
        .unwrap_or_else(|| "/run/ferry".into());
    let node_port = a.node_port;
    let limits = ferry_api::server::Limits {
        read_timeout: std::time::Duration::from_secs(a.api_read_timeout),
        ..Default::default()
    };
    let mut cfg = DaemonConfig::with_roots(data_root, exec_root);
    let host = host
        .map(String::from)
        .or_else(|| json.hosts.as_ref().and_then(|h| h.first().cloned()));
    if let Some(h) = host {
        cfg.socket = crate::host::socket_path(Some(&h))?;
    }
    let mut json = json;
    if let Some(b) = a.bip {
        json.bip = Some(b);
    }
    if let Some(m) = a.mtu {
        json.mtu = Some(m);
    }
    if let Some(f) = a.firewall {
        json.firewall = Some(f);
        json.iptables = None;
    }
    if let Some(i) = a.iptables {
        json.iptables = Some(i);
        if !i {
            json.firewall = None;
        }
    }
    json.apply(&mut cfg)?;

    for d in [&cfg.data_root, &cfg.exec_root] {
        std::fs::create_dir_all(d)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", d.display()))?;
    }
    let _lock = lock_data_root(&cfg.data_root)?;
    // A pidfd per sandbox and a socket per published port: the default soft limit of 1024
    // would stop the daemon at a few hundred sandboxes.
    match ferry_kernel::fds::raise_nofile_limit() {
        Ok(n) => tracing::debug!(limit = n, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "open files limit not raised"),
    }
    let store = ferry_store::RedbStore::open(&cfg.data_root.join("ferry.db"))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ctl = Controller::start(cfg.clone(), Arc::new(store)).await?;
        // A swarm member re-attaches in the background: bridges work while etcd is away.
        let swarm = ferry_swarm::Swarm::new(ctl.clone(), &cfg.data_root);
        swarm.set_node_port(node_port);
        swarm.resume().await?;
        if let Some(dir) = cfg.socket.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // The data-root lock is held, so a socket file here is a dead daemon's.
        let _ = std::fs::remove_file(&cfg.socket);
        let listener = tokio::net::UnixListener::bind(&cfg.socket)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.socket.display()))?;
        std::fs::set_permissions(&cfg.socket, std::fs::Permissions::from_mode(0o660))?;
        tracing::info!(socket = %cfg.socket.display(), data_root = %cfg.data_root.display(), "ferry daemon ready");
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            tracing::info!("shutting down; sandboxes keep running");
        };
        ferry_api::server::serve(ctl.clone(), swarm.clone(), listener, shutdown, limits).await?;
        swarm.shutdown().await;
        ctl.shutdown().await;
        let _ = std::fs::remove_file(&cfg.socket);
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

/// Takes an exclusive lock on the data root, so a second daemon refuses to start.
fn lock_data_root(root: &std::path::Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let path = root.join("ferry.lock");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let mut holder = String::new();
    let _ = f.read_to_string(&mut holder);
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0)?;
            lock.rewind()?;
            write!(lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err(_) => anyhow::bail!(
            "another ferry daemon (pid {}) is using data root {}; stop it first or pass another --data-root",
            holder.trim(),
            root.display()
        ),
    }
}

/// Keeps memory the daemon frees for reuse instead of handing it back to the kernel at once.
/// libnftables builds its cache afresh for each firewall transaction, with four hash tables
/// of 128 KiB per table; glibc served each from a fresh `mmap` (its threshold) or returned
/// the freed heap top (its trim threshold), so every transaction paid some 500 page faults.
/// Measured: about 1 ms of daemon CPU less per `run -d` on a network. The heap it keeps is a
/// few MiB.
fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt changes allocator parameters; no allocation is in flight on another
    // thread yet (the runtime has not started).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

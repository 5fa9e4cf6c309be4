//! Docker's JSON shapes of `info` and `version`.

use ferry_engine::views::SystemInfo;
use ferry_engine::DaemonConfig;
use ferry_types::docker::{DaemonInfo, PoolInfo, VersionInfo};

/// The kernel's release, or empty when it cannot be read.
fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `version`.
pub fn version() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: crate::API_VERSION.into(),
        min_api_version: crate::MIN_API_VERSION.into(),
        os: "linux".into(),
        arch: std::env::consts::ARCH.into(),
        kernel_version: kernel_version(),
    }
}

/// `info`: the engine's counts and the daemon's settings.
pub fn info(sys: &SystemInfo, cfg: &DaemonConfig) -> DaemonInfo {
    DaemonInfo {
        name: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        containers: sys.sandboxes,
        containers_running: sys.running,
        containers_stopped: sys.sandboxes - sys.running,
        networks: sys.networks,
        docker_root_dir: cfg.data_root.display().to_string(),
        exec_root: cfg.exec_root.display().to_string(),
        socket: cfg.socket.display().to_string(),
        store: sys.store.clone(),
        bip: sys
            .default_bridge
            .map(|b| b.to_string())
            .unwrap_or_default(),
        default_address_pools: cfg
            .default_address_pools
            .iter()
            .map(|p| PoolInfo {
                base: p.base.to_string(),
                size: p.size,
            })
            .collect(),
        mtu: cfg.mtu,
        dns: cfg.dns.iter().map(|d| d.to_string()).collect(),
        dns_search: cfg.dns_search.clone(),
        dns_options: cfg.dns_opts.clone(),
        icc: cfg.icc,
        ip_masq: cfg.ip_masq,
        ip_forward: cfg.ip_forward,
        firewall: cfg.firewall.as_str().into(),
        kernel_version: kernel_version(),
        network_drivers: vec!["bridge".into(), "host".into(), "null".into()],
        swarm: Default::default(),
    }
}

//! Docker's JSON shapes of `info` and `version`.

use ferry_engine::views::SystemInfo;
use ferry_engine::DaemonConfig;
use ferry_types::docker::{Component, DaemonInfo, Platform, PluginsInfo, PoolInfo, VersionInfo};
use std::collections::BTreeMap;

/// The kernel's release, or empty when it cannot be read.
fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Go's name of a CPU architecture (`GOARCH`), which Docker's clients show and compare.
pub fn goarch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The host's operating system as os-release names it (`PRETTY_NAME`).
fn operating_system(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// A stable ID for a daemon: a digest of its data root, in Docker's `ID` field.
fn daemon_id(data_root: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_root.hash(&mut h);
    let a = h.finish();
    "ferry".hash(&mut h);
    format!("{a:016x}{:016x}", h.finish())
}

/// `version`.
pub fn version() -> VersionInfo {
    let v = env!("CARGO_PKG_VERSION");
    let arch = goarch(std::env::consts::ARCH).to_string();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", crate::API_VERSION),
        ("MinAPIVersion", crate::MIN_API_VERSION),
        ("Os", "linux"),
        ("Arch", arch.as_str()),
        ("KernelVersion", kernel_version().as_str()),
        ("GitCommit", ""),
        ("GoVersion", "rust"),
        ("BuildTime", ""),
        ("Experimental", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    VersionInfo {
        version: v.into(),
        api_version: crate::API_VERSION.into(),
        min_api_version: crate::MIN_API_VERSION.into(),
        os: "linux".into(),
        arch,
        kernel_version: kernel_version(),
        platform: Platform {
            name: format!("ferry {v}"),
        },
        components: vec![Component {
            name: "Engine".into(),
            version: v.into(),
            details,
        }],
        go_version: "rust".into(),
        git_commit: String::new(),
        build_time: String::new(),
        experimental: false,
    }
}

/// `info`: the engine's counts and the daemon's settings.
pub fn info(sys: &SystemInfo, cfg: &DaemonConfig) -> DaemonInfo {
    let drivers: Vec<String> = vec!["bridge".into(), "host".into(), "null".into()];
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
        network_drivers: drivers.clone(),
        id: daemon_id(&cfg.data_root),
        operating_system: operating_system(
            &std::fs::read_to_string("/etc/os-release").unwrap_or_default(),
        ),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_total: mem_total(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default()),
        images: 0,
        containers_paused: 0,
        driver: String::new(),
        plugins: PluginsInfo {
            volume: Vec::new(),
            network: drivers,
            authorization: None,
            log: vec!["json-file".into()],
        },
        swarm: ferry_types::swarm::SwarmInfo {
            local_node_state: "inactive".into(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read_as_docker_shows_them() {
        assert_eq!(goarch("x86_64"), "amd64");
        assert_eq!(goarch("aarch64"), "arm64");
        assert_eq!(goarch("s390x"), "s390x");
        assert_eq!(
            operating_system("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(operating_system(""), "Linux");
        assert_eq!(
            mem_total("MemTotal:        2048 kB\nMemFree: 1 kB"),
            2048 * 1024
        );
        assert_eq!(mem_total("junk"), 0);
        let a = daemon_id(std::path::Path::new("/var/lib/ferry"));
        assert_eq!(a, daemon_id(std::path::Path::new("/var/lib/ferry")));
        assert_ne!(a, daemon_id(std::path::Path::new("/srv/ferry")));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn version_has_an_engine_component() {
        let v = serde_json::to_value(version()).unwrap();
        assert_eq!(v["Components"][0]["Name"], "Engine");
        assert_eq!(
            v["Components"][0]["Details"]["ApiVersion"],
            crate::API_VERSION
        );
        assert_ne!(v["Arch"], "x86_64");
    }
}

//! The connect-time fast path of service VIPs (`ferry_kernel::sock_lb`), as the controller
//! uses it: the daemon moves itself into a cgroup of its own, so every sandbox it starts is
//! born there, links the `connect4` program to that cgroup, and mirrors each VIP's live
//! replicas into the program's map whenever it writes them into the nftables maps.
//!
//! The nftables maps remain the source of truth and the fallback: when the kernel refuses
//! the program (no cgroup v2, no BPF), the daemon logs why and balances through the host
//! alone, with the same results, at the cost of the hairpin through the host.

use ferry_firewall::LbEntry;
use ferry_kernel::sock_lb::{self, SockLb};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The fast path, when the kernel allows it.
#[derive(Debug, Default)]
pub struct ConnectLb {
    lb: Option<SockLb>,
}

/// The cgroup of a daemon, below `parent`: one per data root, so daemons with separate data
/// roots (tests, benchmarks) never see each other's VIPs.
pub fn cgroup_for(parent: &Path, data_root: &Path) -> PathBuf {
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_root.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    parent.join(format!("ferry-{h:016x}"))
}

impl ConnectLb {
    /// Enters the daemon's cgroup and links the program; on any failure, logs it and
    /// returns the disabled fast path. Mounts the cgroup v2 hierarchy under `exec_root` when
    /// the daemon's mount namespace has none. Writes the cgroup's path, from the hierarchy's
    /// root, to `exec_root/cgroup`, for whoever cleans up after the daemon and its sandboxes.
    pub fn start(data_root: &Path, exec_root: &Path) -> Self {
        let mount = match sock_lb::cgroup2_mount() {
            Some(m) => m,
            None => match sock_lb::mount_cgroup2(&exec_root.join("cgroup2")) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "no cgroup v2 hierarchy: service VIPs are balanced by the host only (connect-time balancing off)");
                    return ConnectLb::default();
                }
            },
        };
        // Below the daemon's own cgroup, so a service manager still counts its sandboxes
        // as the daemon's.
        let own = mount.join(sock_lb::cgroup_of("self").unwrap_or_default());
        // A daemon started from inside its own cgroup (by one of its sandboxes, say) stays
        // there rather than nesting a second one below it.
        let dir = match cgroup_for(&own, data_root) {
            d if own.file_name() == d.file_name() => own,
            d => d,
        };
        let attached = sock_lb::enter_cgroup(&dir).and_then(|()| SockLb::attach(&dir));
        match attached {
            Ok(lb) => {
                // Relative to the hierarchy's root: the daemon's mount may be private.
                let rel = dir.strip_prefix(&mount).unwrap_or(&dir);
                let _ = std::fs::write(exec_root.join("cgroup"), format!("/{}", rel.display()));
                tracing::info!(cgroup = %dir.display(), "connect-time balancing of service VIPs on");
                ConnectLb { lb: Some(lb) }
            }
            Err(e) => {
                tracing::warn!(error = %e, "connect-time balancing off: service VIPs are balanced by the host only");
                ConnectLb::default()
            }
        }
    }

    /// Makes the map hold `new` where `old` was: VIP entries only (the routing mesh is for
    /// clients the program never sees). Failures are logged: the host path still balances.
    pub fn apply(&self, old: &[LbEntry], new: &[LbEntry]) {
        let Some(lb) = &self.lb else {
            return;
        };
        let vip_entries = |l: &[LbEntry]| -> Vec<(Ipv4Addr, Vec<(Ipv4Addr, u16)>)> {
            l.iter()
                .filter_map(|e| {
                    let vip = e.vip?;
                    let mut b = e.backends.clone();
                    b.sort_unstable();
                    b.dedup();
                    Some((vip, b))
                })
                .collect()
        };
        let new = vip_entries(new);
        for (vip, _) in vip_entries(old) {
            if !new.iter().any(|(v, _)| *v == vip) {
                if let Err(e) = lb.remove(vip, 0, 0) {
                    tracing::warn!(%vip, error = %e, "connect-time balancing: VIP not removed");
                }
            }
        }
        for (vip, backends) in new {
            if let Err(e) = lb.set(vip, 0, 0, &backends) {
                tracing::warn!(%vip, error = %e, "connect-time balancing: VIP not updated");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cgroup_per_data_root() {
        let m = Path::new("/sys/fs/cgroup");
        let a = cgroup_for(m, Path::new("/var/lib/ferry"));
        assert_eq!(a, cgroup_for(m, Path::new("/var/lib/ferry")));
        assert_ne!(a, cgroup_for(m, Path::new("/tmp/ferry-test-1/data")));
        assert!(a.to_string_lossy().starts_with("/sys/fs/cgroup/ferry-"));
    }
}

//! The connect-time fast path of service VIPs (`ferry_kernel::sock_lb`), as the controller
//! uses it: the `connect4` program is linked to the root of the daemon's cgroup tree (see
//! `cgroups`), where every sandbox is born, and the controller mirrors each VIP's live
//! replicas into the program's map whenever it writes them into the nftables maps.
//!
//! The nftables maps remain the source of truth and the fallback: when the kernel refuses
//! the program (no cgroup v2, no BPF), the daemon logs why and balances through the host
//! alone, with the same results, at the cost of the hairpin through the host.

use crate::cgroups::DaemonCgroup;
use ferry_firewall::LbEntry;
use ferry_kernel::sock_lb::SockLb;
use std::net::Ipv4Addr;

/// The fast path, when the kernel allows it.
#[derive(Debug, Default)]
pub struct ConnectLb {
    lb: Option<SockLb>,
}

impl ConnectLb {
    /// Links the program to the daemon's cgroup tree (`cgroups`), so every sandbox in it is
    /// served; on any failure, logs it and returns the disabled fast path.
    pub fn start(cgroups: &DaemonCgroup) -> Self {
        let Some(root) = cgroups.root() else {
            return ConnectLb::default();
        };
        match SockLb::attach(root) {
            Ok(lb) => {
                tracing::info!(cgroup = %root.display(), "connect-time balancing of service VIPs on");
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

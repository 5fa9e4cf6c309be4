//! Start-up reconciliation: load the store, adopt the sandboxes whose processes still run
//! (live restore), clean up after those that ended while the daemon was away, and remove every
//! kernel object ferry made that no record owns (bridges, veths, netns mounts and the processes
//! inside them).

use super::locks::StateLock;
use super::Controller;
use crate::driver::{Owned, SandboxNs};
use crate::drivers::kernel_err;
use crate::views::SystemInfo;
use ferry_kernel::netlink::Netlink;
use ferry_kernel::{netns, process};
use ferry_types::FerryError;
use std::collections::HashSet;
use std::path::Path;

impl Controller {
    pub(crate) async fn reconcile(&self) -> Result<(), FerryError> {
        let mut st = self.lock().await;
        self.load_networks(&mut st).await?;
        self.load_sandboxes(&mut st).await?;
        self.load_services(&mut st).await?;
        for n in st.networks() {
            self.dns_add_network(n);
        }
        // ferry's tables are replaced by what the store says, in one transaction, before any
        // element is added or removed below.
        let (vips, lb) = Self::lb_full(&mut st);
        let (networks, endpoints) = self.firewall_elements(&st);
        self.firewall
            .rebuild(&st, &networks, &endpoints, vips, &lb)?;
        self.connect_lb.apply(&[], &lb);

        // Sandboxes first: which are alive decides which kernel objects are owned.
        let mut alive = Vec::new();
        let running: Vec<_> = st.sandboxes().filter(|s| s.is_running()).cloned().collect();
        for sb in running {
            let live = match (&sb.external_netns, sb.state.pid, sb.state.start_ticks) {
                // An attached container lives as long as the namespace it was attached from.
                (Some(_), _, _) => Self::live_external_netns(&sb).is_some(),
                (None, Some(pid), Some(t)) => process::is_same_process(pid, t),
                _ => false,
            };
            if live {
                self.readopt_ports(&mut st, &sb);
                alive.push(sb);
                continue;
            }
            // It ended, or never got going, while the daemon was away: whatever it started
            // is in its cgroup (a start the daemon died in the middle of included). Without
            // a cgroup tree, processes it left behind are those of its process group still in
            // its namespace (both checked, so a recycled PID or inode never points at a
            // stranger).
            if let Some(dir) = self.cgroups.sandbox(&sb.id) {
                process::cgroup::kill_and_remove(&dir, std::time::Duration::from_secs(1));
            } else if let (Some(pid), Some(id)) = (sb.state.pid, sb.netns_identity) {
                for p in netns::pids_in_identity(id) {
                    if process::pgid_of(p) == Some(pid) {
                        let _ = process::signal(p, libc::SIGKILL);
                    }
                }
            }
            tracing::info!(sandbox = %sb.name, "sandbox ended while the daemon was down");
            let error = "the process ended while the daemon was not running".to_string();
            self.finish_exit(&mut st, sb, 255, Some(error)).await;
        }
        // Cgroups of sandboxes that are not running, or no longer exist: whatever runs there
        // is nothing the store wants.
        let live: HashSet<&str> = alive.iter().map(|s| s.id.as_str()).collect();
        for id in self.cgroups.sandbox_ids() {
            if !live.contains(id.as_str()) {
                if let Some(dir) = self.cgroups.sandbox(&id) {
                    if process::cgroup::populated(&dir) {
                        tracing::info!(sandbox = %id, "killing processes no running sandbox owns");
                    }
                    process::cgroup::kill_and_remove(&dir, std::time::Duration::from_secs(1));
                }
            }
        }
        // The addresses of the live endpoints are taken again.
        for sb in &alive {
            for ep in &sb.endpoints {
                for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                    st.mark_taken(&ep.network_id, a.addr());
                }
            }
        }

        // Kernel sweep: each driver removes what carries its mark but belongs to no record.
        for driver in self.drivers.all() {
            let networks: Vec<_> = st
                .networks()
                .filter(|n| n.driver == driver.name())
                .collect();
            let endpoints = alive
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| networks.iter().any(|n| n.id == e.network_id))
                .collect();
            driver
                .sweep(&Owned {
                    networks,
                    endpoints,
                })
                .await?;
        }

        self.sweep_sandbox_dirs(&st);

        // Networks: make sure each one's kernel objects are there (a crash may have left one
        // half-made).
        self.ensure_default_networks(&mut st).await?;
        let networks: Vec<_> = st.networks().cloned().collect();
        for n in networks {
            // One network that cannot be made (a macvlan parent unplugged, a driver missing)
            // must not keep the daemon and every other network down.
            let made = match self.driver(&n) {
                Ok(d) => d.create_network(&n).await,
                Err(e) => Err(e),
            };
            if let Err(e) = made {
                tracing::error!(network = %n.name, error = %e, "network not restored: sandboxes cannot join it until the cause is fixed and the daemon restarted");
            }
        }

        // Services: VIPs on their bridges, their names, their mesh ports.
        self.restore_services(&mut st).await;

        // Live sandboxes: re-plug any endpoint whose veth is missing, then watch the process.
        for sb in alive {
            if let Some(p) = sb.netns.clone() {
                let path = Path::new(&p);
                let mut ns: Option<Netlink> = None;
                for ep in &sb.endpoints {
                    let Some(net) = st.network(&ep.network_id).cloned() else {
                        continue;
                    };
                    let net = &net;
                    let restored = async {
                        if self.driver(net)?.endpoint_present(net, ep, path).await? {
                            return Ok(());
                        }
                        if ns.is_none() {
                            ns = Some(Netlink::connect_in(path).map_err(kernel_err)?);
                        }
                        let Some(nl) = &ns else { return Ok(()) };
                        let sns = SandboxNs { path, nl };
                        // A half-made endpoint may have left its sandbox end behind.
                        let _ = nl.delete_link_by_name(&ep.ifname).await;
                        tracing::info!(sandbox = %sb.name, endpoint = %ep.ifname, "restoring endpoint");
                        self.plug(&mut StateLock::Held(&mut st), net, ep, &sns)
                            .await
                    };
                    // One endpoint that cannot be restored (its network's parent gone, say)
                    // leaves the sandbox running on its other networks.
                    if let Err(e) = restored.await {
                        tracing::error!(sandbox = %sb.name, endpoint = %ep.ifname, network = %net.name, error = %e, "endpoint not restored");
                    }
                }
                if let Some(ns) = &ns {
                    Self::apply_default_routes(&st, &sb, ns).await?;
                }
            }
            if let Some(p) = sb.netns.clone() {
                // The resolver is back before the API answers anything.
                if let Err(e) = self.dns_start(&st, &sb, Path::new(&p)) {
                    tracing::warn!(sandbox = %sb.name, error = %e, "embedded DNS not restored");
                }
            }
            if let (Some(me), Some(pid)) = (self.arc(), sb.state.pid) {
                tracing::info!(sandbox = %sb.name, pid, "adopted running sandbox");
                me.watch(sb.id.clone(), pid);
            }
        }
        Ok(())
    }

    /// Removes the sandbox directories that no record owns: a crash between a removal's
    /// store write and the directory's removal (or between a creation's directory and its
    /// record) leaves one. Only entries named like an ID are touched.
    fn sweep_sandbox_dirs(&self, st: &crate::state::State) {
        let root = self.cfg.data_root.join("sandboxes");
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %root.display(), error = %e, "sandbox directories not swept");
                return;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_full_id(name) || st.sandbox(name).is_some() {
                continue;
            }
            tracing::info!(sandbox = %name, "removing orphan sandbox directory");
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(dir = %entry.path().display(), error = %e, "orphan sandbox directory not removed");
            }
        }
    }

    /// `info`: how many objects the engine holds.
    pub async fn info(&self) -> SystemInfo {
        let st = self.lock().await;
        SystemInfo {
            sandboxes: st.sandbox_count(),
            running: st.sandboxes().filter(|s| s.is_running()).count(),
            networks: st.network_count(),
            store: self.store.describe(),
            default_bridge: st
                .find_network(ferry_types::DEFAULT_BRIDGE)
                .ok()
                .and_then(|n| n.subnets.first())
                .and_then(|s| {
                    s.gateway
                        .and_then(|g| ipnet::IpNet::new(g, s.subnet.prefix_len()).ok())
                }),
        }
    }
}

/// Whether a directory entry is named like a sandbox ID (64 lowercase hex digits).
fn is_full_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_id_shaped_entries_are_swept() {
        assert!(is_full_id(&"ab12".repeat(16)));
        assert!(!is_full_id(&"AB12".repeat(16)));
        assert!(!is_full_id("ab12"));
        assert!(!is_full_id(&format!("{}.tmp", "a".repeat(60))));
        assert!(!is_full_id("lost+found"));
    }
}

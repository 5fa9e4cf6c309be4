//! The nftables path of swarm services' VIPs on overlays. Each node balances a VIP for its
//! own sandboxes, in its own kernel. The connect-time program rewrites what the sandboxes'
//! processes `connect()`; what it cannot see (a process outside the sandbox's cgroup that
//! entered its namespace, unconnected UDP, a kernel without cgroup BPF) must reach the
//! host's nftables balancer and come back, which on an overlay needs the host on the network,
//! as Docker's load-balancer endpoints are:
//!
//! - **When**: while the node runs a sandbox on an overlay that carries a VIP.
//! - **What**: the host holds an address of the network on its own link there (claimed cluster-wide on
//!   the node's session, like an endpoint's, and kept in the node's store so a restart takes
//!   the same one), and the network's VIPs as /32s, so a sandbox's ARP for a VIP is answered
//!   by its own node (the VXLAN device answers only for endpoints). The address is published
//!   as a peer record, so every other node points its MAC at this node.
//! - **How**: a new connection to the VIP is translated to a replica of any node and leaves
//!   masqueraded to that address (the firewall's `lb_links`); the replica's answer comes back
//!   to this node, whose conntrack gives it the VIP again. Nothing else enters the host or is
//!   routed anywhere through the address.
//! - **Until**: the node's last sandbox on the network goes, or the network's last VIP; then
//!   the address is given back.

use super::cluster::claim_owner;
use super::Controller;
use crate::cluster::ClusterLink;
use crate::driver::HostRole;
use crate::state::State;
use ferry_cluster::Claims;
use ferry_firewall::Changes;
use ferry_store::{Op, Table};
use ferry_types::{FerryError, Network};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The key of the node's load-balancer addresses in its own store's `meta` table.
const NODE_LB_KEY: &str = "node-lb";

/// The endpoint part of the claim's owner: the node's load balancer.
const LB_ENDPOINT: &str = "lb";

/// The host's load-balancer address on one overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeLb {
    /// The address, with the network's prefix length.
    pub addr: IpNet,
    /// The host's link there.
    pub link: String,
}

/// What the node holds, by network ID, with the session lease each claim is on (0: read
/// from the node's store, not applied since the daemon started).
#[derive(Debug, Default)]
pub(crate) struct LbAddresses {
    loaded: bool,
    held: BTreeMap<String, (NodeLb, i64)>,
}

impl LbAddresses {
    /// The addresses held, by network ID.
    pub(crate) fn held(&self) -> impl Iterator<Item = (&str, &NodeLb)> {
        self.held.iter().map(|(k, (v, _))| (k.as_str(), v))
    }
}

/// The overlays whose VIPs need the host on them: those that carry a VIP and have a sandbox of
/// this host running on them.
fn wanted<'a>(
    vip_networks: impl IntoIterator<Item = &'a str>,
    has_running_member: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    vip_networks
        .into_iter()
        .filter(|n| has_running_member(n))
        .map(str::to_string)
        .collect()
}

impl Controller {
    /// The overlays (global networks whose driver takes the host on them and hosts VIPs, the
    /// routing mesh's aside) that need the host's load-balancer address now.
    fn lb_networks_wanted(&self, st: &State) -> BTreeMap<String, Network> {
        let vip_networks = st
            .services()
            .filter(|s| !s.removing)
            .flat_map(|s| s.vips.iter().map(|v| v.network_id.as_str()))
            .filter(|id| {
                st.network(id).is_some_and(|n| {
                    self.is_global(n)
                        && !crate::state::is_ingress(n)
                        && self
                            .driver(n)
                            .is_ok_and(|d| d.peer_aware().is_some() && d.vip_host().is_some())
                })
            });
        wanted(vip_networks, |id| st.members(id).any(|sb| sb.is_running()))
            .into_iter()
            .filter_map(|id| st.network(&id).cloned().map(|n| (id, n)))
            .collect()
    }

    /// Brings the host's load-balancer addresses to what the node's sandboxes and services
    /// want: joins the overlays that need one, leaves the others (idempotent; called by the
    /// publisher before it writes the node's records).
    pub(crate) async fn sync_lb_addresses(&self) {
        let Some(link) = self.cluster.get() else {
            return;
        };
        let wanted = {
            let st = self.lock().await;
            self.lb_networks_wanted(&st)
        };
        let mut lb = self.cluster_rt.lb.lock().await;
        self.load_lb(&mut lb).await;
        let mut changed = false;
        let gone: Vec<String> = lb
            .held
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some((rec, _)) = lb.held.remove(&id) {
                self.leave_lb(&link, &id, &rec).await;
                changed = true;
            }
        }
        for (id, net) in wanted {
            let saved = match lb.held.get(&id) {
                Some((_, lease)) if *lease == link.lease => continue,
                Some((rec, _)) => Some(rec.addr),
                None => None,
            };
            match self.join_lb(&link, &net, saved).await {
                Ok(rec) => {
                    changed |= lb.held.get(&id).is_none_or(|(old, _)| *old != rec);
                    lb.held.insert(id, (rec, link.lease));
                }
                Err(e) => {
                    tracing::warn!(network = %net.name, error = %e, "this host holds no address on the overlay: its VIPs answer only connections the connect-time path rewrites");
                }
            }
        }
        if changed {
            self.save_lb(&lb).await;
        }
    }

    /// Gives every load-balancer address back (the node leaves the swarm).
    pub(crate) async fn drop_lb_addresses(&self) {
        let Some(link) = self.cluster.get() else {
            return;
        };
        let mut lb = self.cluster_rt.lb.lock().await;
        self.load_lb(&mut lb).await;
        for (id, (rec, _)) in std::mem::take(&mut lb.held) {
            self.leave_lb(&link, &id, &rec).await;
        }
        self.save_lb(&lb).await;
    }

    /// Claims an address on the network for the host (the saved one when it can), puts it
    /// and the VIPs on the host's link there, and polices the link.
    async fn join_lb(
        &self,
        link: &ClusterLink,
        net: &Network,
        saved: Option<IpNet>,
    ) -> Result<NodeLb, FerryError> {
        let claims = Claims::new(link.store.as_ref());
        let owner = claim_owner(&link.node_id, LB_ENDPOINT);
        let driver = self.driver(net)?;
        let pa = driver.peer_aware().ok_or_else(|| {
            FerryError::internal("the overlay's driver cannot take the host on the network")
        })?;
        let addr = self
            .claim_host_address(&claims, net, &owner, Some(link.lease), saved)
            .await?;
        let host_link = pa.join_host(net, addr, HostRole::Balancer).await?;
        let mut changes = Changes::new();
        changes.add_lb_link(&host_link);
        self.firewall.apply(&changes)?;
        tracing::info!(network = %net.name, address = %addr, "this host balances the overlay's VIPs for its sandboxes there");
        Ok(NodeLb {
            addr,
            link: host_link,
        })
    }

    /// Takes the host off the network and gives its address back.
    async fn leave_lb(&self, link: &ClusterLink, net_id: &str, rec: &NodeLb) {
        let net = self.lock().await.network(net_id).cloned();
        if let Some(net) = &net {
            if let Some(pa) = self.driver(net).ok().and_then(|d| d.peer_aware()) {
                if let Err(e) = pa.leave_host(net, rec.addr).await {
                    tracing::warn!(network = %net.name, error = %e, "the host's address on the overlay was not removed");
                }
            }
        }
        let mut changes = Changes::new();
        changes.remove_lb_link(&rec.link);
        if let Err(e) = self.firewall.apply(&changes) {
            tracing::warn!(error = %e, "the host's overlay link stays in the firewall's sets");
        }
        let claims = Claims::new(link.store.as_ref());
        if let Err(e) = claims
            .release_address(
                net_id,
                rec.addr.addr(),
                &claim_owner(&link.node_id, LB_ENDPOINT),
            )
            .await
        {
            // It is on the node's session: it goes with it at the latest.
            tracing::warn!(network = %net_id, address = %rec.addr, error = %e, "the host's overlay address claim was not released");
        }
        self.lock().await.release_address(net_id, rec.addr.addr());
    }

    /// Reads the addresses the node's store remembers (from before a restart), once.
    async fn load_lb(&self, lb: &mut LbAddresses) {
        if lb.loaded {
            return;
        }
        lb.held = self.saved_lb().await;
        lb.loaded = true;
    }

    /// The addresses the node's store remembers.
    async fn saved_lb(&self) -> BTreeMap<String, (NodeLb, i64)> {
        self.store
            .get(Table::Meta, NODE_LB_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_slice::<BTreeMap<String, NodeLb>>(&r.value).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, (v, 0)))
            .collect()
    }

    async fn save_lb(&self, lb: &LbAddresses) {
        let held: BTreeMap<&str, &NodeLb> = lb.held().collect();
        let op = if held.is_empty() {
            Ok(Op::delete(Table::Meta, NODE_LB_KEY))
        } else {
            Op::put_json(Table::Meta, NODE_LB_KEY, &held)
        };
        match op {
            Ok(op) => {
                if let Err(e) = self.store.apply_ops(vec![op]).await {
                    tracing::warn!(error = %e, "the host's overlay addresses were not recorded");
                }
            }
            Err(e) => tracing::warn!(error = %e, "the host's overlay addresses were not recorded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_overlays_with_a_vip_and_a_running_sandbox_here_are_wanted() {
        let running = ["a", "c"];
        let w = wanted(["a", "b", "a", "d"], |n| running.contains(&n));
        assert_eq!(w.into_iter().collect::<Vec<_>>(), vec!["a".to_string()]);
        assert!(wanted([], |_| true).is_empty());
    }
}

//! The swarm's routing mesh: the `ingress` overlay (made by `swarm init`, or `network create
//! --ingress`) that every node joins with an address of its own, so that a swarm service's
//! published port answers on every node, including those that run none of its replicas.
//!
//! - **Every node on `ingress`.** While the node is in a swarm that has an ingress network,
//!   the host holds an address there (claimed cluster-wide, kept in the node's store so a
//!   restart takes the same one) on a link of its own on the network (the overlay driver's
//!   host link), and publishes it as a peer record, so that the other nodes reach it.
//! - **Replicas on `ingress`.** A swarm service with a published port (`mode=ingress`) has its
//!   replicas on the ingress network too; their addresses there are the port's backends on
//!   every node, the remote ones learnt from their peer records.
//! - **Every node's port.** Each node holds the port (as a sandbox's published port) and
//!   balances new connections over every live replica's ingress address with the routing
//!   mesh's slot maps; a connection to a remote replica leaves through the host's link.

use super::Controller;
use crate::driver::HostRole;
use ferry_cluster::Claims;
use ferry_firewall::Changes;
use ferry_store::{Op, Table};
use ferry_types::FerryError;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The key of the node's ingress address in its own store's `meta` table.
const NODE_INGRESS_KEY: &str = "node-ingress";

/// This node's presence on the ingress network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeIngress {
    /// The ingress network.
    pub network_id: String,
    /// The host's address there.
    pub addr: IpNet,
    /// The host's link into it.
    #[serde(default)]
    pub link: String,
}

/// The owner of a node's ingress address claim.
fn owner(node_id: &str) -> String {
    format!("node/{node_id}")
}

impl Controller {
    /// Makes this node's presence on the ingress network (idempotent): called when the node
    /// attaches to a swarm and when the cluster's ingress network appears.
    pub(crate) async fn ensure_node_ingress(&self) {
        if let Err(e) = self.try_ensure_node_ingress().await {
            tracing::warn!(error = %e, "this node is not on the ingress network yet: published ports of swarm services do not answer here");
        }
    }

    async fn try_ensure_node_ingress(&self) -> Result<(), FerryError> {
        let Some(link) = self.cluster.get() else {
            return Ok(());
        };
        let Some(net) = self.lock().await.ingress_network().cloned() else {
            return Ok(());
        };
        let mut cur = self.cluster_rt.node_ingress.lock().await;
        if cur
            .as_ref()
            .is_some_and(|c| c.network_id == net.id.as_str())
            && self
                .host_nl
                .link(&cur.as_ref().map(|c| c.link.clone()).unwrap_or_default())
                .await
                .ok()
                .flatten()
                .is_some()
        {
            return Ok(());
        }
        let claims = Claims::new(link.store.as_ref());
        let me = owner(&link.node_id);
        let saved: Option<NodeIngress> = self
            .store
            .get(Table::Meta, NODE_INGRESS_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_slice(&r.value).ok())
            .filter(|s: &NodeIngress| s.network_id == net.id.as_str());
        let addr = self
            .claim_host_address(&claims, &net, &me, None, saved.map(|s| s.addr))
            .await?;
        let driver = self.driver(&net)?;
        let pa = driver.peer_aware().ok_or_else(|| {
            FerryError::internal("the ingress network's driver cannot take the host on it")
        })?;
        let host_link = pa.join_host(&net, addr, HostRole::Mesh).await?;
        let mut changes = Changes::new();
        changes.add_mesh_link(&host_link);
        self.firewall.apply(&changes)?;
        let rec = NodeIngress {
            network_id: net.id.to_string(),
            addr,
            link: host_link,
        };
        if let Ok(op) = Op::put_json(Table::Meta, NODE_INGRESS_KEY, &rec) {
            if let Err(e) = self.store.apply_ops(vec![op]).await {
                tracing::warn!(error = %e, "the node's ingress address was not recorded");
            }
        }
        *cur = Some(rec);
        drop(cur);
        self.sync_mesh_paths().await;
        self.endpoints_changed();
        Ok(())
    }

    /// Takes this node off the ingress network (it leaves the swarm, or the network goes).
    pub(crate) async fn drop_node_ingress(&self, release: bool) {
        let Some(cur) = self.cluster_rt.node_ingress.lock().await.take() else {
            return;
        };
        let net = self.lock().await.network(&cur.network_id).cloned();
        if let Some(net) = &net {
            if let Ok(d) = self.driver(net) {
                if let Some(pa) = d.peer_aware() {
                    if let Err(e) = pa.leave_host(net, cur.addr).await {
                        tracing::warn!(error = %e, "the host's ingress link was not removed");
                    }
                }
            }
        }
        self.clear_mesh_paths().await;
        let mut changes = Changes::new();
        changes.remove_mesh_link(&cur.link);
        if let Err(e) = self.firewall.apply(&changes) {
            tracing::warn!(error = %e, "the host's ingress link stays in the firewall's sets");
        }
        if release {
            if let Some(link) = self.cluster.get() {
                let claims = Claims::new(link.store.as_ref());
                let _ = claims
                    .release_address(&cur.network_id, cur.addr.addr(), &owner(&link.node_id))
                    .await;
            }
            let _ = self
                .store
                .apply_ops(vec![Op::delete(Table::Meta, NODE_INGRESS_KEY)])
                .await;
        }
        self.endpoints_changed();
    }
}

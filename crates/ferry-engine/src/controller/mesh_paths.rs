//! The routing mesh's paths between nodes, which keep the client's own address: a connection
//! that enters node X on a published port and goes to a replica on node Y is not masqueraded.
//!
//! - **Forward**: X sends it to Y's host (a route to each remote replica's ingress address
//!   via its node's address on the mesh), so Y's conntrack sees the connection; Y routes it
//!   to the replica on its own bridge.
//! - **Back**: Y marks the connection with X's address on the mesh (`mesh_mark`, from the
//!   frame's source MAC, which ferry makes from that address); the replies carry the mark, a
//!   routing rule takes marked packets out of Y's host link, and the `ferry_mesh` netdev
//!   table sets their destination MAC to X's link; X's conntrack then gives them the address
//!   the client called.
//!
//! Both follow the ingress network's peer records: every node's host record (its address
//! and MAC on the mesh) and every replica's. A pass recomputes what the records want and
//! writes the difference.

use super::Controller;
use ferry_cluster::PeerRecord;
use ferry_firewall::mesh::{mesh_entries, mesh_table, remove_mesh_table, MeshNode};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// What this node applied of the mesh's paths.
#[derive(Debug, Default)]
pub(crate) struct MeshPaths {
    /// The host link the netdev table is bound to.
    link: Option<String>,
    /// The table's node entries.
    entries: BTreeSet<MeshNode>,
    /// Routes made: a remote replica's address → its node's address on the mesh.
    routes: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

/// The endpoint ID of a node's host record on the ingress network.
pub(crate) const HOST_ENDPOINT: &str = "host";

fn v4(p: &PeerRecord) -> Option<Ipv4Addr> {
    match p.ipv4.map(|a| a.addr()) {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

/// What the ingress network's records want: the other nodes' entries, and a route for each
/// remote replica whose node's address is known.
fn wanted(peers: &[PeerRecord], me: &str) -> (BTreeSet<MeshNode>, BTreeMap<Ipv4Addr, Ipv4Addr>) {
    let hosts: BTreeMap<&str, MeshNode> = peers
        .iter()
        .filter(|p| p.endpoint_id == HOST_ENDPOINT && p.node_id != me)
        .filter_map(|p| {
            Some((
                p.node_id.as_str(),
                MeshNode {
                    addr: v4(p)?,
                    mac: p.mac.octets(),
                },
            ))
        })
        .collect();
    let routes = peers
        .iter()
        .filter(|p| p.service.is_some() && p.node_id != me)
        .filter_map(|p| Some((v4(p)?, hosts.get(p.node_id.as_str())?.addr)))
        .collect();
    (hosts.into_values().collect(), routes)
}

impl Controller {
    /// Brings the mesh's routes and the netdev table's entries to the ingress network's
    /// records.
    pub(crate) async fn sync_mesh_paths(&self) {
        let Some(link) = self.cluster.get() else {
            return;
        };
        let Some(ni) = self.cluster_rt.node_ingress.lock().await.clone() else {
            return;
        };
        let peers: Vec<PeerRecord> = {
            let m = self.cluster_rt.peers.lock().await;
            m.with_prefix(&format!("{}/", ni.network_id))
                .filter_map(|(_, v)| serde_json::from_slice(v).ok())
                .collect()
        };
        let (entries, routes) = wanted(&peers, &link.node_id);
        let mut applied = self.cluster_rt.mesh.lock().await;
        let script = if applied.link.as_deref() != Some(ni.link.as_str()) {
            // A new host link: its table is made again, and its routes went with the old one.
            applied.routes.clear();
            mesh_table(&ni.link, &entries.iter().copied().collect::<Vec<_>>())
        } else {
            let add: Vec<MeshNode> = entries.difference(&applied.entries).copied().collect();
            let remove: Vec<MeshNode> = applied.entries.difference(&entries).copied().collect();
            mesh_entries(&add, &remove)
        };
        if self.firewall.enabled() && !script.is_empty() {
            if let Err(e) = ferry_kernel::nft::apply(&script) {
                tracing::warn!(error = %e, "the routing mesh's reply path was not updated");
                return;
            }
        }
        applied.link = Some(ni.link.clone());
        applied.entries = entries;
        let index = match self.host_nl.link(&ni.link).await {
            Ok(Some(l)) => l.index,
            _ => return,
        };
        for (replica, gw) in &routes {
            if applied.routes.get(replica) == Some(gw) {
                continue;
            }
            match self
                .host_nl
                .replace_host_route_via(*replica, *gw, index)
                .await
            {
                Ok(()) => {
                    applied.routes.insert(*replica, *gw);
                }
                Err(e) => {
                    tracing::warn!(replica = %replica, via = %gw, error = %e, "no mesh route to a remote replica")
                }
            }
        }
        let gone: Vec<Ipv4Addr> = applied
            .routes
            .keys()
            .filter(|r| !routes.contains_key(r))
            .copied()
            .collect();
        for r in gone {
            if let Err(e) = self.host_nl.delete_host_route(r).await {
                tracing::warn!(replica = %r, error = %e, "a mesh route was not removed");
            }
            applied.routes.remove(&r);
        }
    }

    /// Forgets the mesh's paths (the host link is gone, and its routes with it).
    pub(crate) async fn clear_mesh_paths(&self) {
        let mut applied = self.cluster_rt.mesh.lock().await;
        *applied = MeshPaths::default();
        if self.firewall.enabled() {
            if let Err(e) = ferry_kernel::nft::apply(&remove_mesh_table()) {
                tracing::warn!(error = %e, "the routing mesh's netdev table was not removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(node: &str, ep: &str, ip: &str, service: Option<&str>) -> PeerRecord {
        PeerRecord {
            network_id: "ing".into(),
            node_id: node.into(),
            endpoint_id: ep.into(),
            sandbox_id: String::new(),
            vtep: "198.51.100.1".parse().unwrap(),
            mac: "02:42:0a:00:00:09".parse().unwrap(),
            ipv4: Some(format!("{ip}/24").parse().unwrap()),
            ipv6: None,
            names: vec![],
            service: service.map(String::from),
        }
    }

    #[test]
    fn remote_replicas_route_via_their_node_and_every_other_node_gets_an_entry() {
        let peers = vec![
            peer("x", HOST_ENDPOINT, "10.0.0.2", None),
            peer("y", HOST_ENDPOINT, "10.0.0.3", None),
            peer("y", "ep1", "10.0.0.7", Some("web")),
            peer("x", "ep2", "10.0.0.8", Some("web")),
            // A replica whose node's record has not come yet: no route for now.
            peer("z", "ep3", "10.0.0.9", Some("web")),
            // Not a replica.
            peer("y", "ep4", "10.0.0.10", None),
        ];
        let (entries, routes) = wanted(&peers, "x");
        assert_eq!(entries.len(), 1, "only the other nodes: {entries:?}");
        assert_eq!(
            routes,
            BTreeMap::from([(
                "10.0.0.7".parse::<Ipv4Addr>().unwrap(),
                "10.0.0.3".parse::<Ipv4Addr>().unwrap()
            )])
        );
    }
}

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
//! and MAC on the mesh) and every replica's ([`MeshView`]). A record's change writes only
//! what depends on it; a new host link (or the first pass) writes the whole table again.

use super::mesh_view::MeshView;
use super::Controller;
use ferry_cluster::PeerRecord;
use ferry_firewall::mesh::{mesh_entries, mesh_table, remove_mesh_table, MeshNode};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

pub(crate) use super::mesh_view::HOST_ENDPOINT;

/// What this node applied of the mesh's paths.
#[derive(Debug, Default)]
pub(crate) struct MeshPaths {
    /// The host link the netdev table is bound to.
    link: Option<String>,
    /// The ingress network's records, as last read, and the network's ID.
    view: Option<(String, MeshView)>,
    /// The table's node entries.
    entries: BTreeSet<MeshNode>,
    /// Routes made: a remote replica's address → its node's address on the mesh.
    routes: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

impl Controller {
    /// Brings the mesh's routes and the netdev table's entries to the ingress network's
    /// records, all read again.
    pub(crate) async fn sync_mesh_paths(&self) {
        self.mesh_paths(None).await;
    }

    /// One record of the ingress network changed (`old` gone, `new` there): writes what
    /// depends on it.
    pub(crate) async fn mesh_peer_changed(&self, old: Option<PeerRecord>, new: Option<PeerRecord>) {
        self.mesh_paths(Some((old, new))).await;
    }

    async fn mesh_paths(&self, change: Option<(Option<PeerRecord>, Option<PeerRecord>)>) {
        let Some(link) = self.cluster.get() else {
            return;
        };
        let Some(ni) = self.cluster_rt.node_ingress.lock().await.clone() else {
            return;
        };
        let mut applied = self.cluster_rt.mesh.lock().await;
        let fresh = applied.link.as_deref() != Some(ni.link.as_str())
            || applied
                .view
                .as_ref()
                .is_none_or(|(net, _)| *net != ni.network_id);
        let index = match self.host_nl.link(&ni.link).await {
            Ok(Some(l)) => Some(l.index),
            _ => None,
        };
        let (script, routes) = match change {
            Some((old, new)) if !fresh => {
                let Some((_, view)) = applied.view.as_mut() else {
                    return;
                };
                let delta = view.apply(old.as_ref(), new.as_ref());
                let add: Vec<MeshNode> = delta
                    .add
                    .into_iter()
                    .filter(|e| !applied.entries.contains(e))
                    .collect();
                let remove: Vec<MeshNode> = delta
                    .remove
                    .into_iter()
                    .filter(|e| applied.entries.contains(e))
                    .collect();
                for e in &remove {
                    applied.entries.remove(e);
                }
                applied.entries.extend(add.iter().copied());
                (mesh_entries(&add, &remove), delta.routes)
            }
            _ => {
                let peers: Vec<PeerRecord> = {
                    let m = self.cluster_rt.peers.lock().await;
                    m.with_prefix(&format!("{}/", ni.network_id))
                        .filter_map(|(_, v)| serde_json::from_slice(v).ok())
                        .collect()
                };
                let mut view = MeshView::new(&link.node_id);
                for p in &peers {
                    view.apply(None, Some(p));
                }
                let entries = view.entries();
                let wanted = view.routes();
                let script = if applied.link.as_deref() != Some(ni.link.as_str()) {
                    // A new host link: its table is made again, and its routes went with the
                    // old one.
                    applied.routes.clear();
                    mesh_table(&ni.link, &entries.iter().copied().collect::<Vec<_>>())
                } else {
                    let add: Vec<MeshNode> =
                        entries.difference(&applied.entries).copied().collect();
                    let remove: Vec<MeshNode> =
                        applied.entries.difference(&entries).copied().collect();
                    mesh_entries(&add, &remove)
                };
                let mut routes: BTreeMap<Ipv4Addr, Option<Ipv4Addr>> =
                    applied.routes.keys().map(|r| (*r, None)).collect();
                routes.extend(wanted.into_iter().map(|(r, gw)| (r, Some(gw))));
                applied.link = Some(ni.link.clone());
                applied.entries = entries;
                applied.view = Some((ni.network_id.clone(), view));
                (script, routes)
            }
        };
        if self.firewall.enabled() && !script.is_empty() {
            if let Err(e) = ferry_kernel::nft::apply(&script) {
                tracing::warn!(error = %e, "the routing mesh's reply path was not updated");
                // Read everything again next time.
                applied.view = None;
                return;
            }
        }
        let Some(index) = index else {
            // No host link to route through: everything is read again next time.
            applied.view = None;
            return;
        };
        for (replica, gw) in routes {
            match gw {
                Some(gw) => {
                    if applied.routes.get(&replica) == Some(&gw) {
                        continue;
                    }
                    match self
                        .host_nl
                        .replace_host_route_via(replica, gw, index)
                        .await
                    {
                        Ok(()) => {
                            applied.routes.insert(replica, gw);
                        }
                        Err(e) => {
                            tracing::warn!(replica = %replica, via = %gw, error = %e, "no mesh route to a remote replica")
                        }
                    }
                }
                None => {
                    if applied.routes.remove(&replica).is_none() {
                        continue;
                    }
                    if let Err(e) = self.host_nl.delete_host_route(replica).await {
                        tracing::warn!(replica = %replica, error = %e, "a mesh route was not removed");
                    }
                }
            }
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

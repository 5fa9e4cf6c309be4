//! The ingress network's records as the routing mesh reads them (pure): the other nodes'
//! entries and the remote replicas, indexed by node and by address, so that one record's
//! change yields only what depends on it: a replica's record moves one route, a node's host
//! record moves its entry and the routes of that node's replicas. The cost of a change does
//! not grow with the swarm.

use ferry_cluster::PeerRecord;
use ferry_firewall::mesh::MeshNode;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// The endpoint ID of a node's host record on the ingress network.
pub(crate) const HOST_ENDPOINT: &str = "host";

fn v4(p: &PeerRecord) -> Option<Ipv4Addr> {
    match p.ipv4.map(|a| a.addr()) {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

/// The other nodes' mesh entries and the remote replicas of the ingress network.
#[derive(Debug, Default)]
pub(crate) struct MeshView {
    /// This node (its own records are not followed).
    me: String,
    /// Node ID → its entry.
    hosts: BTreeMap<String, MeshNode>,
    /// Replica record key → (node, address).
    replicas: BTreeMap<String, (String, Ipv4Addr)>,
    /// Node → its replicas' record keys.
    by_node: BTreeMap<String, BTreeSet<String>>,
    /// Address → the replica record keys that hold it (more than one while one moves).
    by_addr: BTreeMap<Ipv4Addr, BTreeSet<String>>,
}

/// What one change asks of the kernel.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MeshDelta {
    /// Entries to add to the netdev table.
    pub add: Vec<MeshNode>,
    /// Entries to remove from it.
    pub remove: Vec<MeshNode>,
    /// Routes to a remote replica: via its node's address, or none (deleted).
    pub routes: BTreeMap<Ipv4Addr, Option<Ipv4Addr>>,
}

impl MeshView {
    /// An empty view for node `me`.
    pub(crate) fn new(me: &str) -> Self {
        MeshView {
            me: me.to_string(),
            ..Default::default()
        }
    }

    /// Every entry wanted now.
    pub(crate) fn entries(&self) -> BTreeSet<MeshNode> {
        self.hosts.values().copied().collect()
    }

    /// Every route wanted now: each remote replica whose node's entry is known.
    pub(crate) fn routes(&self) -> BTreeMap<Ipv4Addr, Ipv4Addr> {
        self.by_addr
            .keys()
            .filter_map(|a| Some((*a, self.via(*a)?)))
            .collect()
    }

    /// The node address a replica address is reached through, when one is known.
    fn via(&self, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        self.by_addr
            .get(&addr)?
            .iter()
            .filter_map(|k| self.replicas.get(k))
            .find_map(|(node, _)| self.hosts.get(node).map(|h| h.addr))
    }

    /// Takes a record's change (`old` gone, `new` there) and says what the kernel must do.
    pub(crate) fn apply(
        &mut self,
        old: Option<&PeerRecord>,
        new: Option<&PeerRecord>,
    ) -> MeshDelta {
        let mut touched_nodes = BTreeSet::new();
        let mut touched_addrs = BTreeSet::new();
        let entries_before: BTreeMap<String, MeshNode> = [old, new]
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.node_id.clone(), *self.hosts.get(&p.node_id)?)))
            .collect();
        if let Some(p) = old {
            self.forget(p, &mut touched_nodes, &mut touched_addrs);
        }
        if let Some(p) = new {
            self.learn(p, &mut touched_nodes, &mut touched_addrs);
        }
        let mut delta = MeshDelta::default();
        for node in [old, new].into_iter().flatten().map(|p| &p.node_id) {
            let before = entries_before.get(node).copied();
            let after = self.hosts.get(node).copied();
            if before != after {
                delta.remove.extend(before);
                delta.add.extend(after);
            }
        }
        delta.remove.sort();
        delta.remove.dedup();
        delta.add.sort();
        delta.add.dedup();
        for node in touched_nodes {
            for k in self.by_node.get(&node).into_iter().flatten() {
                if let Some((_, a)) = self.replicas.get(k) {
                    touched_addrs.insert(*a);
                }
            }
        }
        for a in touched_addrs {
            delta.routes.insert(a, self.via(a));
        }
        delta
    }

    fn forget(
        &mut self,
        p: &PeerRecord,
        nodes: &mut BTreeSet<String>,
        addrs: &mut BTreeSet<Ipv4Addr>,
    ) {
        if p.node_id == self.me {
            return;
        }
        if p.endpoint_id == HOST_ENDPOINT {
            if self.hosts.remove(&p.node_id).is_some() {
                nodes.insert(p.node_id.clone());
            }
            return;
        }
        let key = p.key();
        if let Some((node, a)) = self.replicas.remove(&key) {
            unindex(&mut self.by_node, &node, &key);
            unindex(&mut self.by_addr, &a, &key);
            addrs.insert(a);
        }
    }

    fn learn(
        &mut self,
        p: &PeerRecord,
        nodes: &mut BTreeSet<String>,
        addrs: &mut BTreeSet<Ipv4Addr>,
    ) {
        if p.node_id == self.me {
            return;
        }
        let Some(a) = v4(p) else {
            return;
        };
        if p.endpoint_id == HOST_ENDPOINT {
            self.hosts.insert(
                p.node_id.clone(),
                MeshNode {
                    addr: a,
                    mac: p.mac.octets(),
                },
            );
            nodes.insert(p.node_id.clone());
            return;
        }
        if p.service.is_none() {
            return;
        }
        let key = p.key();
        self.replicas.insert(key.clone(), (p.node_id.clone(), a));
        self.by_node
            .entry(p.node_id.clone())
            .or_default()
            .insert(key.clone());
        self.by_addr.entry(a).or_default().insert(key);
        addrs.insert(a);
    }
}

/// Takes `key` out of an index's set at `at`, and the set when it is left empty.
fn unindex<K: Ord>(index: &mut BTreeMap<K, BTreeSet<String>>, at: &K, key: &str) {
    if let Some(s) = index.get_mut(at) {
        s.remove(key);
        if s.is_empty() {
            index.remove(at);
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

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn view(me: &str, peers: &[PeerRecord]) -> MeshView {
        let mut v = MeshView::new(me);
        for p in peers {
            v.apply(None, Some(p));
        }
        v
    }

    #[test]
    fn remote_replicas_route_via_their_node_and_every_other_node_gets_an_entry() {
        let v = view(
            "x",
            &[
                peer("x", HOST_ENDPOINT, "10.0.0.2", None),
                peer("y", HOST_ENDPOINT, "10.0.0.3", None),
                peer("y", "ep1", "10.0.0.7", Some("web")),
                peer("x", "ep2", "10.0.0.8", Some("web")),
                // A replica whose node's record has not come yet: no route for now.
                peer("z", "ep3", "10.0.0.9", Some("web")),
                // Not a replica.
                peer("y", "ep4", "10.0.0.10", None),
            ],
        );
        assert_eq!(
            v.entries().len(),
            1,
            "only the other nodes: {:?}",
            v.entries()
        );
        assert_eq!(
            v.routes(),
            BTreeMap::from([(ip("10.0.0.7"), ip("10.0.0.3"))])
        );
    }

    #[test]
    fn a_change_yields_only_what_depends_on_it() {
        let mut v = view(
            "x",
            &[
                peer("y", HOST_ENDPOINT, "10.0.0.3", None),
                peer("y", "ep1", "10.0.0.7", Some("web")),
                peer("z", "ep3", "10.0.0.9", Some("web")),
            ],
        );
        // A replica of a known node: one route, no entry.
        let d = v.apply(None, Some(&peer("y", "ep5", "10.0.0.11", Some("web"))));
        assert!(d.add.is_empty() && d.remove.is_empty());
        assert_eq!(
            d.routes,
            BTreeMap::from([(ip("10.0.0.11"), Some(ip("10.0.0.3")))])
        );
        // Node z's host record comes: its entry, and a route for its waiting replica.
        let d = v.apply(None, Some(&peer("z", HOST_ENDPOINT, "10.0.0.4", None)));
        assert_eq!(d.add.len(), 1);
        assert_eq!(
            d.routes,
            BTreeMap::from([(ip("10.0.0.9"), Some(ip("10.0.0.4")))])
        );
        // Node y's host record goes: its entry and its replicas' routes.
        let d = v.apply(Some(&peer("y", HOST_ENDPOINT, "10.0.0.3", None)), None);
        assert_eq!(d.remove.len(), 1);
        assert_eq!(
            d.routes,
            BTreeMap::from([(ip("10.0.0.7"), None), (ip("10.0.0.11"), None)])
        );
        // A replica goes.
        let d = v.apply(Some(&peer("z", "ep3", "10.0.0.9", Some("web"))), None);
        assert_eq!(d.routes, BTreeMap::from([(ip("10.0.0.9"), None)]));
        // The same record again changes nothing.
        let p = peer("z", HOST_ENDPOINT, "10.0.0.4", None);
        let d = v.apply(Some(&p), Some(&p));
        assert!(d.add.is_empty() && d.remove.is_empty() && d.routes.is_empty());
        assert_eq!(v.entries().len(), 1);
        assert!(v.routes().is_empty());
    }

    #[test]
    fn an_address_that_moves_between_replicas_keeps_its_route_until_the_last_goes() {
        let mut v = view(
            "x",
            &[
                peer("y", HOST_ENDPOINT, "10.0.0.3", None),
                peer("z", HOST_ENDPOINT, "10.0.0.4", None),
                peer("y", "ep1", "10.0.0.7", Some("web")),
            ],
        );
        // The address comes back on node z before node y's old record goes.
        v.apply(None, Some(&peer("z", "ep2", "10.0.0.7", Some("web"))));
        let d = v.apply(Some(&peer("y", "ep1", "10.0.0.7", Some("web"))), None);
        assert_eq!(
            d.routes,
            BTreeMap::from([(ip("10.0.0.7"), Some(ip("10.0.0.4")))])
        );
    }
}

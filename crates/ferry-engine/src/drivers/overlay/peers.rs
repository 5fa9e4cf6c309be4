//! The overlay's memory of the endpoints other nodes publish, by network: the kernel entries a
//! node's data plane for a network must hold. A delete event of the cluster's store carries
//! only the key, so what it withdraws is looked up here.

use ferry_cluster::PeerRecord;
use std::collections::{BTreeMap, HashMap};

/// Remote endpoints by network, then by record key.
#[derive(Debug, Default)]
pub struct PeerCache {
    by_network: HashMap<String, BTreeMap<String, PeerRecord>>,
}

impl PeerCache {
    /// Records a peer; returns the record it replaces (whose entries may need to go when its
    /// MAC or addresses changed).
    pub fn put(&mut self, peer: PeerRecord) -> Option<PeerRecord> {
        self.by_network
            .entry(peer.network_id.clone())
            .or_default()
            .insert(peer.key(), peer)
    }

    /// Forgets a peer; returns it when it was known.
    pub fn remove(&mut self, peer: &PeerRecord) -> Option<PeerRecord> {
        let net = self.by_network.get_mut(&peer.network_id)?;
        let gone = net.remove(&peer.key());
        if net.is_empty() {
            self.by_network.remove(&peer.network_id);
        }
        gone
    }

    /// The peers of a network.
    pub fn of_network(&self, network_id: &str) -> Vec<PeerRecord> {
        self.by_network
            .get(network_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(net: &str, node: &str, ep: &str, ip: &str) -> PeerRecord {
        PeerRecord {
            network_id: net.into(),
            node_id: node.into(),
            endpoint_id: ep.into(),
            sandbox_id: format!("sb-{ep}"),
            vtep: "198.51.100.11".parse().unwrap(),
            mac: "02:42:0a:00:00:02".parse().unwrap(),
            ipv4: Some(ip.parse().unwrap()),
            ipv6: None,
            names: vec![],
            service: None,
        }
    }

    #[test]
    fn peers_are_kept_per_network_and_replaced_by_key() {
        let mut c = PeerCache::default();
        assert!(c.put(peer("n1", "a", "e1", "10.0.0.2/24")).is_none());
        c.put(peer("n1", "b", "e2", "10.0.0.3/24"));
        c.put(peer("n2", "a", "e3", "10.0.1.2/24"));
        let old = c.put(peer("n1", "a", "e1", "10.0.0.9/24")).unwrap();
        assert_eq!(old.ipv4.unwrap().to_string(), "10.0.0.2/24");
        assert_eq!(c.of_network("n1").len(), 2);
        assert!(c.remove(&peer("n2", "a", "e3", "10.0.1.2/24")).is_some());
        assert!(c.of_network("n2").is_empty());
        assert!(c.remove(&peer("n2", "a", "e3", "10.0.1.2/24")).is_none());
    }
}

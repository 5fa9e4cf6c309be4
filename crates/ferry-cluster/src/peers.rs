//! Peer records: what a node publishes about each of its endpoints on a global-scope network,
//! so that every other node can reach it (a static neighbour and forwarding entry pointing at
//! the node's VTEP) and resolve its names. A node writes its records under its session lease:
//! when the node dies they vanish, and the delete events withdraw them everywhere.

use ferry_store::{Op, StoreError, Table};
use ferry_types::MacAddr;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// One endpoint on a global-scope network, as its node publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The network's ID.
    pub network_id: String,
    /// The node the endpoint lives on.
    pub node_id: String,
    /// The endpoint's ID.
    pub endpoint_id: String,
    /// The sandbox's ID (names are the sandbox's on every node).
    pub sandbox_id: String,
    /// The node's underlay address, where traffic to the endpoint is sent.
    pub vtep: Ipv4Addr,
    /// The endpoint's MAC.
    pub mac: MacAddr,
    /// Its IPv4 address.
    pub ipv4: Option<IpNet>,
    /// Its IPv6 address.
    pub ipv6: Option<IpNet>,
    /// The names it answers to on the network (sandbox name, aliases, short ID, hostname).
    pub names: Vec<String>,
    /// The swarm service whose live replica it is: every node balances the service's VIP
    /// over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl PeerRecord {
    /// Its key in [`Table::Peers`].
    pub fn key(&self) -> String {
        peer_key(&self.network_id, &self.node_id, &self.endpoint_id)
    }

    /// Its addresses.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.ipv4
            .iter()
            .chain(self.ipv6.iter())
            .map(|a| a.addr())
            .collect()
    }

    /// The write of the record, under the node's lease.
    pub fn put(&self, lease: i64) -> Result<Op, StoreError> {
        Op::put_json_leased(Table::Peers, &self.key(), self, lease)
    }
}

/// The key of an endpoint's record: network, node, endpoint.
pub fn peer_key(network_id: &str, node_id: &str, endpoint_id: &str) -> String {
    format!("{network_id}/{node_id}/{endpoint_id}")
}

/// The parts of a peer key: network, node, endpoint.
pub fn split_peer_key(key: &str) -> Option<(&str, &str, &str)> {
    let mut it = key.splitn(3, '/');
    match (it.next(), it.next(), it.next()) {
        (Some(n), Some(h), Some(e)) if !n.is_empty() && !h.is_empty() && !e.is_empty() => {
            Some((n, h, e))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = peer_key("net", "node", "ep");
        assert_eq!(k, "net/node/ep");
        assert_eq!(split_peer_key(&k), Some(("net", "node", "ep")));
        assert_eq!(split_peer_key("net/node"), None);
        assert_eq!(split_peer_key("net//ep"), None);
    }
}

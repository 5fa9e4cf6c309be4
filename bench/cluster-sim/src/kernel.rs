//! The fake kernel of a simulated node: what the overlay driver would program for each remote
//! endpoint, per network: a forwarding entry (the endpoint's MAC behind the VTEP of its node)
//! and a neighbour entry per address (the address at that MAC).

use ferry_cluster::PeerRecord;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// One network's entries.
#[derive(Debug, Default)]
pub struct NetEntries {
    /// MAC → VTEP.
    pub fdb: HashMap<[u8; 6], Ipv4Addr>,
    /// Address → MAC.
    pub neigh: HashMap<IpAddr, [u8; 6]>,
}

/// The entries a node would have in its kernel.
#[derive(Debug, Default)]
pub struct FakeKernel {
    nets: HashMap<String, NetEntries>,
}

impl FakeKernel {
    /// Programs a remote endpoint; returns how many forwarding entries its network has now.
    pub fn program(&mut self, p: &PeerRecord) -> usize {
        let net = self.nets.entry(p.network_id.clone()).or_default();
        let mac = p.mac.octets();
        net.fdb.insert(mac, p.vtep);
        for ip in p.addrs() {
            net.neigh.insert(ip, mac);
        }
        net.fdb.len()
    }

    /// Withdraws a remote endpoint's entries (only those that still point where it said).
    pub fn unprogram(&mut self, p: &PeerRecord) {
        let Some(net) = self.nets.get_mut(&p.network_id) else {
            return;
        };
        let mac = p.mac.octets();
        if net.fdb.get(&mac) == Some(&p.vtep) {
            net.fdb.remove(&mac);
        }
        for ip in p.addrs() {
            if net.neigh.get(&ip) == Some(&mac) {
                net.neigh.remove(&ip);
            }
        }
        if net.fdb.is_empty() && net.neigh.is_empty() {
            self.nets.remove(&p.network_id);
        }
    }

    /// A network's entries, if it has any.
    pub fn network(&self, network_id: &str) -> Option<&NetEntries> {
        self.nets.get(network_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::MacAddr;

    fn peer(ep: &str, mac: u8, vtep: [u8; 4], ip: &str) -> PeerRecord {
        PeerRecord {
            network_id: "net".into(),
            node_id: "n1".into(),
            endpoint_id: ep.into(),
            sandbox_id: ep.into(),
            vtep: Ipv4Addr::from(vtep),
            mac: MacAddr::new([2, 0, 0, 0, 0, mac]),
            ipv4: Some(ip.parse().expect("an address")),
            ipv6: None,
            names: vec![],
            service: None,
        }
    }

    #[test]
    fn programs_and_withdraws_entries() {
        let mut k = FakeKernel::default();
        let a = peer("a", 1, [10, 0, 0, 1], "10.1.0.2/24");
        assert_eq!(k.program(&a), 1);
        assert_eq!(k.program(&peer("b", 2, [10, 0, 0, 2], "10.1.0.3/24")), 2);
        let net = k.network("net").expect("entries");
        assert_eq!(
            net.fdb.get(&[2, 0, 0, 0, 0, 1]),
            Some(&Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(net.neigh.len(), 2);
        k.unprogram(&a);
        assert_eq!(k.network("net").map(|n| n.fdb.len()), Some(1));
    }

    #[test]
    fn a_moved_endpoint_keeps_its_new_entry() {
        let mut k = FakeKernel::default();
        let old = peer("a", 1, [10, 0, 0, 1], "10.1.0.2/24");
        let moved = peer("a", 1, [10, 0, 0, 9], "10.1.0.2/24");
        k.program(&old);
        k.program(&moved);
        k.unprogram(&old);
        let net = k.network("net").expect("entries");
        assert_eq!(
            net.fdb.get(&[2, 0, 0, 0, 0, 1]),
            Some(&Ipv4Addr::new(10, 0, 0, 9))
        );
    }
}

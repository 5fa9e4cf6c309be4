//! What the firewall needs to know of a network and of an endpoint: its own input types, so
//! that it does not depend on how a driver keeps its settings. The bridge driver, the one
//! driver whose traffic crosses the host's netfilter hooks, builds them.

use std::net::IpAddr;

/// A bridge network: its Linux bridge and the policy of its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeNet {
    /// The Linux bridge device's name.
    pub name: String,
    /// No traffic leaves the network.
    pub internal: bool,
    /// Endpoints of the network may talk to each other.
    pub icc: bool,
    /// Traffic leaving the network is masqueraded.
    pub masquerade: bool,
}

/// An endpoint on a bridge network: the bridge port (the host end of its veth) and what may
/// be sent from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePort {
    /// The host end of the endpoint's veth.
    pub port: String,
    /// The sandbox end's MAC address.
    pub mac: String,
    /// Its IPv4 address.
    pub ipv4: Option<IpAddr>,
    /// Its IPv6 address.
    pub ipv6: Option<IpAddr>,
}

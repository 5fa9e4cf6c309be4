//! What the overlay driver keeps of a network and of an endpoint, and the names of the links
//! it makes for them.

use ferry_types::{FerryError, Network};
use serde::{Deserialize, Serialize};

/// Alias the overlay marks its links with (a network's VXLAN device and the host's link on it), followed by
/// the network's ID. It differs from the bridge driver's, whose sweep would take them.
pub const ALIAS_PREFIX: &str = "ferry:ovl:";
/// Name prefix of the host end of the overlay's veths.
pub const VETH_PREFIX: &str = "vo";

/// An overlay network's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayConfig {
    /// Its VXLAN ID, unique in the swarm.
    pub vni: u32,
    /// The MTU its interfaces get; the underlay's less 50 when unset.
    pub mtu: Option<u32>,
}

impl OverlayConfig {
    /// The settings of a network of this driver.
    pub fn of(net: &Network) -> Result<Self, FerryError> {
        serde_json::from_value(net.driver_config.clone()).map_err(|e| {
            FerryError::internal(format!(
                "overlay network {} has unreadable settings: {e}",
                net.name
            ))
        })
    }
}

/// The per-host links of a network's data plane: a bridge holding the sandboxes' veths and
/// the VXLAN device.
pub fn bridge_name(network_id: &str) -> String {
    format!("fo-{}", ferry_types::ids::short(network_id))
}

/// The VXLAN device of a network on this host.
pub fn vxlan_name(network_id: &str) -> String {
    format!("fx-{}", ferry_types::ids::short(network_id))
}

/// The host end of an endpoint's veth.
pub fn host_ifname(endpoint_id: &str) -> String {
    format!(
        "{VETH_PREFIX}{}",
        endpoint_id.get(..13).unwrap_or(endpoint_id)
    )
}

/// The alias of a network's links.
pub fn alias(network_id: &str) -> String {
    format!("{ALIAS_PREFIX}{network_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_fit_the_kernel() {
        let id = "ab".repeat(32);
        for n in [bridge_name(&id), vxlan_name(&id), host_ifname(&id)] {
            assert!(n.len() <= 15, "{n}");
        }
        assert_eq!(host_ifname(&id), "voababababababa");
        assert_ne!(bridge_name(&id), vxlan_name(&id));
    }
}

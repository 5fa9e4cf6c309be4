//! What the bridge driver keeps in a network's record and in an endpoint's.

use ferry_types::{Endpoint, FerryError, Network};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Settings of a bridge network, resolved from its options when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// The Linux bridge device's name.
    pub name: String,
    /// MTU of the bridge and of every veth attached to it.
    pub mtu: u32,
    /// Inter-container connectivity on this bridge.
    pub icc: bool,
    /// Masquerade traffic leaving the bridge's subnets.
    pub masquerade: bool,
    /// Host address ports are published on when `-p` names none (every address when unset).
    #[serde(default)]
    pub host_binding_ipv4: Option<IpAddr>,
}

impl BridgeConfig {
    /// The settings of a bridge network's record.
    pub fn of(net: &Network) -> Result<Self, FerryError> {
        serde_json::from_value(net.driver_config.clone()).map_err(|e| {
            FerryError::internal(format!(
                "network {} has no valid bridge settings: {e}",
                net.name
            ))
        })
    }
}

/// Host-side interface name of an endpoint's veth (at most 15 bytes). The `vf` prefix marks
/// ferry's veths (no alias is set on them: that would cost one more netlink request per
/// endpoint, and requests get slower as a namespace fills with interfaces).
pub fn host_ifname(endpoint_id: &str) -> String {
    format!(
        "{}{}",
        super::VETH_PREFIX,
        &endpoint_id[..endpoint_id.len().min(11)]
    )
}

/// What the bridge driver keeps of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeEndpoint {
    /// The host end of its veth.
    pub host_ifname: String,
}

impl BridgeEndpoint {
    /// The state of a new endpoint.
    pub fn new(endpoint_id: &str) -> Self {
        BridgeEndpoint {
            host_ifname: host_ifname(endpoint_id),
        }
    }

    /// The state of an endpoint's record: older records kept the host name as a bare string,
    /// and the name follows from the endpoint's ID when the record has none.
    pub fn of(ep: &Endpoint) -> Self {
        match &ep.driver_state {
            serde_json::Value::String(s) if !s.is_empty() => BridgeEndpoint {
                host_ifname: s.clone(),
            },
            v => serde_json::from_value(v.clone()).unwrap_or_else(|_| Self::new(&ep.id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_interface_names() {
        assert_eq!(host_ifname(&"a".repeat(64)), "vfaaaaaaaaaaa");
        assert!(host_ifname(&"a".repeat(64)).len() <= 15);
    }

    #[test]
    fn endpoint_state_of_old_and_new_records() {
        let mut ep: Endpoint = serde_json::from_value(serde_json::json!({
            "id": "b".repeat(64), "network_id": "n", "ifname": "eth0", "host_ifname": "vfold",
            "mac": "02:42:ac:11:00:02", "ipv4": null, "ipv6": null,
            "gateway4": null, "gateway6": null
        }))
        .unwrap();
        assert_eq!(BridgeEndpoint::of(&ep).host_ifname, "vfold");
        ep.driver_state = serde_json::to_value(BridgeEndpoint::new(&ep.id)).unwrap();
        assert_eq!(BridgeEndpoint::of(&ep).host_ifname, "vfbbbbbbbbbbb");
        ep.driver_state = serde_json::Value::Null;
        assert_eq!(BridgeEndpoint::of(&ep).host_ifname, "vfbbbbbbbbbbb");
    }

    #[test]
    fn settings_of_old_records_read_back() {
        let net: Network = serde_json::from_value(serde_json::json!({
            "id": "a".repeat(64), "name": "old", "driver": "bridge",
            "created": "2026-11-01T00:00:00Z", "enable_ipv6": false, "internal": false,
            "attachable": false, "subnets": [], "user_subnets": false, "options": {},
            "labels": {}, "builtin": false,
            "bridge": {"name": "fr-old", "mtu": 1500, "icc": true, "masquerade": true}
        }))
        .unwrap();
        let c = BridgeConfig::of(&net).unwrap();
        assert_eq!(c.name, "fr-old");
        assert_eq!(c.host_binding_ipv4, None);
    }
}

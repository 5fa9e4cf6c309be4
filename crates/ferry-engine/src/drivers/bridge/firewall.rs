//! The bridge's elements in ferry's firewall: its device, and each endpoint's bridge port,
//! MAC and addresses (the anti-spoofing and isolation sets).

use super::{BridgeConfig, BridgeDriver, BridgeEndpoint};
use crate::driver::Firewalled;
use ferry_firewall::{BridgeNet, BridgePort};
use ferry_types::{Endpoint, Network};

impl Firewalled for BridgeDriver {
    fn network_elements(&self, net: &Network) -> Option<BridgeNet> {
        let br = BridgeConfig::of(net).ok()?;
        Some(BridgeNet {
            name: br.name,
            internal: net.internal,
            icc: br.icc,
            masquerade: br.masquerade,
        })
    }

    fn endpoint_elements(&self, _net: &Network, ep: &Endpoint) -> Option<BridgePort> {
        Some(BridgePort {
            port: BridgeEndpoint::of(ep).host_ifname,
            mac: ep.mac.to_string(),
            ipv4: ep.ipv4.map(|a| a.addr()),
            ipv6: ep.ipv6.map(|a| a.addr()),
        })
    }
}

//! The bridge driver: one Linux bridge per network holding the gateway addresses, one veth pair
//! per endpoint whose sandbox end is created directly inside the sandbox's namespace. Its
//! traffic crosses the host, so its networks are policed by ferry's firewall, publish ports
//! and carry service VIPs.

mod config;
mod firewall;
mod vip;

pub use config::{host_ifname, BridgeConfig, BridgeEndpoint};

use super::{kernel_err, DriverContext};
use crate::driver::{
    Capability, Firewalled, JoinInfo, NetworkDriver, Owned, PortPublisher, SandboxNs, Scope, Stack,
    VipHost,
};
use ferry_driver_options::bridge::parse_bridge_options;
use ferry_kernel::netlink::{Netlink, VethSpec};
use ferry_kernel::sysctl;
use ferry_types::{Endpoint, FerryError, Network};
use ipnet::IpNet;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

/// Alias ferry puts on the bridges it makes, followed by the network ID.
pub const NETWORK_ALIAS_PREFIX: &str = "ferry:net:";
/// Name prefix of the host end of ferry's veths.
pub const VETH_PREFIX: &str = "vf";

/// The bridge driver, working in the daemon's (host) namespace.
pub struct BridgeDriver {
    nl: Netlink,
    reaper: std::sync::Arc<super::reaper::Reaper>,
    ip_forward: bool,
    firewall: bool,
    mtu: u32,
}

/// The MAC a network's bridge is created with: locally administered, unicast, from the
/// network's ID. Set in the request that creates the bridge, it tells ferry's half-made bridge
/// (created, not yet marked with its alias when the daemon died) from a stranger's interface
/// of the same name.
pub fn bridge_mac(network_id: &str) -> [u8; 6] {
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, b) in mac.iter_mut().skip(1).enumerate() {
        *b = network_id
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    mac
}

impl BridgeDriver {
    /// A driver using the host-namespace netlink connection.
    pub fn new(ctx: &DriverContext) -> Self {
        Self {
            nl: ctx.nl.clone(),
            reaper: ctx.reaper.clone(),
            ip_forward: ctx.ip_forward,
            firewall: ctx.firewall,
            mtu: ctx.mtu,
        }
    }

    /// The index of the network's bridge, which must exist.
    async fn bridge_index(&self, net: &Network, br: &BridgeConfig) -> Result<u32, FerryError> {
        Ok(self
            .nl
            .link(&br.name)
            .await
            .map_err(kernel_err)?
            .ok_or_else(|| {
                FerryError::internal(format!(
                    "bridge {} of network {} is missing; restart the daemon to restore it",
                    br.name, net.name
                ))
            })?
            .index)
    }
}

#[async_trait::async_trait]
impl NetworkDriver for BridgeDriver {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn capability(&self) -> Capability {
        Capability {
            scope: Scope::Local,
            stack: Stack::Endpoints,
            singleton: false,
            host_gateway: true,
            routes_out: true,
        }
    }

    async fn configure(
        &self,
        net: &mut Network,
        others: &[&Network],
    ) -> Result<serde_json::Value, FerryError> {
        let o = parse_bridge_options(&net.options)?;
        let name = o
            .name
            .unwrap_or_else(|| format!("fr-{}", ferry_types::ids::short(&net.id)));
        if let Some(other) = others
            .iter()
            .find(|n| n.driver == self.name() && BridgeConfig::of(n).is_ok_and(|b| b.name == name))
        {
            return Err(FerryError::conflict(format!(
                "bridge name {name} is already used by network {}",
                other.name
            )));
        }
        let config = BridgeConfig {
            name,
            mtu: o.mtu.unwrap_or(self.mtu),
            icc: o.icc.unwrap_or(true),
            masquerade: o.masquerade.unwrap_or(true),
            host_binding_ipv4: o.host_binding_ipv4,
        };
        serde_json::to_value(config).map_err(|e| FerryError::internal(e.to_string()))
    }

    fn endpoint_state(&self, _net: &Network, endpoint_id: &str) -> serde_json::Value {
        serde_json::to_value(BridgeEndpoint::new(endpoint_id)).unwrap_or_default()
    }

    /// Makes the network's bridge with its gateway addresses.
    async fn create_network(&self, net: &Network) -> Result<(), FerryError> {
        let br = BridgeConfig::of(net)?;
        let alias = format!("{NETWORK_ALIAS_PREFIX}{}", net.id);
        let mac = bridge_mac(&net.id);
        let existing = self.nl.link(&br.name).await.map_err(kernel_err)?;
        let idx = match existing {
            Some(l)
                if l.kind.as_deref() == Some("bridge")
                    && (l.alias.as_deref() == Some(alias.as_str())
                        || (l.alias.is_none() && l.mac == Some(mac))) =>
            {
                // Born with this network's MAC but never marked: made by a daemon that died
                // between the two requests. It is ours; marking it finishes the job.
                if l.alias.is_none() {
                    tracing::info!(bridge = %br.name, "marking a bridge whose creation was interrupted");
                    self.nl
                        .set_alias(l.index, &alias)
                        .await
                        .map_err(kernel_err)?;
                }
                self.nl.set_up(l.index).await.map_err(kernel_err)?;
                l.index
            }
            Some(_) => {
                return Err(FerryError::conflict(format!(
                    "interface {} already exists on the host and is not this network's; choose another name with -o com.docker.network.bridge.name=NAME",
                    br.name
                )))
            }
            None => {
                let idx = self
                    .nl
                    .create_bridge(&br.name, br.mtu, mac)
                    .await
                    .map_err(kernel_err)?;
                crate::crash_point::reached(crate::crash_point::NETWORK_BRIDGE_MADE);
                self.nl.set_alias(idx, &alias).await.map_err(kernel_err)?;
                idx
            }
        };
        if self.ip_forward {
            sysctl::set("net/ipv4/ip_forward", "1").map_err(kernel_err)?;
            if net.enable_ipv6 {
                sysctl::set("net/ipv6/conf/all/forwarding", "1").map_err(kernel_err)?;
            }
        }
        if self.firewall {
            // The host reaches ports published on 127.0.0.1 through DNAT to a sandbox, which
            // sends the packet out of this bridge with a loopback source until it is
            // masqueraded. ferry's raw_prerouting chain keeps sandboxes off the host's loopback.
            sysctl::set(&format!("net/ipv4/conf/{}/route_localnet", br.name), "1")
                .map_err(kernel_err)?;
        }
        if net.enable_ipv6 {
            // The bridge must not sit out DAD for its gateway address, nor take router adverts.
            sysctl::set(&format!("net/ipv6/conf/{}/accept_dad", br.name), "0")
                .map_err(kernel_err)?;
            sysctl::set(&format!("net/ipv6/conf/{}/accept_ra", br.name), "0")
                .map_err(kernel_err)?;
        }
        for s in &net.subnets {
            if let Some(gw) = s.gateway {
                let addr = IpNet::new(gw, s.subnet.prefix_len())
                    .map_err(|e| FerryError::internal(e.to_string()))?;
                self.nl.add_address(idx, addr).await.map_err(kernel_err)?;
            }
        }
        Ok(())
    }

    /// Retires the network's bridge: down and renamed at once (its name is free for a new
    /// network), deleted in the background.
    async fn delete_network(&self, net: &Network) -> Result<(), FerryError> {
        let br = BridgeConfig::of(net)?;
        let alias = format!("{NETWORK_ALIAS_PREFIX}{}", net.id);
        match self.nl.link(&br.name).await.map_err(kernel_err)? {
            Some(l) if l.alias.as_deref() == Some(alias.as_str()) => self
                .reaper
                .retire(l.index, Vec::new())
                .await
                .map_err(kernel_err),
            // Gone already, or someone else's now.
            _ => Ok(()),
        }
    }

    /// The veth pair, its sandbox end made inside the sandbox's namespace.
    async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError> {
        let br = BridgeConfig::of(net)?;
        let bridge_index = self.bridge_index(net, &br).await?;
        self.reaper
            .free_sandbox_name(ns.path, ns.nl, &ep.ifname)
            .await
            .map_err(kernel_err)?;
        let mac = ep.mac.octets();
        self.nl
            .create_veth(&VethSpec {
                host_name: &BridgeEndpoint::of(ep).host_ifname,
                peer_name: &ep.ifname,
                peer_mac: mac,
                mtu: br.mtu,
                bridge_index,
                peer_netns: ns.path,
            })
            .await
            .map_err(kernel_err)?;
        Ok(JoinInfo::default())
    }

    /// Retires the host end (down: the sandbox is cut off at once); deleting it, in the
    /// background, removes the pair. Until then the sandbox end keeps its name inside a
    /// namespace that lives on, which a join there waits for.
    async fn leave(
        &self,
        _net: &Network,
        ep: &Endpoint,
        netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        self.reaper
            .retire_host_end(
                &self.nl,
                &BridgeEndpoint::of(ep).host_ifname,
                netns,
                &ep.ifname,
            )
            .await
            .map_err(kernel_err)
    }

    async fn endpoint_present(
        &self,
        _net: &Network,
        ep: &Endpoint,
        _netns: &Path,
    ) -> Result<bool, FerryError> {
        Ok(self
            .nl
            .link(&BridgeEndpoint::of(ep).host_ifname)
            .await
            .map_err(kernel_err)?
            .is_some())
    }

    /// Bridges marked with the alias of a network that is gone, and veths with ferry's prefix
    /// that no live endpoint names.
    async fn sweep(&self, owned: &Owned<'_>) -> Result<(), FerryError> {
        let nets: HashSet<&str> = owned.networks.iter().map(|n| n.id.as_str()).collect();
        let veths: HashSet<String> = owned
            .endpoints
            .iter()
            .map(|e| BridgeEndpoint::of(e).host_ifname)
            .collect();
        for link in self.nl.links().await.map_err(kernel_err)? {
            let orphan = match link
                .alias
                .as_deref()
                .and_then(|a| a.strip_prefix(NETWORK_ALIAS_PREFIX))
            {
                Some(id) => !nets.contains(id),
                None => {
                    (link.kind.as_deref() == Some("veth")
                        && link.name.starts_with(VETH_PREFIX)
                        && !veths.contains(&link.name))
                        // Retired by a daemon that died before deleting it.
                        || (matches!(link.kind.as_deref(), Some("veth" | "bridge"))
                            && super::reaper::is_tombstone(&link.name))
                }
            };
            if orphan {
                tracing::info!(link = %link.name, "removing orphan interface");
                self.nl.delete_link(link.index).await.map_err(kernel_err)?;
            }
        }
        Ok(())
    }

    fn firewalled(&self) -> Option<&dyn Firewalled> {
        Some(self)
    }

    fn publisher(&self) -> Option<&dyn PortPublisher> {
        Some(self)
    }

    fn vip_host(&self) -> Option<&dyn VipHost> {
        Some(self)
    }
}

impl PortPublisher for BridgeDriver {
    fn default_host_ip(&self, net: &Network) -> Option<IpAddr> {
        BridgeConfig::of(net).ok().and_then(|b| b.host_binding_ipv4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_mac_is_local_unicast_and_the_network_s_own() {
        let a = bridge_mac(&format!("0a1b2c3d4e{}", "f".repeat(54)));
        assert_eq!(a, [0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e]);
        // Locally administered, not multicast.
        assert_eq!(a[0] & 0x03, 0x02);
        assert_ne!(a, bridge_mac(&"0a1b2c3d4f".repeat(7)));
        assert_eq!(bridge_mac(""), [0x02, 0, 0, 0, 0, 0]);
    }
}

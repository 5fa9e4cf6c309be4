//! The bridge driver: one Linux bridge per network holding the gateway addresses, one veth pair
//! per endpoint whose sandbox end is created directly inside the sandbox's namespace.

use super::{kernel_err, NETWORK_ALIAS_PREFIX};
use ferry_kernel::netlink::{Netlink, VethSpec};
use ferry_kernel::{netns, sysctl};
use ferry_types::{Endpoint, FerryError, Network};
use ipnet::IpNet;
use std::path::Path;

/// The bridge driver, working in the daemon's (host) namespace.
#[derive(Clone)]
pub struct BridgeDriver {
    nl: Netlink,
    ip_forward: bool,
    firewall: bool,
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
    pub fn new(nl: Netlink, ip_forward: bool, firewall: bool) -> Self {
        Self {
            nl,
            ip_forward,
            firewall,
        }
    }

    /// Makes the network's bridge with its gateway addresses; idempotent, so reconcile can call
    /// it for every network on start.
    pub async fn create_network(&self, net: &Network) -> Result<(), FerryError> {
        let br = net.bridge.as_ref().ok_or_else(|| {
            FerryError::internal(format!("network {} has no bridge settings", net.name))
        })?;
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

    /// Removes the network's bridge.
    pub async fn delete_network(&self, net: &Network) -> Result<(), FerryError> {
        if let Some(br) = &net.bridge {
            self.nl
                .delete_link_by_name(&br.name)
                .await
                .map_err(kernel_err)?;
        }
        Ok(())
    }

    /// Plugs an endpoint in: the veth pair, then, inside the sandbox, its addresses and link.
    /// `ns` is a netlink connection inside the sandbox's namespace at `netns_path`.
    pub async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns_path: &Path,
        ns: &Netlink,
    ) -> Result<(), FerryError> {
        let br = net.bridge.as_ref().ok_or_else(|| {
            FerryError::internal(format!("network {} has no bridge settings", net.name))
        })?;
        let bridge = self
            .nl
            .link(&br.name)
            .await
            .map_err(kernel_err)?
            .ok_or_else(|| {
                FerryError::internal(format!(
                    "bridge {} of network {} is missing; restart the daemon to restore it",
                    br.name, net.name
                ))
            })?;
        let mac = ferry_types::validate::mac_bytes(&ep.mac)
            .ok_or_else(|| FerryError::internal(format!("bad MAC {}", ep.mac)))?;
        self.nl
            .create_veth(&VethSpec {
                host_name: &ep.host_ifname,
                peer_name: &ep.ifname,
                peer_mac: mac,
                mtu: br.mtu,
                bridge_index: bridge.index,
                peer_netns: netns_path,
            })
            .await
            .map_err(kernel_err)?;
        let inside = async {
            if ep.ipv6.is_some() {
                let key = format!("net/ipv6/conf/{}/accept_dad", ep.ifname);
                netns::run_in(netns_path, move || sysctl::set(&key, "0")).map_err(kernel_err)?;
            }
            let idx = ns
                .set_endpoint_up(&ep.ifname, ep.ipv6.is_some())
                .await
                .map_err(kernel_err)?;
            for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                ns.add_address(idx, *a).await.map_err(kernel_err)?;
            }
            Ok::<(), FerryError>(())
        };
        if let Err(e) = inside.await {
            let _ = self.nl.delete_link_by_name(&ep.host_ifname).await;
            return Err(e);
        }
        Ok(())
    }

    /// Unplugs an endpoint: deleting the host end removes the pair.
    pub async fn leave(&self, ep: &Endpoint) -> Result<(), FerryError> {
        self.nl
            .delete_link_by_name(&ep.host_ifname)
            .await
            .map_err(kernel_err)
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
    fn a_bridge_mac_is_local_unicast_and_the_network_s_own() {
        let a = bridge_mac(&format!("0a1b2c3d4e{}", "f".repeat(54)));
        assert_eq!(a, [0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e]);
        // Locally administered, not multicast.
        assert_eq!(a[0] & 0x03, 0x02);
        assert_ne!(a, bridge_mac(&"0a1b2c3d4f".repeat(7)));
        assert_eq!(bridge_mac(""), [0x02, 0, 0, 0, 0, 0]);
    }
}

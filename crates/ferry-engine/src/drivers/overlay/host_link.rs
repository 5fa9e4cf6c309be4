//! The host's own presence on an overlay: a macvlan of the host's namespace on the network's
//! VXLAN device, beside the sandboxes' (its frames to them stay in the macvlans), holds the
//! node's address there, for one of two roles ([`HostRole`]):
//! - **the routing mesh** (`ingress`): a published port's connections leave each node towards
//!   the replicas of every node through it, and come back through it;
//! - **a load balancer**: on an overlay that carries service VIPs, the link also holds the
//!   VIPs, so a sandbox's connection to a VIP that the connect-time path did not rewrite
//!   reaches the host's nftables balancer, and leaves masqueraded to the host's address.
//!
//! It gets a MAC made from that address (`02:42` and its four bytes, as Docker makes its
//! endpoints'), so every node's is different and the others point it at the node.

use super::{config, kernel_err, OverlayConfig, OverlayDriver};
use crate::driver::HostRole;
use ferry_kernel::netlink::{MacvlanMode, SubLinkKind, SubLinkSpec};
use ferry_types::{FerryError, MacAddr, Network};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

/// The routing table of the mesh's replies: marked packets (a connection another node sent
/// here) leave through the host link.
pub const MESH_ROUTE_TABLE: u32 = 4789;
/// The priority of the rule that looks marked packets up there (before `main`).
pub const MESH_RULE_PRIORITY: u32 = 100;
/// The table's placeholder gateway: its neighbour entry is fixed, and nftables sets each
/// packet's real destination MAC on the way out.
const PLACEHOLDER_GW: Ipv4Addr = Ipv4Addr::new(169, 254, 77, 1);
const PLACEHOLDER_MAC: [u8; 6] = [0x02, 0x42, 0, 0, 0, 0];

/// The mark rule of a mesh subnet: marks are nodes' addresses in it, as `mesh_mark` copies
/// them from a MAC (the four bytes as they are on the wire, read as a number of this host's
/// byte order).
fn mark_rule(addr: IpNet) -> Option<(u32, u32)> {
    match addr.trunc() {
        IpNet::V4(n) => Some((
            ferry_firewall::mesh::mark_of(n.network()),
            ferry_firewall::mesh::mark_of(n.netmask()),
        )),
        IpNet::V6(_) => None,
    }
}

/// The host's link on a network (the name the network's bridge had before the overlay's
/// sandboxes got macvlans: the firewall's sets name it).
pub fn host_link_name(network_id: &str) -> String {
    config::bridge_name(network_id)
}

/// The MAC of a host link holding `addr`.
pub fn host_link_mac(addr: IpAddr) -> MacAddr {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            MacAddr::from([0x02, 0x42, o[0], o[1], o[2], o[3]])
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            MacAddr::from([0x02, 0x42, o[12], o[13], o[14], o[15]])
        }
    }
}

/// The host's address on a network and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HostAddr {
    pub addr: IpNet,
    pub role: HostRole,
}

/// A VIP as an address of the host: a /32 (or /128), so it adds no route.
pub(super) fn vip_net(vip: IpAddr) -> IpNet {
    IpNet::from(vip)
}

impl OverlayDriver {
    /// Gives the host `addr` on the network: makes the data plane when missing and the host
    /// link (again, when one is left from before). Returns the host end's name.
    pub(super) async fn join_host(
        &self,
        net: &Network,
        addr: IpNet,
        role: HostRole,
    ) -> Result<String, FerryError> {
        let cfg = OverlayConfig::of(net)?;
        let under = self.underlay()?;
        let peers = self.peers.lock().await;
        let plane = self.ensure_plane(net, &cfg, &under, &peers).await?;
        let host = host_link_name(&net.id);
        let mac = host_link_mac(addr.addr()).octets();
        let mark = config::alias(&net.id);
        let host_index = match self.nl.link(&host).await.map_err(kernel_err)? {
            Some(l)
                if l.alias.as_deref() == Some(mark.as_str()) && l.parent == Some(plane.vxlan) =>
            {
                l.index
            }
            other => {
                if let Some(l) = other.filter(|l| l.alias.as_deref() == Some(mark.as_str())) {
                    self.nl.delete_link(l.index).await.map_err(kernel_err)?;
                }
                self.nl
                    .create_sublink(&SubLinkSpec {
                        name: &host,
                        parent_index: plane.vxlan,
                        kind: SubLinkKind::Macvlan(MacvlanMode::Bridge),
                        mac: Some(mac),
                        mtu: Some(plane.mtu),
                        netns: None,
                    })
                    .await
                    .map_err(kernel_err)?;
                let l = self
                    .nl
                    .link(&host)
                    .await
                    .map_err(kernel_err)?
                    .ok_or_else(|| {
                        FerryError::internal(format!("the host link {host} is gone as it was made"))
                    })?;
                self.nl
                    .set_alias(l.index, &mark)
                    .await
                    .map_err(kernel_err)?;
                // Only the address ferry gives it: IPv6 would add a link-local one.
                let _ =
                    ferry_kernel::sysctl::set(&format!("net/ipv6/conf/{host}/disable_ipv6"), "1");
                l.index
            }
        };
        self.nl.set_mac(host_index, mac).await.map_err(kernel_err)?;
        self.nl.set_up(host_index).await.map_err(kernel_err)?;
        if role == HostRole::Mesh {
            // Mesh traffic enters from other hosts with a client's address, which this host
            // may have no route to at all: no reverse-path check on this link (the kernel
            // takes the stricter of this and `conf/all`, so `all` must not be 1 for the mesh
            // to carry connections that entered on another node).
            let _ = ferry_kernel::sysctl::set(&format!("net/ipv4/conf/{host}/rp_filter"), "0");
            if ferry_kernel::sysctl::get("net/ipv4/conf/all/rp_filter")
                .is_ok_and(|v| v.trim() == "1")
            {
                tracing::warn!("net.ipv4.conf.all.rp_filter is 1 (strict): connections to a published port that enter on another node will not reach this node's replicas; set it to 0 or 2");
            }
        }
        self.nl
            .add_address(host_index, addr)
            .await
            .map_err(kernel_err)?;
        if role == HostRole::Mesh {
            if let Some((mark, mask)) = mark_rule(addr) {
                self.nl
                    .replace_table_default_onlink(
                        MESH_ROUTE_TABLE,
                        PLACEHOLDER_GW,
                        PLACEHOLDER_MAC,
                        host_index,
                    )
                    .await
                    .map_err(kernel_err)?;
                self.nl
                    .add_mark_rule(mark, mask, MESH_ROUTE_TABLE, MESH_RULE_PRIORITY)
                    .await
                    .map_err(kernel_err)?;
            }
        }
        self.host_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(net.id.to_string(), HostAddr { addr, role });
        // The VIPs answer here only while the host has an address of the network: without
        // one a translated connection would have no route into the overlay.
        for vip in self.vips_of(&net.id) {
            self.nl
                .add_address(host_index, vip_net(vip))
                .await
                .map_err(kernel_err)?;
        }
        tracing::info!(network = %net.name, address = %addr, link = %host, role = ?role, "this host joined the overlay");
        Ok(host)
    }

    /// Takes the host's link off the network; the data plane goes with it when no endpoint
    /// is left.
    /// (`addr` goes with the link.)
    pub(super) async fn leave_host(&self, net: &Network, _addr: IpNet) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        let was = self
            .host_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(net.id.as_str());
        if was.is_none_or(|h| h.role == HostRole::Mesh) {
            for s in net.subnets_v4() {
                if let Some((mark, mask)) = mark_rule(s.subnet) {
                    self.nl
                        .delete_mark_rule(mark, mask, MESH_ROUTE_TABLE, MESH_RULE_PRIORITY)
                        .await
                        .map_err(kernel_err)?;
                }
            }
        }
        if let Some(l) = self
            .nl
            .link(&host_link_name(&net.id))
            .await
            .map_err(kernel_err)?
            .filter(|l| l.alias.as_deref() == Some(config::alias(&net.id).as_str()))
        {
            self.nl.delete_link(l.index).await.map_err(kernel_err)?;
        }
        if self.plane(&net.id).await?.is_some() && self.live_members(&net.id) == 0 {
            self.remove_plane(&net.id).await?;
        }
        Ok(())
    }

    /// The VIPs recorded on a network.
    pub(super) fn vips_of(&self, net_id: &str) -> Vec<IpAddr> {
        self.vips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(net_id)
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The host's address on a network, when it holds one.
    pub(super) fn host_addr(&self, net_id: &str) -> Option<HostAddr> {
        self.host_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(net_id)
            .copied()
    }

    /// The host's link on a network, when it has one.
    pub(super) async fn host_link_index(&self, net_id: &str) -> Result<Option<u32>, FerryError> {
        Ok(self
            .nl
            .link(&host_link_name(net_id))
            .await
            .map_err(kernel_err)?
            .filter(|l| l.alias.as_deref() == Some(config::alias(net_id).as_str()))
            .map(|l| l.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_links_are_named_within_the_kernel_s_limit_and_their_macs_follow_the_address() {
        let id = "ab".repeat(32);
        assert!(host_link_name(&id).len() <= 15);
        assert_eq!(
            host_link_mac("10.0.0.5".parse().unwrap()).to_string(),
            "02:42:0a:00:00:05"
        );
    }
}

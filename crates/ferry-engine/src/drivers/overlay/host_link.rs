//! The host's own link on an overlay: a veth pair whose one end is a port of the network's
//! bridge and whose other end, in the host namespace, holds the node's address on the
//! network. The routing mesh uses it on the `ingress` network: a published port's
//! connections leave each node towards the replicas of every node through it. The end in
//! the host has a MAC made from its address (`02:42` and the four bytes, as Docker makes
//! its endpoints'), so every node's is different and the others can point it at the node.

use super::{kernel_err, OverlayConfig, OverlayDriver};
use ferry_types::{FerryError, MacAddr, Network};
use ipnet::IpNet;
use std::net::IpAddr;

/// The host end of a network's host link.
pub fn host_link_name(network_id: &str) -> String {
    format!("fh-{}", ferry_types::ids::short(network_id))
}

/// Its bridge end.
fn bridge_end_name(network_id: &str) -> String {
    format!("fp-{}", ferry_types::ids::short(network_id))
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

impl OverlayDriver {
    /// Gives the host `addr` on the network: makes the data plane when missing and the host
    /// link (again, when one is left from before). Returns the host end's name.
    pub(super) async fn join_host(&self, net: &Network, addr: IpNet) -> Result<String, FerryError> {
        let cfg = OverlayConfig::of(net)?;
        let under = self.underlay()?;
        let peers = self.peers.lock().await;
        let plane = self.ensure_plane(net, &cfg, &under, &peers).await?;
        let host = host_link_name(&net.id);
        let port = bridge_end_name(&net.id);
        for name in [&host, &port] {
            if let Some(l) = self.nl.link(name).await.map_err(kernel_err)? {
                self.nl.delete_link(l.index).await.map_err(kernel_err)?;
            }
        }
        self.nl
            .create_veth_pair(&host, &port, Some(plane.mtu))
            .await
            .map_err(kernel_err)?;
        let host_index = self
            .nl
            .link(&host)
            .await
            .map_err(kernel_err)?
            .map(|l| l.index)
            .ok_or_else(|| FerryError::internal(format!("link {host} vanished")))?;
        let port_index = self
            .nl
            .link(&port)
            .await
            .map_err(kernel_err)?
            .map(|l| l.index)
            .ok_or_else(|| FerryError::internal(format!("link {port} vanished")))?;
        self.nl
            .set_mac(host_index, host_link_mac(addr.addr()).octets())
            .await
            .map_err(kernel_err)?;
        self.nl
            .set_controller(port_index, plane.bridge)
            .await
            .map_err(kernel_err)?;
        // Mesh traffic enters from other hosts with a client's address: the reverse path is
        // the host's default route, not this link.
        let _ = ferry_kernel::sysctl::set(&format!("net/ipv4/conf/{host}/rp_filter"), "2");
        let _ = ferry_kernel::sysctl::set(&format!("net/ipv6/conf/{host}/disable_ipv6"), "1");
        self.nl
            .add_address(host_index, addr)
            .await
            .map_err(kernel_err)?;
        self.nl.set_up(host_index).await.map_err(kernel_err)?;
        self.nl.set_up(port_index).await.map_err(kernel_err)?;
        tracing::info!(network = %net.name, address = %addr, link = %host, "this host joined the overlay");
        Ok(host)
    }

    /// Takes the host's link off the network; the data plane goes with it when no endpoint
    /// is left.
    pub(super) async fn leave_host(&self, net: &Network) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        if let Some(l) = self
            .nl
            .link(&host_link_name(&net.id))
            .await
            .map_err(kernel_err)?
        {
            self.nl.delete_link(l.index).await.map_err(kernel_err)?;
        }
        if let Some(plane) = self.plane(&net.id).await? {
            if self.live_ports(&plane).await? == 0 {
                self.remove_plane(&net.id).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_links_are_named_within_the_kernel_s_limit_and_their_macs_follow_the_address() {
        let id = "ab".repeat(32);
        assert!(host_link_name(&id).len() <= 15);
        assert!(bridge_end_name(&id).len() <= 15);
        assert_eq!(
            host_link_mac("10.0.0.5".parse().unwrap()).to_string(),
            "02:42:0a:00:00:05"
        );
    }
}

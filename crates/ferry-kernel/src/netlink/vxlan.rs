//! The overlay's kernel pieces: a VXLAN device with learning off and ARP answered locally
//! (`proxy`), and the static entries that stand for remote endpoints: a neighbour (IP to MAC
//! on the VXLAN device, so a sandbox's ARP is answered without flooding) and a forwarding
//! entry (MAC to the VTEP of the host it lives on). Both are written with replace semantics,
//! so a MAC that moved to another host, or an entry the kernel learnt, never makes them fail.

use super::{nl_err, Netlink, ENODEV};
use crate::error::Result;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::AddressFamily;
use rtnetlink::LinkVxlan;
use std::net::{IpAddr, Ipv4Addr};

/// A VXLAN device to make.
#[derive(Debug, Clone)]
pub struct VxlanSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// The network's VXLAN ID.
    pub vni: u32,
    /// The UDP port (IANA's 4789 unless the cluster sets another).
    pub port: u16,
    /// This host's underlay address (the VTEP).
    pub local: Ipv4Addr,
    /// The underlay interface (its MTU less 50 becomes the device's unless `mtu` is set).
    pub underlay_index: u32,
    /// The device's MTU.
    pub mtu: Option<u32>,
}

const EEXIST: i32 = 17;
const ENOENT: i32 = 2;

impl Netlink {
    /// Makes a VXLAN device: learning off (remote MACs come from the cluster's records, never
    /// from traffic), ARP proxy on (answered from the static neighbours).
    pub async fn create_vxlan(&self, spec: &VxlanSpec<'_>) -> Result<u32> {
        let mut b = LinkVxlan::new(spec.name, spec.vni)
            .port(spec.port)
            .local(spec.local)
            .dev(spec.underlay_index)
            .learning(false)
            .proxy(true);
        if let Some(m) = spec.mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(format!("create VXLAN {} (VNI {})", spec.name, spec.vni), e))?;
        self.index_of(spec.name, || format!("create VXLAN {}", spec.name))
            .await
    }

    /// Points a remote MAC at the VTEP of its host (`bridge fdb replace MAC dev VX dst VTEP
    /// self permanent`).
    pub async fn fdb_replace(&self, vxlan: u32, mac: [u8; 6], vtep: Ipv4Addr) -> Result<()> {
        self.handle
            .neighbours()
            .add_bridge(vxlan, &mac)
            .destination(IpAddr::V4(vtep))
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("point {} at {vtep}", fmt_mac(mac)), e))
    }

    /// Removes a remote MAC's forwarding entry (already gone is fine).
    pub async fn fdb_delete(&self, vxlan: u32, mac: [u8; 6], vtep: Ipv4Addr) -> Result<()> {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = vxlan;
        m.header.state = NeighbourState::Permanent;
        m.header.flags = NeighbourFlags::Own;
        m.header.kind = RouteType::Unspec;
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                vtep,
            )));
        self.delete_neighbour(m, format!("forget {}", fmt_mac(mac)))
            .await
    }

    /// Answers ARP for a remote IP with its MAC (`ip neigh replace IP lladdr MAC dev VX nud
    /// permanent`).
    pub async fn neigh_replace(&self, vxlan: u32, ip: IpAddr, mac: [u8; 6]) -> Result<()> {
        self.handle
            .neighbours()
            .add(vxlan, ip)
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("neighbour {ip} at {}", fmt_mac(mac)), e))
    }

    /// Removes a remote IP's neighbour entry (already gone is fine).
    pub async fn neigh_delete(&self, vxlan: u32, ip: IpAddr) -> Result<()> {
        let mut m = NeighbourMessage::default();
        m.header.family = match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.ifindex = vxlan;
        m.header.state = NeighbourState::Permanent;
        m.header.kind = RouteType::Unspec;
        m.attributes.push(NeighbourAttribute::Destination(match ip {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
        self.delete_neighbour(m, format!("forget neighbour {ip}"))
            .await
    }

    async fn delete_neighbour(&self, m: NeighbourMessage, op: String) -> Result<()> {
        match self.handle.neighbours().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(op, e);
                match err.raw_errno() {
                    Some(ENOENT) | Some(ENODEV) | Some(EEXIST) => Ok(()),
                    _ => Err(err),
                }
            }
        }
    }
}

fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

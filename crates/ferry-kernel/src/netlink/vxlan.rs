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

/// The static entries of a VXLAN device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VxlanEntries {
    /// Forwarding entries: a remote MAC and the VTEP it lives behind.
    pub fdb: Vec<([u8; 6], Ipv4Addr)>,
    /// Neighbours: a remote address and its MAC.
    pub neighbours: Vec<(IpAddr, [u8; 6])>,
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
            .proxy(true)
            // No outer UDP checksum (as VXLAN over IPv4 allows): the inner packet carries its
            // own, and computing a second one per packet costs a fifth of a stream's rate.
            .udp_csum(false);
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

    /// The static entries on a VXLAN device: its forwarding entries (MAC, VTEP) and its
    /// neighbours (IP, MAC), as a restart compares them with the cluster's records.
    pub async fn vxlan_entries(&self, vxlan: u32) -> Result<VxlanEntries> {
        use futures::TryStreamExt;
        let mut out = VxlanEntries::default();
        // A dump of no family lists the IP neighbours; the forwarding entries are the bridge
        // family's. One after the other: two dumps at once on one socket lose messages.
        let mut msgs = Vec::new();
        for family in [None, Some(AddressFamily::Bridge)] {
            let mut req = self.handle.neighbours().get();
            if let Some(f) = family {
                req = req.set_address_family(f);
            }
            let mut s = req.execute();
            while let Some(m) = s
                .try_next()
                .await
                .map_err(|e| nl_err("list neighbours", e))?
            {
                msgs.push(m);
            }
        }
        for m in msgs {
            // NUD_PERMANENT, maybe with other bits (`bridge fdb ... permanent` adds NOARP).
            if m.header.ifindex != vxlan || u16::from(m.header.state) & 0x80 == 0 {
                continue;
            }
            let mut mac = None;
            let mut dst = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::LinkLayerAddress(l) => {
                        mac = <[u8; 6]>::try_from(l.as_slice()).ok()
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                        dst = Some(IpAddr::V4(*a))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                        dst = Some(IpAddr::V6(*a))
                    }
                    // A forwarding entry's VTEP, which the bridge family leaves unparsed.
                    NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                        dst = <[u8; 4]>::try_from(b.as_slice())
                            .ok()
                            .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
                    }
                    _ => {}
                }
            }
            match (m.header.family, mac, dst) {
                (AddressFamily::Bridge, Some(mac), Some(IpAddr::V4(vtep))) => {
                    out.fdb.push((mac, vtep))
                }
                (AddressFamily::Inet | AddressFamily::Inet6, Some(mac), Some(ip)) => {
                    out.neighbours.push((ip, mac))
                }
                _ => {}
            }
        }
        Ok(out)
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

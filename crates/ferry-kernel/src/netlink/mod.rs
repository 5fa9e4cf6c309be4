//! rtnetlink operations: links (bridges, veth pairs, the links made on a parent interface:
//! macvlan, ipvlan, 802.1q VLANs, in `sublink`, and the overlay's VXLAN devices with their
//! static forwarding and neighbour entries, in `vxlan`), addresses and routes, in the network
//! namespace the connection was opened in.

mod handover;
mod mesh;
mod sublink;
mod vxlan;

pub use sublink::{
    link_kind_supported, module_of, sublink_message, IpvlanFlag, IpvlanMode, MacvlanMode,
    SubLinkKind, SubLinkSpec,
};
pub use vxlan::{VxlanEntries, VxlanSpec};

use crate::error::{KernelError, Result};
use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkInfo,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

pub(crate) const EEXIST: i32 = 17;
pub(crate) const ENODEV: i32 = 19;
pub(crate) const ESRCH: i32 = 3;

pub(crate) fn nl_err(op: impl Into<String>, e: rtnetlink::Error) -> KernelError {
    let errno = match &e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    };
    let message = match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    };
    KernelError::Netlink {
        op: op.into(),
        message,
        errno,
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link kind (`bridge`, `veth`, ...), when it has one.
    pub kind: Option<String>,
    /// The interface alias (ferry marks its own links with one).
    pub alias: Option<String>,
    /// Index of the bridge it is attached to.
    pub controller: Option<u32>,
    /// Index of the link it is made on (a macvlan's or VLAN's parent; a veth's peer).
    pub parent: Option<u32>,
    /// Its MAC address, when it has one of six bytes.
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: Option<u32>,
}

/// What a veth pair for an endpoint looks like.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Name of the host end.
    pub host_name: &'a str,
    /// Name of the sandbox end inside its namespace (eth0, ...).
    pub peer_name: &'a str,
    /// MAC of the sandbox end.
    pub peer_mac: [u8; 6],
    /// MTU of both ends.
    pub mtu: u32,
    /// The bridge the host end joins.
    pub bridge_index: u32,
    /// Namespace file of the sandbox.
    pub peer_netns: &'a Path,
}

/// The link group (`IFLA_GROUP`) of retired links: links are in group 0 unless someone sets
/// one, and nothing but ferry uses this one (it spells "fzry").
pub const RETIRED_GROUP: u32 = 0x667a_7279;

/// An rtnetlink connection bound to one network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Connects in the calling thread's network namespace. Must run inside a tokio runtime.
    pub fn connect() -> Result<Self> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| KernelError::io("open netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// Connects inside the namespace at `netns`: the socket is opened by a helper thread that
    /// joined the namespace (a socket keeps the namespace it was made in).
    pub fn connect_in(netns: &Path) -> Result<Self> {
        let rt = tokio::runtime::Handle::current();
        crate::netns::run_in(netns, move || {
            let _guard = rt.enter();
            Netlink::connect()
        })
    }

    /// Looks a link up by name.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(to_link(&m))),
            Ok(None) => Ok(None),
            Err(e) => {
                let err = nl_err(format!("look up link {name}"), e);
                if err.raw_errno() == Some(ENODEV) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let mut s = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s.try_next().await.map_err(|e| nl_err("list links", e))? {
            out.push(to_link(&m));
        }
        Ok(out)
    }

    /// The ports of a bridge. The kernel filters the dump by controller, so the cost follows
    /// the bridge's ports, not every link of the namespace.
    pub async fn ports_of(&self, bridge: u32) -> Result<Vec<Link>> {
        let mut req = self.handle.link().get();
        req.message_mut()
            .attributes
            .push(LinkAttribute::Controller(bridge));
        let mut s = req.execute();
        let mut out = Vec::new();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| nl_err(format!("list the ports of bridge {bridge}"), e))?
        {
            let l = to_link(&m);
            // An older kernel that ignores the filter sends every link.
            if l.controller == Some(bridge) {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// Creates a bridge, up, with the given MTU and MAC; returns its index. The MAC is set in
    /// the request that creates it, so it marks the bridge from its first instant (an alias
    /// takes a second request: see `set_alias`).
    pub async fn create_bridge(&self, name: &str, mtu: u32, mac: [u8; 6]) -> Result<u32> {
        // Without a multicast querier a snooping bridge floods anyway; snooping off spares
        // re-arming two query timers on every port each time a port comes up (O(ports)).
        let msg = LinkBridge::new(name)
            .mtu(mtu)
            .address(mac.to_vec())
            .mcast_snooping(false)
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("create bridge {name}"), e))?;
        // Gone between its creation and this lookup: someone deleted it at once.
        self.index_of(name, || format!("create bridge {name}"))
            .await
    }

    /// Sends a change of a link.
    async fn set_link(
        &self,
        msg: netlink_packet_route::link::LinkMessage,
        op: impl FnOnce() -> String,
    ) -> Result<()> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| nl_err(op(), e))
    }

    /// The index of the link named `name`, which must exist (`op` says what needed it).
    pub(crate) async fn index_of(&self, name: &str, op: impl FnOnce() -> String) -> Result<u32> {
        self.link(name)
            .await?
            .map(|l| l.index)
            .ok_or_else(|| KernelError::Netlink {
                op: op(),
                message: "no such interface".into(),
                errno: Some(ENODEV),
            })
    }

    /// Sets a link's alias (the kernel ignores IFLA_IFALIAS when a link is created, so it is
    /// set in a second request).
    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).alias(alias).build();
        self.set_link(msg, || format!("set alias of link {index}"))
            .await
    }

    /// Creates a veth pair whose host end joins a bridge and whose other end is created
    /// directly inside the sandbox's namespace (no rename dance, no name clash with the host).
    pub async fn create_veth(&self, spec: &VethSpec<'_>) -> Result<()> {
        let ns = std::fs::File::open(spec.peer_netns)
            .map_err(|e| KernelError::io(format!("open netns {}", spec.peer_netns.display()), e))?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(spec.peer_name.to_string())
            .address(spec.peer_mac.to_vec())
            .mtu(spec.mtu)
            .setns_by_fd(ns.as_raw_fd())
            .build();
        // The host end is a bridge port and needs no IPv6 of its own. Left on, each new port
        // runs DAD and MLD (flooded to every port of the bridge, under the RTNL lock) and adds
        // a multicast route whose carrier changes walk the whole IPv6 route table: per-start
        // costs that grow with the number of sandboxes. So it is made down, IPv6 is disabled
        // on it (a sysctl: there is no netlink attribute for it), then it is set up.
        let msg = LinkVeth::new(spec.host_name, spec.peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .mtu(spec.mtu)
            .controller(spec.bridge_index)
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err(format!("create veth {}", spec.host_name), e))?;
        match crate::sysctl::set(
            &format!("net/ipv6/conf/{}/disable_ipv6", spec.host_name),
            "1",
        ) {
            Err(KernelError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {} // IPv6 is off host-wide
            other => other?,
        }
        let up = LinkUnspec::new_with_name(spec.host_name).up().build();
        self.set_link(up, || format!("set {} up", spec.host_name))
            .await
    }

    /// Sets a sandbox's interface up. Without IPv6 addresses of its own it gets no link-local
    /// address either (address generation off, set in the same request), so it sends no DAD
    /// or MLD packets, which its bridge would flood to every other sandbox.
    pub async fn set_endpoint_up(&self, name: &str, ipv6: bool) -> Result<u32> {
        let index = self.index_of(name, || format!("set {name} up")).await?;
        let mut msg = LinkUnspec::new_with_index(index).up();
        if !ipv6 {
            msg =
                msg.append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )]));
        }
        self.set_link(msg.build(), || format!("set {name} up"))
            .await?;
        Ok(index)
    }

    /// Sets a link up.
    pub async fn set_up(&self, index: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.set_link(msg, || format!("set link {index} up")).await
    }

    /// Sets a link's MAC address.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        self.set_link(msg, || format!("set the MAC of link {index}"))
            .await
    }

    /// Attaches a link to a bridge.
    pub async fn set_controller(&self, index: u32, bridge: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).controller(bridge).build();
        self.set_link(msg, || format!("attach link {index} to bridge {bridge}"))
            .await
    }

    /// Sets a link down, into [`RETIRED_GROUP`], and renames it (a down link can be renamed):
    /// it stops carrying traffic and frees its name at once, for a deletion that may finish
    /// later, together with the others retired meanwhile ([`Netlink::delete_retired`]).
    pub async fn retire(&self, index: u32, new_name: &str) -> Result<()> {
        let mut down = LinkUnspec::new_with_index(index).down().build();
        down.attributes
            .push(netlink_packet_route::link::LinkAttribute::Group(
                RETIRED_GROUP,
            ));
        self.set_link(down, || format!("set link {index} down"))
            .await?;
        let rename = LinkUnspec::new_with_index(index).name(new_name).build();
        self.set_link(rename, || format!("rename link {index} to {new_name}"))
            .await
    }

    /// Sets a link up by name.
    pub async fn set_up_by_name(&self, name: &str) -> Result<u32> {
        let index = self.index_of(name, || format!("set {name} up")).await?;
        self.set_up(index).await?;
        Ok(index)
    }

    /// Adds an address (already present is fine).
    pub async fn add_address(&self, index: u32, addr: IpNet) -> Result<()> {
        match self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("add address {addr} to link {index}"), e);
                if err.raw_errno() == Some(EEXIST) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes an address from a link (already gone, or the link gone, is fine).
    pub async fn delete_address(&self, index: u32, addr: IpNet) -> Result<()> {
        use futures::TryStreamExt;
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(addr.addr())
            .set_prefix_length_filter(addr.prefix_len())
            .execute();
        let msg = match found.try_next().await {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => {
                let err = nl_err(format!("find address {addr} on link {index}"), e);
                return if err.raw_errno() == Some(ENODEV) {
                    Ok(())
                } else {
                    Err(err)
                };
            }
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("delete address {addr} from link {index}"), e);
                match err.raw_errno() {
                    Some(ENODEV) | Some(libc::EADDRNOTAVAIL) => Ok(()),
                    _ => Err(err),
                }
            }
        }
    }

    /// Deletes a link (already gone is fine).
    pub async fn delete_link(&self, index: u32) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err(format!("delete link {index}"), e);
                if err.raw_errno() == Some(ENODEV) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes every retired link of this namespace (see [`Netlink::retire`]) in one request:
    /// the kernel unregisters them together, waiting out its RCU grace periods once for all
    /// rather than once each. Returns `false` when there was none.
    pub async fn delete_retired(&self) -> Result<bool> {
        let mut req = self.handle.link().del(0);
        req.message_mut()
            .attributes
            .push(netlink_packet_route::link::LinkAttribute::Group(
                RETIRED_GROUP,
            ));
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) => {
                let err = nl_err("delete retired links", e);
                if err.raw_errno() == Some(ENODEV) {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes a link by name (already gone is fine).
    pub async fn delete_link_by_name(&self, name: &str) -> Result<()> {
        match self.link(name).await? {
            Some(l) => self.delete_link(l.index).await,
            None => Ok(()),
        }
    }

    /// The index of the interface that holds `addr`, if one does.
    pub async fn link_with_address(&self, addr: IpAddr) -> Result<Option<u32>> {
        use netlink_packet_route::address::AddressAttribute;
        let mut s = self.handle.address().get().execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| nl_err("list addresses", e))?
        {
            let holds = m.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Local(a) | AddressAttribute::Address(a) if *a == addr)
            });
            if holds {
                return Ok(Some(m.header.index));
            }
        }
        Ok(None)
    }

    /// Destinations of the main routing table's routes of both families (the default route
    /// excluded): the subnets in use on this host.
    pub async fn route_destinations(&self) -> Result<Vec<IpNet>> {
        let mut out = Vec::new();
        for msg in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut s = self.handle.route().get(msg).execute();
            while let Some(m) = s.try_next().await.map_err(|e| nl_err("list routes", e))? {
                let plen = m.header.destination_prefix_length;
                if plen == 0 || m.header.table != 254 {
                    continue;
                }
                let dst = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                    _ => None,
                });
                if let Some(net) = dst.and_then(|d| IpNet::new(d, plen).ok()) {
                    // Link-local and multicast routes say nothing about subnets in use.
                    if matches!(net, IpNet::V6(n) if n.addr().segments()[0] & 0xffc0 == 0xfe80 || n.addr().is_multicast())
                    {
                        continue;
                    }
                    out.push(net.trunc());
                }
            }
        }
        Ok(out)
    }

    /// Sets the default route of the address's family via `gw`, replacing any present.
    pub async fn replace_default_route(&self, gw: IpAddr) -> Result<()> {
        let msg = match gw {
            IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(g).build(),
            IpAddr::V6(g) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(g).build(),
        };
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("set default route via {gw}"), e))
    }

    /// Adds an on-link route to `dst` out of the interface `index` (present is fine).
    pub async fn add_device_route(&self, index: u32, dst: IpNet) -> Result<()> {
        let msg = match dst {
            IpNet::V4(n) => RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(n.addr(), n.prefix_len())
                .output_interface(index)
                .build(),
            IpNet::V6(n) => RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(n.addr(), n.prefix_len())
                .output_interface(index)
                .build(),
        };
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(format!("add route to {dst}"), e))
    }

    /// Removes the default route of a family (absent is fine).
    pub async fn delete_default_route(&self, v6: bool) -> Result<()> {
        let msg = if v6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = nl_err("delete default route", e);
                if err.raw_errno() == Some(ESRCH) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

fn to_link(m: &netlink_packet_route::link::LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        controller: None,
        parent: None,
        mac: None,
        mtu: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::IfAlias(n) => l.alias = Some(n.clone()),
            LinkAttribute::Controller(c) => l.controller = Some(*c),
            LinkAttribute::Link(p) => l.parent = Some(*p),
            LinkAttribute::Mtu(m) => l.mtu = Some(*m),
            LinkAttribute::Address(a) => l.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(match k {
                            InfoKind::Other(s) => s.clone(),
                            other => other.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    l
}

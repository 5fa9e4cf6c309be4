//! The overlay driver: networks that span the nodes of a swarm. Each node that has an
//! endpoint on a network holds the network's data plane: a VXLAN device (learning off, ARP
//! answered locally) whose static entries point every remote endpoint's MAC at its node and
//! answer for its addresses, and on it a macvlan (bridge mode) per sandbox, made inside the
//! sandbox. Frames between two sandboxes of the node stay in the macvlans; the others go
//! straight to the VXLAN device. No veth pair and no bridge: each would cost the path a trip
//! through a backlog queue, and a bridge also br_netfilter's hooks where the kernel has them
//! on (docs/BENCHMARKS.md, "Where the overlay's CPU goes"). The data plane is made with the
//! node's first endpoint on the network and removed with its last.
//!
//! The endpoints of other nodes come from the cluster's peer records (see
//! [`crate::driver::PeerAware`]): the driver remembers them all, and programs those of the
//! networks whose data plane it holds. The host has no link on an overlay (a macvlan's parent
//! does not see its macvlans' frames) unless it joins the network itself (`host_link.rs`: the
//! routing mesh's `ingress`, or the nftables path of an overlay's VIPs), and even then it is no
//! router between an overlay and anything else (the firewall's `bridges` and
//! `mesh_links`/`lb_links` sets), so two overlays, or an overlay and a bridge
//! network, cannot reach each other through it.

mod config;
mod host_link;
mod peers;

pub use config::{OverlayConfig, ALIAS_PREFIX, VETH_PREFIX};
pub use host_link::{host_link_mac, host_link_name};

use super::{kernel_err, DriverContext};
use crate::cluster::ClusterSlot;
use crate::driver::{
    Capability, HostRole, JoinInfo, NetworkDriver, Owned, PeerAware, SandboxNs, Scope, Stack,
    VipHost,
};
use ferry_cluster::PeerRecord;
use ferry_driver_options::overlay::parse_overlay_options;
use ferry_kernel::netlink::{MacvlanMode, Netlink, SubLinkKind, SubLinkSpec, VxlanSpec};
use ferry_types::{Endpoint, FerryError, Network};
use host_link::{vip_net, HostAddr};
use peers::PeerCache;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

/// VXLAN's encapsulation: outer IPv4 (20), UDP (8), VXLAN (8) and inner Ethernet (14) headers.
pub const VXLAN_OVERHEAD: u32 = 50;

/// The overlay driver.
pub struct OverlayDriver {
    nl: Netlink,
    reaper: Arc<super::reaper::Reaper>,
    cluster: Arc<ClusterSlot>,
    /// The remote endpoints; its lock also orders every change of a data plane (a join's
    /// making it, a leave's removing it, a peer's entries).
    peers: tokio::sync::Mutex<PeerCache>,
    /// The host's own address on the networks it joined, by network ID.
    host_addrs: std::sync::Mutex<HashMap<String, HostAddr>>,
    /// The service VIPs of each network, by network ID: on the bridge while the host holds
    /// an address there.
    vips: std::sync::Mutex<HashMap<String, BTreeSet<IpAddr>>>,
    /// The endpoints of this node on each network: what keeps its data plane. The macvlans
    /// live in the sandboxes' namespaces, where the host cannot list them; the start's
    /// sweep sets this from the live endpoints, joins and leaves keep it.
    members: std::sync::Mutex<HashMap<String, HashSet<String>>>,
}

/// A network's data plane on this node.
struct Plane {
    vxlan: u32,
    mtu: u32,
}

/// Where this node's overlay traffic leaves from.
struct Underlay {
    vtep: Ipv4Addr,
    port: u16,
    node_id: String,
}

impl OverlayDriver {
    /// A driver working in the daemon's (host) namespace.
    pub fn new(ctx: &DriverContext) -> Self {
        OverlayDriver {
            nl: ctx.nl.clone(),
            reaper: ctx.reaper.clone(),
            cluster: ctx.cluster.clone(),
            peers: tokio::sync::Mutex::new(PeerCache::default()),
            host_addrs: Default::default(),
            vips: Default::default(),
            members: Default::default(),
        }
    }

    /// Counts `endpoint_id` in (or out of) the network's members; returns how many are left.
    fn member(&self, net_id: &str, endpoint_id: &str, present: bool) -> usize {
        let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let set = m.entry(net_id.to_string()).or_default();
        if present {
            set.insert(endpoint_id.to_string());
        } else {
            set.remove(endpoint_id);
        }
        let n = set.len();
        if n == 0 {
            m.remove(net_id);
        }
        n
    }

    fn underlay(&self) -> Result<Underlay, FerryError> {
        let link = self.cluster.get().ok_or_else(not_in_swarm)?;
        match link.advertise_addr {
            IpAddr::V4(vtep) => Ok(Underlay {
                vtep,
                port: link.data_path_port,
                node_id: link.node_id.clone(),
            }),
            IpAddr::V6(a) => Err(FerryError::invalid(format!(
                "this node advertises {a}: ferry's overlay carries its traffic over IPv4; give the swarm an IPv4 --advertise-addr"
            ))),
        }
    }

    /// The network's data plane, when this node holds it. A VXLAN device that is a bridge's
    /// port is a plane of the earlier layout (a bridge and veths), which cannot carry
    /// macvlans: it is no plane, and is made again.
    async fn plane(&self, net_id: &str) -> Result<Option<Plane>, FerryError> {
        let mark = config::alias(net_id);
        Ok(self
            .nl
            .link(&config::vxlan_name(net_id))
            .await
            .map_err(kernel_err)?
            .filter(|l| l.alias.as_deref() == Some(mark.as_str()) && l.controller.is_none())
            .map(|l| Plane {
                vxlan: l.index,
                mtu: l.mtu.unwrap_or(1450),
            }))
    }

    /// Makes the network's data plane when this node lacks it, with the entries of every
    /// remote endpoint known; finishes a half-made one.
    async fn ensure_plane(
        &self,
        net: &Network,
        cfg: &OverlayConfig,
        under: &Underlay,
        peers: &PeerCache,
    ) -> Result<Plane, FerryError> {
        if let Some(p) = self.plane(&net.id).await? {
            return Ok(p);
        }
        // Half made by a daemon that died: start again.
        self.remove_plane(&net.id).await?;
        let underlay_index = self
            .nl
            .link_with_address(IpAddr::V4(under.vtep))
            .await
            .map_err(kernel_err)?
            .ok_or_else(|| {
                FerryError::unavailable(format!(
                    "no interface of this host holds the swarm's advertise address {}; the overlay cannot send its traffic",
                    under.vtep
                ))
            })?;
        let underlay_mtu = self
            .nl
            .links()
            .await
            .map_err(kernel_err)?
            .into_iter()
            .find(|l| l.index == underlay_index)
            .and_then(|l| l.mtu)
            .unwrap_or(1500);
        let mtu = cfg
            .mtu
            .unwrap_or(underlay_mtu.saturating_sub(VXLAN_OVERHEAD));
        let mark = config::alias(&net.id);
        let vxlan = self
            .nl
            .create_vxlan(&VxlanSpec {
                name: &config::vxlan_name(&net.id),
                vni: cfg.vni,
                port: under.port,
                local: under.vtep,
                underlay_index,
                mtu: Some(mtu),
            })
            .await
            .map_err(|e| match e.raw_errno() {
                Some(17) => FerryError::conflict(format!(
                    "VXLAN ID {} on UDP port {} is already used by another interface of this host; remove it or give the network another ID",
                    cfg.vni, under.port
                )),
                _ => kernel_err(e),
            })?;
        self.nl.set_alias(vxlan, &mark).await.map_err(kernel_err)?;
        // The VXLAN device holds no address either: IPv6 would give it a link-local one.
        let _ = ferry_kernel::sysctl::set(
            &format!("net/ipv6/conf/{}/disable_ipv6", config::vxlan_name(&net.id)),
            "1",
        );
        self.nl.set_up(vxlan).await.map_err(kernel_err)?;
        let plane = Plane { vxlan, mtu };
        for p in peers.of_network(&net.id) {
            if p.node_id != under.node_id {
                self.program(&plane, &p).await?;
            }
        }
        tracing::info!(network = %net.name, vni = cfg.vni, mtu, "overlay data plane made");
        Ok(plane)
    }

    /// Removes a network's data plane (what is gone is fine), the macvlans on it with it, and
    /// the bridge of the earlier layout. Deleted at once, not retired: a VXLAN device holds
    /// its ID and port until it is gone, which a new plane needs.
    async fn remove_plane(&self, net_id: &str) -> Result<(), FerryError> {
        let mark = config::alias(net_id);
        for name in [config::vxlan_name(net_id), config::bridge_name(net_id)] {
            if let Some(l) = self.nl.link(&name).await.map_err(kernel_err)? {
                if l.alias.as_deref() == Some(mark.as_str()) || l.alias.is_none() {
                    self.nl.delete_link(l.index).await.map_err(kernel_err)?;
                }
            }
        }
        Ok(())
    }

    /// Points a remote endpoint's MAC at its node and answers for its addresses.
    async fn program(&self, plane: &Plane, p: &PeerRecord) -> Result<(), FerryError> {
        let mac = p.mac.octets();
        self.nl
            .fdb_replace(plane.vxlan, mac, p.vtep)
            .await
            .map_err(kernel_err)?;
        for ip in p.addrs() {
            self.nl
                .neigh_replace(plane.vxlan, ip, mac)
                .await
                .map_err(kernel_err)?;
        }
        Ok(())
    }

    /// Removes a remote endpoint's entries, but not those another known peer still needs
    /// (an address or MAC that moved to another endpoint).
    async fn unprogram(
        &self,
        plane: &Plane,
        gone: &PeerRecord,
        others: &[PeerRecord],
    ) -> Result<(), FerryError> {
        if !others.iter().any(|o| o.mac == gone.mac) {
            self.nl
                .fdb_delete(plane.vxlan, gone.mac.octets(), gone.vtep)
                .await
                .map_err(kernel_err)?;
        }
        for ip in gone.addrs() {
            if !others.iter().any(|o| o.addrs().contains(&ip)) {
                self.nl
                    .neigh_delete(plane.vxlan, ip)
                    .await
                    .map_err(kernel_err)?;
            }
        }
        Ok(())
    }

    /// How many of this node's endpoints are on the network.
    fn live_members(&self, net_id: &str) -> usize {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(net_id)
            .map_or(0, HashSet::len)
    }
}

/// The refusal of overlay work on a node outside a swarm (Docker's words, ferry's commands).
fn not_in_swarm() -> FerryError {
    FerryError::unavailable(
        "this node is not part of a swarm: overlay networks need one; run `ferry swarm init` or `ferry swarm join` first",
    )
}

#[async_trait::async_trait]
impl NetworkDriver for OverlayDriver {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn capability(&self) -> Capability {
        Capability {
            scope: Scope::Global,
            stack: Stack::Endpoints,
            singleton: false,
            host_gateway: false,
            routes_out: false,
        }
    }

    /// The VXLAN ID is the cluster's choice, recorded in the options before this is called.
    async fn configure(
        &self,
        net: &mut Network,
        _others: &[&Network],
    ) -> Result<serde_json::Value, FerryError> {
        let o = parse_overlay_options(&net.options)?;
        let vni = o.vni.ok_or_else(|| {
            FerryError::internal(format!(
                "overlay network {} has no VXLAN ID: the cluster gives one when it is created",
                net.name
            ))
        })?;
        serde_json::to_value(OverlayConfig { vni, mtu: o.mtu })
            .map_err(|e| FerryError::internal(e.to_string()))
    }

    fn endpoint_state(&self, _net: &Network, _endpoint_id: &str) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Nothing: a node makes a network's data plane with its first endpoint on it.
    async fn create_network(&self, _net: &Network) -> Result<(), FerryError> {
        Ok(())
    }

    async fn delete_network(&self, net: &Network) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        self.host_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(net.id.as_str());
        self.vips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(net.id.as_str());
        self.remove_plane(&net.id).await
    }

    async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError> {
        let cfg = OverlayConfig::of(net)?;
        let under = self.underlay()?;
        let peers = self.peers.lock().await;
        let plane = self.ensure_plane(net, &cfg, &under, &peers).await?;
        self.reaper
            .free_sandbox_name(ns.path, ns.nl, &ep.ifname)
            .await
            .map_err(kernel_err)?;
        self.nl
            .create_sublink(&SubLinkSpec {
                name: &ep.ifname,
                parent_index: plane.vxlan,
                kind: SubLinkKind::Macvlan(MacvlanMode::Bridge),
                mac: Some(ep.mac.octets()),
                mtu: Some(plane.mtu),
                netns: Some(ns.path),
            })
            .await
            .map_err(kernel_err)?;
        self.member(&net.id, &ep.id, true);
        // ARP on an overlay is answered by this node's VXLAN device, never by the wire: a
        // sandbox that asked for a peer a moment before the peer's entry arrived asks again
        // within 50 ms instead of the kernel's default second.
        let ifname = ep.ifname.clone();
        ferry_kernel::netns::run_in(ns.path, move || {
            ferry_kernel::sysctl::set(&format!("net/ipv4/neigh/{ifname}/retrans_time_ms"), "50")
        })
        .map_err(kernel_err)?;
        // On a network the host is on (the routing mesh's), the sandbox answers what it was
        // sent there back through this host, which knows where each connection came from.
        let source_route = self
            .host_addr(&net.id)
            .filter(|h| h.role == HostRole::Mesh)
            .and_then(|h| match h.addr.addr() {
                IpAddr::V4(gateway) => Some(crate::driver::SourceRoute {
                    gateway,
                    table: host_link::MESH_ROUTE_TABLE,
                    priority: host_link::MESH_RULE_PRIORITY,
                }),
                IpAddr::V6(_) => None,
            });
        Ok(JoinInfo {
            source_route,
            ..Default::default()
        })
    }

    /// Removes the sandbox's macvlan (it goes with the sandbox's namespace otherwise);
    /// removes the data plane with the node's last endpoint on it, unless the host itself is
    /// on the network.
    async fn leave(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        if let Some(path) = netns {
            match Netlink::connect_in(path) {
                Ok(inside) => inside
                    .delete_link_by_name(&ep.ifname)
                    .await
                    .map_err(kernel_err)?,
                // The namespace is gone, and the link with it.
                Err(_) if !path.exists() => {}
                Err(e) => return Err(kernel_err(e)),
            }
        }
        self.member(&net.id, &ep.id, false);
        if self.host_addr(&net.id).is_some() {
            return Ok(());
        }
        if self.live_members(&net.id) == 0 && self.plane(&net.id).await?.is_some() {
            self.remove_plane(&net.id).await?;
            tracing::info!(network = %net.name, "overlay data plane removed with its last endpoint");
        }
        Ok(())
    }

    async fn endpoint_present(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: &Path,
    ) -> Result<bool, FerryError> {
        if self.plane(&net.id).await?.is_none() {
            return Ok(false);
        }
        let inside = Netlink::connect_in(netns).map_err(kernel_err)?;
        Ok(inside.link(&ep.ifname).await.map_err(kernel_err)?.is_some())
    }

    /// Data planes of networks that are gone or have no endpoint here, and veths of the
    /// earlier layout; the members are the live endpoints from here on.
    async fn sweep(&self, owned: &Owned<'_>) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        {
            let mut m = self.members.lock().unwrap_or_else(|p| p.into_inner());
            m.clear();
            for e in &owned.endpoints {
                m.entry(e.network_id.to_string())
                    .or_default()
                    .insert(e.id.to_string());
            }
        }
        let in_use: HashSet<&str> = owned
            .endpoints
            .iter()
            .map(|e| e.network_id.as_str())
            .collect();
        let veths: HashSet<String> = owned
            .endpoints
            .iter()
            .map(|e| config::host_ifname(&e.id))
            .collect();
        let mut planes = HashSet::new();
        for link in self.nl.links().await.map_err(kernel_err)? {
            if let Some(id) = link
                .alias
                .as_deref()
                .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
            {
                if !in_use.contains(id) {
                    planes.insert(id.to_string());
                }
            } else if link.kind.as_deref() == Some("veth")
                && link.name.starts_with(VETH_PREFIX)
                && !veths.contains(&link.name)
            {
                tracing::info!(link = %link.name, "removing orphan overlay veth");
                self.nl.delete_link(link.index).await.map_err(kernel_err)?;
            }
        }
        for id in planes {
            tracing::info!(network = %id, "removing an overlay data plane no endpoint uses");
            self.remove_plane(&id).await?;
        }
        Ok(())
    }

    fn peer_aware(&self) -> Option<&dyn PeerAware> {
        Some(self)
    }

    fn vip_host(&self) -> Option<&dyn VipHost> {
        Some(self)
    }
}

/// A swarm service's VIP on an overlay: recorded here, and an address of the host's link on
/// the network while the host holds one of its own there (see [`host_link`]); the
/// connect-time path serves it without either.
#[async_trait::async_trait]
impl VipHost for OverlayDriver {
    async fn add_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        self.vips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(net.id.to_string())
            .or_default()
            .insert(vip);
        if self.host_addr(&net.id).is_none() {
            return Ok(());
        }
        if let Some(index) = self.host_link_index(&net.id).await? {
            self.nl
                .add_address(index, vip_net(vip))
                .await
                .map_err(kernel_err)?;
        }
        Ok(())
    }

    async fn remove_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError> {
        let _order = self.peers.lock().await;
        {
            let mut vips = self.vips.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = vips.get_mut(net.id.as_str()) {
                v.remove(&vip);
                if v.is_empty() {
                    vips.remove(net.id.as_str());
                }
            }
        }
        if let Some(index) = self.host_link_index(&net.id).await? {
            self.nl
                .delete_address(index, vip_net(vip))
                .await
                .map_err(kernel_err)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl PeerAware for OverlayDriver {
    async fn peer_up(&self, peer: &PeerRecord) -> Result<(), FerryError> {
        if self
            .cluster
            .get()
            .is_some_and(|l| l.node_id == peer.node_id)
        {
            return Ok(());
        }
        let mut peers = self.peers.lock().await;
        let old = peers.put(peer.clone());
        if let Some(plane) = self.plane(&peer.network_id).await? {
            if let Some(old) = old.filter(|o| o != peer) {
                let others = peers.of_network(&peer.network_id);
                self.unprogram(&plane, &old, &others).await?;
            }
            self.program(&plane, peer).await?;
        }
        Ok(())
    }

    async fn peer_down(&self, peer: &PeerRecord) -> Result<(), FerryError> {
        let mut peers = self.peers.lock().await;
        let Some(gone) = peers.remove(peer) else {
            return Ok(());
        };
        if let Some(plane) = self.plane(&gone.network_id).await? {
            let others = peers.of_network(&gone.network_id);
            self.unprogram(&plane, &gone, &others).await?;
        }
        Ok(())
    }

    async fn converge_peers(&self) -> Result<(), FerryError> {
        let peers = self.peers.lock().await;
        let own = self.cluster.get().map(|l| l.node_id.clone());
        let nets: HashSet<String> = self
            .nl
            .links()
            .await
            .map_err(kernel_err)?
            .into_iter()
            .filter_map(|l| {
                l.alias
                    .as_deref()
                    .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
                    .map(str::to_string)
            })
            .collect();
        for net in nets {
            let Some(plane) = self.plane(&net).await? else {
                continue;
            };
            let want: Vec<PeerRecord> = peers
                .of_network(&net)
                .into_iter()
                .filter(|p| Some(&p.node_id) != own.as_ref())
                .collect();
            let have = self
                .nl
                .vxlan_entries(plane.vxlan)
                .await
                .map_err(kernel_err)?;
            for (mac, vtep) in have.fdb {
                if !want.iter().any(|p| p.mac.octets() == mac && p.vtep == vtep) {
                    self.nl
                        .fdb_delete(plane.vxlan, mac, vtep)
                        .await
                        .map_err(kernel_err)?;
                }
            }
            for (ip, mac) in have.neighbours {
                if !want
                    .iter()
                    .any(|p| p.mac.octets() == mac && p.addrs().contains(&ip))
                {
                    self.nl
                        .neigh_delete(plane.vxlan, ip)
                        .await
                        .map_err(kernel_err)?;
                }
            }
            for p in &want {
                self.program(&plane, p).await?;
            }
        }
        Ok(())
    }

    async fn join_host(
        &self,
        net: &Network,
        addr: ipnet::IpNet,
        role: HostRole,
    ) -> Result<String, FerryError> {
        OverlayDriver::join_host(self, net, addr, role).await
    }

    async fn leave_host(&self, net: &Network, addr: ipnet::IpNet) -> Result<(), FerryError> {
        OverlayDriver::leave_host(self, net, addr).await
    }
}

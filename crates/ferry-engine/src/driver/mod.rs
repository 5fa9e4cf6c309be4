//! The network driver interface (the CNM's driver API): what a network and an endpoint mean
//! in the kernel is a driver's business; the controller only knows this interface and asks a
//! [`Drivers`] registry for a network's driver by name.
//!
//! The controller keeps the protocol of every operation: it checks, allocates and records the
//! desired state in the store first, then calls the driver, and undoes both when a call
//! fails. So a driver's calls must be safe to repeat and to undo:
//! - [`NetworkDriver::create_network`] is idempotent: on start, reconcile calls it for every
//!   network in the store, after a crash that may have hit between any two of its kernel
//!   requests, so it must finish a half-made network and leave a whole one as it is.
//! - [`NetworkDriver::delete_network`] and [`NetworkDriver::leave`] succeed when what they
//!   remove is already gone.
//! - [`NetworkDriver::join`] either makes the endpoint's interface inside the sandbox or fails
//!   having made nothing the controller's undo ([`NetworkDriver::leave`]) would not remove.
//! - [`NetworkDriver::sweep`] removes the kernel objects of the driver's kind that no record
//!   owns, which is how objects made just before a crash (the record gone or never written)
//!   are found: every object a driver makes must carry a mark that says so.
//!
//! Optional parts are traits of their own ([`Firewalled`], [`PortPublisher`], [`VipHost`]),
//! offered only by the drivers whose networks have them.

mod registry;

pub use registry::Drivers;

use ferry_firewall::{BridgeNet, BridgePort};
use ferry_kernel::netlink::Netlink;
use ferry_types::{Endpoint, FerryError, Network};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::Path;

/// Where a driver's objects are known: on this host only, or in the whole cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This host's store.
    Local,
    /// The cluster's store.
    Global,
}

/// What a sandbox on one of the driver's networks gets for a network stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// A namespace of its own, with an endpoint per network it joins.
    Endpoints,
    /// The host's own namespace (the `host` network).
    Host,
    /// A namespace of its own with loopback only (the `none` network).
    Loopback,
}

/// What a driver's networks are and can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The store that holds its networks.
    pub scope: Scope,
    /// What its sandboxes get.
    pub stack: Stack,
    /// Only one network of this driver exists, made by the daemon itself.
    pub singleton: bool,
    /// The network's gateway address is the sandboxes' router, which the host holds: when
    /// unset, a gateway given by the user is still their default route (a router on the
    /// parent's segment), but ferry gives the gateway address to no one.
    pub host_gateway: bool,
    /// The network's gateway is a way out: its endpoints take their default route through
    /// it. An overlay's is not (its sandboxes leave through the host's gateway bridge).
    pub routes_out: bool,
}

/// A sandbox's network namespace, as a driver joins it.
pub struct SandboxNs<'a> {
    /// Its path (`/proc/PID/ns/net`, `/run/netns/NAME`, ...).
    pub path: &'a Path,
    /// A netlink connection inside it.
    pub nl: &'a Netlink,
}

/// What a join made, for the controller to finish: it brings the interface up inside the
/// sandbox with the endpoint's addresses, then adds these routes, then the default route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinInfo {
    /// On-link routes (destination, no gateway) the endpoint's interface needs beyond its
    /// subnets' own.
    pub routes: Vec<IpNet>,
    /// Traffic from the endpoint's IPv4 address leaves through its interface via this route,
    /// whatever the sandbox's default route is (the routing mesh: a replica answers the
    /// connections it was sent on the ingress network back on that network).
    pub source_route: Option<SourceRoute>,
}

/// A route for traffic from one address: a rule that looks it up in a table of its own, whose
/// default route goes via `gateway` on the endpoint's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRoute {
    /// The gateway.
    pub gateway: std::net::Ipv4Addr,
    /// The table.
    pub table: u32,
    /// The rule's priority.
    pub priority: u32,
}

/// The records a sweep keeps: the driver's networks and the endpoints of running sandboxes
/// on them.
pub struct Owned<'a> {
    /// Networks of this driver.
    pub networks: Vec<&'a Network>,
    /// Live endpoints on those networks.
    pub endpoints: Vec<&'a Endpoint>,
}

/// A network driver.
#[async_trait::async_trait]
pub trait NetworkDriver: Send + Sync {
    /// Its name, as `network create -d NAME` gives it.
    fn name(&self) -> &'static str;

    /// What its networks are and can do.
    fn capability(&self) -> Capability;

    /// Checks a new network's settings and `-o` options (`net.options`) against the others
    /// and returns the driver's own settings, kept in the network's record. It may also
    /// settle what the driver decides of the record itself: make it `internal` (a network
    /// that can have no way out) or reserve addresses in `aux_addresses` (addresses the
    /// driver gives the host on the network). No I/O that changes anything: a refusal here
    /// leaves nothing behind.
    async fn configure(
        &self,
        net: &mut Network,
        others: &[&Network],
    ) -> Result<serde_json::Value, FerryError>;

    /// The driver's state of a new endpoint, kept in its record before it joins.
    fn endpoint_state(&self, _net: &Network, _endpoint_id: &str) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Makes the network's kernel objects; idempotent.
    async fn create_network(&self, net: &Network) -> Result<(), FerryError>;

    /// Removes the network's kernel objects; what is already gone is fine.
    async fn delete_network(&self, net: &Network) -> Result<(), FerryError>;

    /// Makes the endpoint's interface inside the sandbox, named `ep.ifname`, with `ep.mac`.
    async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError>;

    /// Removes the endpoint's interface. `netns` is the sandbox's namespace while it still
    /// exists (an interface inside it goes with the namespace otherwise).
    async fn leave(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: Option<&Path>,
    ) -> Result<(), FerryError>;

    /// True when the endpoint's interface is in place (reconcile re-joins it when not).
    async fn endpoint_present(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: &Path,
    ) -> Result<bool, FerryError>;

    /// Removes the kernel objects of this driver that no record owns.
    async fn sweep(&self, owned: &Owned<'_>) -> Result<(), FerryError>;

    /// Its networks' traffic crosses the host's firewall, which needs their elements.
    fn firewalled(&self) -> Option<&dyn Firewalled> {
        None
    }

    /// Ports can be published on its networks' endpoints.
    fn publisher(&self) -> Option<&dyn PortPublisher> {
        None
    }

    /// Its networks can carry service VIPs.
    fn vip_host(&self) -> Option<&dyn VipHost> {
        None
    }

    /// Its networks span nodes, whose endpoints it must learn of.
    fn peer_aware(&self) -> Option<&dyn PeerAware> {
        None
    }
}

/// A driver of global-scope networks: the endpoints other nodes publish reach it, whatever
/// networks this node knows yet, and it programs them into the kernel while the node has the
/// network's data plane (and when it makes it).
#[async_trait::async_trait]
pub trait PeerAware: Send + Sync {
    /// An endpoint of another node appeared or changed.
    async fn peer_up(&self, peer: &ferry_cluster::PeerRecord) -> Result<(), FerryError>;
    /// An endpoint of another node is gone.
    async fn peer_down(&self, peer: &ferry_cluster::PeerRecord) -> Result<(), FerryError>;
    /// Brings the kernel to the peers known: entries for endpoints that are gone (removed
    /// while the daemon was down) are deleted, missing ones made. Called once the cluster's
    /// records have been listed.
    async fn converge_peers(&self) -> Result<(), FerryError>;
    /// Gives the host itself `addr` on the network, for `role`: returns the name of the host's
    /// link. Idempotent.
    async fn join_host(
        &self,
        net: &Network,
        addr: ipnet::IpNet,
        role: HostRole,
    ) -> Result<String, FerryError>;
    /// Takes the host's `addr` off the network.
    async fn leave_host(&self, net: &Network, addr: ipnet::IpNet) -> Result<(), FerryError>;
}

/// Why the host itself joins a global network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole {
    /// The routing mesh's network (`ingress`): connections enter through the host from other
    /// nodes, and the host's sandboxes there answer them back through it.
    Mesh,
    /// A network whose service VIPs the host balances for its own sandboxes (the nftables
    /// path): its VIPs are the host's addresses there, and the translated connections leave
    /// with the host's address.
    Balancer,
}

/// A driver whose networks the host's firewall polices (ferry's nftables sets and maps).
pub trait Firewalled: Send + Sync {
    /// The network's elements.
    fn network_elements(&self, net: &Network) -> Option<BridgeNet>;
    /// An endpoint's elements.
    fn endpoint_elements(&self, net: &Network, ep: &Endpoint) -> Option<BridgePort>;
}

/// A driver whose endpoints the host reaches, so host ports can be forwarded to them.
pub trait PortPublisher: Send + Sync {
    /// The host address ports are published on when `-p` names none (every address when
    /// `None`).
    fn default_host_ip(&self, net: &Network) -> Option<IpAddr>;
}

/// A driver whose networks can carry the VIP of a service: the host answers for it on the
/// network, so that connections to it reach the host's load balancer.
#[async_trait::async_trait]
pub trait VipHost: Send + Sync {
    /// Puts a VIP on the network (idempotent).
    async fn add_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError>;
    /// Takes it off (what is gone is fine).
    async fn remove_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError>;
}

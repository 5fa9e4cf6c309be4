//! The macvlan and ipvlan drivers (Docker's, with the same options): a sandbox's interface
//! is a link on a parent interface of the host, made directly inside the sandbox's namespace,
//! so the sandbox sits on the parent's segment with an address (and, with macvlan, a MAC) of
//! its own. Traffic does not cross the host: no firewall elements, no published ports, no
//! service VIPs. ferry makes what the parent needs (an 802.1q sub-interface for a dotted
//! parent, a parent of the network's own when none is given) and, with `ferry.host_access`,
//! an interface for the host on the network, which Docker cannot give.

mod config;

pub use config::{HostAccess, LinkMode, MadeParent, VlanConfig, HOST_AUX_NAME};

use super::{kernel_err, DriverContext};
use crate::driver::{Capability, JoinInfo, NetworkDriver, Owned, SandboxNs, Scope, Stack};
use config::{link_name, Role};
use ferry_driver_options::vlan::{
    parse_ipvlan_options, parse_macvlan_options, IpvlanFlag, IpvlanMode, MacvlanMode, Parent,
    HOST_ACCESS,
};
use ferry_kernel::netlink::{self as nl, Netlink, SubLinkKind, SubLinkSpec};
use ferry_types::{Endpoint, FerryError, Network};
use ipnet::IpNet;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which of the two drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `macvlan`.
    Macvlan,
    /// `ipvlan`.
    Ipvlan,
}

impl Flavor {
    /// The driver's name.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Macvlan => "macvlan",
            Flavor::Ipvlan => "ipvlan",
        }
    }
}

/// A macvlan or ipvlan driver, working in the daemon's (host) namespace.
pub struct VlanDriver {
    flavor: Flavor,
    nl: Netlink,
    /// The kernel was seen to make this kind (a missing module may be installed later, so
    /// only a success is remembered).
    supported: AtomicBool,
}

/// The options of a new network, whichever the driver.
struct Options {
    parent: Option<Parent>,
    link: LinkMode,
    mtu: Option<u32>,
    host_access: bool,
}

fn kernel_kind(link: LinkMode) -> SubLinkKind {
    match link {
        LinkMode::Macvlan { mode } => SubLinkKind::Macvlan(match mode {
            MacvlanMode::Bridge => nl::MacvlanMode::Bridge,
            MacvlanMode::Private => nl::MacvlanMode::Private,
            MacvlanMode::Vepa => nl::MacvlanMode::Vepa,
            MacvlanMode::Passthru => nl::MacvlanMode::Passthru,
        }),
        LinkMode::Ipvlan { mode, flag } => SubLinkKind::Ipvlan(
            match mode {
                IpvlanMode::L2 => nl::IpvlanMode::L2,
                IpvlanMode::L3 => nl::IpvlanMode::L3,
                IpvlanMode::L3s => nl::IpvlanMode::L3s,
            },
            match flag {
                IpvlanFlag::Bridge => nl::IpvlanFlag::Bridge,
                IpvlanFlag::Private => nl::IpvlanFlag::Private,
                IpvlanFlag::Vepa => nl::IpvlanFlag::Vepa,
            },
        ),
    }
}

impl VlanDriver {
    /// The macvlan driver.
    pub fn macvlan(ctx: &DriverContext) -> Self {
        Self::new(Flavor::Macvlan, ctx)
    }

    /// The ipvlan driver.
    pub fn ipvlan(ctx: &DriverContext) -> Self {
        Self::new(Flavor::Ipvlan, ctx)
    }

    fn new(flavor: Flavor, ctx: &DriverContext) -> Self {
        Self {
            flavor,
            nl: ctx.nl.clone(),
            supported: AtomicBool::new(false),
        }
    }

    fn options(&self, net: &Network) -> Result<Options, FerryError> {
        Ok(match self.flavor {
            Flavor::Macvlan => {
                let o = parse_macvlan_options(&net.options)?;
                Options {
                    parent: o.parent,
                    link: LinkMode::Macvlan { mode: o.mode },
                    mtu: o.mtu,
                    host_access: o.host_access,
                }
            }
            Flavor::Ipvlan => {
                let o = parse_ipvlan_options(&net.options)?;
                Options {
                    parent: o.parent,
                    link: LinkMode::Ipvlan {
                        mode: o.mode,
                        flag: o.flag,
                    },
                    mtu: o.mtu,
                    host_access: false,
                }
            }
        })
    }

    /// Refuses, naming what the kernel lacks, when it cannot make links of `kind`.
    async fn require_kind(&self, kind: &'static str, what: &str) -> Result<(), FerryError> {
        if kind == self.flavor.name() && self.supported.load(Ordering::Relaxed) {
            return Ok(());
        }
        let supported = tokio::task::spawn_blocking(move || nl::link_kind_supported(kind))
            .await
            .map_err(|e| FerryError::internal(format!("probe of {kind} support failed: {e}")))?
            .map_err(kernel_err)?;
        if !supported {
            let (module, config) = nl::module_of(kind);
            return Err(FerryError::invalid(format!(
                "cannot create {what}: this kernel has no {kind} support (the {module} module is neither built in nor loadable); use a kernel with CONFIG_{config}, or another driver"
            )));
        }
        if kind == self.flavor.name() {
            self.supported.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn link_index(&self, name: &str) -> Result<Option<u32>, FerryError> {
        Ok(self
            .nl
            .link(name)
            .await
            .map_err(kernel_err)?
            .map(|l| l.index))
    }

    /// The parent's index; it must exist.
    async fn parent_index(&self, net: &Network, cfg: &VlanConfig) -> Result<u32, FerryError> {
        self.link_index(&cfg.parent).await?.ok_or_else(|| {
            let fix = match cfg.made {
                MadeParent::None => "bring the interface back",
                _ => "restart the daemon to make it again",
            };
            FerryError::conflict(format!(
                "parent interface {} of network {} is missing; {fix}",
                cfg.parent, net.name
            ))
        })
    }

    /// Makes what the parent needs, when missing: the VLAN sub-interface, or the network's
    /// own parent.
    async fn ensure_parent(&self, net: &Network, cfg: &VlanConfig) -> Result<u32, FerryError> {
        if let Some(i) = self.link_index(&cfg.parent).await? {
            return Ok(i);
        }
        let alias = config::alias(self.flavor, &net.id);
        match &cfg.made {
            MadeParent::None => return self.parent_index(net, cfg).await,
            MadeParent::Vlan { link, id } => {
                let base = self.link_index(link).await?.ok_or_else(|| {
                    FerryError::conflict(format!(
                        "interface {link}, under VLAN parent {} of network {}, is missing",
                        cfg.parent, net.name
                    ))
                })?;
                self.nl
                    .create_vlan(&cfg.parent, base, *id)
                    .await
                    .map_err(kernel_err)?;
            }
            MadeParent::Standalone { peer } => {
                self.nl
                    .create_veth_pair(&cfg.parent, peer, None)
                    .await
                    .map_err(kernel_err)?;
                if let Some(i) = self.link_index(peer).await? {
                    self.nl.set_alias(i, &alias).await.map_err(kernel_err)?;
                }
            }
        }
        let index = self.parent_index(net, cfg).await?;
        self.nl.set_alias(index, &alias).await.map_err(kernel_err)?;
        Ok(index)
    }

    /// Makes the host's interface on the network, with its address and route.
    async fn ensure_host_access(
        &self,
        net: &Network,
        cfg: &VlanConfig,
        h: &HostAccess,
        parent: u32,
    ) -> Result<(), FerryError> {
        let index = match self.link_index(&h.ifname).await? {
            Some(i) => i,
            None => {
                self.nl
                    .create_sublink(&SubLinkSpec {
                        name: &h.ifname,
                        parent_index: parent,
                        kind: SubLinkKind::Macvlan(nl::MacvlanMode::Bridge),
                        mac: None,
                        mtu: cfg.mtu,
                        netns: None,
                    })
                    .await
                    .map_err(kernel_err)?;
                let i = self.link_index(&h.ifname).await?.ok_or_else(|| {
                    FerryError::internal(format!("{} vanished right after creation", h.ifname))
                })?;
                self.nl
                    .set_alias(i, &config::alias(self.flavor, &net.id))
                    .await
                    .map_err(kernel_err)?;
                i
            }
        };
        self.nl.set_up(index).await.map_err(kernel_err)?;
        // A /32: the address alone, so that no prefix route competes with a parent that is
        // itself on the subnet; the route below covers the sandboxes.
        let own = IpNet::new(h.address, 32).map_err(|e| FerryError::internal(e.to_string()))?;
        self.nl.add_address(index, own).await.map_err(kernel_err)?;
        self.nl
            .add_device_route(index, h.route)
            .await
            .map_err(kernel_err)
    }

    /// Deletes a link ferry made for the network, if it is there.
    async fn delete_own(&self, name: &str) -> Result<(), FerryError> {
        self.nl.delete_link_by_name(name).await.map_err(kernel_err)
    }
}

#[async_trait::async_trait]
impl NetworkDriver for VlanDriver {
    fn name(&self) -> &'static str {
        self.flavor.name()
    }

    fn capability(&self) -> Capability {
        Capability {
            scope: Scope::Local,
            stack: Stack::Endpoints,
            singleton: false,
            // The gateway is a router on the parent's segment, not the host.
            host_gateway: false,
            routes_out: true,
        }
    }

    async fn configure(
        &self,
        net: &mut Network,
        others: &[&Network],
    ) -> Result<serde_json::Value, FerryError> {
        let o = self.options(net)?;
        let what = format!("{} network {}", self.flavor.name(), net.name);
        self.require_kind(self.flavor.name(), &what).await?;
        let (parent, made) = match &o.parent {
            Some(p) => {
                if let Some(other) = config::parent_user(&p.name, others) {
                    return Err(FerryError::conflict(format!(
                        "network {} is already using parent interface {}",
                        other.name, p.name
                    )));
                }
                let exists = self.link_index(&p.name).await?.is_some();
                let made = config::made_for(p, exists)?;
                if let MadeParent::Vlan { link, .. } = &made {
                    if self.link_index(link).await?.is_none() {
                        return Err(FerryError::invalid(format!(
                            "parent interface {link} of VLAN parent {} does not exist on this host; give an existing interface (see `ip link`)",
                            p.name
                        )));
                    }
                    self.require_kind("vlan", &format!("VLAN sub-interface {}", p.name))
                        .await?;
                }
                (p.name.clone(), made)
            }
            None => {
                // As Docker: with nothing to hang off, the network is internal.
                net.internal = true;
                (
                    link_name(self.flavor, Role::Parent, &net.id),
                    MadeParent::Standalone {
                        peer: link_name(self.flavor, Role::Peer, &net.id),
                    },
                )
            }
        };
        let host_access = if o.host_access {
            if o.link
                != (LinkMode::Macvlan {
                    mode: MacvlanMode::Bridge,
                })
            {
                return Err(FerryError::invalid(format!(
                    "{HOST_ACCESS} needs macvlan_mode=bridge: in other modes the kernel passes no traffic between the host's interface and the sandboxes'"
                )));
            }
            let (address, route) = config::host_access_address(net)?;
            let taken = self.nl.route_destinations().await.map_err(kernel_err)?;
            if made == MadeParent::None && taken.contains(&route) {
                return Err(FerryError::conflict(format!(
                    "the host already routes {route} through another interface, so {HOST_ACCESS} cannot route it to network {}: give the network an --ip-range for its sandboxes, and the host routes just that range to them",
                    net.name
                )));
            }
            if let Some(s) = net.subnets.iter_mut().find(|s| s.subnet.contains(&address)) {
                s.aux_addresses
                    .entry(HOST_AUX_NAME.to_string())
                    .or_insert(address);
            }
            Some(HostAccess {
                ifname: link_name(self.flavor, Role::Host, &net.id),
                address,
                route,
            })
        } else {
            None
        };
        let cfg = VlanConfig {
            parent,
            made,
            link: o.link,
            mtu: o.mtu,
            host_access,
        };
        serde_json::to_value(cfg).map_err(|e| FerryError::internal(e.to_string()))
    }

    async fn create_network(&self, net: &Network) -> Result<(), FerryError> {
        let cfg = VlanConfig::of(net)?;
        let parent = self.ensure_parent(net, &cfg).await?;
        if let Some(h) = &cfg.host_access {
            self.ensure_host_access(net, &cfg, h, parent).await?;
        }
        Ok(())
    }

    async fn delete_network(&self, net: &Network) -> Result<(), FerryError> {
        let cfg = VlanConfig::of(net)?;
        if let Some(h) = &cfg.host_access {
            self.delete_own(&h.ifname).await?;
        }
        match &cfg.made {
            MadeParent::None => {}
            MadeParent::Standalone { .. } => self.delete_own(&cfg.parent).await?,
            MadeParent::Vlan { .. } => {
                // Only the sub-interface ferry made: one that bears this network's mark.
                let mark = config::alias(self.flavor, &net.id);
                if let Some(l) = self.nl.link(&cfg.parent).await.map_err(kernel_err)? {
                    if l.alias.as_deref() == Some(mark.as_str()) {
                        self.nl.delete_link(l.index).await.map_err(kernel_err)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The sandbox's link on the parent, made directly inside its namespace.
    async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError> {
        let cfg = VlanConfig::of(net)?;
        let parent = self.parent_index(net, &cfg).await?;
        let mac = match cfg.link {
            // ipvlan links share the parent's MAC.
            LinkMode::Ipvlan { .. } => None,
            LinkMode::Macvlan { .. } => Some(ep.mac.octets()),
        };
        self.nl
            .create_sublink(&SubLinkSpec {
                name: &ep.ifname,
                parent_index: parent,
                kind: kernel_kind(cfg.link),
                mac,
                mtu: cfg.mtu,
                netns: Some(ns.path),
            })
            .await
            .map_err(kernel_err)?;
        Ok(JoinInfo::default())
    }

    /// The link lives in the sandbox's namespace, and goes with it.
    async fn leave(
        &self,
        _net: &Network,
        ep: &Endpoint,
        netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        let Some(path) = netns else {
            return Ok(());
        };
        let inside = match Netlink::connect_in(path) {
            Ok(n) => n,
            // The namespace is gone, and the link with it.
            Err(_) if !path.exists() => return Ok(()),
            Err(e) => return Err(kernel_err(e)),
        };
        inside
            .delete_link_by_name(&ep.ifname)
            .await
            .map_err(kernel_err)
    }

    async fn endpoint_present(
        &self,
        _net: &Network,
        ep: &Endpoint,
        netns: &Path,
    ) -> Result<bool, FerryError> {
        let inside = Netlink::connect_in(netns).map_err(kernel_err)?;
        Ok(inside.link(&ep.ifname).await.map_err(kernel_err)?.is_some())
    }

    /// The host links ferry made for networks of this driver that are gone: found by their
    /// mark, or by their name when a crash came before the mark.
    async fn sweep(&self, owned: &Owned<'_>) -> Result<(), FerryError> {
        let ids: HashSet<&str> = owned.networks.iter().map(|n| n.id.as_str()).collect();
        let shorts: HashSet<&str> = owned
            .networks
            .iter()
            .map(|n| ferry_types::ids::short(&n.id))
            .collect();
        for link in self.nl.links().await.map_err(kernel_err)? {
            let orphan = match link
                .alias
                .as_deref()
                .and_then(|a| config::owner_of_alias(self.flavor, a))
            {
                Some(id) => !ids.contains(id),
                None => {
                    link.alias.is_none()
                        && matches!(link.kind.as_deref(), Some("veth" | "macvlan"))
                        && config::owner_of_name(self.flavor, &link.name)
                            .is_some_and(|short| !shorts.contains(short))
                }
            };
            if orphan {
                tracing::info!(link = %link.name, driver = self.flavor.name(), "removing orphan interface");
                self.nl.delete_link(link.index).await.map_err(kernel_err)?;
            }
        }
        Ok(())
    }
}

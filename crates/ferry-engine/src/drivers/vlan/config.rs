//! What the macvlan and ipvlan drivers keep in a network's record, and the pure decisions
//! behind it: which parent, what ferry makes for it, the host's address for host access.

use super::Flavor;
use ferry_driver_options::vlan::{IpvlanFlag, IpvlanMode, MacvlanMode, Parent};
use ferry_types::{FerryError, Network};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The aux address name that holds the host's own address on a network with host access.
pub const HOST_AUX_NAME: &str = "ferry-host";

/// What ferry makes for a network's parent, and removes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum MadeParent {
    /// Nothing: the parent is the user's interface.
    None,
    /// An 802.1q sub-interface of `link` with VLAN `id`.
    Vlan {
        /// The underlying interface.
        link: String,
        /// The VLAN ID.
        id: u16,
    },
    /// A parent of the network's own (no `parent` option): a veth pair, whose other end
    /// (`peer`) stays unused. The network is internal, as Docker makes it.
    Standalone {
        /// The unused end.
        peer: String,
    },
}

/// The sandboxes' link kind and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LinkMode {
    /// macvlan.
    Macvlan {
        /// Its mode.
        mode: MacvlanMode,
    },
    /// ipvlan.
    Ipvlan {
        /// Its mode.
        mode: IpvlanMode,
        /// Its flag.
        flag: IpvlanFlag,
    },
}

/// The host's interface on a network with host access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAccess {
    /// The host's macvlan link.
    pub ifname: String,
    /// Its address (reserved in the network's IPAM as `ferry-host`).
    pub address: IpAddr,
    /// The destination routed through it: the network's `--ip-range`, or its subnet.
    pub route: IpNet,
}

/// Settings of a macvlan or ipvlan network, resolved when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanConfig {
    /// The interface the sandboxes' links are made on.
    pub parent: String,
    /// What ferry made for the parent.
    pub made: MadeParent,
    /// Link kind and mode.
    pub link: LinkMode,
    /// MTU of the sandboxes' links (the parent's when unset).
    pub mtu: Option<u32>,
    /// The host's interface on the network, with `ferry.host_access`.
    pub host_access: Option<HostAccess>,
}

impl VlanConfig {
    /// The settings of a network's record.
    pub fn of(net: &Network) -> Result<Self, FerryError> {
        serde_json::from_value(net.driver_config.clone()).map_err(|e| {
            FerryError::internal(format!(
                "network {} has no valid {} settings: {e}",
                net.name, net.driver
            ))
        })
    }
}

/// Name of a link ferry makes for a network: a prefix of the driver and role, then the
/// network's short ID (15 bytes in all, the kernel's limit).
pub fn link_name(flavor: Flavor, role: Role, network_id: &str) -> String {
    format!(
        "{}{}",
        prefix(flavor, role),
        ferry_types::ids::short(network_id)
    )
}

/// What a link ferry makes on the host is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A network's own parent.
    Parent,
    /// The unused end of that parent.
    Peer,
    /// The host's interface for host access.
    Host,
}

/// The name prefixes, one per driver and role, so a sweep knows whose a link is by its name
/// alone (a link made just before a crash may not carry its alias yet).
pub fn prefix(flavor: Flavor, role: Role) -> &'static str {
    match (flavor, role) {
        (Flavor::Macvlan, Role::Parent) => "mv-",
        (Flavor::Macvlan, Role::Peer) => "mp-",
        (Flavor::Macvlan, Role::Host) => "mh-",
        (Flavor::Ipvlan, Role::Parent) => "iv-",
        (Flavor::Ipvlan, Role::Peer) => "iq-",
        (Flavor::Ipvlan, Role::Host) => "ih-",
    }
}

/// The network's short ID in a name ferry made for it (`None` for any other name).
pub fn owner_of_name(flavor: Flavor, name: &str) -> Option<&str> {
    [Role::Parent, Role::Peer, Role::Host]
        .iter()
        .find_map(|r| name.strip_prefix(prefix(flavor, *r)))
        .filter(|id| {
            id.len() == ferry_types::ids::SHORT_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The alias ferry marks the host links it makes for a network with.
pub fn alias(flavor: Flavor, network_id: &str) -> String {
    format!("ferry:{}:{network_id}", flavor.name())
}

/// The network ID in one of ferry's aliases of this driver.
pub fn owner_of_alias(flavor: Flavor, alias: &str) -> Option<&str> {
    alias
        .strip_prefix("ferry:")?
        .strip_prefix(flavor.name())?
        .strip_prefix(':')
}

/// Another network of either driver that already uses `parent` (the kernel gives a parent
/// to macvlan or to ipvlan links, not both, and Docker gives it to one network).
pub fn parent_user<'a>(parent: &str, others: &[&'a Network]) -> Option<&'a Network> {
    others.iter().copied().find(|n| {
        (n.driver == Flavor::Macvlan.name() || n.driver == Flavor::Ipvlan.name())
            && VlanConfig::of(n).is_ok_and(|c| c.parent == parent)
    })
}

/// What ferry must make for a parent given as an option, knowing whether that interface
/// exists: nothing for an existing one, the VLAN sub-interface for a dotted one; a missing
/// plain interface is an error.
pub fn made_for(parent: &Parent, exists: bool) -> Result<MadeParent, FerryError> {
    match (&parent.vlan, exists) {
        (_, true) => Ok(MadeParent::None),
        (Some((link, id)), false) => Ok(MadeParent::Vlan {
            link: link.clone(),
            id: *id,
        }),
        (None, false) => Err(FerryError::invalid(format!(
            "parent interface {} does not exist on this host; give an existing interface with -o parent=NAME (see `ip link`), or LINK.VLAN_ID for a VLAN sub-interface",
            parent.name
        ))),
    }
}

/// The host's address and route for host access: the `ferry-host` aux address when the user
/// reserved one, else the highest address of the first IPv4 subnet's range that the gateway
/// and aux addresses leave free. The route covers the range sandboxes get addresses from.
pub fn host_access_address(net: &Network) -> Result<(IpAddr, IpNet), FerryError> {
    let (s, subnet) = net
        .subnets
        .iter()
        .find_map(|s| match s.subnet {
            IpNet::V4(v4) => Some((s, v4)),
            IpNet::V6(_) => None,
        })
        .ok_or_else(|| {
            FerryError::invalid(format!(
                "{} needs an IPv4 subnet on network {}",
                ferry_driver_options::vlan::HOST_ACCESS,
                net.name
            ))
        })?;
    let range = match s.ip_range {
        Some(IpNet::V4(r)) => r,
        _ => subnet,
    };
    let route = IpNet::V4(range.trunc());
    if let Some(a) = s.aux_addresses.get(HOST_AUX_NAME) {
        return Ok((*a, route));
    }
    let taken = |ip: IpAddr| Some(ip) == s.gateway || s.aux_addresses.values().any(|a| *a == ip);
    // The last host of the range, walking down past reserved addresses; the subnet's
    // broadcast address is no host.
    let first = u32::from(range.network());
    let mut n = u32::from(range.broadcast());
    if n == u32::from(subnet.broadcast()) {
        n = n.saturating_sub(1);
    }
    while n > first {
        let ip = IpAddr::V4(n.into());
        if !taken(ip) {
            return Ok((ip, route));
        }
        n -= 1;
    }
    Err(FerryError::invalid(format!(
        "network {} has no address left for the host's interface; reserve one with --aux-address {HOST_AUX_NAME}=IP",
        net.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::SubnetConfig;
    use std::collections::BTreeMap;

    fn net(subnet: &str, range: Option<&str>, aux: &[(&str, &str)]) -> Network {
        Network {
            id: "0123456789abcdef".repeat(4).into(),
            name: "lan".into(),
            driver: "macvlan".into(),
            created: Default::default(),
            enable_ipv6: false,
            internal: false,
            attachable: false,
            subnets: vec![SubnetConfig {
                subnet: subnet.parse().unwrap(),
                ip_range: range.map(|r| r.parse().unwrap()),
                gateway: Some(subnet.parse::<IpNet>().unwrap().hosts().next().unwrap()),
                aux_addresses: aux
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                    .collect::<BTreeMap<_, _>>(),
            }],
            user_subnets: true,
            options: Default::default(),
            labels: Default::default(),
            driver_config: serde_json::Value::Null,
            builtin: false,
            ipam_cursors: Default::default(),
        }
    }

    #[test]
    fn host_address_is_the_last_free_host_of_the_range() {
        let (a, r) = host_access_address(&net("10.5.0.0/24", None, &[])).unwrap();
        assert_eq!(a, "10.5.0.254".parse::<IpAddr>().unwrap());
        assert_eq!(r, "10.5.0.0/24".parse::<IpNet>().unwrap());
        let (a, _) =
            host_access_address(&net("10.5.0.0/24", None, &[("router", "10.5.0.254")])).unwrap();
        assert_eq!(a, "10.5.0.253".parse::<IpAddr>().unwrap());
        let (a, r) = host_access_address(&net("10.5.0.0/24", Some("10.5.0.32/27"), &[])).unwrap();
        assert_eq!(a, "10.5.0.63".parse::<IpAddr>().unwrap());
        assert_eq!(r, "10.5.0.32/27".parse::<IpNet>().unwrap());
        let (a, _) =
            host_access_address(&net("10.5.0.0/24", None, &[(HOST_AUX_NAME, "10.5.0.9")])).unwrap();
        assert_eq!(a, "10.5.0.9".parse::<IpAddr>().unwrap());
        // A /30: the gateway takes .1, the host .2.
        let (a, _) = host_access_address(&net("10.5.0.0/30", None, &[])).unwrap();
        assert_eq!(a, "10.5.0.2".parse::<IpAddr>().unwrap());
        let full = host_access_address(&net("10.5.0.0/30", None, &[("x", "10.5.0.2")]));
        assert!(full
            .unwrap_err()
            .to_string()
            .contains("--aux-address ferry-host=IP"));
    }

    #[test]
    fn names_say_whose_they_are() {
        let id = "0123456789abcdef".repeat(4);
        let n = link_name(Flavor::Macvlan, Role::Host, &id);
        assert_eq!(n, "mh-0123456789ab");
        assert!(n.len() <= 15);
        assert_eq!(owner_of_name(Flavor::Macvlan, &n), Some("0123456789ab"));
        assert_eq!(owner_of_name(Flavor::Ipvlan, &n), None);
        assert_eq!(owner_of_name(Flavor::Macvlan, "mh-eth0"), None);
        assert_eq!(owner_of_name(Flavor::Macvlan, "eth0"), None);
        let a = alias(Flavor::Ipvlan, &id);
        assert_eq!(owner_of_alias(Flavor::Ipvlan, &a), Some(id.as_str()));
        assert_eq!(owner_of_alias(Flavor::Macvlan, &a), None);
        assert_eq!(owner_of_alias(Flavor::Ipvlan, "ferry:net:abc"), None);
    }

    #[test]
    fn a_parent_is_made_only_when_dotted_and_missing() {
        let plain = ferry_driver_options::vlan::parse_parent("eth9").unwrap();
        let dotted = ferry_driver_options::vlan::parse_parent("eth0.50").unwrap();
        assert_eq!(made_for(&plain, true).unwrap(), MadeParent::None);
        assert!(made_for(&plain, false)
            .unwrap_err()
            .to_string()
            .contains("parent interface eth9 does not exist"));
        assert_eq!(made_for(&dotted, true).unwrap(), MadeParent::None);
        assert_eq!(
            made_for(&dotted, false).unwrap(),
            MadeParent::Vlan {
                link: "eth0".into(),
                id: 50
            }
        );
    }

    #[test]
    fn a_parent_serves_one_network() {
        let mut a = net("10.5.0.0/24", None, &[]);
        a.name = "a".into();
        a.driver_config = serde_json::to_value(VlanConfig {
            parent: "eth0".into(),
            made: MadeParent::None,
            link: LinkMode::Macvlan {
                mode: MacvlanMode::Bridge,
            },
            mtu: None,
            host_access: None,
        })
        .unwrap();
        let mut b = a.clone();
        b.driver = "bridge".into();
        b.name = "b".into();
        assert_eq!(
            parent_user("eth0", &[&b, &a]).map(|n| n.name.as_str()),
            Some("a")
        );
        assert!(parent_user("eth1", &[&a]).is_none());
    }
}

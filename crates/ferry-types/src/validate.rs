//! Pure validation of user input: names, addresses, subnets, and the network-create request.

use crate::api::{IpamConfig, NetworkCreateRequest};
use crate::error::{FerryError, Result};
use crate::model::SubnetConfig;
use ferry_ipam::overlaps;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Checks a network or sandbox name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255 characters.
pub fn object_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(FerryError::invalid(format!(
            "invalid {kind} name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// Checks a Linux interface name (1 to 15 bytes, no `/`, whitespace or `:`).
pub fn interface_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(FerryError::invalid(format!(
            "invalid interface name {name:?}: use 1 to 15 printable characters without '/' or ':'"
        )))
    }
}

/// Parses a subnet in CIDR form; host bits must be zero, as `10.1.0.0/16` not `10.1.2.3/16`.
pub fn cidr(what: &str, s: &str) -> Result<IpNet> {
    let net: IpNet = s.trim().parse().map_err(|_| {
        FerryError::invalid(format!(
            "invalid {what} {s:?}: expected CIDR notation such as 172.20.0.0/16 or fd00:1::/64"
        ))
    })?;
    if net.trunc() != net {
        return Err(FerryError::invalid(format!(
            "invalid {what} {s:?}: it has host bits set; did you mean {}?",
            net.trunc()
        )));
    }
    Ok(net)
}

/// Parses an IP address.
pub fn ip(what: &str, s: &str) -> Result<IpAddr> {
    s.trim().parse().map_err(|_| {
        FerryError::invalid(format!(
            "invalid {what} {s:?}: expected an IPv4 or IPv6 address"
        ))
    })
}

/// Parses `aa:bb:cc:dd:ee:ff` (six pairs of hex digits) into bytes.
pub fn mac_bytes(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Parses and normalises a MAC address (`02:42:ac:11:00:02`); must be unicast.
pub fn mac(s: &str) -> Result<String> {
    match mac_bytes(s) {
        Some(b) if b[0] & 1 == 0 => Ok(b
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")),
        Some(_) => Err(FerryError::invalid(format!(
            "invalid MAC address {s:?}: it is a multicast address; the first byte must be even"
        ))),
        None => Err(FerryError::invalid(format!(
            "invalid MAC address {s:?}: expected six hex pairs such as 02:42:ac:11:00:02"
        ))),
    }
}

fn same_family(a: &IpNet, b: IpAddr) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
    )
}

/// Checks one user subnet entry and fills in the gateway (the first host address) when absent.
pub fn subnet_config(c: &IpamConfig) -> Result<SubnetConfig> {
    if c.subnet.is_empty() {
        if !c.ip_range.is_empty() || !c.gateway.is_empty() || !c.auxiliary_addresses.is_empty() {
            return Err(FerryError::invalid(
                "--ip-range, --gateway and --aux-address need a --subnet to belong to",
            ));
        }
        return Err(FerryError::invalid("empty subnet in IPAM config"));
    }
    let subnet = cidr("subnet", &c.subnet)?;
    let max = match subnet {
        IpNet::V4(_) => 30,
        IpNet::V6(_) => 126,
    };
    if subnet.prefix_len() > max {
        return Err(FerryError::invalid(format!(
            "subnet {subnet} is too small: it leaves no room for a gateway and an endpoint (use a prefix of /{max} or shorter)"
        )));
    }
    let ip_range = if c.ip_range.is_empty() {
        None
    } else {
        let r = cidr("ip-range", &c.ip_range)?;
        if !(subnet.contains(&r.network()) && subnet.contains(&r.broadcast())) {
            return Err(FerryError::invalid(format!(
                "ip-range {r} is not inside subnet {subnet}"
            )));
        }
        Some(r)
    };
    let host_addr_ok = |a: IpAddr| -> bool {
        subnet.contains(&a)
            && a != subnet.network()
            && (matches!(subnet, IpNet::V6(_)) || a != subnet.broadcast())
    };
    let gateway = if c.gateway.is_empty() {
        first_host(&subnet)
    } else {
        let g = ip("gateway", &c.gateway)?;
        if !same_family(&subnet, g) || !host_addr_ok(g) {
            return Err(FerryError::invalid(format!(
                "gateway {g} is not a usable host address of subnet {subnet}"
            )));
        }
        g
    };
    let mut aux = BTreeMap::new();
    for (name, a) in &c.auxiliary_addresses {
        let addr = ip("aux-address", a)?;
        if !same_family(&subnet, addr) || !host_addr_ok(addr) {
            return Err(FerryError::invalid(format!(
                "aux-address {name}={addr} is not a usable host address of subnet {subnet}"
            )));
        }
        if addr == gateway {
            return Err(FerryError::invalid(format!(
                "aux-address {name}={addr} is the gateway's address"
            )));
        }
        aux.insert(name.clone(), addr);
    }
    Ok(SubnetConfig {
        subnet,
        ip_range,
        gateway: Some(gateway),
        aux_addresses: aux,
    })
}

/// The first host address of a subnet (the default gateway).
pub fn first_host(subnet: &IpNet) -> IpAddr {
    match subnet {
        IpNet::V4(n) => IpAddr::V4((u32::from(n.network()) + 1).into()),
        IpNet::V6(n) => IpAddr::V6((u128::from(n.network()) + 1).into()),
    }
}

/// The checked user part of a network-create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedNetworkRequest {
    /// The user's subnets, checked.
    pub subnets: Vec<SubnetConfig>,
    /// IPv6 on.
    pub enable_ipv6: bool,
}

/// Checks everything in a network-create request that needs no knowledge of other networks.
pub fn network_request(req: &NetworkCreateRequest) -> Result<CheckedNetworkRequest> {
    object_name("network", &req.name)?;
    if !req.scope.is_empty() && req.scope != crate::model::SCOPE_LOCAL {
        return Err(FerryError::invalid(format!(
            "scope {:?} is not supported: ferry networks are local to this host",
            req.scope
        )));
    }
    if req.ingress {
        return Err(FerryError::invalid(
            "ingress networks are not supported on a single host",
        ));
    }
    if req.config_only
        || req
            .config_from
            .as_ref()
            .is_some_and(|c| !c.network.is_empty())
    {
        return Err(FerryError::invalid(
            "config-only networks and --config-from are not supported",
        ));
    }
    if req.enable_ipv4 == Some(false) {
        return Err(FerryError::invalid(
            "IPv4 cannot be disabled on bridge networks",
        ));
    }
    let ipam = req.ipam.clone().unwrap_or_default();
    if !(ipam.driver.is_empty() || ipam.driver == "default") {
        return Err(FerryError::invalid(format!(
            "IPAM driver {:?} is not supported: use the default driver",
            ipam.driver
        )));
    }
    let mut subnets = Vec::new();
    for c in &ipam.config {
        let s = subnet_config(c)?;
        if let Some(prev) = subnets
            .iter()
            .find(|p: &&SubnetConfig| overlaps(&p.subnet, &s.subnet))
        {
            return Err(FerryError::invalid(format!(
                "subnets {} and {} overlap: each --subnet of a network must be distinct",
                prev.subnet, s.subnet
            )));
        }
        subnets.push(s);
    }
    let has_v6 = subnets.iter().any(|s| matches!(s.subnet, IpNet::V6(_)));
    let enable_ipv6 = req.enable_ipv6.unwrap_or(false);
    if has_v6 && !enable_ipv6 {
        return Err(FerryError::invalid(
            "an IPv6 --subnet was given without --ipv6: add --ipv6 to enable IPv6 on the network",
        ));
    }
    Ok(CheckedNetworkRequest {
        subnets,
        enable_ipv6,
    })
}

/// Parses an `--add-host` entry `name:ip` (`name=ip` also accepted; `host-gateway` allowed).
pub fn extra_host(s: &str) -> Result<crate::model::ExtraHost> {
    let (name, addr) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| {
            FerryError::invalid(format!(
                "invalid --add-host {s:?}: expected NAME:IP, e.g. db:10.0.0.5 or gw:host-gateway"
            ))
        })?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(FerryError::invalid(format!(
            "invalid host name {name:?} in --add-host {s:?}"
        )));
    }
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = if addr == "host-gateway" {
        None
    } else {
        Some(ip("address in --add-host", addr)?)
    };
    Ok(crate::model::ExtraHost {
        name: name.to_string(),
        addr,
    })
}

/// Parses a `--link NAME[:ALIAS]` entry into the target's name and the alias (the name when
/// no alias is given).
pub fn link(s: &str) -> Result<(String, String)> {
    let (name, alias) = match s.split_once(':') {
        Some((n, a)) => (n, a),
        None => (s, s),
    };
    let name = name.trim_start_matches('/');
    let ok = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    };
    if !ok(name) || !ok(alias) {
        return Err(FerryError::invalid(format!(
            "invalid --link {s:?}: expected NAME or NAME:ALIAS, e.g. db or db:database"
        )));
    }
    Ok((name.to_string(), alias.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Ipam;

    #[test]
    fn links_take_an_optional_alias() {
        assert_eq!(link("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(link("/db:data").unwrap(), ("db".into(), "data".into()));
        for bad in ["", ":x", "db:", "d b", "db:a:b"] {
            let e = link(bad).unwrap_err().to_string();
            assert!(e.contains("invalid --link"), "{bad}: {e}");
        }
    }

    fn req(name: &str, cfg: Vec<IpamConfig>, v6: bool) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ipam: Some(Ipam {
                config: cfg,
                ..Default::default()
            }),
            enable_ipv6: Some(v6),
            ..Default::default()
        }
    }

    fn sub(s: &str) -> IpamConfig {
        IpamConfig {
            subnet: s.into(),
            ..Default::default()
        }
    }

    #[test]
    fn names() {
        assert!(object_name("network", "my-net_1.x").is_ok());
        assert!(object_name("network", "-bad").is_err());
        assert!(object_name("network", "").is_err());
        assert!(object_name("network", "a b").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            cidr("subnet", "10.1.0.0/16").unwrap().to_string(),
            "10.1.0.0/16"
        );
        let e = cidr("subnet", "10.1.2.3/16").unwrap_err();
        assert!(e.message.contains("did you mean 10.1.0.0/16"), "{e}");
        assert!(cidr("subnet", "10.1.0.0/33").is_err());
        assert!(cidr("subnet", "banana").is_err());
    }

    #[test]
    fn gateway_defaults_to_first_host() {
        let c = network_request(&req("n", vec![sub("10.5.0.0/24")], false)).unwrap();
        assert_eq!(c.subnets[0].gateway, Some("10.5.0.1".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_subnet_parts() {
        let mut c = sub("10.5.0.0/24");
        c.gateway = "10.6.0.1".into();
        assert!(network_request(&req("n", vec![c], false))
            .unwrap_err()
            .message
            .contains("not a usable host address"));
        let mut c = sub("10.5.0.0/24");
        c.gateway = "10.5.0.255".into();
        assert!(network_request(&req("n", vec![c], false)).is_err());
        let mut c = sub("10.5.0.0/24");
        c.ip_range = "10.5.1.0/25".into();
        assert!(network_request(&req("n", vec![c], false))
            .unwrap_err()
            .message
            .contains("not inside subnet"));
        let c = IpamConfig {
            gateway: "10.0.0.1".into(),
            ..Default::default()
        };
        assert!(network_request(&req("n", vec![c], false))
            .unwrap_err()
            .message
            .contains("need a --subnet"));
    }

    #[test]
    fn rejects_overlaps_and_v6_without_flag() {
        let e = network_request(&req(
            "n",
            vec![sub("10.0.0.0/16"), sub("10.0.1.0/24")],
            false,
        ))
        .unwrap_err();
        assert!(e.message.contains("overlap"), "{e}");
        let e = network_request(&req("n", vec![sub("fd00:1::/64")], false)).unwrap_err();
        assert!(e.message.contains("--ipv6"), "{e}");
        assert!(network_request(&req(
            "n",
            vec![sub("10.9.0.0/16"), sub("fd00:1::/64")],
            true
        ))
        .is_ok());
    }

    #[test]
    fn macs_and_hosts() {
        assert_eq!(mac("02:42:AC:11:00:02").unwrap(), "02:42:ac:11:00:02");
        assert_eq!(
            mac_bytes("02:42:ac:11:00:02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(mac_bytes("02:42"), None);
        assert!(mac("01:00:5e:00:00:01").is_err());
        assert!(mac("02:42").is_err());
        let h = extra_host("db:10.0.0.5").unwrap();
        assert_eq!(h.addr, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(extra_host("gw:host-gateway").unwrap().addr, None);
        assert_eq!(
            extra_host("v6:[::1]").unwrap().addr,
            Some("::1".parse().unwrap())
        );
        assert!(extra_host("nocolon").is_err());
    }
}

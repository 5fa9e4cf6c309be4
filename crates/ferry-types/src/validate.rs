//! Pure validation of user input: names, addresses, subnets, DNS names and options, a
//! sandbox's process settings, the limits on labels and options, and the network-create
//! request.

use crate::api::{IpamConfig, NetworkCreateRequest, SandboxCreateRequest};
use crate::error::{FerryError, Result};
use crate::mac::MacAddr;
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
    s.parse::<MacAddr>().ok().map(|m| m.octets())
}

/// Parses a MAC address an interface can have (`02:42:ac:11:00:02`): unicast and not all
/// zeros (the kernel refuses both for an interface).
pub fn mac_addr(s: &str) -> Result<MacAddr> {
    match s.parse::<MacAddr>() {
        Ok(m) if m.is_zero() => Err(FerryError::invalid(format!(
            "invalid MAC address {s:?}: all zeros is no interface's address; give a unicast address such as 02:42:ac:11:00:02"
        ))),
        Ok(m) if m.is_broadcast() => Err(FerryError::invalid(format!(
            "invalid MAC address {s:?}: it is the broadcast address; give a unicast address such as 02:42:ac:11:00:02"
        ))),
        Ok(m) if !m.is_multicast() => Ok(m),
        Ok(_) => Err(FerryError::invalid(format!(
            "invalid MAC address {s:?}: it is a multicast address; the first byte must be even"
        ))),
        Err(e) => Err(FerryError::invalid(e.to_string())),
    }
}

/// [`mac_addr`], normalised to lowercase text.
pub fn mac(s: &str) -> Result<String> {
    mac_addr(s).map(|m| m.to_string())
}

/// Checks that a subnet (of a network, an `--ip-range`, `bip` or an address pool) holds only
/// addresses an interface can use: none of loopback, multicast, link-local, broadcast,
/// unspecified or IPv4-mapped.
pub fn usable_subnet(what: &str, net: &IpNet) -> Result<()> {
    match ferry_ipam::special_range(net) {
        Some((range, name)) => Err(FerryError::invalid(format!(
            "invalid {what} {net}: it overlaps {range} ({name}), which a network cannot use; choose a private range such as 172.20.0.0/16 or fd00:1::/64"
        ))),
        None => Ok(()),
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
    usable_subnet("subnet", &subnet)?;
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
    if !req.scope.is_empty()
        && req.scope != crate::model::SCOPE_LOCAL
        && req.scope != crate::model::SCOPE_SWARM
    {
        return Err(FerryError::invalid(format!(
            "scope {:?} is not supported: give local or swarm",
            req.scope
        )));
    }
    if req.ingress && req.driver != "overlay" {
        return Err(FerryError::invalid(
            "an ingress network is the swarm's routing mesh: create it with the overlay driver (-d overlay --ingress)",
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
    entries("label", &req.labels)?;
    entries("driver option", &req.options)?;
    let ipam = req.ipam.clone().unwrap_or_default();
    if let Some(o) = &ipam.options {
        entries("IPAM option", o)?;
    }
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

/// At most this many labels (or driver options) per object.
pub const MAX_ENTRIES: usize = 1000;
/// At most this many bytes in a label's (or option's) key.
pub const MAX_KEY_BYTES: usize = 256;
/// At most this many bytes in a label's (or option's) value.
pub const MAX_VALUE_BYTES: usize = 4096;
/// At most this many bytes in all of an object's labels (or options), keys and values.
pub const MAX_ENTRIES_BYTES: usize = 64 * 1024;

/// Checks the labels (or driver options) of one object against the limits above, generous for
/// real use, so that requests cannot grow the daemon's memory and store without bound. Keys
/// must not be empty; neither keys nor values may hold a NUL byte.
pub fn entries(what: &str, map: &BTreeMap<String, String>) -> Result<()> {
    if map.len() > MAX_ENTRIES {
        return Err(FerryError::invalid(format!(
            "too many {what}s: {} given, at most {MAX_ENTRIES} are allowed per object",
            map.len()
        )));
    }
    let mut total = 0;
    for (k, v) in map {
        if k.is_empty() {
            return Err(FerryError::invalid(format!(
                "invalid {what} {k:?}={v:?}: the key is empty; use KEY=VALUE"
            )));
        }
        if k.len() > MAX_KEY_BYTES {
            return Err(FerryError::invalid(format!(
                "invalid {what} {:?}...: its key is {} bytes long, at most {MAX_KEY_BYTES} are allowed",
                truncated(k),
                k.len()
            )));
        }
        if v.len() > MAX_VALUE_BYTES {
            return Err(FerryError::invalid(format!(
                "invalid {what} {k:?}: its value is {} bytes long, at most {MAX_VALUE_BYTES} are allowed",
                v.len()
            )));
        }
        no_nul(what, k)?;
        no_nul(&format!("{what} {k:?}"), v)?;
        total += k.len() + v.len();
    }
    if total > MAX_ENTRIES_BYTES {
        return Err(FerryError::invalid(format!(
            "the {what}s of this object take {total} bytes, at most {MAX_ENTRIES_BYTES} are allowed; keep large data elsewhere"
        )));
    }
    Ok(())
}

/// The first characters of a long text, for a message.
fn truncated(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Refuses a NUL byte: the kernel ends a program's arguments, environment and paths at it, so
/// it cannot be passed on.
pub fn no_nul(what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(FerryError::invalid(format!(
            "invalid {what} {s:?}: it contains a NUL byte, which a program's arguments, environment and paths cannot carry; remove it"
        )));
    }
    Ok(())
}

/// Why `name` is not a DNS name whose labels are made of letters, digits and the bytes in
/// `extra` (1 to 63 bytes each, joined by single dots, 253 bytes at most), if it is not.
fn dns_name_problem(name: &str, extra: &[u8]) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > 253 {
        return Some(format!(
            "it is {} bytes long, a DNS name has at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("it has an empty label (a leading, trailing or double dot)".into());
        }
        if label.len() > 63 {
            return Some(format!(
                "its label {:?}... is {} bytes long, a DNS label has at most 63",
                truncated(label),
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || (c.is_ascii() && extra.contains(&(*c as u8)))))
        {
            return Some(format!("{c:?} is not allowed in it"));
        }
    }
    None
}

/// Checks a network-scoped alias (a name the embedded DNS answers): letters, digits, '-' and
/// '_' in labels of at most 63 bytes, joined by dots, at most 253 bytes.
pub fn alias(s: &str) -> Result<()> {
    match dns_name_problem(s, b"-_") {
        None => Ok(()),
        Some(why) => Err(FerryError::invalid(format!(
            "invalid network alias {s:?}: {why}; an alias is a DNS name: letters, digits, '-' and '_' in labels of at most 63 characters joined by '.', at most 253 in all"
        ))),
    }
}

/// Checks a host name or domain name of a sandbox (`what` says which): a DNS name of letters,
/// digits and '-', at most 64 bytes (the kernel's limit for both).
pub fn hostname(what: &str, s: &str) -> Result<()> {
    let why = if s.len() > 64 {
        Some(format!("it is {} bytes long", s.len()))
    } else {
        dns_name_problem(s, b"-")
    };
    match why {
        None => Ok(()),
        Some(why) => Err(FerryError::invalid(format!(
            "invalid {what} {s:?}: {why}; use letters, digits, '-' and '.' (labels of at most 63 characters), at most 64 in all"
        ))),
    }
}

/// Checks a DNS search domain (`--dns-search`, `DnsSearch`, daemon.json's `dns-search`) as
/// Docker does: `.` (no search domain), or a domain name of letters, digits and '-' with at
/// least one letter, and an optional final dot. It is written into resolv.conf, so anything
/// else (a newline above all) is refused.
pub fn dns_search(s: &str) -> Result<()> {
    if s == "." {
        return Ok(());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let why = match dns_name_problem(name, b"-") {
        Some(why) => Some(why),
        None if !name.bytes().any(|b| b.is_ascii_alphabetic()) => {
            Some("it has no letter".to_string())
        }
        None => None,
    };
    match why {
        None => Ok(()),
        Some(why) => Err(FerryError::invalid(format!(
            "invalid DNS search domain {s:?}: {why}; give a domain name such as example.com (letters, digits, '-' and '.'), or . for none"
        ))),
    }
}

/// Checks a resolv.conf option (`--dns-option`, `DnsOptions`, daemon.json's `dns-opts`), such
/// as `ndots:2` or `edns0`: one token of printable characters, no whitespace. It is written
/// into resolv.conf, so a newline could add lines of its own.
pub fn dns_option(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FerryError::invalid(format!(
            "invalid DNS option {s:?}: give one resolv.conf option such as ndots:2 or edns0 (printable characters, no spaces, at most 255)"
        )));
    }
    Ok(())
}

/// Checks an environment entry: `KEY=VALUE` with a key, and no NUL byte.
pub fn env_entry(e: &str) -> Result<()> {
    if !e.contains('=') || e.starts_with('=') {
        return Err(FerryError::invalid(format!(
            "invalid environment entry {e:?}: expected KEY=VALUE"
        )));
    }
    no_nul("environment entry", e)
}

/// Checks what a sandbox create request holds that needs no knowledge of other objects: its
/// command, environment, paths, names, DNS settings and labels. Networks, addresses, ports,
/// links and extra hosts are checked where they are resolved.
pub fn sandbox_request(req: &SandboxCreateRequest) -> Result<()> {
    if req.cmd.is_empty() || req.cmd[0].is_empty() {
        return Err(FerryError::invalid(
            "no command given: put the program after --, e.g. ferry run -- sleep 60",
        ));
    }
    for (i, arg) in req.cmd.iter().enumerate() {
        let what = if i == 0 {
            "program".to_string()
        } else {
            format!("command argument {i}")
        };
        no_nul(&what, arg)?;
    }
    for e in &req.env {
        env_entry(e)?;
    }
    no_nul("working directory", &req.working_dir)?;
    no_nul("rootfs", &req.rootfs)?;
    if !req.hostname.is_empty() {
        hostname("hostname", &req.hostname)?;
    }
    if !req.domainname.is_empty() {
        hostname("domainname", &req.domainname)?;
    }
    for d in &req.dns_search {
        dns_search(d)?;
    }
    for o in &req.dns_options {
        dns_option(o)?;
    }
    for n in &req.networks {
        for a in &n.aliases {
            alias(a)?;
        }
    }
    entries("label", &req.labels)
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
    if let Some(why) = dns_name_problem(name, b"-_") {
        return Err(FerryError::invalid(format!(
            "invalid host name {name:?} in --add-host {s:?}: {why}; use a DNS name (letters, digits, '-' and '_' in labels of at most 63 characters)"
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
    // The alias is written into /etc/hosts as a host name.
    if let Some(why) = dns_name_problem(alias, b"-_") {
        return Err(FerryError::invalid(format!(
            "invalid --link {s:?}: the alias {why}; use a DNS name (labels of at most 63 characters)"
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
        let long = format!("db:{}", "a".repeat(64));
        for bad in ["", ":x", "db:", "d b", "db:a:b", "db:a..b", &long] {
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
    fn special_subnets_are_refused() {
        for bad in [
            "127.0.0.0/8",
            "127.1.0.0/16",
            "255.255.255.0/24",
            "224.0.0.0/4",
            "239.1.0.0/16",
            "169.254.0.0/16",
            "0.0.0.0/0",
            "0.0.0.0/8",
            "64.0.0.0/2",
            "fe80::/64",
            "ff00::/8",
            "::/0",
            "::/64",
            "::ffff:10.0.0.0/104",
        ] {
            let e = network_request(&req("n", vec![sub(bad)], true))
                .unwrap_err()
                .to_string();
            assert!(e.contains("which a network cannot use"), "{bad}: {e}");
            assert!(e.contains(bad), "{bad}: {e}");
        }
        let e = usable_subnet("subnet", &"127.0.0.0/8".parse().unwrap()).unwrap_err();
        assert!(e.message.contains("(loopback)"), "{e}");
        for good in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "240.0.0.0/24",
            "fd00:1::/64",
            "2001:db8::/64",
        ] {
            assert!(
                network_request(&req("n", vec![sub(good)], true)).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn macs_must_be_usable_unicast() {
        for bad in [
            "00:00:00:00:00:00",
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "33:33:00:00:00:01",
        ] {
            assert!(mac(bad).is_err(), "{bad}");
        }
        assert!(mac("00:00:00:00:00:00")
            .unwrap_err()
            .message
            .contains("all zeros"));
        assert!(mac("FF:FF:FF:FF:FF:FF")
            .unwrap_err()
            .message
            .contains("broadcast"));
        assert_eq!(mac("02:00:00:00:00:01").unwrap(), "02:00:00:00:00:01");
    }

    #[test]
    fn dns_search_domains_are_names() {
        for good in ["example.com", "example.com.", ".", "a-b.c1", "x"] {
            assert!(dns_search(good).is_ok(), "{good}");
        }
        for bad in [
            "example.com\nnameserver 6.6.6.6",
            "a b",
            "",
            "..",
            "a..b",
            "-",
            "123.456",
            "under_score.com",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}.com", "a.".repeat(130)),
        ] {
            let e = dns_search(bad).unwrap_err().to_string();
            assert!(e.contains("invalid DNS search domain"), "{bad}: {e}");
        }
    }

    #[test]
    fn dns_options_are_single_tokens() {
        for good in ["ndots:2", "edns0", "timeout:1", "use-vc"] {
            assert!(dns_option(good).is_ok(), "{good}");
        }
        for bad in ["", "ndots:2\nnameserver 6.6.6.6", "a b", "tab\tx", "\u{e9}"] {
            let e = dns_option(bad).unwrap_err().to_string();
            assert!(e.contains("invalid DNS option"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn aliases_and_hostnames_are_dns_names() {
        for good in ["db", "my_db", "db-1.backend", &"a".repeat(63)] {
            assert!(alias(good).is_ok(), "{good}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["a"; 127].join(".") + ".ab";
        for bad in [
            "",
            "a b",
            "a\nb",
            ".a",
            "a.",
            "a..b",
            "a/b",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            let e = alias(bad).unwrap_err().to_string();
            assert!(e.contains("invalid network alias"), "{bad:?}: {e}");
        }
        assert!(alias(&long_label)
            .unwrap_err()
            .message
            .contains("at most 63"));
        assert!(alias(&long_name)
            .unwrap_err()
            .message
            .contains("at most 253"));
        for good in ["web", "web-1.example.com", &"a".repeat(63)] {
            assert!(hostname("hostname", good).is_ok(), "{good}");
        }
        for bad in [
            "a b",
            "a\nb",
            "a_b",
            "a..b",
            &"a".repeat(64),
            &["abc"; 17].join("."),
        ] {
            let e = hostname("hostname", bad).unwrap_err().to_string();
            assert!(e.contains("invalid hostname"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn entries_are_bounded() {
        let map = |n: usize, k: usize, v: usize| -> BTreeMap<String, String> {
            (0..n)
                .map(|i| (format!("{i:0>k$}"), "v".repeat(v)))
                .collect()
        };
        assert!(entries("label", &map(MAX_ENTRIES, 4, 10)).is_ok());
        assert!(entries("label", &map(1, MAX_KEY_BYTES, MAX_VALUE_BYTES)).is_ok());
        let e = entries("label", &map(MAX_ENTRIES + 1, 4, 0)).unwrap_err();
        assert!(e.message.contains("too many labels"), "{e}");
        let e = entries("label", &map(1, MAX_KEY_BYTES + 1, 0)).unwrap_err();
        assert!(e.message.contains("at most 256"), "{e}");
        let e = entries("driver option", &map(1, 4, MAX_VALUE_BYTES + 1)).unwrap_err();
        assert!(e.message.contains("invalid driver option"), "{e}");
        // 20 values of 4000 bytes: each is fine, together they are 80 000 bytes.
        let e = entries("label", &map(20, 4, 4000)).unwrap_err();
        assert!(e.message.contains("at most 65536"), "{e}");
        let empty_key = BTreeMap::from([(String::new(), "v".to_string())]);
        let e = entries("label", &empty_key).unwrap_err();
        assert!(e.message.contains("key is empty"), "{e}");
        let mut nul = BTreeMap::new();
        nul.insert("k".to_string(), "a\0b".to_string());
        assert!(entries("label", &nul).unwrap_err().message.contains("NUL"));
        // Network requests check their labels, options and IPAM options.
        let mut r = req("n", vec![], false);
        r.options = map(MAX_ENTRIES + 1, 4, 0);
        assert!(network_request(&r).is_err());
        let mut r = req("n", vec![], false);
        r.labels = map(1, MAX_KEY_BYTES + 1, 0);
        assert!(network_request(&r).is_err());
    }

    fn sandbox(cmd: &[&str]) -> SandboxCreateRequest {
        SandboxCreateRequest {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sandbox_requests_refuse_nul_and_bad_names() {
        assert!(sandbox_request(&sandbox(&["sleep", "60"])).is_ok());
        assert!(sandbox_request(&sandbox(&[])).is_err());
        let e = sandbox_request(&sandbox(&["sleep", "6\x000"])).unwrap_err();
        assert!(e.message.contains("command argument 1"), "{e}");
        assert!(e.message.contains("NUL"), "{e}");
        let e = sandbox_request(&sandbox(&["sl\0eep"])).unwrap_err();
        assert!(e.message.contains("program"), "{e}");
        type Change = fn(&mut SandboxCreateRequest);
        let checks: Vec<(Change, &str)> = vec![
            (|r| r.env = vec!["A=b\0c".into()], "environment entry"),
            (|r| r.env = vec!["novalue".into()], "KEY=VALUE"),
            (|r| r.working_dir = "/tmp\0x".into(), "working directory"),
            (|r| r.hostname = "bad host".into(), "invalid hostname"),
            (|r| r.domainname = "a\nb".into(), "invalid domainname"),
            (
                |r| r.dns_search = vec!["x.com\nnameserver 1.2.3.4".into()],
                "DNS search",
            ),
            (
                |r| r.dns_options = vec!["ndots:1 rotate".into()],
                "DNS option",
            ),
            (
                |r| {
                    r.networks = vec![crate::api::NetworkRequest {
                        name: "n".into(),
                        aliases: vec!["a b".into()],
                        ..Default::default()
                    }]
                },
                "network alias",
            ),
            (
                |r| {
                    r.labels = (0..=MAX_ENTRIES)
                        .map(|i| (i.to_string(), String::new()))
                        .collect()
                },
                "too many labels",
            ),
        ];
        for (set, want) in checks {
            let mut r = sandbox(&["sleep", "60"]);
            set(&mut r);
            let e = sandbox_request(&r).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
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
        for bad in [
            "a b:10.0.0.1",
            "a..b:10.0.0.1",
            &format!("{}:10.0.0.1", "a".repeat(64)),
        ] {
            let e = extra_host(bad).unwrap_err().to_string();
            assert!(e.contains("invalid host name"), "{bad}: {e}");
        }
    }
}

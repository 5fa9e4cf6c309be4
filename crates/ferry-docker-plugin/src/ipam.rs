//! The remote IPAM driver's address arithmetic: a pool's ID is its subnet, so nothing needs
//! to survive a restart of this front end; the addresses in use are those ferry's network
//! holds and those handed out for endpoints dockerd has not joined yet.

use crate::error::PluginError;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The name of ferry's address space.
pub const ADDRESS_SPACE: &str = "ferry";

/// How many addresses of a pool are tried for a free one (a /16 of IPv6 would be endless).
const SCAN_LIMIT: usize = 1 << 16;

/// Parses a pool (or a pool's ID, the same text).
pub fn parse_pool(pool: &str) -> Result<IpNet, PluginError> {
    let net: IpNet = pool
        .parse()
        .map_err(|_| PluginError::invalid(format!("invalid pool {pool:?}: want a CIDR subnet")))?;
    if net.trunc() != net {
        return Err(PluginError::invalid(format!(
            "pool {pool} has host bits set: use {}",
            net.trunc()
        )));
    }
    Ok(net)
}

/// Parses an address asked for, which must lie in the pool.
pub fn parse_in_pool(pool: &IpNet, addr: &str) -> Result<IpAddr, PluginError> {
    let ip: IpAddr = addr
        .split('/')
        .next()
        .unwrap_or(addr)
        .parse()
        .map_err(|_| PluginError::invalid(format!("invalid address {addr:?}")))?;
    if !pool.contains(&ip) {
        return Err(PluginError::invalid(format!(
            "address {ip} is not in pool {pool}"
        )));
    }
    Ok(ip)
}

/// The address with the pool's prefix length, as dockerd wants it back.
pub fn with_len(pool: &IpNet, ip: IpAddr) -> String {
    format!("{ip}/{}", pool.prefix_len())
}

/// The lowest usable address of the pool that is not in `used`.
pub fn first_free(pool: &IpNet, used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    pool.hosts().take(SCAN_LIMIT).find(|ip| !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_must_be_subnets() {
        assert!(parse_pool("10.80.0.0/24").is_ok());
        assert!(parse_pool("10.80.0.1/24").is_err());
        assert!(parse_pool("nonsense").is_err());
    }

    #[test]
    fn addresses_must_be_in_the_pool() {
        let p = parse_pool("10.80.0.0/24").unwrap();
        assert_eq!(
            parse_in_pool(&p, "10.80.0.7").unwrap().to_string(),
            "10.80.0.7"
        );
        assert_eq!(
            parse_in_pool(&p, "10.80.0.7/24").unwrap().to_string(),
            "10.80.0.7"
        );
        assert!(parse_in_pool(&p, "10.81.0.7").is_err());
    }

    #[test]
    fn free_addresses_skip_used_ones_and_the_network_address() {
        let p = parse_pool("10.80.0.0/29").unwrap();
        let mut used = BTreeSet::new();
        assert_eq!(first_free(&p, &used).unwrap().to_string(), "10.80.0.1");
        used.insert("10.80.0.1".parse().unwrap());
        used.insert("10.80.0.2".parse().unwrap());
        assert_eq!(first_free(&p, &used).unwrap().to_string(), "10.80.0.3");
        for i in 3..=6 {
            used.insert(format!("10.80.0.{i}").parse().unwrap());
        }
        // .7 is the broadcast address.
        assert_eq!(first_free(&p, &used), None);
        assert_eq!(with_len(&p, "10.80.0.3".parse().unwrap()), "10.80.0.3/29");
    }
}

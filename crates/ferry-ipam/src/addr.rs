//! Addresses as plain integers, so that IPv4 and IPv6 share one arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The address as an integer (IPv4 in the low 32 bits).
pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of the given family with that integer value.
///
/// For IPv4 only the low 32 bits count; callers derive the value from IPv4
/// networks, so it always fits.
pub(crate) fn from_u128(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        debug_assert!(value <= u128::from(u32::MAX));
        IpAddr::V4(Ipv4Addr::from(value as u32))
    }
}

/// First and last address of the network, as integers (host bits ignored).
pub(crate) fn bounds(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// The host bits of a prefix length in the family: `2^(bits - prefix) - 1`.
pub(crate) fn host_mask(v6: bool, prefix: u8) -> u128 {
    // checked_shr: a full-length prefix would shift by the whole width.
    if v6 {
        u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0)
    } else {
        u128::from(u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0))
    }
}

/// The family's name as ferry's messages spell it.
pub(crate) fn family_name(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["0.0.0.0", "10.1.2.3", "255.255.255.255"] {
            let ip: IpAddr = s.parse().expect("ip");
            assert_eq!(from_u128(false, to_u128(ip)), ip);
        }
        for s in ["::", "fd00::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"] {
            let ip: IpAddr = s.parse().expect("ip");
            assert_eq!(from_u128(true, to_u128(ip)), ip);
        }
    }

    #[test]
    fn masks_at_the_edges() {
        assert_eq!(host_mask(false, 0), u128::from(u32::MAX));
        assert_eq!(host_mask(false, 24), 255);
        assert_eq!(host_mask(false, 32), 0);
        assert_eq!(host_mask(true, 0), u128::MAX);
        assert_eq!(host_mask(true, 64), u128::from(u64::MAX));
        assert_eq!(host_mask(true, 128), 0);
    }

    #[test]
    fn bounds_ignore_host_bits() {
        let net: IpNet = "10.0.0.7/24".parse().expect("net");
        assert_eq!(bounds(&net), (0x0a00_0000, 0x0a00_00ff));
    }
}

//! Element changes as the kernel takes them: the key of each element in nf_tables' binary
//! form, for the daemon to send as set-element messages of its own instead of through
//! libnftables, which rebuilds its cache of ferry's tables (every chain and set) before each
//! transaction. Only set elements whose key is a concatenation of interface names, MAC and
//! IP addresses are encoded; a map element (a value after ` : `) or any other field type is
//! not, and its transaction goes through libnftables as text.

use std::net::{Ipv4Addr, Ipv6Addr};

/// nf_tables' length of an `ifname` field (`IFNAMSIZ`).
const IFNAMSIZ: usize = 16;

/// One element added to or deleted from one of ferry's sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryElement {
    /// Added (`true`) or deleted.
    pub add: bool,
    /// In the `bridge` table (`true`) or the `inet` one.
    pub bridge: bool,
    /// The set.
    pub set: String,
    /// The key, as nf_tables stores it.
    pub key: Vec<u8>,
}

/// One field of a key, as nft writes it: `"name"`, a MAC address, an IPv4 or IPv6 address.
fn field(text: &str) -> Option<Vec<u8>> {
    if let Some(name) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if name.is_empty() || name.len() >= IFNAMSIZ || name.contains('"') {
            return None;
        }
        let mut b = name.as_bytes().to_vec();
        b.resize(IFNAMSIZ, 0);
        return Some(b);
    }
    if let Some(mac) = mac(text) {
        return Some(mac.to_vec());
    }
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Some(a.octets().to_vec());
    }
    if let Ok(a) = text.parse::<Ipv6Addr>() {
        return Some(a.octets().to_vec());
    }
    None
}

fn mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The key of an element written as nft text (`"vf1" . 02:42:ac:11:00:02 . 10.0.0.2`), or
/// `None` when it is not a set key made of the fields above. In a concatenation each field
/// takes a multiple of four bytes, zero-padded (a MAC address takes eight).
pub fn key(value: &str) -> Option<Vec<u8>> {
    if value.contains(" : ") {
        return None;
    }
    let parts: Vec<&str> = value.split(" . ").map(str::trim).collect();
    let mut out = Vec::new();
    for p in &parts {
        let mut f = field(p)?;
        if parts.len() > 1 {
            f.resize(f.len().div_ceil(4) * 4, 0);
        }
        out.extend(f);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_nft_sends_them() {
        // As `nft --debug=netlink add element ...` prints them (1.0.6).
        let mut port = b"vfabc".to_vec();
        port.resize(16, 0);
        assert_eq!(key("\"vfabc\""), Some(port.clone()));
        let mut addrs = port.clone();
        addrs.extend([2, 0, 0, 0, 0, 1, 0, 0, 10, 9, 9, 9]);
        assert_eq!(key("\"vfabc\" . 02:00:00:00:00:01 . 10.9.9.9"), Some(addrs));
        let mut members = port.clone();
        members.extend([10, 9, 9, 9]);
        assert_eq!(key("\"vfabc\" . 10.9.9.9"), Some(members));
        let mut pair = port.clone();
        pair.extend(port.clone());
        assert_eq!(key("\"vfabc\" . \"vfabc\""), Some(pair));
        assert_eq!(key("10.1.2.3"), Some(vec![10, 1, 2, 3]));
        let v6 = key("fd00::1").unwrap();
        assert_eq!(v6.len(), 16);
        assert_eq!(v6[15], 1);
    }

    #[test]
    fn anything_else_is_left_to_nft() {
        assert_eq!(key("10.0.0.100 . tcp . 80 : 10.0.0.2 . 80"), None);
        assert_eq!(key("tcp . 8080"), None);
        assert_eq!(key("\"a-name-that-is-too-long\""), None);
        assert_eq!(key("\"\""), None);
        assert_eq!(key("02:00:00:00:00"), None);
    }
}

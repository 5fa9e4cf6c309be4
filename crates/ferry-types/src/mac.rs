//! MAC addresses: six bytes, written `02:42:ac:11:00:02` (lowercase) in records, replies and
//! the kernel's tools.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A MAC (Ethernet) address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr([u8; 6]);

/// Text that is not six pairs of hex digits separated by colons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex pairs such as 02:42:ac:11:00:02")]
pub struct InvalidMac(pub String);

impl MacAddr {
    /// The address of these bytes.
    pub const fn new(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
    /// Its bytes.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
    /// True for a multicast (or broadcast) address: the first byte is odd.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    /// True for 00:00:00:00:00:00.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

impl FromStr for MacAddr {
    type Err = InvalidMac;

    /// Reads `02:42:ac:11:00:02`, in either case.
    fn from_str(s: &str) -> Result<Self, InvalidMac> {
        let bad = || InvalidMac(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        match parts.next() {
            None => Ok(MacAddr(out)),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_lowercase() {
        let m: MacAddr = "02:42:AC:11:00:02".parse().unwrap();
        assert_eq!(m.octets(), [2, 0x42, 0xac, 0x11, 0, 2]);
        assert_eq!(m.to_string(), "02:42:ac:11:00:02");
        assert!(!m.is_multicast());
        assert!("01:00:5e:00:00:01"
            .parse::<MacAddr>()
            .unwrap()
            .is_multicast());
        assert!("ff:ff:ff:ff:ff:ff"
            .parse::<MacAddr>()
            .unwrap()
            .is_broadcast());
        assert!("00:00:00:00:00:00".parse::<MacAddr>().unwrap().is_zero());
    }

    #[test]
    fn refuses_what_is_not_six_hex_pairs() {
        for bad in [
            "",
            "02:42",
            "02:42:ac:11:00:02:03",
            "02:42:ac:11:00:2",
            "02:42:ac:11:00:+2",
            "02-42-ac-11-00-02",
            "02:42:ac:11:00:0g",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn is_a_string_in_json() {
        let m = MacAddr::new([2, 0x42, 0xac, 0x11, 0, 2]);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#""02:42:ac:11:00:02""#);
        assert_eq!(
            serde_json::from_str::<MacAddr>(r#""02:42:AC:11:00:02""#).unwrap(),
            m
        );
        assert!(serde_json::from_str::<MacAddr>(r#""nope""#).is_err());
    }
}

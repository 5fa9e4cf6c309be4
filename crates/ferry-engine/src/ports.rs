//! Host port bookkeeping: which sandbox publishes which host port, and the next ephemeral port
//! to try. Pure: the kernel reservation that keeps host processes off a port is made by the
//! controller for each port this table hands out.

use ferry_types::ports::{PortRange, Proto};
use std::collections::HashMap;
use std::net::IpAddr;

/// Docker's default when `/proc/sys/net/ipv4/ip_local_port_range` cannot be read.
pub const DEFAULT_EPHEMERAL: PortRange = PortRange {
    start: 32768,
    end: 60999,
};

/// Parses `/proc/sys/net/ipv4/ip_local_port_range` ("32768\t60999").
pub fn parse_ephemeral_range(text: &str) -> Option<PortRange> {
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(start), Some(end)) if start > 0 && start <= end => Some(PortRange { start, end }),
        _ => None,
    }
}

/// True when two host addresses cannot both hold the same port: they are equal, or one is the
/// wildcard of the other's family (`0.0.0.0` and `::` do not clash: ferry binds `::` v6-only).
pub fn addresses_clash(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a == b || a.is_unspecified() || b.is_unspecified())
}

#[derive(Debug, Clone)]
struct Holder {
    ip: IpAddr,
    owner: String,
}

/// Host ports published by ferry, by protocol and port.
#[derive(Debug)]
pub struct PortTable {
    used: HashMap<(Proto, u16), Vec<Holder>>,
    by_owner: HashMap<String, Vec<(Proto, u16, IpAddr)>>,
    ephemeral: PortRange,
    cursor: HashMap<Proto, u16>,
}

impl Default for PortTable {
    fn default() -> Self {
        Self::new(DEFAULT_EPHEMERAL)
    }
}

impl PortTable {
    /// An empty table handing out ephemeral ports from `ephemeral`.
    pub fn new(ephemeral: PortRange) -> Self {
        Self {
            used: HashMap::new(),
            by_owner: HashMap::new(),
            ephemeral,
            cursor: HashMap::new(),
        }
    }

    /// The ephemeral range.
    pub fn ephemeral(&self) -> PortRange {
        self.ephemeral
    }

    /// The owner holding `port` on an address that clashes with `ip`, if any.
    pub fn holder(&self, proto: Proto, ip: IpAddr, port: u16) -> Option<&str> {
        self.used
            .get(&(proto, port))?
            .iter()
            .find(|h| addresses_clash(h.ip, ip))
            .map(|h| h.owner.as_str())
    }

    /// Records that `owner` publishes `port` on `ip`.
    pub fn take(&mut self, proto: Proto, ip: IpAddr, port: u16, owner: &str) {
        self.used.entry((proto, port)).or_default().push(Holder {
            ip,
            owner: owner.to_string(),
        });
        self.by_owner
            .entry(owner.to_string())
            .or_default()
            .push((proto, port, ip));
    }

    /// Frees one port `owner` holds on `ip`.
    pub fn release_one(&mut self, proto: Proto, ip: IpAddr, port: u16, owner: &str) {
        if let Some(v) = self.used.get_mut(&(proto, port)) {
            v.retain(|h| !(h.owner == owner && h.ip == ip));
            if v.is_empty() {
                self.used.remove(&(proto, port));
            }
        }
        if let Some(v) = self.by_owner.get_mut(owner) {
            v.retain(|e| *e != (proto, port, ip));
            if v.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }

    /// Frees every port `owner` holds.
    pub fn release(&mut self, owner: &str) {
        for (proto, port, ip) in self.by_owner.remove(owner).unwrap_or_default() {
            if let Some(v) = self.used.get_mut(&(proto, port)) {
                v.retain(|h| !(h.owner == owner && h.ip == ip));
                if v.is_empty() {
                    self.used.remove(&(proto, port));
                }
            }
        }
    }

    /// Ports to try, in order: the given range from its start, or the ephemeral range from
    /// just after the last ephemeral port handed out (next-fit, so a freed port is not reused
    /// at once and each choice costs O(1) amortised however many ports are taken).
    /// The iterator owns its bounds, so the table can be changed while it is walked.
    pub fn candidates(
        &self,
        proto: Proto,
        range: Option<PortRange>,
    ) -> Box<dyn Iterator<Item = u16> + Send> {
        match range {
            Some(r) => Box::new(r.start..=r.end),
            None => {
                let r = self.ephemeral;
                let start = self
                    .cursor
                    .get(&proto)
                    .map(|c| if *c >= r.end { r.start } else { c + 1 })
                    .unwrap_or(r.start)
                    .clamp(r.start, r.end);
                Box::new((start..=r.end).chain(r.start..start))
            }
        }
    }

    /// Remembers the last ephemeral port handed out for `proto`.
    pub fn advance(&mut self, proto: Proto, port: u16) {
        self.cursor.insert(proto, port);
    }

    /// How many (protocol, port) pairs are in use.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// True when no port is in use.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wildcards_clash_within_their_family_only() {
        assert!(addresses_clash(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(addresses_clash(ip("10.0.0.1"), ip("10.0.0.1")));
        assert!(!addresses_clash(ip("10.0.0.1"), ip("127.0.0.1")));
        assert!(!addresses_clash(ip("0.0.0.0"), ip("::")));
        assert!(addresses_clash(ip("::"), ip("::1")));
    }

    #[test]
    fn take_holder_release() {
        let mut t = PortTable::default();
        t.take(Proto::Tcp, ip("127.0.0.1"), 8080, "a");
        assert_eq!(t.holder(Proto::Tcp, ip("0.0.0.0"), 8080), Some("a"));
        assert_eq!(t.holder(Proto::Tcp, ip("10.0.0.1"), 8080), None);
        assert_eq!(t.holder(Proto::Udp, ip("127.0.0.1"), 8080), None);
        t.take(Proto::Tcp, ip("10.0.0.1"), 8080, "b");
        t.release("a");
        assert_eq!(t.holder(Proto::Tcp, ip("0.0.0.0"), 8080), Some("b"));
        t.release("b");
        assert!(t.is_empty());
    }

    #[test]
    fn ephemeral_candidates_are_next_fit_and_wrap() {
        let mut t = PortTable::new(PortRange {
            start: 100,
            end: 103,
        });
        assert_eq!(
            t.candidates(Proto::Tcp, None).collect::<Vec<_>>(),
            vec![100, 101, 102, 103]
        );
        t.advance(Proto::Tcp, 101);
        assert_eq!(
            t.candidates(Proto::Tcp, None).collect::<Vec<_>>(),
            vec![102, 103, 100, 101]
        );
        t.advance(Proto::Tcp, 103);
        assert_eq!(
            t.candidates(Proto::Tcp, None).collect::<Vec<_>>(),
            vec![100, 101, 102, 103]
        );
        assert_eq!(t.candidates(Proto::Udp, None).next(), Some(100));
        let fixed = PortRange {
            start: 8000,
            end: 8001,
        };
        assert_eq!(
            t.candidates(Proto::Tcp, Some(fixed)).collect::<Vec<_>>(),
            vec![8000, 8001]
        );
    }

    #[test]
    fn parses_the_kernel_range() {
        assert_eq!(
            parse_ephemeral_range("32768\t60999\n"),
            Some(DEFAULT_EPHEMERAL)
        );
        assert_eq!(parse_ephemeral_range("x"), None);
        assert_eq!(parse_ephemeral_range("5 4"), None);
    }
}

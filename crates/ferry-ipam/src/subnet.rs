//! Handing out host addresses inside one network's subnet.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::addr::{bounds, from_u128, to_u128};
use crate::error::IpamError;
use crate::intervals::IntervalSet;

/// Allocator of host addresses in one subnet.
///
/// Serial (next-fit): addresses are handed out in increasing order from a
/// cursor, wrapping around once at the end of the range, so that a freed
/// address is not handed out again at once (peers may still cache it in
/// their neighbour tables). Works for IPv4 and IPv6; addresses are kept as
/// offsets from the network address, and taken ones as runs, so a /64 costs
/// memory per run of taken addresses, not per address.
#[derive(Debug, Clone)]
pub struct SubnetAllocator {
    /// The subnet, host bits cleared.
    subnet: IpNet,
    /// The dynamic range, host bits cleared.
    range: IpNet,
    /// The network address as an integer; offsets are relative to it.
    base: u128,
    /// First offset of the dynamic range.
    lo: u128,
    /// Last offset of the dynamic range (inclusive).
    hi: u128,
    /// Offsets never handed out, with what holds them.
    reserved: BTreeMap<u128, String>,
    /// Offsets allocated or reserved: one lookup skips both.
    used: IntervalSet,
    /// How many offsets in `used` are allocated rather than reserved.
    allocated: usize,
    /// Offset of the last address handed out.
    cursor: u128,
}

impl SubnetAllocator {
    /// An allocator for `subnet` with nothing allocated.
    ///
    /// `range` is the optional --ip-range dynamic addresses come from; it
    /// must lie inside the subnet (else [`IpamError::RangeNotInSubnet`]).
    /// `reserved` lists addresses never handed out, each with a label such
    /// as "the gateway" or "auxiliary address 'router'"; each must be in the
    /// subnet (else [`IpamError::OutOfSubnet`]). The network address is
    /// always reserved, and for IPv4 subnets shorter than /31 the broadcast
    /// address too. Host bits in `subnet` and `range` are ignored.
    pub fn new(
        subnet: IpNet,
        range: Option<IpNet>,
        reserved: &[(IpAddr, String)],
    ) -> Result<Self, IpamError> {
        let subnet = subnet.trunc();
        let v6 = subnet.network().is_ipv6();
        let range = match range {
            None => subnet,
            // `contains` is false across families, which covers a mixed-up range too.
            Some(r) if subnet.contains(&r.trunc()) => r.trunc(),
            Some(r) => return Err(IpamError::RangeNotInSubnet { range: r, subnet }),
        };
        let (base, last) = bounds(&subnet);
        let (range_lo, range_hi) = bounds(&range);

        let mut labels = BTreeMap::new();
        labels.insert(0, "the network address".to_string());
        // /31 and /32 have no broadcast address (RFC 3021); IPv6 has none at all.
        if !v6 && subnet.prefix_len() < 31 {
            labels.insert(last - base, "the broadcast address".to_string());
        }
        for (ip, what) in reserved {
            if !subnet.contains(ip) {
                return Err(IpamError::OutOfSubnet { ip: *ip, subnet });
            }
            // The first label wins, so the network and broadcast addresses keep theirs.
            labels
                .entry(to_u128(*ip) - base)
                .or_insert_with(|| what.clone());
        }
        let mut used = IntervalSet::default();
        for offset in labels.keys() {
            used.insert(*offset);
        }

        Ok(Self {
            subnet,
            range,
            base,
            lo: range_lo - base,
            hi: range_hi - base,
            reserved: labels,
            used,
            allocated: 0,
            // As if the end of the range was just handed out: the first
            // allocation wraps to the start.
            cursor: range_hi - base,
        })
    }

    /// The subnet, host bits cleared.
    pub fn subnet(&self) -> IpNet {
        self.subnet
    }

    /// The range dynamic addresses come from (the subnet when none was given).
    pub fn range(&self) -> IpNet {
        self.range
    }

    /// The next free address of the range after the cursor, wrapping around
    /// once; [`IpamError::SubnetExhausted`] when there is none.
    pub fn allocate(&mut self) -> Result<IpAddr, IpamError> {
        // A cursor outside the range (restored from elsewhere) starts at the range's beginning.
        let after_cursor = if (self.lo..self.hi).contains(&self.cursor) {
            self.cursor + 1
        } else {
            self.lo
        };
        let offset = self
            .used
            .first_absent(after_cursor, self.hi)
            .or_else(|| self.used.first_absent(self.lo, self.hi))
            .ok_or(IpamError::SubnetExhausted {
                subnet: self.subnet,
                range: self.range,
            })?;
        self.used.insert(offset);
        self.allocated += 1;
        self.cursor = offset;
        Ok(self.addr_at(offset))
    }

    /// Takes a specific address (a static --ip). It must be in the subnet
    /// (it may lie outside the range), not reserved and not in use. The
    /// cursor does not move.
    pub fn allocate_specific(&mut self, ip: IpAddr) -> Result<(), IpamError> {
        let offset = self.check(ip)?;
        self.used.insert(offset);
        self.allocated += 1;
        Ok(())
    }

    /// What [`allocate_specific`](Self::allocate_specific) would say, without
    /// taking the address.
    pub fn check_specific(&self, ip: IpAddr) -> Result<(), IpamError> {
        self.check(ip).map(|_| ())
    }

    /// Gives an address back; false when it was not allocated (reserved
    /// addresses are never released).
    pub fn release(&mut self, ip: IpAddr) -> bool {
        match self.offset_of(ip) {
            Some(offset) if !self.reserved.contains_key(&offset) && self.used.remove(offset) => {
                self.allocated -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether the address is allocated (reserved addresses are not).
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.offset_of(ip)
            .is_some_and(|o| !self.reserved.contains_key(&o) && self.used.contains(o))
    }

    /// How many addresses are allocated, dynamic and specific alike.
    pub fn allocated_count(&self) -> usize {
        self.allocated
    }

    /// The serial cursor: offset from the network address of the last
    /// address handed out, so it can be persisted and restored.
    pub fn cursor(&self) -> u128 {
        self.cursor
    }

    /// Restores a cursor saved with [`cursor`](Self::cursor). A value
    /// outside the range is kept, and the next allocation then starts at
    /// the range's beginning.
    pub fn set_cursor(&mut self, cursor: u128) {
        self.cursor = cursor;
    }

    /// The offset of `ip` if it could be handed out specifically.
    fn check(&self, ip: IpAddr) -> Result<u128, IpamError> {
        let subnet = self.subnet;
        let offset = self
            .offset_of(ip)
            .ok_or(IpamError::OutOfSubnet { ip, subnet })?;
        if let Some(what) = self.reserved.get(&offset) {
            return Err(IpamError::Reserved {
                ip,
                subnet,
                what: what.clone(),
            });
        }
        if self.used.contains(offset) {
            return Err(IpamError::InUse { ip, subnet });
        }
        Ok(offset)
    }

    /// The offset of `ip` from the network address, if it is in the subnet.
    fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        self.subnet.contains(&ip).then(|| to_u128(ip) - self.base)
    }

    /// The address at `offset` from the network address.
    fn addr_at(&self, offset: u128) -> IpAddr {
        from_u128(self.subnet.network().is_ipv6(), self.base + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn gw(s: &str) -> Vec<(IpAddr, String)> {
        vec![(ip(s), "the gateway".to_string())]
    }

    #[test]
    fn skips_network_broadcast_gateway_and_aux() {
        let mut reserved = gw("10.0.0.1");
        reserved.push((ip("10.0.0.2"), "auxiliary address 'router'".into()));
        let mut a = SubnetAllocator::new(net("10.0.0.0/24"), None, &reserved).expect("new");
        assert_eq!(a.subnet(), net("10.0.0.0/24"));
        assert_eq!(a.range(), net("10.0.0.0/24"));
        assert_eq!(a.allocate(), Ok(ip("10.0.0.3")));
        let mut last = ip("10.0.0.3");
        for _ in 4..=254 {
            last = a.allocate().expect("free address");
        }
        assert_eq!(last, ip("10.0.0.254"));
        assert_eq!(a.allocated_count(), 252);
        assert_eq!(
            a.allocate(),
            Err(IpamError::SubnetExhausted {
                subnet: net("10.0.0.0/24"),
                range: net("10.0.0.0/24")
            })
        );
        for r in ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.255"] {
            assert!(!a.is_allocated(ip(r)));
        }
    }

    #[test]
    fn honours_range() {
        let subnet = net("10.0.0.0/24");
        let mut a =
            SubnetAllocator::new(subnet, Some(net("10.0.0.128/25")), &gw("10.0.0.1")).expect("new");
        assert_eq!(a.range(), net("10.0.0.128/25"));
        assert_eq!(a.allocate(), Ok(ip("10.0.0.128")));
        for _ in 129..=254 {
            a.allocate().expect("free");
        }
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));
        // A static address outside the range but inside the subnet is fine.
        assert_eq!(a.allocate_specific(ip("10.0.0.5")), Ok(()));
        assert!(a.is_allocated(ip("10.0.0.5")));
    }

    #[test]
    fn range_must_be_inside_subnet() {
        let subnet = net("10.0.0.0/24");
        for r in ["10.0.1.0/24", "10.0.0.0/23", "fd00::/64", "0.0.0.0/0"] {
            assert_eq!(
                SubnetAllocator::new(subnet, Some(net(r)), &[]).map(|_| ()),
                Err(IpamError::RangeNotInSubnet {
                    range: net(r),
                    subnet
                })
            );
        }
        assert!(SubnetAllocator::new(subnet, Some(subnet), &[]).is_ok());
        assert!(SubnetAllocator::new(net("10.0.0.0/31"), Some(net("10.0.0.0/30")), &[]).is_err());
    }

    #[test]
    fn reserved_must_be_inside_subnet() {
        let subnet = net("10.0.0.0/24");
        assert_eq!(
            SubnetAllocator::new(subnet, None, &gw("10.0.1.1")).map(|_| ()),
            Err(IpamError::OutOfSubnet {
                ip: ip("10.0.1.1"),
                subnet
            })
        );
        assert!(SubnetAllocator::new(subnet, None, &gw("fd00::1")).is_err());
    }

    #[test]
    fn serial_does_not_reuse_at_once() {
        let mut a = SubnetAllocator::new(net("10.0.0.0/24"), None, &gw("10.0.0.1")).expect("new");
        let first = a.allocate().expect("a");
        let second = a.allocate().expect("b");
        assert_eq!((first, second), (ip("10.0.0.2"), ip("10.0.0.3")));
        assert!(a.release(first));
        assert_eq!(a.allocate(), Ok(ip("10.0.0.4")));
    }

    #[test]
    fn wraps_around_to_freed_addresses() {
        // /29: .0 network, .7 broadcast, .1 gateway, .2 to .6 free.
        let mut a = SubnetAllocator::new(net("10.0.0.0/29"), None, &gw("10.0.0.1")).expect("new");
        for want in 2..=6 {
            assert_eq!(a.allocate(), Ok(ip(&format!("10.0.0.{want}"))));
        }
        assert!(a.release(ip("10.0.0.3")));
        assert!(a.release(ip("10.0.0.5")));
        assert_eq!(a.allocate(), Ok(ip("10.0.0.3")));
        // The cursor is at .3 now, so .5 comes next, not a wrap.
        assert_eq!(a.allocate(), Ok(ip("10.0.0.5")));
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));
        assert_eq!(a.allocated_count(), 5);
    }

    #[test]
    fn specific_errors() {
        let subnet = net("10.0.0.0/24");
        let mut a = SubnetAllocator::new(
            subnet,
            None,
            &[
                (ip("10.0.0.1"), "the gateway".into()),
                (ip("10.0.0.9"), "auxiliary address 'router'".into()),
            ],
        )
        .expect("new");
        assert_eq!(
            a.allocate_specific(ip("10.0.1.1")),
            Err(IpamError::OutOfSubnet {
                ip: ip("10.0.1.1"),
                subnet
            })
        );
        assert!(matches!(
            a.allocate_specific(ip("fd00::1")),
            Err(IpamError::OutOfSubnet { .. })
        ));
        let reserved = |s: &str, what: &str| {
            Err(IpamError::Reserved {
                ip: ip(s),
                subnet,
                what: what.into(),
            })
        };
        assert_eq!(
            a.allocate_specific(ip("10.0.0.1")),
            reserved("10.0.0.1", "the gateway")
        );
        assert_eq!(
            a.check_specific(ip("10.0.0.9")),
            reserved("10.0.0.9", "auxiliary address 'router'")
        );
        assert_eq!(
            a.check_specific(ip("10.0.0.0")),
            reserved("10.0.0.0", "the network address")
        );
        assert_eq!(
            a.check_specific(ip("10.0.0.255")),
            reserved("10.0.0.255", "the broadcast address")
        );
        assert_eq!(a.check_specific(ip("10.0.0.2")), Ok(()));
        assert!(!a.is_allocated(ip("10.0.0.2")));
        assert_eq!(a.allocate_specific(ip("10.0.0.2")), Ok(()));
        assert_eq!(
            a.allocate_specific(ip("10.0.0.2")),
            Err(IpamError::InUse {
                ip: ip("10.0.0.2"),
                subnet
            })
        );
        // Dynamic allocation skips the static address and the cursor did not move.
        assert_eq!(a.allocate(), Ok(ip("10.0.0.3")));
    }

    #[test]
    fn release_only_what_was_allocated() {
        let mut a = SubnetAllocator::new(net("10.0.0.0/24"), None, &gw("10.0.0.1")).expect("new");
        let x = a.allocate().expect("x");
        assert!(!a.release(ip("10.0.0.1")));
        assert!(!a.release(ip("10.0.0.0")));
        assert!(!a.release(ip("10.0.0.200")));
        assert!(!a.release(ip("192.168.0.1")));
        assert!(a.release(x));
        assert!(!a.release(x));
        assert_eq!(a.allocated_count(), 0);
        // Reserved addresses stay reserved after a failed release.
        assert!(a.check_specific(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn ipv6_slash_64() {
        let subnet = net("fd00:1::/64");
        let mut a = SubnetAllocator::new(subnet, None, &gw("fd00:1::1")).expect("new");
        assert_eq!(a.allocate(), Ok(ip("fd00:1::2")));
        assert_eq!(a.allocate(), Ok(ip("fd00:1::3")));
        // IPv6 has no broadcast address: the last one is a host like any other.
        assert_eq!(
            a.allocate_specific(ip("fd00:1::ffff:ffff:ffff:ffff")),
            Ok(())
        );
        assert!(matches!(
            a.check_specific(ip("fd00:1::")),
            Err(IpamError::Reserved { .. })
        ));
        for _ in 0..10_000 {
            a.allocate().expect("plenty of room");
        }
        assert_eq!(a.allocated_count(), 10_003);
        assert_eq!(a.allocate(), Ok(ip("fd00:1::2714")));
        // Near the end: the top address is taken, so the next wraps to the start.
        a.set_cursor(u128::from(u64::MAX) - 1);
        assert_eq!(a.allocate(), Ok(ip("fd00:1::2715")));
    }

    #[test]
    fn cursor_round_trip() {
        let subnet = net("10.0.0.0/24");
        let mut a = SubnetAllocator::new(subnet, None, &gw("10.0.0.1")).expect("new");
        let mut held = Vec::new();
        for _ in 0..6 {
            held.push(a.allocate().expect("free"));
        }
        a.release(held.remove(1));
        a.release(held.remove(1));
        let saved = a.cursor();
        assert_eq!(saved, 7);

        let mut b = SubnetAllocator::new(subnet, None, &gw("10.0.0.1")).expect("new");
        for h in &held {
            b.allocate_specific(*h).expect("restore");
        }
        b.set_cursor(saved);
        assert_eq!(b.cursor(), saved);
        for _ in 0..300 {
            assert_eq!(a.allocate(), b.allocate());
        }
    }

    #[test]
    fn cursor_outside_range_restarts_at_range_start() {
        let mut a =
            SubnetAllocator::new(net("10.0.0.0/24"), Some(net("10.0.0.64/26")), &[]).expect("new");
        a.set_cursor(3);
        assert_eq!(a.allocate(), Ok(ip("10.0.0.64")));
        a.set_cursor(u128::MAX);
        assert_eq!(a.allocate(), Ok(ip("10.0.0.65")));
    }

    #[test]
    fn tiny_subnets() {
        // /31: the network address is reserved, the other one is usable.
        let mut a = SubnetAllocator::new(net("10.0.0.0/31"), None, &[]).expect("new");
        assert_eq!(a.allocate(), Ok(ip("10.0.0.1")));
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));

        // /32: nothing to hand out, and no panic.
        let mut a = SubnetAllocator::new(net("10.0.0.7/32"), None, &[]).expect("new");
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));
        assert!(matches!(
            a.allocate_specific(ip("10.0.0.7")),
            Err(IpamError::Reserved { .. })
        ));

        let mut a = SubnetAllocator::new(net("fd00::/127"), None, &[]).expect("new");
        assert_eq!(a.allocate(), Ok(ip("fd00::1")));
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));

        let mut a = SubnetAllocator::new(net("fd00::5/128"), None, &[]).expect("new");
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));

        // /30 keeps both the network and broadcast addresses.
        let mut a = SubnetAllocator::new(net("10.0.0.0/30"), None, &gw("10.0.0.1")).expect("new");
        assert_eq!(a.allocate(), Ok(ip("10.0.0.2")));
        assert!(matches!(
            a.allocate(),
            Err(IpamError::SubnetExhausted { .. })
        ));
    }

    #[test]
    fn whole_spaces_do_not_overflow() {
        let mut a = SubnetAllocator::new(net("::/0"), None, &[]).expect("new");
        a.set_cursor(u128::MAX);
        assert_eq!(a.allocate(), Ok(ip("::1")));
        a.set_cursor(u128::MAX - 1);
        assert_eq!(
            a.allocate(),
            Ok(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(a.allocate(), Ok(ip("::2")));

        let mut a = SubnetAllocator::new(net("0.0.0.0/0"), None, &[]).expect("new");
        assert_eq!(a.allocate(), Ok(ip("0.0.0.1")));
        assert!(a.check_specific(ip("255.255.255.255")).is_err());
    }

    #[test]
    fn host_bits_are_ignored() {
        let a =
            SubnetAllocator::new(net("10.0.0.5/24"), Some(net("10.0.0.130/25")), &[]).expect("new");
        assert_eq!(a.subnet(), net("10.0.0.0/24"));
        assert_eq!(a.range(), net("10.0.0.128/25"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;
        use std::net::Ipv4Addr;

        #[derive(Debug, Clone)]
        enum Op {
            Allocate,
            Specific(u8),
            Release(prop::sample::Index),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => Just(Op::Allocate),
                1 => any::<u8>().prop_map(Op::Specific),
                2 => any::<prop::sample::Index>().prop_map(Op::Release),
            ]
        }

        /// Subnet /24 to /32 at a random place, an optional range inside it,
        /// a few reserved addresses inside it.
        fn setup() -> impl Strategy<Value = (IpNet, Option<IpNet>, Vec<u8>)> {
            (any::<u32>(), 24u8..=32)
                .prop_flat_map(|(a, p)| {
                    let subnet = IpNet::new(Ipv4Addr::from(a).into(), p)
                        .expect("prefix <= 32")
                        .trunc();
                    (
                        Just(subnet),
                        prop::option::of((any::<u8>(), p..=32)),
                        prop::collection::vec(any::<u8>(), 0..4),
                    )
                })
                .prop_map(|(subnet, range, reserved)| {
                    let range = range.map(|(off, p)| {
                        let host = addr_in(&subnet, off);
                        IpNet::new(host, p).expect("prefix <= 32").trunc()
                    });
                    (subnet, range, reserved)
                })
        }

        fn addr_in(subnet: &IpNet, off: u8) -> IpAddr {
            let (lo, hi) = bounds(subnet);
            from_u128(false, lo + u128::from(off) % (hi - lo + 1))
        }

        proptest! {
            #[test]
            fn allocations_unique_in_range_never_reserved(
                (subnet, range, reserved_offs) in setup(),
                ops in prop::collection::vec(op(), 0..300),
            ) {
                let reserved: Vec<(IpAddr, String)> = reserved_offs
                    .iter()
                    .map(|o| (addr_in(&subnet, *o), format!("auxiliary address 'aux{o}'")))
                    .collect();
                let mut a = SubnetAllocator::new(subnet, range, &reserved).expect("valid setup");
                let range = a.range();
                let (sub_lo, sub_hi) = bounds(&subnet);
                let (r_lo, r_hi) = bounds(&range);
                let mut never = BTreeSet::new();
                never.insert(sub_lo);
                if subnet.prefix_len() < 31 {
                    never.insert(sub_hi);
                }
                never.extend(reserved.iter().map(|(ip, _)| to_u128(*ip)));

                let mut held: BTreeSet<u128> = BTreeSet::new();
                let mut cursor = r_hi;
                for op in ops {
                    match op {
                        Op::Allocate => {
                            // Next-fit model: first free after the cursor, cyclically.
                            let free = |x: &u128| !held.contains(x) && !never.contains(x);
                            let want = (cursor.saturating_add(1)..=r_hi)
                                .filter(|_| cursor < r_hi)
                                .find(free)
                                .or_else(|| (r_lo..=r_hi).find(free));
                            match a.allocate() {
                                Ok(got) => {
                                    let g = to_u128(got);
                                    prop_assert_eq!(Some(g), want);
                                    prop_assert!(range.contains(&got));
                                    prop_assert!(!never.contains(&g));
                                    prop_assert!(held.insert(g), "handed out twice");
                                    cursor = g;
                                }
                                Err(e) => {
                                    prop_assert_eq!(want, None);
                                    prop_assert!(
                                        matches!(e, IpamError::SubnetExhausted { .. }),
                                        "unexpected error"
                                    );
                                }
                            }
                        }
                        Op::Specific(off) => {
                            let ip = addr_in(&subnet, off);
                            let v = to_u128(ip);
                            let checked = a.check_specific(ip);
                            let res = a.allocate_specific(ip);
                            prop_assert_eq!(&checked, &res);
                            if never.contains(&v) {
                                prop_assert!(
                                    matches!(res, Err(IpamError::Reserved { .. })),
                                    "reserved not refused"
                                );
                            } else if held.contains(&v) {
                                prop_assert_eq!(res, Err(IpamError::InUse { ip, subnet }));
                            } else {
                                prop_assert_eq!(res, Ok(()));
                                prop_assert!(subnet.contains(&ip));
                                held.insert(v);
                            }
                        }
                        Op::Release(i) => {
                            if held.is_empty() {
                                prop_assert!(!a.release(from_u128(false, sub_lo)));
                            } else {
                                let v = *i.get(&held.iter().copied().collect::<Vec<_>>());
                                held.remove(&v);
                                prop_assert!(a.release(from_u128(false, v)));
                                prop_assert!(!a.is_allocated(from_u128(false, v)));
                            }
                        }
                    }
                    prop_assert_eq!(a.allocated_count(), held.len());
                    prop_assert_eq!(a.cursor(), cursor - sub_lo);
                }
                for v in sub_lo..=sub_hi {
                    prop_assert_eq!(a.is_allocated(from_u128(false, v)), held.contains(&v));
                }
            }

            #[test]
            fn ipv6_allocations_unique_and_never_reserved(
                suffix in any::<u16>(),
                prefix in 116u8..=128,
                gw_off in any::<u16>(),
                releases in prop::collection::vec(any::<prop::sample::Index>(), 0..50),
            ) {
                let base = u128::from(0xfd00_u16) << 112 | u128::from(suffix) << 16;
                let subnet = IpNet::new(from_u128(true, base), prefix).expect("prefix <= 128").trunc();
                let (lo, hi) = bounds(&subnet);
                let gw_ip = from_u128(true, lo + u128::from(gw_off) % (hi - lo + 1));
                let mut a = SubnetAllocator::new(subnet, None, &[(gw_ip, "the gateway".into())])
                    .expect("valid setup");
                let mut held = BTreeSet::new();
                let mut rel = releases.into_iter();
                for _ in 0..5000 {
                    match a.allocate() {
                        Ok(ip) => {
                            prop_assert!(subnet.contains(&ip));
                            prop_assert!(ip != gw_ip && to_u128(ip) != lo);
                            prop_assert!(held.insert(ip));
                        }
                        Err(_) => {
                            // Full: free one and go on, or stop.
                            let Some(i) = rel.next().filter(|_| !held.is_empty()) else {
                                break;
                            };
                            let ip = *i.get(&held.iter().copied().collect::<Vec<_>>());
                            held.remove(&ip);
                            prop_assert!(a.release(ip));
                        }
                    }
                }
                prop_assert_eq!(a.allocated_count(), held.len());
            }
        }
    }
}

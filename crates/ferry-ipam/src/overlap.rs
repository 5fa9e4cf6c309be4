//! Whether networks share addresses, and a sorted view of many networks for
//! fast "what is the first taken block at or after here" questions.

use ipnet::IpNet;

use crate::addr::bounds;

/// True when the two networks share at least one address.
///
/// Networks of different families never overlap; host bits are ignored.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    if a.network().is_ipv6() != b.network().is_ipv6() {
        return false;
    }
    let (a_lo, a_hi) = bounds(a);
    let (b_lo, b_hi) = bounds(b);
    a_lo <= b_hi && b_lo <= a_hi
}

/// Address ranges no network can be made of, with what they are: the kernel refuses their
/// addresses on an interface, or takes them for something else.
const SPECIAL_RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "the unspecified address and \"this network\""),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "the broadcast address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped addresses"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// The first special range `net` overlaps (contains, or lies in), with what it is: loopback,
/// multicast, link-local, broadcast, unspecified or IPv4-mapped. `None` when every address of
/// `net` can be a network's.
pub fn special_range(net: &IpNet) -> Option<(IpNet, &'static str)> {
    SPECIAL_RANGES.iter().find_map(|(range, name)| {
        let special: IpNet = range.parse().ok()?;
        overlaps(net, &special).then_some((special, *name))
    })
}

/// Networks of one family merged into sorted, disjoint, inclusive integer spans.
#[derive(Debug, Clone)]
pub(crate) struct TakenSpans {
    spans: Vec<(u128, u128)>,
}

impl TakenSpans {
    /// The spans covered by those of `nets` that are of the given family.
    pub(crate) fn new(nets: &[IpNet], v6: bool) -> Self {
        let mut raw: Vec<(u128, u128)> = nets
            .iter()
            .filter(|n| n.network().is_ipv6() == v6)
            .map(bounds)
            .collect();
        raw.sort_unstable();
        let mut spans: Vec<(u128, u128)> = Vec::with_capacity(raw.len());
        for (lo, hi) in raw {
            match spans.last_mut() {
                // Overlapping or adjacent: one span, so a single lookup skips the lot.
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => spans.push((lo, hi)),
            }
        }
        Self { spans }
    }

    /// The first span that overlaps `[lo, hi]`, if any.
    pub(crate) fn first_overlap(&self, lo: u128, hi: u128) -> Option<(u128, u128)> {
        // Spans are sorted and disjoint, so their ends are sorted too.
        let i = self.spans.partition_point(|&(_, end)| end < lo);
        self.spans.get(i).copied().filter(|&(start, _)| start <= hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_are_found_inside_and_around() {
        let n = |s: &str| -> IpNet { s.parse().expect("net") };
        let name = |s: &str| special_range(&n(s)).map(|(_, w)| w);
        assert_eq!(name("127.0.0.0/8"), Some("loopback"));
        assert_eq!(name("127.5.0.0/16"), Some("loopback"));
        assert_eq!(name("64.0.0.0/2"), Some("loopback"));
        assert_eq!(name("255.255.255.0/24"), Some("the broadcast address"));
        assert_eq!(name("239.0.0.0/8"), Some("multicast"));
        assert_eq!(name("::/0"), Some("the unspecified address"));
        assert_eq!(name("::ffff:10.0.0.0/104"), Some("IPv4-mapped addresses"));
        assert_eq!(name("fe80::/64"), Some("link-local"));
        assert_eq!(name("ff02::/16"), Some("multicast"));
        for ok in [
            "10.0.0.0/8",
            "192.168.0.0/16",
            "240.0.0.0/8",
            "fd00::/8",
            "2001:db8::/32",
        ] {
            assert_eq!(name(ok), None, "{ok}");
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    #[test]
    fn overlap_cases() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(overlaps(&net("10.0.0.0/24"), &net("10.0.0.255/32")));
        assert!(!overlaps(&net("10.0.0.0/24"), &net("10.0.1.0/24")));
        assert!(overlaps(&net("0.0.0.0/0"), &net("192.168.1.0/24")));
        assert!(!overlaps(&net("0.0.0.0/0"), &net("::/0")));
        assert!(overlaps(&net("fd00::/48"), &net("fd00:0:0:1::/64")));
        assert!(!overlaps(&net("fd00::/64"), &net("fd00:0:0:1::/64")));
        // Host bits do not widen or shift the network.
        assert!(overlaps(&net("10.0.0.9/24"), &net("10.0.0.0/30")));
    }

    #[test]
    fn spans_merge_and_find() {
        let t = TakenSpans::new(
            &[
                net("10.0.1.0/24"),
                net("10.0.0.0/24"),
                net("10.0.0.128/25"),
                net("10.0.5.0/24"),
                net("fd00::/8"),
            ],
            false,
        );
        assert_eq!(t.spans.len(), 2);
        let (lo, hi) = bounds(&net("10.0.0.0/16"));
        assert_eq!(t.first_overlap(lo, hi), Some(bounds(&net("10.0.0.0/23"))));
        let (lo, hi) = bounds(&net("10.0.2.0/24"));
        assert_eq!(t.first_overlap(lo, hi), None);
        let (lo, hi) = bounds(&net("10.0.4.0/22"));
        assert_eq!(t.first_overlap(lo, hi), Some(bounds(&net("10.0.5.0/24"))));
    }

    #[test]
    fn spans_at_the_top_of_the_space() {
        let t = TakenSpans::new(&[net("::/0"), net("ffff::/16")], true);
        assert_eq!(t.first_overlap(u128::MAX, u128::MAX), Some((0, u128::MAX)));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::net::Ipv4Addr;

        fn v4net() -> impl Strategy<Value = IpNet> {
            (any::<u32>(), 0u8..=32).prop_map(|(a, p)| {
                IpNet::new(Ipv4Addr::from(a).into(), p)
                    .expect("prefix <= 32")
                    .trunc()
            })
        }

        proptest! {
            #[test]
            fn overlap_is_symmetric_and_matches_containment(a in v4net(), b in v4net()) {
                let o = overlaps(&a, &b);
                prop_assert_eq!(o, overlaps(&b, &a));
                // Aligned prefixes overlap exactly when one contains the other.
                prop_assert_eq!(o, a.contains(&b) || b.contains(&a));
            }
        }
    }
}

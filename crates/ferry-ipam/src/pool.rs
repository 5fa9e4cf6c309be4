//! Default address pools and picking a free subnet from them.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::addr::{bounds, family_name, from_u128, host_mask};
use crate::error::IpamError;
use crate::overlap::TakenSpans;

/// One address pool: `base` split into subnets of prefix length `size`
/// (an entry of "default-address-pools" in daemon.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// The network the pool's subnets are carved from; host bits are ignored.
    pub base: IpNet,
    /// The prefix length of each subnet handed out.
    pub size: u8,
}

impl PoolSpec {
    /// Checks that the pool can be split as asked: `size` is at least the
    /// base's prefix length and leaves room for hosts (at most /30 for IPv4,
    /// /126 for IPv6).
    pub fn validate(&self) -> Result<(), IpamError> {
        let invalid = |why: String| IpamError::InvalidPool {
            base: self.base,
            size: self.size,
            why,
        };
        let prefix = self.base.prefix_len();
        if self.size < prefix {
            return Err(invalid(format!(
                "the size is shorter than the base's own prefix /{prefix}, so a subnet would not fit in the base"
            )));
        }
        let (max, family) = if self.is_v6() {
            (126, "IPv6")
        } else {
            (30, "IPv4")
        };
        if self.size > max {
            return Err(invalid(format!(
                "subnets that small leave no room for sandboxes (at most /{max} for {family})"
            )));
        }
        Ok(())
    }

    /// Whether the pool holds IPv6 subnets.
    fn is_v6(&self) -> bool {
        self.base.network().is_ipv6()
    }

    /// The number of subnets the pool splits into, saturating at `u128::MAX`.
    fn subnet_count(&self) -> u128 {
        let shift = u32::from(self.size.saturating_sub(self.base.prefix_len()));
        1u128.checked_shl(shift).unwrap_or(u128::MAX)
    }
}

/// Docker's default local pools: 172.17.0.0/16 to 172.31.0.0/16 (each one
/// /16 subnet), then 192.168.0.0/16 split into /20s.
pub fn default_pools() -> Vec<PoolSpec> {
    let mut pools: Vec<PoolSpec> = (17u8..=31)
        .map(|second| PoolSpec {
            base: v4_net(Ipv4Addr::new(172, second, 0, 0), 16),
            size: 16,
        })
        .collect();
    pools.push(PoolSpec {
        base: v4_net(Ipv4Addr::new(192, 168, 0, 0), 16),
        size: 20,
    });
    pools
}

/// An IPv4 network from parts known to be valid.
fn v4_net(addr: Ipv4Addr, prefix: u8) -> IpNet {
    // Prefix lengths here are constants <= 32; fall back to a host route
    // rather than panic should that ever change.
    IpNet::new(IpAddr::V4(addr), prefix).unwrap_or_else(|_| IpNet::from(IpAddr::V4(addr)))
}

/// The first subnet, in pool order and ascending address order within a
/// pool, of the requested family (`v6` true: IPv6 pools only, else IPv4 only)
/// that overlaps none of `taken` (other networks' subnets and host routes).
///
/// Pools of the requested family are validated first. Taken networks are
/// merged into sorted spans, so each overlapping span is skipped in one
/// step: the cost grows with the number of taken networks, not with the
/// number of subnets in a pool.
pub fn next_free_subnet(pools: &[PoolSpec], taken: &[IpNet], v6: bool) -> Result<IpNet, IpamError> {
    let pools: Vec<&PoolSpec> = pools.iter().filter(|p| p.is_v6() == v6).collect();
    for pool in &pools {
        pool.validate()?;
    }
    let spans = TakenSpans::new(taken, v6);
    for pool in pools {
        if let Some(start) = first_free_in_pool(pool, &spans, v6) {
            return IpNet::new(from_u128(v6, start), pool.size).map_err(|e| {
                IpamError::InvalidPool {
                    base: pool.base,
                    size: pool.size,
                    why: e.to_string(),
                }
            });
        }
    }
    Err(IpamError::PoolsExhausted {
        family: family_name(v6),
    })
}

/// The start of the first subnet of the pool that no taken span touches.
fn first_free_in_pool(pool: &PoolSpec, spans: &TakenSpans, v6: bool) -> Option<u128> {
    let (base_lo, base_hi) = bounds(&pool.base);
    let mask = host_mask(v6, pool.size);
    // Subnet starts are aligned to the subnet size, and so is the base
    // (size >= base prefix), so `x | mask` ends the subnet holding x.
    let mut start = base_lo;
    // Each step skips at least one taken span; the count bounds the loop
    // even if the arithmetic below were ever wrong.
    let mut steps_left = pool.subnet_count();
    while start <= base_hi && steps_left > 0 {
        let end = start | mask;
        match spans.first_overlap(start, end) {
            None => return Some(start),
            // Jump to the subnet after the one holding the span's end.
            Some((_, span_end)) => start = (span_end | mask).checked_add(1)?,
        }
        steps_left -= 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlap::overlaps;

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    /// Keeps asking for subnets, taking each one, until the pools run dry.
    fn drain(pools: &[PoolSpec], mut taken: Vec<IpNet>, v6: bool) -> Vec<IpNet> {
        let mut got = Vec::new();
        while let Ok(n) = next_free_subnet(pools, &taken, v6) {
            taken.push(n);
            got.push(n);
            assert!(got.len() < 100_000, "runaway");
        }
        got
    }

    #[test]
    fn default_pools_order_and_count() {
        let pools = default_pools();
        assert_eq!(pools.len(), 16);
        assert_eq!(
            pools[0],
            PoolSpec {
                base: net("172.17.0.0/16"),
                size: 16
            }
        );
        assert_eq!(pools[14].base, net("172.31.0.0/16"));
        assert_eq!(
            pools[15],
            PoolSpec {
                base: net("192.168.0.0/16"),
                size: 20
            }
        );
        for p in &pools {
            p.validate().expect("default pool is valid");
        }

        let all = drain(&pools, Vec::new(), false);
        assert_eq!(all.len(), 31);
        for (i, n) in all.iter().take(15).enumerate() {
            assert_eq!(*n, net(&format!("172.{}.0.0/16", 17 + i)));
        }
        for (i, n) in all.iter().skip(15).enumerate() {
            assert_eq!(*n, net(&format!("192.168.{}.0/20", 16 * i)));
        }
        let mut taken = all;
        taken.push(net("10.0.0.0/8"));
        assert_eq!(
            next_free_subnet(&pools, &taken, false),
            Err(IpamError::PoolsExhausted { family: "IPv4" })
        );
    }

    #[test]
    fn skips_taken_and_host_routes() {
        let pools = default_pools();
        assert_eq!(
            next_free_subnet(&pools, &[], false),
            Ok(net("172.17.0.0/16"))
        );
        // A host route inside the first pool pushes past the whole /16.
        assert_eq!(
            next_free_subnet(&pools, &[net("172.17.5.0/24")], false),
            Ok(net("172.18.0.0/16"))
        );
        assert_eq!(
            next_free_subnet(&pools, &[net("172.17.255.255/32")], false),
            Ok(net("172.18.0.0/16"))
        );
        // A /12 route covers every 172 pool at once.
        assert_eq!(
            next_free_subnet(&pools, &[net("172.16.0.0/12")], false),
            Ok(net("192.168.0.0/20"))
        );
        assert_eq!(
            next_free_subnet(
                &pools,
                &[net("172.16.0.0/12"), net("192.168.1.0/24")],
                false
            ),
            Ok(net("192.168.16.0/20"))
        );
        // Networks of the other family, and unrelated ones, change nothing.
        assert_eq!(
            next_free_subnet(&pools, &[net("::/0"), net("10.0.0.0/8")], false),
            Ok(net("172.17.0.0/16"))
        );
        // A default route overlaps everything.
        assert_eq!(
            next_free_subnet(&pools, &[net("0.0.0.0/0")], false),
            Err(IpamError::PoolsExhausted { family: "IPv4" })
        );
        // A gap left by a removed network is found again.
        let taken = vec![net("172.17.0.0/16"), net("172.19.0.0/16")];
        assert_eq!(
            next_free_subnet(&pools, &taken, false),
            Ok(net("172.18.0.0/16"))
        );
    }

    #[test]
    fn exhausted_error_names_family() {
        let err = next_free_subnet(&default_pools(), &[], true).expect_err("no v6 pools");
        assert_eq!(err, IpamError::PoolsExhausted { family: "IPv6" });
        assert!(err.to_string().contains("no free IPv6 subnet"));
        assert_eq!(
            next_free_subnet(&[], &[], false),
            Err(IpamError::PoolsExhausted { family: "IPv4" })
        );
    }

    #[test]
    fn v6_pools() {
        let pools = vec![
            PoolSpec {
                base: net("10.0.0.0/8"),
                size: 24,
            },
            PoolSpec {
                base: net("fd00:1::/48"),
                size: 64,
            },
            PoolSpec {
                base: net("fd00:2::/48"),
                size: 64,
            },
        ];
        assert_eq!(next_free_subnet(&pools, &[], true), Ok(net("fd00:1::/64")));
        assert_eq!(
            next_free_subnet(&pools, &[net("fd00:1::/64")], true),
            Ok(net("fd00:1:0:1::/64"))
        );
        assert_eq!(
            next_free_subnet(&pools, &[net("fd00:1::/56")], true),
            Ok(net("fd00:1:0:100::/64"))
        );
        assert_eq!(
            next_free_subnet(&pools, &[net("fd00:1::/48")], true),
            Ok(net("fd00:2::/64"))
        );
        assert_eq!(
            next_free_subnet(&pools, &[net("fd00::/8")], true),
            Err(IpamError::PoolsExhausted { family: "IPv6" })
        );
        // The IPv4 pool is not used for IPv6 and the other way round.
        assert_eq!(
            next_free_subnet(&pools, &[net("fd00::/8")], false),
            Ok(net("10.0.0.0/24"))
        );
    }

    #[test]
    fn fast_with_many_taken_and_big_pools() {
        let pools = vec![PoolSpec {
            base: net("fd00:1::/48"),
            size: 64,
        }];
        // Every other /64 taken, all but the last: thousands of spans that do not merge.
        let mut taken: Vec<IpNet> = (0u32..65_535)
            .step_by(2)
            .map(|i| net(&format!("fd00:1:0:{i:x}::/64")))
            .collect();
        // Fill the gaps up to the end with /128 host routes.
        taken.extend(
            (1u32..65_535)
                .step_by(2)
                .map(|i| net(&format!("fd00:1:0:{i:x}::1/128"))),
        );
        taken.reverse();
        assert_eq!(
            next_free_subnet(&pools, &taken, true),
            Ok(net("fd00:1:0:ffff::/64"))
        );

        // A /8 split into /30s: 4 million subnets, thousands of taken ones.
        let pools = vec![PoolSpec {
            base: net("10.0.0.0/8"),
            size: 30,
        }];
        let taken: Vec<IpNet> = (0u32..5_000)
            .map(|i| IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 4)), 30).expect("net"))
            .collect();
        assert_eq!(
            next_free_subnet(&pools, &taken, false),
            Ok(net("10.0.78.32/30"))
        );
    }

    #[test]
    fn validate_rejects_bad_pools() {
        let bad = PoolSpec {
            base: net("10.0.0.0/16"),
            size: 8,
        };
        let err = bad.validate().expect_err("size shorter than base");
        assert!(matches!(err, IpamError::InvalidPool { size: 8, .. }));
        assert!(err.to_string().contains("default-address-pools"));
        assert!(PoolSpec {
            base: net("10.0.0.0/8"),
            size: 31
        }
        .validate()
        .is_err());
        assert!(PoolSpec {
            base: net("10.0.0.0/8"),
            size: 30
        }
        .validate()
        .is_ok());
        assert!(PoolSpec {
            base: net("fd00::/8"),
            size: 127
        }
        .validate()
        .is_err());
        assert!(PoolSpec {
            base: net("fd00::/8"),
            size: 126
        }
        .validate()
        .is_ok());
        // An invalid pool of the requested family is reported, not skipped.
        assert!(matches!(
            next_free_subnet(std::slice::from_ref(&bad), &[], false),
            Err(IpamError::InvalidPool { .. })
        ));
        // One of the other family is not looked at.
        assert!(matches!(
            next_free_subnet(&[bad], &[], true),
            Err(IpamError::PoolsExhausted { family: "IPv6" })
        ));
    }

    #[test]
    fn pool_with_host_bits_and_whole_space() {
        // Host bits in the base are ignored, as when daemon.json says 10.1.2.3/16.
        let pools = vec![PoolSpec {
            base: net("10.1.2.3/16"),
            size: 24,
        }];
        assert_eq!(next_free_subnet(&pools, &[], false), Ok(net("10.1.0.0/24")));
        // Pools spanning the whole space do not overflow at the top.
        let pools = vec![PoolSpec {
            base: net("::/0"),
            size: 1,
        }];
        assert_eq!(
            next_free_subnet(&pools, &[net("::/1")], true),
            Ok(net("8000::/1"))
        );
        assert_eq!(
            next_free_subnet(&pools, &[net("::/1"), net("ffff::1/128")], true),
            Err(IpamError::PoolsExhausted { family: "IPv6" })
        );
        let pools = vec![PoolSpec {
            base: net("0.0.0.0/0"),
            size: 30,
        }];
        assert_eq!(
            next_free_subnet(
                &pools,
                &[net("0.0.0.0/1"), net("128.0.0.0/2"), net("192.0.0.0/2")],
                false
            ),
            Err(IpamError::PoolsExhausted { family: "IPv4" })
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Up to 64 subnets per pool, so a naive walk is cheap to compare against.
        fn pool() -> impl Strategy<Value = PoolSpec> {
            (any::<u32>(), 16u8..=24, 0u8..=6).prop_map(|(a, prefix, extra)| PoolSpec {
                base: v4_net(Ipv4Addr::from(a), prefix).trunc(),
                size: prefix + extra,
            })
        }

        fn taken_net() -> impl Strategy<Value = IpNet> {
            (any::<u32>(), 8u8..=32).prop_map(|(a, p)| v4_net(Ipv4Addr::from(a), p).trunc())
        }

        /// The pools' subnets in order, one by one.
        fn naive(pools: &[PoolSpec], taken: &[IpNet]) -> Option<IpNet> {
            pools.iter().find_map(|p| {
                p.base
                    .subnets(p.size)
                    .expect("valid size")
                    .find(|s| !taken.iter().any(|t| overlaps(s, t)))
            })
        }

        proptest! {
            #[test]
            fn matches_naive_walk(
                pools in prop::collection::vec(pool(), 1..4),
                seed_taken in prop::collection::vec(taken_net(), 0..20),
                pick in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
            ) {
                // Mix random networks with subnets picked from the pools
                // themselves, so pools are often partly taken.
                let all: Vec<IpNet> = pools
                    .iter()
                    .flat_map(|p| p.base.subnets(p.size).expect("valid size").collect::<Vec<_>>())
                    .collect();
                let mut taken = seed_taken;
                taken.extend(pick.iter().map(|i| *i.get(&all)));
                let got = next_free_subnet(&pools, &taken, false);
                match naive(&pools, &taken) {
                    Some(n) => {
                        prop_assert_eq!(got, Ok(n));
                        prop_assert!(!taken.iter().any(|t| overlaps(&n, t)));
                    }
                    None => prop_assert_eq!(got, Err(IpamError::PoolsExhausted { family: "IPv4" })),
                }
            }
        }
    }
}

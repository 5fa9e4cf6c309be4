//! Claims on unique values: VXLAN IDs, overlay subnets, addresses on overlay networks. A claim
//! is a record in the store's `claims` table keyed by the value (`vni/4097`,
//! `subnet/10.0.1.0/24`, `addr/<network>/10.0.1.5`) that names its owner; it is written with the
//! condition that the key is absent, and released with the condition that it is still the
//! record read (the owner's, not a later claimant's).

use ferry_ipam::PoolSpec;
use ferry_store::{Condition, Op, Store, StoreError, Table, Txn};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// What a claim record holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    /// Who holds it (a network's ID, an endpoint's ID).
    owner: String,
}

/// A claim that could not be made or released.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The value is held by someone else.
    #[error("{what} is taken by {owner}")]
    Taken {
        /// The value.
        what: String,
        /// Its holder.
        owner: String,
    },
    /// Every value of the range or pools is taken.
    #[error("no {what} left: all of {range} are taken; widen the range or free some")]
    Exhausted {
        /// What was asked for.
        what: &'static str,
        /// Where it was looked for.
        range: String,
    },
    /// The store failed.
    #[error("cluster store: {0}")]
    Store(#[from] StoreError),
    /// A claim record that is not one.
    #[error("claim {key} is unreadable: {reason}")]
    Corrupt {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Claims on unique values in a shared store.
pub struct Claims<'a> {
    store: &'a dyn Store,
}

fn vni_key(vni: u32) -> String {
    format!("vni/{vni}")
}

fn subnet_key(net: &IpNet) -> String {
    format!("subnet/{net}")
}

fn addr_key(network: &str, ip: IpAddr) -> String {
    format!("addr/{network}/{ip}")
}

impl<'a> Claims<'a> {
    /// Claims on `store` (shared by every host of the cluster).
    pub fn new(store: &'a dyn Store) -> Self {
        Claims { store }
    }

    /// Writes a claim on `key` for `owner` if nobody holds it. `Ok(false)` when someone does.
    async fn try_claim(&self, key: &str, owner: &str) -> Result<bool, ClaimError> {
        self.try_claim_on(key, owner, None).await
    }

    /// [`Self::try_claim`], the claim held under `lease` when given (it goes with the lease).
    async fn try_claim_on(
        &self,
        key: &str,
        owner: &str,
        lease: Option<i64>,
    ) -> Result<bool, ClaimError> {
        let value = serde_json::to_vec(&Claim {
            owner: owner.to_string(),
        })
        .map_err(|e| ClaimError::Corrupt {
            key: key.into(),
            reason: e.to_string(),
        })?;
        let put = match lease {
            Some(lease) => Op::PutLeased {
                table: Table::Claims,
                key: key.to_string(),
                value,
                lease,
            },
            None => Op::Put {
                table: Table::Claims,
                key: key.to_string(),
                value,
            },
        };
        let txn = Txn::new(vec![put]).when(Condition::Absent {
            table: Table::Claims,
            key: key.to_string(),
        });
        match self.store.apply(txn).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A claim on `key` for `owner` as a condition and a write, for a transaction that writes
    /// other records with it (all or nothing).
    pub fn claim_in_txn(key: &str, owner: &str) -> Result<(Condition, Op), ClaimError> {
        let value = serde_json::to_vec(&Claim {
            owner: owner.to_string(),
        })
        .map_err(|e| ClaimError::Corrupt {
            key: key.into(),
            reason: e.to_string(),
        })?;
        Ok((
            Condition::Absent {
                table: Table::Claims,
                key: key.to_string(),
            },
            Op::Put {
                table: Table::Claims,
                key: key.to_string(),
                value,
            },
        ))
    }

    /// Releases the claim on `key` if `owner` holds it.
    pub async fn release_key(&self, key: &str, owner: &str) -> Result<(), ClaimError> {
        self.release(key, owner).await
    }

    /// The holder of a claim, if any.
    pub async fn holder(&self, key: &str) -> Result<Option<(String, u64)>, ClaimError> {
        match self.store.get(Table::Claims, key).await? {
            None => Ok(None),
            Some(r) => {
                let c: Claim =
                    serde_json::from_slice(&r.value).map_err(|e| ClaimError::Corrupt {
                        key: key.into(),
                        reason: e.to_string(),
                    })?;
                Ok(Some((c.owner, r.mod_revision)))
            }
        }
    }

    /// Releases `key` if `owner` holds it (what another holds, or nobody, is left alone).
    async fn release(&self, key: &str, owner: &str) -> Result<(), ClaimError> {
        let Some((holder, revision)) = self.holder(key).await? else {
            return Ok(());
        };
        if holder != owner {
            return Ok(());
        }
        let txn = Txn::new(vec![Op::delete(Table::Claims, key)]).when(Condition::KeyAt {
            table: Table::Claims,
            key: key.to_string(),
            revision,
        });
        match self.store.apply(txn).await {
            // Changed since it was read: no longer this owner's to release.
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Claims the lowest free VXLAN ID of `range` for `owner`.
    pub async fn claim_vni(
        &self,
        owner: &str,
        range: RangeInclusive<u32>,
    ) -> Result<u32, ClaimError> {
        let taken = self.taken_with_prefix("vni/").await?;
        for vni in range.clone() {
            if taken.contains(&vni.to_string()) {
                continue;
            }
            if self.try_claim(&vni_key(vni), owner).await? {
                return Ok(vni);
            }
        }
        Err(ClaimError::Exhausted {
            what: "VXLAN ID",
            range: format!("{}-{}", range.start(), range.end()),
        })
    }

    /// Releases a VXLAN ID `owner` holds.
    pub async fn release_vni(&self, vni: u32, owner: &str) -> Result<(), ClaimError> {
        self.release(&vni_key(vni), owner).await
    }

    /// Claims a given subnet, or the first free one of `pools` (none overlapping another
    /// claimed subnet), for `owner`.
    pub async fn claim_subnet(
        &self,
        owner: &str,
        wanted: Option<IpNet>,
        pools: &[PoolSpec],
    ) -> Result<IpNet, ClaimError> {
        loop {
            let taken: Vec<IpNet> = self
                .taken_with_prefix("subnet/")
                .await?
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            let net = match wanted {
                Some(w) => {
                    if let Some(t) = taken.iter().find(|t| ferry_ipam::overlaps(t, &w)) {
                        let owner = self
                            .holder(&subnet_key(t))
                            .await?
                            .map(|(o, _)| o)
                            .unwrap_or_default();
                        return Err(ClaimError::Taken {
                            what: format!("subnet {w} (it overlaps {t})"),
                            owner,
                        });
                    }
                    w
                }
                None => ferry_ipam::next_free_subnet(pools, &taken, false).map_err(|_| {
                    ClaimError::Exhausted {
                        what: "subnet",
                        range: pools
                            .iter()
                            .map(|p| format!("{}/{}", p.base, p.size))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?,
            };
            if self.try_claim(&subnet_key(&net), owner).await? {
                // Two hosts may claim overlapping subnets of different sizes at once: the
                // later one (by revision) gives its claim back and tries again.
                let now: Vec<(IpNet, u64)> = {
                    let listing = self.store.list(Table::Claims).await?;
                    listing
                        .entries
                        .into_iter()
                        .filter_map(|e| {
                            let s = e.key.strip_prefix("subnet/")?.parse::<IpNet>().ok()?;
                            Some((s, e.mod_revision))
                        })
                        .collect()
                };
                let mine = now.iter().find(|(s, _)| *s == net).map(|(_, r)| *r);
                let earlier_overlap = now
                    .iter()
                    .any(|(s, r)| *s != net && ferry_ipam::overlaps(s, &net) && Some(*r) < mine);
                if !earlier_overlap {
                    return Ok(net);
                }
                self.release(&subnet_key(&net), owner).await?;
            }
            if let Some(w) = wanted {
                let owner = self
                    .holder(&subnet_key(&w))
                    .await?
                    .map(|(o, _)| o)
                    .unwrap_or_default();
                return Err(ClaimError::Taken {
                    what: format!("subnet {w}"),
                    owner,
                });
            }
        }
    }

    /// Releases a subnet `owner` holds.
    pub async fn release_subnet(&self, net: &IpNet, owner: &str) -> Result<(), ClaimError> {
        self.release(&subnet_key(net), owner).await
    }

    /// Claims an address on a network for `owner`, held under `lease` when given: an
    /// endpoint's address goes with its node's session.
    pub async fn claim_address(
        &self,
        network: &str,
        ip: IpAddr,
        owner: &str,
        lease: Option<i64>,
    ) -> Result<(), ClaimError> {
        let key = addr_key(network, ip);
        if self.try_claim_on(&key, owner, lease).await? {
            return Ok(());
        }
        let holder = self.holder(&key).await?.map(|(o, _)| o).unwrap_or_default();
        if holder == owner {
            return Ok(());
        }
        Err(ClaimError::Taken {
            what: format!("address {ip}"),
            owner: holder,
        })
    }

    /// Moves `owner`'s claim on an address under `lease` (a new session of its node), or
    /// makes it when nobody holds it; fails when another owner does.
    pub async fn renew_address(
        &self,
        network: &str,
        ip: IpAddr,
        owner: &str,
        lease: i64,
    ) -> Result<(), ClaimError> {
        let key = addr_key(network, ip);
        loop {
            let Some((holder, revision)) = self.holder(&key).await? else {
                if self.try_claim_on(&key, owner, Some(lease)).await? {
                    return Ok(());
                }
                continue;
            };
            if holder != owner {
                return Err(ClaimError::Taken {
                    what: format!("address {ip}"),
                    owner: holder,
                });
            }
            let value = serde_json::to_vec(&Claim {
                owner: owner.to_string(),
            })
            .map_err(|e| ClaimError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            let txn = Txn::new(vec![Op::PutLeased {
                table: Table::Claims,
                key: key.clone(),
                value,
                lease,
            }])
            .when(Condition::KeyAt {
                table: Table::Claims,
                key: key.clone(),
                revision,
            });
            match self.store.apply(txn).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Releases an address `owner` holds.
    pub async fn release_address(
        &self,
        network: &str,
        ip: IpAddr,
        owner: &str,
    ) -> Result<(), ClaimError> {
        self.release(&addr_key(network, ip), owner).await
    }

    /// The values claimed under a key prefix.
    async fn taken_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ClaimError> {
        Ok(self
            .store
            .list(Table::Claims)
            .await?
            .entries
            .into_iter()
            .filter_map(|e| e.key.strip_prefix(prefix).map(str::to_string))
            .collect())
    }
}

//! A store in memory, for tests of the engine's logic.

use crate::history::History;
use crate::{
    Entry, Event, HistoryLimit, Listing, Op, Record, Scope, Store, StoreError, Table, Txn,
    WatchStream,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// A record's table and key.
type Key = (Table, String);

/// The records and the revision.
#[derive(Debug, Default)]
struct State {
    revision: u64,
    records: BTreeMap<Key, Record>,
    leases: HashMap<i64, Lease>,
    /// The lease each leased record hangs off.
    leased: HashMap<Key, i64>,
    last_lease: i64,
}

/// A session lease: its records go when it is not renewed by `deadline`.
#[derive(Debug)]
struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<Key>,
}

impl State {
    /// Forgets which lease `key` hung off.
    fn unlease(&mut self, key: &Key) {
        if let Some(id) = self.leased.remove(key) {
            if let Some(l) = self.leases.get_mut(&id) {
                l.keys.remove(key);
            }
        }
    }
}

/// The store's state and history, shared with the tasks that expire its leases.
struct Inner {
    state: Mutex<State>,
    history: History,
}

/// Records in memory; lost when dropped. Leases expire in real (tokio) time: a task started
/// with each lease deletes its records when the lease is not renewed in time.
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_history(HistoryLimit::default())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that keeps `limit` of history for watchers.
    pub fn with_history(limit: HistoryLimit) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                history: History::new(0, limit),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A transaction checks every condition before its first change, and a change cannot
        // panic, so a poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends lease `id` and deletes its records under one new revision.
    fn end_lease(&self, st: &mut State, id: i64) {
        let Some(lease) = st.leases.remove(&id) else {
            return;
        };
        let next = st.revision + 1;
        let mut events = Vec::new();
        for key in lease.keys {
            st.leased.remove(&key);
            if st.records.remove(&key).is_some() {
                events.push((
                    key.0,
                    Event::Delete {
                        key: key.1,
                        revision: next,
                    },
                ));
            }
        }
        if !events.is_empty() {
            st.revision = next;
            self.history.record(next, events);
        }
    }
}

/// Expires lease `id` once its deadline passes without renewal; ends with the lease or the
/// store.
async fn expire(inner: Weak<Inner>, id: i64) {
    loop {
        let deadline = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let mut st = inner.lock();
            let Some(lease) = st.leases.get(&id) else {
                return;
            };
            if lease.deadline <= Instant::now() {
                inner.end_lease(&mut st, id);
                return;
            }
            lease.deadline
        };
        tokio::time::sleep_until(deadline).await;
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn list(&self, table: Table) -> Result<Listing, StoreError> {
        let st = self.lock();
        let entries = st
            .records
            .range((table, String::new())..)
            .take_while(|((t, _), _)| *t == table)
            .map(|((_, key), r)| Entry {
                key: key.clone(),
                value: r.value.clone(),
                mod_revision: r.mod_revision,
            })
            .collect();
        Ok(Listing {
            revision: st.revision,
            entries,
        })
    }

    async fn get(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.lock().records.get(&(table, key.to_string())).cloned())
    }

    async fn apply(&self, txn: Txn) -> Result<u64, StoreError> {
        let mut st = self.lock();
        for c in &txn.conditions {
            let (table, key) = c.target();
            c.check(
                st.records
                    .get(&(table, key.to_string()))
                    .map(|r| r.mod_revision),
            )?;
        }
        for op in &txn.ops {
            if let Op::PutLeased { lease, .. } = op {
                let now = Instant::now();
                if st.leases.get(lease).is_none_or(|l| l.deadline <= now) {
                    return Err(StoreError::LeaseNotFound { lease: *lease });
                }
            }
        }
        let next = st.revision + 1;
        let mut events = Vec::new();
        for op in txn.ops {
            let lease = match &op {
                Op::PutLeased { lease, .. } => Some(*lease),
                _ => None,
            };
            match op {
                Op::Put { table, key, value }
                | Op::PutLeased {
                    table, key, value, ..
                } => {
                    let k = (table, key.clone());
                    st.unlease(&k);
                    if let Some(id) = lease {
                        if let Some(l) = st.leases.get_mut(&id) {
                            l.keys.insert(k.clone());
                        }
                        st.leased.insert(k, id);
                    }
                    let record = Record {
                        value: value.clone(),
                        mod_revision: next,
                    };
                    st.records.insert((table, key.clone()), record);
                    let revision = next;
                    events.push((
                        table,
                        Event::Put {
                            key,
                            value,
                            revision,
                        },
                    ));
                }
                Op::Delete { table, key } => {
                    st.unlease(&(table, key.clone()));
                    if st.records.remove(&(table, key.clone())).is_some() {
                        events.push((
                            table,
                            Event::Delete {
                                key,
                                revision: next,
                            },
                        ));
                    }
                }
            }
        }
        if events.is_empty() {
            return Ok(st.revision);
        }
        st.revision = next;
        // Under the state lock, so that revisions reach the history in order.
        self.inner.history.record(next, events);
        Ok(next)
    }

    async fn watch(&self, table: Table, from_revision: u64) -> Result<WatchStream, StoreError> {
        self.inner.history.watch(table, from_revision)
    }

    async fn compact(&self, revision: u64) -> Result<(), StoreError> {
        self.inner.history.compact(revision);
        Ok(())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<i64, StoreError> {
        let id = {
            let mut st = self.lock();
            st.last_lease += 1;
            let id = st.last_lease;
            st.leases.insert(
                id,
                Lease {
                    ttl,
                    deadline: Instant::now() + ttl,
                    keys: BTreeSet::new(),
                },
            );
            id
        };
        tokio::spawn(expire(Arc::downgrade(&self.inner), id));
        Ok(id)
    }

    async fn keep_alive(&self, lease: i64) -> Result<Option<Duration>, StoreError> {
        let mut st = self.lock();
        let now = Instant::now();
        let Some(l) = st.leases.get_mut(&lease) else {
            return Ok(None);
        };
        if l.deadline <= now {
            // Due already: its task may not have run yet, but the lease is over.
            self.inner.end_lease(&mut st, lease);
            return Ok(None);
        }
        l.deadline = now + l.ttl;
        Ok(Some(l.ttl))
    }

    async fn revoke_lease(&self, lease: i64) -> Result<(), StoreError> {
        let mut st = self.lock();
        self.inner.end_lease(&mut st, lease);
        Ok(())
    }

    fn scope(&self) -> Scope {
        Scope::Local
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn honours_the_store_contract() {
        crate::contract::run(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn honours_the_lease_contract() {
        crate::contract::run_leases(
            || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
            Duration::from_millis(300),
        )
        .await;
    }

    #[test]
    fn calls_complete_without_yielding() {
        // A caller's future cannot then be dropped between a commit and its next step.
        use futures::FutureExt;
        let s = MemoryStore::new();
        let op = Op::put_json(Table::Networks, "a", &1).unwrap();
        assert!(matches!(s.apply_ops(vec![op]).now_or_never(), Some(Ok(1))));
        assert!(s.get(Table::Networks, "a").now_or_never().is_some());
    }
}

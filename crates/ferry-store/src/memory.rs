//! A store in memory, for tests of the engine's logic.

use crate::history::History;
use crate::{
    Entry, Event, HistoryLimit, Listing, Op, Record, Scope, Store, StoreError, Table, Txn,
    WatchStream,
};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// The records and the revision.
#[derive(Debug, Default)]
struct State {
    revision: u64,
    records: BTreeMap<(Table, String), Record>,
}

/// Records in memory; lost when dropped.
pub struct MemoryStore {
    state: Mutex<State>,
    history: History,
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
            state: Mutex::new(State::default()),
            history: History::new(0, limit),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A transaction checks every condition before its first change, and a change cannot
        // panic, so a poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        let next = st.revision + 1;
        let mut events = Vec::new();
        for op in txn.ops {
            match op {
                Op::Put { table, key, value } => {
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
        self.history.record(next, events);
        Ok(next)
    }

    async fn watch(&self, table: Table, from_revision: u64) -> Result<WatchStream, StoreError> {
        self.history.watch(table, from_revision)
    }

    async fn compact(&self, revision: u64) -> Result<(), StoreError> {
        self.history.compact(revision);
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

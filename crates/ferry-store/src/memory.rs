//! A store in memory, for tests of the engine's logic.

use crate::{Op, Store, StoreError, Table};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Records in memory; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<(Table, String), Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Table, String), Vec<u8>>> {
        // A panic elsewhere cannot leave the map half-written: every apply is one insert loop
        // on a clone, so a poisoned lock still guards consistent data.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(&(table, key.to_string())).cloned())
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        for op in ops {
            match op {
                Op::Put { table, key, value } => {
                    next.insert((*table, key.clone()), value.clone());
                }
                Op::Delete { table, key } => {
                    next.remove(&(*table, key.clone()));
                }
            }
        }
        *guard = next;
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn honours_the_store_contract() {
        crate::contract::exercise(&super::MemoryStore::new());
    }
}

//! The embedded store: one redb file, ACID and crash-safe (copy-on-write B-trees, each commit
//! durable before it returns).

use crate::{Op, Store, StoreError, Table};
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The redb-backed store.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the database file. Fails with [`StoreError::Locked`] when another
    /// process has it open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: shown.clone(),
            },
            other => StoreError::Backend {
                path: shown.clone(),
                message: other.to_string(),
            },
        })?;
        let store = Self {
            db,
            path: path.to_path_buf(),
        };
        // Create every table once so that readers never meet a missing one.
        let txn = store.db.begin_write().map_err(|e| store.err(e))?;
        for t in Table::ALL {
            txn.open_table(def(t)).map_err(|e| store.err(e))?;
        }
        txn.commit().map_err(|e| store.err(e))?;
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl Store for RedbStore {
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(def(table)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(def(table)).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        for op in ops {
            match op {
                Op::Put { table, key, value } => {
                    let mut t = txn.open_table(def(*table)).map_err(|e| self.err(e))?;
                    t.insert(key.as_str(), value.as_slice())
                        .map_err(|e| self.err(e))?;
                }
                Op::Delete { table, key } => {
                    let mut t = txn.open_table(def(*table)).map_err(|e| self.err(e))?;
                    t.remove(key.as_str()).map_err(|e| self.err(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn describe(&self) -> String {
        format!("redb ({})", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_the_store_contract_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.db");
        {
            let s = RedbStore::open(&path).unwrap();
            crate::contract::exercise(&s);
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.get(Table::Networks, "b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_second_opener_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.db");
        let _first = RedbStore::open(&path).unwrap();
        match RedbStore::open(&path) {
            Err(StoreError::Locked { .. }) => {}
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("a second open succeeded"),
        }
    }
}

//! The embedded store: one redb file, ACID and crash-safe (copy-on-write B-trees, each commit
//! durable before it returns). Revisions live in the file; the history that watchers read is
//! kept in memory since the file was opened.
//!
//! Every call runs on the caller's thread and never yields: a commit blocks its runtime thread
//! for one fsync, and a caller's future cannot be dropped between a commit and the caller's
//! next step (the engine updates its memory right after a write).

mod format;

use crate::history::History;
use crate::{
    Entry, Event, HistoryLimit, Listing, Op, Record, Scope, Store, StoreError, Table, Txn,
    WatchStream,
};
use format::{records, REVISION, STORE};
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The redb-backed store.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    /// Held from the start of a write to its entry in the history, so that revisions reach
    /// the history in order.
    writer: Mutex<()>,
    history: History,
}

impl RedbStore {
    /// Opens (or creates) the database file, upgrading a file written before records had
    /// revisions. Fails with [`StoreError::Locked`] when another process has it open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, HistoryLimit::default())
    }

    /// [`RedbStore::open`], keeping `limit` of history for watchers.
    pub fn open_with(path: &Path, limit: HistoryLimit) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let err = |e: redb::Error| StoreError::Backend {
            path: shown.clone(),
            message: e.to_string(),
        };
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: shown.clone(),
            },
            other => err(other.into()),
        })?;
        // Every table is created here, so that readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        let revision = format::prepare(&txn).map_err(err)?;
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(RedbStore {
            db,
            path: path.to_path_buf(),
            writer: Mutex::new(()),
            history: History::new(revision, limit),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn read_list(&self, table: Table) -> Result<Listing, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let revision = {
            let t = txn.open_table(STORE).map_err(|e| self.err(e))?;
            let v = t.get(REVISION).map_err(|e| self.err(e))?;
            v.map(|v| v.value()).unwrap_or(0)
        };
        let t = txn.open_table(records(table)).map_err(|e| self.err(e))?;
        let mut entries = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let (mod_revision, value) = v.value();
            entries.push(Entry {
                key: k.value().to_string(),
                value: value.to_vec(),
                mod_revision,
            });
        }
        Ok(Listing { revision, entries })
    }

    fn read_one(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(records(table)).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|v| {
            let (mod_revision, value) = v.value();
            Record {
                value: value.to_vec(),
                mod_revision,
            }
        }))
    }

    fn write(&self, txn: Txn) -> Result<u64, StoreError> {
        if txn.ops.iter().any(|op| matches!(op, Op::PutLeased { .. })) {
            return Err(crate::error::no_leases(&self.describe()));
        }
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let revision = format::current_revision(&w).map_err(|e| self.err(e))?;
        for c in &txn.conditions {
            let (table, key) = c.target();
            let t = w.open_table(records(table)).map_err(|e| self.err(e))?;
            let actual = t.get(key).map_err(|e| self.err(e))?.map(|v| v.value().0);
            // Returning drops the write transaction, which aborts it.
            c.check(actual)?;
        }
        let next = revision + 1;
        let mut events = Vec::new();
        for op in txn.ops {
            match op {
                Op::Put { table, key, value } => {
                    let mut t = w.open_table(records(table)).map_err(|e| self.err(e))?;
                    t.insert(key.as_str(), (next, value.as_slice()))
                        .map_err(|e| self.err(e))?;
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
                // Refused above already; returning drops (aborts) the write transaction.
                Op::PutLeased { .. } => return Err(crate::error::no_leases(&self.describe())),
                Op::Delete { table, key } => {
                    let mut t = w.open_table(records(table)).map_err(|e| self.err(e))?;
                    if t.remove(key.as_str()).map_err(|e| self.err(e))?.is_some() {
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
            w.abort().map_err(|e| self.err(e))?;
            return Ok(revision);
        }
        {
            let mut t = w.open_table(STORE).map_err(|e| self.err(e))?;
            t.insert(REVISION, next).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))?;
        self.history.record(next, events);
        Ok(next)
    }
}

#[async_trait::async_trait]
impl Store for RedbStore {
    async fn list(&self, table: Table) -> Result<Listing, StoreError> {
        self.read_list(table)
    }

    async fn get(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError> {
        self.read_one(table, key)
    }

    async fn apply(&self, txn: Txn) -> Result<u64, StoreError> {
        self.write(txn)
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
        format!("redb ({})", self.path.display())
    }
}

#[cfg(test)]
mod tests;

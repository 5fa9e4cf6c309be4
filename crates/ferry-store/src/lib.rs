//! Where ferry keeps its desired state. The engine sees only the [`Store`] trait, so the embedded
//! backend (redb, one crash-safe file under the data root) can be joined by a cluster backend
//! (etcd) without touching the engine.
//!
//! The model is etcd's: every committed transaction that changes something gets the next
//! store-wide revision, every record remembers the revision that last wrote it, transactions
//! can be made conditional on those revisions, and a watcher lists a table and then watches it
//! from the listing's revision + 1 without missing a change.

#[cfg(any(test, feature = "contract"))]
#[doc(hidden)]
pub mod contract;
mod error;
#[cfg(feature = "etcd")]
pub mod etcd_store;
mod history;
mod memory;
mod record;
mod redb_store;
mod table;
mod txn;
mod watch;

pub use error::StoreError;
#[cfg(feature = "etcd")]
pub use etcd_store::{EtcdConfig, EtcdStore, EtcdTls};
pub use history::HistoryLimit;
pub use memory::MemoryStore;
pub use record::{Entry, Listing, Record};
pub use redb_store::RedbStore;
pub use table::{Scope, Table};
pub use txn::{Condition, Expected, Op, Txn};
pub use watch::{Event, WatchStream};

use std::time::Duration;

/// Durable key-value storage of ferry's records, with revisions. Implementations apply each
/// transaction atomically: after a crash either all of its operations are visible or none are.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Every record of a table, in key order, with the store's revision at the time.
    async fn list(&self, table: Table) -> Result<Listing, StoreError>;

    /// One record.
    async fn get(&self, table: Table, key: &str) -> Result<Option<Record>, StoreError>;

    /// Applies a transaction atomically and durably. When a condition fails nothing is written
    /// and the error is [`StoreError::Conflict`]. Returns the store's revision afterwards: a
    /// new one when the transaction changed something, the current one when it did not (only
    /// deletes of absent keys, or no operations).
    async fn apply(&self, txn: Txn) -> Result<u64, StoreError>;

    /// Applies operations unconditionally, as one transaction.
    async fn apply_ops(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        self.apply(Txn::new(ops)).await
    }

    /// The changes to `table` from revision `from_revision` on (0 counts as 1): first those
    /// already committed, then new ones as they commit. Fails with [`StoreError::Compacted`]
    /// when the store no longer holds the events of `from_revision`.
    async fn watch(&self, table: Table, from_revision: u64) -> Result<WatchStream, StoreError>;

    /// Forgets the history below `revision`, so that a watch can start no earlier than it.
    /// Records are untouched.
    async fn compact(&self, revision: u64) -> Result<(), StoreError>;

    /// Grants a session lease of `ttl` (rounded up to whole seconds by etcd): records put with
    /// [`Op::PutLeased`] on it are deleted when it is revoked or not renewed within `ttl`.
    async fn grant_lease(&self, ttl: Duration) -> Result<i64, StoreError> {
        let _ = ttl;
        Err(error::no_leases(&self.describe()))
    }

    /// Renews a lease for another TTL. `None`: the lease is gone (expired or revoked), and its
    /// records with it.
    async fn keep_alive(&self, lease: i64) -> Result<Option<Duration>, StoreError> {
        let _ = lease;
        Err(error::no_leases(&self.describe()))
    }

    /// Ends a lease now, deleting its records. A lease already gone is not an error.
    async fn revoke_lease(&self, lease: i64) -> Result<(), StoreError> {
        let _ = lease;
        Err(error::no_leases(&self.describe()))
    }

    /// Who sees the records.
    fn scope(&self) -> Scope;

    /// A short description for `ferry info` (backend and location).
    fn describe(&self) -> String;
}

/// Decodes every JSON record of a table.
pub async fn list_json<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    table: Table,
) -> Result<Vec<T>, StoreError> {
    store
        .list(table)
        .await?
        .entries
        .into_iter()
        .map(|e| {
            serde_json::from_slice(&e.value).map_err(|err| StoreError::Decode {
                table: table.name(),
                key: e.key,
                message: err.to_string(),
            })
        })
        .collect()
}

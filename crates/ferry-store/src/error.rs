//! Failures of a store.

use crate::{Expected, Table};

/// Failures of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error("the state database {path} is in use by another process: is another ferry daemon running with the same --data-root?")]
    Locked {
        /// The database file.
        path: String,
    },
    /// The backend failed.
    #[error("state database {path}: {message}")]
    Backend {
        /// The database file or endpoint.
        path: String,
        /// What failed.
        message: String,
    },
    /// A record could not be encoded.
    #[error("cannot encode a record: {0}")]
    Encode(String),
    /// A record could not be decoded.
    #[error("corrupt record {table}/{key}: {message}")]
    Decode {
        /// Its table.
        table: &'static str,
        /// Its key.
        key: String,
        /// Why.
        message: String,
    },
    /// A condition of a transaction did not hold, so nothing was written.
    #[error("conflict on {table}/{key}: expected {expected}, found {}: another writer changed it first; read it again and retry", found(.actual))]
    Conflict {
        /// The record's table.
        table: Table,
        /// The record's key.
        key: String,
        /// What the condition wanted.
        expected: Expected,
        /// The record's `mod_revision` when the transaction ran (`None`: no record).
        actual: Option<u64>,
    },
    /// The store keeps no session leases (a local store: nothing of one host expires).
    #[error("the store {store} has no leases: session leases need a cluster store (etcd)")]
    LeasesUnsupported {
        /// The store, as it describes itself.
        store: String,
    },
    /// A write named a lease the store does not hold (it expired or was revoked).
    #[error(
        "lease {lease:x} is not held by the store: it expired or was revoked; grant a new one"
    )]
    LeaseNotFound {
        /// The lease.
        lease: i64,
    },
    /// A watch asked for events the store no longer holds.
    #[error("cannot watch from revision {requested}: the store's history starts at revision {oldest}; list again and watch from the listing's revision + 1")]
    Compacted {
        /// The first revision the watch asked for.
        requested: u64,
        /// The oldest revision a watch can start from now.
        oldest: u64,
    },
}

/// Why a store has no leases: a local store outlives no session, so nothing would expire.
pub(crate) fn no_leases(store: &str) -> StoreError {
    StoreError::LeasesUnsupported {
        store: store.to_string(),
    }
}

fn found(actual: &Option<u64>) -> String {
    match actual {
        Some(r) => format!("revision {r}"),
        None => "no record".into(),
    }
}

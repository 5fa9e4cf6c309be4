//! Where ferry keeps its desired state. The engine sees only the [`Store`] trait, so the embedded
//! backend (redb, one crash-safe file under the data root) can be joined later by a cluster
//! backend (etcd) without touching the engine.

mod memory;
mod redb_store;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;

/// The kinds of records ferry keeps; each is a key space of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Networks by ID.
    Networks,
    /// Sandboxes (with their live endpoints) by ID.
    Sandboxes,
    /// Daemon-wide values (host ID, schema version).
    Meta,
    /// Services by ID.
    Services,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [
        Table::Networks,
        Table::Sandboxes,
        Table::Meta,
        Table::Services,
    ];

    /// The table's name in the backend.
    pub fn name(self) -> &'static str {
        match self {
            Table::Networks => "networks",
            Table::Sandboxes => "sandboxes",
            Table::Meta => "meta",
            Table::Services => "services",
        }
    }
}

/// One change in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Write `value` under `key`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: String,
        /// The encoded record.
        value: Vec<u8>,
    },
    /// Remove `key` (no error when absent).
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: String,
    },
}

impl Op {
    /// A put of a record encoded as JSON.
    pub fn put_json<T: serde::Serialize>(
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<Op, StoreError> {
        Ok(Op::Put {
            table,
            key: key.to_string(),
            value: serde_json::to_vec(value).map_err(|e| StoreError::Encode(e.to_string()))?,
        })
    }
    /// A delete.
    pub fn delete(table: Table, key: &str) -> Op {
        Op::Delete {
            table,
            key: key.to_string(),
        }
    }
}

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
}

/// Durable key-value storage of ferry's records. Implementations apply each transaction
/// atomically: after a crash either all of its operations are visible or none are.
pub trait Store: Send + Sync + 'static {
    /// Every record of a table, in key order.
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// One record.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies the operations as one atomic, durable transaction.
    fn apply(&self, ops: &[Op]) -> Result<(), StoreError>;
    /// A short description for `ferry info` (backend and location).
    fn describe(&self) -> String;
}

/// Decodes every JSON record of a table.
pub fn list_json<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    table: Table,
) -> Result<Vec<T>, StoreError> {
    store
        .list(table)?
        .into_iter()
        .map(|(key, v)| {
            serde_json::from_slice(&v).map_err(|e| StoreError::Decode {
                table: table.name(),
                key,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every backend must show.
    use super::*;

    pub fn exercise(store: &dyn Store) {
        store
            .apply(&[
                Op::Put {
                    table: Table::Networks,
                    key: "b".into(),
                    value: b"2".to_vec(),
                },
                Op::Put {
                    table: Table::Networks,
                    key: "a".into(),
                    value: b"1".to_vec(),
                },
                Op::Put {
                    table: Table::Sandboxes,
                    key: "a".into(),
                    value: b"s".to_vec(),
                },
            ])
            .unwrap();
        let nets = store.list(Table::Networks).unwrap();
        assert_eq!(
            nets,
            vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())]
        );
        assert_eq!(
            store.get(Table::Sandboxes, "a").unwrap(),
            Some(b"s".to_vec())
        );
        assert_eq!(store.get(Table::Meta, "a").unwrap(), None);
        store
            .apply(&[
                Op::delete(Table::Networks, "a"),
                Op::delete(Table::Networks, "zz"),
            ])
            .unwrap();
        assert_eq!(store.list(Table::Networks).unwrap().len(), 1);
    }
}

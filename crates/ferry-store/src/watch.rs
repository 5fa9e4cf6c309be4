//! What a watch delivers.

use crate::StoreError;
use futures::stream::BoxStream;

/// A change to one record of the watched table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The record was written.
    Put {
        /// Its key.
        key: String,
        /// The new encoded record.
        value: Vec<u8>,
        /// The revision of the transaction that wrote it.
        revision: u64,
    },
    /// The record was removed.
    Delete {
        /// Its key.
        key: String,
        /// The revision of the transaction that removed it.
        revision: u64,
    },
}

impl Event {
    /// The record's key.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { key, .. } | Event::Delete { key, .. } => key,
        }
    }

    /// The revision of the transaction that made the change.
    pub fn revision(&self) -> u64 {
        match self {
            Event::Put { revision, .. } | Event::Delete { revision, .. } => *revision,
        }
    }
}

/// The events of one table in revision order (within a revision, in the transaction's order).
/// An error ends the stream: [`StoreError::Compacted`] when the watcher fell behind the
/// history the store keeps, after which it must list again. The stream ends without an error
/// when the store goes away.
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

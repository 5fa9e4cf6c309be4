//! What reads return: values with the revision that last modified them.

/// One record, as `get` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The encoded record.
    pub value: Vec<u8>,
    /// The revision of the transaction that last wrote it.
    pub mod_revision: u64,
}

/// One record of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its key.
    pub key: String,
    /// The encoded record.
    pub value: Vec<u8>,
    /// The revision of the transaction that last wrote it.
    pub mod_revision: u64,
}

/// Every record of a table, as of one revision of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The store's revision when the table was read. A watch from `revision + 1` sees every
    /// change made after this listing.
    pub revision: u64,
    /// The records, in key order.
    pub entries: Vec<Entry>,
}

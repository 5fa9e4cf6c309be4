//! The key spaces of the store, and how far a store's records reach.

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
    /// Cluster-wide claims on unique values (VXLAN IDs, subnets, addresses), by value.
    Claims,
    /// Endpoints on global-scope networks as their nodes publish them, by network, node and
    /// endpoint: what every other node programs into its kernel and its resolver.
    Peers,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 6] = [
        Table::Networks,
        Table::Sandboxes,
        Table::Meta,
        Table::Services,
        Table::Claims,
        Table::Peers,
    ];

    /// The table's name in the backend.
    pub fn name(self) -> &'static str {
        match self {
            Table::Networks => "networks",
            Table::Sandboxes => "sandboxes",
            Table::Meta => "meta",
            Table::Services => "services",
            Table::Claims => "claims",
            Table::Peers => "peers",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who sees a store's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This host only (an embedded file, or memory).
    Local,
    /// Every host of a cluster (a shared store such as etcd).
    Global,
}

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
    /// Swarm nodes by node ID: role, availability, labels, addresses; kept while the node is a
    /// member, whether it is up or not.
    Nodes,
    /// Live nodes' sessions by node ID, each on its node's lease: a node without one is Down.
    Sessions,
    /// Swarm-wide settings (the CA certificate, join token secrets, data path, address pools)
    /// and the services' leader.
    Swarm,
    /// Swarm services' tasks by task ID: which node runs which replica slot, as the leader
    /// placed them.
    Tasks,
    /// What each node reports of the tasks it runs, by task ID, on the node's lease.
    TaskStatus,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 11] = [
        Table::Networks,
        Table::Sandboxes,
        Table::Meta,
        Table::Services,
        Table::Claims,
        Table::Peers,
        Table::Nodes,
        Table::Sessions,
        Table::Swarm,
        Table::Tasks,
        Table::TaskStatus,
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
            Table::Nodes => "nodes",
            Table::Sessions => "sessions",
            Table::Swarm => "swarm",
            Table::Tasks => "tasks",
            Table::TaskStatus => "task_status",
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

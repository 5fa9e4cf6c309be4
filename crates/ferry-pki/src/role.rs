//! The two roles a node joins with.

use std::fmt;

/// The role a node joins the cluster with; each role has its own join token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs containers; reads cluster state.
    Worker,
    /// Also runs an etcd member and may manage the cluster.
    Manager,
}

impl Role {
    /// The name written in a node certificate's organizational unit (as Docker does).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "swarm-worker",
            Role::Manager => "swarm-manager",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Worker => "worker",
            Role::Manager => "manager",
        })
    }
}

//! A network with its members, and what other views show of a network.

use ferry_types::{Endpoint, Network, NetworkId, SandboxId};

/// A network and the sandboxes with an endpoint on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkView {
    /// The network.
    pub network: Network,
    /// Who sees it: [`ferry_types::SCOPE_LOCAL`] or [`ferry_types::SCOPE_SWARM`].
    pub scope: &'static str,
    /// Its members on this node, by sandbox ID.
    pub members: Vec<MemberView>,
}

/// A sandbox's endpoint on a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// The sandbox's ID.
    pub sandbox_id: SandboxId,
    /// The sandbox's name.
    pub sandbox_name: String,
    /// Its endpoint on the network.
    pub endpoint: Endpoint,
}

/// What a view of a sandbox or a service shows of one of its networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    /// The network's ID.
    pub id: NetworkId,
    /// Its name.
    pub name: String,
    /// One of the networks the daemon makes itself.
    pub builtin: bool,
}

impl From<&Network> for NetworkRef {
    fn from(n: &Network) -> Self {
        NetworkRef {
            id: n.id.clone(),
            name: n.name.clone(),
            builtin: n.builtin,
        }
    }
}

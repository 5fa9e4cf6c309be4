//! A network with its members.

use ferry_types::{Endpoint, Network, SandboxId};

/// A network and the sandboxes with an endpoint on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkView {
    /// The network.
    pub network: Network,
    /// Its members, by sandbox ID.
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

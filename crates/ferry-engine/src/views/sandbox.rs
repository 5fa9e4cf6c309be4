//! A sandbox with the networks it names.

use ferry_types::{Network, NetworkId, Sandbox};
use std::path::PathBuf;

/// What a view of a sandbox needs to know about one of its networks.
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

/// A sandbox, where its files are, and the networks it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxView {
    /// The sandbox.
    pub sandbox: Sandbox,
    /// Its directory: `hosts`, `resolv.conf`, `hostname` and the output log.
    pub dir: PathBuf,
    /// The networks of its attachments that exist, and in `host` or `none` mode that
    /// builtin network.
    pub networks: Vec<NetworkRef>,
}

impl SandboxView {
    /// One of its networks by ID or name.
    pub fn network(&self, reference: &str) -> Option<&NetworkRef> {
        self.networks
            .iter()
            .find(|n| n.id == reference)
            .or_else(|| self.networks.iter().find(|n| n.name == reference))
    }
}

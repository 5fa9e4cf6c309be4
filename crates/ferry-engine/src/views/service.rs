//! A service with how many of its replicas run, and its replicas as tasks.

use super::NetworkRef;
use ferry_types::service::Service;
use ferry_types::Sandbox;

/// A service, how many of its replicas run, and the networks it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// The service.
    pub service: Service,
    /// Replicas whose process runs.
    pub running: u32,
    /// The networks of its spec and VIPs that exist.
    pub networks: Vec<NetworkRef>,
}

impl ServiceState {
    /// The name of one of its networks, by ID; empty when the network is gone.
    pub fn network_name(&self, id: &str) -> String {
        self.networks
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    }
}

/// What the service wants of a replica's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredState {
    /// The slot is within the replica count.
    Running,
    /// The slot is above it: the replica is on its way out.
    Shutdown,
}

/// One replica of a service, in its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The service's ID.
    pub service_id: String,
    /// The slot, from 1.
    pub slot: u32,
    /// What the service wants of the slot.
    pub desired: DesiredState,
    /// The replica.
    pub replica: Sandbox,
}

//! The engine's side of swarm mode: what the daemon's swarm membership gives the controller
//! (the cluster's store, this node's identity and session lease, the data path's settings),
//! and what the controller does with it (global-scope networks, their peers and names).
//!
//! Joining and leaving a swarm (certificates, etcd members, node records) is not the engine's
//! business: the daemon does it and hands the engine a [`ClusterLink`] with
//! [`crate::Controller::attach_cluster`], or takes it back with
//! [`crate::Controller::detach_cluster`].

use ferry_store::Store;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;

/// This node's membership of a swarm, as the engine uses it.
#[derive(Clone)]
pub struct ClusterLink {
    /// The cluster's store (etcd), shared by every node: global-scope networks, claims,
    /// and the records each node publishes under its lease.
    pub store: Arc<dyn Store>,
    /// This node's ID in the swarm.
    pub node_id: String,
    /// The session lease this node's records hang off: when the node stops renewing it,
    /// etcd deletes them and every other node withdraws what they described.
    pub lease: i64,
    /// This node's address on the underlay: where the other nodes send its overlay traffic.
    pub advertise_addr: IpAddr,
    /// The UDP port of the overlay data path (VXLAN), fixed for the swarm at init.
    pub data_path_port: u16,
    /// Where overlay subnets come from when a network names none.
    pub default_addr_pools: Vec<IpNet>,
    /// The prefix length of a subnet taken from those pools.
    pub default_pool_mask_len: u8,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("store", &self.store.describe())
            .field("node_id", &self.node_id)
            .field("lease", &self.lease)
            .field("advertise_addr", &self.advertise_addr)
            .field("data_path_port", &self.data_path_port)
            .finish_non_exhaustive()
    }
}

/// Where the controller and the drivers of global-scope networks find the node's swarm
/// membership, which comes and goes while the daemon runs.
#[derive(Default)]
pub struct ClusterSlot(std::sync::RwLock<Option<Arc<ClusterLink>>>);

impl ClusterSlot {
    /// The membership, if the node has one.
    pub fn get(&self) -> Option<Arc<ClusterLink>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets or clears it, returning the one it replaces.
    pub fn set(&self, link: Option<Arc<ClusterLink>>) -> Option<Arc<ClusterLink>> {
        std::mem::replace(
            &mut *self.0.write().unwrap_or_else(|p| p.into_inner()),
            link,
        )
    }
}

pub mod mirror;

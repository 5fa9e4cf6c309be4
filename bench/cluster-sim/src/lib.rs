//! Swarm scale, by simulation: many ferry nodes in one process against one etcd. Each node
//! is what a ferry daemon is to the cluster's store: its own connection
//! ([`ferry_store::EtcdStore`]), its own session lease renewed in the background, its own
//! watch of every node's peer records ([`ferry_cluster::PeerRecord`]) kept by the engine's
//! [`ferry_engine::cluster::mirror::Mirror`], and a fake kernel that records the forwarding
//! and neighbour entries the overlay driver would program.

pub mod kernel;
pub mod memory;
pub mod node;
pub mod stats;
pub mod status;
pub mod swarm;

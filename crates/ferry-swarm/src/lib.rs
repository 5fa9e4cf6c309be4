//! Swarm mode's control plane on etcd: `swarm init` (a cluster CA, an etcd member ferry runs
//! and supervises, join tokens), the join protocol (HTTPS on a manager's listen address: the
//! joiner pins the CA by its token's digest and gets its CSR signed; its key never leaves it),
//! a session lease per node with its session record on it (a node without one is Down), node
//! records and their updates, the re-attach of a member after a restart, and the node
//! endpoint (HTTPS on mutual TLS between nodes) that serves each node's replicas' output. The engine gets
//! what it needs as a [`ferry_engine::cluster::ClusterLink`].

mod addr;
mod error;
mod etcd_member;
mod etcd_ops;
mod join_client;
mod join_proto;
mod join_server;
#[cfg(test)]
mod join_tests;
mod local;
mod node_client;
mod node_server;
mod nodes;
pub mod orchestrator;
mod records;
mod role;
mod session;
mod swarm;
mod tls;

pub use error::{Result, SwarmError};
pub use node_server::DEFAULT_NODE_PORT;
pub use records::{Availability, ClusterRecord, NodeRecord, SessionRecord};
pub use swarm::{Swarm, DEFAULT_DATA_PATH_PORT, DEFAULT_LEASE_TTL};

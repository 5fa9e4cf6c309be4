//! Swarm mode's API bodies, in Docker's shapes where Docker has one (`/swarm`, `/nodes`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /swarm/init`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInitRequest {
    /// Where the join endpoint listens, `ADDR:PORT` (default `0.0.0.0:2377`).
    #[serde(default)]
    pub listen_addr: String,
    /// The address other nodes reach this one at (default: the address of the interface
    /// of the default route).
    #[serde(default)]
    pub advertise_addr: String,
    /// The UDP port of the overlay data path (default 4789).
    #[serde(default)]
    pub data_path_port: u16,
    /// Where overlay subnets come from (default `10.0.0.0/8`).
    #[serde(default)]
    pub default_addr_pool: Vec<String>,
    /// The prefix length of each subnet taken from the pools (default 24).
    #[serde(default)]
    pub subnet_size: u8,
    /// The TTL of every node's session lease, in seconds (default 10): a node that stops
    /// renewing it is Down after that long.
    #[serde(default)]
    pub lease_ttl: u64,
    /// An etcd cluster the user runs, instead of the member ferry runs itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_etcd: Option<ExternalEtcd>,
}

/// An etcd cluster the user already runs, with the PEM files to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalEtcd {
    /// Client URLs.
    pub endpoints: Vec<String>,
    /// Path of the CA certificate that signed the members' certificates.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Path of the client certificate.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Path of the client certificate's key.
    #[serde(default)]
    pub key_file: Option<String>,
}

/// `POST /swarm/join`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmJoinRequest {
    /// Where this node's join endpoint listens when it is a manager (default `0.0.0.0:2377`).
    #[serde(default)]
    pub listen_addr: String,
    /// The address other nodes reach this one at (default: the address the node uses to
    /// reach the manager).
    #[serde(default)]
    pub advertise_addr: String,
    /// Managers' join endpoints, `ADDR:PORT`; the first that answers is used.
    pub remote_addrs: Vec<String>,
    /// The join token (`SWMTKN-1-…`).
    pub join_token: String,
}

/// The two join tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    /// Admits workers.
    pub worker: String,
    /// Admits managers.
    pub manager: String,
}

/// `GET /swarm` (on a manager).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInspect {
    /// The cluster's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The current join tokens.
    pub join_tokens: JoinTokens,
    /// The overlay data path's UDP port.
    pub data_path_port: u16,
    /// Default address pools.
    pub default_addr_pool: Vec<String>,
    /// Prefix length of subnets from the pools.
    pub subnet_size: u8,
    /// Session lease TTL, seconds.
    pub lease_ttl: u64,
    /// Where this manager's join endpoint listens.
    pub listen_addr: String,
}

/// `POST /swarm/update` query: which tokens to rotate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmUpdateQuery {
    /// Rotate the worker token.
    #[serde(default)]
    pub rotate_worker_token: bool,
    /// Rotate the manager token.
    #[serde(default)]
    pub rotate_manager_token: bool,
}

/// A node's description, the `Description` of Docker's node object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDescription {
    /// The host's name.
    pub hostname: String,
}

/// What an operator sets on a node (Docker's `NodeSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSpec {
    /// `worker` or `manager`.
    #[serde(default)]
    pub role: String,
    /// `active`, `pause` or `drain`.
    #[serde(default)]
    pub availability: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A node's liveness (Docker's `NodeStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeStatus {
    /// `ready` (it holds its session lease) or `down`.
    pub state: String,
    /// Its advertise address.
    pub addr: String,
}

/// A manager's place in the control plane (Docker's `ManagerStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagerStatus {
    /// Whether its etcd member leads the cluster.
    pub leader: bool,
    /// `reachable` or `unreachable`.
    pub reachability: String,
    /// Its etcd member's client URL.
    pub addr: String,
}

/// `GET /nodes`, `GET /nodes/{id}`: one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    /// The node ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The revision of its record, for conditional updates.
    pub version: NodeVersion,
    /// When it joined (RFC 3339).
    pub created_at: String,
    /// What an operator set.
    pub spec: NodeSpec,
    /// What the node is.
    pub description: NodeDescription,
    /// Whether it is up.
    pub status: NodeStatus,
    /// Set on managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_status: Option<ManagerStatus>,
    /// Whether this is the node that answered (ferry's addition, for `node ls`'s `*`).
    #[serde(default)]
    pub is_self: bool,
}

/// A record's revision, Docker's `Version` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeVersion {
    /// The revision.
    pub index: u64,
}

/// `POST /nodes/{id}/update`: the changes to make (ferry's form: only what is given changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeUpdate {
    /// New role.
    #[serde(default)]
    pub role: Option<String>,
    /// New availability.
    #[serde(default)]
    pub availability: Option<String>,
    /// Labels to add or replace.
    #[serde(default)]
    pub label_add: BTreeMap<String, String>,
    /// Labels to remove.
    #[serde(default)]
    pub label_rm: Vec<String>,
}

/// A manager in `info`'s `RemoteManagers` (Docker's `Peer`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Peer {
    /// Its node ID.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Its advertise address.
    pub addr: String,
}

/// This node's swarm state in `info` (Docker's `Swarm` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    /// This node's ID (empty when inactive).
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Its advertise address.
    pub node_addr: String,
    /// `inactive`, `pending` (joined, the cluster store not reached yet), `active` or `error`.
    pub local_node_state: String,
    /// Whether this node is a manager.
    pub control_available: bool,
    /// The last error reaching the cluster, if any.
    #[serde(default)]
    pub error: String,
    /// The managers (Docker's `Peer`s: node ID and advertise address).
    #[serde(default)]
    pub remote_managers: Vec<Peer>,
    /// The etcd endpoints this node uses.
    #[serde(default)]
    pub etcd_endpoints: Vec<String>,
    /// Nodes in the cluster (0 when unknown).
    #[serde(default)]
    pub nodes: usize,
    /// Managers in the cluster (0 when unknown).
    #[serde(default)]
    pub managers: usize,
}

//! The join protocol's messages, spoken over HTTPS on a manager's listen address:
//! `GET /ferry/swarm/ca` (nothing secret: the CA certificate a joiner checks against its
//! token's digest) and `POST /ferry/swarm/join` (the token and a CSR, on a connection that
//! trusts only that CA; the reply is the signed certificate and how to reach etcd).

use serde::{Deserialize, Serialize};

/// The path of the CA.
pub const CA_PATH: &str = "/ferry/swarm/ca";
/// The path of a join.
pub const JOIN_PATH: &str = "/ferry/swarm/join";

/// `GET /ferry/swarm/ca`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaReply {
    /// The CA certificate (PEM).
    pub ca_cert: String,
}

/// `POST /ferry/swarm/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The join token.
    pub token: String,
    /// The ID the node chose for itself (its CSR names it).
    pub node_id: String,
    /// The node's CSR (PEM); its key stays on the node.
    pub csr: String,
}

/// A user's etcd: its CA and a client certificate with key, as PEM text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalEtcdFiles {
    /// CA certificate.
    pub ca: Option<String>,
    /// Client certificate.
    pub cert: Option<String>,
    /// Its key.
    pub key: Option<String>,
}

/// The reply to a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinReply {
    /// `worker` or `manager`: what the token admitted.
    pub role: String,
    /// The node's certificate (PEM), signed by the CA.
    pub node_cert: String,
    /// The CA certificate (PEM).
    pub ca_cert: String,
    /// The cluster's ID.
    pub cluster_id: String,
    /// The etcd client URLs.
    pub etcd_endpoints: Vec<String>,
    /// Set when the etcd is the user's own.
    pub external_etcd: Option<ExternalEtcdFiles>,
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong.
    pub message: String,
}

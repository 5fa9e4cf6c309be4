//! What the swarm keeps in etcd: one cluster record (`swarm/cluster`), one record per node
//! (`nodes/<id>`, kept while the node is a member, up or down) and one session per live node
//! (`sessions/<id>`, on the node's lease, so it goes when the node stops renewing).

use crate::{Result, SwarmError};
use ferry_pki::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key of the cluster record in `Table::Swarm`.
pub const CLUSTER_KEY: &str = "cluster";

/// Swarm-wide settings and secrets, written at init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// The cluster's ID.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// The CA certificate (PEM).
    pub ca_cert: String,
    /// The CA key (PEM): managers sign joiners' certificates with it.
    pub ca_key: String,
    /// The current worker token.
    pub worker_token: String,
    /// The current manager token.
    pub manager_token: String,
    /// The overlay data path's UDP port.
    pub data_path_port: u16,
    /// Default address pools for overlay subnets.
    pub default_addr_pools: Vec<String>,
    /// Prefix length of subnets from the pools.
    pub subnet_size: u8,
    /// Session lease TTL, seconds.
    pub lease_ttl: u64,
    /// Whether the etcd cluster is the user's (ferry runs no members then).
    pub external_etcd: bool,
}

/// How available a node is for new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    /// Takes new work.
    Active,
    /// Takes no new work; keeps what it runs.
    Pause,
    /// Takes no work.
    Drain,
}

impl Availability {
    /// Parses Docker's names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Availability::Active),
            "pause" => Ok(Availability::Pause),
            "drain" => Ok(Availability::Drain),
            other => Err(SwarmError::Invalid(format!(
                "invalid availability {other:?}: use active, pause or drain"
            ))),
        }
    }

    /// Docker's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Pause => "pause",
            Availability::Drain => "drain",
        }
    }
}

/// Parses a role name.
pub fn parse_role(s: &str) -> Result<Role> {
    match s {
        "worker" => Ok(Role::Worker),
        "manager" => Ok(Role::Manager),
        other => Err(SwarmError::Invalid(format!(
            "invalid role {other:?}: use worker or manager"
        ))),
    }
}

/// A node of the swarm, written when it joins and removed by `node rm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node ID (its certificate's common name).
    pub id: String,
    /// The host's name.
    pub hostname: String,
    /// The role it should have; a node whose role changes adds or removes its etcd member.
    #[serde(with = "role_name")]
    pub role: Role,
    /// Availability.
    pub availability: Availability,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its advertise address.
    pub addr: String,
    /// RFC 3339.
    pub created_at: String,
    /// Its etcd member's ID, while it runs one.
    #[serde(default)]
    pub etcd_member: Option<u64>,
    /// Its etcd member's client URL, while it runs one.
    #[serde(default)]
    pub etcd_client_url: Option<String>,
}

/// A live node's session, on its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The node ID.
    pub node_id: String,
    /// The lease.
    pub lease: i64,
    /// Its advertise address.
    pub addr: String,
    /// When the session started (RFC 3339).
    pub since: String,
    /// The port of its node endpoint on the advertise address (0 in a record of a node
    /// that predates it: the default).
    #[serde(default)]
    pub node_port: u16,
}

mod role_name {
    use ferry_pki::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&r.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_role(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for a in ["active", "pause", "drain"] {
            assert_eq!(Availability::parse(a).unwrap().as_str(), a);
        }
        assert!(Availability::parse("busy").is_err());
        assert_eq!(parse_role("manager").unwrap(), Role::Manager);
        assert!(parse_role("boss")
            .unwrap_err()
            .to_string()
            .contains("worker or manager"));
    }

    #[test]
    fn a_node_record_round_trips_with_its_role_by_name() {
        let n = NodeRecord {
            id: "n1".into(),
            hostname: "h".into(),
            role: Role::Manager,
            availability: Availability::Drain,
            labels: BTreeMap::new(),
            addr: "192.0.2.1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            etcd_member: Some(7),
            etcd_client_url: None,
        };
        let json = serde_json::to_string(&n).unwrap();
        assert!(json.contains("\"role\":\"manager\""), "{json}");
        assert_eq!(serde_json::from_str::<NodeRecord>(&json).unwrap(), n);
    }
}

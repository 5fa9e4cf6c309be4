//! Where a swarm service's replicas may run: its mode (replicated or global), its placement
//! constraints (`--constraint node.hostname==h`), its spread preferences
//! (`--placement-pref spread=node.labels.K`) and its per-node limit
//! (`--replicas-max-per-node N`), in Docker's syntax, with the facts about a node they are
//! matched against. The algorithm that places replicas lives in `ferry-cluster`.
//!
//! Matching follows Docker's (swarmkit's) rules:
//! - the keys (`node.hostname`, `NODE.HOSTNAME`, the `node.labels.` prefix) are
//!   case-insensitive, but a label's name is not (`node.labels.Zone` is not `node.labels.zone`);
//! - values are compared case-insensitively for every key, labels included
//!   (`node.labels.zone==EAST` matches a node labelled `zone=east`);
//! - a node without the label (or a fact it does not know, such as its OS) has the empty value
//!   for it: `==V` does not match it and `!=V` does.

use crate::error::{FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How many replicas a service runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceMode {
    /// A given number of replicas, spread over the eligible nodes.
    #[default]
    Replicated,
    /// One replica on every eligible node, following nodes as they join and leave.
    Global,
}

impl ServiceMode {
    /// Parses `replicated` or `global` (`--mode`).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "replicated" => Ok(ServiceMode::Replicated),
            "global" => Ok(ServiceMode::Global),
            _ => Err(FerryError::invalid(format!(
                "invalid service mode {s:?}: use replicated or global"
            ))),
        }
    }

    /// `replicated` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceMode::Replicated => "replicated",
            ServiceMode::Global => "global",
        }
    }
}

impl fmt::Display for ServiceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's role in the swarm, as constraints see it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeRoleFact {
    /// A manager (it may run replicas too, as Docker's managers do).
    Manager,
    /// A worker.
    #[default]
    Worker,
}

impl NodeRoleFact {
    /// Parses `manager` or `worker` (in any case, as constraints match).
    pub fn parse(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("manager") {
            Ok(NodeRoleFact::Manager)
        } else if s.eq_ignore_ascii_case("worker") {
            Ok(NodeRoleFact::Worker)
        } else {
            Err(FerryError::invalid(format!(
                "invalid node role {s:?}: use manager or worker"
            )))
        }
    }

    /// `manager` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRoleFact::Manager => "manager",
            NodeRoleFact::Worker => "worker",
        }
    }
}

/// Whether a node takes replicas (`node update --availability`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeAvailability {
    /// It keeps what it runs and takes new replicas.
    #[default]
    Active,
    /// It keeps what it runs but takes no new replicas.
    Pause,
    /// It runs nothing: its replicas move to other nodes.
    Drain,
}

impl NodeAvailability {
    /// Parses `active`, `pause` or `drain`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(NodeAvailability::Active),
            "pause" => Ok(NodeAvailability::Pause),
            "drain" => Ok(NodeAvailability::Drain),
            _ => Err(FerryError::invalid(format!(
                "invalid availability {s:?}: use active, pause or drain"
            ))),
        }
    }

    /// `active`, `pause` or `drain`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeAvailability::Active => "active",
            NodeAvailability::Pause => "pause",
            NodeAvailability::Drain => "drain",
        }
    }
}

/// What constraints are matched against: the facts about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    /// The node ID.
    pub id: String,
    /// Its host name.
    pub hostname: String,
    /// Manager or worker.
    pub role: NodeRoleFact,
    /// The labels an operator set (`node update --label-add`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its operating system, as Go names it (`linux`); empty when unknown.
    #[serde(default)]
    pub os: String,
    /// Its machine, as `uname -m` names it (`x86_64`, `aarch64`), as Docker reports it;
    /// empty when unknown.
    #[serde(default)]
    pub arch: String,
}

/// What a constraint looks at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstraintKey {
    /// `node.id`.
    NodeId,
    /// `node.hostname`.
    NodeHostname,
    /// `node.role`.
    NodeRole,
    /// `node.labels.<label>`: the label's name (case-sensitive).
    NodeLabel(String),
    /// `node.platform.os`.
    PlatformOs,
    /// `node.platform.arch`.
    PlatformArch,
}

impl ConstraintKey {
    /// Parses a key, whose fixed part is case-insensitive as Docker's is.
    fn parse(s: &str) -> Option<Self> {
        const LABELS: &str = "node.labels.";
        let key = match s.to_ascii_lowercase().as_str() {
            "node.id" => ConstraintKey::NodeId,
            "node.hostname" => ConstraintKey::NodeHostname,
            "node.role" => ConstraintKey::NodeRole,
            "node.platform.os" => ConstraintKey::PlatformOs,
            "node.platform.arch" => ConstraintKey::PlatformArch,
            lower if lower.starts_with(LABELS) => {
                // The prefix is ASCII, so the label starts at the same byte in `s`.
                let label = &s[LABELS.len()..];
                if !valid_label(label) {
                    return None;
                }
                ConstraintKey::NodeLabel(label.to_string())
            }
            _ => return None,
        };
        Some(key)
    }

    /// The node's value for this key (empty when the node has none).
    fn value_of<'a>(&self, node: &'a NodeFacts) -> &'a str {
        match self {
            ConstraintKey::NodeId => &node.id,
            ConstraintKey::NodeHostname => &node.hostname,
            ConstraintKey::NodeRole => node.role.as_str(),
            ConstraintKey::NodeLabel(label) => node.labels.get(label).map_or("", String::as_str),
            ConstraintKey::PlatformOs => &node.os,
            ConstraintKey::PlatformArch => &node.arch,
        }
    }
}

impl fmt::Display for ConstraintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstraintKey::NodeId => f.write_str("node.id"),
            ConstraintKey::NodeHostname => f.write_str("node.hostname"),
            ConstraintKey::NodeRole => f.write_str("node.role"),
            ConstraintKey::NodeLabel(label) => write!(f, "node.labels.{label}"),
            ConstraintKey::PlatformOs => f.write_str("node.platform.os"),
            ConstraintKey::PlatformArch => f.write_str("node.platform.arch"),
        }
    }
}

/// A label name as Docker's constraint keys allow it: letters, digits, `-`, `_` and `.`.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A constraint value as Docker allows it: no characters that are (or may become) operators.
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c == ' '
                || matches!(
                    c,
                    ':' | '-'
                        | '_'
                        | '.'
                        | '*'
                        | '('
                        | ')'
                        | '?'
                        | '+'
                        | '['
                        | ']'
                        | '\\'
                        | '^'
                        | '$'
                        | '|'
                        | '/'
                )
        })
}

/// How a constraint compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstraintOp {
    /// `==`: the node's value is this one.
    Eq,
    /// `!=`: the node's value is not this one (a node without the value matches).
    Ne,
}

impl ConstraintOp {
    /// `==` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintOp::Eq => "==",
            ConstraintOp::Ne => "!=",
        }
    }
}

/// One placement constraint, `KEY==VALUE` or `KEY!=VALUE` (`--constraint`).
///
/// Matching is Docker's: the value is compared case-insensitively with the node's; a node
/// without the label (or an unknown OS or architecture) has the empty value, which `==`
/// never matches (values are never empty) and `!=` always does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Constraint {
    /// What it looks at.
    pub key: ConstraintKey,
    /// How it compares.
    pub op: ConstraintOp,
    /// The value, as written.
    pub value: String,
}

impl Constraint {
    /// Parses Docker's syntax: `node.hostname==h`, `node.id!=x`, `node.role==manager`,
    /// `node.labels.K==V`, `node.platform.os==linux`, `node.platform.arch==x86_64`, with
    /// optional spaces around the operator.
    pub fn parse(s: &str) -> Result<Self> {
        let usage = || {
            FerryError::invalid(format!(
                "invalid constraint {s:?}: use KEY==VALUE or KEY!=VALUE, KEY one of node.id, \
                 node.hostname, node.role, node.labels.<label>, node.platform.os, \
                 node.platform.arch"
            ))
        };
        // `==` is looked for first, as Docker does: `a!=b` has no `==`.
        let (key, op, value) = if let Some((k, v)) = s.split_once("==") {
            (k, ConstraintOp::Eq, v)
        } else if let Some((k, v)) = s.split_once("!=") {
            (k, ConstraintOp::Ne, v)
        } else {
            return Err(usage());
        };
        let key = ConstraintKey::parse(key.trim()).ok_or_else(usage)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(FerryError::invalid(format!(
                "invalid constraint {s:?}: the value after {} is empty",
                op.as_str()
            )));
        }
        if !valid_value(value) {
            return Err(FerryError::invalid(format!(
                "invalid constraint {s:?}: the value {value:?} may hold only letters, digits, \
                 spaces and :-_.*()?+[]\\^$|/"
            )));
        }
        if key == ConstraintKey::NodeRole {
            NodeRoleFact::parse(value).map_err(|_| {
                FerryError::invalid(format!(
                    "invalid constraint {s:?}: node.role is manager or worker"
                ))
            })?;
        }
        Ok(Constraint {
            key,
            op,
            value: value.to_string(),
        })
    }

    /// Whether `node` satisfies it (see the type's documentation for the rules).
    pub fn matches(&self, node: &NodeFacts) -> bool {
        // Values are ASCII (parse refuses others), so ASCII case folding is Docker's.
        let same = self.key.value_of(node).eq_ignore_ascii_case(&self.value);
        match self.op {
            ConstraintOp::Eq => same,
            ConstraintOp::Ne => !same,
        }
    }

    /// Whether two constraints compare the same key with the same value (in any case).
    fn same_key_and_value(&self, other: &Constraint) -> bool {
        self.key == other.key && self.value.eq_ignore_ascii_case(&other.value)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.key, self.op.as_str(), self.value)
    }
}

impl Serialize for Constraint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Constraint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Constraint::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A placement preference (`--placement-pref spread=node.labels.K`, Docker's only kind): the
/// replicas are divided evenly among the values of the label, the nodes without it forming
/// one more group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Preference {
    /// The label's name (what follows `node.labels.`).
    pub spread: String,
}

impl Preference {
    /// Parses `spread=node.labels.K`.
    pub fn parse(s: &str) -> Result<Self> {
        const LABELS: &str = "node.labels.";
        let usage = || {
            FerryError::invalid(format!(
                "invalid placement preference {s:?}: use spread=node.labels.<label>"
            ))
        };
        let (strategy, descriptor) = s.split_once('=').ok_or_else(usage)?;
        if !strategy.trim().eq_ignore_ascii_case("spread") {
            return Err(FerryError::invalid(format!(
                "invalid placement preference {s:?}: the only strategy is spread \
                 (spread=node.labels.<label>)"
            )));
        }
        let descriptor = descriptor.trim();
        match descriptor.get(..LABELS.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(LABELS) => {}
            _ => return Err(usage()),
        }
        let label = &descriptor[LABELS.len()..];
        if !valid_label(label) {
            return Err(usage());
        }
        Ok(Preference {
            spread: label.to_string(),
        })
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spread=node.labels.{}", self.spread)
    }
}

impl Serialize for Preference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Preference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Preference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a service's replicas may run and how they spread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Every one must hold on a node that runs a replica.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Spread preferences, the first dividing the replicas first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<Preference>,
    /// At most this many replicas of the service on one node (`None`: no limit, which
    /// Docker's `--replicas-max-per-node 0` means).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u32>,
}

impl Placement {
    /// Refuses what no node can satisfy, as far as it can be told without the nodes: two
    /// `==` with different values on one key, `==V` with `!=V` on one key, `node.role`
    /// unequal to both roles, and a per-node limit of 0.
    pub fn check(&self) -> Result<()> {
        if self.max_replicas_per_node == Some(0) {
            return Err(FerryError::invalid(
                "max replicas per node 0 allows no replica anywhere: give 1 or more, or no \
                 limit",
            ));
        }
        for (i, a) in self.constraints.iter().enumerate() {
            for b in &self.constraints[i + 1..] {
                if a.key != b.key {
                    continue;
                }
                let same_value = a.same_key_and_value(b);
                let why = match (a.op, b.op) {
                    (ConstraintOp::Eq, ConstraintOp::Eq) if !same_value => {
                        Some(format!("a node has one {}", a.key))
                    }
                    (ConstraintOp::Eq, ConstraintOp::Ne) | (ConstraintOp::Ne, ConstraintOp::Eq)
                        if same_value =>
                    {
                        Some("one says what the other forbids".to_string())
                    }
                    (ConstraintOp::Ne, ConstraintOp::Ne)
                        if a.key == ConstraintKey::NodeRole && !same_value =>
                    {
                        Some("a node is a manager or a worker".to_string())
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    return Err(FerryError::invalid(format!(
                        "constraints \"{a}\" and \"{b}\" exclude each other ({why}): no node \
                         can run the service; remove one of them"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether `node` satisfies every constraint.
    pub fn matches(&self, node: &NodeFacts) -> bool {
        self.constraints.iter().all(|c| c.matches(node))
    }

    /// Whether there is nothing to it (no constraint, preference or limit).
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
            && self.preferences.is_empty()
            && self.max_replicas_per_node.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, hostname: &str, role: NodeRoleFact, labels: &[(&str, &str)]) -> NodeFacts {
        NodeFacts {
            id: id.into(),
            hostname: hostname.into(),
            role,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            os: "linux".into(),
            arch: "x86_64".into(),
        }
    }

    fn c(s: &str) -> Constraint {
        Constraint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn modes_parse_and_default_to_replicated() {
        assert_eq!(ServiceMode::default(), ServiceMode::Replicated);
        assert_eq!(ServiceMode::parse("global"), Ok(ServiceMode::Global));
        assert_eq!(
            ServiceMode::parse("replicated"),
            Ok(ServiceMode::Replicated)
        );
        let e = ServiceMode::parse("Global").unwrap_err();
        assert_eq!(
            e.message,
            "invalid service mode \"Global\": use replicated or global"
        );
        assert_eq!(
            serde_json::to_string(&ServiceMode::Global).unwrap(),
            "\"global\""
        );
        assert_eq!(ServiceMode::Global.as_str(), "global");
        assert_eq!(
            NodeAvailability::parse("drain"),
            Ok(NodeAvailability::Drain)
        );
        assert!(NodeAvailability::parse("paused").is_err());
    }

    #[test]
    fn every_key_parses_with_both_operators_and_spaces() {
        let cases = [
            (
                "node.id==abc",
                ConstraintKey::NodeId,
                ConstraintOp::Eq,
                "abc",
            ),
            (
                "node.hostname != h1",
                ConstraintKey::NodeHostname,
                ConstraintOp::Ne,
                "h1",
            ),
            (
                "node.role==manager",
                ConstraintKey::NodeRole,
                ConstraintOp::Eq,
                "manager",
            ),
            (
                "node.role!=Worker",
                ConstraintKey::NodeRole,
                ConstraintOp::Ne,
                "Worker",
            ),
            (
                "node.labels.zone == east",
                ConstraintKey::NodeLabel("zone".into()),
                ConstraintOp::Eq,
                "east",
            ),
            (
                "NODE.Platform.OS==linux",
                ConstraintKey::PlatformOs,
                ConstraintOp::Eq,
                "linux",
            ),
            (
                "node.platform.arch!=x86_64",
                ConstraintKey::PlatformArch,
                ConstraintOp::Ne,
                "x86_64",
            ),
            (
                "Node.Labels.Zone==a.b-c_d",
                ConstraintKey::NodeLabel("Zone".into()),
                ConstraintOp::Eq,
                "a.b-c_d",
            ),
        ];
        for (text, key, op, value) in cases {
            let got = c(text);
            assert_eq!(got.key, key, "{text}");
            assert_eq!(got.op, op, "{text}");
            assert_eq!(got.value, value, "{text}");
            // Display is canonical and parses back to the same constraint.
            assert_eq!(c(&got.to_string()), got, "{text}");
        }
        assert_eq!(c("node.hostname != h1").to_string(), "node.hostname!=h1");
        assert_eq!(c("NODE.LABELS.Zone==x").to_string(), "node.labels.Zone==x");
    }

    #[test]
    fn bad_constraints_say_what_to_write() {
        let usage = "use KEY==VALUE or KEY!=VALUE, KEY one of node.id, node.hostname, \
                     node.role, node.labels.<label>, node.platform.os, node.platform.arch";
        for bad in [
            "node.hostname=x",
            "node.hostname",
            "engine.labels.a==b",
            "node.ip==10.0.0.1",
            "node.labels.==x",
            "node.labels==x",
            "node.labels.a b==x",
            "==x",
        ] {
            let e = Constraint::parse(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
            assert_eq!(e.message, format!("invalid constraint {bad:?}: {usage}"));
        }
        assert_eq!(
            Constraint::parse("node.role==boss").unwrap_err().message,
            "invalid constraint \"node.role==boss\": node.role is manager or worker"
        );
        assert_eq!(
            Constraint::parse("node.id== ").unwrap_err().message,
            "invalid constraint \"node.id== \": the value after == is empty"
        );
        assert!(Constraint::parse("node.labels.a==b!c")
            .unwrap_err()
            .message
            .contains("may hold only"));
        assert!(Constraint::parse("node.labels.a==b==c").is_err());
    }

    #[test]
    fn every_key_matches_with_eq_and_ne() {
        let m = node("id1", "host1", NodeRoleFact::Manager, &[("zone", "east")]);
        let w = node("id2", "host2", NodeRoleFact::Worker, &[("zone", "west")]);
        let table = [
            ("node.id==id1", true, false),
            ("node.id!=id1", false, true),
            ("node.hostname==host2", false, true),
            ("node.hostname!=host2", true, false),
            ("node.role==manager", true, false),
            ("node.role!=manager", false, true),
            ("node.role==worker", false, true),
            ("node.labels.zone==east", true, false),
            ("node.labels.zone!=east", false, true),
            ("node.platform.os==linux", true, true),
            ("node.platform.os!=linux", false, false),
            ("node.platform.arch==x86_64", true, true),
            ("node.platform.arch==aarch64", false, false),
            ("node.platform.arch!=aarch64", true, true),
        ];
        for (text, on_m, on_w) in table {
            assert_eq!(c(text).matches(&m), on_m, "{text} on the manager");
            assert_eq!(c(text).matches(&w), on_w, "{text} on the worker");
        }
    }

    #[test]
    fn values_match_in_any_case_but_label_names_do_not() {
        let n = node("AbC", "Host1", NodeRoleFact::Worker, &[("zone", "East")]);
        assert!(c("node.id==abc").matches(&n));
        assert!(c("node.hostname==HOST1").matches(&n));
        assert!(c("node.role==WORKER").matches(&n));
        assert!(c("node.labels.zone==east").matches(&n));
        assert!(!c("node.labels.zone!=EAST").matches(&n));
        // The label's name is case-sensitive: `Zone` is another label, which n lacks.
        assert!(!c("node.labels.Zone==east").matches(&n));
        assert!(c("node.labels.Zone!=east").matches(&n));
    }

    #[test]
    fn a_missing_label_or_fact_fails_eq_and_passes_ne() {
        let mut n = node("id", "h", NodeRoleFact::Worker, &[]);
        n.os.clear();
        n.arch.clear();
        assert!(!c("node.labels.zone==east").matches(&n));
        assert!(c("node.labels.zone!=east").matches(&n));
        assert!(!c("node.platform.os==linux").matches(&n));
        assert!(c("node.platform.arch!=x86_64").matches(&n));
    }

    #[test]
    fn placement_matches_all_constraints() {
        let p = Placement {
            constraints: vec![c("node.role==worker"), c("node.labels.zone!=west")],
            ..Placement::default()
        };
        assert!(p.matches(&node("a", "a", NodeRoleFact::Worker, &[])));
        assert!(!p.matches(&node("b", "b", NodeRoleFact::Worker, &[("zone", "west")])));
        assert!(!p.matches(&node("c", "c", NodeRoleFact::Manager, &[])));
        assert!(Placement::default().matches(&node("d", "d", NodeRoleFact::Manager, &[])));
    }

    #[test]
    fn impossible_placements_are_refused_naming_both_constraints() {
        let with = |cs: &[&str]| Placement {
            constraints: cs.iter().map(|s| c(s)).collect(),
            ..Placement::default()
        };
        assert_eq!(
            with(&["node.role==manager", "node.role==worker"])
                .check()
                .unwrap_err()
                .message,
            "constraints \"node.role==manager\" and \"node.role==worker\" exclude each other \
             (a node has one node.role): no node can run the service; remove one of them"
        );
        assert_eq!(
            with(&[
                "node.labels.zone==east",
                "node.hostname==h",
                "node.labels.zone!=EAST"
            ])
            .check()
            .unwrap_err()
            .message,
            "constraints \"node.labels.zone==east\" and \"node.labels.zone!=EAST\" exclude each \
             other (one says what the other forbids): no node can run the service; remove one \
             of them"
        );
        assert!(with(&["node.role!=manager", "node.role!=worker"])
            .check()
            .is_err());
        // Not contradictions: the same constraint twice, equal values in other cases, two
        // different labels, two `!=` on a label, `==a` with `!=b`.
        for ok in [
            &["node.hostname==h", "node.hostname==H"][..],
            &["node.labels.a==x", "node.labels.b==y"],
            &["node.labels.a!=x", "node.labels.a!=y"],
            &["node.labels.a==x", "node.labels.a!=y"],
            &["node.labels.a==x", "node.labels.A==y"],
        ] {
            assert_eq!(with(ok).check(), Ok(()), "{ok:?}");
        }
        let zero = Placement {
            max_replicas_per_node: Some(0),
            ..Placement::default()
        };
        assert!(zero
            .check()
            .unwrap_err()
            .message
            .contains("max replicas per node 0"));
    }

    #[test]
    fn preferences_parse_only_spread_over_a_label() {
        let p = Preference::parse("spread=node.labels.datacenter").unwrap();
        assert_eq!(p.spread, "datacenter");
        assert_eq!(p.to_string(), "spread=node.labels.datacenter");
        assert_eq!(
            Preference::parse("SPREAD = Node.Labels.dc").unwrap().spread,
            "dc"
        );
        for bad in [
            "spread",
            "spread=node.hostname",
            "spread=node.labels.",
            "binpack=node.labels.dc",
        ] {
            let e = Preference::parse(bad).unwrap_err();
            assert!(
                e.message.contains("spread=node.labels.<label>"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn placement_round_trips_through_json_and_old_records_decode() {
        let p = Placement {
            constraints: vec![c("node.labels.zone == east"), c("node.role!=manager")],
            preferences: vec![Preference::parse("spread=node.labels.rack").unwrap()],
            max_replicas_per_node: Some(2),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"constraints":["node.labels.zone==east","node.role!=manager"],"preferences":["spread=node.labels.rack"],"max_replicas_per_node":2}"#
        );
        assert_eq!(serde_json::from_str::<Placement>(&json).unwrap(), p);
        // A record written before placement existed, and an empty placement.
        assert_eq!(
            serde_json::from_str::<Placement>("{}").unwrap(),
            Placement::default()
        );
        assert_eq!(serde_json::to_string(&Placement::default()).unwrap(), "{}");
        assert!(Placement::default().is_empty());
        // A bad constraint in a record is an error, not a silently different constraint.
        assert!(serde_json::from_str::<Placement>(r#"{"constraints":["node.x==1"]}"#).is_err());

        #[derive(Deserialize, Serialize)]
        struct Old {
            name: String,
            #[serde(default)]
            mode: ServiceMode,
            #[serde(default)]
            placement: Placement,
        }
        let old: Old = serde_json::from_str(r#"{"name":"web"}"#).unwrap();
        assert_eq!(old.name, "web");
        assert_eq!(old.mode, ServiceMode::Replicated);
        assert!(old.placement.is_empty());
    }
}

//! Which networks and sandboxes a listing or a prune takes, as typed criteria (pure).
//!
//! Every criterion holds a list of accepted values: an object passes a criterion when any of
//! its values matches (an empty list accepts everything), and a filter when it passes all of
//! its criteria. Front ends turn their own syntax (Docker's `filters` query) into these.

use ferry_types::{Network, Sandbox, Status};
use std::collections::BTreeMap;

/// A label criterion: the label is set (`key`), or set to a value (`key=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    /// The label's key.
    pub key: String,
    /// The value it must have; any value when `None`.
    pub value: Option<String>,
}

impl LabelFilter {
    /// Reads `KEY` or `KEY=VALUE`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((k, v)) => LabelFilter {
                key: k.into(),
                value: Some(v.into()),
            },
            None => LabelFilter {
                key: s.into(),
                value: None,
            },
        }
    }

    /// True when a label set passes.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.value {
            Some(v) => labels.get(&self.key) == Some(v),
            None => labels.contains_key(&self.key),
        }
    }
}

/// Whether a network is one the daemon makes itself or one a user made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// `bridge`, `host` and `none`.
    Builtin,
    /// Every other network.
    Custom,
}

/// Which networks `network ls` and `network prune` take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFilter {
    /// Parts of the name (`web` takes `webnet`).
    pub names: Vec<String>,
    /// Prefixes of the ID.
    pub ids: Vec<String>,
    /// Labels.
    pub labels: Vec<LabelFilter>,
    /// Driver names, exactly.
    pub drivers: Vec<String>,
    /// Scopes ([`ferry_types::SCOPE_LOCAL`], [`ferry_types::SCOPE_SWARM`]).
    pub scopes: Vec<String>,
    /// Builtin or custom; either when `None`.
    pub kind: Option<NetworkKind>,
    /// Without endpoints (`true`) or with (`false`); either when `None`.
    pub dangling: Option<bool>,
}

/// True when the list is empty or any of its values passes.
fn any<T>(values: &[T], pass: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pass)
}

impl NetworkFilter {
    /// Whether a local network passes; `in_use` tells whether it has endpoints.
    pub fn matches(&self, net: &Network, in_use: bool) -> bool {
        self.matches_scoped(net, in_use, ferry_types::SCOPE_LOCAL)
    }

    /// Whether a network of `scope` passes; `in_use` tells whether it has endpoints.
    pub fn matches_scoped(&self, net: &Network, in_use: bool, scope: &str) -> bool {
        any(&self.names, |n| net.name.contains(n.as_str()))
            && any(&self.ids, |i| net.id.starts_with(i.as_str()))
            && any(&self.labels, |l| l.matches(&net.labels))
            && any(&self.drivers, |d| net.driver == *d)
            && any(&self.scopes, |s| s == scope)
            && self
                .kind
                .is_none_or(|k| (k == NetworkKind::Builtin) == net.builtin)
            && self.dangling.is_none_or(|d| d != in_use)
    }
}

/// Which sandboxes `ps` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxFilter {
    /// Parts of the name.
    pub names: Vec<String>,
    /// Prefixes of the ID.
    pub ids: Vec<String>,
    /// Labels.
    pub labels: Vec<LabelFilter>,
    /// The statuses taken; any when `None`. `Some` of an empty list takes none (a status
    /// ferry's sandboxes never have, such as Docker's `paused`).
    pub statuses: Option<Vec<Status>>,
}

impl SandboxFilter {
    /// Whether a sandbox passes.
    pub fn matches(&self, sb: &Sandbox) -> bool {
        any(&self.names, |n| sb.name.contains(n.as_str()))
            && any(&self.ids, |i| sb.id.starts_with(i.as_str()))
            && any(&self.labels, |l| l.matches(&sb.config.labels))
            && self
                .statuses
                .as_ref()
                .is_none_or(|s| s.contains(&sb.state.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, builtin: bool) -> Network {
        Network {
            id: format!("{name:0>64}").into(),
            name: name.into(),
            driver: "bridge".into(),
            created: Default::default(),
            enable_ipv6: false,
            internal: false,
            attachable: false,
            subnets: vec![],
            user_subnets: false,
            options: Default::default(),
            labels: [("env".to_string(), "prod".to_string())].into(),
            driver_config: serde_json::Value::Null,
            builtin,
            ipam_cursors: Default::default(),
        }
    }

    #[test]
    fn network_criteria_all_apply_and_any_value_passes() {
        let f = NetworkFilter {
            names: vec!["web".into(), "api".into()],
            labels: vec![LabelFilter::parse("env=prod")],
            ..Default::default()
        };
        assert!(f.matches(&net("webnet", false), false));
        assert!(f.matches(&net("apinet", false), false));
        assert!(!f.matches(&net("db", false), false));
        let f = NetworkFilter {
            labels: vec![LabelFilter::parse("env=dev")],
            ..Default::default()
        };
        assert!(!f.matches(&net("webnet", false), false));
        assert!(NetworkFilter::default().matches(&net("x", true), true));
    }

    #[test]
    fn network_kind_scope_and_dangling() {
        let builtin = NetworkFilter {
            kind: Some(NetworkKind::Builtin),
            ..Default::default()
        };
        assert!(builtin.matches(&net("bridge", true), true));
        assert!(!builtin.matches(&net("x", false), true));
        let dangling = NetworkFilter {
            dangling: Some(true),
            ..Default::default()
        };
        assert!(dangling.matches(&net("x", false), false));
        assert!(!dangling.matches(&net("x", false), true));
        let swarm = NetworkFilter {
            scopes: vec!["swarm".into()],
            ..Default::default()
        };
        assert!(!swarm.matches(&net("x", false), false));
        let local = NetworkFilter {
            scopes: vec!["swarm".into(), "local".into()],
            ..Default::default()
        };
        assert!(local.matches(&net("x", false), false));
    }

    #[test]
    fn labels_by_key_or_key_and_value() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(LabelFilter::parse("a").matches(&labels));
        assert!(LabelFilter::parse("a=1").matches(&labels));
        assert!(!LabelFilter::parse("a=2").matches(&labels));
        assert!(!LabelFilter::parse("b").matches(&labels));
        assert_eq!(
            LabelFilter::parse("k=v=w"),
            LabelFilter {
                key: "k".into(),
                value: Some("v=w".into())
            }
        );
    }
}

//! Docker's `filters` query of `network ls`, `network prune` and `ps`
//! (`{"name":{"web":true},"label":{"env=prod":true}}`), turned into the engine's typed
//! filters (pure).

use ferry_engine::filters::{LabelFilter, NetworkFilter, NetworkKind, SandboxFilter};
use ferry_engine::views::SandboxView;
use ferry_types::ports::{PortKey, Proto};
use ferry_types::time::Timestamp;
use ferry_types::{FerryError, Status};
use std::collections::BTreeMap;

/// Parsed filters: key → accepted values (any value of a key may match; all keys must).
pub type Filters = BTreeMap<String, Vec<String>>;

/// Parses Docker's filters JSON; both `{"k":{"v":true}}` and the older `{"k":["v"]}` forms.
pub fn parse(json: &str) -> Result<Filters, FerryError> {
    if json.trim().is_empty() {
        return Ok(Filters::new());
    }
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| FerryError::invalid(format!("invalid filters JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| FerryError::invalid("invalid filters: expected a JSON object"))?;
    let mut out = Filters::new();
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => {
                return Err(FerryError::invalid(format!(
                    "invalid filter value for {k:?}"
                )))
            }
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// Checks that every filter key is one of `known`; `what` names the objects filtered.
fn check_keys(f: &Filters, what: &str, known: &[&str]) -> Result<(), FerryError> {
    for k in f.keys() {
        if !known.contains(&k.as_str()) {
            return Err(FerryError::invalid(format!(
                "invalid filter {k:?}: {what} filters are {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// The values given for a key (none when the key is absent).
fn values(f: &Filters, key: &str) -> Vec<String> {
    f.get(key).cloned().unwrap_or_default()
}

fn labels(f: &Filters) -> Vec<LabelFilter> {
    f.get("label")
        .into_iter()
        .flatten()
        .map(|l| LabelFilter::parse(l))
        .collect()
}

/// The filter of `ps`: keys `name`, `id`, `label` and `status` (created, running or exited;
/// Docker's other statuses match no sandbox).
pub fn sandbox_filter(f: &Filters) -> Result<SandboxFilter, FerryError> {
    check_keys(f, "sandbox", &["name", "id", "label", "status"])?;
    engine_sandbox_filter(f)
}

/// The part of a filter the engine applies.
fn engine_sandbox_filter(f: &Filters) -> Result<SandboxFilter, FerryError> {
    let statuses = f.get("status").filter(|v| !v.is_empty()).map(|v| {
        [Status::Created, Status::Running, Status::Exited]
            .into_iter()
            .filter(|s| v.iter().any(|x| s.as_str().eq_ignore_ascii_case(x)))
            .collect()
    });
    Ok(SandboxFilter {
        // Docker shows names as `/NAME`.
        names: values(f, "name")
            .iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        ids: values(f, "id"),
        labels: labels(f),
        statuses,
    })
}

/// A port filter's value: `PORT[/PROTO]` or `START-END[/PROTO]` (tcp when no protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpan {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
    /// Protocol.
    pub proto: Proto,
}

impl PortSpan {
    /// Parses a `publish=` or `expose=` value.
    pub fn parse(key: &str, v: &str) -> Result<Self, FerryError> {
        let bad = || {
            FerryError::invalid(format!(
                "invalid filter {key}={v:?}: give PORT[/PROTO] or START-END[/PROTO]"
            ))
        };
        let (ports, proto) = match v.rsplit_once('/') {
            Some((p, proto)) => (p, Proto::parse(proto).map_err(|_| bad())?),
            None => (v, Proto::Tcp),
        };
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let start = a.parse().map_err(|_| bad())?;
        let end = b.parse().map_err(|_| bad())?;
        if start > end {
            return Err(bad());
        }
        Ok(PortSpan { start, end, proto })
    }

    /// Whether a sandbox port is in the span.
    pub fn contains(&self, k: &PortKey) -> bool {
        k.proto == self.proto && (self.start..=self.end).contains(&k.port)
    }
}

/// `docker ps`'s filter: what the engine applies, and Docker's `network`, `publish`,
/// `expose`, `ancestor`, `exited`, `before` and `since` keys, applied here to the views.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsFilter {
    /// The engine's part.
    pub engine: SandboxFilter,
    /// Network names or IDs (any may match).
    pub networks: Vec<String>,
    /// Published sandbox ports.
    pub publish: Vec<PortSpan>,
    /// Declared or published sandbox ports.
    pub expose: Vec<PortSpan>,
    /// Images, as IMAGE names them (the tag ignored).
    pub ancestors: Vec<String>,
    /// Exit codes of exited sandboxes.
    pub exited: Vec<i32>,
    /// Sandboxes (names or IDs) the ones shown were created before.
    pub before: Vec<String>,
    /// Sandboxes (names or IDs) the ones shown were created after.
    pub since: Vec<String>,
}

/// What a sandbox is compared with beyond its view: its IMAGE as shown, and the creation
/// times of the `before` and `since` sandboxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsContext {
    /// The sandbox's IMAGE.
    pub image: String,
    /// Shown sandboxes were created before it (the earliest of the `before` sandboxes').
    pub before: Option<Timestamp>,
    /// Shown sandboxes were created after it (the latest of the `since` sandboxes').
    pub since: Option<Timestamp>,
}

/// Parses `docker ps`'s filters.
pub fn ps_filter(f: &Filters) -> Result<PsFilter, FerryError> {
    check_keys(
        f,
        "container",
        &[
            "name", "id", "label", "status", "network", "publish", "expose", "ancestor", "exited",
            "before", "since",
        ],
    )?;
    let exited = values(f, "exited")
        .iter()
        .map(|v| {
            v.parse().map_err(|_| {
                FerryError::invalid(format!("invalid filter exited={v:?}: give an exit code"))
            })
        })
        .collect::<Result<_, _>>()?;
    let spans = |key: &str| -> Result<Vec<PortSpan>, FerryError> {
        values(f, key)
            .iter()
            .map(|v| PortSpan::parse(key, v))
            .collect()
    };
    Ok(PsFilter {
        engine: engine_sandbox_filter(f)?,
        networks: values(f, "network"),
        publish: spans("publish")?,
        expose: spans("expose")?,
        ancestors: values(f, "ancestor"),
        exited,
        before: values(f, "before"),
        since: values(f, "since"),
    })
}

impl PsFilter {
    /// Whether a sandbox (already passed by the engine's part) passes the rest.
    pub fn matches(&self, v: &SandboxView, cx: &PsContext) -> bool {
        let sb = &v.sandbox;
        let on = |n: &String| {
            sb.config.attachments.iter().any(|a| {
                a.network_id == n.as_str() || v.network(&a.network_id).is_some_and(|r| r.name == *n)
            })
        };
        let published = || {
            sb.ports
                .iter()
                .map(|p| p.container)
                .chain(sb.config.ports.iter().map(|p| p.container))
        };
        let exposed = || published().chain(sb.config.exposed.iter().copied());
        let image = super::image::name_of(&cx.image);
        (self.networks.is_empty() || self.networks.iter().any(on))
            && (self.ancestors.is_empty()
                || self
                    .ancestors
                    .iter()
                    .any(|a| super::image::name_of(a) == image))
            && (self.exited.is_empty()
                || (sb.state.status == Status::Exited
                    && self.exited.contains(&sb.state.exit_code.unwrap_or(0))))
            && cx.before.is_none_or(|t| sb.created < t)
            && cx.since.is_none_or(|t| sb.created > t)
            && (self.publish.is_empty()
                || self
                    .publish
                    .iter()
                    .any(|s| published().any(|k| s.contains(&k))))
            && (self.expose.is_empty()
                || self
                    .expose
                    .iter()
                    .any(|s| exposed().any(|k| s.contains(&k))))
    }
}

/// The filter of `network ls` and `network prune`: keys `name`, `id`, `driver`, `label`,
/// `type` (custom or builtin), `scope` and `dangling`.
pub fn network_filter(f: &Filters) -> Result<NetworkFilter, FerryError> {
    check_keys(
        f,
        "network",
        &["name", "id", "driver", "label", "type", "scope", "dangling"],
    )?;
    let mut builtin = false;
    let mut custom = false;
    for t in f.get("type").into_iter().flatten() {
        match t.as_str() {
            "builtin" => builtin = true,
            "custom" => custom = true,
            _ => {
                return Err(FerryError::invalid(format!(
                    "invalid filter type={t:?}: use custom or builtin"
                )))
            }
        }
    }
    let kind = match (builtin, custom) {
        (true, false) => Some(NetworkKind::Builtin),
        (false, true) => Some(NetworkKind::Custom),
        _ => None,
    };
    let dangling: Vec<bool> = f
        .get("dangling")
        .into_iter()
        .flatten()
        .map(|v| v == "true" || v == "1")
        .collect();
    let dangling = match (dangling.contains(&true), dangling.contains(&false)) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    Ok(NetworkFilter {
        names: values(f, "name"),
        ids: values(f, "id"),
        labels: labels(f),
        drivers: values(f, "driver"),
        scopes: values(f, "scope"),
        kind,
        dangling,
    })
}

/// The filter of `GET /services` (`service ls`): keys `id` and `name` (prefixes, as Docker
/// matches them), `label` (`KEY` or `KEY=VALUE`) and `mode` (`replicated` or `global`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    ids: Vec<String>,
    names: Vec<String>,
    labels: Vec<LabelFilter>,
    modes: Vec<String>,
}

/// Parses the filter of `GET /services`.
pub fn service_filter(f: &Filters) -> Result<ServiceFilter, FerryError> {
    check_keys(f, "service", &["id", "name", "label", "mode"])?;
    let modes = values(f, "mode");
    if let Some(m) = modes
        .iter()
        .find(|m| !matches!(m.as_str(), "replicated" | "global"))
    {
        return Err(FerryError::invalid(format!(
            "invalid filter mode={m:?}: use replicated or global"
        )));
    }
    Ok(ServiceFilter {
        ids: values(f, "id"),
        names: values(f, "name"),
        labels: labels(f),
        modes,
    })
}

impl ServiceFilter {
    /// Whether a service passes: any value of a key may match, every key must.
    pub fn matches(&self, s: &ferry_types::service::ServiceView) -> bool {
        let mode = if s.spec.mode.get("Global").is_some() {
            "global"
        } else {
            "replicated"
        };
        (self.ids.is_empty() || self.ids.iter().any(|i| s.id.starts_with(i.as_str())))
            && (self.names.is_empty()
                || self
                    .names
                    .iter()
                    .any(|n| s.spec.name.starts_with(n.as_str())))
            && self.labels.iter().all(|l| l.matches(&s.spec.labels))
            && (self.modes.is_empty() || self.modes.iter().any(|m| m == mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let f = parse(r#"{"name":{"web":true},"label":["env=prod"]}"#).unwrap();
        let n = network_filter(&f).unwrap();
        assert_eq!(n.names, vec!["web".to_string()]);
        assert_eq!(n.labels, vec![LabelFilter::parse("env=prod")]);
        let f = parse(r#"{"type":{"builtin":true}}"#).unwrap();
        assert_eq!(network_filter(&f).unwrap().kind, Some(NetworkKind::Builtin));
        let f = parse(r#"{"type":["builtin","custom"],"dangling":["1"]}"#).unwrap();
        let n = network_filter(&f).unwrap();
        assert_eq!((n.kind, n.dangling), (None, Some(true)));
        assert_eq!(parse(" ").unwrap(), Filters::new());
    }

    #[test]
    fn rejects_unknown_keys_and_bad_json() {
        assert!(network_filter(&parse(r#"{"colour":["red"]}"#).unwrap()).is_err());
        assert!(network_filter(&parse(r#"{"type":["weird"]}"#).unwrap()).is_err());
        assert!(sandbox_filter(&parse(r#"{"driver":["bridge"]}"#).unwrap()).is_err());
        assert!(parse("{not json").is_err());
        assert!(parse("[]").is_err());
        assert!(parse(r#"{"name":"web"}"#).is_err());
    }

    #[test]
    fn ps_port_and_network_keys() {
        let f = parse(r#"{"publish":["8000-8080"],"expose":["53/udp"],"network":["n1"]}"#).unwrap();
        let p = ps_filter(&f).unwrap();
        assert_eq!(p.networks, vec!["n1".to_string()]);
        let k = |port, proto| PortKey { port, proto };
        assert!(p.publish[0].contains(&k(8080, Proto::Tcp)));
        assert!(!p.publish[0].contains(&k(8081, Proto::Tcp)));
        assert!(p.expose[0].contains(&k(53, Proto::Udp)));
        assert!(!p.expose[0].contains(&k(53, Proto::Tcp)));
        let p = ps_filter(&parse(r#"{"exited":["3"],"ancestor":["host"],"since":["a"]}"#).unwrap())
            .unwrap();
        assert_eq!(
            (p.exited, p.ancestors, p.since),
            (vec![3], vec!["host".to_string()], vec!["a".to_string()])
        );
        assert!(ps_filter(&parse(r#"{"exited":["x"]}"#).unwrap()).is_err());
        assert!(ps_filter(&parse(r#"{"publish":["x"]}"#).unwrap()).is_err());
        assert!(ps_filter(&parse(r#"{"publish":["9-8"]}"#).unwrap()).is_err());
        assert!(ps_filter(&parse(r#"{"driver":["x"]}"#).unwrap()).is_err());
    }

    #[test]
    fn sandbox_names_statuses_and_ids() {
        let f = parse(r#"{"name":["/web"],"status":["Running","paused"],"id":["ab"]}"#).unwrap();
        let s = sandbox_filter(&f).unwrap();
        assert_eq!(s.names, vec!["web".to_string()]);
        assert_eq!(s.ids, vec!["ab".to_string()]);
        assert_eq!(s.statuses, Some(vec![Status::Running]));
        let s = sandbox_filter(&parse(r#"{"status":["paused"]}"#).unwrap()).unwrap();
        assert_eq!(s.statuses, Some(vec![]));
        assert_eq!(
            sandbox_filter(&Filters::new()).unwrap(),
            SandboxFilter::default()
        );
    }

    #[test]
    fn services_by_label_name_id_and_mode() {
        let view: ferry_types::service::ServiceView = serde_json::from_value(serde_json::json!({
            "ID": "abc123", "Version": {"Index": 1}, "CreatedAt": "", "UpdatedAt": "",
            "Spec": {"Name": "app_web", "Labels": {"com.docker.stack.namespace": "app"},
                     "TaskTemplate": {}, "Mode": {"Replicated": {"Replicas": 1}},
                     "TaskNetworks": [], "EndpointSpec": {"Mode": "vip", "Ports": []}},
            "Endpoint": {"Ports": [], "VirtualIPs": []},
            "ServiceStatus": {"RunningTasks": 0, "DesiredTasks": 1}
        }))
        .unwrap();
        let pass = |json: &str| {
            service_filter(&parse(json).unwrap())
                .unwrap()
                .matches(&view)
        };
        assert!(pass("{}"));
        assert!(pass(r#"{"label":["com.docker.stack.namespace=app"]}"#));
        assert!(pass(r#"{"label":["com.docker.stack.namespace"]}"#));
        assert!(!pass(r#"{"label":["com.docker.stack.namespace=other"]}"#));
        assert!(pass(r#"{"name":["app_"],"id":["abc"]}"#));
        assert!(!pass(r#"{"name":["web"]}"#));
        assert!(pass(r#"{"mode":["replicated"]}"#));
        assert!(!pass(r#"{"mode":["global"]}"#));
        assert!(service_filter(&parse(r#"{"mode":["x"]}"#).unwrap()).is_err());
        assert!(service_filter(&parse(r#"{"driver":["x"]}"#).unwrap()).is_err());
    }
}

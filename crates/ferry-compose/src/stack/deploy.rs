//! A stack service's `deploy` section: what a swarm honours (`mode`, `replicas`,
//! `placement`, `update_config`, `endpoint_mode`, `labels`) parsed into the service's
//! [`SwarmDeploy`]; what ferry does not do (`resources`, `restart_policy`,
//! `rollback_config`) named in a warning.

use crate::model::{EndpointMode, SwarmDeploy};
use crate::node::{check_keys, join, list, map, scalar, scalar_list, uint, R};
use ferry_types::placement::{Constraint, Placement, Preference, ServiceMode};
use ferry_types::service::{FailureAction, UpdateConfig, UpdateOrder};
use ferry_types::time::parse_duration_ms;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What `deploy` says of a stack's service.
pub(crate) struct Deploy {
    /// `deploy.replicas`, when given.
    pub replicas: Option<u32>,
    /// `deploy.endpoint_mode`.
    pub endpoint_mode: EndpointMode,
    /// The rest.
    pub swarm: SwarmDeploy,
}

const IGNORED: &[(&str, &str)] = &[
    ("resources", "ferry sets no resource limits"),
    (
        "restart_policy",
        "ferry restarts every replica that exits, with a backoff",
    ),
    (
        "rollback_config",
        "a rollback replaces replicas as update_config says",
    ),
];

fn to_u32(p: &str, v: &Value) -> R<u32> {
    u32::try_from(uint(p, v)?).map_err(|_| format!("{p} is too large"))
}

/// Parses `deploy` (`dp` is its path for messages); warnings go to `warn`.
pub(crate) fn parse(dp: &str, d: Option<&Value>, warn: &mut Vec<String>) -> R<Deploy> {
    let empty = Map::new();
    let dm = match d {
        Some(d) => map(dp, d)?.unwrap_or(&empty),
        None => &empty,
    };
    let mut allowed = vec![
        "mode",
        "replicas",
        "endpoint_mode",
        "placement",
        "update_config",
        "labels",
    ];
    allowed.extend(IGNORED.iter().map(|(k, _)| *k));
    check_keys(dp, dm, &allowed)?;
    let get = |k: &str| dm.get(k).filter(|v| !v.is_null());
    for (k, why) in IGNORED {
        if get(k).is_some() {
            warn.push(format!("{dp}.{k} is ignored: {why}"));
        }
    }
    let replicas = match get("replicas") {
        Some(v) => Some(to_u32(&join(dp, "replicas"), v)?),
        None => None,
    };
    let mode = match get("mode") {
        None => ServiceMode::Replicated,
        Some(v) => match scalar(&join(dp, "mode"), v)?.as_str() {
            "replicated" => ServiceMode::Replicated,
            "global" => ServiceMode::Global,
            job @ ("replicated-job" | "global-job") => {
                return Err(format!(
                    "{dp}.mode: {job:?} is not supported: ferry runs services, not jobs; use replicated or global"
                ))
            }
            other => {
                return Err(format!(
                    "{dp}.mode: {other:?} is not a deploy mode: use replicated or global"
                ))
            }
        },
    };
    if mode == ServiceMode::Global && replicas.is_some() {
        // Docker's words.
        return Err(format!(
            "{dp}: replicas can only be used with replicated mode"
        ));
    }
    let endpoint_mode = match get("endpoint_mode") {
        None => EndpointMode::Vip,
        Some(v) => match scalar(&join(dp, "endpoint_mode"), v)?.as_str() {
            "vip" => EndpointMode::Vip,
            "dnsrr" => EndpointMode::Dnsrr,
            other => {
                return Err(format!(
                    "{dp}.endpoint_mode: {other:?} is not an endpoint mode: use vip or dnsrr"
                ))
            }
        },
    };
    let placement = match get("placement") {
        Some(v) => placement(&join(dp, "placement"), v)?,
        None => Placement::default(),
    };
    let update_config = match get("update_config") {
        Some(v) => update_config(&join(dp, "update_config"), v, warn)?,
        None => UpdateConfig::default(),
    };
    let labels = match get("labels") {
        Some(v) => crate::node::list_or_map(&join(dp, "labels"), v)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        None => BTreeMap::new(),
    };
    Ok(Deploy {
        replicas,
        endpoint_mode,
        swarm: SwarmDeploy {
            mode,
            placement,
            update_config,
            labels,
        },
    })
}

/// `deploy.placement`: `constraints` in Docker's syntax, `preferences` as `- spread:
/// node.labels.K`, `max_replicas_per_node`.
fn placement(pp: &str, v: &Value) -> R<Placement> {
    let empty = Map::new();
    let m = map(pp, v)?.unwrap_or(&empty);
    check_keys(
        pp,
        m,
        &["constraints", "preferences", "max_replicas_per_node"],
    )?;
    let mut p = Placement::default();
    if let Some(v) = m.get("constraints").filter(|v| !v.is_null()) {
        let cp = join(pp, "constraints");
        for (i, c) in scalar_list(&cp, v)?.iter().enumerate() {
            p.constraints
                .push(Constraint::parse(c).map_err(|e| format!("{cp}[{i}]: {e}"))?);
        }
    }
    if let Some(v) = m.get("preferences").filter(|v| !v.is_null()) {
        let prp = join(pp, "preferences");
        for (i, x) in list(&prp, v)?.iter().enumerate() {
            let at = format!("{prp}[{i}]");
            let empty = Map::new();
            let xm = map(&at, x)?.unwrap_or(&empty);
            check_keys(&at, xm, &["spread"])?;
            let spread = match xm.get("spread") {
                Some(s) => scalar(&join(&at, "spread"), s)?,
                None => return Err(format!("{at}: give spread: node.labels.<label>")),
            };
            p.preferences.push(
                Preference::parse(&format!("spread={spread}")).map_err(|e| format!("{at}: {e}"))?,
            );
        }
    }
    if let Some(v) = m.get("max_replicas_per_node").filter(|v| !v.is_null()) {
        // Docker's 0 is no limit.
        let n = to_u32(&join(pp, "max_replicas_per_node"), v)?;
        p.max_replicas_per_node = (n > 0).then_some(n);
    }
    p.check().map_err(|e| format!("{pp}: {e}"))?;
    Ok(p)
}

/// `deploy.update_config`, over Docker's defaults.
fn update_config(up: &str, v: &Value, warn: &mut Vec<String>) -> R<UpdateConfig> {
    let empty = Map::new();
    let m = map(up, v)?.unwrap_or(&empty);
    check_keys(
        up,
        m,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
    )?;
    let get = |k: &str| m.get(k).filter(|v| !v.is_null());
    let duration = |k: &str, v: &Value| -> R<u64> {
        let at = join(up, k);
        parse_duration_ms(&scalar(&at, v)?).map_err(|e| format!("{at}: {e}"))
    };
    let mut u = UpdateConfig::default();
    if let Some(v) = get("parallelism") {
        u.parallelism = to_u32(&join(up, "parallelism"), v)?;
    }
    if let Some(v) = get("delay") {
        u.delay_ms = duration("delay", v)?;
    }
    if let Some(v) = get("monitor") {
        u.monitor_ms = duration("monitor", v)?;
    }
    if let Some(v) = get("failure_action") {
        let at = join(up, "failure_action");
        u.failure_action =
            FailureAction::parse(&scalar(&at, v)?).map_err(|e| format!("{at}: {e}"))?;
    }
    if let Some(v) = get("order") {
        let at = join(up, "order");
        u.order = UpdateOrder::parse(&scalar(&at, v)?).map_err(|e| format!("{at}: {e}"))?;
    }
    if get("max_failure_ratio").is_some() {
        warn.push(format!(
            "{up}.max_failure_ratio is ignored: the failure action follows the first failed batch"
        ));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(v: Value) -> R<(Deploy, Vec<String>)> {
        let mut w = Vec::new();
        let d = parse("services.web.deploy", Some(&v), &mut w)?;
        Ok((d, w))
    }

    #[test]
    fn every_swarm_key_is_read() {
        let (d, w) = deploy(json!({
            "mode": "replicated",
            "replicas": 3,
            "endpoint_mode": "dnsrr",
            "labels": {"tier": "front"},
            "placement": {
                "constraints": ["node.role == manager", "node.labels.zone!=west"],
                "preferences": [{"spread": "node.labels.zone"}],
                "max_replicas_per_node": 2
            },
            "update_config": {"parallelism": 2, "delay": "10s", "order": "start-first",
                              "failure_action": "rollback", "monitor": "1m"},
            "resources": {"limits": {"cpus": "0.5"}}
        }))
        .unwrap();
        assert_eq!(d.replicas, Some(3));
        assert_eq!(d.endpoint_mode, EndpointMode::Dnsrr);
        let s = d.swarm;
        assert_eq!(s.mode, ServiceMode::Replicated);
        assert_eq!(s.labels, BTreeMap::from([("tier".into(), "front".into())]));
        assert_eq!(
            s.placement
                .constraints
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>(),
            ["node.role==manager", "node.labels.zone!=west"]
        );
        assert_eq!(s.placement.preferences[0].spread, "zone");
        assert_eq!(s.placement.max_replicas_per_node, Some(2));
        assert_eq!(
            s.update_config,
            UpdateConfig {
                parallelism: 2,
                delay_ms: 10_000,
                order: UpdateOrder::StartFirst,
                failure_action: FailureAction::Rollback,
                monitor_ms: 60_000,
            }
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("deploy.resources is ignored"), "{w:?}");
    }

    #[test]
    fn defaults_and_refusals() {
        let (d, w) = deploy(json!({})).unwrap();
        assert_eq!(d.replicas, None);
        assert_eq!(d.swarm, SwarmDeploy::default());
        assert!(w.is_empty());
        let (d, _) = deploy(json!({"mode": "global"})).unwrap();
        assert_eq!(d.swarm.mode, ServiceMode::Global);
        for (v, why) in [
            (
                json!({"mode": "global", "replicas": 2}),
                "replicas can only be used with replicated mode",
            ),
            (json!({"mode": "global-job"}), "not jobs"),
            (json!({"mode": "sometimes"}), "not a deploy mode"),
            (
                json!({"placement": {"constraints": ["node.role=manager"]}}),
                "placement.constraints[0]",
            ),
            (
                json!({"placement": {"constraints": ["node.role==manager", "node.role==worker"]}}),
                "placement",
            ),
            (
                json!({"placement": {"preferences": [{"spread": "node.id"}]}}),
                "preferences[0]",
            ),
            (
                json!({"update_config": {"delay": "soon"}}),
                "update_config.delay",
            ),
            (
                json!({"update_config": {"order": "random"}}),
                "update_config.order",
            ),
            (json!({"placment": {}}), "did you mean \"placement\""),
        ] {
            let e = deploy(v.clone())
                .err()
                .unwrap_or_else(|| panic!("{v} passed"));
            assert!(e.contains(why), "{v}: {e}");
        }
    }
}

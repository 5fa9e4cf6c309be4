//! Docker's `filters` query of `network ls`, `network prune` and `ps`
//! (`{"name":{"web":true},"label":{"env=prod":true}}`), turned into the engine's typed
//! filters (pure).

use ferry_engine::filters::{LabelFilter, NetworkFilter, NetworkKind, SandboxFilter};
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
}

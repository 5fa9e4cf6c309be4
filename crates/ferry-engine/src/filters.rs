//! `--filter` of `network ls`, `network prune` and `ps`, in Docker's JSON form
//! (`{"name":{"web":true},"label":{"env=prod":true}}`), applied to networks and sandboxes
//! (pure).

use ferry_types::{FerryError, Network, Sandbox};
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

/// Checks that every filter key is one `ps` knows.
pub fn check_sandbox_keys(f: &Filters) -> Result<(), FerryError> {
    const KNOWN: &[&str] = &["name", "id", "label", "status"];
    for k in f.keys() {
        if !KNOWN.contains(&k.as_str()) {
            return Err(FerryError::invalid(format!(
                "invalid filter {k:?}: sandbox filters are {}",
                KNOWN.join(", ")
            )));
        }
    }
    Ok(())
}

/// True when a label filter value (`KEY` or `KEY=VALUE`) matches a label set.
fn label_matches(labels: &BTreeMap<String, String>, v: &str) -> bool {
    match v.split_once('=') {
        Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
        None => labels.contains_key(v),
    }
}

/// Whether a sandbox passes `ps` filters (`status` is created, running or exited).
pub fn sandbox_matches(f: &Filters, sb: &Sandbox) -> bool {
    f.iter().all(|(k, vals)| {
        vals.iter().any(|v| match k.as_str() {
            "name" => sb.name.contains(v.trim_start_matches('/')),
            "id" => sb.id.starts_with(v.as_str()),
            "label" => label_matches(&sb.config.labels, v),
            "status" => format!("{:?}", sb.state.status).eq_ignore_ascii_case(v),
            _ => false,
        })
    })
}

/// Checks that every filter key is one `network ls` knows.
pub fn check_network_keys(f: &Filters) -> Result<(), FerryError> {
    const KNOWN: &[&str] = &["name", "id", "driver", "label", "type", "scope", "dangling"];
    for k in f.keys() {
        if !KNOWN.contains(&k.as_str()) {
            return Err(FerryError::invalid(format!(
                "invalid filter {k:?}: network filters are {}",
                KNOWN.join(", ")
            )));
        }
    }
    if let Some(types) = f.get("type") {
        for t in types {
            if t != "custom" && t != "builtin" {
                return Err(FerryError::invalid(format!(
                    "invalid filter type={t:?}: use custom or builtin"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a network passes the filters; `in_use` tells whether it has endpoints.
pub fn network_matches(f: &Filters, net: &Network, in_use: bool) -> bool {
    f.iter().all(|(k, vals)| {
        vals.iter().any(|v| match k.as_str() {
            "name" => net.name.contains(v.as_str()),
            "id" => net.id.starts_with(v.as_str()),
            "driver" => net.driver.as_str() == v,
            "scope" => v == ferry_types::SCOPE_LOCAL,
            "type" => (v == "builtin") == net.builtin,
            "dangling" => (v == "true" || v == "1") != in_use,
            "label" => label_matches(&net.labels, v),
            _ => false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, builtin: bool) -> Network {
        Network {
            id: format!("{name:0>64}"),
            name: name.into(),
            driver: "bridge".into(),
            created: String::new(),
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
    fn parses_both_forms_and_matches() {
        let f = parse(r#"{"name":{"web":true},"label":["env=prod"]}"#).unwrap();
        check_network_keys(&f).unwrap();
        assert!(network_matches(&f, &net("webnet", false), false));
        assert!(!network_matches(&f, &net("db", false), false));
        let f = parse(r#"{"type":{"builtin":true}}"#).unwrap();
        assert!(network_matches(&f, &net("bridge", true), true));
        assert!(!network_matches(&f, &net("x", false), true));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_json() {
        assert!(check_network_keys(&parse(r#"{"colour":["red"]}"#).unwrap()).is_err());
        assert!(check_network_keys(&parse(r#"{"type":["weird"]}"#).unwrap()).is_err());
        assert!(parse("{not json").is_err());
    }
}

//! The service keys of a compose file that a stack does not honour, as `docker stack
//! deploy` sorts them: ignored with one warning for the file ("Ignoring unsupported options:
//! build, restart"), ignored as deprecated, or refused before anything is deployed.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Keys a swarm service has no use for: dropped, and named in one warning.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "build",
    "cgroupns_mode",
    "cgroup_parent",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "restart",
    "security_opt",
    "shm_size",
    "userns_mode",
];

/// Keys of the v2 format whose absence changes nothing: dropped, each with Docker's reason.
pub(crate) const DEPRECATED: &[(&str, &str)] = &[
    ("container_name", "Setting the container name is not supported."),
    (
        "expose",
        "Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
    ),
];

/// Keys whose meaning a stack would silently lose: the file is refused.
pub(crate) const FORBIDDEN: &[(&str, &str)] = &[
    ("extends", "Support for `extends` is not implemented yet."),
    (
        "volume_driver",
        "Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.",
    ),
    (
        "volumes_from",
        "To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.",
    ),
    ("cpu_quota", "Set resource limits using deploy.resources"),
    ("cpu_shares", "Set resource limits using deploy.resources"),
    ("cpuset", "Set resource limits using deploy.resources"),
    ("mem_limit", "Set resource limits using deploy.resources"),
    ("memswap_limit", "Set resource limits using deploy.resources"),
];

/// Drops the unsupported and deprecated keys of every service of the (interpolated) file and
/// returns Docker's warnings about them; refuses a file with a forbidden key, with Docker's
/// message. What is not a mapping is left for the parser to refuse.
pub(crate) fn strip(root: &mut Value) -> Result<Vec<String>, String> {
    let Some(services) = root.get_mut("services").and_then(Value::as_object_mut) else {
        return Ok(Vec::new());
    };
    let mut forbidden: BTreeSet<String> = BTreeSet::new();
    let mut unsupported: BTreeSet<&str> = BTreeSet::new();
    let mut deprecated: BTreeSet<String> = BTreeSet::new();
    for svc in services.values_mut() {
        let Some(m) = svc.as_object_mut() else {
            continue;
        };
        for (k, why) in FORBIDDEN {
            if m.contains_key(*k) {
                forbidden.insert(format!("{k}: {why}"));
            }
        }
        for k in UNSUPPORTED {
            if take(m, k) {
                unsupported.insert(k);
            }
        }
        for (k, why) in DEPRECATED {
            if take(m, k) {
                deprecated.insert(format!("{k}: {why}"));
            }
        }
    }
    if !forbidden.is_empty() {
        return Err(format!(
            "Compose file contains unsupported options:\n\n{}\n",
            forbidden.into_iter().collect::<Vec<_>>().join("\n\n")
        ));
    }
    let mut warnings = Vec::new();
    if !unsupported.is_empty() {
        warnings.push(format!(
            "Ignoring unsupported options: {}",
            unsupported.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !deprecated.is_empty() {
        warnings.push(format!(
            "Ignoring deprecated options:\n\n{}",
            deprecated.into_iter().collect::<Vec<_>>().join("\n\n")
        ));
    }
    Ok(warnings)
}

/// Removes a key; whether it was there with a value.
fn take(m: &mut Map<String, Value>, k: &str) -> bool {
    m.remove(k).is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_and_deprecated_keys_go_with_one_warning_each() {
        let mut root = json!({"services": {
            "web": {"command": "x", "build": ".", "restart": "always", "container_name": "w"},
            "db": {"command": "y", "build": {"context": "."}, "links": ["web"], "expose": [80]}
        }});
        let w = strip(&mut root).unwrap();
        assert_eq!(
            w,
            [
                "Ignoring unsupported options: build, links, restart".to_string(),
                "Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.\n\nexpose: Exposing ports is unnecessary - services on the same network can access each other's containers on any port.".to_string(),
            ]
        );
        assert_eq!(root["services"]["web"], json!({"command": "x"}));
        assert_eq!(root["services"]["db"], json!({"command": "y"}));
    }

    #[test]
    fn forbidden_keys_refuse_the_file() {
        let mut root = json!({"services": {"web": {"command": "x", "mem_limit": "1g"}}});
        let e = strip(&mut root).unwrap_err();
        assert_eq!(
            e,
            "Compose file contains unsupported options:\n\nmem_limit: Set resource limits using deploy.resources\n"
        );
        let mut clean = json!({"services": {"web": {"command": "x"}}});
        assert!(strip(&mut clean).unwrap().is_empty());
    }
}

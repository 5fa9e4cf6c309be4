//! Several compose files read as one (`-c a.yaml -c b.yaml`): each file's mappings merged
//! into the earlier ones', key by key and at every depth; any other value (a string, a
//! number, a list) of a later file replaces the earlier one. So an override file changes a
//! service's `deploy.replicas` without repeating the rest, and a `command` or `ports` list it
//! gives replaces the first file's.

use serde_json::Value;

/// `over` merged into `base`.
pub(crate) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if !v.is_null() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_merge_at_every_depth_and_the_rest_is_replaced() {
        let mut base = json!({
            "services": {
                "web": {"command": ["a", "b"], "deploy": {"replicas": 1, "mode": "replicated"}},
                "db": {"command": "x"}
            },
            "networks": {"front": {}}
        });
        merge(
            &mut base,
            json!({
                "services": {"web": {"command": ["c"], "deploy": {"replicas": 3}}},
                "networks": {"back": null}
            }),
        );
        assert_eq!(
            base,
            json!({
                "services": {
                    "web": {"command": ["c"], "deploy": {"replicas": 3, "mode": "replicated"}},
                    "db": {"command": "x"}
                },
                "networks": {"front": {}, "back": null}
            })
        );
    }
}

//! The filters of the list and prune operations, in Docker's JSON (`{"label":{"a=b":true}}`).

use std::collections::BTreeMap;

/// Filters of a list or prune operation: for each key (`name`, `label`, `driver`, ...) the
/// values asked for. An object is selected when, for every key, it matches one of the values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    by_key: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Filters {
    /// No filters: everything is selected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` to the values asked for under `key`.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.by_key
            .entry(key.into())
            .or_default()
            .insert(value.into(), true);
        self
    }

    /// These filters and `key` = `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.add(key, value);
        self
    }

    /// Whether there are no filters.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Docker's JSON form, as the `filters` query parameter carries it.
    pub fn to_json(&self) -> String {
        // A map of strings to maps of strings to booleans always serialises.
        serde_json::to_string(&self.by_key).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json_with_keys_and_values_in_order() {
        let f = Filters::new()
            .with("name", "web")
            .with("label", "env=prod")
            .with("label", "app");
        assert_eq!(
            f.to_json(),
            r#"{"label":{"app":true,"env=prod":true},"name":{"web":true}}"#
        );
        assert!(!f.is_empty());
        assert!(Filters::new().is_empty());
        assert_eq!(Filters::new().to_json(), "{}");
    }
}

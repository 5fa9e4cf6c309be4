//! A sandbox with the networks it names.

use super::NetworkRef;
use ferry_types::Sandbox;
use std::path::PathBuf;

/// A sandbox, where its files are, and the networks it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxView {
    /// The sandbox.
    pub sandbox: Sandbox,
    /// Its directory: `hosts`, `resolv.conf`, `hostname` and the output log.
    pub dir: PathBuf,
    /// The networks of its attachments that exist, and in `host` or `none` mode that
    /// builtin network.
    pub networks: Vec<NetworkRef>,
}

impl SandboxView {
    /// One of its networks by ID or name.
    pub fn network(&self, reference: &str) -> Option<&NetworkRef> {
        self.networks
            .iter()
            .find(|n| n.id == reference)
            .or_else(|| self.networks.iter().find(|n| n.name == reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_found_by_id_then_name() {
        let sandbox: Sandbox = serde_json::from_value(serde_json::json!({
            "id": "a".repeat(64),
            "name": "web",
            "created": "",
            "config": {"cmd": ["sleep"], "workdir": null, "hostname": "", "network_mode": {"mode": "host"}},
            "state": {"status": "created", "pid": null, "start_ticks": null, "started_at": null,
                      "finished_at": null, "exit_code": null},
            "netns": null
        }))
        .unwrap();
        let net = |id: &str, name: &str| NetworkRef {
            id: id.into(),
            name: name.into(),
            builtin: true,
        };
        let v = SandboxView {
            sandbox,
            dir: PathBuf::new(),
            // A network named like another's ID loses to that network.
            networks: vec![net("n1", "host"), net("n2", "n1")],
        };
        assert_eq!(v.network("host").map(|n| n.id.as_str()), Some("n1"));
        assert_eq!(v.network("n1").map(|n| n.name.as_str()), Some("host"));
        assert_eq!(v.network("n2").map(|n| n.name.as_str()), Some("n1"));
        assert!(v.network("none").is_none());
    }
}

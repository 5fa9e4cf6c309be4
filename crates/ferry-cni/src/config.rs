//! The network configuration on stdin: the plugin's object from the list, with what the
//! runtime adds (`cniVersion`, `name`, `runtimeConfig`, `prevResult`, GC's attachments).
//! Keys ferry does not read (`capabilities`, `ipam`, `dns`, a chain's own) are ignored.

use crate::error::{CniError, DECODE_FAILURE};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where the ferry daemon listens unless the configuration says `"socket"`.
pub const DEFAULT_SOCKET: &str = "/run/ferry/ferry.sock";

/// The plugin's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetConf {
    /// The version the runtime speaks; the result echoes it.
    pub cni_version: String,
    /// The CNI network's name.
    pub name: String,
    /// The plugin type (`ferry`).
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// The ferry daemon's API socket.
    pub socket: Option<String>,
    /// The ferry network (the CNI network's `name` when absent).
    pub network: Option<String>,
    /// Whether ferry binds the published host ports itself. Off by default: podman binds
    /// them while the container lives, as it does for CNI's `portmap`, and a second holder
    /// would make its start fail.
    pub hold_ports: bool,
    /// Capabilities the runtime filled in.
    pub runtime_config: RuntimeConfig,
    /// The list's ADD result (DEL and CHECK).
    pub prev_result: Option<serde_json::Value>,
    /// GC: the attachments the runtime still knows.
    #[serde(rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<GcAttachment>>,
    /// GC, the key of spec 1.1.0's text that libcni also sends.
    #[serde(rename = "cni.dev/attachments")]
    pub attachments: Option<Vec<GcAttachment>>,
}

/// `runtimeConfig`: the capabilities ferry declares, as the runtime fills them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// `portMappings`: ports ferry publishes.
    pub port_mappings: Vec<PortMapping>,
    /// `ips`: static addresses (`10.2.2.42/24` or without a prefix length).
    pub ips: Vec<String>,
    /// `mac`: a static MAC address.
    pub mac: Option<String>,
    /// `aliases`: DNS names on the network.
    pub aliases: Aliases,
}

/// One `portMappings` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PortMapping {
    /// The host's port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// `tcp` (when empty), `udp` or `sctp`.
    pub protocol: String,
    /// The host address (every address when empty).
    #[serde(rename = "hostIP")]
    pub host_ip: String,
}

/// `aliases`: a list (the convention) or, as podman sends it, lists by network name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Aliases {
    /// `["web"]`.
    List(Vec<String>),
    /// `{"NET": ["web"]}`.
    ByNetwork(BTreeMap<String, Vec<String>>),
}

impl Default for Aliases {
    fn default() -> Self {
        Aliases::List(Vec::new())
    }
}

impl Aliases {
    /// The aliases for the CNI network `name`.
    pub fn for_network(&self, name: &str) -> Vec<String> {
        match self {
            Aliases::List(l) => l.clone(),
            Aliases::ByNetwork(m) => m.get(name).cloned().unwrap_or_default(),
        }
    }
}

/// One GC attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GcAttachment {
    /// The runtime's container ID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The interface.
    pub ifname: String,
}

impl NetConf {
    /// Decodes stdin.
    pub fn parse(stdin: &[u8]) -> Result<Self, CniError> {
        serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                DECODE_FAILURE,
                "cannot decode the network configuration",
                e.to_string(),
            )
        })
    }

    /// Checks what every command but VERSION needs: a name.
    pub fn require_name(&self) -> Result<(), CniError> {
        if self.name.is_empty() {
            return Err(CniError::config("the configuration has no \"name\""));
        }
        Ok(())
    }

    /// The ferry network this CNI network is.
    pub fn ferry_network(&self) -> &str {
        self.network
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.name)
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &str {
        self.socket
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SOCKET)
    }

    /// GC's valid attachments, from either key. A GC without either key is refused: read
    /// as an empty list, it would take every container of the network away.
    pub fn gc_attachments(&self) -> Result<Vec<GcAttachment>, CniError> {
        if self.valid_attachments.is_none() && self.attachments.is_none() {
            return Err(CniError::config(
                "GC needs \"cni.dev/valid-attachments\" (or \"cni.dev/attachments\"), even empty",
            ));
        }
        Ok(self
            .valid_attachments
            .iter()
            .chain(self.attachments.iter())
            .flatten()
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_podmans_second_plugin_call() {
        let c = NetConf::parse(br#"{"capabilities":{"aliases":true,"portMappings":true},"cniVersion":"1.0.0","name":"spynet","type":"ferry","prevResult":{"cniVersion":"1.0.0"},
            "runtimeConfig":{"aliases":{"spynet":["web","5fa44c5bcd35"]},"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"}]}}"#).unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        assert_eq!(c.ferry_network(), "spynet");
        assert_eq!(c.socket(), DEFAULT_SOCKET);
        assert_eq!(
            c.runtime_config.aliases.for_network("spynet"),
            vec!["web", "5fa44c5bcd35"]
        );
        assert!(c.runtime_config.aliases.for_network("other").is_empty());
        assert_eq!(c.runtime_config.port_mappings[1].protocol, "udp");
        assert_eq!(c.runtime_config.port_mappings[1].host_port, 5353);
        assert!(c.prev_result.is_some());
    }

    #[test]
    fn reads_the_conventional_shapes() {
        let c = NetConf::parse(br#"{"cniVersion":"0.4.0","name":"n","type":"ferry","network":"ferrynet","socket":"/s.sock","holdPorts":true,"ipam":{},"dns":{},
            "runtimeConfig":{"aliases":["a"],"ips":["10.2.2.42/24"],"mac":"c2:11:22:33:44:55","portMappings":[{"hostPort":1,"containerPort":2,"hostIP":"127.0.0.1"}]}}"#).unwrap();
        assert_eq!(c.ferry_network(), "ferrynet");
        assert_eq!(c.socket(), "/s.sock");
        assert!(c.hold_ports);
        assert_eq!(c.runtime_config.aliases.for_network("n"), vec!["a"]);
        assert_eq!(c.runtime_config.ips, vec!["10.2.2.42/24"]);
        assert_eq!(c.runtime_config.port_mappings[0].host_ip, "127.0.0.1");
    }

    #[test]
    fn gc_reads_both_keys() {
        let c = NetConf::parse(br#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],"cni.dev/attachments":[{"containerID":"b","ifname":"eth1"}]}"#).unwrap();
        let ids: Vec<_> = c
            .gc_attachments()
            .unwrap()
            .into_iter()
            .map(|a| a.container_id)
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
        let empty = NetConf::parse(br#"{"name":"n","cni.dev/valid-attachments":[]}"#).unwrap();
        assert!(empty.gc_attachments().unwrap().is_empty());
        let none = NetConf::parse(br#"{"name":"n"}"#).unwrap();
        assert_eq!(none.gc_attachments().unwrap_err().code, 7);
    }

    #[test]
    fn garbage_is_a_decode_error_and_no_name_invalid() {
        assert_eq!(NetConf::parse(b"{").unwrap_err().code, 6);
        assert_eq!(NetConf::parse(b"\"x\"").unwrap_err().code, 6);
        let c = NetConf::parse(br#"{"cniVersion":"1.0.0"}"#).unwrap();
        assert_eq!(c.require_name().unwrap_err().code, 7);
    }
}

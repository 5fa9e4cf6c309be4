//! The objects ferry keeps in its store: networks, sandboxes and their endpoints (the CNM's
//! Network, Sandbox and Endpoint).

use crate::ids::{EndpointId, NetworkId, SandboxId};
use crate::mac::MacAddr;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Scope of an object: `local` objects live on this host only.
pub const SCOPE_LOCAL: &str = "local";
/// Scope of an object every node of a swarm sees (Docker's word for it).
pub const SCOPE_SWARM: &str = "swarm";

/// PATH of a sandbox's processes when its environment sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Names of the networks every daemon has.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// The network whose sandboxes share the host's network namespace.
pub const HOST_NETWORK: &str = "host";
/// The network whose sandboxes have only a loopback interface.
pub const NONE_NETWORK: &str = "none";

/// One subnet of a network, with everything IPAM needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetConfig {
    /// The subnet, e.g. 172.18.0.0/16.
    pub subnet: IpNet,
    /// Dynamic allocation stays inside this range when set.
    pub ip_range: Option<IpNet>,
    /// The gateway address (the bridge's address).
    pub gateway: Option<IpAddr>,
    /// Addresses reserved for other uses, by name.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// A network (CNM Network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: NetworkId,
    /// Unique name.
    pub name: String,
    /// The name of the driver that implements it (`bridge`, `macvlan`, `host`, `null`, ...).
    pub driver: String,
    /// When it was made.
    pub created: crate::time::Timestamp,
    /// IPv6 addresses are given to endpoints.
    pub enable_ipv6: bool,
    /// No traffic leaves the network.
    pub internal: bool,
    /// Sandboxes may be attached by hand (kept for Docker compatibility; always allowed locally).
    pub attachable: bool,
    /// The subnets, resolved (gateways filled in).
    pub subnets: Vec<SubnetConfig>,
    /// Whether the subnets were given by the user (static `--ip` needs that, as in Docker).
    pub user_subnets: bool,
    /// Driver options as given (`-o key=value`).
    pub options: BTreeMap<String, String>,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// The driver's own settings, resolved from the options when the network was made (for a
    /// bridge: its device name, MTU, ICC, masquerading). Only the driver reads them. Records
    /// written before drivers had their own settings kept the bridge's under `bridge`.
    #[serde(default, alias = "bridge")]
    pub driver_config: serde_json::Value,
    /// One of the networks the daemon creates itself (`bridge`, `host`, `none`).
    pub builtin: bool,
    /// Serial-allocation cursors per subnet (subnet text → offset), so that addresses are not
    /// reused at once even across restarts.
    #[serde(default)]
    pub ipam_cursors: BTreeMap<String, u128>,
}

impl Network {
    /// The IPv4 subnets.
    pub fn subnets_v4(&self) -> impl Iterator<Item = &SubnetConfig> {
        self.subnets
            .iter()
            .filter(|s| matches!(s.subnet, IpNet::V4(_)))
    }
    /// The IPv6 subnets.
    pub fn subnets_v6(&self) -> impl Iterator<Item = &SubnetConfig> {
        self.subnets
            .iter()
            .filter(|s| matches!(s.subnet, IpNet::V6(_)))
    }
    /// The first IPv4 gateway, if any.
    pub fn gateway_v4(&self) -> Option<IpAddr> {
        self.subnets_v4().find_map(|s| s.gateway)
    }
    /// The first IPv6 gateway, if any.
    pub fn gateway_v6(&self) -> Option<IpAddr> {
        self.subnets_v6().find_map(|s| s.gateway)
    }
}

/// How a sandbox gets its network stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "target")]
pub enum NetworkMode {
    /// Its own namespace, attached to the networks listed in the sandbox's attachments.
    Networks,
    /// The host's network namespace.
    Host,
    /// Its own namespace with loopback only.
    None,
    /// The network namespace of another sandbox (its ID).
    Container(SandboxId),
}

/// A sandbox's wish to be on a network; it outlives stops and starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's ID.
    pub network_id: NetworkId,
    /// Extra DNS names on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A static IPv4 address.
    pub ipv4: Option<IpAddr>,
    /// A static IPv6 address.
    pub ipv6: Option<IpAddr>,
    /// A static MAC address.
    pub mac: Option<MacAddr>,
    /// The interface's name inside the sandbox (`ethN`, the first free one, when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
}

/// A sandbox's live attachment to a network (CNM Endpoint): exists while the sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 hex digits.
    pub id: EndpointId,
    /// The network's ID.
    pub network_id: NetworkId,
    /// Interface name inside the sandbox (eth0, eth1, ...).
    pub ifname: String,
    /// The driver's own state of this endpoint (for a bridge: the host end of its veth).
    /// Only the driver reads it. Older records kept the bridge's as `host_ifname`.
    #[serde(
        default,
        alias = "host_ifname",
        skip_serializing_if = "serde_json::Value::is_null"
    )]
    pub driver_state: serde_json::Value,
    /// MAC address of the sandbox's interface.
    pub mac: MacAddr,
    /// IPv4 address with the subnet's prefix length.
    pub ipv4: Option<IpNet>,
    /// IPv6 address with the subnet's prefix length.
    pub ipv6: Option<IpNet>,
    /// Gateways, when this endpoint carries the default route or could.
    pub gateway4: Option<IpAddr>,
    /// IPv6 gateway.
    pub gateway6: Option<IpAddr>,
    /// DNS aliases on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Lifecycle of a sandbox's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made but never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
}

impl Status {
    /// Docker's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// An `--add-host` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHost {
    /// The host name.
    pub name: String,
    /// The address, or `None` for `host-gateway` (the gateway of the sandbox's first network).
    pub addr: Option<IpAddr>,
}

/// What a sandbox runs and how it is named (set at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Program and arguments.
    pub cmd: Vec<String>,
    /// Environment, `KEY=VALUE`.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Host name inside the sandbox.
    pub hostname: String,
    /// Domain name inside the sandbox.
    #[serde(default)]
    pub domainname: String,
    /// Root filesystem directory to chroot into, if any.
    #[serde(default)]
    pub rootfs: Option<String>,
    /// How it gets its network stack.
    pub network_mode: NetworkMode,
    /// Networks it is attached to, in connection order (eth0 first).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// `--add-host` entries.
    #[serde(default)]
    pub extra_hosts: Vec<ExtraHost>,
    /// `--dns` servers.
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// `--dns-search` domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option` options.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// Remove the sandbox when its process exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Its process gets a terminal of the sandbox's own devpts (`-t`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Its input stays open for attached clients (`-i`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// Its terminal's size (rows, columns) at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<(u16, u16)>,
    /// Ports to publish (`-p`).
    #[serde(default)]
    pub ports: Vec<crate::ports::PortRequest>,
    /// Ports the sandbox declares it listens on (`--expose`).
    #[serde(default)]
    pub exposed: Vec<crate::ports::PortKey>,
    /// Publish every exposed port on an ephemeral host port (`-P`).
    #[serde(default)]
    pub publish_all: bool,
    /// The runtime that attached this sandbox binds its published host ports itself (podman
    /// does): ferry forwards them without holding sockets of its own, which would take the
    /// ports from that runtime.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub caller_holds_ports: bool,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--link` entries on the default bridge.
    #[serde(default)]
    pub links: Vec<Link>,
    /// The service this sandbox is a replica of, if any.
    #[serde(default)]
    pub replica_of: Option<crate::service::ReplicaOf>,
    /// How it is confined. Records written before confinement existed read as the default.
    #[serde(default)]
    pub security: crate::security::Security,
}

/// A legacy `--link NAME[:ALIAS]`: the linked sandbox's ID, and the names it gets in
/// /etc/hosts (its name, the alias, its host name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked sandbox's ID.
    pub target: SandboxId,
    /// Its name when the link was made.
    pub name: String,
    /// The alias given (the target's name when none was).
    pub alias: String,
}

/// The state of a sandbox's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxState {
    /// Where it is in its lifecycle.
    pub status: Status,
    /// PID of its process while running.
    pub pid: Option<u32>,
    /// The process's start time in clock ticks since boot (/proc/PID/stat field 22), so a
    /// recycled PID is never mistaken for it.
    pub start_ticks: Option<u64>,
    /// When the last run started.
    pub started_at: Option<crate::time::Timestamp>,
    /// When the last run ended.
    pub finished_at: Option<crate::time::Timestamp>,
    /// Exit code of the last run.
    pub exit_code: Option<i32>,
    /// Why the last start or run failed, if it did.
    #[serde(default)]
    pub error: String,
}

/// A sandbox: a process with its own network stack (CNM Sandbox plus the process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// 64 hex digits.
    pub id: SandboxId,
    /// Unique name.
    pub name: String,
    /// When it was made.
    pub created: crate::time::Timestamp,
    /// What it runs.
    pub config: SandboxConfig,
    /// Its process.
    pub state: SandboxState,
    /// Path of its network namespace while it runs (`/proc/PID/ns/net`; host mode: none).
    pub netns: Option<String>,
    /// (device, inode) of that namespace, to find the sandbox's processes after a restart.
    #[serde(default)]
    pub netns_identity: Option<(u64, u64)>,
    /// Live endpoints, in interface order.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Ports published while it runs.
    #[serde(default)]
    pub ports: Vec<crate::ports::PublishedPort>,
    /// Served by the embedded resolver (127.0.0.11 in its resolv.conf) in this run: set when
    /// it starts on a user-defined network or is connected to one while running, and kept
    /// until it stops, as Docker keeps its resolver once started, so disconnecting the last
    /// such network leaves resolution working.
    #[serde(default)]
    pub embedded_dns: bool,
    /// The network namespace a caller attached (`network attach`): a namespace ferry did not
    /// make, whose processes are not ferry's; only the endpoints in it are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_netns: Option<String>,
}

impl Sandbox {
    /// The endpoint on a network, if the sandbox has one.
    pub fn endpoint_on(&self, network_id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.network_id == network_id)
    }
    /// True while its process runs.
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A sandbox record as the store held it before IDs and MACs had types of their own
    /// (and before endpoints kept their driver's state under `driver_state`).
    fn old_sandbox_record() -> serde_json::Value {
        json!({
            "id": "a".repeat(64),
            "name": "web",
            "created": "2024-05-01T10:00:00Z",
            "config": {
                "cmd": ["sleep", "infinity"],
                "workdir": null,
                "hostname": "a".repeat(12),
                "network_mode": {"mode": "networks"},
                "attachments": [{
                    "network_id": "b".repeat(64),
                    "aliases": ["www"],
                    "ipv4": "172.18.0.5",
                    "ipv6": null,
                    "mac": "02:42:AC:12:00:05"
                }],
                "links": [{"target": "c".repeat(64), "name": "db", "alias": "database"}]
            },
            "state": {
                "status": "running",
                "pid": 4242,
                "start_ticks": 99,
                "started_at": "2024-05-01T10:00:01Z",
                "finished_at": null,
                "exit_code": null
            },
            "netns": "/proc/4242/ns/net",
            "endpoints": [{
                "id": "d".repeat(64),
                "network_id": "b".repeat(64),
                "ifname": "eth0",
                "host_ifname": "vfddddddddddd",
                "mac": "02:42:ac:12:00:05",
                "ipv4": "172.18.0.5/16",
                "ipv6": null,
                "gateway4": "172.18.0.1",
                "gateway6": null
            }]
        })
    }

    #[test]
    fn old_sandbox_records_still_read() {
        let sb: Sandbox = serde_json::from_value(old_sandbox_record()).unwrap();
        assert_eq!(sb.id, SandboxId::new("a".repeat(64)));
        let att = &sb.config.attachments[0];
        assert_eq!(att.network_id, NetworkId::new("b".repeat(64)));
        assert_eq!(
            att.mac,
            Some(MacAddr::new([0x02, 0x42, 0xac, 0x12, 0x00, 0x05]))
        );
        assert_eq!(sb.config.links[0].target, SandboxId::new("c".repeat(64)));
        let ep = &sb.endpoints[0];
        assert_eq!(ep.id, EndpointId::new("d".repeat(64)));
        assert_eq!(ep.mac.to_string(), "02:42:ac:12:00:05");
        assert_eq!(ep.driver_state, json!("vfddddddddddd"));
        assert_eq!(sb.endpoint_on(&"b".repeat(64)), Some(ep));

        // Written again, the IDs and MACs are the same plain strings.
        let again = serde_json::to_value(&sb).unwrap();
        assert_eq!(again["id"], json!("a".repeat(64)));
        assert_eq!(again["endpoints"][0]["id"], json!("d".repeat(64)));
        assert_eq!(again["endpoints"][0]["network_id"], json!("b".repeat(64)));
        assert_eq!(again["endpoints"][0]["mac"], json!("02:42:ac:12:00:05"));
        assert_eq!(
            again["config"]["attachments"][0]["mac"],
            json!("02:42:ac:12:00:05")
        );
        assert_eq!(serde_json::from_value::<Sandbox>(again).unwrap(), sb);
    }

    #[test]
    fn old_network_and_container_mode_records_still_read() {
        let net: Network = serde_json::from_value(json!({
            "id": "b".repeat(64),
            "name": "appnet",
            "driver": "bridge",
            "created": "2024-05-01T10:00:00Z",
            "enable_ipv6": false,
            "internal": false,
            "attachable": false,
            "subnets": [{"subnet": "172.18.0.0/16", "ip_range": null, "gateway": "172.18.0.1"}],
            "user_subnets": false,
            "options": {},
            "labels": {},
            "bridge": {"name": "fr-bbbbbbbbbbbb", "mtu": 1500},
            "builtin": false
        }))
        .unwrap();
        assert_eq!(net.id, NetworkId::new("b".repeat(64)));
        assert_eq!(net.driver_config["name"], json!("fr-bbbbbbbbbbbb"));
        assert_eq!(
            serde_json::to_value(&net).unwrap()["id"],
            json!("b".repeat(64))
        );

        let mode: NetworkMode =
            serde_json::from_value(json!({"mode": "container", "target": "a".repeat(64)})).unwrap();
        assert_eq!(mode, NetworkMode::Container(SandboxId::new("a".repeat(64))));
        assert_eq!(
            serde_json::to_value(&mode).unwrap(),
            json!({"mode": "container", "target": "a".repeat(64)})
        );
    }
}

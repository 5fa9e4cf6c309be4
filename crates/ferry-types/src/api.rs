//! Request bodies of ferry's HTTP API. Network requests use Docker's Engine API shapes, so the
//! same bodies serve ferry's CLI and Docker clients.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /networks/create` (Docker's NetworkCreateRequest). Like dockerd, it takes `null` as
/// the zero value and ignores fields it does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    /// Network name.
    pub name: String,
    /// Driver name; `bridge` when empty.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub driver: String,
    /// Scope; only `local` (or empty) is accepted.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub scope: String,
    /// Restrict external access.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub internal: bool,
    /// Allow manual attachment (always allowed on local networks).
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub attachable: bool,
    /// Swarm ingress network (not supported locally).
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub ingress: bool,
    /// Config-only network (not supported).
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub config_only: bool,
    /// Take the configuration from another network (not supported).
    #[serde(default)]
    pub config_from: Option<ConfigReference>,
    /// Address management.
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// Give endpoints IPv4 addresses (IPv4 cannot be disabled on bridge networks).
    #[serde(default, rename = "EnableIPv4")]
    pub enable_ipv4: Option<bool>,
    /// Give endpoints IPv6 addresses.
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    /// Driver options.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub options: BTreeMap<String, String>,
    /// User labels.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub labels: BTreeMap<String, String>,
    /// Old Docker clients send it; names are always checked.
    #[serde(default)]
    pub check_duplicate: Option<bool>,
}

/// Docker's ConfigReference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// The network referred to.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub network: String,
}

/// Docker's IPAM block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// IPAM driver; only `default` (or empty) is accepted.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub driver: String,
    /// Subnets.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub config: Vec<IpamConfig>,
    /// IPAM driver options.
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// One subnet in Docker's IPAM block; all values are text, as the user typed them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// The subnet in CIDR form.
    #[serde(
        default,
        deserialize_with = "crate::nullable::or_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    /// The range dynamic addresses come from.
    #[serde(
        default,
        deserialize_with = "crate::nullable::or_default",
        rename = "IPRange",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    /// The gateway address.
    #[serde(
        default,
        deserialize_with = "crate::nullable::or_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    /// Reserved addresses by name.
    #[serde(
        default,
        deserialize_with = "crate::nullable::or_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// `POST /networks/{id}/attach`: puts an endpoint of the network into a network namespace
/// ferry did not make (a container of another runtime), keyed by the caller's ID for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttachRequest {
    /// Path of the namespace (`/run/netns/NAME`, `/proc/PID/ns/net`).
    pub netns: String,
    /// The caller's ID for the container; ferry's sandbox record takes it as its name.
    pub id: String,
    /// The interface's name inside the namespace (the first free `ethN` when empty).
    pub ifname: String,
    /// Extra DNS names on the network.
    pub aliases: Vec<String>,
    /// A static IPv4 address.
    pub ipv4_address: String,
    /// A static IPv6 address.
    pub ipv6_address: String,
    /// A static MAC address.
    pub mac_address: String,
    /// Host ports to publish, as `run -p` gives them (first attach of an ID only).
    pub port_bindings: crate::ports::PortBindings,
    /// The caller binds the host ports itself (podman holds them while the container lives):
    /// ferry forwards them without holding sockets that would take them from the caller.
    pub caller_holds_ports: bool,
    /// Labels of the container's record (first attach of an ID only): a caller marks what it
    /// attached, to find its own again in [`Attachment`]s.
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/{id}/detach`: takes a caller's container off a network. Detaching what is
/// not attached succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkDetachRequest {
    /// The caller's ID for the container, as attached.
    pub id: String,
}

/// `POST /networks/{id}/names`: the DNS names an attached container answers to on the
/// network besides its ID, replacing those it had (a Docker plugin learns a container's name
/// and aliases from dockerd only after the join).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkNamesRequest {
    /// The caller's ID for the container, as attached.
    pub id: String,
    /// Its names on the network.
    pub aliases: Vec<String>,
}

/// What an attach made, for the caller to report (a CNI result, a Docker plugin's join).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachResponse {
    /// ferry's sandbox ID.
    pub sandbox_id: String,
    /// The interface inside the namespace.
    pub ifname: String,
    /// Its MAC address.
    pub mac_address: String,
    /// Its IPv4 address with prefix length (empty when none).
    pub ipv4_address: String,
    /// Its IPv6 address with prefix length (empty when none).
    pub ipv6_address: String,
    /// The IPv4 gateway (empty when none).
    pub gateway: String,
    /// The IPv6 gateway (empty when none).
    pub ipv6_gateway: String,
    /// The resolver that answers the network's names inside the namespace (empty when the
    /// network has none).
    pub dns_server: String,
}

/// `GET /networks/{id}/attachments`: one container a caller attached to the network, as
/// ferry holds it, for the caller to check it or to collect what it no longer knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    /// The caller's ID for the container, as attached.
    pub id: String,
    /// ferry's sandbox ID.
    pub sandbox_id: String,
    /// The namespace's path, as attached.
    pub netns: String,
    /// True while that path still names the namespace attached (false once it is gone or
    /// another one).
    pub netns_live: bool,
    /// The interface inside the namespace.
    pub ifname: String,
    /// Its MAC address.
    pub mac_address: String,
    /// Its IPv4 address with prefix length (empty when none).
    pub ipv4_address: String,
    /// Its IPv6 address with prefix length (empty when none).
    pub ipv6_address: String,
    /// The labels of the container's record.
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/{id}/connect` (Docker's NetworkConnectRequest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnectRequest {
    /// Sandbox name or ID.
    pub container: String,
    /// Endpoint settings.
    #[serde(default)]
    pub endpoint_config: Option<EndpointSettingsRequest>,
}

/// The parts of Docker's EndpointSettings a client may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettingsRequest {
    /// Static addresses.
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// DNS aliases.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Static MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// Static addresses of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    /// Static IPv4 address.
    #[serde(
        default,
        rename = "IPv4Address",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    #[serde(
        default,
        rename = "IPv6Address",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_address: Option<String>,
}

/// `POST /networks/{id}/disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkDisconnectRequest {
    /// Sandbox name or ID.
    pub container: String,
    /// Disconnect even when the sandbox is not running.
    #[serde(default, deserialize_with = "crate::nullable::or_default")]
    pub force: bool,
}

/// One `--network` of `ferry run`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRequest {
    /// Network name or ID (or `host`, `none`, `container:NAME`).
    pub name: String,
    /// DNS aliases on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Static IPv4 address.
    #[serde(default, rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    #[serde(default, rename = "IPv6Address")]
    pub ipv6_address: Option<String>,
    /// Static MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// `POST /containers/create`: a new sandbox (ferry's own body: networks are an ordered list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SandboxCreateRequest {
    /// Unique name; generated when empty.
    #[serde(default)]
    pub name: String,
    /// Program and arguments.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: String,
    /// Host name; the short ID when empty.
    #[serde(default)]
    pub hostname: String,
    /// Domain name.
    #[serde(default)]
    pub domainname: String,
    /// Root filesystem directory (chroot); the host's when empty.
    #[serde(default)]
    pub rootfs: String,
    /// Networks in connection order; the default `bridge` when empty.
    #[serde(default)]
    pub networks: Vec<NetworkRequest>,
    /// `name:ip` entries (`host-gateway` allowed as ip).
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// DNS servers.
    #[serde(default)]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// resolv.conf options.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// Remove when the process exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Give the process a terminal (`-t`): its output is the terminal's, unframed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keep its input open for an attached client (`-i`; with a terminal, what is typed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// The terminal's size (rows, columns) at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<(u16, u16)>,
    /// Ports to publish, in Docker's shape (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`).
    #[serde(default)]
    pub port_bindings: crate::ports::PortBindings,
    /// Ports the sandbox listens on (`{"80/tcp": {}}`).
    #[serde(default)]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// Publish every exposed port on an ephemeral host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// User labels (compose records its project, service and configuration hash here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Legacy links on the default bridge: `NAME[:ALIAS]`, written into /etc/hosts.
    #[serde(default)]
    pub links: Vec<String>,
    /// How the sandbox is confined (capabilities, seccomp, user, PID and IPC namespaces,
    /// init, binds, read-only root).
    #[serde(default)]
    pub security: crate::security::SecurityRequest,
}

/// Reply of `POST /containers/create` and `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    /// The new object's ID.
    pub id: String,
    /// Non-fatal remarks.
    #[serde(default)]
    pub warning: String,
}

/// Reply of the prune endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPruneResponse {
    /// Names of the removed networks.
    pub networks_deleted: Vec<String>,
}

/// Reply of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    /// The process's exit code.
    pub status_code: i64,
    /// Set when the exit code could not be known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

/// Error part of [`WaitResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    /// Why.
    pub message: String,
}

/// Docker's error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message.
    pub message: String,
}

/// What `GET /containers/{id}/exec-target` returns: where `ferry exec` enters a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecTarget {
    /// PID of the sandbox's process, whose namespaces are joined.
    pub pid: u32,
    /// Root filesystem to chroot into, if any.
    #[serde(default)]
    pub rootfs: String,
    /// The sandbox's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Default working directory.
    #[serde(default)]
    pub working_dir: String,
    /// Capabilities an exec'd process keeps (a bit set); `None` keeps them all.
    #[serde(default)]
    pub caps: Option<u64>,
    /// Its seccomp filter, as the sandbox's: `None` for none.
    #[serde(default)]
    pub seccomp: Option<crate::security::Seccomp>,
    /// Set `no_new_privs`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The sandbox's user, as given to `--user`.
    #[serde(default)]
    pub user: String,
}

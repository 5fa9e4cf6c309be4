//! Response bodies in Docker's Engine API shape: `network inspect`, `inspect`, `ps`, `info`,
//! `version`. The field names are Docker's, so Docker tooling reads ferry's JSON unchanged.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Docker's Network (inspect and list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInspect {
    /// Name.
    pub name: String,
    /// 64-digit ID.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// `local`.
    pub scope: String,
    /// Driver name.
    pub driver: String,
    /// Always true for bridge networks.
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// IPv6 enabled.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: IpamInspect,
    /// Internal network.
    pub internal: bool,
    /// Attachable.
    pub attachable: bool,
    /// Swarm ingress (always false).
    pub ingress: bool,
    /// Config source (always empty).
    pub config_from: ConfigFrom,
    /// Config-only (always false).
    pub config_only: bool,
    /// Attached sandboxes by ID.
    pub containers: BTreeMap<String, NetworkContainer>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Docker's ConfigReference in inspect output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    /// Always empty.
    pub network: String,
}

/// IPAM in inspect output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamInspect {
    /// `default`.
    pub driver: String,
    /// IPAM options.
    pub options: BTreeMap<String, String>,
    /// Subnets.
    pub config: Vec<crate::api::IpamConfig>,
}

/// One attached sandbox in `network inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    /// Sandbox name.
    pub name: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// MAC address.
    pub mac_address: String,
    /// IPv4 address with prefix length, or empty.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// IPv6 address with prefix length, or empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// Docker's EndpointSettings in a container's NetworkSettings.Networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// Static addresses asked for.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<crate::api::EndpointIpamConfig>,
    /// DNS aliases.
    pub aliases: Vec<String>,
    /// Static MAC asked for, or the MAC in use.
    pub mac_address: String,
    /// Network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint ID (empty while stopped).
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// IPv4 gateway.
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// IPv4 prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// IPv6 address.
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// IPv6 prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// The names this endpoint answers to in DNS.
    #[serde(rename = "DNSNames")]
    pub dns_names: Vec<String>,
}

/// Docker's ContainerState.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// created | running | exited.
    pub status: String,
    /// Running.
    pub running: bool,
    /// Always false.
    pub paused: bool,
    /// Always false.
    pub restarting: bool,
    /// Always false.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Always false.
    pub dead: bool,
    /// PID, 0 when not running.
    pub pid: u32,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// Error of the last start.
    pub error: String,
    /// RFC 3339 or Docker's zero time.
    pub started_at: String,
    /// RFC 3339 or Docker's zero time.
    pub finished_at: String,
}

/// The Config part of a container inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Host name.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Environment.
    pub env: Vec<String>,
    /// Command.
    pub cmd: Vec<String>,
    /// Working directory.
    pub working_dir: String,
    /// Root filesystem (ferry's stand-in for an image).
    pub rootfs: String,
    /// Ports the sandbox declares (`{"80/tcp": {}}`).
    #[serde(default)]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--user`, as given.
    #[serde(default)]
    pub user: String,
    /// What Docker clients call the image: `host` for the host's programs, else the root
    /// filesystem's name or path.
    #[serde(default)]
    pub image: String,
    /// A terminal (never: ferry gives sandboxes none).
    #[serde(default)]
    pub tty: bool,
    /// Standard input kept open (never).
    #[serde(default)]
    pub open_stdin: bool,
}

/// An empty JSON object, as Docker uses for set members (`{"80/tcp": {}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The HostConfig part of a container inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// bridge | host | none | container:ID | the first network's name.
    pub network_mode: String,
    /// `name:ip` entries.
    pub extra_hosts: Vec<String>,
    /// DNS servers.
    pub dns: Vec<String>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// resolv.conf options.
    pub dns_options: Vec<String>,
    /// Remove on exit.
    pub auto_remove: bool,
    /// Ports to publish, as requested.
    #[serde(default)]
    pub port_bindings: crate::ports::PortBindings,
    /// Publish every exposed port (`-P`).
    #[serde(default)]
    pub publish_all_ports: bool,
    /// Legacy links, as Docker shows them: `/TARGET:/SANDBOX/ALIAS`.
    #[serde(default)]
    pub links: Vec<String>,
    /// Capabilities added to the default set.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Capabilities dropped from it.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Every capability, the host's devices, nothing filtered or masked.
    #[serde(default)]
    pub privileged: bool,
    /// `seccomp=...`, `no-new-privileges=...`.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `""` (its own), `host` or `container:NAME`.
    #[serde(default)]
    pub pid_mode: String,
    /// `private`, `host` or `container:NAME`.
    #[serde(default)]
    pub ipc_mode: String,
    /// ferry's init runs as PID 1.
    #[serde(default)]
    pub init: bool,
    /// Bind mounts, `HOST:SANDBOX[:ro]`.
    #[serde(default)]
    pub binds: Vec<String>,
    /// Read-only root filesystem.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Where the output goes: ferry's one log file, which Docker clients know as `json-file`.
    #[serde(default)]
    pub log_config: LogConfig,
}

/// Docker's LogConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    /// The driver's name.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Its options.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Docker's NetworkSettings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// Sandbox ID (the sandbox's own ID).
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// Path of the network namespace.
    pub sandbox_key: String,
    /// Sandbox ports with their host bindings while running; `null` for a port that is
    /// exposed but not published.
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// Endpoints by network name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// A published port binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// Host address.
    pub host_ip: String,
    /// Host port.
    pub host_port: String,
}

/// Docker's container inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    /// ID.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// The program.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Process state.
    pub state: ContainerState,
    /// `/name`.
    pub name: String,
    /// Restarts by the daemon.
    pub restart_count: u32,
    /// Path of the sandbox's resolv.conf.
    pub resolv_conf_path: String,
    /// Path of the sandbox's hostname file.
    pub hostname_path: String,
    /// Path of the sandbox's hosts file.
    pub hosts_path: String,
    /// Path of the output log.
    pub log_path: String,
    /// Config.
    pub config: ContainerConfig,
    /// HostConfig.
    pub host_config: HostConfig,
    /// NetworkSettings.
    pub network_settings: NetworkSettings,
}

/// Docker's ContainerSummary (`ps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    /// ID.
    pub id: String,
    /// `/name`.
    pub names: Vec<String>,
    /// What Docker clients call the image (see [`ContainerConfig::image`]).
    #[serde(default)]
    pub image: String,
    /// Command line.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    /// created | running | exited.
    pub state: String,
    /// "Up 5 seconds", "Exited (0) 2 minutes ago".
    pub status: String,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<SummaryPort>,
    /// Networks.
    pub network_settings: SummaryNetworkSettings,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A port in [`ContainerSummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryPort {
    /// Host address.
    #[serde(rename = "IP", default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Sandbox port.
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// Host port.
    #[serde(
        rename = "PublicPort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_port: Option<u16>,
    /// tcp | udp | sctp.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// Networks part of [`ContainerSummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    /// Endpoints by network name.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    /// ferry's version.
    pub version: String,
    /// Docker API version served.
    pub api_version: String,
    /// Oldest Docker API version served.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// `linux`.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Kernel release.
    pub kernel_version: String,
    /// The server product (`{"Name": "ferry ..."}`).
    #[serde(default)]
    pub platform: Platform,
    /// The server's parts; the docker CLI shows the `Engine` one.
    #[serde(default)]
    pub components: Vec<Component>,
    /// The toolchain ferry was built with.
    #[serde(default)]
    pub go_version: String,
    /// The source revision (empty when unknown).
    #[serde(default)]
    pub git_commit: String,
    /// When it was built (empty when unknown).
    #[serde(default)]
    pub build_time: String,
    /// Experimental features (never).
    #[serde(default)]
    pub experimental: bool,
}

/// Docker's `Platform` of `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// The product's name.
    pub name: String,
}

/// One part of the server in `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    /// `Engine`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Free-form details (`ApiVersion`, `Os`, `Arch`, ...), all strings.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// `GET /info`: the daemon's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DaemonInfo {
    /// Host name.
    pub name: String,
    /// ferry's version.
    pub server_version: String,
    /// Sandboxes in total.
    pub containers: usize,
    /// Running sandboxes.
    pub containers_running: usize,
    /// Stopped sandboxes.
    pub containers_stopped: usize,
    /// Networks.
    pub networks: usize,
    /// Data root.
    pub docker_root_dir: String,
    /// Exec root.
    pub exec_root: String,
    /// API socket.
    pub socket: String,
    /// Store backend.
    pub store: String,
    /// Default bridge address (`bip`).
    pub bip: String,
    /// Default address pools.
    pub default_address_pools: Vec<PoolInfo>,
    /// Default MTU.
    pub mtu: u32,
    /// Default DNS servers.
    pub dns: Vec<String>,
    /// Default DNS search domains.
    pub dns_search: Vec<String>,
    /// Default resolv.conf options.
    pub dns_options: Vec<String>,
    /// Inter-container connectivity on the default bridge.
    pub icc: bool,
    /// Masquerade on the default bridge.
    pub ip_masq: bool,
    /// Whether ferry enables IP forwarding.
    pub ip_forward: bool,
    /// Who manages packet filtering and NAT: `nftables` (ferry's own tables) or `none`.
    #[serde(default)]
    pub firewall: String,
    /// Kernel release.
    pub kernel_version: String,
    /// Network drivers.
    pub network_drivers: Vec<String>,
    /// A stable ID of this daemon (its data root's).
    #[serde(default, rename = "ID")]
    pub id: String,
    /// The host's operating system, from os-release.
    #[serde(default)]
    pub operating_system: String,
    /// `linux`.
    #[serde(default, rename = "OSType")]
    pub os_type: String,
    /// The machine (`uname -m`).
    #[serde(default)]
    pub architecture: String,
    /// CPUs online.
    #[serde(default, rename = "NCPU")]
    pub ncpu: usize,
    /// Memory in bytes.
    #[serde(default)]
    pub mem_total: u64,
    /// Images (ferry keeps none).
    #[serde(default)]
    pub images: usize,
    /// Paused sandboxes (ferry pauses none).
    #[serde(default)]
    pub containers_paused: usize,
    /// Storage driver (ferry has none).
    #[serde(default)]
    pub driver: String,
    /// Plugins by kind, as Docker lists them.
    #[serde(default)]
    pub plugins: PluginsInfo,
    /// This node's swarm membership.
    #[serde(default)]
    pub swarm: crate::swarm::SwarmInfo,
}

/// Docker's `Plugins` of `info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginsInfo {
    /// Volume plugins.
    #[serde(default)]
    pub volume: Vec<String>,
    /// Network drivers.
    #[serde(default)]
    pub network: Vec<String>,
    /// Authorization plugins.
    #[serde(default)]
    pub authorization: Option<Vec<String>>,
    /// Log drivers.
    #[serde(default)]
    pub log: Vec<String>,
}

/// One default address pool in `info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolInfo {
    /// Base network.
    pub base: String,
    /// Prefix length of each subnet.
    pub size: u8,
}

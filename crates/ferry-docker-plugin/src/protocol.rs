//! The bodies of libnetwork's remote driver and remote IPAM protocols (moby 20.10,
//! `libnetwork/drivers/remote/api` and `libnetwork/ipams/remote/api`). Every request is
//! `POST /<Interface>.<Method>` with a JSON body; unknown fields are ignored, as dockerd adds
//! some over versions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a plugin answers `Plugin.Activate` with.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivateResponse {
    /// The interfaces served.
    pub implements: Vec<&'static str>,
}

/// `NetworkDriver.GetCapabilities`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapabilitiesResponse {
    /// `local`: networks exist on this host only.
    pub scope: &'static str,
    /// `local`: endpoints reach each other on this host only.
    pub connectivity_scope: &'static str,
}

/// One address pool of a network as dockerd's IPAM gave it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamData {
    /// The address space.
    pub address_space: String,
    /// The subnet, `10.80.0.0/24`.
    pub pool: String,
    /// The gateway with the pool's prefix length, `10.80.0.1/24`.
    pub gateway: String,
    /// Reserved addresses by name, each `ip/len`.
    pub aux_addresses: BTreeMap<String, String>,
}

/// `NetworkDriver.CreateNetwork`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateNetworkRequest {
    /// dockerd's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// `com.docker.network.generic` (the `-o` options), `com.docker.network.enable_ipv6`, ...
    pub options: BTreeMap<String, Value>,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data")]
    pub ipv4_data: Vec<IpamData>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data")]
    pub ipv6_data: Vec<IpamData>,
}

/// A request that names a network only (`DeleteNetwork`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkRequest {
    /// dockerd's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// The addresses of an endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInterface {
    /// IPv4 address with prefix length.
    pub address: String,
    /// IPv6 address with prefix length.
    #[serde(rename = "AddressIPv6")]
    pub address_ipv6: String,
    /// MAC address.
    pub mac_address: String,
}

/// `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateEndpointRequest {
    /// dockerd's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// dockerd's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The addresses dockerd's IPAM gave (null when it gave none).
    pub interface: Option<EndpointInterface>,
    /// `com.docker.network.portmap`, `com.docker.network.endpoint.exposedports`, ...
    pub options: BTreeMap<String, Value>,
}

/// What `CreateEndpoint` fills in: only fields dockerd left empty.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEndpointResponse {
    /// The filled-in addresses, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
}

/// A request that names an endpoint (`DeleteEndpoint`, `EndpointOperInfo`, `Leave`,
/// `RevokeExternalConnectivity`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRequest {
    /// dockerd's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// dockerd's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Options (`ProgramExternalConnectivity` carries the port map here).
    pub options: BTreeMap<String, Value>,
}

/// `NetworkDriver.Join`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinRequest {
    /// dockerd's network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// dockerd's endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The container's network namespace, a file dockerd bind-mounted.
    pub sandbox_key: String,
    /// The port map and exposed ports, as in `CreateEndpoint`.
    pub options: BTreeMap<String, Value>,
}

/// The interface dockerd moves into the container and renames.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceName {
    /// Its name in dockerd's namespace.
    pub src_name: String,
    /// Its name in the container: this prefix and the first free index.
    pub dst_prefix: String,
}

/// A route dockerd adds in the container.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StaticRoute {
    /// The destination, CIDR.
    pub destination: String,
    /// 0: via `NextHop`; 1: on the link.
    pub route_type: u8,
    /// The next hop for type 0.
    pub next_hop: String,
}

/// `NetworkDriver.Join`'s answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinResponse {
    /// The interface to move.
    pub interface_name: InterfaceName,
    /// IPv4 gateway (empty when none).
    pub gateway: String,
    /// IPv6 gateway (empty when none).
    #[serde(rename = "GatewayIPv6")]
    pub gateway_ipv6: String,
    /// Extra routes.
    pub static_routes: Vec<StaticRoute>,
    /// No docker_gwbridge for this endpoint: ferry's network routes out itself.
    pub disable_gateway_service: bool,
}

/// `IpamDriver.GetCapabilities`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamCapabilitiesResponse {
    /// dockerd sends the endpoint's MAC with an address request.
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    /// dockerd replays pool and address requests after its restart.
    pub requires_request_replay: bool,
}

/// `IpamDriver.GetDefaultAddressSpaces`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressSpacesResponse {
    /// The local address space's name.
    pub local_default_address_space: &'static str,
    /// The global address space's name.
    pub global_default_address_space: &'static str,
}

/// `IpamDriver.RequestPool`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestPoolRequest {
    /// The address space.
    pub address_space: String,
    /// The subnet asked for (`--subnet`), or empty.
    pub pool: String,
    /// The range addresses come from (`--ip-range`), or empty.
    pub sub_pool: String,
    /// IPAM options (`--ipam-opt`).
    pub options: Option<BTreeMap<String, String>>,
    /// An IPv6 pool.
    #[serde(rename = "V6")]
    pub v6: bool,
}

/// `IpamDriver.RequestPool`'s answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestPoolResponse {
    /// The pool's ID, which later requests carry.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The pool, CIDR.
    pub pool: String,
    /// Extra data.
    pub data: BTreeMap<String, String>,
}

/// `IpamDriver.ReleasePool`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleasePoolRequest {
    /// The pool's ID.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
}

/// `IpamDriver.RequestAddress` and `ReleaseAddress`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressRequest {
    /// The pool's ID.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The address asked for (`--ip`, `--gateway`), or empty.
    pub address: String,
    /// `RequestAddressType: com.docker.network.gateway` for the gateway; the endpoint's MAC.
    pub options: Option<BTreeMap<String, String>>,
}

/// `IpamDriver.RequestAddress`'s answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressResponse {
    /// The address with the pool's prefix length.
    pub address: String,
    /// Extra data.
    pub data: BTreeMap<String, String>,
}

/// The option that marks a gateway's address request.
pub const GATEWAY_REQUEST: (&str, &str) = ("RequestAddressType", "com.docker.network.gateway");

/// The option holding a network's `-o` options.
pub const GENERIC_OPTIONS: &str = "com.docker.network.generic";

/// The option holding an endpoint's published ports.
pub const PORT_MAP: &str = "com.docker.network.portmap";

/// One entry of [`PORT_MAP`] (libnetwork's `types.PortBinding`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// 6 TCP, 17 UDP, 132 SCTP.
    pub proto: u8,
    /// The container's port.
    pub port: u16,
    /// The host address, or empty for all.
    #[serde(rename = "HostIP")]
    pub host_ip: String,
    /// The first host port (0 for any).
    pub host_port: u16,
    /// The last host port of a range.
    pub host_port_end: u16,
}

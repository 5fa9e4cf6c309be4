//! The calls of both protocols, each turned into the ferry daemon's API.
//!
//! Mapping: a Docker network is a ferry network labelled with dockerd's network ID (named by
//! `-o ferry.name=NAME`, else `docker-<ID prefix>`); a Docker endpoint is a container attached
//! to it under the endpoint ID's prefix, made at Join in the container's namespace and handed
//! to dockerd. Its published ports are ferry's, programmed with the attach.

use crate::error::PluginError;
use crate::handover::{hand_over, temporary_name, Holders};
use crate::ipam;
use crate::protocol::*;
use ferry_client::{Client, ClientError, Filters};
use ferry_types::api::{
    Ipam, IpamConfig, NetworkAttachRequest, NetworkCreateRequest, NetworkDetachRequest,
    NetworkNamesRequest,
};
use ferry_types::docker::NetworkInspect;
use ferry_types::ports::{HostBinding, PortBindings};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use tokio::sync::Mutex;

/// The label that ties a ferry network to dockerd's network ID.
pub const NETWORK_ID_LABEL: &str = "ferry.docker.network-id";

/// The label that marks a container attached by this plugin, with dockerd's endpoint ID.
pub const ENDPOINT_LABEL: &str = "ferry.docker.endpoint-id";

/// The `-o` option that names the ferry network.
pub const NAME_OPTION: &str = "ferry.name";

/// dockerd's option for an internal network.
const INTERNAL_OPTION: &str = "com.docker.network.internal";

/// The plugin: a client of the daemon and what lives between two calls.
pub struct Plugin {
    client: Client,
    holders: Holders,
    memory: Mutex<Memory>,
}

/// What the daemon does not hold yet.
#[derive(Default)]
struct Memory {
    /// Endpoints created and not joined yet: their addresses.
    endpoints: HashMap<String, EndpointInterface>,
    /// Addresses handed out by pool, until released.
    handed: HashMap<String, BTreeSet<IpAddr>>,
    /// The endpoint that publishes a container's ports, by the container's sandbox key:
    /// dockerd sends the port map with the Join of every network, and the first one that
    /// can publish them does.
    publisher: HashMap<String, String>,
}

impl Memory {
    /// Whether the endpoint joining publishes the container's ports (and it is recorded so).
    fn publishes(&mut self, sandbox_key: &str, endpoint_id: &str) -> bool {
        let holder = self
            .publisher
            .entry(sandbox_key.to_string())
            .or_insert_with(|| endpoint_id.to_string());
        holder == endpoint_id
    }

    /// Forgets what the endpoint held.
    fn forget(&mut self, endpoint_id: &str) {
        self.endpoints.remove(endpoint_id);
        self.publisher.retain(|_, e| e != endpoint_id);
    }
}

/// The name ferry gives a Docker endpoint's container.
pub fn attach_id(endpoint_id: &str) -> String {
    format!(
        "docker-{}",
        endpoint_id.chars().take(12).collect::<String>()
    )
}

/// The ferry network name for a Docker network.
pub fn network_name(network_id: &str, options: &BTreeMap<String, Value>) -> String {
    generic(options)
        .get(NAME_OPTION)
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("docker-{}", network_id.chars().take(12).collect::<String>()))
}

fn generic(options: &BTreeMap<String, Value>) -> serde_json::Map<String, Value> {
    options
        .get(GENERIC_OPTIONS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// dockerd's port map as Docker Engine API port bindings, which ferry's attach takes.
pub fn port_bindings(options: &BTreeMap<String, Value>) -> Result<PortBindings, PluginError> {
    let Some(v) = options.get(PORT_MAP) else {
        return Ok(PortBindings::new());
    };
    let list: Vec<PortBinding> = serde_json::from_value(v.clone())
        .map_err(|e| PluginError::invalid(format!("invalid port map: {e}")))?;
    let mut out = PortBindings::new();
    for b in list {
        let proto = match b.proto {
            6 => "tcp",
            17 => "udp",
            132 => "sctp",
            p => return Err(PluginError::invalid(format!("unknown protocol {p}"))),
        };
        let host_port = match (b.host_port, b.host_port_end) {
            (0, _) => String::new(),
            (s, e) if e > s => format!("{s}-{e}"),
            (s, _) => s.to_string(),
        };
        out.entry(format!("{}/{proto}", b.port))
            .or_default()
            .push(HostBinding {
                host_ip: b.host_ip,
                host_port,
            });
    }
    Ok(out)
}

/// A random-free MAC from an IPv4 address, as dockerd's bridge driver makes them.
pub fn mac_from(addr: &str) -> Option<String> {
    let ip: std::net::Ipv4Addr = addr.split('/').next()?.parse().ok()?;
    let o = ip.octets();
    Some(format!(
        "02:42:{:02x}:{:02x}:{:02x}:{:02x}",
        o[0], o[1], o[2], o[3]
    ))
}

fn strip_len(a: &str) -> String {
    a.split('/').next().unwrap_or_default().to_string()
}

fn not_found_ok(r: Result<(), ClientError>) -> Result<(), PluginError> {
    match r {
        Ok(()) | Err(ClientError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Plugin {
    /// A plugin that talks to the daemon at `socket` and keeps its endpoints' holder
    /// namespaces under `state_dir`.
    pub fn new(
        socket: impl Into<std::path::PathBuf>,
        state_dir: impl Into<std::path::PathBuf>,
    ) -> Self {
        Self {
            client: Client::new(socket),
            holders: Holders::new(state_dir.into().join("netns")),
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Runs one call: `Some` is the answer, `None` an unknown method.
    pub async fn call(&self, method: &str, body: &[u8]) -> Option<Result<Value, PluginError>> {
        // dockerd sends no body with Activate and some capability calls.
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}".as_slice()
        } else {
            body
        };
        macro_rules! with {
            ($f:ident) => {
                match serde_json::from_slice(body) {
                    Ok(req) => self.$f(req).await,
                    Err(e) => Err(PluginError::invalid(format!(
                        "invalid {method} request: {e}"
                    ))),
                }
            };
        }
        let out = match method {
            "Plugin.Activate" => Ok(json!(ActivateResponse {
                implements: vec!["NetworkDriver", "IpamDriver"]
            })),
            "NetworkDriver.GetCapabilities" => Ok(json!(CapabilitiesResponse {
                scope: "local",
                connectivity_scope: "local"
            })),
            "NetworkDriver.CreateNetwork" => with!(create_network),
            "NetworkDriver.DeleteNetwork" => with!(delete_network),
            "NetworkDriver.CreateEndpoint" => with!(create_endpoint),
            "NetworkDriver.EndpointOperInfo" => Ok(json!({ "Value": {} })),
            "NetworkDriver.DeleteEndpoint" => with!(delete_endpoint),
            "NetworkDriver.Join" => with!(join),
            "NetworkDriver.Leave" => with!(leave),
            // Ports are published with the endpoint at Join, and go with it at Leave.
            "NetworkDriver.ProgramExternalConnectivity"
            | "NetworkDriver.RevokeExternalConnectivity"
            | "NetworkDriver.DiscoverNew"
            | "NetworkDriver.DiscoverDelete" => Ok(json!({})),
            "IpamDriver.GetCapabilities" => Ok(json!(IpamCapabilitiesResponse {
                requires_mac_address: false,
                requires_request_replay: false
            })),
            "IpamDriver.GetDefaultAddressSpaces" => Ok(json!(AddressSpacesResponse {
                local_default_address_space: ipam::ADDRESS_SPACE,
                global_default_address_space: ipam::ADDRESS_SPACE
            })),
            "IpamDriver.RequestPool" => with!(request_pool),
            "IpamDriver.ReleasePool" => Ok(json!({})),
            "IpamDriver.RequestAddress" => with!(request_address),
            "IpamDriver.ReleaseAddress" => with!(release_address),
            _ => return None,
        };
        Some(out)
    }

    /// The ferry network made for dockerd's network `id`, when there is one.
    async fn find(&self, id: &str) -> Result<Option<NetworkInspect>, PluginError> {
        let f = Filters::new().with("label", format!("{NETWORK_ID_LABEL}={id}"));
        Ok(self.client.network_list(&f).await?.into_iter().next())
    }

    async fn found(&self, id: &str) -> Result<NetworkInspect, PluginError> {
        self.find(id).await?.ok_or_else(|| {
            PluginError::invalid(format!("ferry has no network for Docker network {id}"))
        })
    }

    async fn create_network(&self, req: CreateNetworkRequest) -> Result<Value, PluginError> {
        if self.find(&req.network_id).await?.is_some() {
            return Ok(json!({}));
        }
        let mut options = BTreeMap::new();
        let mut internal = false;
        for (k, v) in generic(&req.options) {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if k == INTERNAL_OPTION {
                internal = v == "true";
            } else if k != NAME_OPTION {
                options.insert(k, v);
            }
        }
        if req.options.get(INTERNAL_OPTION) == Some(&Value::Bool(true)) {
            internal = true;
        }
        let config = req
            .ipv4_data
            .iter()
            .chain(req.ipv6_data.iter())
            .filter(|d| !d.pool.is_empty())
            .map(|d| IpamConfig {
                subnet: d.pool.clone(),
                gateway: strip_len(&d.gateway),
                ..Default::default()
            })
            .collect();
        let create = NetworkCreateRequest {
            name: network_name(&req.network_id, &req.options),
            driver: "bridge".into(),
            internal,
            enable_ipv6: Some(!req.ipv6_data.is_empty()),
            ipam: Some(Ipam {
                config,
                ..Default::default()
            }),
            options,
            labels: BTreeMap::from([(NETWORK_ID_LABEL.to_string(), req.network_id.clone())]),
            ..Default::default()
        };
        self.client.network_create(&create).await?;
        tracing::info!(network = %create.name, docker_id = %req.network_id, "network created");
        Ok(json!({}))
    }

    async fn delete_network(&self, req: NetworkRequest) -> Result<Value, PluginError> {
        if let Some(n) = self.find(&req.network_id).await? {
            not_found_ok(self.client.network_remove(&n.id).await)?;
        }
        Ok(json!({}))
    }

    async fn create_endpoint(&self, req: CreateEndpointRequest) -> Result<Value, PluginError> {
        self.found(&req.network_id).await?;
        let mut iface = req.interface.unwrap_or_default();
        let mut reply = CreateEndpointResponse::default();
        if iface.mac_address.is_empty() {
            if let Some(mac) = mac_from(&iface.address) {
                iface.mac_address = mac.clone();
                reply.interface = Some(EndpointInterface {
                    mac_address: mac,
                    ..Default::default()
                });
            }
        }
        self.memory
            .lock()
            .await
            .endpoints
            .insert(req.endpoint_id, iface);
        Ok(json!(reply))
    }

    async fn delete_endpoint(&self, req: EndpointRequest) -> Result<Value, PluginError> {
        self.memory.lock().await.forget(&req.endpoint_id);
        self.leave(req).await
    }

    async fn join(&self, req: JoinRequest) -> Result<Value, PluginError> {
        let net = self.found(&req.network_id).await?;
        let iface = self
            .memory
            .lock()
            .await
            .endpoints
            .get(&req.endpoint_id)
            .cloned()
            .unwrap_or_default();
        let ifname = temporary_name(&req.endpoint_id);
        let id = attach_id(&req.endpoint_id);
        let mut ports = port_bindings(&req.options)?;
        if !ports.is_empty()
            && (net.internal
                || !self
                    .memory
                    .lock()
                    .await
                    .publishes(&req.sandbox_key, &req.endpoint_id))
        {
            ports.clear();
        }
        let holder = self.holders.create(&id)?;
        let attach = NetworkAttachRequest {
            netns: holder.display().to_string(),
            id: id.clone(),
            ifname: ifname.clone(),
            ipv4_address: strip_len(&iface.address),
            ipv6_address: strip_len(&iface.address_ipv6),
            mac_address: iface.mac_address.clone(),
            port_bindings: ports,
            labels: BTreeMap::from([(ENDPOINT_LABEL.to_string(), req.endpoint_id.clone())]),
            ..Default::default()
        };
        let made = match self.client.network_attach(&net.id, &attach).await {
            Ok(m) => m,
            Err(e) => {
                self.memory.lock().await.forget(&req.endpoint_id);
                self.drop_holder(&id);
                return Err(e.into());
            }
        };
        if let Err(e) = hand_over(&holder, &made.ifname).await {
            let undo = self
                .client
                .network_detach(&net.id, &NetworkDetachRequest { id })
                .await;
            if let Err(u) = undo {
                tracing::warn!(error = %u, "endpoint not detached after a failed join");
            }
            self.memory.lock().await.forget(&req.endpoint_id);
            self.drop_holder(&attach.id);
            return Err(e);
        }
        self.memory.lock().await.endpoints.remove(&req.endpoint_id);
        tracing::info!(network = %net.name, endpoint = %req.endpoint_id, "joined");
        Ok(json!(JoinResponse {
            interface_name: InterfaceName {
                src_name: made.ifname,
                dst_prefix: "eth".into(),
            },
            gateway: strip_len(&made.gateway),
            gateway_ipv6: strip_len(&made.ipv6_gateway),
            static_routes: Vec::new(),
            disable_gateway_service: true,
        }))
    }

    async fn leave(&self, req: EndpointRequest) -> Result<Value, PluginError> {
        if let Some(net) = self.find(&req.network_id).await? {
            let detach = NetworkDetachRequest {
                id: attach_id(&req.endpoint_id),
            };
            not_found_ok(self.client.network_detach(&net.id, &detach).await)?;
        }
        self.holders.remove(&attach_id(&req.endpoint_id))?;
        self.memory
            .lock()
            .await
            .publisher
            .retain(|_, e| *e != req.endpoint_id);
        Ok(json!({}))
    }

    /// Sets the DNS names of dockerd's endpoint on its ferry network; `false` when the network
    /// is not ferry's. dockerd reports a connect once the join is done, but a join of ours
    /// still finishing is waited for a little.
    pub async fn set_names(
        &self,
        network_id: &str,
        endpoint_id: &str,
        names: &[String],
    ) -> Result<bool, PluginError> {
        let Some(net) = self.find(network_id).await? else {
            return Ok(false);
        };
        let req = NetworkNamesRequest {
            id: attach_id(endpoint_id),
            aliases: names.to_vec(),
        };
        let mut tries = 0;
        loop {
            match self.client.network_set_names(&net.id, &req).await {
                Ok(()) => return Ok(true),
                Err(ClientError::NotFound { .. }) if tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes a holder after a failed join (what fails is only logged: the join's error is
    /// the one to report).
    fn drop_holder(&self, id: &str) {
        if let Err(e) = self.holders.remove(id) {
            tracing::warn!(container = %id, error = %e, "holder namespace not removed");
        }
    }

    async fn request_pool(&self, req: RequestPoolRequest) -> Result<Value, PluginError> {
        if req.pool.is_empty() {
            return Err(PluginError::invalid(
                "ferry's IPAM driver needs a subnet: docker network create --subnet CIDR",
            ));
        }
        if !req.sub_pool.is_empty() {
            return Err(PluginError::invalid(
                "ferry's IPAM driver does not take --ip-range",
            ));
        }
        let pool = ipam::parse_pool(&req.pool)?;
        if pool.addr().is_ipv6() != req.v6 {
            return Err(PluginError::invalid(format!(
                "pool {pool} is not of the address family asked for"
            )));
        }
        Ok(json!(RequestPoolResponse {
            pool_id: pool.to_string(),
            pool: pool.to_string(),
            data: BTreeMap::new(),
        }))
    }

    async fn request_address(&self, req: AddressRequest) -> Result<Value, PluginError> {
        let pool = ipam::parse_pool(&req.pool_id)?;
        let options = req.options.unwrap_or_default();
        let gateway = options.get(GATEWAY_REQUEST.0).map(String::as_str) == Some(GATEWAY_REQUEST.1);
        let mut used = self.used(&pool).await?;
        let mut mem = self.memory.lock().await;
        let handed = mem.handed.entry(pool.to_string()).or_default();
        used.extend(handed.iter().copied());
        let ip = if !req.address.is_empty() {
            let ip = ipam::parse_in_pool(&pool, &req.address)?;
            if !gateway && used.contains(&ip) {
                return Err(PluginError::invalid(format!(
                    "address {ip} is in use on {pool}"
                )));
            }
            ip
        } else {
            ipam::first_free(&pool, &used)
                .ok_or_else(|| PluginError::invalid(format!("no free address left in {pool}")))?
        };
        handed.insert(ip);
        Ok(json!(AddressResponse {
            address: ipam::with_len(&pool, ip),
            data: BTreeMap::new(),
        }))
    }

    async fn release_address(&self, req: AddressRequest) -> Result<Value, PluginError> {
        let pool = ipam::parse_pool(&req.pool_id)?;
        if let Ok(ip) = ipam::parse_in_pool(&pool, &req.address) {
            if let Some(h) = self.memory.lock().await.handed.get_mut(&pool.to_string()) {
                h.remove(&ip);
            }
        }
        Ok(json!({}))
    }

    /// The addresses of `pool` that ferry's network on it holds (gateway and endpoints).
    async fn used(&self, pool: &ipnet::IpNet) -> Result<BTreeSet<IpAddr>, PluginError> {
        let mut used = BTreeSet::new();
        for n in self.client.network_list(&Filters::new()).await? {
            if !n.ipam.config.iter().any(|c| c.subnet == pool.to_string()) {
                continue;
            }
            for c in &n.ipam.config {
                if let Ok(ip) = c.gateway.parse() {
                    used.insert(ip);
                }
            }
            for c in n.containers.values() {
                for a in [&c.ipv4_address, &c.ipv6_address] {
                    if let Ok(ip) = strip_len(a).parse() {
                        used.insert(ip);
                    }
                }
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_maps_become_port_bindings() {
        let opts = BTreeMap::from([(
            PORT_MAP.to_string(),
            json!([
                {"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080},
                {"Proto":17,"IP":"","Port":53,"HostIP":"127.0.0.1","HostPort":0,"HostPortEnd":0}
            ]),
        )]);
        let b = port_bindings(&opts).unwrap();
        assert_eq!(b["80/tcp"][0].host_port, "8080");
        assert_eq!(b["53/udp"][0].host_port, "");
        assert_eq!(b["53/udp"][0].host_ip, "127.0.0.1");
        assert!(port_bindings(&BTreeMap::new()).unwrap().is_empty());
    }

    #[test]
    fn names_come_from_the_option_or_the_id() {
        let id = "0123456789abcdef0123";
        assert_eq!(network_name(id, &BTreeMap::new()), "docker-0123456789ab");
        let opts = BTreeMap::from([(GENERIC_OPTIONS.to_string(), json!({"ferry.name":"web"}))]);
        assert_eq!(network_name(id, &opts), "web");
        assert_eq!(attach_id(id), "docker-0123456789ab");
    }

    #[test]
    fn the_first_endpoint_of_a_container_publishes_its_ports() {
        let mut m = Memory::default();
        assert!(m.publishes("/ns/a", "ep1"));
        assert!(!m.publishes("/ns/a", "ep2"));
        assert!(m.publishes("/ns/a", "ep1"));
        assert!(m.publishes("/ns/b", "ep3"));
        m.forget("ep1");
        assert!(m.publishes("/ns/a", "ep2"));
    }

    #[test]
    fn macs_follow_the_address() {
        assert_eq!(mac_from("10.80.0.5/24").unwrap(), "02:42:0a:50:00:05");
        assert_eq!(mac_from(""), None);
    }

    #[tokio::test]
    async fn handshake_answers_without_a_daemon() {
        let p = Plugin::new("/nonexistent.sock", "/nonexistent");
        let a = p.call("Plugin.Activate", b"").await.unwrap().unwrap();
        assert_eq!(a, json!({"Implements":["NetworkDriver","IpamDriver"]}));
        let c = p
            .call("NetworkDriver.GetCapabilities", b"{}")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c, json!({"Scope":"local","ConnectivityScope":"local"}));
        let r = p
            .call(
                "IpamDriver.RequestPool",
                br#"{"Pool":"10.80.0.0/24","V6":false}"#,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r["PoolID"], "10.80.0.0/24");
        assert!(p
            .call("IpamDriver.RequestPool", b"{}")
            .await
            .unwrap()
            .is_err());
        assert!(p.call("Nope.Nothing", b"{}").await.is_none());
    }
}

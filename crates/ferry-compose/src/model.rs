//! The plan: a compose project resolved into the requests ferry's API takes.

use ferry_types::api::{NetworkCreateRequest, SandboxCreateRequest};
use ferry_types::placement::{Placement, ServiceMode};
use ferry_types::ports::{to_bindings, PortBindings, PortKey, PortRequest};
use ferry_types::service::UpdateConfig;
pub use ferry_types::service::{EndpointMode, PublishMode};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Label keys Compose v2 puts on networks and containers; `ferry compose` finds its objects by
/// them.
pub mod labels {
    /// The project name.
    pub const PROJECT: &str = "com.docker.compose.project";
    /// The service a sandbox belongs to.
    pub const SERVICE: &str = "com.docker.compose.service";
    /// The replica number, from 1.
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    /// The hash of the resolved configuration; a different hash means "recreate".
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    /// `False` for service replicas (`True` would mark a `compose run` sandbox).
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    /// The network's key in the compose file.
    pub const NETWORK: &str = "com.docker.compose.network";
    /// The project directory.
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    /// The compose files, comma-separated.
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    /// The prefix users may not use for their own labels.
    pub const RESERVED_PREFIX: &str = "com.docker.compose.";
}

/// A compose project, validated and fully resolved: what `ferry compose up` creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The project name (`[a-z0-9][a-z0-9_-]*`); prefixes network and sandbox names.
    pub name: String,
    /// The project directory (relative paths are resolved against it), when known.
    pub working_dir: Option<PathBuf>,
    /// The compose file the project was read from, when known.
    pub config_file: Option<PathBuf>,
    /// The networks services use, sorted by key. Declared networks no service uses are left
    /// out, as Compose leaves them out.
    pub networks: Vec<ProjectNetwork>,
    /// The enabled services, sorted by name.
    pub services: Vec<ProjectService>,
    /// Things the user should know: keys that were ignored, unset variables, an ignored
    /// `image`. Never an error: errors stop the load.
    pub warnings: Vec<String>,
}

/// One network of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectNetwork {
    /// The key under top-level `networks:` (`default` for the implicit one).
    pub key: String,
    /// The network's name on the host: `PROJECT_KEY`, or its `name:`.
    pub name: String,
    /// An existing network that the project uses but neither creates nor removes.
    pub external: bool,
    /// The request that creates the network, with Compose's labels; `None` when external.
    pub create: Option<NetworkCreateRequest>,
    /// SHA-256 (hex) of the network's configuration. A network whose hash label differs must
    /// be recreated, and with it the services on it (their hashes include this one).
    pub config_hash: String,
}

/// One published port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectPort {
    /// The port, parsed (a container range gives one entry per port).
    pub request: PortRequest,
    /// How it is published.
    pub mode: PublishMode,
}

impl ProjectPort {
    /// Whether the routing mesh publishes this port for a service of `replicas` replicas:
    /// an `ingress` port with one fixed host port and no host address, on a service with
    /// more than one replica. Every other port is published by each replica itself.
    pub fn is_mesh(&self, replicas: u32) -> bool {
        replicas > 1
            && self.mode == PublishMode::Ingress
            && self.request.host_ip.is_none()
            && self.request.host_ports.is_some_and(|r| r.len() == 1)
    }
}

/// When a dependency counts as ready (`depends_on.<service>.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Once its replicas have started.
    ServiceStarted,
    /// Once it is healthy. ferry runs no healthchecks, so the plan warns and `up` can only
    /// wait for the start.
    ServiceHealthy,
    /// Once its replicas have exited with status 0.
    ServiceCompletedSuccessfully,
}

impl DependencyCondition {
    /// The name as written in a compose file.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyCondition::ServiceStarted => "service_started",
            DependencyCondition::ServiceHealthy => "service_healthy",
            DependencyCondition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One entry of a service's `depends_on` (explicit, or implied by `links` or
/// `network_mode`, `pid` or `ipc: service:X`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// When it counts as ready.
    pub condition: DependencyCondition,
    /// Restart this service when the dependency is recreated or restarted.
    pub restart: bool,
    /// `false` when the dependency may be missing (Compose's `required: false`).
    pub required: bool,
}

/// A service that does not use the project's networks (`network_mode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The host's network stack.
    Host,
    /// Loopback only.
    None,
    /// ferry's default `bridge` network.
    Bridge,
    /// The network namespace of another service's first replica.
    Service(String),
    /// The network namespace of an existing sandbox, by name.
    Container(String),
}

impl NetworkMode {
    /// The value as written in a compose file.
    pub fn to_compose(&self) -> String {
        match self {
            NetworkMode::Host => "host".into(),
            NetworkMode::None => "none".into(),
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::Service(s) => format!("service:{s}"),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// Whose PID or IPC namespace a service uses (`pid:`, `ipc:`); without the key, its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceShare {
    /// Its own (`ipc: private`).
    Private,
    /// Its own, which others may join (`ipc: shareable`).
    Shareable,
    /// The host's.
    Host,
    /// The namespace of another service's first replica.
    Service(String),
    /// The namespace of an existing sandbox, by name.
    Container(String),
}

impl NamespaceShare {
    /// The value as written in a compose file.
    pub fn to_compose(&self) -> String {
        match self {
            NamespaceShare::Private => "private".into(),
            NamespaceShare::Shareable => "shareable".into(),
            NamespaceShare::Host => "host".into(),
            NamespaceShare::Service(s) => format!("service:{s}"),
            NamespaceShare::Container(c) => format!("container:{c}"),
        }
    }

    /// The service whose namespace is shared, for `service:NAME`.
    pub fn service(&self) -> Option<&str> {
        match self {
            NamespaceShare::Service(s) => Some(s),
            _ => None,
        }
    }
}

/// One network a service is attached to, as the compose file says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceNetwork {
    /// The network's key in the project.
    pub key: String,
    /// The user's aliases (the service name is added in the sandbox request).
    pub aliases: Vec<String>,
    /// Static IPv4 address.
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    pub ipv6_address: Option<String>,
    /// Static MAC address.
    pub mac_address: Option<String>,
    /// Connection order: higher first (`priority`); ties go by key, as in Compose.
    pub priority: i64,
    /// The network with the highest `gw_priority` is connected first, so it gives the
    /// default route.
    pub gw_priority: i64,
}

/// One service, resolved. Its replicas are made from [`ProjectService::sandbox`], through
/// [`Project::sandbox_request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectService {
    /// The service name (its key under `services:`).
    pub name: String,
    /// How many sandboxes run it (`deploy.replicas`, `scale`, or the `scale` option); 0 is
    /// allowed and starts none.
    pub replicas: u32,
    /// How its name resolves to its replicas.
    pub endpoint_mode: EndpointMode,
    /// Its dependencies, sorted by service name.
    pub depends_on: Vec<Dependency>,
    /// The fixed sandbox name (`container_name`), which allows one replica only.
    pub container_name: Option<String>,
    /// Set when the service does not join project networks.
    pub network_mode: Option<NetworkMode>,
    /// The project networks it joins, in connection order: highest `gw_priority`, then
    /// highest `priority`, then by key, in either form of `networks:` (empty with
    /// `network_mode`).
    pub networks: Vec<ServiceNetwork>,
    /// `entrypoint`, split into words.
    pub entrypoint: Vec<String>,
    /// `command`, split into words.
    pub command: Vec<String>,
    /// The `image` the file names; ferry ignores it (see the crate docs).
    pub image: Option<String>,
    /// Published ports, parsed, with their mode.
    pub ports: Vec<ProjectPort>,
    /// Exposed ports, parsed.
    pub expose: Vec<PortKey>,
    /// `pid:`; the request carries it as `container:` + the sandbox name for `service:NAME`.
    pub pid: Option<NamespaceShare>,
    /// `ipc:`, as `pid`.
    pub ipc: Option<NamespaceShare>,
    /// `security_opt` as `config` shows it: a seccomp profile file by its absolute path (the
    /// request carries the file's JSON, as the docker CLI sends it).
    pub security_opt: Vec<String>,
    /// SHA-256 (hex) of everything that, when changed, requires new sandboxes: the resolved
    /// request (without Compose's own labels), the hashes of its networks and of the services
    /// whose network, PID or IPC namespace it shares. Replicas and `depends_on` are not part of it.
    pub config_hash: String,
    /// The request for replica 1, with Compose's labels and every published port, as Compose
    /// creates a single container. Use [`Project::sandbox_request`] for any replica: it leaves
    /// out the ports of [`ProjectService::mesh_ports`].
    pub sandbox: SandboxCreateRequest,
    /// What only a swarm honours (`deploy.mode`, `placement`, `update_config`, `labels`):
    /// set when the file was read for a stack ([`LoadOptions::stack`](crate::LoadOptions)).
    pub swarm: Option<SwarmDeploy>,
}

/// The `deploy` keys of a stack's service that only a swarm honours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SwarmDeploy {
    /// `deploy.mode`: replicated (a count) or global (one replica on every eligible node).
    pub mode: ServiceMode,
    /// `deploy.placement`: constraints, spread preferences, `max_replicas_per_node`.
    pub placement: Placement,
    /// `deploy.update_config`, over Docker's defaults.
    pub update_config: UpdateConfig,
    /// `deploy.labels`: the service's own labels (its replicas carry them too on ferry).
    pub labels: BTreeMap<String, String>,
}

impl ProjectService {
    /// The ports that the service publishes once, through ferry's routing mesh, balanced over
    /// its replicas: its fixed `ingress` ports without a host address, when it has more than
    /// one replica (two replicas cannot both bind one host port). Empty for one replica.
    pub fn mesh_ports(&self) -> Vec<&ProjectPort> {
        self.ports
            .iter()
            .filter(|p| p.is_mesh(self.replicas))
            .collect()
    }

    /// The ports each replica publishes itself, in Docker's `PortBindings` shape: every port
    /// but the [`mesh_ports`](ProjectService::mesh_ports).
    pub fn replica_port_bindings(&self) -> PortBindings {
        let own: Vec<PortRequest> = self
            .ports
            .iter()
            .filter(|p| !p.is_mesh(self.replicas))
            .map(|p| p.request.clone())
            .collect();
        to_bindings(&own)
    }
}

impl Project {
    /// The service of that name.
    pub fn service(&self, name: &str) -> Option<&ProjectService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The network with that key.
    pub fn network(&self, key: &str) -> Option<&ProjectNetwork> {
        self.networks.iter().find(|n| n.key == key)
    }

    /// The sandbox name of replica `index` (from 1) of a service: `PROJECT-SERVICE-INDEX`, as
    /// Compose v2 names containers, or the service's `container_name`.
    pub fn sandbox_name(&self, service: &str, index: u32) -> String {
        match self
            .service(service)
            .and_then(|s| s.container_name.as_ref())
        {
            Some(name) => name.clone(),
            None => replica_name(&self.name, service, index),
        }
    }

    /// The create request of replica `index` (from 1) of a service: the template with its
    /// name, its `container-number` label, and the ports it publishes itself
    /// ([`ProjectService::replica_port_bindings`]; the routing mesh publishes the others).
    /// `None` for an unknown service or an index outside `1..=replicas`.
    pub fn sandbox_request(&self, service: &str, index: u32) -> Option<SandboxCreateRequest> {
        let s = self.service(service)?;
        if index == 0 || index > s.replicas {
            return None;
        }
        let mut req = s.sandbox.clone();
        req.name = self.sandbox_name(service, index);
        req.labels
            .insert(labels::CONTAINER_NUMBER.into(), index.to_string());
        req.port_bindings = s.replica_port_bindings();
        Some(req)
    }

    /// Services in an order that starts every dependency before its dependents. The order
    /// comes in waves: first the services without dependencies, then those whose
    /// dependencies are all in earlier waves, and so on; each wave is in name order, and the
    /// services of one wave could start together.
    pub fn start_order(&self) -> Vec<&ProjectService> {
        let (order, rest) = waves(self.services.iter().map(|s| {
            (
                s.name.as_str(),
                s.depends_on.iter().map(|d| d.service.as_str()).collect(),
            )
        }));
        // Loading refuses cycles; a hand-built Project with one still gets every service,
        // the ones in the cycle last.
        let by_name: BTreeMap<&str, &ProjectService> =
            self.services.iter().map(|s| (s.name.as_str(), s)).collect();
        order
            .into_iter()
            .chain(rest)
            .filter_map(|name| by_name.get(name).copied())
            .collect()
    }

    /// The reverse of [`Project::start_order`]: dependents stop before their dependencies.
    pub fn stop_order(&self) -> Vec<&ProjectService> {
        let mut v = self.start_order();
        v.reverse();
        v
    }

    /// The canonical configuration, as `ferry compose config` prints it: interpolated and
    /// normalised YAML in Compose's long syntax, keys sorted.
    pub fn to_yaml(&self) -> String {
        crate::output::to_yaml(self)
    }

    /// The same configuration as JSON.
    pub fn to_json(&self) -> String {
        crate::output::to_json(self)
    }
}

/// Orders nodes by their dependencies, in waves (see [`Project::start_order`]). Dependencies
/// on unknown nodes are ignored. Returns the ordered nodes, and the nodes left over because
/// they are in or behind a cycle, in name order. Iterative, so no input can exhaust the stack.
pub(crate) fn waves<'a>(
    nodes: impl Iterator<Item = (&'a str, Vec<&'a str>)>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let nodes: BTreeMap<&str, BTreeSet<&str>> = nodes
        .map(|(n, deps)| (n, deps.into_iter().collect()))
        .collect();
    let mut pending: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, deps) in &nodes {
        let known: Vec<&str> = deps
            .iter()
            .copied()
            .filter(|d| nodes.contains_key(d))
            .collect();
        pending.insert(n, known.len());
        for d in known {
            dependents.entry(d).or_default().push(n);
        }
    }
    let mut wave: Vec<&str> = pending
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while !wave.is_empty() {
        let mut next = BTreeSet::new();
        for n in &wave {
            for d in dependents.get(n).into_iter().flatten() {
                if let Some(count) = pending.get_mut(d) {
                    *count -= 1;
                    if *count == 0 {
                        next.insert(*d);
                    }
                }
            }
        }
        order.append(&mut wave);
        wave = next.into_iter().collect();
    }
    let placed: BTreeSet<&str> = order.iter().copied().collect();
    let rest = nodes
        .keys()
        .copied()
        .filter(|n| !placed.contains(n))
        .collect();
    (order, rest)
}

/// `PROJECT-SERVICE-INDEX`.
pub(crate) fn replica_name(project: &str, service: &str, index: u32) -> String {
    format!("{project}-{service}-{index}")
}

/// User labels of a request: everything but Compose's own.
pub(crate) fn user_labels(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| !k.starts_with(labels::RESERVED_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

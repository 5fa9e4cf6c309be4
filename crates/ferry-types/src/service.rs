//! Services: a named set of replicas (sandboxes the daemon keeps running), reachable through a
//! virtual IP per network (VIP mode) or by DNS round robin (dnsrr mode), with ports published
//! on every host address (the routing mesh). The model, the API bodies and the parsing of
//! `--publish published=P,target=T,...` live here; placement and load balancing do not.

use crate::error::FerryError;
use crate::ports::Proto;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type Result<T> = std::result::Result<T, FerryError>;

/// How clients reach a service's replicas.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    /// One virtual IP per network, load-balanced over the replicas by the kernel.
    #[default]
    Vip,
    /// The service name answers every replica's address, in shuffled order.
    Dnsrr,
}

impl EndpointMode {
    /// Parses `vip` or `dnsrr`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "vip" => Ok(EndpointMode::Vip),
            "dnsrr" => Ok(EndpointMode::Dnsrr),
            _ => Err(FerryError::invalid(format!(
                "invalid endpoint mode {s:?}: expected vip or dnsrr"
            ))),
        }
    }
    /// `vip` or `dnsrr`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointMode::Vip => "vip",
            EndpointMode::Dnsrr => "dnsrr",
        }
    }
}

/// Where a published service port listens.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    /// The routing mesh: every host address, balanced over all replicas. Clients from other
    /// hosts keep their source address (only hairpin and loopback clients are masqueraded).
    #[default]
    Ingress,
    /// Published by each replica itself, as `-p` does: one replica per host port.
    Host,
}

impl PublishMode {
    /// `ingress` or `host`, as written in `--publish` and compose files.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishMode::Ingress => "ingress",
            PublishMode::Host => "host",
        }
    }
}

/// One published port of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    /// Port on the host.
    pub published: u16,
    /// Port the replicas listen on.
    pub target: u16,
    /// Protocol.
    pub proto: Proto,
    /// Routing mesh or per-replica.
    pub mode: PublishMode,
}

impl ServicePort {
    /// `published:target/proto`, as `service ls` shows it.
    pub fn describe(&self) -> String {
        format!(
            "*:{}->{}/{}",
            self.published,
            self.target,
            self.proto.as_str()
        )
    }
}

/// Parses one `--publish` value: the long form `published=P,target=T[,protocol=udp]
/// [,mode=ingress|host]` or the short form `P:T[/proto]`.
pub fn parse_service_port(spec: &str) -> Result<ServicePort> {
    let bad = |why: &str| {
        FerryError::invalid(format!(
            "invalid --publish {spec:?}: {why}; expected published=P,target=T[,protocol=tcp|udp][,mode=ingress|host] or P:T[/udp]"
        ))
    };
    let port = |what: &str, v: &str| -> Result<u16> {
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(bad(&format!("{what} {v:?} is not a port number (1-65535)"))),
        }
    };
    if !spec.contains('=') {
        let (ports, proto) = match spec.split_once('/') {
            Some((p, proto)) => (p, Proto::parse(proto)?),
            None => (spec, Proto::Tcp),
        };
        let (published, target) = ports
            .split_once(':')
            .ok_or_else(|| bad("both ports are needed"))?;
        return Ok(ServicePort {
            published: port("published port", published)?,
            target: port("target port", target)?,
            proto,
            mode: PublishMode::Ingress,
        });
    }
    let (mut published, mut target, mut proto, mut mode) = (None, None, Proto::Tcp, None);
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| bad(&format!("{field:?} is not KEY=VALUE")))?;
        match k.trim() {
            "published" => published = Some(port("published port", v)?),
            "target" => target = Some(port("target port", v)?),
            "protocol" => proto = Proto::parse(v)?,
            "mode" => {
                mode = Some(match v {
                    "ingress" => PublishMode::Ingress,
                    "host" => PublishMode::Host,
                    _ => return Err(bad(&format!("mode {v:?} is not ingress or host"))),
                })
            }
            other => return Err(bad(&format!("unknown key {other:?}"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is missing"))?;
    Ok(ServicePort {
        published: published.ok_or_else(|| bad("published is missing"))?,
        target,
        proto,
        mode: mode.unwrap_or_default(),
    })
}

/// A service network: which network, and the extra names the service has there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// Network ID.
    pub network_id: crate::ids::NetworkId,
    /// Extra DNS names of the service on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The virtual IP a service has on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceVip {
    /// Network ID.
    pub network_id: crate::ids::NetworkId,
    /// The address, with the network's prefix length.
    pub addr: IpNet,
}

/// What a service is asked to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// How many replicas run.
    pub replicas: u32,
    /// Networks, in order (the first carries the default route).
    pub networks: Vec<ServiceNetwork>,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// VIP or DNS round robin.
    #[serde(default)]
    pub endpoint_mode: EndpointMode,
    /// Replicas are named `PREFIX-SLOT` (compose's style) instead of `NAME.SLOT`.
    #[serde(default)]
    pub replica_prefix: Option<String>,
    /// Replicated (a count) or global (one per eligible node): swarm services.
    #[serde(default)]
    pub mode: crate::placement::ServiceMode,
    /// Where replicas may run: swarm services.
    #[serde(default)]
    pub placement: crate::placement::Placement,
    /// How an update replaces replicas: swarm services.
    #[serde(default)]
    pub update: UpdateConfig,
    /// What every replica runs, and how.
    #[serde(flatten)]
    pub template: ReplicaTemplate,
}

/// How an update of a swarm service replaces its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateConfig {
    /// How many replicas are replaced at once (0: all); Docker's default is 1.
    pub parallelism: u32,
    /// Milliseconds between two batches.
    pub delay_ms: u64,
    /// Whether a replica's old task stops before its new one starts.
    pub order: UpdateOrder,
    /// What a failed batch does to the update.
    pub failure_action: FailureAction,
    /// How long a new replica must run before its batch counts as a success, milliseconds
    /// (Docker's monitor period, 5 s by default).
    pub monitor_ms: u64,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay_ms: 0,
            order: UpdateOrder::StopFirst,
            failure_action: FailureAction::Pause,
            monitor_ms: 5000,
        }
    }
}

/// Changes to an [`UpdateConfig`]: only what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateConfigChange {
    /// Replicas replaced at once (0: all).
    pub parallelism: Option<u32>,
    /// Milliseconds between batches.
    pub delay_ms: Option<u64>,
    /// Stop-first or start-first.
    pub order: Option<UpdateOrder>,
    /// What a failed batch does.
    pub failure_action: Option<FailureAction>,
    /// How long a new replica must run, milliseconds.
    pub monitor_ms: Option<u64>,
}

impl UpdateConfigChange {
    /// `base` with the changes.
    pub fn apply(&self, base: &UpdateConfig) -> UpdateConfig {
        UpdateConfig {
            parallelism: self.parallelism.unwrap_or(base.parallelism),
            delay_ms: self.delay_ms.unwrap_or(base.delay_ms),
            order: self.order.unwrap_or(base.order),
            failure_action: self.failure_action.unwrap_or(base.failure_action),
            monitor_ms: self.monitor_ms.unwrap_or(base.monitor_ms),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UpdateConfigChange::default()
    }
}

/// `--update-order`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// The old replica stops, then the new one starts (Docker's default).
    #[default]
    StopFirst,
    /// The new replica starts, then the old one stops.
    StartFirst,
}

impl UpdateOrder {
    /// Parses Docker's names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "stop-first" => Ok(UpdateOrder::StopFirst),
            "start-first" => Ok(UpdateOrder::StartFirst),
            other => Err(FerryError::invalid(format!(
                "invalid update order {other:?}: use stop-first or start-first"
            ))),
        }
    }
}

/// `--update-failure-action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    /// The update stops where it is; the replicas not yet replaced keep the old spec.
    #[default]
    Pause,
    /// The update goes on with the next batch.
    Continue,
    /// The service goes back to its previous spec.
    Rollback,
}

impl FailureAction {
    /// Parses Docker's names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pause" => Ok(FailureAction::Pause),
            "continue" => Ok(FailureAction::Continue),
            "rollback" => Ok(FailureAction::Rollback),
            other => Err(FerryError::invalid(format!(
                "invalid update failure action {other:?}: use pause, continue or rollback"
            ))),
        }
    }
}

/// Where a swarm service's last update stands (Docker's `UpdateStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_completed`.
    pub state: String,
    /// Why, when it paused or rolled back.
    #[serde(default)]
    pub message: String,
}

/// What every replica of a service runs, and how: the part of a sandbox's create request a
/// service fills in for each replica. The same type in the API request (`Cmd`, `Env`, ...)
/// and in the store (which also reads the snake_case keys records were once written with).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReplicaTemplate {
    /// Program and arguments.
    #[serde(default, alias = "cmd")]
    pub cmd: Vec<String>,
    /// Environment, `KEY=VALUE`.
    #[serde(default, alias = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(default, alias = "working_dir")]
    pub working_dir: String,
    /// Host name (empty: the replica's short ID).
    #[serde(default, alias = "hostname")]
    pub hostname: String,
    /// Directory the program runs chrooted in (empty: the host's root).
    #[serde(default, alias = "rootfs")]
    pub rootfs: String,
    /// DNS servers.
    #[serde(default, alias = "dns")]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[serde(default, alias = "dns_search")]
    pub dns_search: Vec<String>,
    /// resolv.conf options.
    #[serde(default, alias = "dns_options")]
    pub dns_options: Vec<String>,
    /// `--add-host` entries.
    #[serde(default, alias = "extra_hosts")]
    pub extra_hosts: Vec<String>,
    /// `--link` entries.
    #[serde(default, alias = "links")]
    pub links: Vec<String>,
    /// Labels of the service, which its replicas carry too.
    #[serde(default, alias = "labels")]
    pub labels: BTreeMap<String, String>,
    /// Ports every replica publishes itself (Docker's `PortBindings`), besides the service's
    /// published ports: a host range gives each replica a free port of it.
    #[serde(default, alias = "replica_ports")]
    pub replica_ports: crate::ports::PortBindings,
    /// How every replica is confined.
    #[serde(default, alias = "security")]
    pub security: crate::security::SecurityRequest,
}

impl ReplicaTemplate {
    /// The template of a sandbox create request: its program, environment, names, DNS,
    /// hosts, links and labels (not its name, networks or ports).
    pub fn of_sandbox(req: &crate::api::SandboxCreateRequest) -> Self {
        ReplicaTemplate {
            cmd: req.cmd.clone(),
            env: req.env.clone(),
            working_dir: req.working_dir.clone(),
            hostname: req.hostname.clone(),
            rootfs: req.rootfs.clone(),
            dns: req.dns.clone(),
            dns_search: req.dns_search.clone(),
            dns_options: req.dns_options.clone(),
            extra_hosts: req.extra_hosts.clone(),
            links: req.links.clone(),
            labels: req.labels.clone(),
            replica_ports: Default::default(),
            security: req.security.clone(),
        }
    }

    /// A sandbox create request named `name` with this template (no networks or ports yet).
    pub fn sandbox_request(&self, name: String) -> crate::api::SandboxCreateRequest {
        crate::api::SandboxCreateRequest {
            name,
            cmd: self.cmd.clone(),
            env: self.env.clone(),
            working_dir: self.working_dir.clone(),
            hostname: self.hostname.clone(),
            rootfs: self.rootfs.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_options.clone(),
            extra_hosts: self.extra_hosts.clone(),
            links: self.links.clone(),
            labels: self.labels.clone(),
            security: self.security.clone(),
            ..Default::default()
        }
    }
}

/// A service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// When it was made.
    pub created: crate::time::Timestamp,
    /// When it last changed.
    pub updated: crate::time::Timestamp,
    /// Bumped by every change.
    pub version: u64,
    /// What it is asked to be.
    pub spec: ServiceSpec,
    /// Its virtual IPs (VIP mode).
    #[serde(default)]
    pub vips: Vec<ServiceVip>,
    /// `service rm` has begun: nothing changes it any more, and a daemon that died before
    /// the removal ended finishes it when it starts again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removing: bool,
    /// A swarm service's part on this node (`None`: a service of this host alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmTasks>,
    /// The spec before the last update, for `--rollback` (swarm services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<Box<ServiceSpec>>,
    /// Where the last update stands (swarm services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatus>,
}

/// The tasks of a swarm service that the swarm's leader placed on this node: slot to task ID.
/// In the cluster's record it is empty; each node's copy holds its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmTasks {
    /// Slot → task ID, for the tasks this node must run.
    #[serde(default)]
    pub here: BTreeMap<u32, String>,
    /// Task ID → slot, for the older tasks placed here whose slot here has a newer task: an
    /// update that starts the new task first keeps them running (and balanced) until the
    /// leader shuts them down; they are not restarted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outgoing: BTreeMap<String, u32>,
    /// The service version that last changed what replicas run (the template, ports,
    /// networks): tasks of an older one are replaced. A replica count changes none.
    #[serde(default)]
    pub template_version: u64,
}

impl Service {
    /// The name of the replica in `slot` (1-based).
    pub fn replica_name(&self, slot: u32) -> String {
        match &self.spec.replica_prefix {
            Some(p) => format!("{p}-{slot}"),
            None => format!("{}.{slot}", self.name),
        }
    }
    /// The slots whose replicas run on this host: every slot of a local service, the slots
    /// placed here of a swarm service.
    pub fn slots_here(&self) -> Vec<u32> {
        match &self.swarm {
            Some(t) => t.here.keys().copied().collect(),
            None => (1..=self.spec.replicas).collect(),
        }
    }

    /// Whether this host wants the replica `r` of the service: a local service wants its
    /// slots up to the count, a swarm service the task placed here in that slot.
    pub fn wants(&self, r: &ReplicaOf) -> bool {
        match &self.swarm {
            Some(t) => {
                self.is_current(r)
                    || r.task
                        .as_ref()
                        .is_some_and(|id| t.outgoing.get(id) == Some(&r.slot))
            }
            None => r.slot >= 1 && r.slot <= self.spec.replicas,
        }
    }

    /// Whether `r` is the replica this host keeps running in its slot: as [`Service::wants`],
    /// less a swarm task's outgoing replicas (wanted until they stop, never restarted).
    pub fn is_current(&self, r: &ReplicaOf) -> bool {
        match &self.swarm {
            Some(t) => r.task.is_some() && t.here.get(&r.slot) == r.task.as_ref(),
            None => r.slot >= 1 && r.slot <= self.spec.replicas,
        }
    }

    /// The name of a swarm task's replica: `NAME.SLOT.TASK`, as Docker names a task's
    /// container (its slot alone would clash while an update starts the new task first).
    pub fn task_replica_name(&self, slot: u32, task: &str) -> String {
        format!("{}.{slot}.{task}", self.name)
    }

    /// Its VIP on a network, if it has one there.
    pub fn vip_on(&self, network_id: &str) -> Option<IpNet> {
        self.vips
            .iter()
            .find(|v| v.network_id == network_id)
            .map(|v| v.addr)
    }
}

/// Which service a replica sandbox belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaOf {
    /// The service's ID.
    pub service: String,
    /// The replica's slot, from 1.
    pub slot: u32,
    /// The swarm task it runs (swarm services only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// `POST /services/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCreateRequest {
    /// Unique name.
    pub name: String,
    /// Replicas (1 when absent).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Networks (names or IDs), with aliases.
    #[serde(default)]
    pub networks: Vec<crate::api::NetworkRequest>,
    /// Published ports, `--publish` syntax.
    #[serde(default)]
    pub ports: Vec<String>,
    /// `vip` (default) or `dnsrr`.
    #[serde(default)]
    pub endpoint_mode: String,
    /// Compose-style replica names (`PREFIX-SLOT`).
    #[serde(default)]
    pub replica_prefix: Option<String>,
    /// `replicated` (default) or `global` (swarm services).
    #[serde(default)]
    pub mode: crate::placement::ServiceMode,
    /// Constraints, preferences, replicas per node (swarm services).
    #[serde(default)]
    pub placement: crate::placement::Placement,
    /// How updates roll out (swarm services).
    #[serde(default)]
    pub update: UpdateConfig,
    /// What every replica runs, and how (its keys sit beside the others: `Cmd`, `Env`, ...).
    #[serde(flatten)]
    pub template: ReplicaTemplate,
    /// Keys neither this request nor its template knows; [`ServiceCreateRequest::check_keys`]
    /// refuses them (serde cannot, beside a flattened template).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl ServiceCreateRequest {
    /// Refuses a request with a key the API does not know, naming it, as the other requests'
    /// `deny_unknown_fields` do.
    pub fn check_keys(&self) -> crate::error::Result<()> {
        match self.unknown.keys().next() {
            Some(k) => Err(crate::error::FerryError::invalid(format!(
                "invalid request body: unknown field `{k}`"
            ))),
            None => Ok(()),
        }
    }
}

/// `POST /services/{id}/update`: only what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ServiceUpdateRequest {
    /// New replica count.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Ports to publish, `--publish` syntax.
    #[serde(default)]
    pub publish_add: Vec<String>,
    /// Published ports to remove: `P`, `P/udp` or a whole `--publish` value.
    #[serde(default)]
    pub publish_rm: Vec<String>,
    /// Environment variables to set, `KEY=VALUE` (swarm services).
    #[serde(default)]
    pub env_add: Vec<String>,
    /// Environment variables to remove, by name (swarm services).
    #[serde(default)]
    pub env_rm: Vec<String>,
    /// New arguments of the program (the command's first word stays) (swarm services).
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Constraints to add (swarm services).
    #[serde(default)]
    pub constraint_add: Vec<String>,
    /// Constraints to remove, as written (swarm services).
    #[serde(default)]
    pub constraint_rm: Vec<String>,
    /// Placement preferences to add, `spread=node.labels.K` (swarm services).
    #[serde(default)]
    pub placement_pref_add: Vec<String>,
    /// Placement preferences to remove (swarm services).
    #[serde(default)]
    pub placement_pref_rm: Vec<String>,
    /// A new per-node limit, 0 for none (swarm services).
    #[serde(default)]
    pub replicas_max_per_node: Option<u32>,
    /// Networks to attach the replicas to, `NAME` (swarm services).
    #[serde(default)]
    pub network_add: Vec<crate::api::NetworkRequest>,
    /// Networks to detach them from (swarm services).
    #[serde(default)]
    pub network_rm: Vec<String>,
    /// Changes to how updates roll out; what is absent stays (swarm services).
    #[serde(default)]
    pub update_config: Option<UpdateConfigChange>,
    /// Go back to the spec before the last update (swarm services).
    #[serde(default)]
    pub rollback: bool,
    /// Replace every replica even when nothing changed (swarm services).
    #[serde(default)]
    pub force: bool,
}

impl ServiceUpdateRequest {
    /// Whether it changes more than a local service can (its replica count and ports).
    pub fn needs_swarm(&self) -> bool {
        !(self.env_add.is_empty()
            && self.env_rm.is_empty()
            && self.args.is_none()
            && self.constraint_add.is_empty()
            && self.constraint_rm.is_empty()
            && self.placement_pref_add.is_empty()
            && self.placement_pref_rm.is_empty()
            && self.replicas_max_per_node.is_none()
            && self.network_add.is_empty()
            && self.network_rm.is_empty()
            && self.update_config.is_none()
            && !self.rollback
            && !self.force)
    }
}

/// `service inspect` and `service ls`, in the shape of Docker's service object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceView {
    /// ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `{"Index": N}`.
    pub version: ServiceVersion,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// What it is asked to be.
    pub spec: ServiceSpecView,
    /// Where it is reachable.
    pub endpoint: EndpointView,
    /// Running and desired replicas.
    pub service_status: ServiceStatus,
    /// Where the last update stands (swarm services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatusView>,
}

/// Docker's `UpdateStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStatusView {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_completed`.
    pub state: String,
    /// Why.
    pub message: String,
}

/// Docker's `Version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceVersion {
    /// Bumped by every change.
    pub index: u64,
}

/// Docker's service `Spec`, the parts ferry has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSpecView {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `{"ContainerSpec": {"Command": [...], "Env": [...]}}`.
    pub task_template: serde_json::Value,
    /// `{"Replicated": {"Replicas": N}}`.
    pub mode: serde_json::Value,
    /// Networks: `[{"Target": NAME, "Aliases": [...]}]`.
    pub task_networks: Vec<serde_json::Value>,
    /// Endpoint mode and ports.
    pub endpoint_spec: EndpointSpecView,
    /// How updates roll out (Docker's `UpdateConfig`: `Parallelism`, `Delay` and `Monitor`
    /// in nanoseconds, `FailureAction`, `Order`).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub update_config: serde_json::Value,
}

/// Docker's `EndpointSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSpecView {
    /// `vip` or `dnsrr`.
    pub mode: String,
    /// Published ports.
    pub ports: Vec<PortView>,
}

/// One published port, as Docker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortView {
    /// tcp, udp or sctp.
    pub protocol: String,
    /// Port the replicas listen on.
    pub target_port: u16,
    /// Port on the host.
    pub published_port: u16,
    /// ingress or host.
    pub publish_mode: String,
}

/// Docker's service `Endpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointView {
    /// Published ports.
    pub ports: Vec<PortView>,
    /// One VIP per network (VIP mode).
    #[serde(rename = "VirtualIPs")]
    pub virtual_ips: Vec<VipView>,
}

/// A VIP, as Docker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VipView {
    /// Network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The network's name.
    pub network_name: String,
    /// `address/prefix`.
    pub addr: String,
}

/// Running and desired replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceStatus {
    /// Replicas running now.
    pub running_tasks: u32,
    /// Replicas asked for.
    pub desired_tasks: u32,
}

/// One replica, as `service ps` shows it (Docker's task, simplified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskView {
    /// The replica sandbox's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The replica's name.
    pub name: String,
    /// The service's ID.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    /// Its slot.
    pub slot: u32,
    /// Running, or Shutdown for a replica being removed.
    pub desired_state: String,
    /// created, running or exited.
    pub state: String,
    /// Why its last start failed, if it did.
    pub error: String,
    /// Exit code of its last run.
    pub exit_code: Option<i32>,
    /// Its addresses.
    pub addresses: Vec<String>,
    /// The node it is placed on (swarm services): its hostname.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The node's ID (swarm services).
    #[serde(rename = "NodeID", default, skip_serializing_if = "String::is_empty")]
    pub node_id: String,
    /// When the task was made (RFC 3339; swarm services).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// The replica sandbox's ID on its node (swarm services, once the node reports it).
    #[serde(
        rename = "SandboxID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub sandbox_id: String,
}

/// The largest replica count one service may ask for on one host.
pub const MAX_REPLICAS: u32 = 1000;

/// Checks a replica count.
pub fn replicas(n: u32) -> Result<u32> {
    if n > MAX_REPLICAS {
        return Err(FerryError::invalid(format!(
            "{n} replicas is more than the {MAX_REPLICAS} one service may have on a host"
        )));
    }
    Ok(n)
}

/// Parses `--publish-rm` values: which (port, proto) pairs to remove.
pub fn parse_publish_rm(spec: &str) -> Result<(u16, Proto)> {
    if spec.contains('=') || spec.contains(':') {
        let p = parse_service_port(spec)?;
        return Ok((p.published, p.proto));
    }
    let (port, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, Proto::parse(proto)?),
        None => (spec, Proto::Tcp),
    };
    let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        FerryError::invalid(format!(
            "invalid --publish-rm {spec:?}: expected a published port, e.g. 8080 or 53/udp"
        ))
    })?;
    Ok((port, proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_publish_forms() {
        let p = parse_service_port("published=8080,target=80").unwrap();
        assert_eq!((p.published, p.target, p.proto), (8080, 80, Proto::Tcp));
        assert_eq!(p.mode, PublishMode::Ingress);
        let p = parse_service_port("published=53,target=5353,protocol=udp,mode=host").unwrap();
        assert_eq!((p.proto, p.mode), (Proto::Udp, PublishMode::Host));
        let p = parse_service_port("8080:80/udp").unwrap();
        assert_eq!((p.published, p.target, p.proto), (8080, 80, Proto::Udp));
        assert_eq!(p.describe(), "*:8080->80/udp");
    }

    #[test]
    fn bad_publish_values_say_what_is_wrong() {
        for (spec, why) in [
            ("published=8080", "target is missing"),
            ("target=80", "published is missing"),
            ("published=0,target=80", "not a port number"),
            ("published=8080,target=80,mode=bridge", "mode \"bridge\""),
            ("published=8080,target=80,colour=red", "unknown key"),
            ("8080", "both ports are needed"),
            ("x:80", "not a port number"),
        ] {
            let e = parse_service_port(spec).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
        assert!(parse_service_port("1:2/icmp").is_err());
    }

    #[test]
    fn publish_rm_and_replica_names() {
        assert_eq!(parse_publish_rm("8080").unwrap(), (8080, Proto::Tcp));
        assert_eq!(parse_publish_rm("53/udp").unwrap(), (53, Proto::Udp));
        assert_eq!(parse_publish_rm("8080:80").unwrap(), (8080, Proto::Tcp));
        assert!(parse_publish_rm("web").is_err());
        assert!(replicas(MAX_REPLICAS + 1).is_err());
        let mut s = Service {
            id: "a".repeat(64),
            name: "web".into(),
            created: Default::default(),
            updated: Default::default(),
            version: 1,
            spec: ServiceSpec {
                replicas: 2,
                networks: vec![],
                ports: vec![],
                endpoint_mode: EndpointMode::Vip,
                template: ReplicaTemplate {
                    cmd: vec!["sleep".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            vips: vec![],
            removing: false,
            swarm: None,
            previous_spec: None,
            update_status: None,
        };
        assert_eq!(s.replica_name(2), "web.2");
        s.spec.replica_prefix = Some("proj-web".into());
        assert_eq!(s.replica_name(2), "proj-web-2");
    }

    #[test]
    fn create_requests_take_the_template_beside_their_keys_and_refuse_unknown_ones() {
        let r: ServiceCreateRequest = serde_json::from_str(
            r#"{"Name":"web","Replicas":2,"Cmd":["sleep","9"],"Env":["A=1"]}"#,
        )
        .unwrap();
        assert_eq!(r.replicas, Some(2));
        assert_eq!(r.template.cmd, ["sleep", "9"]);
        assert_eq!(r.template.env, ["A=1"]);
        assert!(r.check_keys().is_ok());
        let bogus: ServiceCreateRequest =
            serde_json::from_str(r#"{"Name":"web","Bogus":1}"#).unwrap();
        let e = bogus.check_keys().unwrap_err().to_string();
        assert!(e.contains("unknown field `Bogus`"), "{e}");
    }

    #[test]
    fn a_template_round_trips_through_a_sandbox_request() {
        let t = ReplicaTemplate {
            cmd: vec!["sleep".into(), "9".into()],
            env: vec!["A=1".into()],
            working_dir: "/w".into(),
            hostname: "h".into(),
            rootfs: "/r".into(),
            dns: vec!["10.0.0.53".into()],
            dns_search: vec!["example.test".into()],
            dns_options: vec!["ndots:1".into()],
            extra_hosts: vec!["db:10.0.0.9".into()],
            links: vec!["db".into()],
            labels: BTreeMap::from([("k".to_string(), "v".to_string())]),
            replica_ports: Default::default(),
            security: crate::security::SecurityRequest {
                cap_add: vec!["NET_ADMIN".into()],
                user: "1000".into(),
                ..Default::default()
            },
        };
        let req = t.sandbox_request("web.1".into());
        assert_eq!(req.name, "web.1");
        assert_eq!(ReplicaTemplate::of_sandbox(&req), t);
    }

    #[test]
    fn stored_specs_of_either_spelling_load() {
        let old = r#"{"replicas":1,"networks":[],"cmd":["sleep"],"working_dir":"/w","replica_prefix":"p"}"#;
        let s: ServiceSpec = serde_json::from_str(old).unwrap();
        assert_eq!(s.template.cmd, ["sleep"]);
        assert_eq!(s.template.working_dir, "/w");
        assert_eq!(s.replica_prefix.as_deref(), Some("p"));
        let again: ServiceSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }
}

//! Services: the controller keeps each service's replicas running (restarting a replica whose
//! process ends, with backoff), gives the service a virtual IP on each of its networks, names
//! it in DNS, and keeps the kernel's load-balancer maps equal to the set of live replicas.
//!
//! Placement is separate from the local driver: `desired_slots` says which replicas should
//! exist, `converge` makes them exist on this host, and the load balancer only ever reads
//! which replicas run and where. A multi-host placement can replace `converge` and keep the
//! rest.

use super::{store_err, Controller};
use crate::resolver::Entry;
use crate::state::State;
use crate::views::{DesiredState, NetworkRef, ServiceState, Task};
use ferry_firewall::{Changes, LbEntry};
use ferry_kernel::port_reservation;
use ferry_store::{Op, Table};
use ferry_types::api::{CreateResponse, NetworkRequest, SandboxCreateRequest};
use ferry_types::ports::Proto;
use ferry_types::service::{
    self as svc, EndpointMode, PublishMode, ReplicaOf, Service, ServiceCreateRequest,
    ServiceNetwork, ServicePort, ServiceSpec, ServiceUpdateRequest, ServiceVip,
};
use ferry_types::{validate, ErrorKind, FerryError, Sandbox, SandboxId};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// The first delay before a crashed replica is started again; it doubles with each crash in
/// a row, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest delay between restarts of a replica that keeps crashing.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A replica that ran this long before it ended starts its backoff afresh.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// How long a node waits at most for the cluster's store to take its endpoints before it
/// stops a swarm replica that leaves the balancers.
const PUBLISH_LIMIT: Duration = Duration::from_secs(2);

/// How long the other nodes get to apply a replica's unmarked record (their watches'
/// latency, and their own work on a busy host) before it stops.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// How long to wait before restarting a replica that ended `crashes` times in a row.
pub(crate) fn backoff(crashes: u32) -> Duration {
    let factor = 1u32
        .checked_shl(crashes.saturating_sub(1))
        .unwrap_or(u32::MAX);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// The restart history of one replica slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Restarts {
    crashes: u32,
    last_start: Instant,
}

/// The key of a service's DNS entry for its VIP in the resolver's directory.
fn vip_entry_key(service_id: &str) -> String {
    format!("service:{service_id}")
}

/// The host-port table's owner key of a service's mesh ports.
fn mesh_owner(service_id: &str) -> String {
    format!("service:{service_id}")
}

/// Refuses replica-published ports that cannot serve `replicas` replicas: each replica binds
/// its own host port, so a host range needs a port per replica.
fn check_replica_ports(
    bindings: &ferry_types::ports::PortBindings,
    replicas: u32,
) -> Result<(), FerryError> {
    let ports = ferry_types::ports::from_bindings(bindings)?;
    match ports
        .iter()
        .find(|p| p.host_ports.is_some_and(|r| r.len() < replicas))
    {
        Some(p) => Err(FerryError::invalid(format!(
            "{} replicas cannot each publish port {}/{} on host ports {}: give a host range with a port per replica, or publish it through the service (--publish)",
            replicas,
            p.container.port,
            p.container.proto.as_str(),
            p.host_ports.map(|r| r.to_string()).unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// Refuses a service request without a program.
pub(crate) fn check_command(template: &svc::ReplicaTemplate) -> Result<(), FerryError> {
    if template.cmd.first().is_none_or(|c| c.is_empty()) {
        return Err(FerryError::invalid(
            "no command given: put the program after --, e.g. ferry service create --name web -- sleep 600",
        ));
    }
    Ok(())
}

/// A request's endpoint mode (`vip` when it names none).
pub(crate) fn endpoint_mode(s: &str) -> Result<EndpointMode, FerryError> {
    if s.is_empty() {
        Ok(EndpointMode::Vip)
    } else {
        EndpointMode::parse(s)
    }
}

/// Checks the replicas' settings now, not at their first start.
pub(crate) fn check_template(template: &svc::ReplicaTemplate) -> Result<(), FerryError> {
    validate::sandbox_request(&template.sandbox_request(String::new()))?;
    for h in &template.extra_hosts {
        validate::extra_host(h)?;
    }
    for d in &template.dns {
        validate::ip("--dns server", d)?;
    }
    Ok(())
}

/// One of a service's networks, as a request names it: not twice, aliases valid (and only on
/// user-defined networks), no static address.
pub(crate) fn service_network(
    taken: &[ServiceNetwork],
    net: &ferry_types::Network,
    r: &NetworkRequest,
) -> Result<ServiceNetwork, FerryError> {
    if taken.iter().any(|n| n.network_id == net.id) {
        return Err(FerryError::invalid(format!(
            "network {} is given twice",
            net.name
        )));
    }
    if !r.aliases.is_empty() && net.builtin {
        return Err(FerryError::invalid(format!(
            "network-scoped aliases are supported only on user-defined networks, not on {}",
            net.name
        )));
    }
    for a in &r.aliases {
        validate::alias(a)?;
    }
    if r.ipv4_address.is_some() || r.ipv6_address.is_some() || r.mac_address.is_some() {
        return Err(FerryError::invalid(
            "a service's replicas get their addresses from the network: no static address or MAC",
        ));
    }
    Ok(ServiceNetwork {
        network_id: net.id.clone(),
        aliases: r.aliases.clone(),
    })
}

fn v4(a: IpNet) -> Option<Ipv4Addr> {
    match a.addr() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// Why no service wants a replica sandbox any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unwanted {
    /// Its service's record is gone.
    ServiceGone,
    /// Its service is being removed.
    ServiceRemoving,
    /// Its slot is above the service's replica count.
    SlotNotWanted,
    /// Another sandbox holds its slot.
    SlotTaken,
}

impl Unwanted {
    fn as_str(self) -> &'static str {
        match self {
            Unwanted::ServiceGone => "its service no longer exists",
            Unwanted::ServiceRemoving => "its service is being removed",
            Unwanted::SlotNotWanted => {
                "its slot is above the replica count, or its task is no longer placed here"
            }
            Unwanted::SlotTaken => "another replica holds its slot",
        }
    }
}

/// The replica sandboxes that no spec wants, by name: of a service that is gone or being
/// removed, in a slot above the count, or in a slot another replica holds. Only `service`'s
/// when one is given. After a crash in a scale-down or `service rm` they still run; at any
/// time they are what `converge` removes.
pub(crate) fn unwanted_replicas<'a>(
    st: &'a State,
    service: Option<&str>,
) -> Vec<(&'a Sandbox, Unwanted)> {
    let mut out: Vec<(&Sandbox, Unwanted)> = st
        .sandboxes()
        .filter_map(|sb| {
            let r = sb.config.replica_of.as_ref()?;
            if service.is_some_and(|s| s != r.service) {
                return None;
            }
            let why = match st.service(&r.service) {
                None => Unwanted::ServiceGone,
                Some(s) if s.removing => Unwanted::ServiceRemoving,
                Some(s) if !s.wants(r) => Unwanted::SlotNotWanted,
                // A swarm task's replica is wanted by its task, whatever holds the slot.
                Some(s) if s.swarm.is_some() => return None,
                Some(_) => {
                    let holder = st
                        .replicas(&r.service)
                        .find(|(slot, _)| *slot == r.slot)
                        .map(|(_, h)| h.id.as_str());
                    if holder == Some(sb.id.as_str()) {
                        return None;
                    }
                    Unwanted::SlotTaken
                }
            };
            Some((sb, why))
        })
        .collect();
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    out
}

impl Controller {
    /// `service create`: records the service, gives it its VIPs and mesh ports, then starts
    /// its replicas.
    pub async fn create_service(
        &self,
        req: ServiceCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        if self.in_swarm() {
            return self.create_swarm_service(req).await;
        }
        let id = {
            let mut st = self.lock().await;
            self.create_service_locked(&mut st, req).await?
        };
        self.converge(&id).await;
        Ok(CreateResponse {
            id,
            warning: String::new(),
        })
    }

    async fn create_service_locked(
        &self,
        st: &mut State,
        req: ServiceCreateRequest,
    ) -> Result<String, FerryError> {
        req.check_keys()?;
        validate::object_name("service", &req.name)?;
        if req.mode != ferry_types::placement::ServiceMode::Replicated
            || req.placement != ferry_types::placement::Placement::default()
        {
            return Err(FerryError::invalid(
                "--mode global, --constraint, --placement-pref and --replicas-max-per-node place replicas on the nodes of a swarm, and this host is not in one: run ferry swarm init first",
            ));
        }
        if st.service_name_taken(&req.name) {
            return Err(FerryError::conflict(format!(
                "a service named {} already exists; remove it or choose another name",
                req.name
            )));
        }
        check_command(&req.template)?;
        let replicas = svc::replicas(req.replicas.unwrap_or(1))?;
        let endpoint_mode = endpoint_mode(&req.endpoint_mode)?;
        let ports = Self::service_ports(&req.ports, replicas)?;
        if !ports.is_empty() && !self.firewall.enabled() {
            return Err(FerryError::invalid(
                "cannot publish service ports: the daemon runs with firewall none, so nothing would carry the traffic",
            ));
        }
        let requests = if req.networks.is_empty() {
            vec![NetworkRequest {
                name: ferry_types::DEFAULT_BRIDGE.into(),
                ..Default::default()
            }]
        } else {
            req.networks.clone()
        };
        let mut networks: Vec<ServiceNetwork> = Vec::new();
        for r in &requests {
            let net = st.find_network(&r.name)?;
            if self.driver(net)?.vip_host().is_none() {
                return Err(FerryError::invalid(format!(
                    "a service cannot use network {}: its driver {} cannot carry a service's VIP; use a bridge network",
                    net.name, net.driver
                )));
            }
            networks.push(service_network(&networks, net, r)?);
        }
        check_template(&req.template)?;
        if let Some(p) = &req.replica_prefix {
            validate::object_name("replica prefix", p)?;
        }
        check_replica_ports(&req.template.replica_ports, replicas)?;
        let id: String = super::new_id();
        let now = ferry_types::time::Timestamp::now();
        let mut service = Service {
            id: id.clone(),
            name: req.name.clone(),
            created: now,
            updated: now,
            version: 1,
            spec: ServiceSpec {
                replicas,
                networks,
                ports: Vec::new(),
                endpoint_mode,
                replica_prefix: req.replica_prefix,
                mode: req.mode,
                placement: req.placement,
                update: req.update,
                template: req.template,
            },
            vips: Vec::new(),
            removing: false,
            swarm: None,
            previous_spec: None,
            update_status: None,
        };
        // VIPs come from each network's own addresses, as a sandbox's do.
        if endpoint_mode == EndpointMode::Vip {
            for n in service.spec.networks.clone() {
                match Self::allocate_vip(st, &n.network_id) {
                    Ok(addr) => service.vips.push(ServiceVip {
                        network_id: n.network_id.clone(),
                        addr,
                    }),
                    Err(e) => {
                        Self::release_vips(st, &service);
                        return Err(e);
                    }
                }
            }
        }
        // Mesh ports are held like a sandbox's published ports.
        if let Err(e) = self.hold_mesh_ports(st, &service, &ports) {
            Self::release_vips(st, &service);
            return Err(e);
        }
        service.spec.ports = ports;
        if let Err(e) = self.save(self.service_ops(st, &service)?).await {
            self.release_mesh_ports(st, &service.id);
            Self::release_vips(st, &service);
            return Err(e);
        }
        st.put_service(service.clone());
        if let Err(e) = self.plumb_service(st, &service).await {
            // Undo: the kernel objects, then the record.
            self.unplumb_service(st, &service).await;
            self.release_mesh_ports(st, &service.id);
            Self::release_vips(st, &service);
            st.remove_service(&service.id);
            let _ = self
                .save(vec![Op::delete(Table::Services, &service.id)])
                .await;
            return Err(e);
        }
        tracing::info!(service = %service.name, replicas, "service created");
        Ok(id)
    }

    /// Parses and checks a service's `--publish` values.
    fn service_ports(specs: &[String], replicas: u32) -> Result<Vec<ServicePort>, FerryError> {
        let mut ports: Vec<ServicePort> = Vec::new();
        for spec in specs {
            let p = svc::parse_service_port(spec)?;
            if ports
                .iter()
                .any(|o| o.published == p.published && o.proto == p.proto)
            {
                return Err(FerryError::invalid(format!(
                    "host port {}/{} is published twice",
                    p.published,
                    p.proto.as_str()
                )));
            }
            if p.mode == PublishMode::Host && replicas > 1 {
                return Err(FerryError::invalid(format!(
                    "mode=host publishes port {} on each replica, and only one can hold it on this host: use mode=ingress (the routing mesh) or one replica",
                    p.published
                )));
            }
            ports.push(p);
        }
        Ok(ports)
    }

    /// The next free address of a network for a VIP (IPv4: service VIPs are IPv4).
    pub(crate) fn allocate_vip(st: &mut State, network_id: &str) -> Result<IpNet, FerryError> {
        let allocs = st
            .ipam_mut(network_id)
            .ok_or_else(|| FerryError::internal("network has no address allocator"))?;
        let a = allocs
            .iter_mut()
            .find(|a| a.subnet().addr().is_ipv4())
            .ok_or_else(|| {
                FerryError::invalid("a service VIP needs a network with an IPv4 subnet")
            })?;
        let prefix = a.subnet().prefix_len();
        let ip = a.allocate().map_err(super::endpoints::ipam_err)?;
        IpNet::new(ip, prefix).map_err(|e| FerryError::internal(e.to_string()))
    }

    fn release_vips(st: &mut State, service: &Service) {
        for v in &service.vips {
            st.release_address(&v.network_id, v.addr.addr());
        }
    }

    /// Holds the routing-mesh ports of a service on every host address.
    pub(crate) fn hold_mesh_ports(
        &self,
        st: &mut State,
        service: &Service,
        ports: &[ServicePort],
    ) -> Result<(), FerryError> {
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let owner = mesh_owner(&service.id);
        let mut held = Vec::new();
        let mut taken = Vec::new();
        let undo = |st: &mut State, taken: &[(Proto, u16)]| {
            for (proto, port) in taken {
                st.ports.release_one(*proto, any, *port, &owner);
            }
        };
        for p in ports.iter().filter(|p| p.mode == PublishMode::Ingress) {
            if let Some(holder) = st.ports.holder(p.proto, any, p.published) {
                let holder = Self::port_owner(st, holder);
                undo(st, &taken);
                return Err(FerryError::conflict(format!(
                    "host port {}/{} is already published by {holder}; remove it or publish another port",
                    p.published,
                    p.proto.as_str()
                )));
            }
            match port_reservation::reserve(super::publish::socket_proto(p.proto), any, p.published)
            {
                Ok(r) => held.push(r),
                Err(port_reservation::ReserveError::Unsupported { .. }) => {}
                Err(e) => {
                    undo(st, &taken);
                    return Err(FerryError::conflict(e.to_string()));
                }
            }
            st.ports.take(p.proto, any, p.published, &owner);
            taken.push((p.proto, p.published));
        }
        if !held.is_empty() {
            if let Ok(mut h) = self.held_ports.lock() {
                h.entry(owner).or_default().extend(held);
            }
        }
        Ok(())
    }

    pub(crate) fn release_mesh_ports(&self, st: &mut State, service_id: &str) {
        self.unpublish(st, &mesh_owner(service_id));
    }

    /// Store operations for a service plus the IPAM cursors of its networks.
    fn service_ops(&self, st: &State, service: &Service) -> Result<Vec<Op>, FerryError> {
        let mut ops = vec![Op::put_json(Table::Services, &service.id, service).map_err(store_err)?];
        for n in &service.spec.networks {
            if let Some(net) = st.network(&n.network_id) {
                let mut net = net.clone();
                net.ipam_cursors = st.ipam_cursors(&n.network_id);
                ops.push(Op::put_json(Table::Networks, &net.id, &net).map_err(store_err)?);
            }
        }
        Ok(ops)
    }

    /// Puts a service's VIPs on their bridges, in the firewall and in DNS (idempotent).
    pub(crate) async fn plumb_service(
        &self,
        st: &mut State,
        service: &Service,
    ) -> Result<(), FerryError> {
        let mut changes = Changes::new();
        for v in &service.vips {
            let Some(net) = st.network(&v.network_id) else {
                continue;
            };
            if let Some(host) = self.driver(net)?.vip_host() {
                host.add_vip(net, v.addr.addr()).await?;
            }
            if let Some(a) = v4(v.addr) {
                changes.add_vip(a);
            }
        }
        self.firewall.apply(&changes)?;
        self.dns_add_service(st, service);
        self.lb_refresh(st, &service.id, None);
        // A VIP on an overlay may need the host's load-balancer address there.
        self.endpoints_changed();
        Ok(())
    }

    /// Takes a service's VIPs out of the kernel and DNS (what is already gone is fine).
    async fn unplumb_service(&self, st: &mut State, service: &Service) {
        let mut changes = Changes::new();
        for e in st.lb_applied.remove(&service.id).unwrap_or_default() {
            match e.vip {
                Some(vip) => changes.set_vip_backends(vip, e.proto, e.port, &e.backends, &[]),
                None => changes.set_mesh_backends(e.proto, e.port, &e.backends, &[]),
            };
        }
        for v in &service.vips {
            if let Some(a) = v4(v.addr) {
                changes.remove_vip(a);
            }
        }
        if let Err(e) = self.firewall.apply(&changes) {
            tracing::warn!(service = %service.name, error = %e, "load balancer elements not removed");
        }
        for v in &service.vips {
            let Some(net) = st.network(&v.network_id) else {
                continue;
            };
            let Some(host) = self.driver(net).ok().and_then(|d| d.vip_host()) else {
                continue;
            };
            if let Err(e) = host.remove_vip(net, v.addr.addr()).await {
                tracing::warn!(service = %service.name, error = %e, "VIP not removed from its network");
            }
        }
        for n in &service.spec.networks {
            self.dns_remove_endpoint(&n.network_id, &vip_entry_key(&service.id));
        }
        self.endpoints_changed();
    }

    /// Names a service's VIPs in DNS on each of its networks (VIP mode): the service's name
    /// and its aliases there answer the VIP.
    fn dns_add_service(&self, st: &State, service: &Service) {
        for v in &service.vips {
            let Some(net) = st.network(&v.network_id) else {
                continue;
            };
            if !self.has_dns(net) {
                continue;
            }
            let mut names = vec![service.name.clone()];
            if let Some(n) = service
                .spec
                .networks
                .iter()
                .find(|n| n.network_id == v.network_id)
            {
                names.extend(n.aliases.iter().cloned());
            }
            let entry = Entry {
                sandbox: vip_entry_key(&service.id),
                names,
                addrs: vec![v.addr.addr()],
            };
            self.resolver
                .update(|d| d.add_entry(&net.id, &net.name, &entry));
        }
    }

    /// The replicas of a service that run and are wanted (their slot within the replica
    /// count), but `exclude` (a replica going away).
    fn live_replicas<'a>(
        st: &'a State,
        service: &'a Service,
        exclude: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Sandbox> {
        st.replicas(&service.id)
            .filter(move |(_, sb)| {
                sb.config
                    .replica_of
                    .as_ref()
                    .is_some_and(|r| service.wants(r))
                    && sb.is_running()
                    && Some(sb.id.as_str()) != exclude
            })
            .map(|(_, sb)| sb)
    }

    /// How many of a service's replicas here run as their slot's own (an outgoing replica,
    /// which runs beside its slot's new one for a moment, does not count).
    fn current_live(st: &State, service: &Service) -> usize {
        Self::live_replicas(st, service, None)
            .filter(|sb| {
                sb.config
                    .replica_of
                    .as_ref()
                    .is_some_and(|r| service.is_current(r))
            })
            .count()
    }

    /// What the load balancer should hold for a service: each VIP balanced (every port) over
    /// the live replicas' addresses on its network, and each mesh port over the live
    /// replicas' addresses on the service's first network. `exclude` is a replica going away.
    fn lb_desired(st: &State, service: &Service, exclude: Option<&str>) -> Vec<LbEntry> {
        let live: Vec<&Sandbox> = Self::live_replicas(st, service, exclude).collect();
        let addr_on = |sb: &Sandbox, network_id: &str| {
            sb.endpoint_on(network_id).and_then(|e| e.ipv4).and_then(v4)
        };
        let remote = st.remote_replicas.get(&service.id);
        let mut out = Vec::new();
        for v in &service.vips {
            if let Some(vip) = v4(v.addr) {
                let mut backends: Vec<(Ipv4Addr, u16)> = live
                    .iter()
                    .filter_map(|sb| addr_on(sb, &v.network_id))
                    .chain(
                        remote
                            .into_iter()
                            .flat_map(|r| r.values())
                            .filter(|(net, _)| *net == v.network_id)
                            .map(|(_, a)| *a),
                    )
                    .map(|a| (a, 0))
                    .collect();
                backends.sort();
                backends.dedup();
                out.push(LbEntry {
                    vip: Some(vip),
                    proto: Proto::Tcp,
                    port: 0,
                    backends,
                });
            }
        }
        // A swarm service's mesh runs over the ingress network, on every node.
        let mesh_net = if service.swarm.is_some() {
            st.ingress_network().map(|n| n.id.clone())
        } else {
            service.spec.networks.first().map(|n| n.network_id.clone())
        };
        if let Some(mesh_net) = mesh_net {
            for p in service
                .spec
                .ports
                .iter()
                .filter(|p| p.mode == PublishMode::Ingress)
            {
                let mut backends: Vec<(Ipv4Addr, u16)> = live
                    .iter()
                    .filter_map(|sb| addr_on(sb, &mesh_net))
                    .chain(
                        remote
                            .into_iter()
                            .flat_map(|r| r.values())
                            .filter(|(net, _)| *net == mesh_net)
                            .map(|(_, a)| *a),
                    )
                    .map(|a| (a, p.target))
                    .collect();
                backends.sort();
                backends.dedup();
                out.push(LbEntry {
                    vip: None,
                    proto: p.proto,
                    port: p.published,
                    backends,
                });
            }
        }
        out
    }

    /// Makes the kernel's load-balancer maps for a service equal to its live replicas,
    /// writing only the slots that change. Called whenever a replica starts or stops, so a
    /// dead replica leaves the balancer at once; conntrack keeps established connections.
    pub(crate) fn lb_refresh(&self, st: &mut State, service_id: &str, exclude: Option<&str>) {
        let Some(service) = st.service(service_id) else {
            return;
        };
        let desired = Self::lb_desired(st, service, exclude);
        let applied = st.lb_applied.get(service_id).cloned().unwrap_or_default();
        let same_key =
            |a: &LbEntry, b: &LbEntry| a.vip == b.vip && a.proto == b.proto && a.port == b.port;
        let mut changes = Changes::new();
        let mut set = |e: &LbEntry, old: &[(Ipv4Addr, u16)], new: &[(Ipv4Addr, u16)]| {
            match e.vip {
                Some(vip) => changes.set_vip_backends(vip, e.proto, e.port, old, new),
                None => changes.set_mesh_backends(e.proto, e.port, old, new),
            };
        };
        for d in &desired {
            let old = applied
                .iter()
                .find(|a| same_key(a, d))
                .map(|a| a.backends.clone())
                .unwrap_or_default();
            set(d, &old, &d.backends);
        }
        for a in applied
            .iter()
            .filter(|a| !desired.iter().any(|d| same_key(a, d)))
        {
            set(a, &a.backends, &[]);
        }
        match self.firewall.apply(&changes) {
            Ok(()) => {
                self.connect_lb.apply(&applied, &desired);
                st.lb_applied.insert(service_id.to_string(), desired);
            }
            // The next daemon start rebuilds the maps from the state.
            Err(e) => {
                tracing::error!(service = %service_id, error = %e, "load balancer not updated")
            }
        }
    }

    /// The request that creates a service's replica in `slot`.
    fn replica_request(st: &State, service: &Service, slot: u32) -> SandboxCreateRequest {
        let s = &service.spec;
        let networks = s
            .networks
            .iter()
            .map(|n| {
                let builtin = st.network(&n.network_id).is_some_and(|net| net.builtin);
                // Replicas answer `tasks.NAME`; in dnsrr mode the service's own names too.
                let aliases = if builtin {
                    Vec::new()
                } else {
                    let mut a = vec![format!("tasks.{}", service.name)];
                    if s.endpoint_mode == EndpointMode::Dnsrr {
                        a.push(service.name.clone());
                        a.extend(n.aliases.iter().cloned());
                    }
                    a
                };
                NetworkRequest {
                    name: n.network_id.to_string(),
                    aliases,
                    ..Default::default()
                }
            })
            .collect();
        let name = match service.swarm.as_ref().and_then(|t| t.here.get(&slot)) {
            Some(task) => service.task_replica_name(slot, task),
            None => service.replica_name(slot),
        };
        let mut req = s.template.sandbox_request(name);
        let labels = &mut req.labels;
        labels.insert("com.docker.swarm.service.id".into(), service.id.clone());
        labels.insert("com.docker.swarm.service.name".into(), service.name.clone());
        labels.insert("com.docker.swarm.task.slot".into(), slot.to_string());
        if let Some(task) = service.swarm.as_ref().and_then(|t| t.here.get(&slot)) {
            labels.insert("com.docker.swarm.task.id".into(), task.clone());
        }
        // Checked at create, so only a record edited by hand can fail here.
        let mut host_ports =
            ferry_types::ports::from_bindings(&s.template.replica_ports).unwrap_or_default();
        host_ports.extend(
            s.ports
                .iter()
                .filter(|p| p.mode == PublishMode::Host)
                .map(|p| ferry_types::ports::PortRequest {
                    container: ferry_types::ports::PortKey {
                        port: p.target,
                        proto: p.proto,
                    },
                    host_ip: None,
                    host_ports: Some(ferry_types::ports::PortRange::single(p.published)),
                }),
        );
        let mut networks: Vec<NetworkRequest> = networks;
        if service.swarm.is_some() && s.ports.iter().any(|p| p.mode == PublishMode::Ingress) {
            if let Some(net) = st.ingress_network() {
                networks.push(NetworkRequest {
                    name: net.id.to_string(),
                    ..Default::default()
                });
            }
        }
        req.networks = networks;
        req.port_bindings = ferry_types::ports::to_bindings(&host_ports);
        req
    }

    /// Makes a service's replicas match its spec on this host: creates missing ones, starts
    /// ended ones (after their backoff), removes those above the replica count.
    pub(crate) async fn converge(&self, service_id: &str) {
        // A swarm task's replica that is no longer wanted goes before the new one comes (a
        // stop-first update never runs both; a start-first one keeps the old task wanted,
        // as outgoing, until the new one runs).
        let swarm = self
            .lock()
            .await
            .service(service_id)
            .is_some_and(|s| s.swarm.is_some());
        if swarm {
            self.remove_surplus(service_id).await;
        }
        let surplus = {
            let mut st = self.lock().await;
            let Some(service) = st.service(service_id).cloned() else {
                return;
            };
            for slot in service.slots_here() {
                let existing = st
                    .sandboxes()
                    .find(|sb| {
                        sb.config.replica_of.as_ref().is_some_and(|r| {
                            r.service == service_id && r.slot == slot && service.is_current(r)
                        })
                    })
                    .map(|sb| (sb.id.clone(), sb.is_running()));
                let id = match existing {
                    Some((_, true)) => continue,
                    Some((id, false)) => {
                        if !self.restart_due(service_id, slot) {
                            continue;
                        }
                        if let Some(task) = service.swarm.as_ref().and_then(|t| t.here.get(&slot)) {
                            *self
                                .task_restarts
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(task.clone())
                                .or_default() += 1;
                        }
                        id
                    }
                    None => {
                        // Creation failures (a name taken by a stranger) back off as well.
                        if !self.restart_due(service_id, slot) {
                            continue;
                        }
                        let req = Self::replica_request(&st, &service, slot);
                        let of = ReplicaOf {
                            service: service_id.to_string(),
                            slot,
                            task: service
                                .swarm
                                .as_ref()
                                .and_then(|t| t.here.get(&slot).cloned()),
                        };
                        match self.create_locked(&mut st, req, Some(of)).await {
                            Ok(r) => {
                                self.replica_errors
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .remove(&(service_id.to_string(), slot));
                                SandboxId::from(r.id)
                            }
                            Err(e) => {
                                self.replica_errors
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert((service_id.to_string(), slot), e.message.clone());
                                // Reported to the swarm as the task's error.
                                self.endpoints_changed();
                                self.note_start(service_id, slot);
                                tracing::warn!(service = %service.name, slot, error = %e, "replica not created");
                                continue;
                            }
                        }
                    }
                };
                self.note_start(service_id, slot);
                let started = self
                    .start_locked(&mut super::locks::StateLock::Held(&mut st), &id)
                    .await;
                {
                    let mut errors = self
                        .replica_errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    match &started {
                        Ok(_) => errors.remove(&(service_id.to_string(), slot)),
                        Err(e) => errors.insert((service_id.to_string(), slot), e.message.clone()),
                    };
                }
                if let Err(e) = started {
                    // Reported to the swarm as the task's error.
                    self.endpoints_changed();
                    tracing::warn!(service = %service.name, slot, error = %e, "replica not started");
                }
            }
            let surplus: Vec<SandboxId> = unwanted_replicas(&st, Some(service_id))
                .into_iter()
                .map(|(sb, _)| sb.id.clone())
                .collect();
            // A slot above the count is gone, not crashing: when a scale-up brings it back,
            // its new replica starts at once, not after the old one's backoff.
            self.restarts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(s, slot), _| s != service_id || service.slots_here().contains(slot));
            if service.swarm.is_some() {
                // Restart counts of tasks placed nowhere here are of no use.
                let placed: BTreeSet<&String> = st
                    .services()
                    .filter_map(|s| s.swarm.as_ref())
                    .flat_map(|t| t.here.values())
                    .collect();
                self.task_restarts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|task, _| placed.contains(task));
            }
            if Self::current_live(&st, &service) != service.slots_here().len() {
                self.supervisor.notify_one();
            }
            // They leave the balancer before they are stopped.
            self.lb_refresh(&mut st, service_id, None);
            surplus
        };
        if swarm {
            // Let go meanwhile (a task record that changed while this converge ran): they
            // leave the other nodes' balancers first too.
            if !surplus.is_empty() {
                self.remove_surplus(service_id).await;
            }
        } else {
            self.remove_replicas(surplus).await;
        }
    }

    /// Removes the replicas of a service that no spec wants, after taking them out of the
    /// balancer.
    async fn remove_surplus(&self, service_id: &str) {
        let (surplus, live): (Vec<SandboxId>, bool) = {
            let mut st = self.lock().await;
            let unwanted = unwanted_replicas(&st, Some(service_id));
            let live = unwanted.iter().any(|(sb, _)| sb.is_running());
            let ids = unwanted.into_iter().map(|(sb, _)| sb.id.clone()).collect();
            self.lb_refresh(&mut st, service_id, None);
            (ids, live)
        };
        if surplus.is_empty() {
            return;
        }
        // The other nodes balance a swarm replica by its published record: it leaves their
        // balancers (its record unmarked) before it stops, so that no new connection from
        // another node reaches a stopped replica (Docker waits 2 s for its gossip instead).
        if live {
            self.publish_now(PUBLISH_LIMIT).await;
            tokio::time::sleep(DRAIN_GRACE).await;
        }
        self.remove_replicas(surplus).await;
    }

    async fn remove_replicas(&self, ids: Vec<SandboxId>) {
        for id in ids {
            match self.remove_sandbox(&id, true).await {
                Ok(()) => {}
                // Removed meanwhile by `service rm`.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(sandbox = %id, error = %e, "surplus replica not removed"),
            }
        }
    }

    /// Run once at start, before the API answers: finishes the removal of every service
    /// whose `service rm` a crash interrupted, then removes the replicas that no spec wants
    /// (left running by a crash during a scale-down or a removal), with their processes,
    /// names, balancer entries, firewall elements and directories.
    pub(crate) async fn remove_unwanted(&self) {
        let removing: Vec<(String, String)> = {
            let st = self.lock().await;
            st.services()
                .filter(|s| s.removing)
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect()
        };
        for (id, name) in removing {
            tracing::info!(service = %name, "finishing the removal a crash interrupted");
            if let Err(e) = self.remove_local_service(&id).await {
                tracing::warn!(service = %name, error = %e, "service not removed");
            }
        }
        let unwanted: Vec<(SandboxId, String, Unwanted)> = {
            let st = self.lock().await;
            unwanted_replicas(&st, None)
                .into_iter()
                .map(|(sb, why)| (sb.id.clone(), sb.name.clone(), why))
                .collect()
        };
        for (id, name, why) in unwanted {
            tracing::info!(sandbox = %name, reason = why.as_str(), "removing unwanted replica");
            match self.remove_sandbox(&id, true).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(sandbox = %name, error = %e, "unwanted replica not removed")
                }
            }
        }
    }

    fn restart_due(&self, service_id: &str, slot: u32) -> bool {
        let r = self.restarts.lock().unwrap_or_else(|p| p.into_inner());
        match r.get(&(service_id.to_string(), slot)) {
            Some(h) => h.last_start.elapsed() >= backoff(h.crashes),
            None => true,
        }
    }

    fn note_start(&self, service_id: &str, slot: u32) {
        let mut r = self.restarts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (service_id.to_string(), slot);
        let crashes = match r.get(&key) {
            // A replica that ran for a while before it ended starts its backoff afresh.
            Some(h) if h.last_start.elapsed() < STABLE_RUN + backoff(h.crashes) => h.crashes + 1,
            _ => 0,
        };
        r.insert(
            key,
            Restarts {
                crashes,
                last_start: Instant::now(),
            },
        );
    }

    /// Keeps every service's replicas running: converges the services that have a replica
    /// down, then sleeps until a sandbox exits, or, while a replica waits out its backoff (or
    /// could not be started), for a short tick at most. A converge that leaves a replica down
    /// wakes it too.
    pub(crate) fn supervise(self: std::sync::Arc<Self>) {
        tokio::spawn(async move {
            let mut exits = self.exits.subscribe();
            loop {
                let needy: Vec<String> = {
                    let st = self.lock().await;
                    st.services()
                        .filter(|s| Self::current_live(&st, s) != s.slots_here().len())
                        .map(|s| s.id.clone())
                        .collect()
                };
                for id in &needy {
                    self.converge(id).await;
                }
                let woken = async {
                    tokio::select! {
                        r = exits.changed() => r.is_ok(),
                        _ = self.supervisor.notified() => true,
                    }
                };
                if needy.is_empty() {
                    if !woken.await {
                        return;
                    }
                } else {
                    let _ = tokio::time::timeout(Duration::from_millis(250), woken).await;
                }
            }
        });
    }

    /// `service update`: the replica count and published ports.
    pub async fn update_service(
        &self,
        reference: &str,
        req: ServiceUpdateRequest,
    ) -> Result<(), FerryError> {
        if let Some(s) = self.find_swarm_service(reference).await? {
            return self.update_swarm_service(s, req).await;
        }
        if req.needs_swarm() {
            return Err(FerryError::invalid(
                "a service of this host alone changes only its replica count and published ports: remove it and create it again to change the rest (swarm services change everything in place)",
            ));
        }
        let id = {
            let mut st = self.lock().await;
            let mut service = st.find_service(reference)?.clone();
            if service.removing {
                return Err(FerryError::conflict(format!(
                    "service {} is being removed; wait for the removal to end",
                    service.name
                )));
            }
            if let Some(n) = req.replicas {
                service.spec.replicas = svc::replicas(n)?;
                check_replica_ports(&service.spec.template.replica_ports, service.spec.replicas)?;
            }
            let mut ports = service.spec.ports.clone();
            let mut removed = Vec::new();
            for spec in &req.publish_rm {
                let (port, proto) = svc::parse_publish_rm(spec)?;
                let before = ports.len();
                ports.retain(|p| !(p.published == port && p.proto == proto));
                if ports.len() == before {
                    return Err(FerryError::not_found(format!(
                        "service {} does not publish {port}/{}",
                        service.name,
                        proto.as_str()
                    )));
                }
                removed.push((port, proto));
            }
            let added = Self::service_ports(&req.publish_add, service.spec.replicas)?;
            for p in &added {
                if ports
                    .iter()
                    .any(|o| o.published == p.published && o.proto == p.proto)
                {
                    return Err(FerryError::conflict(format!(
                        "service {} already publishes {}/{}; remove it first with --publish-rm",
                        service.name,
                        p.published,
                        p.proto.as_str()
                    )));
                }
            }
            if !added.is_empty() && !self.firewall.enabled() {
                return Err(FerryError::invalid(
                    "cannot publish service ports: the daemon runs with firewall none",
                ));
            }
            if ports
                .iter()
                .chain(&added)
                .any(|p| p.mode == PublishMode::Host)
                && service.spec.replicas > 1
            {
                return Err(FerryError::invalid(
                    "a service with a mode=host port can have only one replica on this host",
                ));
            }
            self.hold_mesh_ports(&mut st, &service, &added)?;
            for (port, proto) in &removed {
                st.ports.release_one(
                    *proto,
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    *port,
                    &mesh_owner(&service.id),
                );
                if let Ok(mut h) = self.held_ports.lock() {
                    if let Some(v) = h.get_mut(&mesh_owner(&service.id)) {
                        let proto = super::publish::socket_proto(*proto);
                        v.retain(|r| !(r.addr().port() == *port && r.proto() == proto));
                    }
                }
            }
            ports.extend(added);
            service.spec.ports = ports;
            service.version += 1;
            service.updated = ferry_types::time::Timestamp::now();
            self.save(self.service_ops(&st, &service)?).await?;
            crate::crash_point::reached(crate::crash_point::SERVICE_UPDATE_SAVED);
            st.put_service(service.clone());
            self.lb_refresh(&mut st, &service.id, None);
            service.id
        };
        self.converge(&id).await;
        Ok(())
    }

    /// `service rm`: its replicas go first (the spec is set to none and marked as being
    /// removed, so nothing restarts them, and a daemon that dies meanwhile finishes the
    /// removal when it starts), then its VIPs, ports and record.
    pub async fn remove_service(&self, reference: &str) -> Result<(), FerryError> {
        if let Some(s) = self.find_swarm_service(reference).await? {
            return self.remove_swarm_service(s).await;
        }
        self.remove_local_service(reference).await
    }

    /// Removes a service of this host, or this host's copy of a swarm service (with its
    /// replicas here).
    pub(crate) async fn remove_local_service(&self, reference: &str) -> Result<(), FerryError> {
        let id = {
            let mut st = self.lock().await;
            let mut service = st.find_service(reference)?.clone();
            service.spec.replicas = 0;
            service.removing = true;
            service.version += 1;
            self.save(self.service_ops(&st, &service)?).await?;
            crate::crash_point::reached(crate::crash_point::SERVICE_RM_SAVED);
            st.put_service(service.clone());
            self.lb_refresh(&mut st, &service.id, None);
            service.id
        };
        loop {
            let replicas: Vec<SandboxId> = {
                let st = self.lock().await;
                st.sandboxes()
                    .filter(|sb| {
                        sb.config
                            .replica_of
                            .as_ref()
                            .is_some_and(|r| r.service == id)
                    })
                    .map(|sb| sb.id.clone())
                    .collect()
            };
            if replicas.is_empty() {
                break;
            }
            for r in replicas {
                match self.remove_sandbox(&r, true).await {
                    Ok(()) => {}
                    // Removed meanwhile by a converge.
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let mut st = self.lock().await;
        let Some(service) = st.service(&id).cloned() else {
            return Ok(());
        };
        self.unplumb_service(&mut st, &service).await;
        self.release_mesh_ports(&mut st, &service.id);
        Self::release_vips(&mut st, &service);
        let mut ops = self.service_ops(&st, &service)?;
        ops[0] = Op::delete(Table::Services, &service.id);
        self.save(ops).await?;
        st.remove_service(&service.id);
        self.restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(s, _), _| s != &service.id);
        self.replica_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(s, _), _| s != &service.id);
        tracing::info!(service = %service.name, "service removed");
        Ok(())
    }

    /// `service ls`.
    pub async fn list_services(&self) -> Vec<ServiceState> {
        let swarm = self.swarm_running().await;
        let st = self.lock().await;
        st.services()
            .map(|s| Self::with_swarm_count(Self::service_state(&st, s), &swarm))
            .collect()
    }

    /// `service inspect`.
    pub async fn inspect_service(&self, reference: &str) -> Result<ServiceState, FerryError> {
        let swarm = self.swarm_running().await;
        let st = self.lock().await;
        let s = st.find_service(reference)?;
        Ok(Self::with_swarm_count(Self::service_state(&st, s), &swarm))
    }

    /// A swarm service's running count is every node's.
    fn with_swarm_count(mut s: ServiceState, swarm: &BTreeMap<String, u32>) -> ServiceState {
        if s.service.swarm.is_some() {
            s.running = swarm.get(&s.service.id).copied().unwrap_or(0);
        }
        s
    }

    /// `service ps`: the replicas, by slot.
    pub async fn service_tasks(&self, reference: &str) -> Result<Vec<Task>, FerryError> {
        let st = self.lock().await;
        let s = st.find_service(reference)?;
        Ok(st
            .replicas(&s.id)
            .map(|(slot, sb)| Task {
                service_id: s.id.clone(),
                slot,
                desired: if slot <= s.spec.replicas {
                    DesiredState::Running
                } else {
                    DesiredState::Shutdown
                },
                replica: sb.clone(),
            })
            .collect())
    }

    fn service_state(st: &State, s: &Service) -> ServiceState {
        let running = Self::live_replicas(st, s, None).count() as u32;
        let mut networks: Vec<NetworkRef> = Vec::new();
        let ids = s
            .spec
            .networks
            .iter()
            .map(|n| &n.network_id)
            .chain(s.vips.iter().map(|v| &v.network_id));
        for id in ids {
            if let Some(n) = st.network(id) {
                if !networks.iter().any(|r| r.id == n.id) {
                    networks.push(n.into());
                }
            }
        }
        ServiceState {
            service: s.clone(),
            running,
            networks,
        }
    }

    /// Loads the services of the store at start: their VIP addresses are taken again.
    pub(crate) async fn load_services(&self, st: &mut State) -> Result<(), FerryError> {
        for s in ferry_store::list_json::<Service>(self.store.as_ref(), Table::Services)
            .await
            .map_err(store_err)?
        {
            for v in &s.vips {
                st.mark_taken(&v.network_id, v.addr.addr());
            }
            let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            for p in s
                .spec
                .ports
                .iter()
                .filter(|p| p.mode == PublishMode::Ingress)
            {
                st.ports.take(p.proto, any, p.published, &mesh_owner(&s.id));
            }
            st.put_service(s);
        }
        Ok(())
    }

    /// What the firewall rebuild at start needs: every VIP served, and every service's
    /// load-balancer entries as the state says (recorded as applied).
    pub(crate) fn lb_full(st: &mut State) -> (Vec<Ipv4Addr>, Vec<LbEntry>) {
        let mut vips = Vec::new();
        let mut entries = Vec::new();
        let mut applied = BTreeMap::new();
        for s in st.services() {
            vips.extend(s.vips.iter().filter_map(|v| v4(v.addr)));
            let desired = Self::lb_desired(st, s, None);
            entries.extend(desired.iter().cloned());
            applied.insert(s.id.clone(), desired);
        }
        st.lb_applied = applied.into_iter().collect();
        (vips, entries)
    }

    /// Restores what a service needs outside the store after a start: VIPs on bridges, DNS
    /// names and held mesh ports.
    pub(crate) async fn restore_services(&self, st: &mut State) {
        let services: Vec<Service> = st.services().cloned().collect();
        for s in services {
            if let Err(e) = self.plumb_service(st, &s).await {
                tracing::warn!(service = %s.name, error = %e, "service VIPs not restored");
            }
            let mut held = Vec::new();
            for p in s
                .spec
                .ports
                .iter()
                .filter(|p| p.mode == PublishMode::Ingress)
            {
                match port_reservation::reserve(
                    super::publish::socket_proto(p.proto),
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    p.published,
                ) {
                    Ok(r) => held.push(r),
                    Err(e) => {
                        tracing::warn!(service = %s.name, error = %e, "mesh port not held again")
                    }
                }
            }
            self.hold(&mesh_owner(&s.id), held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str, replicas: u32, removing: bool) -> Service {
        Service {
            id: id.into(),
            name: format!("svc-{id}"),
            created: Default::default(),
            updated: Default::default(),
            version: 1,
            spec: ServiceSpec {
                replicas,
                ..Default::default()
            },
            vips: vec![],
            removing,
            swarm: None,
            previous_spec: None,
            update_status: None,
        }
    }

    /// A running replica record, as the store holds one (fields with defaults left out).
    fn replica(id: &str, name: &str, service: &str, slot: u32) -> Sandbox {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "name": name,
            "created": "",
            "config": {
                "cmd": ["sleep"],
                "workdir": null,
                "hostname": "",
                "network_mode": {"mode": "networks"},
                "replica_of": {"service": service, "slot": slot},
            },
            "state": {
                "status": "running",
                "pid": null,
                "start_ticks": null,
                "started_at": null,
                "finished_at": null,
                "exit_code": null,
            },
            "netns": null,
        }))
        .unwrap()
    }

    fn unwanted(st: &State, service: Option<&str>) -> Vec<(String, Unwanted)> {
        unwanted_replicas(st, service)
            .into_iter()
            .map(|(sb, why)| (sb.name.clone(), why))
            .collect()
    }

    #[test]
    fn replicas_no_spec_wants_are_found_and_wanted_ones_kept() {
        let mut st = State::default();
        st.put_service(service("web", 2, false));
        st.put_service(service("old", 3, true));
        for (id, name, svc, slot) in [
            ("a1", "web.1", "web", 1),
            ("a2", "web.2", "web", 2),
            // Left by a crash in a scale-down from 4 to 2.
            ("a3", "web.3", "web", 3),
            ("a4", "web.4", "web", 4),
            ("b1", "old.1", "old", 1),
            ("c1", "gone.1", "gone", 1),
            ("z0", "web.0", "web", 0),
        ] {
            st.put_sandbox(replica(id, name, svc, slot));
        }
        // A second record for slot 1, which the index does not point at.
        st.put_sandbox(replica("a1bis", "web.1bis", "web", 1));
        st.put_sandbox(replica("a1", "web.1", "web", 1));
        assert_eq!(
            unwanted(&st, None),
            vec![
                ("gone.1".into(), Unwanted::ServiceGone),
                ("old.1".into(), Unwanted::ServiceRemoving),
                ("web.0".into(), Unwanted::SlotNotWanted),
                ("web.1bis".into(), Unwanted::SlotTaken),
                ("web.3".into(), Unwanted::SlotNotWanted),
                ("web.4".into(), Unwanted::SlotNotWanted),
            ]
        );
        assert_eq!(
            unwanted(&st, Some("old")),
            vec![("old.1".into(), Unwanted::ServiceRemoving)]
        );
        // Scaled back up, the same replicas are wanted again.
        st.put_service(service("web", 4, false));
        assert_eq!(
            unwanted(&st, Some("web")),
            vec![
                ("web.0".into(), Unwanted::SlotNotWanted),
                ("web.1bis".into(), Unwanted::SlotTaken),
            ]
        );
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(8), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}

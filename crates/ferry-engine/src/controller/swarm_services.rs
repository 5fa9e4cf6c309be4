//! Swarm services: a service made on a node of a swarm lives in the cluster's store, and the
//! swarm's leader places its replicas on nodes as task records (`ferry-swarm`'s
//! orchestrator). This file is the engine's side of it, on every node:
//!
//! - **The API's operations** (`service create`, `update`, `rm`, `ps`, `ls` with every node's
//!   replicas counted): records written in the cluster's store, with the service's name held
//!   by a claim (two managers cannot make two services of one name) and a VIP on each of its
//!   networks claimed cluster-wide (no endpoint of any node takes it).
//! - **The agent**: every node follows the cluster's `services` and `tasks` tables and keeps
//!   a copy of each swarm service in its own store and state, with the tasks placed here
//!   (`Service::swarm`); the local service code then runs exactly those replicas (creating,
//!   restarting with backoff, removing the ones no task wants any more, such as those of a
//!   node that was Down while its tasks moved), gives the VIPs their names and balances
//!   them. A copy is kept on restart so that replicas run before the cluster answers.
//! - **Reports**: each node publishes the state of the replicas it runs (`task_status`, on its
//!   lease) and marks its peer records with the service whose live replica they are, so every
//!   node balances a VIP over the replicas of every node.

use super::services::{check_command, check_template, endpoint_mode, service_network};
use super::{new_id, store_err, Controller};
use crate::cluster::mirror::Change;
use crate::cluster::ClusterLink;
use crate::state::State;
use ferry_cluster::tasks::{TaskDesired, TaskRecord, TaskStatus};
use ferry_cluster::{ClaimError, Claims};
use ferry_store::{Condition, Op, Table, Txn};
use ferry_types::api::CreateResponse;
use ferry_types::service::{
    self as svc, EndpointMode, PublishMode, Service, ServiceCreateRequest, ServiceNetwork,
    ServiceSpec, ServiceUpdateRequest, ServiceVip, SwarmTasks, TaskView, UpdateStatus,
};
use ferry_types::{validate, FerryError};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

/// The claim that holds a swarm service's name.
fn name_claim(name: &str) -> String {
    format!("service-name/{name}")
}

/// The owner of a VIP's address claim.
fn vip_owner(service_id: &str) -> String {
    format!("service/{service_id}")
}

/// How many addresses a VIP allocation tries before giving up (other nodes took each first).
const VIP_TRIES: usize = 16;

impl Controller {
    /// Whether services made here are swarm services.
    pub(crate) fn in_swarm(&self) -> bool {
        self.cluster.get().is_some()
    }

    /// Every swarm service, as the cluster's store has it now.
    async fn cluster_services(&self, link: &ClusterLink) -> Result<Vec<Service>, FerryError> {
        ferry_store::list_json(link.store.as_ref(), Table::Services)
            .await
            .map_err(|e| unavailable(&e.to_string()))
    }

    /// The swarm service `reference` names (ID, name, or unambiguous ID prefix), if any.
    pub async fn find_swarm_service(&self, reference: &str) -> Result<Option<Service>, FerryError> {
        let Some(link) = self.cluster.get() else {
            return Ok(None);
        };
        let all = self.cluster_services(&link).await?;
        if let Some(s) = all
            .iter()
            .find(|s| s.id == reference || s.name == reference)
        {
            return Ok(Some(s.clone()));
        }
        let by_prefix: Vec<&Service> = all.iter().filter(|s| s.id.starts_with(reference)).collect();
        match by_prefix.as_slice() {
            [one] => Ok(Some((*one).clone())),
            [] => Ok(None),
            _ => Err(FerryError::invalid(format!(
                "service {reference} is ambiguous: give more of its ID"
            ))),
        }
    }

    /// `service create` on a swarm: checks the request as a local service's, claims the name
    /// and a VIP per network, and writes the record; the leader places the replicas.
    pub(crate) async fn create_swarm_service(
        &self,
        req: ServiceCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        let link = self.cluster_link_for_services()?;
        req.check_keys()?;
        validate::object_name("service", &req.name)?;
        check_command(&req.template)?;
        let replicas = svc::replicas(req.replicas.unwrap_or(1))?;
        let endpoint_mode = endpoint_mode(&req.endpoint_mode)?;
        let mode = req.mode;
        req.placement.check()?;
        let mut ports = Vec::new();
        for spec in &req.ports {
            let p = svc::parse_service_port(spec)?;
            if p.mode == PublishMode::Ingress {
                self.require_ingress().await?;
            }
            if ports
                .iter()
                .any(|o: &svc::ServicePort| o.published == p.published && o.proto == p.proto)
            {
                return Err(FerryError::invalid(format!(
                    "host port {}/{} is published twice",
                    p.published,
                    p.proto.as_str()
                )));
            }
            ports.push(p);
        }
        if let Some(max) = req.placement.max_replicas_per_node {
            if mode == ferry_types::placement::ServiceMode::Replicated {
                let nodes = self.swarm_node_count(&link).await?;
                if u64::from(replicas) > u64::from(max) * nodes as u64 {
                    return Err(FerryError::invalid(format!(
                        "{replicas} replicas at most {max} per node need {} nodes, and the swarm has {nodes}: lower --replicas or raise --replicas-max-per-node",
                        replicas.div_ceil(max)
                    )));
                }
            }
        }
        self.check_node_constraints(&link, &req.placement).await?;
        check_template(&req.template)?;
        let mut networks: Vec<ServiceNetwork> = Vec::new();
        {
            let st = self.lock().await;
            for r in &req.networks {
                let net = st.find_network(&r.name)?;
                self.check_swarm_scoped(net)?;
                networks.push(service_network(&networks, net, r)?);
            }
        }
        if self
            .cluster_services(&link)
            .await?
            .iter()
            .any(|s| s.name == req.name)
        {
            return Err(name_taken(&req.name));
        }
        let id: String = new_id();
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
                ports,
                endpoint_mode,
                replica_prefix: None,
                mode,
                placement: req.placement.clone(),
                update: req.update.clone(),
                template: req.template,
            },
            vips: Vec::new(),
            removing: false,
            swarm: Some(SwarmTasks {
                here: BTreeMap::new(),
                outgoing: BTreeMap::new(),
                template_version: 1,
            }),
            previous_spec: None,
            update_status: None,
        };
        if endpoint_mode == EndpointMode::Vip {
            for n in service.spec.networks.clone() {
                match self.claim_vip(&link, &service.id, &n.network_id).await {
                    Ok(addr) => service.vips.push(ServiceVip {
                        network_id: n.network_id.clone(),
                        addr,
                    }),
                    Err(e) => {
                        self.release_vip_claims(&link, &service).await;
                        return Err(e);
                    }
                }
            }
        }
        let (free, claim) = Claims::claim_in_txn(&name_claim(&service.name), &service.id)
            .map_err(|e| FerryError::internal(e.to_string()))?;
        let mut txn = Txn::new(vec![
            claim,
            Op::put_json(Table::Services, &service.id, &service).map_err(store_err)?,
        ])
        .when(free);
        for p in mesh_ports(&service.spec) {
            let (free, claim) = Claims::claim_in_txn(&port_claim(p), &service.id)
                .map_err(|e| FerryError::internal(e.to_string()))?;
            txn = txn.when(free);
            txn.ops.push(claim);
        }
        if let Err(e) = link.store.apply(txn).await {
            self.release_vip_claims(&link, &service).await;
            return Err(match e {
                ferry_store::StoreError::Conflict { key, .. } if key.starts_with("port/") => {
                    port_taken(&key)
                }
                ferry_store::StoreError::Conflict { .. } => name_taken(&service.name),
                other => unavailable(&other.to_string()),
            });
        }
        tracing::info!(service = %service.name, replicas, "swarm service created");
        Ok(CreateResponse {
            id,
            warning: String::new(),
        })
    }

    /// `service update` (and `scale`) of a swarm service: a new version of the record,
    /// written only if nobody changed it since it was read. A change of what the replicas
    /// run (ports, the template) makes the leader replace the tasks; a replica count does not.
    pub(crate) async fn update_swarm_service(
        &self,
        service: Service,
        req: ServiceUpdateRequest,
    ) -> Result<(), FerryError> {
        let link = self.cluster_link_for_services()?;
        let Some(rec) = link
            .store
            .get(Table::Services, &service.id)
            .await
            .map_err(|e| unavailable(&e.to_string()))?
        else {
            return Err(FerryError::not_found(format!(
                "no such service: {}",
                service.name
            )));
        };
        let mut s: Service = serde_json::from_slice(&rec.value)
            .map_err(|e| FerryError::internal(format!("unreadable service record: {e}")))?;
        let template_changed = if req.rollback {
            let Some(previous) = s.previous_spec.take() else {
                return Err(FerryError::invalid(format!(
                    "service {} has no previous spec to roll back to: it was never updated",
                    s.name
                )));
            };
            let current = std::mem::replace(&mut s.spec, *previous);
            s.previous_spec = Some(Box::new(current));
            s.update_status = Some(UpdateStatus {
                state: "rollback_started".into(),
                message: "manually requested rollback".into(),
            });
            true
        } else {
            let before = s.spec.clone();
            let changed = {
                let st = self.lock().await;
                self.change_spec(&st, &mut s, &req)?
            };
            if s.spec != before {
                s.previous_spec = Some(Box::new(before));
            }
            if changed {
                s.update_status = Some(UpdateStatus {
                    state: "updating".into(),
                    message: "update in progress".into(),
                });
            }
            changed
        };
        // New networks need the service's VIP on them; networks it left release theirs.
        let gone: Vec<ServiceVip> = s
            .vips
            .iter()
            .filter(|v| !s.spec.networks.iter().any(|n| n.network_id == v.network_id))
            .cloned()
            .collect();
        s.vips
            .retain(|v| !gone.iter().any(|g| g.network_id == v.network_id));
        if s.spec.endpoint_mode == EndpointMode::Vip {
            for n in s.spec.networks.clone() {
                if s.vip_on(&n.network_id).is_none() {
                    let addr = self.claim_vip(&link, &s.id, &n.network_id).await?;
                    s.vips.push(ServiceVip {
                        network_id: n.network_id.clone(),
                        addr,
                    });
                }
            }
        }
        s.version += 1;
        s.updated = ferry_types::time::Timestamp::now();
        if template_changed {
            if let Some(t) = s.swarm.as_mut() {
                t.template_version = s.version;
            }
        }
        let old_ports: Vec<(ferry_types::ports::Proto, u16)> = mesh_ports(&service.spec)
            .map(|p| (p.proto, p.published))
            .collect();
        let mut txn = Txn::new(vec![
            Op::put_json(Table::Services, &s.id, &s).map_err(store_err)?
        ])
        .when(Condition::KeyAt {
            table: Table::Services,
            key: s.id.clone(),
            revision: rec.mod_revision,
        });
        for p in mesh_ports(&s.spec).filter(|p| !old_ports.contains(&(p.proto, p.published))) {
            let (free, claim) = Claims::claim_in_txn(&port_claim(p), &s.id)
                .map_err(|e| FerryError::internal(e.to_string()))?;
            txn = txn.when(free);
            txn.ops.push(claim);
        }
        link.store.apply(txn).await.map_err(|e| match e {
            ferry_store::StoreError::Conflict { key, .. } if key.starts_with("port/") => {
                port_taken(&key)
            }
            ferry_store::StoreError::Conflict { .. } => FerryError::conflict(format!(
                "service {} was changed by another request meanwhile; run the update again",
                s.name
            )),
            other => unavailable(&other.to_string()),
        })?;
        let claims = Claims::new(link.store.as_ref());
        for (proto, port) in old_ports {
            if !mesh_ports(&s.spec).any(|p| p.proto == proto && p.published == port) {
                let key = format!("port/{}/{port}", proto.as_str());
                let _ = claims.release_key(&key, &s.id).await;
            }
        }
        for v in gone {
            let _ = claims
                .release_address(&v.network_id, v.addr.addr(), &vip_owner(&s.id))
                .await;
        }
        Ok(())
    }

    /// Applies an update request to a swarm service's spec: whether what the replicas run
    /// changed (so that the leader replaces them).
    fn change_spec(
        &self,
        st: &State,
        s: &mut Service,
        req: &ServiceUpdateRequest,
    ) -> Result<bool, FerryError> {
        use ferry_types::placement::{Constraint, Preference, ServiceMode};
        let mut template_changed = req.force;
        let spec = &mut s.spec;
        if let Some(n) = req.replicas {
            if spec.mode == ServiceMode::Global {
                return Err(FerryError::invalid(format!(
                    "service {} is global: it runs one replica on every eligible node, and cannot be scaled",
                    s.name
                )));
            }
            spec.replicas = svc::replicas(n)?;
        }
        for p in &req.publish_rm {
            let (port, proto) = svc::parse_publish_rm(p)?;
            let before = spec.ports.len();
            spec.ports
                .retain(|p| !(p.published == port && p.proto == proto));
            if spec.ports.len() == before {
                return Err(FerryError::not_found(format!(
                    "service {} does not publish port {port}/{}",
                    s.name,
                    proto.as_str()
                )));
            }
            template_changed = true;
        }
        for p in &req.publish_add {
            let p = svc::parse_service_port(p)?;
            if p.mode == PublishMode::Ingress && st.ingress_network().is_none() {
                return Err(no_ingress());
            }
            if spec
                .ports
                .iter()
                .any(|o| o.published == p.published && o.proto == p.proto)
            {
                return Err(FerryError::conflict(format!(
                    "host port {}/{} is already published by service {}",
                    p.published,
                    p.proto.as_str(),
                    s.name
                )));
            }
            spec.ports.push(p);
            template_changed = true;
        }
        for k in &req.env_rm {
            let before = spec.template.env.len();
            spec.template
                .env
                .retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
            template_changed |= spec.template.env.len() != before;
        }
        for e in &req.env_add {
            let Some((k, _)) = e.split_once('=') else {
                return Err(FerryError::invalid(format!(
                    "invalid --env-add {e:?}: use KEY=VALUE"
                )));
            };
            spec.template
                .env
                .retain(|o| o.split_once('=').map_or(o.as_str(), |(n, _)| n) != k);
            spec.template.env.push(e.clone());
            template_changed = true;
        }
        if let Some(args) = &req.args {
            let program = spec.template.cmd.first().cloned().unwrap_or_default();
            spec.template.cmd = std::iter::once(program)
                .chain(args.iter().cloned())
                .collect();
            template_changed = true;
        }
        for c in &req.constraint_rm {
            let c = Constraint::parse(c)?;
            spec.placement.constraints.retain(|o| *o != c);
        }
        for c in &req.constraint_add {
            let c = Constraint::parse(c)?;
            if !spec.placement.constraints.contains(&c) {
                spec.placement.constraints.push(c);
            }
        }
        for p in &req.placement_pref_rm {
            let p = Preference::parse(p)?;
            spec.placement.preferences.retain(|o| *o != p);
        }
        for p in &req.placement_pref_add {
            spec.placement.preferences.push(Preference::parse(p)?);
        }
        if let Some(m) = req.replicas_max_per_node {
            spec.placement.max_replicas_per_node = (m > 0).then_some(m);
        }
        spec.placement.check()?;
        for name in &req.network_rm {
            let net = st.find_network(name)?;
            let before = spec.networks.len();
            spec.networks.retain(|n| n.network_id != net.id);
            if spec.networks.len() == before {
                return Err(FerryError::not_found(format!(
                    "service {} is not on network {}",
                    s.name, net.name
                )));
            }
            template_changed = true;
        }
        for r in &req.network_add {
            let net = st.find_network(&r.name)?;
            self.check_swarm_scoped(net)?;
            if spec.networks.iter().any(|n| n.network_id == net.id) {
                return Err(FerryError::conflict(format!(
                    "service {} is already on network {}",
                    s.name, net.name
                )));
            }
            spec.networks.push(service_network(&spec.networks, net, r)?);
            template_changed = true;
        }
        if let Some(c) = &req.update_config {
            spec.update = c.apply(&spec.update);
        }
        check_template(&spec.template)?;
        Ok(template_changed)
    }

    /// `service rm` of a swarm service: the record and its name go at once; each node removes
    /// its replicas as its copy goes, and the leader deletes the tasks.
    pub(crate) async fn remove_swarm_service(&self, service: Service) -> Result<(), FerryError> {
        let link = self.cluster_link_for_services()?;
        link.store
            .apply_ops(vec![Op::delete(Table::Services, &service.id)])
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        let claims = Claims::new(link.store.as_ref());
        if let Err(e) = claims
            .release_key(&name_claim(&service.name), &service.id)
            .await
        {
            tracing::warn!(service = %service.name, error = %e, "a service name's claim was not released");
        }
        for p in mesh_ports(&service.spec) {
            let _ = claims.release_key(&port_claim(p), &service.id).await;
        }
        self.release_vip_claims(&link, &service).await;
        tracing::info!(service = %service.name, "swarm service removed");
        Ok(())
    }

    /// `service ps` of a swarm service: every task on every node, with what its node reports.
    pub async fn swarm_service_tasks(
        &self,
        reference: &str,
    ) -> Result<Option<Vec<TaskView>>, FerryError> {
        let Some(service) = self.find_swarm_service(reference).await? else {
            return Ok(None);
        };
        let link = self.cluster_link_for_services()?;
        Ok(Some(self.swarm_task_views(&link, &[service]).await?))
    }

    /// Every task of every swarm service (Docker's `GET /tasks`); `None` off a swarm.
    pub async fn swarm_tasks(&self) -> Result<Option<Vec<TaskView>>, FerryError> {
        let Some(link) = self.cluster.get() else {
            return Ok(None);
        };
        let services = self.cluster_services(&link).await?;
        Ok(Some(self.swarm_task_views(&link, &services).await?))
    }

    /// The tasks of `services`, with what their nodes report, in Docker's order: by service,
    /// by slot, the running task first, then the history, newest first.
    async fn swarm_task_views(
        &self,
        link: &ClusterLink,
        services: &[Service],
    ) -> Result<Vec<TaskView>, FerryError> {
        let store = link.store.as_ref();
        let tasks: Vec<TaskRecord> = ferry_store::list_json(store, Table::Tasks)
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        let statuses: BTreeMap<String, TaskStatus> =
            ferry_store::list_json::<TaskStatus>(store, Table::TaskStatus)
                .await
                .map_err(|e| unavailable(&e.to_string()))?
                .into_iter()
                .map(|s| (s.task_id.clone(), s))
                .collect();
        let hostnames = self.node_hostnames(link).await;
        let mut out: Vec<(usize, u32, bool, String, TaskView)> = tasks
            .into_iter()
            .filter_map(|t| {
                let (n, service) = services
                    .iter()
                    .enumerate()
                    .find(|(_, s)| s.id == t.service_id)?;
                let st = statuses.get(&t.id);
                let state = match (st, t.is_pending()) {
                    (_, true) => "pending".to_string(),
                    (Some(s), _) => s.state.clone(),
                    (None, _) if t.desired == TaskDesired::Shutdown => "shutdown".into(),
                    (None, _) => "assigned".into(),
                };
                let view = TaskView {
                    id: t.id.clone(),
                    name: format!("{}.{}", service.name, t.slot),
                    service_id: service.id.clone(),
                    slot: t.slot,
                    desired_state: t.desired.as_str().into(),
                    state,
                    error: st
                        .map(|s| s.error.clone())
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| t.message.clone()),
                    exit_code: st.and_then(|s| s.exit_code),
                    addresses: st.map(|s| s.addresses.clone()).unwrap_or_default(),
                    node: hostnames.get(&t.node_id).cloned().unwrap_or_default(),
                    node_id: t.node_id.clone(),
                    created_at: t.created_at.clone(),
                    sandbox_id: st.map(|s| s.sandbox_id.clone()).unwrap_or_default(),
                };
                Some((
                    n,
                    t.slot,
                    t.desired != TaskDesired::Running,
                    t.created_at,
                    view,
                ))
            })
            .collect();
        out.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
                .then(b.3.cmp(&a.3))
        });
        Ok(out.into_iter().map(|(_, _, _, _, v)| v).collect())
    }

    /// How many replicas of each swarm service run, on every node, as the nodes report.
    pub(crate) async fn swarm_running(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        let Some(link) = self.cluster.get() else {
            return out;
        };
        let store = link.store.as_ref();
        let (Ok(tasks), Ok(statuses)) = (
            ferry_store::list_json::<TaskRecord>(store, Table::Tasks).await,
            ferry_store::list_json::<TaskStatus>(store, Table::TaskStatus).await,
        ) else {
            return out;
        };
        let running: BTreeSet<&str> = statuses
            .iter()
            .filter(|s| s.state == "running")
            .map(|s| s.task_id.as_str())
            .collect();
        for t in tasks
            .iter()
            .filter(|t| t.desired == TaskDesired::Running && running.contains(t.id.as_str()))
        {
            *out.entry(t.service_id.clone()).or_default() += 1;
        }
        out
    }

    /// Refuses a network a swarm service cannot use (Docker's words).
    fn check_swarm_scoped(&self, net: &ferry_types::Network) -> Result<(), FerryError> {
        if self.is_global(net) {
            return Ok(());
        }
        Err(FerryError::invalid(format!(
            "the network {} cannot be used with services: only networks scoped to the swarm can be used, such as those created with the overlay driver (ferry network create -d overlay NAME)",
            net.name
        )))
    }

    /// Refuses a routing-mesh port when the swarm has no ingress network.
    async fn require_ingress(&self) -> Result<(), FerryError> {
        match self.lock().await.ingress_network() {
            Some(_) => Ok(()),
            None => Err(no_ingress()),
        }
    }

    fn cluster_link_for_services(&self) -> Result<std::sync::Arc<ClusterLink>, FerryError> {
        self.cluster.get().ok_or_else(|| {
            FerryError::unavailable(
                "this node is not part of a swarm (or has left it): swarm services need one; run `ferry swarm init` or `ferry swarm join`",
            )
        })
    }

    async fn node_records(&self, link: &ClusterLink) -> Vec<serde_json::Value> {
        ferry_store::list_json::<serde_json::Value>(link.store.as_ref(), Table::Nodes)
            .await
            .unwrap_or_default()
    }

    async fn node_hostnames(&self, link: &ClusterLink) -> BTreeMap<String, String> {
        self.node_records(link)
            .await
            .into_iter()
            .filter_map(|n| {
                Some((
                    n.get("id")?.as_str()?.to_string(),
                    n.get("hostname")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }

    async fn swarm_node_count(&self, link: &ClusterLink) -> Result<usize, FerryError> {
        Ok(self.node_records(link).await.len())
    }

    /// Refuses a constraint on a node ID or hostname that no node of the swarm has: such a
    /// service could never run (node IDs never come back; a host to come is better named by
    /// a label).
    async fn check_node_constraints(
        &self,
        link: &ClusterLink,
        placement: &ferry_types::placement::Placement,
    ) -> Result<(), FerryError> {
        use ferry_types::placement::{ConstraintKey, ConstraintOp};
        let nodes = self.node_records(link).await;
        let has = |field: &str, value: &str| {
            nodes.iter().any(|n| {
                n.get(field)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
        };
        for c in &placement.constraints {
            if c.op != ConstraintOp::Eq {
                continue;
            }
            let (field, what) = match c.key {
                ConstraintKey::NodeId => ("id", "ID"),
                ConstraintKey::NodeHostname => ("hostname", "hostname"),
                _ => continue,
            };
            if !has(field, &c.value) {
                return Err(FerryError::invalid(format!(
                    "constraint {c}: no node of the swarm has the {what} {}; see ferry node ls",
                    c.value
                )));
            }
        }
        Ok(())
    }

    /// Claims an address of `network_id` for a service's VIP, cluster-wide: an address
    /// another node holds is kept out of local hands and the next one tried.
    async fn claim_vip(
        &self,
        link: &ClusterLink,
        service_id: &str,
        network_id: &str,
    ) -> Result<IpNet, FerryError> {
        let claims = Claims::new(link.store.as_ref());
        let owner = vip_owner(service_id);
        for _ in 0..VIP_TRIES {
            let addr = {
                let mut st = self.lock().await;
                Self::allocate_vip(&mut st, network_id)?
            };
            match claims
                .claim_address(network_id, addr.addr(), &owner, None)
                .await
            {
                Ok(()) => return Ok(addr),
                // Kept allocated here: another node's endpoint or VIP has it.
                Err(ClaimError::Taken { .. }) => continue,
                Err(e) => {
                    let mut st = self.lock().await;
                    st.release_address(network_id, addr.addr());
                    return Err(unavailable(&e.to_string()));
                }
            }
        }
        Err(FerryError::conflict(format!(
            "no free address for the service's VIP could be claimed on network {network_id} after {VIP_TRIES} tries; try again"
        )))
    }

    async fn release_vip_claims(&self, link: &ClusterLink, service: &Service) {
        let claims = Claims::new(link.store.as_ref());
        for v in &service.vips {
            if let Err(e) = claims
                .release_address(&v.network_id, v.addr.addr(), &vip_owner(&service.id))
                .await
            {
                tracing::warn!(service = %service.name, error = %e, "a VIP's claim was not released");
            }
        }
    }

    // ---- the agent ----

    /// A swarm service or task record changed: once both tables were listed, brings this
    /// node's copies of the swarm services to the cluster and runs the tasks placed here.
    pub(crate) async fn apply_swarm_change(&self, table: Table, _c: Change) {
        let _ = table;
        self.sync_swarm_services().await;
    }

    /// Brings this node's swarm services to the cluster's: new and changed ones recorded
    /// here (with the tasks placed on this node) and converged, gone ones removed with their
    /// replicas.
    pub(crate) async fn sync_swarm_services(&self) {
        let Some(link) = self.cluster.get() else {
            return;
        };
        if !self.cluster_rt.swarm_listed() {
            return;
        }
        // Replicas on the routing mesh answer through the host's own link there: it comes
        // first.
        self.ensure_node_ingress().await;
        let wanted: Vec<Service> = {
            let services = self.cluster_rt.services.lock().await;
            let tasks = self.cluster_rt.task_records.lock().await;
            let placed: Vec<TaskRecord> = tasks
                .records()
                .filter_map(|(_, v)| serde_json::from_slice::<TaskRecord>(v).ok())
                .filter(|t| t.runs_on(&link.node_id))
                .collect();
            services
                .records()
                .filter_map(|(_, v)| serde_json::from_slice::<Service>(v).ok())
                .map(|mut s| {
                    // A slot with two tasks here (an update that starts the new one
                    // first): the newest is the slot's, the older ones run until the leader
                    // shuts them down.
                    let mut mine: Vec<&TaskRecord> =
                        placed.iter().filter(|t| t.service_id == s.id).collect();
                    mine.sort_by(|a, b| {
                        (a.slot, a.spec_version, &a.created_at, &a.id).cmp(&(
                            b.slot,
                            b.spec_version,
                            &b.created_at,
                            &b.id,
                        ))
                    });
                    let mut here: BTreeMap<u32, String> = BTreeMap::new();
                    let mut outgoing: BTreeMap<String, u32> = BTreeMap::new();
                    for t in mine {
                        if let Some(older) = here.insert(t.slot, t.id.clone()) {
                            outgoing.insert(older, t.slot);
                        }
                    }
                    let template_version = s
                        .swarm
                        .as_ref()
                        .map(|t| t.template_version)
                        .unwrap_or(s.version);
                    s.swarm = Some(SwarmTasks {
                        here,
                        outgoing,
                        template_version,
                    });
                    s
                })
                .collect()
        };
        let ids: BTreeSet<String> = wanted.iter().map(|s| s.id.clone()).collect();
        let mut changed = Vec::new();
        {
            let mut st = self.lock().await;
            for s in wanted {
                let before = st.service(&s.id).cloned();
                if before.as_ref() == Some(&s) {
                    continue;
                }
                let saved = match Op::put_json(Table::Services, &s.id, &s) {
                    Ok(op) => self.save(vec![op]).await,
                    Err(e) => Err(store_err(e)),
                };
                if let Err(e) = saved {
                    tracing::warn!(service = %s.name, error = %e, "a swarm service was not recorded here");
                    continue;
                }
                for v in &s.vips {
                    st.mark_taken(&v.network_id, v.addr.addr());
                }
                // Every node holds the service's routing-mesh ports.
                if before.as_ref().map(|b| &b.spec.ports) != Some(&s.spec.ports) {
                    self.release_mesh_ports(&mut st, &s.id);
                    let ports: Vec<svc::ServicePort> = mesh_ports(&s.spec).cloned().collect();
                    if let Err(e) = self.hold_mesh_ports(&mut st, &s, &ports) {
                        tracing::warn!(service = %s.name, error = %e, "a swarm service's published port is not open on this node");
                    }
                }
                st.put_service(s.clone());
                if before.as_ref().map(|b| &b.vips) != Some(&s.vips) || before.is_none() {
                    if let Err(e) = self.plumb_service(&mut st, &s).await {
                        tracing::warn!(service = %s.name, error = %e, "a swarm service's VIPs were not set up here");
                    }
                }
                changed.push(s.id.clone());
            }
        }
        for id in &changed {
            self.converge(id).await;
        }
        let gone: Vec<String> = {
            let st = self.lock().await;
            st.services()
                .filter(|s| s.swarm.is_some() && !ids.contains(&s.id))
                .map(|s| s.id.clone())
                .collect()
        };
        for id in gone {
            if let Err(e) = self.remove_local_service(&id).await {
                tracing::warn!(service = %id, error = %e, "a swarm service the cluster dropped was not removed here");
            }
        }
        self.endpoints_changed();
    }

    /// What this node reports of the swarm tasks it runs, by task ID: each replica's state,
    /// and `rejected` with the reason for a task whose replica could not be made.
    pub(crate) fn task_statuses(&self, st: &State, node_id: &str) -> BTreeMap<String, TaskStatus> {
        let mut out = BTreeMap::new();
        let errors = self
            .replica_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let restarts = self
            .task_restarts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for s in st.services() {
            let Some(t) = &s.swarm else {
                continue;
            };
            for (slot, task) in &t.here {
                if let Some(e) = errors.get(&(s.id.clone(), *slot)) {
                    out.insert(
                        task.clone(),
                        TaskStatus {
                            task_id: task.clone(),
                            node_id: node_id.to_string(),
                            state: "rejected".into(),
                            error: e.clone(),
                            exit_code: None,
                            sandbox_id: String::new(),
                            addresses: Vec::new(),
                            started_at: String::new(),
                            restarts: restarts.get(task).copied().unwrap_or(0),
                        },
                    );
                }
            }
        }
        for sb in st.sandboxes() {
            let Some(r) = &sb.config.replica_of else {
                continue;
            };
            let Some(task) = &r.task else {
                continue;
            };
            let Some(service) = st.service(&r.service).filter(|s| s.wants(r)) else {
                continue;
            };
            // A replica that could not start says why (a host port taken on this node); the
            // slot's error is its current task's.
            let failed = (!sb.is_running() && service.is_current(r))
                .then(|| errors.get(&(r.service.clone(), r.slot)))
                .flatten();
            out.insert(
                task.clone(),
                TaskStatus {
                    task_id: task.clone(),
                    node_id: node_id.to_string(),
                    state: match failed {
                        Some(_) => "rejected".into(),
                        None => sb.state.status.as_str().into(),
                    },
                    error: failed.cloned().unwrap_or_else(|| sb.state.error.clone()),
                    exit_code: sb.state.exit_code,
                    sandbox_id: sb.id.to_string(),
                    addresses: sb
                        .endpoints
                        .iter()
                        .flat_map(|e| e.ipv4.iter().chain(e.ipv6.iter()))
                        .map(|a| a.to_string())
                        .collect(),
                    started_at: sb
                        .state
                        .started_at
                        .filter(|_| sb.is_running())
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    restarts: restarts.get(task).copied().unwrap_or(0),
                },
            );
        }
        out
    }

    /// The swarm service a sandbox is a live, wanted replica of.
    pub(crate) fn swarm_service_of(st: &State, sb: &ferry_types::Sandbox) -> Option<String> {
        let r = sb.config.replica_of.as_ref()?;
        r.task.as_ref()?;
        let s = st.service(&r.service)?;
        (s.swarm.is_some() && s.wants(r) && sb.is_running()).then(|| r.service.clone())
    }
}

/// A swarm service's ports published through the routing mesh.
fn mesh_ports(spec: &ServiceSpec) -> impl Iterator<Item = &svc::ServicePort> {
    spec.ports.iter().filter(|p| p.mode == PublishMode::Ingress)
}

/// The claim that holds a routing-mesh port for the whole swarm.
fn port_claim(p: &svc::ServicePort) -> String {
    format!("port/{}/{}", p.proto.as_str(), p.published)
}

fn port_taken(key: &str) -> FerryError {
    let what = key
        .strip_prefix("port/")
        .map(|r| {
            let (proto, port) = r.split_once('/').unwrap_or(("tcp", r));
            format!("{port}/{proto}")
        })
        .unwrap_or_else(|| key.to_string());
    FerryError::conflict(format!(
        "port {what} is already published through the routing mesh by another swarm service (it is open on every node); remove that service or publish another port"
    ))
}

fn no_ingress() -> FerryError {
    FerryError::invalid(
        "publishing through the routing mesh (mode=ingress) needs the swarm's ingress network, and there is none: create it with `ferry network create -d overlay --ingress ingress`, or publish with mode=host",
    )
}

fn name_taken(name: &str) -> FerryError {
    FerryError::conflict(format!(
        "a service named {name} already exists in the swarm; remove it or choose another name"
    ))
}

fn unavailable(why: &str) -> FerryError {
    FerryError::unavailable(format!(
        "the swarm's store cannot be reached: {why}; try again when the swarm's managers are up"
    ))
}

//! The controller's part in a swarm. Global-scope networks (overlays) live in the cluster's
//! store: created there with cluster-wide claims on their VXLAN ID and subnet, and followed
//! by every node with a watch, which keeps a copy of them in the node's own store (so a
//! restart finds its endpoints' networks before the cluster is back). Each node publishes
//! its endpoints on them as peer records under its session lease, and follows everyone
//! else's: their drivers program the kernel, the resolver answers their names, and IPAM
//! keeps their addresses out of local hands.

use super::{new_id, store_err, Controller};
use crate::cluster::mirror::{Change, Mirror};
use crate::cluster::ClusterLink;
use crate::driver::Scope;
use crate::state::State;
use ferry_cluster::{ClaimError, Claims, PeerRecord, TaskStatus};
use ferry_driver_options::overlay::{parse_overlay_options, VNI_RANGE, VXLAN_ID};
use ferry_store::{Condition, Op, Table, Txn};
use ferry_types::api::{CreateResponse, IpamConfig, NetworkCreateRequest};
use ferry_types::{Endpoint, FerryError, Network, NetworkId};
use futures::StreamExt;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long a node waits before it lists a table again after a failed list or a lost watch.
const RETRY: Duration = Duration::from_millis(500);
/// How many endpoint records one transaction writes (etcd's default limit is 128 operations).
const BATCH: usize = 100;
/// How many addresses a node tries before it gives up claiming one (the others were taken by
/// other nodes at the same moment).
const CLAIM_TRIES: usize = 16;

/// What the controller keeps while the node is in a swarm.
#[derive(Default)]
pub(crate) struct ClusterRuntime {
    /// The watches and the publisher.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    /// The cluster's networks, as last seen.
    networks: tokio::sync::Mutex<Mirror>,
    /// Every node's endpoints, as last seen.
    pub(crate) peers: tokio::sync::Mutex<Mirror>,
    /// Wakes the publisher after a local endpoint came or went.
    dirty: tokio::sync::Notify,
    /// How many rounds the publisher began, and finished with everything written; `rounds`
    /// wakes whoever waits for a round to finish.
    round_begun: std::sync::atomic::AtomicU64,
    round_done: std::sync::atomic::AtomicU64,
    rounds: tokio::sync::Notify,
    /// This node's records in the cluster's store, as last written, with the lease each is
    /// on (0: found in the store at attach, written by an earlier session).
    published: tokio::sync::Mutex<BTreeMap<String, (PeerRecord, i64)>>,
    /// Addresses this node claimed, by (network, address), with the endpoint that holds each
    /// and the lease the claim is on.
    claimed: std::sync::Mutex<BTreeMap<(String, IpAddr), (String, i64)>>,
    /// The cluster's swarm services, as last seen.
    pub(crate) services: tokio::sync::Mutex<Mirror>,
    /// The cluster's tasks, as last seen.
    pub(crate) task_records: tokio::sync::Mutex<Mirror>,
    /// The tables listed since the node attached: swarm services are synced only once both
    /// services and tasks were (a service seen before its tasks would lose its replicas).
    listed: std::sync::Mutex<std::collections::BTreeSet<Table>>,
    /// This node's task reports in the cluster's store, as last written.
    statuses: tokio::sync::Mutex<BTreeMap<String, TaskStatus>>,
    /// This node's presence on the routing mesh's network.
    pub(crate) node_ingress: tokio::sync::Mutex<Option<super::ingress::NodeIngress>>,
    /// The routing mesh's paths to the other nodes, as applied.
    pub(crate) mesh: tokio::sync::Mutex<super::mesh_paths::MeshPaths>,
    /// This node's load-balancer addresses on overlays.
    pub(crate) lb: tokio::sync::Mutex<super::lb_addresses::LbAddresses>,
}

impl ClusterRuntime {
    /// Whether both the services and the tasks were listed since the attach.
    pub(crate) fn swarm_listed(&self) -> bool {
        let l = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        l.contains(&Table::Services) && l.contains(&Table::Tasks)
    }
}

/// A claim failure as an API error.
fn claim_err(e: ClaimError) -> FerryError {
    match e {
        ClaimError::Store(s) => FerryError::unavailable(format!(
            "the cluster's store cannot be reached: {s}; try again when the swarm's managers are up"
        )),
        other @ (ClaimError::Taken { .. } | ClaimError::Exhausted { .. }) => {
            FerryError::conflict(other.to_string())
        }
        other => FerryError::internal(other.to_string()),
    }
}

/// The owner recorded on an address claim: the node and the endpoint.
pub(crate) fn claim_owner(node_id: &str, endpoint_id: &str) -> String {
    format!("{node_id}/{endpoint_id}")
}

impl Controller {
    /// Makes this node a member of a swarm: the cluster's networks and every node's endpoints
    /// on them are followed from now on, and this node's endpoints are published.
    pub async fn attach_cluster(&self, link: Arc<ClusterLink>) -> Result<(), FerryError> {
        self.detach_tasks();
        tracing::info!(node = %link.node_id, store = %link.store.describe(), "joined a swarm");
        // What this node wrote before: kept while the earlier session lives, so that a restart
        // withdraws nothing, and moved onto this session by the first publication.
        let mut mine = BTreeMap::new();
        match link.store.list(Table::Peers).await {
            Ok(listing) => {
                for e in listing.entries {
                    if let Ok(p) = serde_json::from_slice::<PeerRecord>(&e.value) {
                        if p.node_id == link.node_id {
                            // On an earlier session's lease, which ends without its daemon:
                            // written again under this one.
                            mine.insert(e.key, (p, 0));
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the cluster's endpoints cannot be listed yet"),
        }
        *self.cluster_rt.published.lock().await = mine;
        // Written again under the new lease.
        self.cluster_rt.statuses.lock().await.clear();
        self.cluster_rt
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.cluster.set(Some(link));
        let Some(me) = self.arc() else {
            return Ok(());
        };
        let tasks = vec![
            tokio::spawn(me.clone().follow(Table::Networks)).abort_handle(),
            tokio::spawn(me.clone().follow(Table::Peers)).abort_handle(),
            tokio::spawn(me.clone().follow(Table::Services)).abort_handle(),
            tokio::spawn(me.clone().follow(Table::Tasks)).abort_handle(),
            tokio::spawn(me.clone().publisher()).abort_handle(),
        ];
        *self
            .cluster_rt
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = tasks;
        self.cluster_rt.dirty.notify_one();
        Ok(())
    }

    /// Ends this node's swarm membership: the watches stop, every other node's endpoints are
    /// withdrawn from the kernel and the resolver, and the cluster's networks that no local
    /// sandbox uses are forgotten.
    pub async fn detach_cluster(&self) -> Result<(), FerryError> {
        self.detach_tasks();
        // A node that leaves runs no swarm replicas any more.
        let swarm: Vec<String> = {
            let st = self.lock().await;
            st.services()
                .filter(|s| s.swarm.is_some())
                .map(|s| s.id.clone())
                .collect()
        };
        for id in swarm {
            if let Err(e) = self.remove_local_service(&id).await {
                tracing::warn!(service = %id, error = %e, "a swarm service was not removed on leave");
            }
        }
        self.drop_node_ingress(true).await;
        self.drop_lb_addresses().await;
        self.cluster_rt.services.lock().await.clear();
        self.cluster_rt.task_records.lock().await.clear();
        self.cluster_rt.statuses.lock().await.clear();
        let peers = self.cluster_rt.peers.lock().await.clear();
        for c in peers {
            self.apply_peer_change(c).await;
        }
        let nets = self.cluster_rt.networks.lock().await.clear();
        for c in nets {
            self.apply_network_change(c).await;
        }
        self.cluster_rt.published.lock().await.clear();
        self.cluster.set(None);
        Ok(())
    }

    /// Stops following the cluster (the daemon shuts down) and leaves everything in place: the
    /// kernel keeps the other nodes' entries, so the sandboxes keep talking until the next
    /// start lists the cluster again and converges.
    pub fn suspend_cluster(&self) {
        self.detach_tasks();
        self.cluster.set(None);
    }

    /// This node's swarm membership, if it has one.
    pub fn cluster(&self) -> Option<Arc<ClusterLink>> {
        self.cluster.get()
    }

    fn detach_tasks(&self) {
        for t in self
            .cluster_rt
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// The membership, or the refusal of a global-scope operation without one.
    fn cluster_link(&self) -> Result<Arc<ClusterLink>, FerryError> {
        self.cluster.get().ok_or_else(|| {
            FerryError::unavailable(
                "this node is not part of a swarm: overlay networks need one; run `ferry swarm init` or `ferry swarm join` first",
            )
        })
    }

    /// True when the network lives in the cluster's store.
    pub(crate) fn is_global(&self, net: &Network) -> bool {
        self.driver(net)
            .is_ok_and(|d| d.capability().scope == Scope::Global)
    }

    /// Refuses a standalone sandbox on a global network made without `--attachable`, as
    /// Docker does (such a network is for services).
    pub(crate) fn check_attachable(&self, net: &Network) -> Result<(), FerryError> {
        if self.is_global(net) && !net.attachable {
            return Err(FerryError::forbidden(format!(
                "network {} is not manually attachable: only services use it; create it with --attachable to run sandboxes on it",
                net.name
            )));
        }
        Ok(())
    }

    /// `network create` of a global-scope network: its VXLAN ID and subnet are claimed in
    /// the cluster, then its record written there; every node learns of it by its watch.
    pub(crate) async fn create_global_network(
        &self,
        mut req: NetworkCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        let link = self.cluster_link()?;
        // What the request's checks and the driver would refuse, refused before anything is
        // claimed.
        let wanted: Vec<IpNet> = ferry_types::validate::network_request(&req)?
            .subnets
            .iter()
            .map(|s| s.subnet)
            .collect();
        if req.ingress {
            req.options
                .insert(ferry_driver_options::overlay::INGRESS.into(), "true".into());
            req.ingress = false;
        }
        let opts = parse_overlay_options(&req.options)?;
        let mut st = self.lock().await;
        if st.network_name_taken(&req.name) {
            return Err(FerryError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        if opts.ingress {
            if let Some(other) = st.ingress_network() {
                return Err(FerryError::conflict(format!(
                    "the swarm has an ingress network already ({}): remove it first, there is one routing mesh",
                    other.name
                )));
            }
        }
        let id: NetworkId = new_id();
        // Static addresses need subnets the user chose, as in Docker (not one from the pools).
        let user_subnets = !wanted.is_empty();
        let claims = Claims::new(link.store.as_ref());
        let range = match opts.vni {
            Some(v) => v..=v,
            None => VNI_RANGE,
        };
        let vni = claims.claim_vni(&id, range).await.map_err(claim_err)?;
        let made = self
            .claim_subnets(&claims, &link, &id, &wanted, &mut req)
            .await
            .map_err(|e| (e, Vec::new()));
        let result = match made {
            Ok(claimed) => {
                req.options.insert(VXLAN_ID.into(), vni.to_string());
                self.record_global_network(&mut st, &link, &req, id.clone(), user_subnets)
                    .await
                    .map_err(|e| (e, claimed))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(CreateResponse {
                id: id.into(),
                warning: String::new(),
            }),
            Err((e, subnets)) => {
                for s in subnets {
                    let _ = claims.release_subnet(&s, &id).await;
                }
                let _ = claims.release_vni(vni, &id).await;
                Err(e)
            }
        }
    }

    /// Claims the subnets a new global network asks for, or one from the swarm's pools, and
    /// writes them into the request.
    async fn claim_subnets(
        &self,
        claims: &Claims<'_>,
        link: &ClusterLink,
        owner: &str,
        wanted: &[IpNet],
        req: &mut NetworkCreateRequest,
    ) -> Result<Vec<IpNet>, FerryError> {
        let mut claimed = Vec::new();
        let ipam = req.ipam.get_or_insert_with(Default::default);
        let pools: Vec<ferry_ipam::PoolSpec> = link
            .default_addr_pools
            .iter()
            .map(|p| ferry_ipam::PoolSpec {
                base: *p,
                size: link.default_pool_mask_len,
            })
            .collect();
        let release = |claimed: Vec<IpNet>| async move {
            for s in claimed {
                let _ = claims.release_subnet(&s, owner).await;
            }
        };
        for w in wanted {
            match claims.claim_subnet(owner, Some(*w), &pools).await {
                Ok(s) => claimed.push(s),
                Err(e) => {
                    release(claimed).await;
                    return Err(claim_err(e));
                }
            }
        }
        if !wanted.iter().any(|w| matches!(w, IpNet::V4(_))) {
            match claims.claim_subnet(owner, None, &pools).await {
                Ok(s) => {
                    claimed.push(s);
                    ipam.config.insert(
                        0,
                        IpamConfig {
                            subnet: s.to_string(),
                            gateway: ferry_types::validate::first_host(&s).to_string(),
                            ..Default::default()
                        },
                    );
                }
                Err(e) => {
                    release(claimed).await;
                    return Err(claim_err(e));
                }
            }
        }
        Ok(claimed)
    }

    /// Builds the network's record and writes it into the cluster's store, then into this
    /// node's state (the watch brings it to the others).
    async fn record_global_network(
        &self,
        st: &mut State,
        link: &ClusterLink,
        req: &NetworkCreateRequest,
        id: NetworkId,
        user_subnets: bool,
    ) -> Result<(), FerryError> {
        let mut net = self.build_network(st, req, false, id).await?;
        net.user_subnets = user_subnets;
        let txn = Txn::new(vec![Self::put_network_op(&net)?]).when(Condition::Absent {
            table: Table::Networks,
            key: net.id.to_string(),
        });
        link.store.apply(txn).await.map_err(|e| {
            FerryError::unavailable(format!(
                "the cluster's store cannot be reached: {e}; try again when the swarm's managers are up"
            ))
        })?;
        self.adopt_network(st, net).await;
        Ok(())
    }

    /// Takes a cluster network into this node's state, its copy and its resolver.
    async fn adopt_network(&self, st: &mut State, net: Network) {
        if st.network(&net.id) == Some(&net) {
            return;
        }
        if let Err(e) = st.put_network(net.clone()) {
            tracing::warn!(network = %net.name, error = %e, "a cluster network cannot be used here");
            return;
        }
        let saved = match Self::put_network_op(&net) {
            Ok(op) => self.save(vec![op]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            tracing::warn!(network = %net.name, error = %e, "the copy of a cluster network was not saved");
        }
        self.dns_add_network(&net);
        tracing::info!(network = %net.name, driver = %net.driver, "cluster network known");
        // The services and networks of the cluster reach a node by separate watches: a
        // service recorded here before its network got no VIP on it (`plumb_service` skips a
        // network it does not know), so no name, balancer or VIP there. It gets them now.
        let waiting: Vec<ferry_types::service::Service> = st
            .services_on(&net.id)
            .filter(|s| s.vips.iter().any(|v| v.network_id == net.id))
            .cloned()
            .collect();
        for s in waiting {
            if let Err(e) = self.plumb_service(st, &s).await {
                tracing::warn!(service = %s.name, network = %net.name, error = %e, "a swarm service's VIP was not set up on a network that reached this node late");
            }
        }
    }

    /// `network rm` of a global-scope network: refused while any node has an endpoint on it;
    /// otherwise gone from the cluster, with its claims.
    pub(crate) async fn remove_global_network(&self, net: Network) -> Result<(), FerryError> {
        let link = self.cluster_link()?;
        // This node's own records may still be on their way out; its sandboxes were checked.
        let elsewhere = {
            let peers = self.cluster_rt.peers.lock().await;
            let prefix = format!("{}/", net.id);
            let n = peers
                .with_prefix(&prefix)
                .filter(|(k, _)| {
                    ferry_cluster::peers::split_peer_key(k)
                        .is_some_and(|(_, node, _)| node != link.node_id)
                })
                .count();
            n
        };
        if elsewhere > 0 {
            return Err(FerryError::conflict(format!(
                "network {} has active endpoints on other nodes ({elsewhere}); disconnect or remove them first",
                net.name
            )));
        }
        let mut st = self.lock().await;
        link.store
            .apply_ops(vec![Op::delete(Table::Networks, &net.id)])
            .await
            .map_err(|e| {
                FerryError::unavailable(format!(
                    "the cluster's store cannot be reached: {e}; try again when the swarm's managers are up"
                ))
            })?;
        let claims = Claims::new(link.store.as_ref());
        for s in &net.subnets {
            let _ = claims.release_subnet(&s.subnet, &net.id).await;
        }
        if let Some(vni) = net
            .options
            .get(VXLAN_ID)
            .and_then(|v| v.parse::<u32>().ok())
        {
            let _ = claims.release_vni(vni, &net.id).await;
        }
        if st.network(&net.id).is_some() {
            self.delete_network(&mut st, &net).await?;
        }
        Ok(())
    }

    /// Claims an endpoint's addresses on a global network; an address another node took in
    /// the meantime is kept out of local hands and the next one tried.
    pub(crate) async fn claim_endpoint_addresses(
        &self,
        st: &mut State,
        net: &Network,
        att: &ferry_types::Attachment,
        mut ep: Endpoint,
    ) -> Result<Endpoint, FerryError> {
        let link = self.cluster_link()?;
        let claims = Claims::new(link.store.as_ref());
        for _ in 0..CLAIM_TRIES {
            let owner = claim_owner(&link.node_id, &ep.id);
            let mut lost = None;
            let mut won = Vec::new();
            for ip in ep.ipv4.iter().chain(ep.ipv6.iter()).map(|a| a.addr()) {
                match claims
                    .claim_address(&net.id, ip, &owner, Some(link.lease))
                    .await
                {
                    Ok(()) => won.push(ip),
                    Err(ClaimError::Taken { .. }) => {
                        lost = Some(ip);
                        break;
                    }
                    Err(e) => {
                        for ip in won {
                            let _ = claims.release_address(&net.id, ip, &owner).await;
                        }
                        Self::release_endpoint(st, &ep);
                        return Err(claim_err(e));
                    }
                }
            }
            let Some(taken) = lost else {
                let mut claimed = self
                    .cluster_rt
                    .claimed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                for ip in won {
                    claimed.insert((net.id.to_string(), ip), (ep.id.to_string(), link.lease));
                }
                return Ok(ep);
            };
            for ip in won {
                let _ = claims.release_address(&net.id, ip, &owner).await;
            }
            // Another node holds it: it stays allocated here until its record goes.
            Self::release_endpoint(st, &ep);
            st.mark_taken(&net.id, taken);
            if att.ipv4 == Some(taken) || att.ipv6 == Some(taken) {
                return Err(FerryError::conflict(format!(
                    "address {taken} is already in use on network {} by an endpoint of another node",
                    net.name
                )));
            }
            ep = self.allocate_endpoint(st, net, att, ep.ifname.clone())?;
        }
        Self::release_endpoint(st, &ep);
        Err(FerryError::conflict(format!(
            "no free address could be claimed on network {} after {CLAIM_TRIES} tries: other nodes took each one first; try again",
            net.name
        )))
    }

    /// Lets the publisher know that this node's endpoints changed.
    pub(crate) fn endpoints_changed(&self) {
        self.cluster_rt.dirty.notify_one();
    }

    /// Follows one table of the cluster's store for as long as the node is in the swarm:
    /// lists it, applies what differs from the copy, then applies each event; after a lost
    /// watch (compaction, a member gone) it lists again.
    async fn follow(self: Arc<Self>, table: Table) {
        loop {
            let Some(link) = self.cluster.get() else {
                return;
            };
            let listing = match link.store.list(table).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(table = %table, error = %e, "the cluster's store cannot be listed; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let changes = self.mirror_of(table).lock().await.relist(listing.entries);
            let swarm_table = matches!(table, Table::Services | Table::Tasks);
            if !swarm_table {
                for c in changes {
                    self.apply(table, c).await;
                }
            } else {
                self.cluster_rt
                    .listed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(table);
                self.sync_swarm_services().await;
            }
            if table == Table::Networks {
                self.forget_networks_gone_from_cluster().await;
                self.ensure_node_ingress().await;
            }
            if table == Table::Peers {
                for d in self.drivers.all() {
                    if let Some(pa) = d.peer_aware() {
                        if let Err(e) = pa.converge_peers().await {
                            tracing::warn!(error = %e, "stale overlay entries not removed");
                        }
                    }
                }
            }
            let mut events = match link.store.watch(table, listing.revision + 1).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(table = %table, error = %e, "the cluster's store cannot be watched; listing again");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => {
                        let change = self.mirror_of(table).lock().await.event(ev);
                        if let Some(c) = change {
                            self.apply(table, c).await;
                        }
                    }
                    Err(e) => {
                        tracing::info!(table = %table, error = %e, "watch of the cluster's store lost; listing again");
                        break;
                    }
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    fn mirror_of(&self, table: Table) -> &tokio::sync::Mutex<Mirror> {
        match table {
            Table::Peers => &self.cluster_rt.peers,
            Table::Services => &self.cluster_rt.services,
            Table::Tasks => &self.cluster_rt.task_records,
            _ => &self.cluster_rt.networks,
        }
    }

    async fn apply(&self, table: Table, c: Change) {
        match table {
            Table::Peers => self.apply_peer_change(c).await,
            Table::Services | Table::Tasks => self.apply_swarm_change(table, c).await,
            _ => self.apply_network_change(c).await,
        }
    }

    /// A cluster network appeared, changed or went.
    async fn apply_network_change(&self, c: Change) {
        match c {
            Change::Put { key, value, .. } => {
                let net: Network = match serde_json::from_slice(&value) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "unreadable cluster network ignored");
                        return;
                    }
                };
                let id = net.id.clone();
                let ingress = crate::state::is_ingress(&net);
                let mut st = self.lock().await;
                self.adopt_network(&mut st, net).await;
                drop(st);
                if ingress {
                    self.ensure_node_ingress().await;
                }
                // Names of endpoints that came before their network.
                let peers: Vec<PeerRecord> = {
                    let m = self.cluster_rt.peers.lock().await;
                    let prefix = format!("{id}/");
                    m.with_prefix(&prefix)
                        .filter_map(|(_, v)| serde_json::from_slice(v).ok())
                        .collect()
                };
                let mut st = self.lock().await;
                for p in peers {
                    self.peer_into_state(&mut st, &p);
                }
            }
            Change::Delete { key, old } => {
                let Ok(net) = serde_json::from_slice::<Network>(&old) else {
                    return;
                };
                if crate::state::is_ingress(&net) {
                    self.drop_node_ingress(true).await;
                }
                let mut st = self.lock().await;
                if st.network(&net.id).is_none() {
                    return;
                }
                if st.members(&net.id).next().is_some() {
                    tracing::warn!(network = %net.name, key = %key, "a cluster network was removed while sandboxes here use it; kept until they leave it");
                    return;
                }
                if let Err(e) = self.delete_network(&mut st, &net).await {
                    tracing::warn!(network = %net.name, error = %e, "a removed cluster network was not forgotten");
                }
            }
        }
    }

    /// After a listing: global networks this node still has from before (its own store's
    /// copy) that the cluster no longer does are removed, unless a local sandbox uses them.
    async fn forget_networks_gone_from_cluster(&self) {
        let known: std::collections::HashSet<String> = self
            .cluster_rt
            .networks
            .lock()
            .await
            .records()
            .map(|(k, _)| k.to_string())
            .collect();
        let mut st = self.lock().await;
        let gone: Vec<Network> = st
            .networks()
            .filter(|n| self.is_global(n) && !known.contains(n.id.as_str()))
            .cloned()
            .collect();
        for net in gone {
            if st.members(&net.id).next().is_some() {
                tracing::warn!(network = %net.name, "a network the cluster no longer has is kept while sandboxes here use it");
                continue;
            }
            if let Err(e) = self.delete_network(&mut st, &net).await {
                tracing::warn!(network = %net.name, error = %e, "a network the cluster no longer has was not removed");
            }
        }
    }

    /// Another node's endpoint appeared, changed or went.
    async fn apply_peer_change(&self, c: Change) {
        let own = self.cluster.get().map(|l| l.node_id.clone());
        let decode = |v: &[u8]| serde_json::from_slice::<PeerRecord>(v).ok();
        let (new, old) = match &c {
            Change::Put { value, old, .. } => (decode(value), old.as_deref().and_then(decode)),
            Change::Delete { old, .. } => (None, decode(old)),
        };
        let (raw_new, raw_old) = (new.clone(), old.clone());
        let others = |p: &Option<PeerRecord>| {
            p.clone()
                .filter(|p| Some(&p.node_id) != own.as_ref() || own.is_none())
        };
        let (new, old) = (others(&new), others(&old));
        let network = new.as_ref().or(old.as_ref()).map(|p| p.network_id.clone());
        if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
            for d in self.drivers.all() {
                if let Some(pa) = d.peer_aware() {
                    if let Err(e) = pa.peer_down(&old).await {
                        tracing::warn!(peer = %old.key(), error = %e, "a gone endpoint's entries were not removed");
                    }
                }
            }
            let mut st = self.lock().await;
            self.peer_out_of_state(&mut st, &old);
        }
        if let Some(new) = new {
            for d in self.drivers.all() {
                if let Some(pa) = d.peer_aware() {
                    if let Err(e) = pa.peer_up(&new).await {
                        tracing::warn!(peer = %new.key(), error = %e, "an endpoint's entries were not programmed");
                    }
                }
            }
            let mut st = self.lock().await;
            self.peer_into_state(&mut st, &new);
        }
        // Only the routing mesh's network has paths to follow.
        let on_mesh = self
            .cluster_rt
            .node_ingress
            .lock()
            .await
            .as_ref()
            .is_some_and(|ni| Some(&ni.network_id) == network.as_ref());
        if on_mesh {
            self.mesh_peer_changed(raw_old, raw_new).await;
        }
    }

    /// A remote endpoint's names answer on its network, and its addresses are not handed out
    /// here.
    fn peer_into_state(&self, st: &mut State, p: &PeerRecord) {
        // This node's own records are its sandboxes, in the state already: taken for a
        // remote replica, one would stay in the balancer after the replica went.
        if self.cluster.get().is_some_and(|l| l.node_id == p.node_id) {
            return;
        }
        let Some(net) = st.network(&p.network_id).cloned() else {
            return;
        };
        for ip in p.addrs() {
            st.mark_taken(&net.id, ip);
        }
        if self.has_dns(&net) {
            let entry = crate::resolver::Entry {
                sandbox: p.sandbox_id.clone(),
                names: p.names.clone(),
                addrs: p.addrs(),
            };
            self.resolver
                .update(|d| d.add_entry(&net.id, &net.name, &entry));
        }
        if let Some(service) = &p.service {
            if let Some(IpAddr::V4(a)) = p.ipv4.map(|a| a.addr()) {
                st.remote_replicas
                    .entry(service.clone())
                    .or_default()
                    .insert(p.key(), (p.network_id.as_str().into(), a));
                self.lb_refresh(st, service, None);
            }
        }
    }

    /// Undoes [`Self::peer_into_state`].
    fn peer_out_of_state(&self, st: &mut State, p: &PeerRecord) {
        self.dns_remove_endpoint(&p.network_id, &p.sandbox_id);
        if let Some(service) = &p.service {
            if let Some(r) = st.remote_replicas.get_mut(service) {
                r.remove(&p.key());
            }
            self.lb_refresh(st, service, None);
        }
        let local: Vec<IpAddr> = st
            .members(&p.network_id)
            .flat_map(|sb| sb.endpoint_on(&p.network_id))
            .flat_map(|ep| ep.ipv4.iter().chain(ep.ipv6.iter()).map(|a| a.addr()))
            .collect();
        for ip in p.addrs().into_iter().filter(|ip| !local.contains(ip)) {
            st.release_address(&p.network_id, ip);
        }
    }

    /// Writes this node's endpoint records whenever its endpoints change, retrying until the
    /// cluster's store takes them.
    async fn publisher(self: Arc<Self>) {
        loop {
            self.cluster_rt.dirty.notified().await;
            let round = self.cluster_rt.round_begun.fetch_add(1, Ordering::SeqCst) + 1;
            self.sync_lb_addresses().await;
            while let Err(e) = self.sync_published().await {
                tracing::warn!(error = %e, "this node's endpoints are not published yet; retrying");
                tokio::time::sleep(RETRY).await;
            }
            self.cluster_rt.round_done.store(round, Ordering::SeqCst);
            self.cluster_rt.rounds.notify_waiters();
        }
    }

    /// Publishes this node's endpoints as the state has them now, and waits (at most
    /// `limit`) until the cluster's store has them: the other nodes' balancers follow
    /// within their watches' latency.
    pub(crate) async fn publish_now(&self, limit: Duration) {
        if self.cluster.get().is_none() {
            return;
        }
        // A round under way may have read the state before the caller changed it: the
        // next one is the one to wait for.
        let want = self.cluster_rt.round_begun.load(Ordering::SeqCst) + 1;
        self.endpoints_changed();
        let _ = tokio::time::timeout(limit, async {
            loop {
                let woken = self.cluster_rt.rounds.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if self.cluster_rt.round_done.load(Ordering::SeqCst) >= want {
                    return;
                }
                woken.await;
            }
        })
        .await;
    }

    /// Brings this node's records in the cluster to its endpoints: writes what is new or
    /// changed, removes what is gone, and releases the addresses of endpoints that are gone.
    async fn sync_published(&self) -> Result<(), FerryError> {
        let Some(link) = self.cluster.get() else {
            return Ok(());
        };
        let IpAddr::V4(vtep) = link.advertise_addr else {
            return Ok(());
        };
        let (desired, present, statuses) = {
            let st = self.lock().await;
            let mut desired = BTreeMap::new();
            let mut present = BTreeMap::new();
            for sb in st.sandboxes() {
                for ep in &sb.endpoints {
                    let Some(net) = st.network(&ep.network_id) else {
                        continue;
                    };
                    if !self.is_global(net) {
                        continue;
                    }
                    for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                        present.insert((net.id.to_string(), a.addr()), ep.id.to_string());
                    }
                    if !sb.is_running() {
                        continue;
                    }
                    let rec = PeerRecord {
                        network_id: net.id.to_string(),
                        node_id: link.node_id.clone(),
                        endpoint_id: ep.id.to_string(),
                        sandbox_id: sb.id.to_string(),
                        vtep,
                        mac: ep.mac,
                        ipv4: ep.ipv4,
                        ipv6: ep.ipv6,
                        names: Self::endpoint_names(sb, ep),
                        service: Self::swarm_service_of(&st, sb),
                    };
                    desired.insert(rec.key(), rec);
                }
            }
            let statuses = self.task_statuses(&st, &link.node_id);
            (desired, present, statuses)
        };
        let mut desired = desired;
        // The host's own addresses on overlays: the routing mesh's and the load balancers'.
        let mut host_addrs: Vec<(String, ipnet::IpNet)> = Vec::new();
        if let Some(ni) = self.cluster_rt.node_ingress.lock().await.clone() {
            host_addrs.push((ni.network_id.clone(), ni.addr));
        }
        for (network_id, lb) in self.cluster_rt.lb.lock().await.held() {
            host_addrs.push((network_id.to_string(), lb.addr));
        }
        for (network_id, addr) in host_addrs {
            let rec = PeerRecord {
                network_id,
                node_id: link.node_id.clone(),
                endpoint_id: super::mesh_paths::HOST_ENDPOINT.into(),
                sandbox_id: String::new(),
                vtep,
                mac: crate::drivers::overlay::host_link_mac(addr.addr()),
                ipv4: Some(addr),
                ipv6: None,
                names: Vec::new(),
                service: None,
            };
            desired.insert(rec.key(), rec);
        }
        let mut published = self.cluster_rt.published.lock().await;
        let mut ops = Vec::new();
        for (k, rec) in &desired {
            if published.get(k) != Some(&(rec.clone(), link.lease)) {
                ops.push(rec.put(link.lease).map_err(store_err)?);
            }
        }
        for k in published.keys() {
            if !desired.contains_key(k) {
                ops.push(Op::delete(Table::Peers, k));
            }
        }
        for chunk in ops.chunks(BATCH) {
            link.store
                .apply_ops(chunk.to_vec())
                .await
                .map_err(store_err)?;
        }
        *published = desired
            .into_iter()
            .map(|(k, rec)| (k, (rec, link.lease)))
            .collect();
        drop(published);
        self.sync_statuses(&link, statuses).await?;
        self.sync_claims(&link, &present).await;
        Ok(())
    }

    /// Brings this node's task reports in the cluster to its replicas.
    async fn sync_statuses(
        &self,
        link: &ClusterLink,
        desired: BTreeMap<String, TaskStatus>,
    ) -> Result<(), FerryError> {
        let mut written = self.cluster_rt.statuses.lock().await;
        let mut ops = Vec::new();
        for (k, s) in &desired {
            if written.get(k) != Some(s) {
                ops.push(
                    Op::put_json_leased(Table::TaskStatus, k, s, link.lease).map_err(store_err)?,
                );
            }
        }
        for k in written.keys() {
            if !desired.contains_key(k) {
                ops.push(Op::delete(Table::TaskStatus, k));
            }
        }
        for chunk in ops.chunks(BATCH) {
            link.store
                .apply_ops(chunk.to_vec())
                .await
                .map_err(store_err)?;
        }
        *written = desired;
        Ok(())
    }

    /// Brings this node's address claims to its endpoints: every address of a local endpoint
    /// held under the node's current lease (a new session takes the old one's claims over),
    /// and the claims of endpoints that are gone released.
    async fn sync_claims(&self, link: &ClusterLink, present: &BTreeMap<(String, IpAddr), String>) {
        let claims = Claims::new(link.store.as_ref());
        let held: BTreeMap<(String, IpAddr), (String, i64)> = self
            .cluster_rt
            .claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((net, ip), ep) in present {
            let key = (net.clone(), *ip);
            if held.get(&key) == Some(&(ep.clone(), link.lease)) {
                continue;
            }
            let owner = claim_owner(&link.node_id, ep);
            match claims.renew_address(net, *ip, &owner, link.lease).await {
                Ok(()) => {
                    self.cluster_rt
                        .claimed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, (ep.clone(), link.lease));
                }
                Err(e) => {
                    tracing::warn!(network = %net, address = %ip, error = %e, "an endpoint's address claim was not renewed");
                }
            }
        }
        for ((net, ip), (ep, _)) in held {
            if present.contains_key(&(net.clone(), ip)) {
                continue;
            }
            match claims
                .release_address(&net, ip, &claim_owner(&link.node_id, &ep))
                .await
            {
                Ok(()) => {
                    self.cluster_rt
                        .claimed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&(net, ip));
                }
                Err(e) => {
                    tracing::warn!(network = %net, address = %ip, error = %e, "an address claim was not released");
                }
            }
        }
    }
}

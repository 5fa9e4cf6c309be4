//! This node's swarm membership: what a member runs, its attach to etcd and the engine, and
//! the re-attach after a restart. The operations are in the submodules: `init`, `join`,
//! `leave`, `cluster_ops` (inspect, tokens), `node_ops` and `service_logs`. One [`Swarm`] per
//! daemon; operations run one at a time.

mod cluster_ops;
mod init;
mod join;
mod leave;
mod node_ops;
mod service_logs;

use crate::addr;
use crate::etcd_member::{self, EtcdMember, MemberConfig};
use crate::etcd_ops::EtcdAccess;
use crate::join_proto::JoinRequest;
use crate::join_server::{self, JoinServer, JoinService};
use crate::local::{Files, Membership};
use crate::nodes;
use crate::records::{
    parse_role, Availability, ClusterRecord, NodeRecord, SessionRecord, CLUSTER_KEY,
};
use crate::session::Session;
use crate::{Result, SwarmError};
use ferry_engine::cluster::ClusterLink;
use ferry_engine::Controller;
use ferry_pki::{ClusterCa, JoinToken, NodeCertPolicy, NodeKey, Role, Validity};
use ferry_store::{Condition, EtcdStore, EtcdTls, Op, Store, Table, Txn};
use ferry_types::swarm::{
    JoinTokens, Node, NodeUpdate, SwarmInfo, SwarmInitRequest, SwarmInspect, SwarmJoinRequest,
};
use ferry_types::time::Timestamp;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The session TTL unless `swarm init` sets one.
pub const DEFAULT_LEASE_TTL: u64 = 10;
/// The overlay data path's port unless set.
pub const DEFAULT_DATA_PATH_PORT: u16 = 4789;
/// How long a new etcd member may take to answer.
const ETCD_READY: Duration = Duration::from_secs(30);
/// How often a node that cannot reach etcd at start tries again.
const RETRY: Duration = Duration::from_secs(2);

/// What a member node runs.
pub(crate) struct Active {
    pub(crate) m: Membership,
    pub(crate) access: EtcdAccess,
    pub(crate) store: Arc<dyn Store>,
    /// The same store, for changing its endpoints.
    pub(crate) etcd: Arc<EtcdStore>,
    pub(crate) member: Option<EtcdMember>,
    pub(crate) server: Option<JoinServer>,
    /// The node endpoint, which every member serves.
    node_server: Option<crate::node_server::NodeServer>,
    session: Option<Session>,
    follower: Option<tokio::task::JoinHandle<()>>,
    /// Follows this node's record: a role change or a removal is carried out here.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// The services' election and, while this node leads, placement.
    orchestrator: Option<tokio::task::JoinHandle<()>>,
    settings: ClusterRecord,
}

/// The state behind the lock.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) active: Option<Active>,
    /// The membership being re-attached after a restart (etcd not reached yet).
    pending: Option<Membership>,
    error: String,
}

/// This node's swarm side.
pub struct Swarm {
    me: std::sync::Weak<Swarm>,
    ctl: Arc<Controller>,
    pub(crate) files: Files,
    pub(crate) state: tokio::sync::Mutex<State>,
    /// The node endpoint's port.
    node_port: std::sync::atomic::AtomicU16,
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

fn now() -> String {
    Timestamp::now().to_string()
}

impl Swarm {
    /// The swarm side of a daemon with data under `data_root`.
    pub fn new(ctl: Arc<Controller>, data_root: &std::path::Path) -> Arc<Self> {
        Arc::new_cyclic(|me| Swarm {
            me: me.clone(),
            ctl,
            files: Files::new(data_root),
            state: tokio::sync::Mutex::new(State::default()),
            node_port: std::sync::atomic::AtomicU16::new(crate::node_server::DEFAULT_NODE_PORT),
        })
    }

    /// Sets the port of the node endpoint (before the node attaches; a node already
    /// attached takes it at its next attach).
    pub fn set_node_port(&self, port: u16) {
        self.node_port
            .store(port, std::sync::atomic::Ordering::Relaxed);
    }

    fn node_port(&self) -> u16 {
        self.node_port.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// On daemon start: when this node is a member, re-attaches in the background, retrying
    /// (with a log line) while etcd cannot be reached; local networking does not wait.
    pub async fn resume(self: &Arc<Self>) -> Result<()> {
        let Some(m) = self.files.load()? else {
            return Ok(());
        };
        self.state.lock().await.pending = Some(m.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let mut member = None;
            if m.manager && !m.external_etcd {
                let addr: IpAddr = match m.advertise_addr.parse() {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::error!(error = %e, "the saved advertise address is invalid");
                        return;
                    }
                };
                let cfg = MemberConfig {
                    name: m.node_id.clone(),
                    addr,
                    initial_cluster: format!("{}={}", m.node_id, etcd_member::peer_url(addr)),
                    new_cluster: false,
                };
                match EtcdMember::start(cfg, me.files.clone()).await {
                    Ok(e) => member = Some(e),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start this manager's etcd member")
                    }
                }
            }
            let mut member = member;
            loop {
                {
                    let mut st = me.state.lock().await;
                    if st.pending.is_none() {
                        // Left while waiting.
                        if let Some(m) = member.take() {
                            m.stop().await;
                        }
                        return;
                    }
                    match me.attach(m.clone(), member.take()).await {
                        Ok(active) => {
                            st.pending = None;
                            st.error.clear();
                            st.active = Some(active);
                            tracing::info!(node = %m.node_id, "re-attached to the swarm");
                            return;
                        }
                        Err((e, back)) => {
                            member = back;
                            tracing::warn!(error = %e, retry_in = ?RETRY,
                                "cannot reach the swarm's etcd; local networking keeps working, retrying");
                            st.error = e.to_string();
                        }
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        });
        Ok(())
    }

    /// Connects to etcd, starts the session (and the join endpoint on a manager), and hands
    /// the controller its link. On failure gives the etcd member back.
    async fn attach(
        &self,
        mut m: Membership,
        member: Option<EtcdMember>,
    ) -> std::result::Result<Active, (SwarmError, Option<EtcdMember>)> {
        let access = self.access_of(&m);
        let etcd = match access.store().await {
            Ok(s) => Arc::new(s),
            Err(e) => return Err((e, member)),
        };
        let store: Arc<dyn Store> = etcd.clone();
        let settings = match tokio::time::timeout(RETRY * 2, join_server::cluster(&*store)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err((e, member)),
            Err(_) => return Err((access.unreachable("no answer"), member)),
        };
        // Managers may have changed since the membership was saved.
        if !m.external_etcd {
            if let Ok(eps) = join_server::manager_endpoints(&*store).await {
                if !eps.is_empty() && eps != m.etcd_endpoints {
                    m.etcd_endpoints = eps;
                    let _ = self.files.save(&m);
                }
            }
        }
        let session = match Session::start(
            store.clone(),
            SessionRecord {
                node_id: m.node_id.clone(),
                lease: 0,
                addr: m.advertise_addr.clone(),
                since: String::new(),
                node_port: self.node_port(),
            },
            Duration::from_secs(settings.lease_ttl.max(1)),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return Err((e, member)),
        };
        let mut active = Active {
            m,
            access,
            store,
            etcd,
            member,
            server: None,
            node_server: None,
            session: Some(session),
            follower: None,
            watcher: None,
            orchestrator: None,
            settings,
        };
        if active.m.manager {
            match self.start_server(&active).await {
                Ok(s) => {
                    tracing::debug!(addr = %s.addr(), "this manager admits joining nodes");
                    active.server = Some(s);
                }
                Err(e) => tracing::error!(error = %e, "the join endpoint cannot start"),
            }
        }
        match self.start_node_server(&active).await {
            Ok(s) => active.node_server = Some(s),
            Err(e) => {
                tracing::error!(error = %e, "the node endpoint cannot start; other nodes cannot read this node's replicas' output")
            }
        }
        if let Err(e) = self.link(&mut active).await {
            tracing::error!(error = %e, "the engine refused the swarm link");
        }
        if let Some(session) = &active.session {
            active.orchestrator = Some(tokio::spawn(crate::orchestrator::run(
                active.store.clone(),
                active.m.node_id.clone(),
                session.leases(),
            )));
        }
        active.watcher = Some(tokio::spawn(crate::role::follow(
            self.me.clone(),
            active.store.clone(),
            active.m.node_id.clone(),
        )));
        Ok(active)
    }

    fn access_of(&self, m: &Membership) -> EtcdAccess {
        if m.external_etcd {
            let opt = |p: std::path::PathBuf| p.exists().then_some(p);
            let (ca, cert, key) = (
                opt(self.files.etcd_ca()),
                opt(self.files.etcd_cert()),
                opt(self.files.etcd_key()),
            );
            let tls = m
                .etcd_endpoints
                .iter()
                .any(|e| e.starts_with("https"))
                .then_some(EtcdTls {
                    ca,
                    cert,
                    key,
                    domain: None,
                });
            EtcdAccess {
                endpoints: m.etcd_endpoints.clone(),
                tls,
            }
        } else {
            EtcdAccess::own(m.etcd_endpoints.clone(), &self.files)
        }
    }

    pub(crate) async fn start_server(&self, a: &Active) -> Result<JoinServer> {
        JoinServer::start(
            addr::listen(&a.m.listen_addr)?,
            JoinService {
                store: a.store.clone(),
                access: a.access.clone(),
                files: self.files.clone(),
            },
        )
        .await
    }

    async fn start_node_server(&self, a: &Active) -> Result<crate::node_server::NodeServer> {
        let ip: IpAddr =
            a.m.advertise_addr
                .parse()
                .map_err(|e| SwarmError::Internal(format!("advertise address: {e}")))?;
        crate::node_server::NodeServer::start(
            SocketAddr::new(ip, self.node_port()),
            self.ctl.clone(),
            &self.files,
        )
        .await
    }

    /// Attaches the controller, and again with each new lease of the session.
    async fn link(&self, a: &mut Active) -> Result<()> {
        let Some(session) = &a.session else {
            return Ok(());
        };
        let pools = a
            .settings
            .default_addr_pools
            .iter()
            .filter_map(|p| p.parse::<IpNet>().ok())
            .collect();
        let base = ClusterLink {
            store: a.store.clone(),
            node_id: a.m.node_id.clone(),
            lease: session.lease(),
            advertise_addr: a
                .m
                .advertise_addr
                .parse()
                .map_err(|e| SwarmError::Internal(format!("advertise address: {e}")))?,
            data_path_port: a.settings.data_path_port,
            default_addr_pools: pools,
            default_pool_mask_len: a.settings.subnet_size,
        };
        self.ctl
            .attach_cluster(Arc::new(base.clone()))
            .await
            .map_err(|e| SwarmError::Internal(e.message))?;
        let mut leases = session.leases();
        let ctl = self.ctl.clone();
        a.follower = Some(tokio::spawn(async move {
            while leases.changed().await.is_ok() {
                let mut link = base.clone();
                link.lease = *leases.borrow();
                if let Err(e) = ctl.attach_cluster(Arc::new(link)).await {
                    tracing::error!(error = %e.message, "cannot re-attach with the new lease");
                }
            }
        }));
        Ok(())
    }

    /// Ends the node's part in the swarm here: with `leaving`, the engine forgets the
    /// cluster's networks and peers; without (a shutdown), it only stops following them, so
    /// the sandboxes keep their overlay traffic until the next start takes over.
    pub(crate) async fn detach(&self, mut a: Active, revoke: bool, leaving: bool) {
        if let Some(w) = a.watcher.take() {
            w.abort();
        }
        if let Some(o) = a.orchestrator.take() {
            o.abort();
        }
        if let Some(f) = a.follower.take() {
            f.abort();
        }
        if leaving {
            if let Err(e) = self.ctl.detach_cluster().await {
                tracing::warn!(error = %e.message, "the engine did not detach cleanly");
            }
        } else {
            self.ctl.suspend_cluster();
        }
        a.server.take();
        a.node_server.take();
        if let Some(s) = a.session.take() {
            if revoke {
                s.end().await;
            }
        }
        if let Some(m) = a.member.take() {
            m.stop().await;
        }
    }

    fn refuse_if_member(&self, st: &State) -> Result<()> {
        if st.active.is_some() || st.pending.is_some() || self.files.load()?.is_some() {
            return Err(SwarmError::AlreadyMember);
        }
        Ok(())
    }

    /// The active membership, or why there is none.
    fn active(st: &State) -> Result<&Active> {
        match (&st.active, &st.pending) {
            (Some(a), _) => Ok(a),
            (None, Some(_)) => Err(SwarmError::Unavailable(format!(
                "this node has not reached the swarm's etcd yet: {}",
                st.error
            ))),
            (None, None) => Err(SwarmError::NotMember),
        }
    }

    fn manager(st: &State) -> Result<&Active> {
        let a = Self::active(st)?;
        if !a.m.manager {
            return Err(SwarmError::NotManager);
        }
        Ok(a)
    }

    /// Refuses a change of the swarm's services on a worker: only managers change the
    /// cluster's state, as in Docker. A node outside any swarm changes its own services.
    pub async fn require_manager_if_member(&self) -> Result<()> {
        let st = self.state.lock().await;
        match (&st.active, &st.pending) {
            (Some(a), _) if !a.m.manager => Err(SwarmError::NotManager),
            (None, Some(m)) if !m.manager => Err(SwarmError::NotManager),
            _ => Ok(()),
        }
    }

    /// This node's swarm state for `info`.
    pub async fn info(&self) -> SwarmInfo {
        // A join or leave in progress holds the lock for seconds; info does not wait for it.
        let Ok(st) = self.state.try_lock() else {
            let m = self.files.load().ok().flatten();
            return SwarmInfo {
                node_id: m.as_ref().map(|m| m.node_id.clone()).unwrap_or_default(),
                local_node_state: "pending".into(),
                ..Default::default()
            };
        };
        match (&st.active, &st.pending) {
            (Some(a), _) => {
                let nodes: Vec<NodeRecord> = ferry_store::list_json(&*a.store, Table::Nodes)
                    .await
                    .unwrap_or_default();
                let managers: Vec<&NodeRecord> =
                    nodes.iter().filter(|n| n.role == Role::Manager).collect();
                SwarmInfo {
                    node_id: a.m.node_id.clone(),
                    node_addr: a.m.advertise_addr.clone(),
                    local_node_state: "active".into(),
                    control_available: a.m.manager,
                    error: String::new(),
                    remote_managers: managers
                        .iter()
                        .map(|n| ferry_types::swarm::Peer {
                            node_id: n.id.clone(),
                            addr: n.addr.clone(),
                        })
                        .collect(),
                    etcd_endpoints: a.access.endpoints.clone(),
                    nodes: nodes.len(),
                    managers: managers.len(),
                }
            }
            (None, Some(m)) => SwarmInfo {
                node_id: m.node_id.clone(),
                node_addr: m.advertise_addr.clone(),
                local_node_state: "pending".into(),
                control_available: m.manager,
                error: st.error.clone(),
                etcd_endpoints: m.etcd_endpoints.clone(),
                ..Default::default()
            },
            (None, None) => SwarmInfo {
                local_node_state: "inactive".into(),
                ..Default::default()
            },
        }
    }

    /// On daemon shutdown: the session is left to expire (the node shows Down after the TTL),
    /// the etcd member stops; membership stays for the next start.
    pub async fn shutdown(&self) {
        let mut st = self.state.lock().await;
        st.pending = None;
        if let Some(a) = st.active.take() {
            self.detach(a, false, false).await;
        }
    }
}

/// The address joiners use: the advertise address with the listen port.
fn join_addr(m: &Membership) -> String {
    let port = addr::listen(&m.listen_addr)
        .map(|a| a.port())
        .unwrap_or(addr::DEFAULT_PORT);
    SocketAddr::new(
        m.advertise_addr
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        port,
    )
    .to_string()
}

/// Waits until etcd answers a read.
pub(crate) async fn wait_ready(store: &dyn Store, access: &EtcdAccess) -> Result<()> {
    let deadline = tokio::time::Instant::now() + ETCD_READY;
    loop {
        match tokio::time::timeout(Duration::from_secs(3), store.get(Table::Swarm, CLUSTER_KEY))
            .await
        {
            Ok(Ok(_)) => return Ok(()),
            other => {
                if tokio::time::Instant::now() >= deadline {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no answer".into(),
                    };
                    return Err(
                        access.unreachable(format!("not ready within {ETCD_READY:?}: {why}"))
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes a member, waiting while etcd refuses because the cluster is not healthy yet (a
/// member that started moments ago does not count as active for a few seconds).
pub(crate) async fn remove_member(access: &EtcdAccess, id: u64) -> Result<()> {
    let deadline = tokio::time::Instant::now() + ETCD_READY;
    loop {
        match access.member_remove(id).await {
            Ok(()) => return Ok(()),
            Err(e)
                if e.to_string().contains("unhealthy cluster")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Adds a member, waiting while etcd refuses because the cluster is not healthy yet (as
/// [`remove_member`]).
pub(crate) async fn add_member(
    access: &EtcdAccess,
    name: &str,
    peer: &str,
) -> Result<(u64, String)> {
    let deadline = tokio::time::Instant::now() + ETCD_READY;
    loop {
        match access.member_add(name, peer).await {
            Ok(v) => return Ok(v),
            Err(e)
                if e.to_string().contains("unhealthy cluster")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

//! This node's swarm membership: init, join and leave, the tokens, the nodes, and the
//! re-attach after a restart. One [`Swarm`] per daemon; operations run one at a time.

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
use ferry_store::{Condition, EtcdTls, Op, Store, Table, Txn};
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
    pub(crate) member: Option<EtcdMember>,
    pub(crate) server: Option<JoinServer>,
    session: Option<Session>,
    follower: Option<tokio::task::JoinHandle<()>>,
    /// Follows this node's record: a role change or a removal is carried out here.
    watcher: Option<tokio::task::JoinHandle<()>>,
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
        })
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
        let store: Arc<dyn Store> = match access.store().await {
            Ok(s) => Arc::new(s),
            Err(e) => return Err((e, member)),
        };
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
            member,
            server: None,
            session: Some(session),
            follower: None,
            watcher: None,
            settings,
        };
        if active.m.manager {
            match self.start_server(&active).await {
                Ok(s) => active.server = Some(s),
                Err(e) => tracing::error!(error = %e, "the join endpoint cannot start"),
            }
        }
        if let Err(e) = self.link(&mut active).await {
            tracing::error!(error = %e, "the engine refused the swarm link");
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

    pub(crate) async fn detach(&self, mut a: Active, revoke: bool) {
        if let Some(w) = a.watcher.take() {
            w.abort();
        }
        if let Some(f) = a.follower.take() {
            f.abort();
        }
        if let Err(e) = self.ctl.detach_cluster().await {
            tracing::warn!(error = %e.message, "the engine did not detach cleanly");
        }
        a.server.take();
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

    /// `swarm init`: makes this node the first manager. Returns the node ID.
    pub async fn init(&self, req: SwarmInitRequest) -> Result<String> {
        let mut st = self.state.lock().await;
        self.refuse_if_member(&st)?;
        let listen = addr::listen(&req.listen_addr)?;
        let advertise = addr::advertise(&req.advertise_addr, listen, None)?;
        let pools = if req.default_addr_pool.is_empty() {
            vec!["10.0.0.0/8".to_string()]
        } else {
            req.default_addr_pool.clone()
        };
        for p in &pools {
            p.parse::<IpNet>().map_err(|e| {
                SwarmError::Invalid(format!("invalid --default-addr-pool {p:?}: {e}"))
            })?;
        }
        let subnet_size = if req.subnet_size == 0 {
            24
        } else {
            req.subnet_size
        };
        if !(8..=30).contains(&subnet_size) {
            return Err(SwarmError::Invalid(format!(
                "invalid --default-addr-pool-mask-length {subnet_size}: use 8 to 30"
            )));
        }
        let lease_ttl = if req.lease_ttl == 0 {
            DEFAULT_LEASE_TTL
        } else {
            req.lease_ttl
        };
        let data_path_port = if req.data_path_port == 0 {
            DEFAULT_DATA_PATH_PORT
        } else {
            req.data_path_port
        };
        if data_path_port < 1024 {
            return Err(SwarmError::Invalid(format!(
                "invalid --data-path-port {data_path_port}: use 1024 to 65535"
            )));
        }
        let now_t = SystemTime::now();
        let ca = ClusterCa::generate(Validity::new(
            now_t - Duration::from_secs(300),
            ferry_pki::DEFAULT_CA_LIFETIME,
        ))?;
        let tokens = ferry_pki::JoinTokens::generate(ca.digest())?;
        let node_id = ferry_pki::new_node_id()?;
        let key = NodeKey::generate()?;
        let csr = key.csr(&node_id, &[advertise])?;
        let cert = ca.sign(
            &csr,
            &NodeCertPolicy {
                node_id: &node_id,
                role: Role::Manager,
                validity: Validity::new(
                    now_t - Duration::from_secs(300),
                    ferry_pki::DEFAULT_NODE_CERT_LIFETIME,
                ),
            },
        )?;
        let f = &self.files;
        let made = async {
            f.write(&f.ca_cert(), ca.cert_pem().as_bytes(), 0o644)?;
            f.write(&f.node_key(), key.key_pem().as_bytes(), 0o600)?;
            f.write(&f.node_cert(), cert.as_bytes(), 0o644)?;
            let (access, member, member_id, client_url) = match &req.external_etcd {
                Some(ext) => {
                    let copy = |from: &Option<String>, to: std::path::PathBuf| -> Result<()> {
                        if let Some(p) = from {
                            let bytes = std::fs::read(p)
                                .map_err(SwarmError::io(format!("cannot read {p}")))?;
                            f.write(&to, &bytes, 0o600)?;
                        }
                        Ok(())
                    };
                    copy(&ext.ca_file, f.etcd_ca())?;
                    copy(&ext.cert_file, f.etcd_cert())?;
                    copy(&ext.key_file, f.etcd_key())?;
                    let m = Membership {
                        node_id: node_id.clone(),
                        cluster_id: String::new(),
                        manager: true,
                        advertise_addr: advertise.to_string(),
                        listen_addr: listen.to_string(),
                        etcd_endpoints: ext.endpoints.clone(),
                        external_etcd: true,
                    };
                    (self.access_of(&m), None, None, None)
                }
                None => {
                    let member = EtcdMember::start(
                        MemberConfig {
                            name: node_id.clone(),
                            addr: advertise,
                            initial_cluster: format!(
                                "{node_id}={}",
                                etcd_member::peer_url(advertise)
                            ),
                            new_cluster: true,
                        },
                        f.clone(),
                    )
                    .await?;
                    let url = etcd_member::client_url(advertise);
                    let access = EtcdAccess::own(vec![url.clone()], f);
                    (access, Some(member), None::<u64>, Some(url))
                }
            };
            Ok::<_, SwarmError>((access, member, member_id, client_url))
        }
        .await;
        let (access, member, _, client_url) = match made {
            Ok(v) => v,
            Err(e) => {
                let _ = self.files.remove_all();
                return Err(e);
            }
        };
        let cluster_id = ferry_pki::new_node_id()?;
        let settings = ClusterRecord {
            id: cluster_id.clone(),
            created_at: now(),
            ca_cert: ca.cert_pem().to_string(),
            ca_key: ca.key_pem(),
            worker_token: tokens.get(Role::Worker).to_string(),
            manager_token: tokens.get(Role::Manager).to_string(),
            data_path_port,
            default_addr_pools: pools,
            subnet_size,
            lease_ttl,
            external_etcd: req.external_etcd.is_some(),
        };
        let m = Membership {
            node_id: node_id.clone(),
            cluster_id,
            manager: true,
            advertise_addr: advertise.to_string(),
            listen_addr: listen.to_string(),
            etcd_endpoints: access.endpoints.clone(),
            external_etcd: req.external_etcd.is_some(),
        };
        let registered = async {
            let store: Arc<dyn Store> = Arc::new(access.store().await?);
            wait_ready(&*store, &access).await?;
            let member_id = if client_url.is_some() {
                Some(access.member_id().await?)
            } else {
                None
            };
            let rec = NodeRecord {
                id: node_id.clone(),
                hostname: hostname(),
                role: Role::Manager,
                availability: Availability::Active,
                labels: Default::default(),
                addr: advertise.to_string(),
                created_at: now(),
                etcd_member: member_id,
                etcd_client_url: client_url.clone(),
            };
            let txn = Txn::new(vec![
                Op::put_json(Table::Swarm, CLUSTER_KEY, &settings)?,
                Op::put_json(Table::Nodes, &node_id, &rec)?,
            ])
            .when(Condition::Absent {
                table: Table::Swarm,
                key: CLUSTER_KEY.into(),
            });
            store.apply(txn).await.map_err(|e| match e {
                ferry_store::StoreError::Conflict { .. } => SwarmError::Conflict(
                    "the etcd cluster holds a swarm already: point --external-etcd at another \
                     cluster, or join that swarm"
                        .into(),
                ),
                e => e.into(),
            })?;
            self.files.save(&m)?;
            Ok::<_, SwarmError>(())
        }
        .await;
        if let Err(e) = registered {
            if let Some(mm) = member {
                mm.stop().await;
            }
            let _ = self.files.remove_all();
            return Err(e);
        }
        match self.attach(m, member).await {
            Ok(active) => {
                st.active = Some(active);
                tracing::info!(node = %node_id, "swarm initialized");
                Ok(node_id)
            }
            Err((e, member)) => {
                if let Some(mm) = member {
                    mm.stop().await;
                }
                let _ = self.files.remove_all();
                Err(e)
            }
        }
    }

    /// `swarm join`: joins through a manager with a token.
    pub async fn join(&self, req: SwarmJoinRequest) -> Result<()> {
        let mut st = self.state.lock().await;
        self.refuse_if_member(&st)?;
        let token = JoinToken::parse(req.join_token.trim())
            .map_err(|e| SwarmError::Invalid(format!("invalid join token: {e}")))?;
        let Some(first) = req.remote_addrs.first() else {
            return Err(SwarmError::Invalid(
                "give the address of a manager (MANAGER:PORT)".into(),
            ));
        };
        let manager = addr::parse_socket(first, "manager address")?;
        let listen = addr::listen(&req.listen_addr)?;
        let advertise = addr::advertise(&req.advertise_addr, listen, Some(manager.ip()))?;
        let node_id = ferry_pki::new_node_id()?;
        let key = NodeKey::generate()?;
        let csr = key.csr(&node_id, &[advertise])?;
        let reply = crate::join_client::join(
            manager,
            &token,
            &JoinRequest {
                token: req.join_token.trim().to_string(),
                node_id: node_id.clone(),
                csr,
            },
        )
        .await?;
        let info = key.accept_cert(&reply.node_cert, &reply.ca_cert, SystemTime::now())?;
        let role = info.role;
        let f = &self.files;
        let mut member: Option<EtcdMember> = None;
        let mut member_id: Option<u64> = None;
        let mut access: Option<EtcdAccess> = None;
        let done = async {
            f.write(&f.ca_cert(), reply.ca_cert.as_bytes(), 0o644)?;
            f.write(&f.node_key(), key.key_pem().as_bytes(), 0o600)?;
            f.write(&f.node_cert(), reply.node_cert.as_bytes(), 0o644)?;
            let external = reply.external_etcd.is_some();
            if let Some(ext) = &reply.external_etcd {
                for (text, path) in [
                    (&ext.ca, f.etcd_ca()),
                    (&ext.cert, f.etcd_cert()),
                    (&ext.key, f.etcd_key()),
                ] {
                    if let Some(t) = text {
                        f.write(&path, t.as_bytes(), 0o600)?;
                    }
                }
            }
            let mut m = Membership {
                node_id: node_id.clone(),
                cluster_id: reply.cluster_id.clone(),
                manager: role == Role::Manager,
                advertise_addr: advertise.to_string(),
                listen_addr: listen.to_string(),
                etcd_endpoints: reply.etcd_endpoints.clone(),
                external_etcd: external,
            };
            let a = self.access_of(&m);
            access = Some(a.clone());
            let mut client_url = None;
            if role == Role::Manager && !external {
                let peer = etcd_member::peer_url(advertise);
                let (id, initial) = add_member(&a, &node_id, &peer).await?;
                member_id = Some(id);
                member = Some(
                    EtcdMember::start(
                        MemberConfig {
                            name: node_id.clone(),
                            addr: advertise,
                            initial_cluster: initial,
                            new_cluster: false,
                        },
                        f.clone(),
                    )
                    .await?,
                );
                let url = etcd_member::client_url(advertise);
                m.etcd_endpoints.push(url.clone());
                client_url = Some(url);
            }
            let a = self.access_of(&m);
            access = Some(a.clone());
            let store = a.store().await?;
            wait_ready(&store, &a).await?;
            let rec = NodeRecord {
                id: node_id.clone(),
                hostname: hostname(),
                role,
                availability: Availability::Active,
                labels: Default::default(),
                addr: advertise.to_string(),
                created_at: now(),
                etcd_member: member_id,
                etcd_client_url: client_url,
            };
            store
                .apply(
                    Txn::new(vec![Op::put_json(Table::Nodes, &node_id, &rec)?]).when(
                        Condition::Absent {
                            table: Table::Nodes,
                            key: node_id.clone(),
                        },
                    ),
                )
                .await?;
            f.save(&m)?;
            Ok::<_, SwarmError>(m)
        }
        .await;
        let m = match done {
            Ok(m) => m,
            Err(e) => {
                self.undo_join(member.take(), member_id, access.as_ref(), &node_id)
                    .await;
                return Err(e);
            }
        };
        match self.attach(m, member).await {
            Ok(active) => {
                st.active = Some(active);
                tracing::info!(node = %node_id, %role, "joined the swarm");
                Ok(())
            }
            Err((e, member)) => {
                self.undo_join(member, member_id, access.as_ref(), &node_id)
                    .await;
                Err(e)
            }
        }
    }

    /// Takes back what a failed join made.
    async fn undo_join(
        &self,
        member: Option<EtcdMember>,
        member_id: Option<u64>,
        access: Option<&EtcdAccess>,
        node_id: &str,
    ) {
        if let Some(m) = member {
            m.stop().await;
        }
        if let Some(a) = access {
            if let Some(id) = member_id {
                if let Err(e) = a.member_remove(id).await {
                    tracing::warn!(error = %e, "cannot remove the etcd member of a failed join");
                }
            }
            if let Ok(s) = a.store().await {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    s.apply_ops(vec![Op::delete(Table::Nodes, node_id)]),
                )
                .await;
            }
        }
        let _ = self.files.remove_all();
    }

    /// `swarm leave`.
    pub async fn leave(&self, force: bool) -> Result<()> {
        let mut st = self.state.lock().await;
        if st.active.is_none() && st.pending.is_none() && self.files.load()?.is_none() {
            return Err(SwarmError::NotMember);
        }
        if let Some(a) = &st.active {
            if a.m.manager && !force {
                let nodes: Vec<NodeRecord> =
                    ferry_store::list_json(&*a.store, Table::Nodes).await?;
                let live: std::collections::HashSet<String> = a
                    .store
                    .list(Table::Sessions)
                    .await?
                    .entries
                    .into_iter()
                    .map(|e| e.key)
                    .collect();
                // Another manager that has not left: with ferry's etcd, one with a member;
                // with the user's, one that is up.
                let others = nodes
                    .iter()
                    .filter(|n| n.id != a.m.node_id && n.role == Role::Manager)
                    .filter(|n| {
                        if a.m.external_etcd {
                            live.contains(&n.id)
                        } else {
                            n.etcd_member.is_some()
                        }
                    })
                    .count();
                if others == 0 {
                    return Err(SwarmError::Conflict(
                        "this node is the last manager of the swarm: leaving would lose the \
                         swarm's state; use --force to leave anyway (the swarm then ends)"
                            .into(),
                    ));
                }
            }
        } else if !force {
            return Err(SwarmError::Unavailable(
                "the swarm's etcd cannot be reached, so leaving cannot be recorded; use --force \
                 to leave anyway"
                    .into(),
            ));
        }
        st.pending = None;
        if let Some(mut a) = st.active.take() {
            let me = a.m.node_id.clone();
            let nodes: Vec<NodeRecord> = ferry_store::list_json(&*a.store, Table::Nodes)
                .await
                .unwrap_or_default();
            let mine = nodes.iter().find(|n| n.id == me).cloned();
            let sole = !nodes
                .iter()
                .any(|n| n.id != me && n.role == Role::Manager && n.etcd_member.is_some());
            let mut store = a.store.clone();
            if a.member.is_some() && !sole {
                if let Some(id) = mine.as_ref().and_then(|n| n.etcd_member) {
                    // First, so that a refusal leaves everything as it was.
                    if let Err(e) = remove_member(&a.access, id).await {
                        st.active = Some(a);
                        return Err(e);
                    }
                }
                // This node's member is gone: the rest goes through the others.
                let own = mine.as_ref().and_then(|n| n.etcd_client_url.clone());
                let others = EtcdAccess {
                    endpoints: a
                        .access
                        .endpoints
                        .iter()
                        .filter(|e| Some(*e) != own.as_ref())
                        .cloned()
                        .collect(),
                    tls: a.access.tls.clone(),
                };
                match others.store().await {
                    Ok(s) => store = Arc::new(s),
                    Err(e) => tracing::warn!(error = %e, "cannot reach the other managers"),
                }
            }
            if let Some(mut rec) = mine {
                // The node stays listed, Down, until `node rm` (as Docker's do).
                rec.etcd_member = None;
                rec.etcd_client_url = None;
                if let Ok(op) = Op::put_json(Table::Nodes, &me, &rec) {
                    if let Err(e) = store.apply_ops(vec![op]).await {
                        tracing::warn!(error = %e, "cannot record that this node left");
                    }
                }
            }
            // Down at once, everywhere.
            if let Some(session) = a.session.take() {
                if let Err(e) = store.revoke_lease(session.lease()).await {
                    tracing::warn!(error = %e, "cannot revoke the session; it expires by itself");
                }
            }
            self.detach(a, false).await;
        }
        self.files.remove_all()?;
        st.error.clear();
        tracing::info!("left the swarm");
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

    /// `GET /swarm`.
    pub async fn inspect(&self) -> Result<SwarmInspect> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let c = join_server::cluster(&*a.store).await?;
        Ok(SwarmInspect {
            id: c.id,
            created_at: c.created_at,
            join_tokens: JoinTokens {
                worker: c.worker_token,
                manager: c.manager_token,
            },
            data_path_port: c.data_path_port,
            default_addr_pool: c.default_addr_pools,
            subnet_size: c.subnet_size,
            lease_ttl: c.lease_ttl,
            listen_addr: join_addr(&a.m),
        })
    }

    /// Rotates the tokens asked for; the old ones admit no one from then on.
    pub async fn rotate(&self, worker: bool, manager: bool) -> Result<()> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let rec = a
            .store
            .get(Table::Swarm, CLUSTER_KEY)
            .await?
            .ok_or_else(|| SwarmError::Internal("the cluster record is missing".into()))?;
        let mut c: ClusterRecord =
            serde_json::from_slice(&rec.value).map_err(|e| SwarmError::Internal(e.to_string()))?;
        let digest = ferry_pki::CaDigest::of_pem(&c.ca_cert)?;
        if worker {
            c.worker_token = JoinToken::generate(digest)?.to_string();
        }
        if manager {
            c.manager_token = JoinToken::generate(digest)?.to_string();
        }
        a.store
            .apply(
                Txn::new(vec![Op::put_json(Table::Swarm, CLUSTER_KEY, &c)?]).when(
                    Condition::KeyAt {
                        table: Table::Swarm,
                        key: CLUSTER_KEY.into(),
                        revision: rec.mod_revision,
                    },
                ),
            )
            .await?;
        Ok(())
    }

    /// `GET /nodes`.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        let st = self.state.lock().await;
        let a = Self::active(&st)?;
        let listing = a.store.list(Table::Nodes).await?;
        let live: std::collections::HashSet<String> = a
            .store
            .list(Table::Sessions)
            .await?
            .entries
            .into_iter()
            .map(|e| e.key)
            .collect();
        let leader = if a.m.external_etcd {
            None
        } else {
            a.access.leader().await.ok()
        };
        let mut out = Vec::new();
        for e in listing.entries {
            let rec: NodeRecord = serde_json::from_slice(&e.value)
                .map_err(|err| SwarmError::Internal(format!("node record {}: {err}", e.key)))?;
            out.push(nodes::view(
                &rec,
                e.mod_revision,
                live.contains(&rec.id),
                leader,
                &a.m.node_id,
            ));
        }
        Ok(out)
    }

    /// `GET /nodes/{id}`.
    pub async fn node(&self, query: &str) -> Result<Node> {
        let all = self.nodes().await?;
        let recs: Vec<NodeRecord> = all.iter().map(record_of).collect();
        let id = nodes::resolve(&recs, query)
            .map_err(SwarmError::NotFound)?
            .id
            .clone();
        all.into_iter()
            .find(|n| n.id == id)
            .ok_or_else(|| SwarmError::NotFound(format!("no such node: {query}")))
    }

    async fn find(&self, a: &Active, query: &str) -> Result<(NodeRecord, u64)> {
        let listing = a.store.list(Table::Nodes).await?;
        let mut recs = Vec::new();
        for e in &listing.entries {
            let rec: NodeRecord = serde_json::from_slice(&e.value)
                .map_err(|err| SwarmError::Internal(format!("node record {}: {err}", e.key)))?;
            recs.push((rec, e.mod_revision));
        }
        let plain: Vec<NodeRecord> = recs.iter().map(|(r, _)| r.clone()).collect();
        let id = nodes::resolve(&plain, query)
            .map_err(SwarmError::NotFound)?
            .id
            .clone();
        recs.into_iter()
            .find(|(r, _)| r.id == id)
            .ok_or_else(|| SwarmError::NotFound(format!("no such node: {query}")))
    }

    /// `node update`, `node promote|demote`.
    pub async fn update_node(&self, query: &str, u: NodeUpdate) -> Result<()> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let (mut rec, revision) = self.find(a, query).await?;
        if let Some(av) = &u.availability {
            rec.availability = Availability::parse(av)?;
        }
        for k in &u.label_rm {
            if rec.labels.remove(k).is_none() {
                return Err(SwarmError::NotFound(format!(
                    "node {} has no label {k:?}",
                    rec.id
                )));
            }
        }
        rec.labels
            .extend(u.label_add.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(r) = &u.role {
            let role = parse_role(r)?;
            if role == Role::Worker && rec.role == Role::Manager {
                let nodes: Vec<NodeRecord> =
                    ferry_store::list_json(&*a.store, Table::Nodes).await?;
                if !nodes
                    .iter()
                    .any(|n| n.id != rec.id && n.role == Role::Manager)
                {
                    return Err(SwarmError::Conflict(format!(
                        "node {} is the last manager of the swarm; promote another node first",
                        rec.id
                    )));
                }
            }
            // A manager that is down cannot remove its own member; one that never comes back
            // would count against the quorum for ever. Its member goes now.
            if role == Role::Worker && rec.role == Role::Manager {
                if let Some(id) = rec.etcd_member {
                    if a.store.get(Table::Sessions, &rec.id).await?.is_none() {
                        remove_member(&a.access, id).await?;
                        rec.etcd_member = None;
                        rec.etcd_client_url = None;
                    }
                }
            }
            rec.role = role;
        }
        a.store
            .apply(
                Txn::new(vec![Op::put_json(Table::Nodes, &rec.id, &rec)?]).when(Condition::KeyAt {
                    table: Table::Nodes,
                    key: rec.id.clone(),
                    revision,
                }),
            )
            .await?;
        Ok(())
    }

    /// `node rm`.
    pub async fn remove_node(&self, query: &str, force: bool) -> Result<()> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let (rec, _) = self.find(a, query).await?;
        if rec.id == a.m.node_id {
            return Err(SwarmError::Conflict(
                "cannot remove the node you are on: use `ferry swarm leave` there".into(),
            ));
        }
        if rec.role == Role::Manager && rec.etcd_member.is_some() {
            return Err(SwarmError::Conflict(format!(
                "node {} is a manager with an etcd member: demote it first (ferry node demote)",
                rec.id
            )));
        }
        let live = a.store.get(Table::Sessions, &rec.id).await?.is_some();
        if live && !force {
            return Err(SwarmError::Conflict(format!(
                "node {} is not down and cannot be removed: have it leave (ferry swarm leave), \
                 or use --force",
                rec.id
            )));
        }
        // Demoted but not yet carried out: its member goes with it.
        if let Some(id) = rec.etcd_member {
            remove_member(&a.access, id).await?;
        }
        a.store
            .apply_ops(vec![
                Op::delete(Table::Nodes, &rec.id),
                Op::delete(Table::Sessions, &rec.id),
            ])
            .await?;
        Ok(())
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
                    remote_managers: managers.iter().map(|n| n.addr.clone()).collect(),
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
            self.detach(a, false).await;
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

/// The record behind a node view, enough to resolve names.
fn record_of(n: &Node) -> NodeRecord {
    NodeRecord {
        id: n.id.clone(),
        hostname: n.description.hostname.clone(),
        role: if n.manager_status.is_some() {
            Role::Manager
        } else {
            Role::Worker
        },
        availability: Availability::Active,
        labels: Default::default(),
        addr: n.status.addr.clone(),
        created_at: n.created_at.clone(),
        etcd_member: None,
        etcd_client_url: None,
    }
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

//! A manager's join endpoint: HTTPS on the listen address, with the manager's node
//! certificate. It signs a joiner's CSR when the joiner's token is one of the swarm's current
//! tokens, and tells it how to reach etcd.

use crate::etcd_ops::EtcdAccess;
use crate::join_proto::{CaReply, ErrorReply, ExternalEtcdFiles, JoinReply, JoinRequest};
use crate::local::Files;
use crate::records::{ClusterRecord, NodeRecord, CLUSTER_KEY};
use crate::{Result, SwarmError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_pki::{ClusterCa, JoinToken, JoinTokens, NodeCertPolicy, Role, Validity};
use ferry_store::{Store, Table};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What the endpoint needs.
pub struct JoinService {
    /// The cluster's store.
    pub store: Arc<dyn Store>,
    /// How this manager reaches etcd (a user's etcd's files go to joiners).
    pub access: EtcdAccess,
    /// This node's files.
    pub files: Files,
}

/// The running endpoint; stops when dropped.
pub struct JoinServer {
    task: tokio::task::JoinHandle<()>,
    addr: SocketAddr,
}

impl Drop for JoinServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JoinServer {
    /// Where it listens (the port chosen, when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listens on `listen` with the node's certificate.
    pub async fn start(listen: SocketAddr, service: JoinService) -> Result<Self> {
        let cert = service.files.read(&service.files.node_cert())?;
        let key = service.files.read(&service.files.node_key())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&cert, &key)?);
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            SwarmError::Unavailable(format!(
                "cannot listen on {listen} for joining nodes: {e}; pick another --listen-addr"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(SwarmError::io("the join endpoint's address"))?;
        let app = Router::new()
            .route(crate::join_proto::CA_PATH, get(ca))
            .route(crate::join_proto::JOIN_PATH, post(join))
            .with_state(Arc::new(service));
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Some(tls) = crate::tls::accept(&acceptor, tcp, peer, "join").await else {
                        return;
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        tracing::info!(%addr, "swarm join endpoint listening");
        Ok(JoinServer { task, addr })
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorReply {
            message: message.into(),
        }),
    )
        .into_response()
}

fn reply(r: Result<JoinReply>) -> Response {
    match r {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.kind().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            refuse(status, e.to_string())
        }
    }
}

async fn ca(State(s): State<Arc<JoinService>>) -> Response {
    match s.files.read(&s.files.ca_cert()) {
        Ok(ca_cert) => Json(CaReply { ca_cert }).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn join(State(s): State<Arc<JoinService>>, Json(req): Json<JoinRequest>) -> Response {
    reply(admit(&s, req).await)
}

/// The cluster record.
pub async fn cluster(store: &dyn Store) -> Result<ClusterRecord> {
    let rec = store.get(Table::Swarm, CLUSTER_KEY).await?.ok_or_else(|| {
        SwarmError::Internal("the swarm's cluster record is missing from etcd".into())
    })?;
    serde_json::from_slice(&rec.value)
        .map_err(|e| SwarmError::Internal(format!("the swarm's cluster record is corrupt: {e}")))
}

async fn admit(s: &JoinService, req: JoinRequest) -> Result<JoinReply> {
    let token = JoinToken::parse(&req.token)
        .map_err(|e| SwarmError::Refused(format!("invalid join token: {e}")))?;
    let c = cluster(&*s.store).await?;
    let current = |t: &str| {
        JoinToken::parse(t).map_err(|e| SwarmError::Internal(format!("a stored token: {e}")))
    };
    let (worker, manager) = (current(&c.worker_token)?, current(&c.manager_token)?);
    let role = role_of(&worker, &manager, &token).ok_or_else(|| {
        SwarmError::Refused(
            "invalid join token: it is not one of this swarm's current tokens (rotated, or \
             another swarm's); ask a manager for `ferry swarm join-token worker|manager`"
                .into(),
        )
    })?;
    if s.store.get(Table::Nodes, &req.node_id).await?.is_some() {
        return Err(SwarmError::Conflict(format!(
            "a node with ID {} is already in the swarm",
            req.node_id
        )));
    }
    let ca = ClusterCa::from_pem(&c.ca_cert, &c.ca_key)?;
    let now = SystemTime::now();
    let cert = ca.sign(
        &req.csr,
        &NodeCertPolicy {
            node_id: &req.node_id,
            role,
            validity: Validity::new(
                now - Duration::from_secs(300),
                ferry_pki::DEFAULT_NODE_CERT_LIFETIME,
            ),
        },
    )?;
    let external_etcd = if c.external_etcd {
        let opt = |p: std::path::PathBuf| std::fs::read_to_string(p).ok();
        Some(ExternalEtcdFiles {
            ca: opt(s.files.etcd_ca()),
            cert: opt(s.files.etcd_cert()),
            key: opt(s.files.etcd_key()),
        })
    } else {
        None
    };
    let etcd_endpoints = if c.external_etcd {
        s.access.endpoints.clone()
    } else {
        manager_endpoints(&*s.store).await?
    };
    tracing::info!(node = %req.node_id, %role, "admitted a node into the swarm");
    Ok(JoinReply {
        role: role.to_string(),
        node_cert: cert,
        ca_cert: c.ca_cert,
        cluster_id: c.id,
        etcd_endpoints,
        external_etcd,
    })
}

/// The role a token admits. [`JoinTokens`] keeps both tokens of one CA digest.
fn role_of(worker: &JoinToken, manager: &JoinToken, presented: &JoinToken) -> Option<Role> {
    let tokens = JoinTokens::from_parts(worker.clone(), manager.clone());
    tokens.role_of(presented)
}

/// The client URLs of every manager's etcd member, from the node records.
pub async fn manager_endpoints(store: &dyn Store) -> Result<Vec<String>> {
    let nodes: Vec<NodeRecord> = ferry_store::list_json(store, Table::Nodes).await?;
    Ok(nodes
        .into_iter()
        .filter_map(|n| n.etcd_client_url)
        .collect())
}

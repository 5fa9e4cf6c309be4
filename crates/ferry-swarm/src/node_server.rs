//! The node endpoint: HTTPS that every node of the swarm, workers too, serves on its
//! advertise address (port 7946 unless the daemon's `--node-port` says otherwise), on mutual
//! TLS: it presents the node's certificate and answers only a client with a certificate the
//! cluster's CA issued, that is another node. It serves what only this node has: the output
//! of the replicas it runs (`GET /ferry/node/services/{id}/logs`, one JSON line each, see
//! [`ferry_types::logs`]), which the node a client asked merges with every other node's.

use crate::local::Files;
use crate::{Result, SwarmError};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferry_engine::Controller;
use ferry_types::logs::ServiceLogOptions;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The node endpoint's port unless the daemon sets one (Docker's nodes talk to each other on
/// 7946 too).
pub const DEFAULT_NODE_PORT: u16 = 7946;

/// The path of a service's replicas' output on a node.
pub fn logs_path(service_id: &str) -> String {
    format!("/ferry/node/services/{service_id}/logs")
}

/// The running endpoint; stops when dropped, its connections too (a followed stream does
/// not outlive the node's membership).
pub struct NodeServer {
    task: tokio::task::JoinHandle<()>,
    /// Dropped with the server: every connection waits on it.
    _stop: tokio::sync::watch::Sender<()>,
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NodeServer {
    /// Listens on `listen` with the node's certificate, answering other nodes only.
    pub async fn start(listen: SocketAddr, ctl: Arc<Controller>, files: &Files) -> Result<Self> {
        let cert = files.read(&files.node_cert())?;
        let key = files.read(&files.node_key())?;
        let ca = files.read(&files.ca_cert())?;
        let acceptor =
            tokio_rustls::TlsAcceptor::from(crate::tls::mutual_server_config(&cert, &key, &ca)?);
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            SwarmError::Unavailable(format!(
                "cannot listen on {listen} for the other nodes: {e}; start the daemon with \
                 another --node-port"
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(SwarmError::io("the node endpoint's address"))?;
        let app = Router::new()
            .route("/ferry/node/services/{id}/logs", get(logs))
            .with_state(ctl);
        let (stop, stopped) = tokio::sync::watch::channel(());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let Some(tls) = crate::tls::accept(&acceptor, tcp, peer, "node").await else {
                        return;
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        tracing::info!(%addr, "node endpoint listening");
        Ok(NodeServer { task, _stop: stop })
    }
}

/// This node's replicas' output of a service, one JSON line each, as it is read.
async fn logs(
    State(ctl): State<Arc<Controller>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let options =
        match ServiceLogOptions::from_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(o) => o,
            Err(e) => return (StatusCode::BAD_REQUEST, e.message).into_response(),
        };
    let lines = ctl.replica_logs(&id, options);
    let body = futures::stream::unfold(lines, |mut rx| async move {
        let line = rx.recv().await?;
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), rx))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
}

//! `service logs` of a swarm service: this node's replicas read here, every other Ready
//! node's through its node endpoint (mutual TLS with this node's certificate), all merged
//! into one stream as lines arrive. A node that cannot be reached, or whose stream breaks, is
//! reported in the stream and the others go on. Nodes that are Down (no session) are not
//! asked: their replicas run elsewhere by now.

use super::Swarm;
use crate::node_server::DEFAULT_NODE_PORT;
use crate::records::{NodeRecord, SessionRecord};
use crate::{Result, SwarmError};
use ferry_store::Table;
use ferry_types::logs::{ServiceLogEvent, ServiceLogLine, ServiceLogOptions};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use tokio::sync::mpsc;

/// Names a node's lines carry.
#[derive(Clone)]
struct Names {
    service: String,
    node_id: String,
    node: String,
}

impl Names {
    fn fill(&self, l: &mut ServiceLogLine) {
        l.service.clone_from(&self.service);
        l.node_id.clone_from(&self.node_id);
        l.node.clone_from(&self.node);
    }
}

impl Swarm {
    /// The output of every replica of the swarm service `service_id` (named `service`) on
    /// every Ready node, merged as it arrives; with `follow`, until the receiver is dropped.
    pub async fn service_logs(
        &self,
        service_id: &str,
        service: &str,
        options: ServiceLogOptions,
    ) -> Result<mpsc::Receiver<ServiceLogEvent>> {
        let (store, me) = {
            let st = self.state.lock().await;
            let a = Self::active(&st)?;
            (a.store.clone(), a.m.node_id.clone())
        };
        let nodes: Vec<NodeRecord> = ferry_store::list_json(&*store, Table::Nodes).await?;
        let sessions: BTreeMap<String, SessionRecord> =
            ferry_store::list_json::<SessionRecord>(&*store, Table::Sessions)
                .await?
                .into_iter()
                .map(|s| (s.node_id.clone(), s))
                .collect();
        let read = |p: std::path::PathBuf| self.files.read(&p);
        let tls = crate::tls::mutual_client_config(
            &read(self.files.node_cert())?,
            &read(self.files.node_key())?,
            &read(self.files.ca_cert())?,
        )?;
        let (tx, rx) = mpsc::channel(256);
        for node in nodes {
            let Some(session) = sessions.get(&node.id) else {
                continue;
            };
            let names = Names {
                service: service.to_string(),
                node_id: node.id.clone(),
                node: node.hostname.clone(),
            };
            let tx = tx.clone();
            if node.id == me {
                let mut lines = self.ctl.replica_logs(service_id, options);
                tokio::spawn(async move {
                    while let Some(mut l) = lines.recv().await {
                        names.fill(&mut l);
                        if tx.send(ServiceLogEvent::Line(l)).await.is_err() {
                            return;
                        }
                    }
                });
                continue;
            }
            let addr = match session.addr.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port_of(session)),
                Err(e) => {
                    let _ = tx
                        .send(ServiceLogEvent::Unreachable {
                            node: names.node.clone(),
                            message: format!("its advertise address {:?}: {e}", session.addr),
                        })
                        .await;
                    continue;
                }
            };
            let (tls, service_id) = (tls.clone(), service_id.to_string());
            tokio::spawn(async move {
                let r =
                    crate::node_client::stream_logs(addr, tls, &service_id, options, &tx, |l| {
                        names.fill(l)
                    })
                    .await;
                if let Err(e) = r {
                    let message = match e {
                        SwarmError::Unavailable(m) => m,
                        other => other.to_string(),
                    };
                    let _ = tx
                        .send(ServiceLogEvent::Unreachable {
                            node: names.node.clone(),
                            message,
                        })
                        .await;
                }
            });
        }
        Ok(rx)
    }
}

/// The port of a node's endpoint, as its session says.
fn port_of(s: &SessionRecord) -> u16 {
    if s.node_port == 0 {
        DEFAULT_NODE_PORT
    } else {
        s.node_port
    }
}

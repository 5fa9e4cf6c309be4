//! The etcd calls of membership (member add and remove, who leads) and the connections they
//! and the store use.

use crate::local::Files;
use crate::{Result, SwarmError};
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use ferry_store::{EtcdConfig, EtcdStore, EtcdTls};
use std::time::Duration;

/// How long to wait for a connection to an etcd endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one membership call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How this node reaches the cluster's etcd: the endpoints and the TLS files.
#[derive(Debug, Clone)]
pub struct EtcdAccess {
    /// Client URLs.
    pub endpoints: Vec<String>,
    /// TLS files (`None`: plain connections, a user's etcd without TLS).
    pub tls: Option<EtcdTls>,
}

impl EtcdAccess {
    /// Access to ferry's own etcd: the node's certificate as the client certificate, the
    /// cluster CA as the root.
    pub fn own(endpoints: Vec<String>, files: &Files) -> Self {
        EtcdAccess {
            endpoints,
            tls: Some(EtcdTls {
                ca: Some(files.ca_cert()),
                cert: Some(files.node_cert()),
                key: Some(files.node_key()),
                domain: None,
            }),
        }
    }

    /// The store under ferry's prefix.
    pub async fn store(&self) -> Result<EtcdStore> {
        let mut cfg = EtcdConfig::new(self.endpoints.clone());
        if let Some(tls) = &self.tls {
            cfg = cfg.with_tls(tls.clone());
        }
        Ok(EtcdStore::connect(cfg).await?)
    }

    /// A raw client of one endpoint, for membership calls.
    async fn client_of(&self, endpoint: &str) -> Result<Client> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(CALL_TIMEOUT);
        if let Some(tls) = &self.tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = &tls.ca {
                t = t.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            options = options.with_tls(t);
        }
        Client::connect([endpoint], Some(options))
            .await
            .map_err(|e| self.unreachable(e))
    }

    /// Runs `call` against each endpoint in turn until one answers.
    async fn on_any<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let mut last = String::from("no endpoint");
        for ep in &self.endpoints {
            let c = self.client_of(ep).await?;
            match call(c).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retry = matches!(&e, etcd_client::Error::GRpcStatus(s)
                        if format!("{:?}", s.code()) == "Unavailable")
                        || matches!(&e, etcd_client::Error::TransportError(_));
                    last = format!("{what}: {e}");
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(self.unreachable(last))
    }

    /// The error of an etcd call.
    pub fn unreachable(&self, e: impl std::fmt::Display) -> SwarmError {
        SwarmError::Unavailable(format!(
            "cannot reach the swarm's etcd at {}: {e}",
            self.endpoints.join(",")
        ))
    }

    /// Adds a member with `peer_url`; returns its ID and the `--initial-cluster` value it
    /// starts with (every member's name and peer URLs, its own under `name`).
    pub async fn member_add(&self, name: &str, peer_url: &str) -> Result<(u64, String)> {
        let resp = self
            .on_any("member add", |mut c| async move {
                c.member_add([peer_url], None).await
            })
            .await?;
        let id = resp
            .member()
            .map(|m| m.id())
            .ok_or_else(|| SwarmError::Internal("etcd's member add named no member".into()))?;
        let initial = resp
            .member_list()
            .iter()
            .flat_map(|m| {
                let n = if m.id() == id {
                    name.to_string()
                } else {
                    m.name().to_string()
                };
                m.peer_urls()
                    .iter()
                    .map(move |u| format!("{n}={u}"))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .join(",");
        Ok((id, initial))
    }

    /// Removes a member (no error when it is gone already).
    pub async fn member_remove(&self, id: u64) -> Result<()> {
        match self
            .on_any(
                "member remove",
                |mut c| async move { c.member_remove(id).await },
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("member not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The ID of the member that leads, as one endpoint sees it.
    pub async fn leader(&self) -> Result<u64> {
        let s = self
            .on_any("status", |mut c| async move { c.status().await })
            .await?;
        Ok(s.leader())
    }

    /// The ID of the member at the first endpoint that answers (the only one of a new
    /// cluster).
    pub async fn member_id(&self) -> Result<u64> {
        let s = self
            .on_any("status", |mut c| async move { c.status().await })
            .await?;
        s.header()
            .map(|h| h.member_id())
            .ok_or_else(|| SwarmError::Internal("etcd's status has no header".into()))
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(SwarmError::io(format!("cannot read {}", path.display())))
}

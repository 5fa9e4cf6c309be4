//! A node's session: an etcd lease renewed every third of its TTL, with the node's session
//! record on it. When the lease is lost (etcd unreachable for longer than the TTL, or
//! revoked), the session grants a new one and publishes the record again, and says so through
//! its lease channel so that whoever hangs records off the lease re-publishes them too.

use crate::records::SessionRecord;
use crate::Result;
use ferry_store::{Op, Store, Table};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A running session; ends (without revoking) when dropped.
pub struct Session {
    store: Arc<dyn Store>,
    lease: watch::Receiver<i64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Grants a lease and publishes `record` on it.
async fn publish(store: &dyn Store, record: &SessionRecord, ttl: Duration) -> Result<i64> {
    let lease = store.grant_lease(ttl).await?;
    let mut rec = record.clone();
    rec.lease = lease;
    rec.since = ferry_types::time::Timestamp::now().to_string();
    let op = Op::put_json_leased(Table::Sessions, &rec.node_id, &rec, lease)?;
    if let Err(e) = store.apply_ops(vec![op]).await {
        let _ = store.revoke_lease(lease).await;
        return Err(e.into());
    }
    Ok(lease)
}

impl Session {
    /// Starts a session of `ttl` for `record`'s node: fails when etcd does not answer now.
    pub async fn start(
        store: Arc<dyn Store>,
        record: SessionRecord,
        ttl: Duration,
    ) -> Result<Self> {
        let lease = publish(&*store, &record, ttl).await?;
        let (tx, rx) = watch::channel(lease);
        let task = tokio::spawn(keep(store.clone(), record, ttl, tx));
        Ok(Session {
            store,
            lease: rx,
            task,
        })
    }

    /// The current lease.
    pub fn lease(&self) -> i64 {
        *self.lease.borrow()
    }

    /// Follows lease changes.
    pub fn leases(&self) -> watch::Receiver<i64> {
        self.lease.clone()
    }

    /// Ends the session and revokes its lease, so that the node is Down at once.
    pub async fn end(self) {
        self.task.abort();
        let lease = self.lease();
        if let Err(e) = self.store.revoke_lease(lease).await {
            tracing::warn!(error = %e, "cannot revoke the session lease; it expires by itself");
        }
    }
}

async fn keep(store: Arc<dyn Store>, record: SessionRecord, ttl: Duration, tx: watch::Sender<i64>) {
    let period = (ttl / 3).max(Duration::from_millis(200));
    // A failed renewal is tried again soon, not a period later: etcd refuses renewals while
    // its apply falls behind (a burst of writes), and a lease lost to that would withdraw
    // every endpoint of the node.
    let retry = (period / 4).max(Duration::from_millis(100));
    let mut failing = false;
    loop {
        tokio::time::sleep(if failing { retry } else { period }).await;
        let lease = *tx.borrow();
        match store.keep_alive(lease).await {
            Ok(Some(_)) => {
                if failing {
                    tracing::info!("the swarm's etcd answers again; session kept");
                    failing = false;
                }
            }
            Ok(None) => {
                tracing::warn!(lease, "the session lease expired; granting a new one");
                match publish(&*store, &record, ttl).await {
                    Ok(new) => {
                        tracing::info!(lease = new, "session re-published");
                        tx.send_replace(new);
                        failing = false;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot re-publish the session; retrying");
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot renew the session lease; retrying");
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_store::MemoryStore;

    fn record() -> SessionRecord {
        SessionRecord {
            node_id: "n1".into(),
            lease: 0,
            addr: "192.0.2.1".into(),
            since: String::new(),
            node_port: 0,
        }
    }

    #[tokio::test]
    async fn a_kept_session_stays_and_an_ended_one_goes() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_millis(300);
        let s = Session::start(store.clone(), record(), ttl).await.unwrap();
        tokio::time::sleep(ttl * 3).await;
        assert!(store.get(Table::Sessions, "n1").await.unwrap().is_some());
        s.end().await;
        assert!(store.get(Table::Sessions, "n1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_lost_lease_is_granted_again_and_the_record_comes_back() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ttl = Duration::from_millis(300);
        let s = Session::start(store.clone(), record(), ttl).await.unwrap();
        let first = s.lease();
        let mut leases = s.leases();
        store.revoke_lease(first).await.unwrap();
        assert!(store.get(Table::Sessions, "n1").await.unwrap().is_none());
        tokio::time::timeout(ttl * 3, leases.changed())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(s.lease(), first);
        assert!(store.get(Table::Sessions, "n1").await.unwrap().is_some());
    }
}

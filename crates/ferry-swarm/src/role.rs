//! A node carries out what managers decide about it: it follows its own node record, and
//! when the record's role changes it adds (promote) or removes (demote) its etcd member and
//! join endpoint; when the record is removed (`node rm --force` of a live node) it leaves.

use crate::etcd_member::{self, EtcdMember, MemberConfig};
use crate::records::NodeRecord;
use crate::swarm::{add_member, remove_member, wait_ready, Swarm};
use crate::{Result, SwarmError};
use ferry_pki::Role;
use ferry_store::{Condition, Op, Store, Table, Txn};
use futures::StreamExt;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Follows `node_id`'s record until the swarm side goes away.
pub(crate) async fn follow(swarm: Weak<Swarm>, store: Arc<dyn Store>, node_id: String) {
    loop {
        let listing = match store.list(Table::Nodes).await {
            Ok(l) => l,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !reconcile(&swarm).await {
            return;
        }
        let Ok(mut events) = store.watch(Table::Nodes, listing.revision + 1).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        while let Some(Ok(e)) = events.next().await {
            if e.key() == node_id {
                if !reconcile(&swarm).await {
                    return;
                }
            } else if let Some(s) = swarm.upgrade() {
                // Another node's record: managers (and their etcd members) may have changed.
                s.refresh_endpoints().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One pass; `false` when there is nothing left to follow.
async fn reconcile(swarm: &Weak<Swarm>) -> bool {
    let Some(s) = swarm.upgrade() else {
        return false;
    };
    match s.carry_out().await {
        Ok(more) => more,
        Err(e) => {
            tracing::warn!(error = %e, "cannot carry out this node's new role; retrying on the next change");
            true
        }
    }
}

impl Swarm {
    /// Follows the managers' etcd members: the store's endpoints become theirs, and are saved
    /// for the next start.
    async fn refresh_endpoints(&self) {
        let mut st = self.state.lock().await;
        let Some(a) = st.active.as_mut() else {
            return;
        };
        if a.m.external_etcd {
            return;
        }
        let Ok(mut eps) = crate::join_server::manager_endpoints(&*a.store).await else {
            return;
        };
        eps.sort();
        let mut now = a.etcd.endpoints();
        now.sort();
        if eps.is_empty() || eps == now {
            return;
        }
        if let Err(e) = a.etcd.set_endpoints(&eps).await {
            tracing::warn!(error = %e, "cannot use the managers' new etcd endpoints");
            return;
        }
        tracing::info!(endpoints = %eps.join(","), "the managers changed; etcd endpoints follow");
        a.access.endpoints = eps.clone();
        a.m.etcd_endpoints = eps;
        if let Err(e) = self.files.save(&a.m) {
            tracing::warn!(error = %e, "cannot save the new etcd endpoints");
        }
    }

    /// Makes this node what its record says. `Ok(false)`: it is no longer a member.
    async fn carry_out(&self) -> Result<bool> {
        let mut st = self.state.lock().await;
        let Some(a) = st.active.as_mut() else {
            return Ok(false);
        };
        let me = a.m.node_id.clone();
        let Some(found) = a.store.get(Table::Nodes, &me).await? else {
            tracing::warn!("this node was removed from the swarm; leaving it");
            if let Some(a) = st.active.take() {
                self.detach(a, true, true).await;
            }
            self.files.remove_all()?;
            return Ok(false);
        };
        let mut rec: NodeRecord = serde_json::from_slice(&found.value)
            .map_err(|e| SwarmError::Internal(format!("this node's record: {e}")))?;
        let addr: IpAddr =
            a.m.advertise_addr
                .parse()
                .map_err(|e| SwarmError::Internal(format!("advertise address: {e}")))?;
        match (rec.role, a.m.manager) {
            (Role::Manager, false) => {
                if !a.m.external_etcd {
                    let (id, initial) =
                        add_member(&a.access, &me, &etcd_member::peer_url(addr)).await?;
                    // A member removed earlier left its data; a new member starts afresh.
                    let _ = std::fs::remove_dir_all(self.files.etcd_data());
                    let started = EtcdMember::start(
                        MemberConfig {
                            name: me.clone(),
                            addr,
                            initial_cluster: initial,
                            new_cluster: false,
                        },
                        self.files.clone(),
                    )
                    .await;
                    let member = match started {
                        Ok(m) => m,
                        Err(e) => {
                            let _ = remove_member(&a.access, id).await;
                            return Err(e);
                        }
                    };
                    let url = etcd_member::client_url(addr);
                    if !a.access.endpoints.contains(&url) {
                        a.access.endpoints.push(url.clone());
                        a.m.etcd_endpoints.push(url.clone());
                    }
                    wait_ready(&*a.store, &a.access).await?;
                    a.member = Some(member);
                    rec.etcd_member = Some(id);
                    rec.etcd_client_url = Some(url);
                    a.store
                        .apply(Txn::new(vec![Op::put_json(Table::Nodes, &me, &rec)?]).when(
                            Condition::KeyAt {
                                table: Table::Nodes,
                                key: me.clone(),
                                revision: found.mod_revision,
                            },
                        ))
                        .await?;
                }
                a.m.manager = true;
                self.files.save(&a.m)?;
                match self.start_server(a).await {
                    Ok(srv) => a.server = Some(srv),
                    Err(e) => tracing::error!(error = %e, "the join endpoint cannot start"),
                }
                tracing::info!("this node is now a manager");
            }
            (Role::Worker, true) => {
                if let Some(id) = rec.etcd_member {
                    remove_member(&a.access, id).await?;
                }
                if let Some(m) = a.member.take() {
                    m.stop().await;
                }
                let _ = std::fs::remove_dir_all(self.files.etcd_data());
                a.server = None;
                if let Some(url) = rec.etcd_client_url.take() {
                    a.access.endpoints.retain(|e| *e != url);
                    a.m.etcd_endpoints.retain(|e| *e != url);
                }
                rec.etcd_member = None;
                a.m.manager = false;
                self.files.save(&a.m)?;
                a.store
                    .apply_ops(vec![Op::put_json(Table::Nodes, &me, &rec)?])
                    .await?;
                tracing::info!("this node is now a worker");
            }
            _ => {}
        }
        Ok(true)
    }
}

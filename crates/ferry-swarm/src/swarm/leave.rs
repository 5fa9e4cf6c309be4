//! `swarm leave`: the member first, then the record and the session, through the others.

use super::*;

impl Swarm {
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
            self.detach(a, false, true).await;
        }
        self.files.remove_all()?;
        st.error.clear();
        tracing::info!("left the swarm");
        Ok(())
    }
}

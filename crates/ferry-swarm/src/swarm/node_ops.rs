//! `node ls|inspect|update|promote|demote|rm` on a manager (reads on any member).

use super::*;

impl Swarm {
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

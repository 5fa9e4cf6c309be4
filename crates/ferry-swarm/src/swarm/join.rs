//! `swarm join`: the joining node's side, and the undo of a join that failed half-way.

use super::*;

impl Swarm {
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
}

//! `swarm init`: a new swarm with this node its first manager.

use super::*;

impl Swarm {
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
                // The routing mesh's network, as Docker's `swarm init` makes it.
                let ingress = ferry_types::api::NetworkCreateRequest {
                    name: "ingress".into(),
                    driver: "overlay".into(),
                    ingress: true,
                    ..Default::default()
                };
                if let Err(e) = self.ctl.create_network(ingress).await {
                    tracing::warn!(error = %e.message, "the ingress network was not made: services' published ports will need one (ferry network create -d overlay --ingress ingress)");
                }
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
}

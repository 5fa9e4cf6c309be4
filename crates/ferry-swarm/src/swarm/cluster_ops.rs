//! The swarm's settings and join tokens (`GET /swarm`, token rotation).

use super::*;

impl Swarm {
    /// `GET /swarm`.
    pub async fn inspect(&self) -> Result<SwarmInspect> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let c = join_server::cluster(&*a.store).await?;
        Ok(SwarmInspect {
            id: c.id,
            created_at: c.created_at,
            join_tokens: JoinTokens {
                worker: c.worker_token,
                manager: c.manager_token,
            },
            data_path_port: c.data_path_port,
            default_addr_pool: c.default_addr_pools,
            subnet_size: c.subnet_size,
            lease_ttl: c.lease_ttl,
            listen_addr: join_addr(&a.m),
        })
    }

    /// Rotates the tokens asked for; the old ones admit no one from then on.
    pub async fn rotate(&self, worker: bool, manager: bool) -> Result<()> {
        let st = self.state.lock().await;
        let a = Self::manager(&st)?;
        let rec = a
            .store
            .get(Table::Swarm, CLUSTER_KEY)
            .await?
            .ok_or_else(|| SwarmError::Internal("the cluster record is missing".into()))?;
        let mut c: ClusterRecord =
            serde_json::from_slice(&rec.value).map_err(|e| SwarmError::Internal(e.to_string()))?;
        let digest = ferry_pki::CaDigest::of_pem(&c.ca_cert)?;
        if worker {
            c.worker_token = JoinToken::generate(digest)?.to_string();
        }
        if manager {
            c.manager_token = JoinToken::generate(digest)?.to_string();
        }
        a.store
            .apply(
                Txn::new(vec![Op::put_json(Table::Swarm, CLUSTER_KEY, &c)?]).when(
                    Condition::KeyAt {
                        table: Table::Swarm,
                        key: CLUSTER_KEY.into(),
                        revision: rec.mod_revision,
                    },
                ),
            )
            .await?;
        Ok(())
    }
}

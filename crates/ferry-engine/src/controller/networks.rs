//! Network operations: create, list, inspect, remove, prune.

use super::{new_id, store_err, Controller};
use crate::driver::Stack;
use crate::filters::NetworkFilter;
use crate::state::State;
use crate::views::{MemberView, NetworkView};
use ferry_ipam::overlaps;
use ferry_ipam::PoolSpec;
use ferry_store::{Op, Table};
use ferry_types::api::{CreateResponse, NetworkCreateRequest};
use ferry_types::validate;
use ferry_types::{FerryError, Network, NetworkId, SubnetConfig};
use ipnet::{IpNet, Ipv6Net};
use std::collections::BTreeMap;

/// The driver a request names (the default one when it names none).
fn driver_of(req: &NetworkCreateRequest) -> &str {
    if req.driver.is_empty() {
        crate::drivers::DEFAULT_DRIVER
    } else {
        req.driver.as_str()
    }
}

impl Controller {
    /// Subnets in use on the host (routes) plus those of every network.
    async fn taken_subnets(&self, st: &State) -> Result<Vec<IpNet>, FerryError> {
        let mut taken = self
            .host_nl
            .route_destinations()
            .await
            .map_err(crate::drivers::kernel_err)?;
        taken.extend(
            st.networks()
                .flat_map(|n| n.subnets.iter().map(|s| s.subnet)),
        );
        Ok(taken)
    }

    /// The IPv6 pool for networks created with `--ipv6` and no IPv6 subnet: a ULA /48 derived
    /// from the host ID, split into /64s (as Docker does).
    fn v6_pool(&self) -> PoolSpec {
        let h = self.host_id.as_bytes();
        let hex = |i: usize| {
            u16::from_str_radix(std::str::from_utf8(&h[i..i + 4]).unwrap_or("0"), 16).unwrap_or(0)
        };
        let base = std::net::Ipv6Addr::new(0xfd00 | (hex(0) & 0xff), hex(4), hex(8), 0, 0, 0, 0, 0);
        PoolSpec {
            base: IpNet::V6(Ipv6Net::new(base, 48).unwrap_or_default()),
            size: 64,
        }
    }

    /// Builds a network record from a request, choosing subnets when none were given.
    pub(super) async fn build_network(
        &self,
        st: &State,
        req: &NetworkCreateRequest,
        builtin: bool,
        id: NetworkId,
    ) -> Result<Network, FerryError> {
        let checked = validate::network_request(req)?;
        let driver_name = driver_of(req);
        let driver = self.drivers.get(driver_name)?.clone();
        let cap = driver.capability();
        if cap.singleton && !builtin {
            return Err(FerryError::forbidden(format!(
                "only one instance of the {driver_name} network is allowed, and it exists"
            )));
        }
        if st.network_name_taken(&req.name) {
            return Err(FerryError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let mut subnets = checked.subnets.clone();
        let user_subnets = !subnets.is_empty();
        if cap.stack == Stack::Endpoints {
            for s in &subnets {
                if let Some(other) = st
                    .networks()
                    .find(|n| n.subnets.iter().any(|o| overlaps(&o.subnet, &s.subnet)))
                {
                    return Err(FerryError::conflict(format!(
                        "subnet {} overlaps subnet of network {}; choose a --subnet that does not overlap",
                        s.subnet, other.name
                    )));
                }
            }
            let need_v4 = !subnets.iter().any(|s| matches!(s.subnet, IpNet::V4(_)));
            let need_v6 =
                checked.enable_ipv6 && !subnets.iter().any(|s| matches!(s.subnet, IpNet::V6(_)));
            if need_v4 || need_v6 {
                let taken = self.taken_subnets(st).await?;
                if need_v4 {
                    let net = ferry_ipam::next_free_subnet(
                        &self.cfg.default_address_pools,
                        &taken,
                        false,
                    )
                    .map_err(super::endpoints::ipam_err)?;
                    subnets.insert(
                        0,
                        SubnetConfig {
                            subnet: net,
                            ip_range: None,
                            gateway: Some(validate::first_host(&net)),
                            aux_addresses: BTreeMap::new(),
                        },
                    );
                }
                if need_v6 {
                    let net = ferry_ipam::next_free_subnet(&[self.v6_pool()], &taken, true)
                        .map_err(super::endpoints::ipam_err)?;
                    subnets.push(SubnetConfig {
                        subnet: net,
                        ip_range: None,
                        gateway: Some(validate::first_host(&net)),
                        aux_addresses: BTreeMap::new(),
                    });
                }
            }
        }
        let mut net = Network {
            id,
            name: req.name.clone(),
            driver: driver.name().to_string(),
            created: ferry_types::time::Timestamp::now(),
            enable_ipv6: checked.enable_ipv6,
            internal: req.internal,
            attachable: req.attachable,
            subnets,
            user_subnets,
            options: req.options.clone(),
            labels: req.labels.clone(),
            driver_config: serde_json::Value::Null,
            builtin,
            ipam_cursors: BTreeMap::new(),
        };
        let others: Vec<&Network> = st.networks().collect();
        net.driver_config = driver.configure(&mut net, &others).await?;
        Ok(net)
    }

    /// Records a network and makes its kernel objects; undoes both on failure.
    pub(super) async fn add_network(&self, st: &mut State, net: Network) -> Result<(), FerryError> {
        st.put_network(net.clone())?;
        if let Err(e) = self.save(vec![Self::put_network_op(&net)?]).await {
            st.remove_network(&net.id);
            return Err(e);
        }
        let driver = self.driver(&net)?.clone();
        let made = match driver.create_network(&net).await {
            Ok(()) => self.firewall.apply(&self.network_changes(&net, true)),
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            let _ = self.firewall.apply(&self.network_changes(&net, false));
            if let Err(undo) = driver.delete_network(&net).await {
                tracing::warn!(network = %net.name, error = %undo, "half-made network not removed");
            }
            st.remove_network(&net.id);
            let _ = self.save(vec![Op::delete(Table::Networks, &net.id)]).await;
            return Err(e);
        }
        self.dns_add_network(&net);
        tracing::info!(network = %net.name, id = %ferry_types::ids::short(&net.id), "network created");
        Ok(())
    }

    /// `network create`.
    pub async fn create_network(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        let global = self
            .drivers
            .get(driver_of(&req))
            .is_ok_and(|d| d.capability().scope == crate::driver::Scope::Global);
        let wanted_scope = if global {
            ferry_types::SCOPE_SWARM
        } else {
            ferry_types::SCOPE_LOCAL
        };
        if !req.scope.is_empty() && req.scope != wanted_scope {
            return Err(FerryError::invalid(format!(
                "a network of driver {} has scope {wanted_scope}, not {}",
                driver_of(&req),
                req.scope
            )));
        }
        if global {
            return self.create_global_network(req).await;
        }
        let mut st = self.lock().await;
        let net = self.build_network(&st, &req, false, new_id()).await?;
        let id = net.id.clone();
        self.add_network(&mut st, net).await?;
        Ok(CreateResponse {
            id: id.into(),
            warning: String::new(),
        })
    }

    /// Makes `bridge`, `host` and `none` when missing.
    pub(crate) async fn ensure_default_networks(&self, st: &mut State) -> Result<(), FerryError> {
        for req in crate::drivers::default_networks(&self.cfg) {
            if st.network_name_taken(&req.name) {
                continue;
            }
            let mut net = self.build_network(st, &req, true, new_id()).await?;
            // Their subnets are the daemon's choice (like docker0's 172.17.0.0/16, taken
            // unless in use), not a user's: static `--ip` is refused on them, as in Docker.
            net.user_subnets = false;
            self.add_network(st, net).await?;
        }
        Ok(())
    }

    /// A network with its members, by sandbox ID.
    /// Who sees a network.
    pub(crate) fn scope_of(&self, net: &Network) -> &'static str {
        if self.is_global(net) {
            ferry_types::SCOPE_SWARM
        } else {
            ferry_types::SCOPE_LOCAL
        }
    }

    fn network_view(&self, st: &State, net: &Network) -> NetworkView {
        let mut members: Vec<MemberView> = st
            .members(&net.id)
            .filter_map(|sb| {
                sb.endpoint_on(&net.id).map(|ep| MemberView {
                    sandbox_id: sb.id.clone(),
                    sandbox_name: sb.name.clone(),
                    endpoint: ep.clone(),
                })
            })
            .collect();
        members.sort_by(|a, b| a.sandbox_id.cmp(&b.sandbox_id));
        NetworkView {
            scope: self.scope_of(net),
            network: net.clone(),
            members,
        }
    }

    /// `network ls`: the networks that pass the filter, by name.
    pub async fn list_networks(
        &self,
        filter: &NetworkFilter,
    ) -> Result<Vec<NetworkView>, FerryError> {
        let st = self.lock().await;
        let mut out: Vec<NetworkView> = st
            .networks()
            .filter(|n| {
                filter.matches_scoped(n, st.members(&n.id).next().is_some(), self.scope_of(n))
            })
            .map(|n| self.network_view(&st, n))
            .collect();
        out.sort_by(|a, b| a.network.name.cmp(&b.network.name));
        Ok(out)
    }

    /// `network inspect`.
    pub async fn inspect_network(&self, reference: &str) -> Result<NetworkView, FerryError> {
        let st = self.lock().await;
        let n = st.find_network(reference)?;
        Ok(self.network_view(&st, n))
    }

    fn check_removable(st: &State, net: &Network) -> Result<(), FerryError> {
        if net.builtin {
            return Err(FerryError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if let Some(service) = st.services_on(&net.id).next() {
            return Err(FerryError::conflict(format!(
                "network {} is used by service {}; remove the service first",
                net.name, service.name
            )));
        }
        let users: Vec<&str> = st.members(&net.id).map(|s| s.name.as_str()).collect();
        if !users.is_empty() {
            return Err(FerryError::conflict(format!(
                "network {} has active endpoints (sandboxes: {}); disconnect or remove them first",
                net.name,
                users.join(", ")
            )));
        }
        Ok(())
    }

    pub(super) async fn delete_network(
        &self,
        st: &mut State,
        net: &Network,
    ) -> Result<(), FerryError> {
        self.save(vec![Op::delete(Table::Networks, &net.id)])
            .await?;
        st.remove_network(&net.id);
        self.dns_remove_network(net);
        if let Err(e) = self.firewall.apply(&self.network_changes(net, false)) {
            // The next start rebuilds the tables from the store, without this network.
            tracing::warn!(network = %net.name, error = %e, "firewall elements not removed");
        }
        if let Err(e) = self.driver(net)?.delete_network(net).await {
            // The record is gone; what is left is an orphan that the next start removes.
            tracing::warn!(network = %net.name, error = %e, "network's kernel objects not removed");
        }
        tracing::info!(network = %net.name, "network removed");
        Ok(())
    }

    /// `network rm`.
    pub async fn remove_network(&self, reference: &str) -> Result<(), FerryError> {
        let mut st = self.lock().await;
        let net = st.find_network(reference)?.clone();
        Self::check_removable(&st, &net)?;
        if self.is_global(&net) {
            drop(st);
            return self.remove_global_network(net).await;
        }
        self.delete_network(&mut st, &net).await
    }

    /// `network prune`: removes every user network without endpoints that passes the filter,
    /// and returns them.
    pub async fn prune_networks(&self, filter: &NetworkFilter) -> Result<Vec<Network>, FerryError> {
        let mut st = self.lock().await;
        let victims: Vec<Network> = st
            .networks()
            .filter(|n| {
                !n.builtin
                    && st.members(&n.id).next().is_none()
                    && st.services_on(&n.id).next().is_none()
            })
            .filter(|n| filter.matches_scoped(n, false, self.scope_of(n)))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for n in victims {
            self.delete_network(&mut st, &n).await?;
            removed.push(n);
        }
        Ok(removed)
    }

    /// Loads the networks of the store into the state.
    pub(crate) async fn load_networks(&self, st: &mut State) -> Result<(), FerryError> {
        for n in ferry_store::list_json::<Network>(self.store.as_ref(), Table::Networks)
            .await
            .map_err(store_err)?
        {
            st.put_network(n)?;
        }
        Ok(())
    }
}

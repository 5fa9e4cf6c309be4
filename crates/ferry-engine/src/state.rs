//! The daemon's in-memory view of its store, with the indexes every operation needs so that no
//! operation scans all networks or sandboxes (name lookups, members of a network, IPAM).

use ferry_ipam::SubnetAllocator;
use ferry_types::service::Service;
use ferry_types::{FerryError, Network, NetworkId, Sandbox, SandboxId};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::ops::Bound;

/// How many exit codes of removed sandboxes are remembered for late `wait` calls.
const RECENT_EXITS: usize = 1024;

/// Everything the controller knows, indexed.
#[derive(Default)]
pub struct State {
    networks: BTreeMap<NetworkId, Network>,
    network_names: HashMap<String, NetworkId>,
    /// The swarm's routing-mesh network, when known (a swarm has at most one).
    ingress: Option<NetworkId>,
    ipam: HashMap<NetworkId, Vec<SubnetAllocator>>,
    sandboxes: BTreeMap<SandboxId, Sandbox>,
    sandbox_names: HashMap<String, SandboxId>,
    members: HashMap<NetworkId, BTreeSet<SandboxId>>,
    recent_exits: VecDeque<(SandboxId, i32)>,
    services: BTreeMap<String, Service>,
    service_names: HashMap<String, String>,
    /// Service ID → (slot, replica sandbox ID): a swarm task's slot can have two replicas
    /// for a moment (an update that starts the new one first).
    replicas: HashMap<String, BTreeSet<(u32, SandboxId)>>,
    /// Host ports published by running sandboxes (and by services' routing mesh).
    pub ports: crate::ports::PortTable,
    /// The load-balancer elements applied to the kernel, per service, so a change writes
    /// only what differs.
    pub lb_applied: HashMap<String, Vec<ferry_firewall::LbEntry>>,
    /// Live replicas of swarm services on other nodes, as their peer records say: service →
    /// peer key → (network, IPv4 address).
    pub remote_replicas: HashMap<String, BTreeMap<String, (NetworkId, std::net::Ipv4Addr)>>,
}

/// Whether a network is the swarm's routing-mesh network.
pub(crate) fn is_ingress(net: &Network) -> bool {
    use ferry_driver_options::overlay::{parse_overlay_options, INGRESS};
    net.driver == "overlay"
        && net
            .options
            .get(INGRESS)
            .is_some_and(|_| parse_overlay_options(&net.options).is_ok_and(|o| o.ingress))
}

/// Finds an object by full ID, then by name, then by a unique ID prefix (Docker's order).
fn resolve<'a, K: Borrow<str> + Ord, T>(
    kind: &str,
    reference: &str,
    by_id: &'a BTreeMap<K, T>,
    by_name: &HashMap<String, K>,
) -> Result<&'a T, FerryError> {
    if let Some(v) = by_id.get(reference) {
        return Ok(v);
    }
    if let Some(v) = by_name.get(reference).and_then(|id| by_id.get(id.borrow())) {
        return Ok(v);
    }
    if ferry_types::ids::is_hex_prefix(reference) {
        let mut hits = by_id
            .range::<str, _>((Bound::Included(reference), Bound::Unbounded))
            .take_while(|(k, _)| (*k).borrow().starts_with(reference));
        if let Some((_, first)) = hits.next() {
            if hits.next().is_some() {
                return Err(FerryError::invalid(format!(
                    "{kind} {reference:?} is ambiguous: several IDs start with it; give more digits or the name"
                )));
            }
            return Ok(first);
        }
    }
    Err(FerryError::not_found(format!(
        "{kind} {reference} not found"
    )))
}

impl State {
    /// All networks by ID.
    pub fn networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.values()
    }
    /// Number of networks.
    pub fn network_count(&self) -> usize {
        self.networks.len()
    }
    /// A network by ID, name or unique ID prefix.
    pub fn find_network(&self, reference: &str) -> Result<&Network, FerryError> {
        resolve("network", reference, &self.networks, &self.network_names)
    }
    /// A network by exact ID.
    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.get(id)
    }
    /// The swarm's routing-mesh network (`ingress`), when this node knows one.
    pub fn ingress_network(&self) -> Option<&Network> {
        self.ingress.as_ref().and_then(|id| self.networks.get(id))
    }
    /// Whether a network name is taken.
    pub fn network_name_taken(&self, name: &str) -> bool {
        self.network_names.contains_key(name)
    }

    /// Adds or replaces a network and builds its address allocators.
    pub fn put_network(&mut self, net: Network) -> Result<(), FerryError> {
        let mut allocs = Vec::new();
        for s in &net.subnets {
            let mut reserved: Vec<(IpAddr, String)> = Vec::new();
            if let Some(g) = s.gateway {
                reserved.push((g, "the gateway".into()));
            }
            for (name, a) in &s.aux_addresses {
                reserved.push((*a, format!("auxiliary address '{name}'")));
            }
            let mut a = SubnetAllocator::new(s.subnet, s.ip_range, &reserved)
                .map_err(|e| FerryError::invalid(e.to_string()))?;
            if let Some(c) = net.ipam_cursors.get(&s.subnet.to_string()) {
                a.set_cursor(*c);
            }
            allocs.push(a);
        }
        if let Some(old) = self.networks.get(&net.id) {
            self.network_names.remove(&old.name);
            // Keep the addresses already handed out.
            if let Some(prev) = self.ipam.get(&net.id) {
                for (new, old) in allocs.iter_mut().zip(prev) {
                    if new.subnet() == old.subnet() {
                        *new = old.clone();
                    }
                }
            }
        }
        self.network_names.insert(net.name.clone(), net.id.clone());
        if is_ingress(&net) {
            self.ingress = Some(net.id.clone());
        } else if self.ingress.as_ref() == Some(&net.id) {
            self.ingress = None;
        }
        self.ipam.insert(net.id.clone(), allocs);
        self.networks.insert(net.id.clone(), net);
        Ok(())
    }

    /// Removes a network.
    pub fn remove_network(&mut self, id: &str) -> Option<Network> {
        let net = self.networks.remove(id)?;
        self.network_names.remove(&net.name);
        if self.ingress.as_ref() == Some(&net.id) {
            self.ingress = None;
        }
        self.ipam.remove(id);
        self.members.remove(id);
        Some(net)
    }

    /// Marks `ip` taken in the allocator of the network's subnet that holds it (an address
    /// already taken, or of no subnet, is left as it is).
    pub fn mark_taken(&mut self, network_id: &str, ip: IpAddr) {
        if let Some(a) = self
            .ipam
            .get_mut(network_id)
            .and_then(|allocs| allocs.iter_mut().find(|a| a.subnet().contains(&ip)))
        {
            let _ = a.allocate_specific(ip);
        }
    }

    /// Gives `ip` back to the network's allocators.
    pub fn release_address(&mut self, network_id: &str, ip: IpAddr) {
        for a in self.ipam.get_mut(network_id).into_iter().flatten() {
            a.release(ip);
        }
    }

    /// The address allocators of a network, one per subnet in the network's order.
    pub fn ipam_mut(&mut self, network_id: &str) -> Option<&mut Vec<SubnetAllocator>> {
        self.ipam.get_mut(network_id)
    }

    /// The serial cursors of a network's allocators, keyed by subnet, for persisting.
    pub fn ipam_cursors(&self, network_id: &str) -> BTreeMap<String, u128> {
        self.ipam
            .get(network_id)
            .map(|v| {
                v.iter()
                    .map(|a| (a.subnet().to_string(), a.cursor()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All sandboxes by ID.
    pub fn sandboxes(&self) -> impl Iterator<Item = &Sandbox> {
        self.sandboxes.values()
    }
    /// Number of sandboxes.
    pub fn sandbox_count(&self) -> usize {
        self.sandboxes.len()
    }
    /// A sandbox by ID, name or unique ID prefix (a leading `/` is ignored, as in Docker).
    pub fn find_sandbox(&self, reference: &str) -> Result<&Sandbox, FerryError> {
        let r = reference.strip_prefix('/').unwrap_or(reference);
        resolve("sandbox", r, &self.sandboxes, &self.sandbox_names).map_err(|e| match e.kind {
            ferry_types::ErrorKind::NotFound => {
                FerryError::not_found(format!("no such sandbox: {reference}"))
            }
            _ => e,
        })
    }
    /// A sandbox by exact ID.
    pub fn sandbox(&self, id: &str) -> Option<&Sandbox> {
        self.sandboxes.get(id)
    }
    /// Whether a sandbox name is taken.
    pub fn sandbox_name_taken(&self, name: &str) -> bool {
        self.sandbox_names.contains_key(name)
    }

    /// Adds or replaces a sandbox, keeping the network membership index true.
    pub fn put_sandbox(&mut self, sb: Sandbox) {
        if let Some(old) = self.sandboxes.get(&sb.id) {
            for ep in &old.endpoints {
                if let Some(m) = self.members.get_mut(&ep.network_id) {
                    m.remove(&old.id);
                }
            }
            self.sandbox_names.remove(&old.name);
        }
        for ep in &sb.endpoints {
            self.members
                .entry(ep.network_id.clone())
                .or_default()
                .insert(sb.id.clone());
        }
        if let Some(r) = &sb.config.replica_of {
            self.replicas
                .entry(r.service.clone())
                .or_default()
                .insert((r.slot, sb.id.clone()));
        }
        self.sandbox_names.insert(sb.name.clone(), sb.id.clone());
        self.sandboxes.insert(sb.id.clone(), sb);
    }

    /// Removes a sandbox.
    pub fn remove_sandbox(&mut self, id: &str) -> Option<Sandbox> {
        let sb = self.sandboxes.remove(id)?;
        self.sandbox_names.remove(&sb.name);
        if let Some(r) = &sb.config.replica_of {
            if let Some(slots) = self.replicas.get_mut(&r.service) {
                slots.remove(&(r.slot, sb.id.clone()));
            }
        }
        for ep in &sb.endpoints {
            if let Some(m) = self.members.get_mut(&ep.network_id) {
                m.remove(id);
            }
        }
        Some(sb)
    }

    /// IDs of the sandboxes with a live endpoint on a network.
    pub fn members(&self, network_id: &str) -> impl Iterator<Item = &Sandbox> {
        self.members
            .get(network_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.sandboxes.get(id))
    }

    /// All services by ID.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }
    /// A service by ID, name or unique ID prefix.
    pub fn find_service(&self, reference: &str) -> Result<&Service, FerryError> {
        resolve("service", reference, &self.services, &self.service_names).map_err(|e| {
            match e.kind {
                ferry_types::ErrorKind::NotFound => {
                    FerryError::not_found(format!("no such service: {reference}"))
                }
                _ => e,
            }
        })
    }
    /// A service by exact ID.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }
    /// Whether a service name is taken.
    pub fn service_name_taken(&self, name: &str) -> bool {
        self.service_names.contains_key(name)
    }
    /// Adds or replaces a service.
    pub fn put_service(&mut self, svc: Service) {
        if let Some(old) = self.services.get(&svc.id) {
            self.service_names.remove(&old.name);
        }
        self.service_names.insert(svc.name.clone(), svc.id.clone());
        self.services.insert(svc.id.clone(), svc);
    }
    /// Removes a service.
    pub fn remove_service(&mut self, id: &str) -> Option<Service> {
        let svc = self.services.remove(id)?;
        self.service_names.remove(&svc.name);
        self.lb_applied.remove(id);
        Some(svc)
    }
    /// A service's replicas and their slots, by slot.
    pub fn replicas(&self, service_id: &str) -> impl Iterator<Item = (u32, &Sandbox)> {
        self.replicas
            .get(service_id)
            .into_iter()
            .flatten()
            .filter_map(|(slot, id)| self.sandboxes.get(id).map(|sb| (*slot, sb)))
    }
    /// Services with a VIP or replicas on a network.
    pub fn services_on(&self, network_id: &str) -> impl Iterator<Item = &Service> {
        let network_id = network_id.to_string();
        self.services
            .values()
            .filter(move |s| s.spec.networks.iter().any(|n| n.network_id == network_id))
    }

    /// Remembers the exit code of a sandbox that is being removed.
    pub fn remember_exit(&mut self, id: &SandboxId, code: i32) {
        if self.recent_exits.len() >= RECENT_EXITS {
            self.recent_exits.pop_front();
        }
        self.recent_exits.push_back((id.clone(), code));
    }

    /// The remembered exit code of a removed sandbox.
    pub fn recent_exit(&self, id: &str) -> Option<i32> {
        self.recent_exits
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(name: &str, ingress: bool) -> Network {
        let mut options = std::collections::BTreeMap::new();
        options.insert(
            ferry_driver_options::overlay::INGRESS.to_string(),
            ingress.to_string(),
        );
        Network {
            id: format!("{name:0>64}").into(),
            name: name.into(),
            driver: "overlay".into(),
            created: Default::default(),
            enable_ipv6: false,
            internal: false,
            attachable: false,
            subnets: vec![],
            user_subnets: false,
            options,
            labels: Default::default(),
            driver_config: serde_json::Value::Null,
            builtin: false,
            ipam_cursors: Default::default(),
        }
    }

    /// The routing mesh's network is found without a scan, and forgotten with it.
    #[test]
    fn the_ingress_network_is_indexed_as_it_comes_and_goes() {
        let mut st = State::default();
        st.put_network(overlay("appnet", false)).unwrap();
        assert!(st.ingress_network().is_none());
        let ingress = overlay("ingress", true);
        st.put_network(ingress.clone()).unwrap();
        assert_eq!(
            st.ingress_network().map(|n| n.name.as_str()),
            Some("ingress")
        );
        // Replaced by a version that is no longer the mesh's.
        st.put_network(overlay("ingress", false)).unwrap();
        assert!(st.ingress_network().is_none());
        st.put_network(ingress.clone()).unwrap();
        st.remove_network(&ingress.id);
        assert!(st.ingress_network().is_none());
    }
}

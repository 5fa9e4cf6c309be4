//! The controller's side of the driver interface: plugging an endpoint in (the driver makes
//! the interface, the controller gives it its addresses and routes) and out, and the firewall
//! elements of the drivers whose traffic crosses the host.

use super::locks::StateLock;
use super::Controller;
use crate::driver::{NetworkDriver, SandboxNs, Stack};
use crate::drivers::kernel_err;
use crate::state::State;
use ferry_firewall::{BridgeNet, BridgePort, Changes};
use ferry_kernel::{netns, sysctl};
use ferry_types::{Endpoint, FerryError, Network};
use std::path::Path;
use std::sync::Arc;

impl Controller {
    /// The driver of a network.
    pub(crate) fn driver(&self, net: &Network) -> Result<&Arc<dyn NetworkDriver>, FerryError> {
        self.drivers.of(net)
    }

    /// What a sandbox on the network gets for a stack (`Endpoints` for a network whose driver
    /// this daemon lacks: it is refused later, by name).
    pub(crate) fn stack_of(&self, net: &Network) -> Stack {
        self.drivers
            .of(net)
            .map(|d| d.capability().stack)
            .unwrap_or(Stack::Endpoints)
    }

    /// A network's firewall elements join (`add`) or leave the sets.
    pub(crate) fn network_changes(&self, net: &Network, add: bool) -> Changes {
        let mut c = Changes::new();
        if let Some(fw) = self
            .drivers
            .of(net)
            .ok()
            .and_then(|d| d.firewalled())
            .and_then(|f| f.network_elements(net))
        {
            if add {
                c.add_network(&fw);
            } else {
                c.remove_network(&fw);
            }
        }
        c
    }

    /// The firewall elements of every network and of every running sandbox's endpoints, as
    /// a start rebuilds ferry's tables from them.
    pub(crate) fn firewall_elements(
        &self,
        st: &State,
    ) -> (Vec<BridgeNet>, Vec<(BridgeNet, BridgePort)>) {
        let firewalled = |net: &Network| self.drivers.of(net).ok().and_then(|d| d.firewalled());
        let networks = st
            .networks()
            .filter_map(|n| firewalled(n)?.network_elements(n))
            .collect();
        let endpoints = st
            .sandboxes()
            .filter(|s| s.is_running())
            .flat_map(|s| s.endpoints.iter())
            .filter_map(|e| {
                let net = st.network(&e.network_id)?;
                let fw = firewalled(net)?;
                Some((fw.network_elements(net)?, fw.endpoint_elements(net, e)?))
            })
            .collect();
        (networks, endpoints)
    }

    /// Adds an endpoint's firewall elements to `c`, or their removal.
    pub(crate) fn endpoint_changes(
        &self,
        c: &mut Changes,
        net: &Network,
        ep: &Endpoint,
        add: bool,
    ) {
        let Some(fw) = self.drivers.of(net).ok().and_then(|d| d.firewalled()) else {
            return;
        };
        if let (Some(n), Some(e)) = (fw.network_elements(net), fw.endpoint_elements(net, ep)) {
            if add {
                c.add_endpoint(&n, &e);
            } else {
                c.remove_endpoint(&n, &e);
            }
        }
    }

    /// Plugs an endpoint into a sandbox: the driver makes its interface, then the interface
    /// comes up inside the sandbox with the endpoint's addresses and the driver's routes.
    /// On failure, what was made is removed again.
    /// The driver's join runs without the state lock when `st` may let it go.
    pub(crate) async fn plug(
        &self,
        st: &mut StateLock<'_>,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<(), FerryError> {
        let driver = self.driver(net)?;
        let info = st.unlocked(driver.join(net, ep, ns)).await?;
        let inside = async {
            if ep.ipv6.is_some() {
                // The address is the sandbox's own by IPAM: waiting out DAD only delays it.
                let key = format!("net/ipv6/conf/{}/accept_dad", ep.ifname);
                netns::run_in(ns.path, move || sysctl::set(&key, "0")).map_err(kernel_err)?;
            }
            let idx = ns
                .nl
                .set_endpoint_up(&ep.ifname, ep.ipv6.is_some())
                .await
                .map_err(kernel_err)?;
            for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                ns.nl.add_address(idx, *a).await.map_err(kernel_err)?;
            }
            for r in &info.routes {
                ns.nl.add_device_route(idx, *r).await.map_err(kernel_err)?;
            }
            if let (Some(sr), Some(std::net::IpAddr::V4(own))) =
                (info.source_route, ep.ipv4.map(|a| a.addr()))
            {
                ns.nl
                    .replace_table_default_via(sr.table, sr.gateway, idx)
                    .await
                    .map_err(kernel_err)?;
                ns.nl
                    .add_source_rule(own, sr.table, sr.priority)
                    .await
                    .map_err(kernel_err)?;
            }
            Ok::<(), FerryError>(())
        };
        if let Err(e) = inside.await {
            if let Err(undo) = self.unplug_now(net, ep, ns.path).await {
                tracing::warn!(endpoint = %ep.ifname, error = %undo, "half-made endpoint not removed");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Unplugs an endpoint and waits until its interface is gone from the namespace, which
    /// lives on: an undo leaves nothing behind, not even for the moment a background deletion
    /// takes.
    pub(crate) async fn unplug_now(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: &Path,
    ) -> Result<(), FerryError> {
        self.unplug(net, ep, Some(netns)).await?;
        self.reaper
            .settled(&crate::drivers::reaper::ns_key(netns, &ep.ifname))
            .await;
        Ok(())
    }

    /// Unplugs an endpoint; `netns` is the sandbox's namespace while it still exists.
    pub(crate) async fn unplug(
        &self,
        net: &Network,
        ep: &Endpoint,
        netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        self.driver(net)?.leave(net, ep, netns).await
    }
}

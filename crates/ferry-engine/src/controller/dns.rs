//! The controller's side of the embedded resolver: which networks have names (user-defined
//! bridge networks, as in Docker), what a sandbox is called on them, and when its listeners
//! open and close. A sandbox is served from the time it starts on, or is connected to, a
//! network with names until it stops (Docker's resolver, once started, stays too).

use super::Controller;
use crate::driver::Stack;
use crate::resolver::Entry;
use crate::state::State;
use ferry_types::{Endpoint, FerryError, Network, Sandbox};
use std::net::IpAddr;
use std::path::Path;

impl Controller {
    /// User-defined networks with endpoints have embedded DNS; the default `bridge` does not.
    /// The gateway bridge of overlay sandboxes has none either: names on it would answer
    /// with addresses its members cannot reach (it passes no traffic between them).
    pub(crate) fn has_dns(&self, net: &Network) -> bool {
        !net.builtin && !super::gateway_bridge::is_gateway_bridge(net) && self.in_directory(net)
    }

    /// Networks the resolver's directory knows: every network with endpoints. The default
    /// `bridge` has no names there, but a served sandbox on it (one connected to a
    /// user-defined network once) may have its other queries forwarded, as it can reach the
    /// outside.
    fn in_directory(&self, net: &Network) -> bool {
        self.stack_of(net) == Stack::Endpoints
    }

    /// Records a network in the resolver's directory.
    pub(crate) fn dns_add_network(&self, net: &Network) {
        if self.in_directory(net) {
            self.resolver
                .update(|d| d.add_network(&net.id, &net.name, net.internal));
        }
    }

    /// Forgets a network.
    pub(crate) fn dns_remove_network(&self, net: &Network) {
        self.resolver.update(|d| d.remove_network(&net.id));
    }

    /// Makes a sandbox's names on one network resolvable, at once (on the default bridge:
    /// only lets its queries be forwarded).
    pub(crate) fn dns_add_endpoint(&self, net: &Network, sb: &Sandbox, ep: &Endpoint) {
        if !self.in_directory(net) {
            return;
        }
        if !self.has_dns(net) {
            let entry = Entry {
                sandbox: sb.id.to_string(),
                names: Vec::new(),
                addrs: Vec::new(),
            };
            self.resolver
                .update(|d| d.add_entry(&net.id, &net.name, &entry));
            return;
        }
        self.endpoints_changed();
        let entry = Entry {
            sandbox: sb.id.to_string(),
            names: Self::endpoint_names(sb, ep),
            addrs: ep
                .ipv4
                .iter()
                .chain(ep.ipv6.iter())
                .map(|a| a.addr())
                .collect(),
        };
        self.resolver
            .update(|d| d.add_entry(&net.id, &net.name, &entry));
    }

    /// The names a sandbox's endpoint answers to on its network: the sandbox's name, the
    /// endpoint's aliases, the short ID and the host name.
    pub(crate) fn endpoint_names(sb: &Sandbox, ep: &Endpoint) -> Vec<String> {
        let mut names = vec![sb.name.clone()];
        names.extend(ep.aliases.iter().cloned());
        names.push(ferry_types::ids::short(&sb.id).to_string());
        if !names.contains(&sb.config.hostname) && !sb.config.hostname.is_empty() {
            names.push(sb.config.hostname.clone());
        }
        names
    }

    /// Removes a sandbox's names from one network, at once.
    pub(crate) fn dns_remove_endpoint(&self, network_id: &str, sandbox_id: &str) {
        self.endpoints_changed();
        self.resolver
            .update(|d| d.remove_entry(network_id, sandbox_id));
    }

    /// True when the sandbox has an endpoint on a network with names.
    pub(crate) fn uses_dns(&self, st: &State, sb: &Sandbox) -> bool {
        sb.endpoints
            .iter()
            .any(|e| st.network(&e.network_id).is_some_and(|n| self.has_dns(n)))
    }

    /// True when the embedded resolver serves the sandbox: it is on a network with names, or
    /// was in this run (a record written before `embedded_dns` existed has only the former).
    pub(crate) fn serves_dns(&self, st: &State, sb: &Sandbox) -> bool {
        sb.embedded_dns || self.uses_dns(st, sb)
    }

    /// The servers the resolver forwards a sandbox's other queries to: its `--dns`, else the
    /// daemon's, else the host's (loopback ones included: they are dialled from the host).
    pub(crate) fn upstreams(&self, sb: &Sandbox) -> Vec<IpAddr> {
        if !sb.config.dns.is_empty() {
            return sb.config.dns.clone();
        }
        if !self.cfg.dns.is_empty() {
            return self.cfg.dns.clone();
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        crate::sandbox::etc_files::ResolvConf::parse(&host).nameservers
    }

    /// Registers a sandbox's names and opens its resolver inside the namespace at `netns`,
    /// before its process starts, so its first query is answered.
    pub(crate) fn dns_start(
        &self,
        st: &State,
        sb: &Sandbox,
        netns: &Path,
    ) -> Result<(), FerryError> {
        if !self.serves_dns(st, sb) {
            return Ok(());
        }
        for ep in &sb.endpoints {
            if let Some(net) = st.network(&ep.network_id) {
                self.dns_add_endpoint(net, sb, ep);
            }
        }
        self.resolver.serve(&sb.id, netns, self.upstreams(sb))
    }

    /// Closes a sandbox's resolver and removes its names.
    pub(crate) fn dns_stop(&self, sb: &Sandbox) {
        for ep in &sb.endpoints {
            self.dns_remove_endpoint(&ep.network_id, &sb.id);
        }
        self.resolver.stop(&sb.id);
    }
}

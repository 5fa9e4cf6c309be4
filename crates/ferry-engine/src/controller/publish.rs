//! Port publishing: checking `-p`/`-P` at create, choosing and holding host ports at start,
//! and freeing them when the sandbox stops. The nft map elements that carry the traffic are
//! added by the caller, in the same transaction as the sandbox's endpoints.

use super::Controller;
use crate::state::State;
use ferry_kernel::port_reservation::{self, PortReservation, ReserveError, SocketProto};
use ferry_types::api::SandboxCreateRequest;
use ferry_types::ports::{self, PortKey, PortRequest, Proto, PublishedPort};
use ferry_types::{Attachment, FerryError, Network, NetworkMode, Sandbox};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a new sandbox asks to publish and expose.
pub(super) struct PortConfig {
    pub ports: Vec<PortRequest>,
    pub exposed: Vec<PortKey>,
    pub publish_all: bool,
    pub warning: Option<String>,
}

pub(super) fn socket_proto(p: Proto) -> SocketProto {
    match p {
        Proto::Tcp => SocketProto::Tcp,
        Proto::Udp => SocketProto::Udp,
        Proto::Sctp => SocketProto::Sctp,
    }
}

impl Controller {
    /// Parses and checks the ports of a create request against the sandbox's network mode,
    /// its first network and the daemon's firewall, so that what cannot work is refused now
    /// rather than at every start.
    pub(super) fn port_config(
        &self,
        st: &State,
        req: &SandboxCreateRequest,
        mode: &NetworkMode,
        attachments: &[Attachment],
    ) -> Result<PortConfig, FerryError> {
        let mut ports = ports::from_bindings(&req.port_bindings)?;
        let exposed = ports::from_exposed(req.exposed_ports.keys())?;
        let publish_all = req.publish_all_ports;
        let publishing = !ports.is_empty() || (publish_all && !exposed.is_empty());
        if !publishing {
            return Ok(PortConfig {
                ports,
                exposed,
                publish_all,
                warning: None,
            });
        }
        let mut warning = None;
        match mode {
            NetworkMode::Networks => {}
            NetworkMode::Host => {
                ports.clear();
                warning = Some(
                    "published ports are discarded when using host network mode".to_string(),
                );
                return Ok(PortConfig {
                    ports,
                    exposed,
                    publish_all: false,
                    warning,
                });
            }
            NetworkMode::None => {
                return Err(FerryError::invalid(
                    "ports cannot be published with --network none: the sandbox has no network to receive them",
                ))
            }
            NetworkMode::Container(_) => {
                return Err(FerryError::invalid(
                    "ports cannot be published with --network container:NAME: publish them on the sandbox that owns the namespace",
                ))
            }
        }
        if !self.firewall.enabled() {
            return Err(FerryError::invalid(
                "ports cannot be published: the daemon runs with \"firewall\": \"none\" and touches no rules; publish them with the host's own firewall, or run the daemon with nftables",
            ));
        }
        // The first network that can publish (a sandbox on overlays alone publishes through
        // its gateway bridge, as Docker's do through docker_gwbridge); else the first, which
        // says why not.
        let nets: Vec<&Network> = attachments
            .iter()
            .filter_map(|a| st.network(&a.network_id))
            .collect();
        let net = nets
            .iter()
            .find(|n| self.driver(n).is_ok_and(|d| d.publisher().is_some()))
            .or(nets.first())
            .copied()
            .ok_or_else(|| FerryError::internal("sandbox has no first network"))?;
        if self.driver(net)?.publisher().is_none() {
            return Err(FerryError::invalid(format!(
                "ports cannot be published on {} network {}: its sandboxes have addresses of their own, not behind the host; reach them at those addresses and drop -p/-P",
                net.driver, net.name
            )));
        }
        if net.internal {
            return Err(FerryError::invalid(format!(
                "network {} is internal: nothing outside it can reach a published port; drop -p/-P or put the sandbox on a non-internal network first",
                net.name
            )));
        }
        for p in &ports {
            if let Some(IpAddr::V6(a)) = p.host_ip {
                if a.is_loopback() {
                    return Err(FerryError::invalid(format!(
                        "port {} cannot be published on ::1: the kernel never routes a reply to ::1 in from a bridge (IPv6 has no route_localnet), so only a userland proxy could serve it; publish on 127.0.0.1 instead",
                        p.container
                    )));
                }
            }
            if let Some(ip @ IpAddr::V6(_)) = p.host_ip {
                if !net.enable_ipv6 {
                    return Err(FerryError::invalid(format!(
                        "port {} is published on IPv6 address {ip}, but network {} has no IPv6; create the network with --ipv6 or publish on an IPv4 address",
                        p.container, net.name
                    )));
                }
            }
        }
        if publish_all {
            for key in &exposed {
                if !ports.iter().any(|p| p.container == *key) {
                    ports.push(PortRequest {
                        container: *key,
                        host_ip: None,
                        host_ports: None,
                    });
                }
            }
        }
        Ok(PortConfig {
            ports,
            exposed,
            publish_all,
            warning,
        })
    }

    /// Chooses and holds the host ports of a sandbox about to start, recording them in the
    /// state's port table. On error nothing stays taken.
    pub(super) fn publish(
        &self,
        st: &mut State,
        sb: &Sandbox,
    ) -> Result<(Vec<PublishedPort>, Vec<PortReservation>), FerryError> {
        let mut published = Vec::new();
        let mut held = Vec::new();
        if sb.config.ports.is_empty() {
            return Ok((published, held));
        }
        let result = (|| {
            let publishes = |e: &&ferry_types::Endpoint| {
                st.network(&e.network_id)
                    .is_some_and(|n| self.driver(n).is_ok_and(|d| d.publisher().is_some()))
            };
            let ep = sb
                .endpoints
                .iter()
                .find(publishes)
                .or(sb.endpoints.first())
                .ok_or_else(|| {
                    FerryError::internal(format!(
                        "sandbox {} has no endpoint for its ports",
                        sb.name
                    ))
                })?;
            let net = st
                .network(&ep.network_id)
                .cloned()
                .ok_or_else(|| FerryError::internal("network vanished"))?;
            let default_host = self
                .driver(&net)?
                .publisher()
                .and_then(|p| p.default_host_ip(&net));
            for req in &sb.config.ports {
                let targets = Self::port_targets(&net, default_host, ep, req)?;
                self.publish_one(st, sb, req, &targets, &mut published, &mut held)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok((published, held)),
            Err(e) => {
                st.ports.release(&sb.id);
                Err(e)
            }
        }
    }

    /// The host addresses a request publishes on, each with the sandbox address it leads to.
    fn port_targets(
        net: &Network,
        default_host: Option<IpAddr>,
        ep: &ferry_types::Endpoint,
        req: &PortRequest,
    ) -> Result<Vec<(IpAddr, IpAddr)>, FerryError> {
        let v4 = ep.ipv4.map(|a| a.addr());
        let v6 = ep.ipv6.map(|a| a.addr());
        let default_v4 = default_host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let hosts: Vec<IpAddr> = match req.host_ip {
            Some(ip) => vec![ip],
            None if default_v4.is_ipv6() => vec![default_v4],
            None => {
                let mut v = vec![default_v4];
                if v6.is_some() && default_v4.is_unspecified() {
                    v.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
                }
                v
            }
        };
        hosts
            .into_iter()
            .map(|h| {
                let target = if h.is_ipv4() { v4 } else { v6 };
                target.map(|t| (h, t)).ok_or_else(|| {
                    FerryError::invalid(format!(
                        "port {} is published on {h}, but the sandbox has no {} address on network {}",
                        req.container,
                        if h.is_ipv4() { "IPv4" } else { "IPv6" },
                        net.name
                    ))
                })
            })
            .collect()
    }

    /// Finds a host port free on every address of `targets`, holds it, and records it.
    fn publish_one(
        &self,
        st: &mut State,
        sb: &Sandbox,
        req: &PortRequest,
        targets: &[(IpAddr, IpAddr)],
        published: &mut Vec<PublishedPort>,
        held: &mut Vec<PortReservation>,
    ) -> Result<(), FerryError> {
        let proto = req.container.proto;
        let fixed = req.host_ports.filter(|r| r.len() == 1).map(|r| r.start);
        for port in st.ports.candidates(proto, req.host_ports) {
            if let Some((ip, owner)) = targets
                .iter()
                .find_map(|(ip, _)| st.ports.holder(proto, *ip, port).map(|o| (*ip, o)))
            {
                if fixed.is_some() {
                    let owner = if owner == sb.id {
                        "this sandbox itself".to_string()
                    } else {
                        Self::port_owner(st, owner)
                    };
                    return Err(FerryError::conflict(format!(
                        "host port {port}/{} on {ip} is already published by {owner}; stop it or publish another host port",
                        proto.as_str()
                    )));
                }
                continue;
            }
            let reserved = if sb.config.caller_holds_ports {
                Ok(Vec::new())
            } else {
                Self::reserve_all(proto, port, targets)
            };
            match reserved {
                Ok(mut r) => {
                    held.append(&mut r);
                    for (ip, target) in targets {
                        st.ports.take(proto, *ip, port, &sb.id);
                        published.push(PublishedPort {
                            container: req.container,
                            host_ip: *ip,
                            host_port: port,
                            target: *target,
                        });
                    }
                    if req.host_ports.is_none() {
                        st.ports.advance(proto, port);
                    }
                    return Ok(());
                }
                Err(e @ ReserveError::InUse { .. }) if fixed.is_some() => {
                    return Err(FerryError::conflict(e.to_string()));
                }
                Err(ReserveError::InUse { .. }) => continue,
                Err(e) => return Err(FerryError::invalid(e.to_string())),
            }
        }
        let range = req.host_ports.unwrap_or(st.ports.ephemeral());
        Err(FerryError::conflict(format!(
            "no free host port in {range}/{} for sandbox port {}; free one or choose another range",
            proto.as_str(),
            req.container
        )))
    }

    /// Holds `port` on every host address, or on none of them.
    fn reserve_all(
        proto: Proto,
        port: u16,
        targets: &[(IpAddr, IpAddr)],
    ) -> Result<Vec<PortReservation>, ReserveError> {
        let mut out = Vec::new();
        for (ip, _) in targets {
            match port_reservation::reserve(socket_proto(proto), *ip, port) {
                Ok(r) => out.push(r),
                // No such family or protocol on this host (IPv6 off, sctp not loaded): there
                // is nothing a host process could take either. A specific address the host
                // does not have is the user's mistake, and said so.
                Err(ReserveError::Unsupported { source, .. })
                    if source.raw_os_error() != Some(libc::EADDRNOTAVAIL) =>
                {
                    tracing::debug!(%ip, port, error = %source, "port not reserved");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Who holds a host port, for messages: `sandbox NAME` or `service NAME` (the routing
    /// mesh holds a service's ports under `service:ID`).
    pub(super) fn port_owner(st: &State, owner: &str) -> String {
        if let Some(sb) = st.sandbox(owner) {
            return format!("sandbox {}", sb.name);
        }
        match owner.strip_prefix("service:").and_then(|id| st.service(id)) {
            Some(s) => format!("service {}", s.name),
            None => owner.to_string(),
        }
    }

    /// Frees a sandbox's host ports (table entries and held sockets).
    pub(super) fn unpublish(&self, st: &mut State, sandbox_id: &str) {
        st.ports.release(sandbox_id);
        if let Ok(mut held) = self.held_ports.lock() {
            held.remove(sandbox_id);
        }
    }

    /// Keeps a sandbox's reservations for as long as it runs.
    pub(super) fn hold(&self, sandbox_id: &str, reservations: Vec<PortReservation>) {
        if reservations.is_empty() {
            return;
        }
        if let Ok(mut held) = self.held_ports.lock() {
            held.insert(sandbox_id.to_string(), reservations);
        }
    }

    /// Takes the ports of a sandbox adopted after a restart again: in the table, and in the
    /// kernel where nothing took them meanwhile.
    pub(super) fn readopt_ports(&self, st: &mut State, sb: &Sandbox) {
        let mut held = Vec::new();
        for p in &sb.ports {
            st.ports
                .take(p.container.proto, p.host_ip, p.host_port, &sb.id);
            if sb.config.caller_holds_ports {
                continue;
            }
            match port_reservation::reserve(socket_proto(p.container.proto), p.host_ip, p.host_port)
            {
                Ok(r) => held.push(r),
                Err(e) => {
                    tracing::warn!(sandbox = %sb.name, error = %e, "published port not held again")
                }
            }
        }
        self.hold(&sb.id, held);
    }
}

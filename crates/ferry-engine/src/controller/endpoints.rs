//! Endpoints: allocating addresses, plugging a sandbox into a network and out again, default
//! routes, and the sandbox files that list its addresses.

use super::{new_id, random_bytes, Controller};
use crate::drivers::kernel_err;
use crate::sandbox::etc_files;
use crate::state::State;
use ferry_ipam::IpamError;
use ferry_kernel::netlink::Netlink;
use ferry_types::{Attachment, Endpoint, EndpointId, FerryError, MacAddr, Network, Sandbox};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::Path;

/// IPAM errors as API errors: a taken or exhausted resource is a conflict, the rest bad input.
pub(crate) fn ipam_err(e: IpamError) -> FerryError {
    match e {
        IpamError::InUse { .. }
        | IpamError::SubnetExhausted { .. }
        | IpamError::PoolsExhausted { .. } => FerryError::conflict(e.to_string()),
        _ => FerryError::invalid(e.to_string()),
    }
}

/// The MAC of an endpoint without a static one: derived from its IPv4 address as Docker does
/// (`02:42:` + the address), so an address that comes back keeps its MAC and peers' ARP caches
/// stay right; random (locally administered) without IPv4.
fn mac_for(ipv4: Option<IpNet>) -> MacAddr {
    match ipv4.map(|n| n.addr()) {
        Some(IpAddr::V4(a)) => {
            let [a, b, c, d] = a.octets();
            MacAddr::new([0x02, 0x42, a, b, c, d])
        }
        _ => random_mac(),
    }
}

/// A random locally administered unicast MAC.
fn random_mac() -> MacAddr {
    let mut b: [u8; 6] = random_bytes();
    b[0] = (b[0] & 0xfe) | 0x02;
    MacAddr::new(b)
}

impl Controller {
    /// Checks that static addresses asked for on a network can be had.
    pub(crate) fn check_static(
        st: &mut State,
        net: &Network,
        ipv4: Option<IpAddr>,
        ipv6: Option<IpAddr>,
    ) -> Result<(), FerryError> {
        if (ipv4.is_some() || ipv6.is_some()) && !net.user_subnets {
            return Err(FerryError::invalid(format!(
                "a static IP address can be given only on networks with a user-configured subnet; network {} has none (create it with --subnet)",
                net.name
            )));
        }
        let allocs = st
            .ipam_mut(&net.id)
            .ok_or_else(|| FerryError::internal(format!("no IPAM for network {}", net.name)))?;
        for ip in ipv4.into_iter().chain(ipv6) {
            let a = allocs
                .iter()
                .find(|a| a.subnet().contains(&ip))
                .ok_or_else(|| {
                    FerryError::invalid(format!(
                        "address {ip} is not in any subnet of network {}",
                        net.name
                    ))
                })?;
            a.check_specific(ip).map_err(ipam_err)?;
        }
        if ipv6.is_some() && !net.enable_ipv6 {
            return Err(FerryError::invalid(format!(
                "network {} has no IPv6: an --ip6 cannot be given",
                net.name
            )));
        }
        Ok(())
    }

    /// Allocates addresses for an endpoint (static ones when asked); on error nothing stays
    /// allocated.
    pub(crate) fn allocate_endpoint(
        &self,
        st: &mut State,
        net: &Network,
        att: &Attachment,
        ifname: String,
    ) -> Result<Endpoint, FerryError> {
        let allocs = st
            .ipam_mut(&net.id)
            .ok_or_else(|| FerryError::internal(format!("no IPAM for network {}", net.name)))?;
        let mut taken: Vec<IpAddr> = Vec::new();
        let mut pick = |v6: bool, wanted: Option<IpAddr>| -> Result<Option<IpNet>, FerryError> {
            if v6 && !net.enable_ipv6 {
                return Ok(None);
            }
            let family: Vec<usize> = allocs
                .iter()
                .enumerate()
                .filter(|(_, a)| matches!(a.subnet(), IpNet::V6(_)) == v6)
                .map(|(i, _)| i)
                .collect();
            if family.is_empty() {
                return Ok(None);
            }
            if let Some(ip) = wanted {
                let i = *family
                    .iter()
                    .find(|i| allocs[**i].subnet().contains(&ip))
                    .ok_or_else(|| {
                        FerryError::invalid(format!(
                            "address {ip} is not in any subnet of network {}",
                            net.name
                        ))
                    })?;
                allocs[i].allocate_specific(ip).map_err(ipam_err)?;
                taken.push(ip);
                return Ok(IpNet::new(ip, allocs[i].subnet().prefix_len()).ok());
            }
            let mut last = None;
            for i in family {
                match allocs[i].allocate() {
                    Ok(ip) => {
                        taken.push(ip);
                        return Ok(IpNet::new(ip, allocs[i].subnet().prefix_len()).ok());
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last
                .map(ipam_err)
                .unwrap_or_else(|| FerryError::internal("no subnet")))
        };
        let v4 = pick(false, att.ipv4);
        let v6 = v4.as_ref().ok().map(|_| pick(true, att.ipv6));
        let (ipv4, ipv6) = match (v4, v6) {
            (Ok(a), Some(Ok(b))) => (a, b),
            (Err(e), _) | (_, Some(Err(e))) => {
                for ip in taken {
                    Self::release_ip(allocs, ip);
                }
                return Err(e);
            }
            (Ok(_), None) => unreachable!("v6 is picked whenever v4 succeeded"),
        };
        let id: EndpointId = new_id();
        let routes_out;
        let driver_state = match self.driver(net) {
            Ok(d) => {
                routes_out = d.capability().routes_out;
                d.endpoint_state(net, &id)
            }
            Err(e) => {
                for ip in taken {
                    Self::release_ip(allocs, ip);
                }
                return Err(e);
            }
        };
        Ok(Endpoint {
            driver_state,
            id,
            network_id: net.id.clone(),
            ifname,
            mac: att.mac.unwrap_or_else(|| mac_for(ipv4)),
            ipv4,
            ipv6,
            gateway4: net.gateway_v4().filter(|_| routes_out),
            gateway6: if net.enable_ipv6 && routes_out {
                net.gateway_v6()
            } else {
                None
            },
            aliases: att.aliases.clone(),
        })
    }

    fn release_ip(allocs: &mut [ferry_ipam::SubnetAllocator], ip: IpAddr) {
        if let Some(a) = allocs.iter_mut().find(|a| a.subnet().contains(&ip)) {
            a.release(ip);
        }
    }

    /// Gives an endpoint's addresses back.
    pub(crate) fn release_endpoint(st: &mut State, ep: &Endpoint) {
        if let Some(allocs) = st.ipam_mut(&ep.network_id) {
            for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                Self::release_ip(allocs, a.addr());
            }
        }
    }

    /// Points the sandbox's default routes at the first endpoint (in connection order) on a
    /// non-internal network with a gateway of that family, or removes them when none is left.
    pub(crate) async fn apply_default_routes(
        st: &State,
        sb: &Sandbox,
        ns: &Netlink,
    ) -> Result<(), FerryError> {
        for v6 in [false, true] {
            let gw = sb.endpoints.iter().find_map(|ep| {
                let net = st.network(&ep.network_id)?;
                if net.internal {
                    return None;
                }
                if v6 {
                    ep.gateway6
                } else {
                    ep.gateway4
                }
            });
            match gw {
                Some(g) => ns.replace_default_route(g).await.map_err(kernel_err)?,
                None => ns.delete_default_route(v6).await.map_err(kernel_err)?,
            }
        }
        Ok(())
    }

    /// (Re)writes a sandbox's hosts file in place (a bind mount follows the inode, so the file
    /// is truncated and rewritten, never replaced).
    pub(crate) fn write_hosts(&self, st: &State, sb: &Sandbox) -> Result<(), FerryError> {
        let dir = self.cfg.sandbox_dir(&sb.id);
        let gw = self.host_gateway(st, sb);
        let text = match sb.config.network_mode {
            ferry_types::NetworkMode::Host => etc_files::render_host_mode_hosts(
                &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                &sb.config.extra_hosts,
                gw,
            ),
            _ => {
                let own: Vec<IpAddr> = sb
                    .endpoints
                    .iter()
                    .flat_map(|e| e.ipv4.iter().chain(e.ipv6.iter()).map(|a| a.addr()))
                    .collect();
                etc_files::render_hosts(
                    &own,
                    &sb.config.hostname,
                    &sb.name,
                    &Self::linked_hosts(st, sb),
                    &sb.config.extra_hosts,
                    gw,
                )
            }
        };
        write_in_place(&dir.join("hosts"), &text)
    }

    /// The address `host-gateway` stands for: the gateway of the sandbox's first network, or
    /// the default bridge's gateway.
    fn host_gateway(&self, st: &State, sb: &Sandbox) -> Option<IpAddr> {
        sb.endpoints.first().and_then(|e| e.gateway4).or_else(|| {
            st.find_network(ferry_types::DEFAULT_BRIDGE)
                .ok()
                .and_then(|n| n.gateway_v4())
        })
    }
}

/// Truncates and rewrites a file, keeping its inode.
pub(crate) fn write_in_place(path: &Path, text: &str) -> Result<(), FerryError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| FerryError::internal(format!("write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| FerryError::internal(format!("write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_ipv4_addresses() {
        let a: IpNet = "172.18.0.2/16".parse().unwrap();
        assert_eq!(mac_for(Some(a)).to_string(), "02:42:ac:12:00:02");
        let r = mac_for(None);
        assert_eq!(
            r.octets()[0] & 0x03,
            0x02,
            "locally administered unicast: {r}"
        );
    }
}

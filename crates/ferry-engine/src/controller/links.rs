//! Legacy `--link NAME[:ALIAS]`: the linked sandbox's name, alias and host name written into
//! the linking sandbox's /etc/hosts when it starts, as Docker does on the default bridge
//! (where there is no embedded DNS). The entry is not updated later, as in Docker.

use super::Controller;
use crate::state::State;
use ferry_types::{validate, FerryError, Link, NetworkMode, Sandbox};
use std::net::IpAddr;

impl Controller {
    /// Checks `--link` entries at creation: each target must exist and have a network stack
    /// of its own to be reached at.
    pub(super) fn links(
        st: &State,
        specs: &[String],
        mode: &NetworkMode,
    ) -> Result<Vec<Link>, FerryError> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        if *mode != NetworkMode::Networks {
            return Err(FerryError::invalid(
                "--link needs a network: it cannot be used with --network host, none or container:",
            ));
        }
        let mut out: Vec<Link> = Vec::new();
        for spec in specs {
            let (name, alias) = validate::link(spec)?;
            let target = st.find_sandbox(&name).map_err(|_| {
                FerryError::invalid(format!(
                    "--link {spec}: no such sandbox {name:?}; create it first"
                ))
            })?;
            if out.iter().any(|l| l.alias == alias) {
                return Err(FerryError::invalid(format!(
                    "--link alias {alias:?} is given twice"
                )));
            }
            out.push(Link {
                target: target.id.clone(),
                name: target.name.clone(),
                alias,
            });
        }
        Ok(out)
    }

    /// The hosts-file lines for a sandbox's links: each running target's address on a network
    /// both share (the first such), under its alias, name and host name.
    pub(super) fn linked_hosts(st: &State, sb: &Sandbox) -> Vec<(IpAddr, Vec<String>)> {
        let mut out = Vec::new();
        for link in &sb.config.links {
            let Some(target) = st.sandbox(&link.target).filter(|t| t.is_running()) else {
                continue;
            };
            let shared = sb.endpoints.iter().find_map(|mine| {
                target
                    .endpoint_on(&mine.network_id)
                    .and_then(|e| e.ipv4.or(e.ipv6))
            });
            let Some(addr) = shared else {
                continue;
            };
            let mut names = vec![link.alias.clone()];
            for n in [&target.name, &target.config.hostname] {
                if !n.is_empty() && !names.contains(n) {
                    names.push(n.clone());
                }
            }
            out.push((addr.addr(), names));
        }
        out
    }
}

//! The engine's side of the firewall: applies the nft text that `ferry_firewall` renders, one
//! transaction per operation, or does nothing at all when the host's firewall is managed
//! elsewhere (`"firewall": "none"`).

use crate::config::FirewallMode;
use crate::drivers::kernel_err;
use crate::state::State;
use ferry_firewall::{BridgeNet, BridgePort, Changes};
use ferry_types::FerryError;

/// ferry's firewall, as the controller uses it.
#[derive(Debug, Clone, Copy)]
pub struct Firewall {
    mode: FirewallMode,
}

impl Firewall {
    /// A firewall in the given mode.
    pub fn new(mode: FirewallMode) -> Self {
        Self { mode }
    }

    /// True when ferry manages rules.
    pub fn enabled(&self) -> bool {
        self.mode == FirewallMode::Nftables
    }

    /// Applies one operation's element changes as one transaction.
    pub fn apply(&self, changes: &Changes) -> Result<(), FerryError> {
        if !self.enabled() || changes.is_empty() {
            return Ok(());
        }
        if let Some(elements) = changes.binary() {
            use ferry_kernel::nft_elements::{self, ElementChange};
            let list: Vec<ElementChange<'_>> = elements
                .iter()
                .map(|e| ElementChange {
                    add: e.add,
                    family: if e.bridge {
                        nft_elements::FAMILY_BRIDGE
                    } else {
                        nft_elements::FAMILY_INET
                    },
                    table: ferry_firewall::TABLE,
                    set: &e.set,
                    key: &e.key,
                })
                .collect();
            match nft_elements::apply(&list) {
                Ok(()) => return Ok(()),
                // Nothing was applied: the script says the same, and on a real refusal
                // libnftables' error names the line.
                Err(e) => {
                    tracing::debug!(error = %e, "set elements refused; trying them as nft text")
                }
            }
        }
        ferry_kernel::nft::apply(changes.render())
            .map_err(kernel_err)
            .map_err(|e| e.context("nftables"))
    }

    /// Replaces ferry's tables with the ruleset and every element the state owns: what a
    /// start does, so a table deleted by hand, or elements left by a crash, are set right.
    pub fn rebuild(
        &self,
        st: &State,
        networks: &[BridgeNet],
        endpoints: &[(BridgeNet, BridgePort)],
        vips: Vec<std::net::Ipv4Addr>,
        lb: &[ferry_firewall::LbEntry],
    ) -> Result<(), FerryError> {
        if !self.enabled() {
            tracing::info!("firewall is none: ferry leaves every nftables rule alone");
            return Ok(());
        }
        let ports = st
            .sandboxes()
            .filter(|s| s.is_running())
            .flat_map(|s| s.ports.iter());
        let text = ferry_firewall::full(
            networks,
            endpoints.iter().map(|(n, e)| (n, e)),
            ports,
            vips,
            lb,
        );
        ferry_kernel::nft::apply(&text)
            .map_err(kernel_err)
            .map_err(|e| e.context("rebuild ferry's nftables tables"))
    }
}

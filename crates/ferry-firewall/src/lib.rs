//! ferry's firewall, as nftables text: a ruleset of fixed shape in two tables of ferry's own
//! (`inet ferry` for routing, NAT and isolation between networks; `bridge ferry` for
//! anti-spoofing and isolation inside a network), and the element changes that networks,
//! endpoints and published ports make to its sets and maps.
//!
//! Rules never change after start: every operation is a handful of `add element` or
//! `delete element` lines, applied as one transaction, so its cost does not grow with the
//! number of sandboxes, ports or networks. Nothing here does I/O; `ferry_kernel::nft` applies
//! the text.

mod changes;
mod ruleset;

pub use changes::{full, Changes};
pub use ruleset::{ruleset, TABLE};

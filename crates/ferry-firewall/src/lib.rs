//! ferry's firewall, as nftables text: a ruleset of fixed shape in two tables of ferry's own
//! (`inet ferry` for routing, NAT and isolation between networks; `bridge ferry` for
//! anti-spoofing and isolation inside a network), and the element changes that networks,
//! endpoints, published ports and services make to its sets and maps.
//!
//! Rules never change after start: every operation is a handful of `add element` or
//! `delete element` lines, applied as one transaction, so its cost does not grow with the
//! number of sandboxes, ports, networks or services. A service's load balancing is data too: a
//! connection to a VIP port (or a routing-mesh port) picks one of [`LB_SLOTS`] slots by a hash
//! of its client address and port, and the slot's map element names the backend; conntrack keeps the connection on it.
//! Service VIPs and the mesh are IPv4 only, as Docker's. Nothing here does I/O;
//! `ferry_kernel::nft` applies the text.

mod binary;
mod changes;
pub mod mesh;
mod objects;
mod ruleset;

pub use binary::BinaryElement;
pub use changes::{full, Changes, LbEntry};
pub use objects::{BridgeNet, BridgePort};
pub use ruleset::{ruleset, LB_SLOTS, TABLE};

//! The cluster-wide state of ferry's swarm mode, kept in a shared store (etcd) that every host
//! reads and writes. No host decides alone what must be unique in the cluster: a VXLAN ID, an
//! overlay subnet, an address on an overlay network. Each is a claim, a record whose key is the
//! value itself, written only if no record has that key (a conditional transaction), so that
//! of two hosts asking at once exactly one wins and the other takes the next free value.
//!
//! It also decides, without I/O, where a swarm service's replicas run ([`placement`]).

pub mod claims;
pub mod peers;
pub mod placement;
pub mod tasks;

pub use claims::{ClaimError, Claims};
pub use peers::PeerRecord;
pub use placement::{
    place, Assignment, NodeAvailability, NodeState, Pending, Plan, ServiceDemand, StopReason,
};
pub use tasks::{LeaderRecord, TaskDesired, TaskRecord, TaskStatus};

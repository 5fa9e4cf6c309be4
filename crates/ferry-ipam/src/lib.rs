//! Address management for ferry networks.
//!
//! Two jobs, both pure logic:
//! - picking a subnet for a new network from the default address pools
//!   ([`next_free_subnet`]), skipping anything that overlaps existing networks
//!   or host routes;
//! - handing out host addresses inside one network's subnet
//!   ([`SubnetAllocator`]), next-fit so that freed addresses are not reused at once.

mod addr;
mod error;
mod intervals;
mod overlap;
mod pool;
mod subnet;

pub use error::IpamError;
pub use overlap::{overlaps, special_range};
pub use pool::{default_pools, next_free_subnet, PoolSpec};
pub use subnet::SubnetAllocator;

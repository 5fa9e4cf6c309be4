//! Network drivers: what a network and an endpoint mean in the kernel. `host` and `null`
//! networks have no kernel objects of their own (their sandboxes use the host's namespace or a
//! bare one), so only the bridge driver acts.

pub mod bridge;

use ferry_kernel::KernelError;
use ferry_types::FerryError;

/// Alias ferry puts on the bridges it makes, followed by the network ID.
pub const NETWORK_ALIAS_PREFIX: &str = "ferry:net:";
/// Name prefix of the host end of ferry's veths.
pub const VETH_PREFIX: &str = "vf";

/// A kernel failure as an API error (500), keeping its context.
pub fn kernel_err(e: KernelError) -> FerryError {
    FerryError::internal(e.to_string())
}

//! ferry's kernel layer: the only crate that touches the kernel. Network namespaces, netlink
//! (links, addresses, routes), sysctls, and sandbox processes (spawned into namespaces,
//! watched through pidfds).
//!
//! Namespaces are per thread, so nothing here ever moves a tokio worker into another namespace:
//! work inside a namespace runs on a short-lived helper thread that joined it.

pub mod error;
pub mod netlink;
pub mod netns;
pub mod process;
pub mod sysctl;

pub use error::{KernelError, Result};

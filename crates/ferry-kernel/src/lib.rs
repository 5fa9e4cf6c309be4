//! ferry's kernel layer: the only crate that touches the kernel. Network namespaces, netlink
//! (links, addresses, routes), sysctls, sandbox processes (spawned into namespaces, watched
//! through pidfds), nftables rulesets, host port reservations, conntrack flushes, the
//! connect-time load balancer of service VIPs (a BPF program on a cgroup), and what confines
//! a sandbox's process: capabilities (`caps`), seccomp filters (`seccomp`) and the device
//! filter of its cgroup (`devices`).
//!
//! Namespaces are per thread, so nothing here ever moves a tokio worker into another namespace:
//! work inside a namespace runs on a short-lived helper thread that joined it.

pub mod bpf;
pub mod caps;
pub mod conntrack;
pub mod devices;
pub mod error;
pub mod fds;
pub mod fswatch;
mod libnftables;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nft_elements;
pub mod port_reservation;
pub mod process;
pub mod pty;
pub mod seccomp;
pub mod sock_lb;
pub mod sysctl;
#[cfg(test)]
mod testns;

pub use error::{KernelError, Result};

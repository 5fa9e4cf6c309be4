//! Counts and settings of the running engine.

use ipnet::IpNet;

/// How many objects the engine holds and where it keeps them; the rest of what `info` shows
/// is in [`crate::DaemonConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// Sandboxes in total.
    pub sandboxes: usize,
    /// Sandboxes whose process runs.
    pub running: usize,
    /// Networks.
    pub networks: usize,
    /// The store backend, described.
    pub store: String,
    /// The default bridge's gateway address with its subnet's prefix length (`bip`).
    pub default_bridge: Option<IpNet>,
}

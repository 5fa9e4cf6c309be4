//! The hand-over of an endpoint's sandbox end to dockerd. At Join the container's namespace
//! does not exist yet (runc makes it later, and dockerd moves the interface in then), so ferry
//! attaches the endpoint to a holder namespace of the endpoint's own, a mounted file in the
//! plugin's state directory, and this takes the interface out of it into dockerd's namespace,
//! where libnetwork expects it; dockerd moves it into the container, renames it and sets its
//! addresses and routes. The holder lives as long as the endpoint: ferry's record of the
//! attached container lives as long as the namespace it was attached from.

use crate::error::PluginError;
use ferry_kernel::netlink::Netlink;
use ferry_kernel::netns;
use std::path::{Path, PathBuf};

/// This process's own namespace: the one dockerd runs in.
const OWN_NETNS: &str = "/proc/self/ns/net";

/// Moves `ifname` from the namespace at `netns` into this process's namespace.
pub async fn hand_over(netns: &Path, ifname: &str) -> Result<(), PluginError> {
    let nl = Netlink::connect_in(netns)?;
    nl.move_to_netns(ifname, Path::new(OWN_NETNS)).await?;
    Ok(())
}

/// The holder namespaces of endpoints, one file each under a directory.
#[derive(Debug, Clone)]
pub struct Holders {
    dir: PathBuf,
}

impl Holders {
    /// Holders under `dir` (made when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The holder's path for the container `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Makes a fresh holder for `id` (one left by a failed join is replaced).
    pub fn create(&self, id: &str) -> Result<PathBuf, PluginError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            PluginError::invalid(format!("cannot make {}: {e}", self.dir.display()))
        })?;
        let p = self.path(id);
        netns::remove(&p)?;
        netns::create_mounted(&p)?;
        Ok(p)
    }

    /// Removes the holder of `id`; a missing one is fine.
    pub fn remove(&self, id: &str) -> Result<(), PluginError> {
        netns::remove(&self.path(id))?;
        Ok(())
    }
}

/// The interface's name while dockerd holds it: unique per endpoint, at most 15 bytes.
pub fn temporary_name(endpoint_id: &str) -> String {
    let short: String = endpoint_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(11)
        .collect();
    format!("fy{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_fit_an_interface_name() {
        let n = temporary_name("0123456789abcdef0123456789abcdef");
        assert_eq!(n, "fy0123456789a");
        assert!(n.len() <= 15);
        assert_eq!(temporary_name("ab"), "fyab");
    }
}

//! The hand-over of an endpoint's sandbox end to dockerd: ferry makes the endpoint in the
//! container's namespace (so its records, firewall and DNS are those of any attached
//! container), and this takes the interface back out into dockerd's namespace, where
//! libnetwork's Join expects it; dockerd then moves it into the container, renames it and
//! sets its addresses and routes.

use crate::error::PluginError;
use ferry_kernel::netlink::Netlink;
use std::path::Path;

/// This process's own namespace: the one dockerd runs in.
const OWN_NETNS: &str = "/proc/self/ns/net";

/// Moves `ifname` from the namespace at `netns` into this process's namespace.
pub async fn hand_over(netns: &Path, ifname: &str) -> Result<(), PluginError> {
    let nl = Netlink::connect_in(netns)?;
    nl.move_to_netns(ifname, Path::new(OWN_NETNS)).await?;
    Ok(())
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

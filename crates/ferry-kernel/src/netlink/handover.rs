//! Handing a link to another network namespace: a Docker network plugin gives dockerd the
//! sandbox end of an endpoint in dockerd's own namespace, and dockerd moves it into the
//! container itself.

use super::{Netlink, Result};
use rtnetlink::LinkUnspec;
use std::os::fd::AsRawFd;
use std::path::Path;

impl Netlink {
    /// Moves the link named `name` from this connection's namespace into the namespace at
    /// `target` (`/proc/self/ns/net` for the caller's own). Its addresses and routes stay
    /// behind: the kernel drops them with the move.
    pub async fn move_to_netns(&self, name: &str, target: &Path) -> Result<()> {
        let index = self
            .index_of(name, || format!("move {name} to {}", target.display()))
            .await?;
        let file = std::fs::File::open(target).map_err(|e| {
            crate::error::KernelError::io(format!("open network namespace {}", target.display()), e)
        })?;
        let msg = LinkUnspec::new_with_index(index)
            .setns_by_fd(file.as_raw_fd())
            .build();
        self.set_link(msg, || format!("move {name} to {}", target.display()))
            .await
    }
}

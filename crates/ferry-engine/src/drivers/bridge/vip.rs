//! Service VIPs on a bridge: a /32 on the bridge device, so that the host answers ARP for it
//! there and connections to it reach the host's load balancer (no route is added).

use super::{BridgeConfig, BridgeDriver};
use crate::driver::VipHost;
use crate::drivers::kernel_err;
use ferry_types::{FerryError, Network};
use ipnet::IpNet;
use std::net::IpAddr;

fn host_route(vip: IpAddr) -> Result<IpNet, FerryError> {
    IpNet::new(vip, if vip.is_ipv4() { 32 } else { 128 })
        .map_err(|e| FerryError::internal(e.to_string()))
}

#[async_trait::async_trait]
impl VipHost for BridgeDriver {
    async fn add_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError> {
        let br = BridgeConfig::of(net)?;
        let index = self.bridge_index(net, &br).await?;
        self.nl
            .add_address(index, host_route(vip)?)
            .await
            .map_err(kernel_err)
    }

    async fn remove_vip(&self, net: &Network, vip: IpAddr) -> Result<(), FerryError> {
        let br = BridgeConfig::of(net)?;
        match self.nl.link(&br.name).await.map_err(kernel_err)? {
            Some(link) => self
                .nl
                .delete_address(link.index, host_route(vip)?)
                .await
                .map_err(kernel_err),
            // The bridge is gone, and its addresses with it.
            None => Ok(()),
        }
    }
}

//! The way out of overlay sandboxes: the host routes nothing out of an overlay (its own link
//! there, when it has one, serves the routing mesh or the VIPs' nftables path only), so a sandbox whose networks are all overlays also gets an endpoint on
//! `ferry_gwbridge`, a bridge network of this node with masquerading and no traffic between
//! its members, as Docker's `docker_gwbridge`. Its default route and published ports go there.

use super::{new_id, Controller};
use crate::state::State;
use ferry_driver_options::bridge as opts;
use ferry_types::api::NetworkCreateRequest;
use ferry_types::{Attachment, FerryError, Network};
use std::collections::BTreeMap;

/// The gateway bridge network's name, and its bridge's.
pub const GATEWAY_BRIDGE: &str = "ferry_gwbridge";

/// True for the gateway bridge network.
pub(crate) fn is_gateway_bridge(net: &Network) -> bool {
    net.name == GATEWAY_BRIDGE && net.driver == "bridge"
}

impl Controller {
    /// True when the network's endpoints take their default route through its gateway.
    fn routes_out(&self, net: &Network) -> bool {
        !net.internal && self.driver(net).is_ok_and(|d| d.capability().routes_out)
    }

    /// Adds an attachment to the gateway bridge (made if missing) when a sandbox's networks
    /// include a non-internal overlay and none of them is a way out.
    pub(crate) async fn add_gateway_bridge(
        &self,
        st: &mut State,
        attachments: &mut Vec<Attachment>,
    ) -> Result<(), FerryError> {
        let nets: Vec<Network> = attachments
            .iter()
            .filter_map(|a| st.network(&a.network_id).cloned())
            .collect();
        let wants = nets.iter().any(|n| self.is_global(n) && !n.internal)
            && !nets.iter().any(|n| self.routes_out(n));
        if !wants {
            return Ok(());
        }
        let gw = match st.find_network(GATEWAY_BRIDGE) {
            Ok(n) => n.clone(),
            Err(_) => {
                let mut options = BTreeMap::new();
                options.insert(opts::BRIDGE_NAME.to_string(), GATEWAY_BRIDGE.to_string());
                options.insert(opts::ENABLE_ICC.to_string(), "false".to_string());
                options.insert(opts::ENABLE_IP_MASQUERADE.to_string(), "true".to_string());
                let req = NetworkCreateRequest {
                    name: GATEWAY_BRIDGE.into(),
                    driver: "bridge".into(),
                    options,
                    ..Default::default()
                };
                let net = self.build_network(st, &req, false, new_id()).await?;
                self.add_network(st, net.clone()).await?;
                net
            }
        };
        attachments.push(Attachment {
            network_id: gw.id.clone(),
            aliases: Vec::new(),
            ipv4: None,
            ipv6: None,
            mac: None,
            ifname: None,
        });
        Ok(())
    }
}

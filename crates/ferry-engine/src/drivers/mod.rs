//! ferry's built-in network drivers, behind the interface of [`crate::driver`]: `bridge`,
//! `macvlan` and `ipvlan`, and `host` and `null`, whose one network each has no endpoints. This module is the one
//! place that names them: the registry the daemon starts with, and the networks every
//! daemon has.

pub mod bridge;
pub mod no_endpoint;
pub mod overlay;
pub mod reaper;
pub mod vlan;

use crate::config::DaemonConfig;
use crate::driver::Drivers;
use ferry_driver_options::bridge as bridge_options;
use ferry_kernel::netlink::Netlink;
use ferry_kernel::KernelError;
use ferry_types::api::NetworkCreateRequest;
use ferry_types::FerryError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The driver of a network created without `-d`.
pub const DEFAULT_DRIVER: &str = "bridge";

/// What the built-in drivers work with.
pub struct DriverContext {
    /// The node's swarm membership, while it has one.
    pub cluster: Arc<crate::cluster::ClusterSlot>,
    /// Deletes retired links in the background.
    pub reaper: Arc<reaper::Reaper>,
    /// Netlink in the host's namespace.
    pub nl: Netlink,
    /// The daemon turns IP forwarding on.
    pub ip_forward: bool,
    /// The daemon manages the firewall.
    pub firewall: bool,
    /// The default MTU of new networks.
    pub mtu: u32,
}

/// The registry of the built-in drivers.
pub fn builtin(ctx: &DriverContext) -> Drivers {
    let mut d = Drivers::new();
    d.register(Arc::new(bridge::BridgeDriver::new(ctx)))
        .register(Arc::new(vlan::VlanDriver::macvlan(ctx)))
        .register(Arc::new(vlan::VlanDriver::ipvlan(ctx)))
        .register(Arc::new(overlay::OverlayDriver::new(ctx)))
        .register(Arc::new(no_endpoint::NoEndpointDriver::host()))
        .register(Arc::new(no_endpoint::NoEndpointDriver::null()));
    d
}

/// The networks every daemon has, made on first start: the default `bridge` (from the
/// daemon's `bip`, `icc`, `ip-masq` and `mtu`), `host` and `none`.
pub fn default_networks(cfg: &DaemonConfig) -> Vec<NetworkCreateRequest> {
    let mut opts = BTreeMap::new();
    opts.insert(
        bridge_options::DEFAULT_BRIDGE.to_string(),
        "true".to_string(),
    );
    opts.insert(
        bridge_options::BRIDGE_NAME.to_string(),
        "ferry0".to_string(),
    );
    opts.insert(bridge_options::ENABLE_ICC.to_string(), cfg.icc.to_string());
    opts.insert(
        bridge_options::ENABLE_IP_MASQUERADE.to_string(),
        cfg.ip_masq.to_string(),
    );
    opts.insert(bridge_options::DRIVER_MTU.to_string(), cfg.mtu.to_string());
    let ipam = cfg.bip.map(|bip| ferry_types::api::Ipam {
        config: vec![ferry_types::api::IpamConfig {
            subnet: bip.trunc().to_string(),
            gateway: bip.addr().to_string(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut out = vec![NetworkCreateRequest {
        name: ferry_types::DEFAULT_BRIDGE.into(),
        driver: "bridge".into(),
        ipam,
        options: opts,
        ..Default::default()
    }];
    for (name, driver) in [
        (ferry_types::HOST_NETWORK, "host"),
        (ferry_types::NONE_NETWORK, "null"),
    ] {
        out.push(NetworkCreateRequest {
            name: name.into(),
            driver: driver.into(),
            ..Default::default()
        });
    }
    out
}

/// A kernel failure as an API error (500): its text for the user, the error itself (with its
/// errno) as the cause, for the log.
pub fn kernel_err(e: KernelError) -> FerryError {
    FerryError::internal(e.to_string()).with_source(e)
}

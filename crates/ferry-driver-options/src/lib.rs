//! The `-o key=value` options of ferry's built-in network drivers, with Docker's option names,
//! parsed into typed settings. Pure, so that the daemon's drivers and compose's checks of a
//! project file share one parser and say the same thing about a bad option.

pub mod bridge;
pub mod overlay;
pub mod vlan;

use ferry_types::FerryError;
use std::collections::BTreeMap;

/// Results of this crate.
pub type Result<T> = std::result::Result<T, FerryError>;

/// `com.docker.network.driver.mtu`: MTU of the network's interfaces.
pub const DRIVER_MTU: &str = "com.docker.network.driver.mtu";

/// Drivers a user can create networks with (`host` and `null` exist once, as built-in networks).
pub const CREATABLE: &[&str] = &["bridge", "macvlan", "ipvlan", "overlay"];

/// Checks the options of a network of `driver`: what `network create` would refuse, said
/// before anything is made. An unknown driver is refused too.
pub fn check(driver: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    match driver {
        "bridge" => bridge::parse_bridge_options(opts).map(drop),
        "macvlan" => vlan::parse_macvlan_options(opts).map(drop),
        "ipvlan" => vlan::parse_ipvlan_options(opts).map(drop),
        "overlay" => overlay::parse_overlay_options(opts).map(drop),
        other => Err(FerryError::invalid(format!(
            "unknown network driver {other:?}: ferry has {}",
            CREATABLE.join(", ")
        ))),
    }
}

/// Parses an MTU: 68 (the IPv4 minimum) to 65535.
pub fn parse_mtu(v: &str) -> Result<u32> {
    match v.trim().parse::<u32>() {
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(FerryError::invalid(format!(
            "invalid MTU {v:?}: give a number from 68 to 65535"
        ))),
    }
}

/// An option the driver does not know, refused with the ones it does.
fn unknown(driver: &str, key: &str, known: &[&str]) -> FerryError {
    FerryError::invalid(format!(
        "unknown {driver} driver option {key:?}; ferry knows: {}",
        known.join(", ")
    ))
}

/// Parses a boolean option as Docker does (true/false, 1/0, yes/no).
pub fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(FerryError::invalid(format!(
            "invalid value {v:?} for option {key}: use true or false"
        ))),
    }
}

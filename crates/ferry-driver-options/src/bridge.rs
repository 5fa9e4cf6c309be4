//! Options (`-o key=value`) of bridge networks, with Docker's option names.

use crate::{parse_bool, parse_mtu, Result};
use ferry_types::{validate, FerryError};
use std::collections::BTreeMap;

/// `com.docker.network.bridge.name`: the Linux bridge's name.
pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// `com.docker.network.bridge.enable_icc`: traffic between endpoints of the network.
pub const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
/// `com.docker.network.bridge.enable_ip_masquerade`: masquerade outgoing traffic.
pub const ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub use crate::DRIVER_MTU;
/// `com.docker.network.bridge.default_bridge`: marks the default bridge.
pub const DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
/// `com.docker.network.bridge.host_binding_ipv4`: default host address of published ports.
pub const HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";

const KNOWN: &[&str] = &[
    BRIDGE_NAME,
    ENABLE_ICC,
    ENABLE_IP_MASQUERADE,
    DRIVER_MTU,
    DEFAULT_BRIDGE,
    HOST_BINDING_IPV4,
];

/// Bridge options parsed from `-o`; `None` means "use the default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeOptions {
    /// Bridge device name.
    pub name: Option<String>,
    /// ICC.
    pub icc: Option<bool>,
    /// Masquerade.
    pub masquerade: Option<bool>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Default host address of published ports.
    pub host_binding_ipv4: Option<std::net::IpAddr>,
}

/// Parses bridge driver options. Docker's own option namespace is checked strictly (a typo
/// there would otherwise be silently ignored); other keys are kept as given.
pub fn parse_bridge_options(opts: &BTreeMap<String, String>) -> Result<BridgeOptions> {
    let mut out = BridgeOptions::default();
    for (k, v) in opts {
        match k.as_str() {
            BRIDGE_NAME => {
                validate::interface_name(v)
                    .map_err(|e| e.context(format!("option {BRIDGE_NAME}")))?;
                out.name = Some(v.clone());
            }
            ENABLE_ICC => out.icc = Some(parse_bool(k, v)?),
            ENABLE_IP_MASQUERADE => out.masquerade = Some(parse_bool(k, v)?),
            DRIVER_MTU => {
                out.mtu = Some(parse_mtu(v).map_err(|e| e.context(format!("option {k}")))?)
            }
            HOST_BINDING_IPV4 => {
                let ip = v.parse::<std::net::IpAddr>().map_err(|_| {
                    FerryError::invalid(format!(
                        "invalid value {v:?} for option {k}: give an IP address"
                    ))
                })?;
                out.host_binding_ipv4 = Some(ip);
            }
            DEFAULT_BRIDGE => {
                parse_bool(k, v)?;
            }
            other if other.starts_with("com.docker.network.") && !KNOWN.contains(&other) => {
                return Err(FerryError::invalid(format!(
                    "unknown bridge driver option {other:?}; ferry knows: {}",
                    KNOWN.join(", ")
                )));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_known_options() {
        let o = parse_bridge_options(&opts(&[
            (BRIDGE_NAME, "br-test"),
            (ENABLE_ICC, "false"),
            (DRIVER_MTU, "1400"),
            ("my.own.key", "kept"),
        ]))
        .unwrap();
        assert_eq!(o.name.as_deref(), Some("br-test"));
        assert_eq!(o.icc, Some(false));
        assert_eq!(o.mtu, Some(1400));
        assert_eq!(o.masquerade, None);
    }

    #[test]
    fn rejects_bad_values_and_unknown_docker_keys() {
        let e = parse_bridge_options(&opts(&[(ENABLE_ICC, "maybe")])).unwrap_err();
        assert!(e.message.contains("use true or false"), "{e}");
        let e = parse_bridge_options(&opts(&[(DRIVER_MTU, "10")])).unwrap_err();
        assert!(e.message.contains("68 to 65535"), "{e}");
        let e = parse_bridge_options(&opts(&[("com.docker.network.bridge.enable_iic", "true")]))
            .unwrap_err();
        assert!(e.message.contains("unknown bridge driver option"), "{e}");
        let e =
            parse_bridge_options(&opts(&[(BRIDGE_NAME, "this-name-is-far-too-long")])).unwrap_err();
        assert!(e.message.contains("15"), "{e}");
    }
}

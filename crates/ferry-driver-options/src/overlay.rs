//! Options of overlay networks, with Docker's names: the MTU, the VXLAN ID
//! (`com.docker.network.driver.overlay.vxlanid_list`) and `encrypted`.

use crate::{parse_bool, parse_mtu, unknown, Result, DRIVER_MTU};
use ferry_types::FerryError;
use std::collections::BTreeMap;

/// `com.docker.network.driver.overlay.vxlanid_list`: the network's VXLAN ID. A user may ask
/// for one; otherwise the cluster picks a free one and records it here, as Docker shows it.
pub const VXLAN_ID: &str = "com.docker.network.driver.overlay.vxlanid_list";
/// `encrypted`: encrypt the data path.
pub const ENCRYPTED: &str = "encrypted";
/// `ferry.ingress`: the swarm's routing-mesh network (`network create --ingress`): every node
/// joins it, and services' published ports reach their replicas through it.
pub const INGRESS: &str = "ferry.ingress";

/// The first VXLAN ID the cluster hands out (Docker's overlay starts above 4096, clear of VLAN
/// IDs) and the last one VXLAN's 24 bits allow.
pub const VNI_RANGE: std::ops::RangeInclusive<u32> = 4097..=16_777_215;

/// An overlay network's options, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayOptions {
    /// The MTU of its interfaces (the underlay's less VXLAN's 50 bytes when unset).
    pub mtu: Option<u32>,
    /// The VXLAN ID asked for, or recorded.
    pub vni: Option<u32>,
    /// The routing mesh's network.
    pub ingress: bool,
}

/// Parses the options of an overlay network.
pub fn parse_overlay_options(opts: &BTreeMap<String, String>) -> Result<OverlayOptions> {
    const KNOWN: &[&str] = &[DRIVER_MTU, VXLAN_ID, ENCRYPTED, INGRESS];
    let mut out = OverlayOptions::default();
    for (k, v) in opts {
        match k.as_str() {
            DRIVER_MTU => {
                out.mtu = Some(parse_mtu(v).map_err(|e| e.context(format!("option {k}")))?)
            }
            VXLAN_ID => out.vni = Some(parse_vni(v)?),
            // Docker takes `--opt encrypted` with an empty value as true.
            ENCRYPTED if v.is_empty() || parse_bool(k, v)? => {
                return Err(FerryError::invalid(
                    "encrypted overlay networks need IPsec (ESP) or WireGuard in the kernel, and this host's kernel has neither: create the network without --opt encrypted (traffic between the nodes' daemons is always mutual TLS; the data path is not encrypted)",
                ))
            }
            ENCRYPTED => {}
            INGRESS => out.ingress = parse_bool(k, v)?,
            other => return Err(unknown("overlay", other, KNOWN)),
        }
    }
    Ok(out)
}

/// Parses a VXLAN ID: one number in [`VNI_RANGE`] (Docker's option may list several, one per
/// subnet; ferry's overlay has one segment per network).
pub fn parse_vni(v: &str) -> Result<u32> {
    match v.trim().parse::<u32>() {
        Ok(n) if VNI_RANGE.contains(&n) => Ok(n),
        _ => Err(FerryError::invalid(format!(
            "invalid VXLAN ID {v:?} in option {VXLAN_ID}: give one number from {} to {}",
            VNI_RANGE.start(),
            VNI_RANGE.end()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse() {
        let o = parse_overlay_options(&opts(&[(DRIVER_MTU, "1400"), (VXLAN_ID, "5000")])).unwrap();
        assert_eq!(o.mtu, Some(1400));
        assert_eq!(o.vni, Some(5000));
        assert_eq!(
            parse_overlay_options(&opts(&[])).unwrap(),
            OverlayOptions::default()
        );
        assert!(parse_overlay_options(&opts(&[(ENCRYPTED, "false")])).is_ok());
    }

    #[test]
    fn refusals_say_why() {
        let e = parse_overlay_options(&opts(&[(ENCRYPTED, "")])).unwrap_err();
        assert!(e.to_string().contains("IPsec"), "{e}");
        let e = parse_overlay_options(&opts(&[(VXLAN_ID, "4096")])).unwrap_err();
        assert!(e.to_string().contains("4097"), "{e}");
        assert!(parse_overlay_options(&opts(&[(VXLAN_ID, "16777216")])).is_err());
        let e = parse_overlay_options(&opts(&[("parent", "eth0")])).unwrap_err();
        assert!(e.to_string().contains("overlay"), "{e}");
    }
}

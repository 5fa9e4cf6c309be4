//! Options of macvlan and ipvlan networks, with Docker's names (`parent`, `macvlan_mode`,
//! `ipvlan_mode`, `ipvlan_flag`), plus ferry's `ferry.host_access`.

use crate::{parse_bool, parse_mtu, unknown, Result, DRIVER_MTU};
use ferry_types::{validate, FerryError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `parent`: the host interface the network's interfaces hang off.
pub const PARENT: &str = "parent";
/// `macvlan_mode`: how macvlan interfaces of one parent see each other.
pub const MACVLAN_MODE: &str = "macvlan_mode";
/// `ipvlan_mode`: the layer ipvlan works at.
pub const IPVLAN_MODE: &str = "ipvlan_mode";
/// `ipvlan_flag`: how ipvlan interfaces of one parent see each other.
pub const IPVLAN_FLAG: &str = "ipvlan_flag";
/// `ferry.host_access`: give the host an interface of its own on the network, so that it can
/// reach the network's sandboxes (the kernel passes no traffic between a parent and its
/// macvlan children).
pub const HOST_ACCESS: &str = "ferry.host_access";

/// The parent interface as given: `eth0`, or `eth0.50` for VLAN 50 on eth0 (an 802.1q
/// sub-interface the network makes when it is missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The interface's full name (`eth0.50`).
    pub name: String,
    /// For a dotted name: the underlying link and the VLAN ID.
    pub vlan: Option<(String, u16)>,
}

/// Parses `parent`: an interface name, optionally dotted with a VLAN ID of 1 to 4094.
pub fn parse_parent(v: &str) -> Result<Parent> {
    validate::interface_name(v).map_err(|e| e.context(format!("option {PARENT}")))?;
    let vlan = match v.rsplit_once('.') {
        Some((link, id)) if !link.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            match id.parse::<u16>() {
                Ok(n) if (1..=4094).contains(&n) => Some((link.to_string(), n)),
                _ => {
                    return Err(FerryError::invalid(format!(
                        "invalid VLAN ID {id:?} in parent {v:?}: give a number from 1 to 4094 (parent=LINK.ID)"
                    )))
                }
            }
        }
        _ => None,
    };
    Ok(Parent {
        name: v.to_string(),
        vlan,
    })
}

/// How macvlan interfaces on one parent reach each other (the kernel's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Directly, inside the kernel (Docker's default).
    #[default]
    Bridge,
    /// Not at all.
    Private,
    /// Only through the external switch (which must hairpin).
    Vepa,
    /// One interface takes the parent over.
    Passthru,
}

impl MacvlanMode {
    /// The name users give.
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

/// The layer ipvlan works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    /// Switching on the parent's L2 segment (Docker's default).
    #[default]
    L2,
    /// Routing: no broadcast, no ARP; the default route is the interface itself.
    L3,
    /// Routing through the host's netfilter hooks.
    L3s,
}

impl IpvlanMode {
    /// The name users give.
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanMode::L2 => "l2",
            IpvlanMode::L3 => "l3",
            IpvlanMode::L3s => "l3s",
        }
    }
}

/// How ipvlan interfaces on one parent reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanFlag {
    /// Directly (Docker's default).
    #[default]
    Bridge,
    /// Not at all.
    Private,
    /// Only through the external switch.
    Vepa,
}

impl IpvlanFlag {
    /// The name users give.
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanFlag::Bridge => "bridge",
            IpvlanFlag::Private => "private",
            IpvlanFlag::Vepa => "vepa",
        }
    }
}

/// Options of a macvlan network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacvlanOptions {
    /// The parent; none makes an internal network on a parent of its own.
    pub parent: Option<Parent>,
    /// The macvlan mode.
    pub mode: MacvlanMode,
    /// MTU of the network's interfaces (the parent's when unset).
    pub mtu: Option<u32>,
    /// Give the host an interface on the network.
    pub host_access: bool,
}

/// Options of an ipvlan network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvlanOptions {
    /// The parent; none makes an internal network on a parent of its own.
    pub parent: Option<Parent>,
    /// The ipvlan mode.
    pub mode: IpvlanMode,
    /// The ipvlan flag.
    pub flag: IpvlanFlag,
    /// MTU of the network's interfaces (the parent's when unset).
    pub mtu: Option<u32>,
}

fn pick<T: Copy>(key: &str, v: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(v.trim()))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            FerryError::invalid(format!(
                "invalid value {v:?} for option {key}: use one of {}",
                names.join(", ")
            ))
        })
}

/// Parses macvlan options; every key is checked (a typo would otherwise be ignored).
pub fn parse_macvlan_options(opts: &BTreeMap<String, String>) -> Result<MacvlanOptions> {
    const KNOWN: &[&str] = &[PARENT, MACVLAN_MODE, DRIVER_MTU, HOST_ACCESS];
    let mut out = MacvlanOptions::default();
    for (k, v) in opts {
        match k.as_str() {
            PARENT if v.is_empty() => {}
            PARENT => out.parent = Some(parse_parent(v)?),
            MACVLAN_MODE => {
                out.mode = pick(
                    k,
                    v,
                    &[
                        ("bridge", MacvlanMode::Bridge),
                        ("private", MacvlanMode::Private),
                        ("vepa", MacvlanMode::Vepa),
                        ("passthru", MacvlanMode::Passthru),
                    ],
                )?
            }
            DRIVER_MTU => {
                out.mtu = Some(parse_mtu(v).map_err(|e| e.context(format!("option {k}")))?)
            }
            HOST_ACCESS => out.host_access = parse_bool(k, v)?,
            other => return Err(unknown("macvlan", other, KNOWN)),
        }
    }
    Ok(out)
}

/// Parses ipvlan options; every key is checked.
pub fn parse_ipvlan_options(opts: &BTreeMap<String, String>) -> Result<IpvlanOptions> {
    const KNOWN: &[&str] = &[PARENT, IPVLAN_MODE, IPVLAN_FLAG, DRIVER_MTU];
    let mut out = IpvlanOptions::default();
    for (k, v) in opts {
        match k.as_str() {
            PARENT if v.is_empty() => {}
            PARENT => out.parent = Some(parse_parent(v)?),
            IPVLAN_MODE => {
                out.mode = pick(
                    k,
                    v,
                    &[
                        ("l2", IpvlanMode::L2),
                        ("l3", IpvlanMode::L3),
                        ("l3s", IpvlanMode::L3s),
                    ],
                )?
            }
            IPVLAN_FLAG => {
                out.flag = pick(
                    k,
                    v,
                    &[
                        ("bridge", IpvlanFlag::Bridge),
                        ("private", IpvlanFlag::Private),
                        ("vepa", IpvlanFlag::Vepa),
                    ],
                )?
            }
            DRIVER_MTU => {
                out.mtu = Some(parse_mtu(v).map_err(|e| e.context(format!("option {k}")))?)
            }
            other => return Err(unknown("ipvlan", other, KNOWN)),
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
    fn parents_with_and_without_a_vlan() {
        assert_eq!(parse_parent("eth0").unwrap().vlan, None);
        assert_eq!(
            parse_parent("eth0.50").unwrap().vlan,
            Some(("eth0".to_string(), 50))
        );
        // A dot not followed by a number is part of the name.
        assert_eq!(parse_parent("br.lan").unwrap().vlan, None);
        for bad in ["eth0.0", "eth0.4095", "eth0.99999"] {
            let e = parse_parent(bad).unwrap_err();
            assert!(e.message.contains("1 to 4094"), "{bad}: {e}");
        }
        let e = parse_parent("a-name-far-too-long-for-linux").unwrap_err();
        assert!(e.message.contains("option parent"), "{e}");
    }

    #[test]
    fn macvlan_options() {
        let o = parse_macvlan_options(&opts(&[
            (PARENT, "veth1.7"),
            (MACVLAN_MODE, "Private"),
            (HOST_ACCESS, "true"),
            (DRIVER_MTU, "1400"),
        ]))
        .unwrap();
        assert_eq!(o.parent.unwrap().vlan, Some(("veth1".into(), 7)));
        assert_eq!(o.mode, MacvlanMode::Private);
        assert!(o.host_access);
        assert_eq!(o.mtu, Some(1400));
        let d = parse_macvlan_options(&BTreeMap::new()).unwrap();
        assert_eq!(d, MacvlanOptions::default());
        assert_eq!(d.mode, MacvlanMode::Bridge);
        let e = parse_macvlan_options(&opts(&[(MACVLAN_MODE, "l2")])).unwrap_err();
        assert!(e.message.contains("bridge, private, vepa, passthru"), "{e}");
        let e = parse_macvlan_options(&opts(&[("parnet", "eth0")])).unwrap_err();
        assert!(e.message.contains("unknown macvlan driver option"), "{e}");
    }

    #[test]
    fn ipvlan_options() {
        let o = parse_ipvlan_options(&opts(&[
            (PARENT, "eth1"),
            (IPVLAN_MODE, "l3s"),
            (IPVLAN_FLAG, "vepa"),
        ]))
        .unwrap();
        assert_eq!(o.mode, IpvlanMode::L3s);
        assert_eq!(o.flag, IpvlanFlag::Vepa);
        assert_eq!(o.parent.unwrap().name, "eth1");
        let e = parse_ipvlan_options(&opts(&[(IPVLAN_FLAG, "passthru")])).unwrap_err();
        assert!(e.message.contains("bridge, private, vepa"), "{e}");
        let e = parse_ipvlan_options(&opts(&[(HOST_ACCESS, "true")])).unwrap_err();
        assert!(e.message.contains("unknown ipvlan driver option"), "{e}");
    }

    #[test]
    fn check_knows_each_driver() {
        assert!(crate::check("bridge", &BTreeMap::new()).is_ok());
        assert!(crate::check("macvlan", &opts(&[(PARENT, "eth0")])).is_ok());
        assert!(crate::check("overlay", &BTreeMap::new()).is_ok());
        let e = crate::check("weave", &BTreeMap::new()).unwrap_err();
        assert!(
            e.message.contains("bridge, macvlan, ipvlan, overlay"),
            "{e}"
        );
    }
}

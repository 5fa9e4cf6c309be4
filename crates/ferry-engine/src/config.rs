//! The daemon's settings: command-line flags merged with daemon.json, whose networking keys are
//! Docker's (`bip`, `default-address-pools`, `mtu`, `dns`, `dns-search`, `dns-opts`, `icc`,
//! `ip-masq`, `ip-forward`).

use ferry_ipam::PoolSpec;
use ferry_types::FerryError;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Settings the engine runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Persistent state (the store, sandbox files and logs).
    pub data_root: PathBuf,
    /// Runtime state (the socket).
    pub exec_root: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// Address and prefix of the default bridge (`bip`), e.g. 192.168.1.1/24.
    pub bip: Option<IpNet>,
    /// Pools for networks created without `--subnet`.
    pub default_address_pools: Vec<PoolSpec>,
    /// Default MTU.
    pub mtu: u32,
    /// Default DNS servers of sandboxes.
    pub dns: Vec<IpAddr>,
    /// Default DNS search domains.
    pub dns_search: Vec<String>,
    /// Default resolv.conf options.
    pub dns_opts: Vec<String>,
    /// ICC on the default bridge.
    pub icc: bool,
    /// Masquerade on the default bridge.
    pub ip_masq: bool,
    /// Enable IP forwarding on the host.
    pub ip_forward: bool,
    /// Who manages packet filtering and NAT.
    pub firewall: FirewallMode,
    /// Sandboxes run ferry's init as PID 1 unless they say otherwise (`--init`).
    pub init: bool,
}

/// Who manages packet filtering and NAT for ferry's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirewallMode {
    /// ferry's own nftables tables (`inet ferry`, `bridge ferry`).
    Nftables,
    /// Nobody, as far as ferry knows: it touches no rules (the host's firewall is managed
    /// elsewhere), so there is no isolation, masquerading or port publishing.
    None,
}

impl FirewallMode {
    /// The name `ferry info` and daemon.json use.
    pub fn as_str(self) -> &'static str {
        match self {
            FirewallMode::Nftables => "nftables",
            FirewallMode::None => "none",
        }
    }

    /// Parses `nftables` or `none`.
    pub fn parse(s: &str) -> Result<Self, FerryError> {
        match s {
            "nftables" => Ok(FirewallMode::Nftables),
            "none" => Ok(FirewallMode::None),
            _ => Err(FerryError::invalid(format!(
                "invalid firewall {s:?}: use nftables, or none when the host's firewall is managed elsewhere"
            ))),
        }
    }
}

impl DaemonConfig {
    /// Defaults for the given roots (socket at `<exec_root>/ferry.sock`).
    pub fn with_roots(data_root: PathBuf, exec_root: PathBuf) -> Self {
        Self {
            socket: exec_root.join("ferry.sock"),
            data_root,
            exec_root,
            bip: None,
            default_address_pools: ferry_ipam::default_pools(),
            mtu: 1500,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_opts: Vec::new(),
            icc: true,
            ip_masq: true,
            ip_forward: true,
            firewall: FirewallMode::Nftables,
            init: true,
        }
    }

    /// Directory of a sandbox's files.
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("sandboxes").join(id)
    }
}

/// daemon.json as Docker spells it. Keys ferry does not know are an error that names them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonJson {
    /// `bip`.
    pub bip: Option<String>,
    /// `default-address-pools`.
    pub default_address_pools: Option<Vec<PoolJson>>,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// `dns`.
    pub dns: Option<Vec<String>>,
    /// `dns-search`.
    pub dns_search: Option<Vec<String>>,
    /// `dns-opts`.
    pub dns_opts: Option<Vec<String>>,
    /// `icc`.
    pub icc: Option<bool>,
    /// `ip-masq`.
    pub ip_masq: Option<bool>,
    /// `ip-forward`.
    pub ip_forward: Option<bool>,
    /// `firewall`: `nftables` (the default) or `none`.
    pub firewall: Option<String>,
    /// `iptables`: Docker's switch; `false` means `"firewall": "none"`.
    pub iptables: Option<bool>,
    /// `init`: run ferry's init as every sandbox's PID 1 (default true; Docker's is false).
    pub init: Option<bool>,
    /// `data-root`.
    pub data_root: Option<PathBuf>,
    /// `exec-root`.
    pub exec_root: Option<PathBuf>,
    /// `hosts`: sockets to listen on (`unix://PATH`).
    pub hosts: Option<Vec<String>>,
    /// `log-level`.
    pub log_level: Option<String>,
    /// `debug`.
    pub debug: Option<bool>,
}

/// One entry of `default-address-pools`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolJson {
    /// Base network.
    pub base: String,
    /// Prefix length of each subnet.
    pub size: u8,
}

impl DaemonJson {
    /// Reads daemon.json; a missing file gives the defaults.
    pub fn load(path: &Path, required: bool) -> Result<Self, FerryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Self::parse(&text).map_err(|e| e.context(format!("config file {}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(e) => Err(FerryError::invalid(format!(
                "cannot read config file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Parses daemon.json text.
    pub fn parse(text: &str) -> Result<Self, FerryError> {
        serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            if msg.starts_with("unknown field") {
                FerryError::invalid(format!(
                    "{msg}; ferry reads only the daemon.json keys listed above"
                ))
            } else {
                FerryError::invalid(msg)
            }
        })
    }

    /// Applies the file's values over `cfg`.
    pub fn apply(&self, cfg: &mut DaemonConfig) -> Result<(), FerryError> {
        if let Some(b) = &self.bip {
            let net: IpNet = b.parse().map_err(|_| {
                FerryError::invalid(format!(
                    "invalid bip {b:?}: give the bridge's address with its prefix, e.g. 192.168.5.1/24"
                ))
            })?;
            if net.addr() == net.network() || !matches!(net, IpNet::V4(_)) {
                return Err(FerryError::invalid(format!(
                    "invalid bip {b:?}: it must be an IPv4 host address with a prefix, e.g. 192.168.5.1/24"
                )));
            }
            ferry_types::validate::usable_subnet("bip", &net.trunc())?;
            cfg.bip = Some(net);
        }
        if let Some(pools) = &self.default_address_pools {
            let mut out = Vec::new();
            for p in pools {
                let base = ferry_types::validate::cidr("default-address-pools base", &p.base)?;
                ferry_types::validate::usable_subnet("default-address-pools base", &base)?;
                let spec = PoolSpec { base, size: p.size };
                spec.validate()
                    .map_err(|e| FerryError::invalid(e.to_string()))?;
                out.push(spec);
            }
            if out.is_empty() {
                return Err(FerryError::invalid("default-address-pools is empty"));
            }
            cfg.default_address_pools = out;
        }
        if let Some(m) = self.mtu {
            cfg.mtu = ferry_driver_options::parse_mtu(&m.to_string())?;
        }
        if let Some(d) = &self.dns {
            cfg.dns = d
                .iter()
                .map(|s| ferry_types::validate::ip("dns server", s))
                .collect::<Result<_, _>>()?;
        }
        if let Some(s) = &self.dns_search {
            for d in s {
                ferry_types::validate::dns_search(d).map_err(|e| e.context("dns-search"))?;
            }
            cfg.dns_search = s.clone();
        }
        if let Some(o) = &self.dns_opts {
            for d in o {
                ferry_types::validate::dns_option(d).map_err(|e| e.context("dns-opts"))?;
            }
            cfg.dns_opts = o.clone();
        }
        if let Some(v) = self.icc {
            cfg.icc = v;
        }
        if let Some(v) = self.ip_masq {
            cfg.ip_masq = v;
        }
        if let Some(v) = self.ip_forward {
            cfg.ip_forward = v;
        }
        if let Some(v) = self.init {
            cfg.init = v;
        }
        if let Some(f) = &self.firewall {
            cfg.firewall = FirewallMode::parse(f)?;
        }
        if self.iptables == Some(false) {
            if self.firewall.as_deref() == Some("nftables") {
                return Err(FerryError::invalid(
                    "\"iptables\": false contradicts \"firewall\": \"nftables\"; keep one of them",
                ));
            }
            cfg.firewall = FirewallMode::None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let e = DaemonJson::parse(r#"{"bip":"10.1.0.1/24","iptablez":true}"#).unwrap_err();
        assert!(e.message.contains("iptablez"), "{e}");
    }

    #[test]
    fn applies_networking_keys() {
        let j = DaemonJson::parse(
            r#"{"bip":"10.1.0.1/24","mtu":1400,"icc":false,"dns":["10.0.0.53"],
                "default-address-pools":[{"base":"10.200.0.0/16","size":24}]}"#,
        )
        .unwrap();
        let mut c = DaemonConfig::with_roots("/d".into(), "/e".into());
        j.apply(&mut c).unwrap();
        assert_eq!(c.bip.unwrap().to_string(), "10.1.0.1/24");
        assert_eq!(c.mtu, 1400);
        assert!(!c.icc);
        assert_eq!(c.default_address_pools.len(), 1);
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = DaemonConfig::with_roots("/d".into(), "/e".into());
        for bad in [
            r#"{"bip":"10.1.0.0/24"}"#,
            r#"{"bip":"nonsense"}"#,
            r#"{"mtu":10}"#,
            r#"{"default-address-pools":[{"base":"10.0.0.0/16","size":8}]}"#,
            r#"{"dns":["not-an-ip"]}"#,
            r#"{"firewall":"iptables"}"#,
            r#"{"firewall":"nftables","iptables":false}"#,
            r#"{"default-address-pools":[{"base":"127.0.0.0/8","size":24}]}"#,
            r#"{"default-address-pools":[{"base":"224.0.0.0/4","size":24}]}"#,
            r#"{"default-address-pools":[{"base":"fe80::/48","size":64}]}"#,
            r#"{"bip":"169.254.0.1/24"}"#,
            r#"{"dns-search":["example.com\nnameserver 6.6.6.6"]}"#,
            r#"{"dns-opts":["ndots:1 rotate"]}"#,
        ] {
            let j = DaemonJson::parse(bad).unwrap();
            assert!(j.apply(&mut c).is_err(), "{bad} accepted");
        }
    }
}

//! The `CNI_*` environment of one call: the command, the container, its namespace and
//! interface, and `CNI_ARGS` (`K=V;K2=V2`).

use crate::error::{CniError, UNSUPPORTED_FIELD};
use std::collections::BTreeMap;

/// `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach the container.
    Add,
    /// Detach it (best effort: succeeds when it is gone).
    Del,
    /// Check that what ADD made is still there.
    Check,
    /// Whether ADD would work now.
    Status,
    /// Remove attachments the runtime no longer knows.
    Gc,
    /// The versions ferry speaks.
    Version,
}

impl Command {
    fn parse(s: &str) -> Result<Self, CniError> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => {
                return Err(CniError::env(
                    "CNI_COMMAND",
                    format!("unknown command {s:?}: ADD, DEL, CHECK, STATUS, GC or VERSION"),
                ))
            }
        })
    }
}

/// The keys of `CNI_ARGS` ferry reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `IP=`: static addresses (podman's `--network NET:ip=`), comma-separated.
    pub ips: Vec<String>,
    /// `MAC=`: a static MAC address.
    pub mac: Option<String>,
}

/// Keys ferry knows and ignores (Kubernetes' pod identity).
const KNOWN_IGNORED: [&str; 4] = [
    "K8S_POD_NAME",
    "K8S_POD_NAMESPACE",
    "K8S_POD_INFRA_CONTAINER_ID",
    "K8S_POD_UID",
];

impl CniArgs {
    /// Parses `CNI_ARGS`. An unknown key is an error unless `IgnoreUnknown=1` (or `true`) is
    /// among them, as the spec's conventions say.
    pub fn parse(s: &str) -> Result<Self, CniError> {
        let mut pairs = Vec::new();
        for part in s.split(';').filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(CniError::env(
                    "CNI_ARGS",
                    format!("{part:?} is not KEY=VALUE"),
                ));
            };
            pairs.push((k, v));
        }
        let ignore_unknown = pairs.iter().any(|(k, v)| {
            *k == "IgnoreUnknown" && matches!(v.to_ascii_lowercase().as_str(), "1" | "true")
        });
        let mut out = CniArgs::default();
        for (k, v) in pairs {
            match k {
                "IP" => out.ips.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(String::from),
                ),
                "MAC" if !v.is_empty() => out.mac = Some(v.to_string()),
                "MAC" | "IgnoreUnknown" => {}
                _ if KNOWN_IGNORED.contains(&k) || ignore_unknown => {}
                _ => {
                    return Err(CniError::new(
                        UNSUPPORTED_FIELD,
                        "unsupported field in CNI_ARGS",
                        format!(
                            "ferry does not know the key {k:?}; add IgnoreUnknown=1 to pass it"
                        ),
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// One call's environment, checked for its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniEnv {
    /// The command.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for VERSION, STATUS and GC).
    pub container_id: String,
    /// `CNI_NETNS` (may be empty on DEL).
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: CniArgs,
}

impl CniEnv {
    /// Reads and checks the variables a command needs from `vars`. VERSION needs none
    /// (podman sends it with dummy values).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, CniError> {
        let get = |k: &str| vars.get(k).cloned().unwrap_or_default();
        let command = match vars.get("CNI_COMMAND") {
            Some(c) => Command::parse(c)?,
            None => return Err(CniError::env("CNI_COMMAND", "not set")),
        };
        let mut env = CniEnv {
            command,
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args: CniArgs::default(),
        };
        if matches!(command, Command::Add | Command::Del | Command::Check) {
            check_container_id(&env.container_id)?;
            if env.ifname.is_empty() {
                return Err(CniError::env("CNI_IFNAME", "not set"));
            }
            ferry_types::validate::interface_name(&env.ifname)
                .map_err(|e| CniError::env("CNI_IFNAME", e.to_string()))?;
            if command != Command::Del && !env.netns.starts_with('/') {
                return Err(CniError::env(
                    "CNI_NETNS",
                    format!(
                        "{:?} is not the absolute path of a network namespace",
                        env.netns
                    ),
                ));
            }
            env.args = CniArgs::parse(&get("CNI_ARGS"))?;
        }
        Ok(env)
    }
}

/// The spec's container ID: alphanumeric first, then `[A-Za-z0-9_.-]` (ferry's own names).
fn check_container_id(id: &str) -> Result<(), CniError> {
    if id.is_empty() {
        return Err(CniError::env("CNI_CONTAINERID", "not set"));
    }
    ferry_types::validate::object_name("container ID", id)
        .map_err(|e| CniError::env("CNI_CONTAINERID", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn podmans_args_give_ip_and_mac() {
        let a =
            CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=c1;MAC=02:42:0a:4d:00:32;IP=10.77.0.50")
                .unwrap();
        assert_eq!(a.ips, vec!["10.77.0.50"]);
        assert_eq!(a.mac.as_deref(), Some("02:42:0a:4d:00:32"));
    }

    #[test]
    fn unknown_args_need_ignore_unknown() {
        assert_eq!(CniArgs::parse("FOO=1").unwrap_err().code, 2);
        assert_eq!(
            CniArgs::parse("FOO=1;IgnoreUnknown=true").unwrap(),
            CniArgs::default()
        );
        assert_eq!(
            CniArgs::parse("K8S_POD_NAME=x").unwrap(),
            CniArgs::default()
        );
        assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
        assert_eq!(CniArgs::parse("junk").unwrap_err().code, 4);
    }

    #[test]
    fn version_needs_no_env() {
        let e = CniEnv::from_vars(&vars(&[
            ("CNI_COMMAND", "VERSION"),
            ("CNI_CONTAINERID", ""),
            ("CNI_NETNS", "dummy"),
        ]))
        .unwrap();
        assert_eq!(e.command, Command::Version);
    }

    #[test]
    fn add_needs_id_ifname_and_netns() {
        let base = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "default-c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/proc/1/ns/net"),
        ];
        assert!(CniEnv::from_vars(&vars(&base)).is_ok());
        for (drop, name) in [(1, "CNI_CONTAINERID"), (2, "CNI_IFNAME"), (3, "CNI_NETNS")] {
            let mut v = vars(&base);
            v.remove(base[drop].0);
            let e = CniEnv::from_vars(&v).unwrap_err();
            assert_eq!(
                (e.code, e.msg.as_str()),
                (4, format!("invalid {name}").as_str())
            );
        }
        let mut v = vars(&base);
        v.insert("CNI_CONTAINERID".into(), "-bad".into());
        assert_eq!(CniEnv::from_vars(&v).unwrap_err().code, 4);
        v.insert("CNI_CONTAINERID".into(), "ok".into());
        v.insert("CNI_IFNAME".into(), "a/b".into());
        assert_eq!(CniEnv::from_vars(&v).unwrap_err().code, 4);
    }

    #[test]
    fn del_takes_an_empty_netns() {
        let e = CniEnv::from_vars(&vars(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", ""),
        ]))
        .unwrap();
        assert_eq!(e.netns, "");
    }

    #[test]
    fn unknown_commands_are_refused() {
        let e = CniEnv::from_vars(&vars(&[("CNI_COMMAND", "ATTACH")])).unwrap_err();
        assert_eq!(e.code, 4);
        assert_eq!(CniEnv::from_vars(&vars(&[])).unwrap_err().code, 4);
    }
}

//! How a sandbox is confined: Docker's switches (`--cap-add`, `--cap-drop`, `--privileged`,
//! `--security-opt`, `--user`, `--pid`, `--ipc`, `--init`, `-v`, `--read-only`) as a request
//! carries them, and their parsed form in the model. Parsing only; the kernel crate applies it.

use crate::error::FerryError;
use serde::{Deserialize, Serialize};

/// The confinement part of a create request, in Docker's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SecurityRequest {
    /// Capabilities added to the default set (`ALL` for every one).
    #[serde(default, alias = "cap_add")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped from it (`ALL` to start from none).
    #[serde(default, alias = "cap_drop")]
    pub cap_drop: Vec<String>,
    /// Every capability, the host's devices, no seccomp filter, nothing masked.
    #[serde(default, alias = "privileged")]
    pub privileged: bool,
    /// `seccomp=unconfined|PROFILE-JSON`, `no-new-privileges[=true|false]`.
    #[serde(default, alias = "security_opt")]
    pub security_opt: Vec<String>,
    /// `UID[:GID]` or `NAME[:GROUP]` (names from the sandbox's /etc/passwd and /etc/group).
    #[serde(default, alias = "user")]
    pub user: String,
    /// PID namespace: empty (its own), `host`, or `container:NAME`.
    #[serde(default, alias = "pid_mode")]
    pub pid_mode: String,
    /// IPC namespace: empty, `private` or `shareable` (its own), `host`, or `container:NAME`.
    #[serde(default, alias = "ipc_mode")]
    pub ipc_mode: String,
    /// Run ferry's init as PID 1; `None` takes the daemon's default.
    #[serde(default, alias = "init")]
    pub init: Option<bool>,
    /// Bind mounts, `HOST:SANDBOX[:ro|rw]`.
    #[serde(default, alias = "binds")]
    pub binds: Vec<String>,
    /// The root filesystem read-only.
    #[serde(default, alias = "readonly_rootfs")]
    pub readonly_rootfs: bool,
}

/// Which namespace of a kind a sandbox uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceMode {
    /// Its own.
    #[default]
    Private,
    /// The host's.
    Host,
    /// Another sandbox's (by ID).
    Sandbox(String),
}

impl NamespaceMode {
    /// Parses `--pid`/`--ipc`; `container:NAME` comes back with the name, for the caller to
    /// resolve to an ID.
    pub fn parse(flag: &str, s: &str) -> Result<Self, FerryError> {
        match s {
            "" | "private" | "shareable" => Ok(NamespaceMode::Private),
            "host" => Ok(NamespaceMode::Host),
            _ => match s.strip_prefix("container:") {
                Some(n) if !n.is_empty() => Ok(NamespaceMode::Sandbox(n.to_string())),
                _ => Err(FerryError::invalid(format!(
                    "invalid {flag} {s:?}: use host, private or container:NAME"
                ))),
            },
        }
    }

    /// Docker's spelling, given the name of the sandbox shared with.
    pub fn docker(&self, shared_name: impl FnOnce(&str) -> String) -> String {
        match self {
            NamespaceMode::Private => String::new(),
            NamespaceMode::Host => "host".into(),
            NamespaceMode::Sandbox(id) => format!("container:{}", shared_name(id)),
        }
    }
}

/// The seccomp filter of a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seccomp {
    /// ferry's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in Docker's JSON format (its text).
    Profile(String),
}

/// A bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Host path.
    pub source: String,
    /// Path in the sandbox.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

impl Bind {
    /// Docker's `HOST:SANDBOX[:ro]` form.
    pub fn spec(&self) -> String {
        if self.read_only {
            format!("{}:{}:ro", self.source, self.target)
        } else {
            format!("{}:{}", self.source, self.target)
        }
    }
}

/// A sandbox's confinement, parsed (what `SecurityRequest` asked for).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// `--cap-add`, as given.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// `--cap-drop`, as given.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    #[serde(default)]
    pub privileged: bool,
    /// The seccomp filter.
    #[serde(default)]
    pub seccomp: Seccomp,
    /// Set `no_new_privs` (on unless `--security-opt no-new-privileges=false` or privileged).
    #[serde(default = "yes")]
    pub no_new_privileges: bool,
    /// `--security-opt` entries as given (for inspect; a profile's text is not repeated).
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `--user`, as given (resolved when the sandbox starts).
    #[serde(default)]
    pub user: String,
    /// PID namespace.
    #[serde(default)]
    pub pid: NamespaceMode,
    /// IPC namespace.
    #[serde(default)]
    pub ipc: NamespaceMode,
    /// ferry's init is PID 1.
    #[serde(default)]
    pub init: bool,
    /// Bind mounts.
    #[serde(default)]
    pub binds: Vec<Bind>,
    /// Read-only root filesystem.
    #[serde(default)]
    pub read_only: bool,
}

fn yes() -> bool {
    true
}

fn bool_value(opt: &str, v: Option<&str>) -> Result<bool, FerryError> {
    match v {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(FerryError::invalid(format!(
            "invalid --security-opt {opt}: {other:?} is not true or false"
        ))),
    }
}

/// Parses `--user`: `UID[:GID]` or `NAME[:GROUP]`.
pub fn parse_user(s: &str) -> Result<(String, Option<String>), FerryError> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let ok = |x: &str| {
        !x.is_empty()
            && x.len() <= 32
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    if !ok(u) || g.is_some_and(|g| !ok(g)) {
        return Err(FerryError::invalid(format!(
            "invalid --user {s:?}: use UID[:GID] or NAME[:GROUP]"
        )));
    }
    Ok((u.to_string(), g.map(str::to_string)))
}

/// Parses `-v HOST:SANDBOX[:ro|rw]` (both absolute paths).
pub fn parse_bind(s: &str) -> Result<Bind, FerryError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [src, dst] => (*src, *dst, false),
        [src, dst, "ro"] => (*src, *dst, true),
        [src, dst, "rw"] => (*src, *dst, false),
        [_, _, mode] => {
            return Err(FerryError::invalid(format!(
                "invalid volume {s:?}: mode {mode:?} is not ro or rw"
            )))
        }
        _ => {
            return Err(FerryError::invalid(format!(
                "invalid volume {s:?}: use HOST-PATH:SANDBOX-PATH[:ro]"
            )))
        }
    };
    for (what, p) in [("host path", source), ("sandbox path", target)] {
        if !p.starts_with('/') {
            return Err(FerryError::invalid(format!(
                "invalid volume {s:?}: the {what} {p:?} must be absolute (named volumes are not supported)"
            )));
        }
        if p.contains('\0') || p.split('/').any(|c| c == "..") {
            return Err(FerryError::invalid(format!(
                "invalid volume {s:?}: the {what} may not contain '..' or NUL"
            )));
        }
    }
    if target == "/" {
        return Err(FerryError::invalid(format!(
            "invalid volume {s:?}: the sandbox path cannot be /"
        )));
    }
    Ok(Bind {
        source: source.to_string(),
        target: target.trim_end_matches('/').to_string(),
        read_only,
    })
}

impl Security {
    /// Parses a request's confinement; `init_default` is the daemon's `init` setting.
    /// Capability names are checked by the caller (the kernel crate knows them); PID and IPC
    /// modes naming a sandbox carry the name as given.
    pub fn parse(req: &SecurityRequest, init_default: bool) -> Result<Self, FerryError> {
        let mut sec = Security {
            cap_add: req.cap_add.clone(),
            cap_drop: req.cap_drop.clone(),
            privileged: req.privileged,
            no_new_privileges: !req.privileged,
            seccomp: if req.privileged {
                Seccomp::Unconfined
            } else {
                Seccomp::Default
            },
            user: req.user.clone(),
            pid: NamespaceMode::parse("--pid", &req.pid_mode)?,
            ipc: NamespaceMode::parse("--ipc", &req.ipc_mode)?,
            init: req.init.unwrap_or(init_default),
            read_only: req.readonly_rootfs,
            ..Default::default()
        };
        if !req.user.is_empty() {
            parse_user(&req.user)?;
        }
        for opt in &req.security_opt {
            // Docker accepts both `key=value` and the older `key:value`.
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match key {
                "seccomp" => {
                    sec.seccomp = match value {
                        Some("unconfined") => Seccomp::Unconfined,
                        Some(v) if v.trim_start().starts_with('{') => {
                            Seccomp::Profile(v.to_string())
                        }
                        Some(v) => {
                            return Err(FerryError::invalid(format!(
                                "invalid --security-opt seccomp={v}: give unconfined or a profile file (the CLI sends its JSON)"
                            )))
                        }
                        None => {
                            return Err(FerryError::invalid(
                                "invalid --security-opt seccomp: give seccomp=unconfined or seccomp=PROFILE.json",
                            ))
                        }
                    };
                    sec.security_opt.push(match &sec.seccomp {
                        Seccomp::Profile(_) => "seccomp=<profile>".into(),
                        _ => opt.clone(),
                    });
                    continue;
                }
                "no-new-privileges" => sec.no_new_privileges = bool_value(opt, value)?,
                "apparmor" | "label" => {
                    return Err(FerryError::invalid(format!(
                        "--security-opt {opt}: AppArmor and SELinux labels are not supported by ferry"
                    )))
                }
                _ => {
                    return Err(FerryError::invalid(format!(
                        "invalid --security-opt {opt:?}: ferry knows seccomp=unconfined|PROFILE and no-new-privileges[=true|false]"
                    )))
                }
            }
            sec.security_opt.push(opt.clone());
        }
        for b in &req.binds {
            sec.binds.push(parse_bind(b)?);
        }
        Ok(sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_confined() {
        let s = Security::parse(&SecurityRequest::default(), true).unwrap();
        assert!(s.no_new_privileges);
        assert_eq!(s.seccomp, Seccomp::Default);
        assert_eq!(s.pid, NamespaceMode::Private);
        assert!(s.init);
        let p = Security::parse(
            &SecurityRequest {
                privileged: true,
                ..Default::default()
            },
            false,
        )
        .unwrap();
        assert!(!p.no_new_privileges);
        assert_eq!(p.seccomp, Seccomp::Unconfined);
        assert!(!p.init);
    }

    #[test]
    fn security_opts() {
        let req = |o: &[&str]| SecurityRequest {
            security_opt: o.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let s = Security::parse(
            &req(&["seccomp=unconfined", "no-new-privileges=false"]),
            true,
        )
        .unwrap();
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert!(!s.no_new_privileges);
        let s = Security::parse(
            &req(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]),
            true,
        )
        .unwrap();
        assert!(matches!(s.seccomp, Seccomp::Profile(_)));
        assert_eq!(s.security_opt, vec!["seccomp=<profile>"]);
        assert!(Security::parse(&req(&["no-new-privileges:true"]), true).is_ok());
        for bad in [
            "seccomp",
            "seccomp=/x.json",
            "no-new-privileges=maybe",
            "foo=bar",
        ] {
            assert!(Security::parse(&req(&[bad]), true).is_err(), "{bad}");
        }
    }

    #[test]
    fn binds_and_users() {
        assert_eq!(
            parse_bind("/a:/b:ro").unwrap(),
            Bind {
                source: "/a".into(),
                target: "/b".into(),
                read_only: true
            }
        );
        assert!(!parse_bind("/a:/b").unwrap().read_only);
        for bad in ["a:/b", "/a:b", "/a", "/a:/b:rx", "/a/../etc:/b", "/a:/"] {
            assert!(parse_bind(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_user("1000:50").unwrap(),
            ("1000".into(), Some("50".into()))
        );
        assert_eq!(parse_user("nobody").unwrap(), ("nobody".into(), None));
        for bad in ["", ":1", "a b", "1:\n"] {
            assert!(parse_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_modes() {
        assert_eq!(
            NamespaceMode::parse("--pid", "host").unwrap(),
            NamespaceMode::Host
        );
        assert_eq!(
            NamespaceMode::parse("--pid", "container:db").unwrap(),
            NamespaceMode::Sandbox("db".into())
        );
        assert!(NamespaceMode::parse("--pid", "container:").is_err());
        assert!(NamespaceMode::parse("--ipc", "none").is_err());
    }
}

//! From the YAML text to the [`Project`]: interpolation, the project name, networks, services,
//! and the checks that need the whole project (references, cycles, addresses, ports).

use crate::confine::{self, SecDef};
use crate::error::ComposeError;
use crate::model::NamespaceShare;
use crate::model::{
    labels, replica_name, waves, Dependency, DependencyCondition, EndpointMode, NetworkMode,
    Project, ProjectNetwork, ProjectPort, ProjectService, PublishMode, ServiceNetwork,
};
use crate::node::{
    boolean, check_keys, closest, index, int, join, kind, list, list_or_map, map, opt_scalar,
    parse_yaml, scalar, scalar_list, string_or_list, uint, R,
};
use crate::{interpolate, text, LoadOptions};
use ferry_types::api::{
    Ipam, IpamConfig, NetworkCreateRequest, NetworkRequest, SandboxCreateRequest,
};
use ferry_types::model::SubnetConfig;
use ferry_types::ports::{self, PortKey, PortRequest};
use ferry_types::validate;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Internal error: a message (turned into [`ComposeError::Invalid`] with the file), or a file
/// that could not be read.
pub(crate) enum E {
    Msg(String),
    Read(PathBuf, io::Error),
}

impl From<String> for E {
    fn from(s: String) -> Self {
        E::Msg(s)
    }
}

type Res<T> = Result<T, E>;

/// Networks ferry predefines; a project may only use them as external networks.
const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

const TOP_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include",
];

const NETWORK_KEYS: &[&str] = &[
    "driver",
    "driver_opts",
    "ipam",
    "internal",
    "attachable",
    "external",
    "name",
    "labels",
    "enable_ipv6",
    "enable_ipv4",
];

const SERVICE_KEYS: &[&str] = &[
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "working_dir",
    "labels",
    "hostname",
    "domainname",
    "dns",
    "dns_search",
    "dns_opt",
    "extra_hosts",
    "networks",
    "network_mode",
    "ports",
    "expose",
    "depends_on",
    "deploy",
    "scale",
    "container_name",
    "links",
    "external_links",
    "mac_address",
    "image",
    "profiles",
    "sysctls",
    "tty",
    "stdin_open",
    "x-ferry-rootfs",
];

/// Service keys ferry cannot honour and that do not change networking: ignored with a
/// warning, and the reason shown.
const IGNORED_SERVICE_KEYS: &[(&str, &str)] = &[
    ("build", "ferry runs host programs and builds no images"),
    ("healthcheck", "ferry runs no healthchecks"),
    (
        "volumes_from",
        "ferry does not copy mounts: repeat the other service's volumes",
    ),
    (
        "tmpfs",
        "ferry mounts no tmpfs: bind a host directory with volumes",
    ),
    ("restart", "ferry does not restart exited sandboxes"),
    (
        "group_add",
        "the groups of user: come from the sandbox's /etc/group",
    ),
    ("stop_signal", "ferry stops sandboxes its own way"),
    ("stop_grace_period", "ferry stops sandboxes its own way"),
    ("logging", "ferry keeps the output itself"),
    ("log_driver", "ferry keeps the output itself"),
    ("log_opt", "ferry keeps the output itself"),
    ("ulimits", "ferry sets no resource limits"),
    ("shm_size", "ferry sets no resource limits"),
    ("mem_limit", "ferry sets no resource limits"),
    ("memswap_limit", "ferry sets no resource limits"),
    ("mem_reservation", "ferry sets no resource limits"),
    ("mem_swappiness", "ferry sets no resource limits"),
    ("cpus", "ferry sets no resource limits"),
    ("cpu_count", "ferry sets no resource limits"),
    ("cpu_percent", "ferry sets no resource limits"),
    ("cpu_shares", "ferry sets no resource limits"),
    ("cpu_quota", "ferry sets no resource limits"),
    ("cpu_period", "ferry sets no resource limits"),
    ("cpu_rt_period", "ferry sets no resource limits"),
    ("cpu_rt_runtime", "ferry sets no resource limits"),
    ("cpuset", "ferry sets no resource limits"),
    ("oom_kill_disable", "ferry sets no resource limits"),
    ("oom_score_adj", "ferry sets no resource limits"),
    ("pids_limit", "ferry sets no resource limits"),
    ("blkio_config", "ferry sets no resource limits"),
    (
        "devices",
        "ferry passes no devices (privileged: true gives all)",
    ),
    (
        "device_cgroup_rules",
        "ferry passes no devices (privileged: true gives all)",
    ),
    (
        "gpus",
        "ferry passes no devices (privileged: true gives all)",
    ),
    ("cgroup", "each sandbox has a cgroup namespace of its own"),
    (
        "cgroup_parent",
        "ferry places each sandbox in a cgroup of its own",
    ),
    ("userns_mode", "sandboxes share the host's user namespace"),
    ("secrets", "ferry manages no secrets"),
    ("configs", "ferry manages no configs"),
    ("pull_policy", "ferry pulls no images"),
    ("platform", "ferry pulls no images"),
    ("runtime", "ferry is the runtime"),
    ("isolation", "ferry is the runtime"),
    ("storage_opt", "ferry manages no storage"),
    ("volume_driver", "ferry manages no storage"),
    ("credential_spec", "it is for Windows"),
    ("develop", "ferry has no watch mode"),
    ("annotations", "ferry keeps no annotations"),
    ("attach", "ferry keeps the output itself"),
    ("label_file", "give the labels under labels:"),
    ("post_start", "ferry runs no lifecycle hooks"),
    ("pre_stop", "ferry runs no lifecycle hooks"),
    ("models", "ferry runs no models"),
    ("provider", "ferry runs no providers"),
    (
        "use_api_socket",
        "ferry does not show its socket to sandboxes",
    ),
];

/// Service keys that change what the service is or how it is reached, which ferry cannot do:
/// refused, with what to do instead.
const REFUSED_SERVICE_KEYS: &[(&str, &str)] = &[
    (
        "extends",
        "ferry does not support extends: copy the settings into the service",
    ),
    (
        "uts",
        "every ferry sandbox has its own UTS namespace, so uts: host is not supported: remove it",
    ),
];

/// One declared network, checked, before Compose's labels.
struct NetDef {
    key: String,
    name: String,
    external: bool,
    create: Option<NetworkCreateRequest>,
    subnets: Vec<SubnetConfig>,
}

/// One published port and where it was written, for messages.
struct PortSpec {
    path: String,
    text: String,
    port: ProjectPort,
}

/// One enabled service, parsed.
struct SvcDef {
    name: String,
    /// The `deploy` keys only a swarm honours (stacks only).
    swarm: Option<crate::model::SwarmDeploy>,
    replicas: u32,
    endpoint_mode: EndpointMode,
    depends_on: BTreeMap<String, Dependency>,
    container_name: Option<String>,
    network_mode: Option<NetworkMode>,
    /// `None`: the service gave no `networks` (and no `network_mode`), so it joins `default`.
    networks: Option<Vec<ServiceNetwork>>,
    entrypoint: Vec<String>,
    command: Vec<String>,
    image: Option<String>,
    ports: Vec<PortSpec>,
    expose: Vec<PortKey>,
    env: BTreeMap<String, String>,
    working_dir: String,
    hostname: String,
    domainname: String,
    dns: Vec<String>,
    dns_search: Vec<String>,
    dns_opt: Vec<String>,
    extra_hosts: Vec<String>,
    labels: BTreeMap<String, String>,
    /// `(service, alias)`.
    links: Vec<(String, String)>,
    external_links: Vec<String>,
    mac_address: Option<String>,
    rootfs: String,
    /// `tty`: a terminal of the sandbox's own devpts.
    tty: bool,
    /// `stdin_open`.
    stdin_open: bool,
    /// `cap_add`, `user`, `pid`, `volumes`, ...
    sec: SecDef,
}

impl SvcDef {
    fn attached(&self) -> Vec<ServiceNetwork> {
        match (&self.networks, &self.network_mode) {
            (Some(n), _) => n.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => vec![ServiceNetwork {
                key: "default".into(),
                aliases: Vec::new(),
                ipv4_address: None,
                ipv6_address: None,
                mac_address: None,
                priority: 0,
                gw_priority: 0,
            }],
        }
    }
}

/// A service's keys without `deploy` (a stack reads it apart).
fn without_deploy(m: &Map<String, Value>) -> Map<String, Value> {
    let mut m = m.clone();
    m.remove("deploy");
    m
}

/// Loads a project from compose text. `fs` allows reading `env_file`s.
pub(crate) fn build(text: &str, opts: &LoadOptions, fs: bool) -> Result<Project, ComposeError> {
    match parse_yaml(text) {
        Ok(root) => build_value(root, opts, fs),
        Err(message) => Err(ComposeError::Invalid {
            file: opts.file.clone(),
            message,
        }),
    }
}

/// [`build`] from the parsed file (or files, merged).
pub(crate) fn build_value(
    root: Value,
    opts: &LoadOptions,
    fs: bool,
) -> Result<Project, ComposeError> {
    let mut b = Builder {
        opts,
        fs,
        warnings: Vec::new(),
    };
    b.run(root).map_err(|e| match e {
        E::Msg(message) => ComposeError::Invalid {
            file: opts.file.clone(),
            message,
        },
        E::Read(path, source) => ComposeError::Read { path, source },
    })
}

struct Builder<'a> {
    opts: &'a LoadOptions,
    fs: bool,
    warnings: Vec<String>,
}

/// Parses an optional key with `parse`, or gives the type's empty value when it is absent.
fn or_default<T: Default>(
    path: &str,
    v: Option<&Value>,
    parse: impl FnOnce(&str, &Value) -> R<T>,
) -> R<T> {
    v.map_or_else(|| Ok(T::default()), |v| parse(path, v))
}

fn err<T>(msg: impl Into<String>) -> Res<T> {
    Err(E::Msg(msg.into()))
}

fn sha256_hex(v: &impl Serialize) -> String {
    // Serialising plain structs, vectors and BTreeMaps cannot fail; the fallback only keeps
    // this function total.
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compose's rule for service and network keys: `[a-zA-Z0-9._-]+`.
fn check_key_name(what: &str, path: &str, key: &str) -> R<()> {
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{path}: invalid {what} name {key:?}: use only letters, digits, '.', '_' and '-'"
        ))
    }
}

/// Compose's normalisation of a directory name into a project name: lowercase, keep only
/// `[a-z0-9_-]`, then drop leading `_` and `-`.
pub(crate) fn normalize_project_name(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

fn valid_project_name(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

fn labels_from(path: &str, v: &Value) -> R<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, val) in list_or_map(path, v)? {
        if k.starts_with(labels::RESERVED_PREFIX) {
            return Err(format!(
                "{path}: label {k:?} is reserved: ferry sets the {}* labels itself; choose another key",
                labels::RESERVED_PREFIX
            ));
        }
        out.insert(k, val.unwrap_or_default());
    }
    Ok(out)
}

fn ip_family_name(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

impl Builder<'_> {
    fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    fn run(&mut self, mut root: Value) -> Res<Project> {
        match &root {
            Value::Object(_) => {}
            Value::Null => {
                return err("the file is empty: a compose file needs at least a services: section")
            }
            other => {
                return err(format!(
                    "the file must be a mapping of top-level keys (name:, services:, networks:), but it is {}",
                    kind(other)
                ))
            }
        }
        let mut unset = BTreeSet::new();
        interpolate::tree("", &mut root, &self.opts.env, &mut unset)?;
        for v in unset {
            self.warn(format!(
                "the variable {v:?} is not set: an empty string is used instead"
            ));
        }
        if self.opts.stack {
            let warnings = crate::stack::keys::strip(&mut root)?;
            self.warnings.extend(warnings);
        }
        let empty = Map::new();
        let top = root.as_object().unwrap_or(&empty);
        check_keys("", top, TOP_KEYS)?;
        if top.contains_key("version") {
            self.warn("`version` is obsolete and ignored, as in Compose v2: remove it");
        }
        if top.contains_key("include") {
            return err("include: ferry does not support include: merge the files into one");
        }
        for (key, why) in [
            (
                "volumes",
                "ferry has only bind mounts, given as host paths in each service's volumes",
            ),
            ("secrets", "ferry manages no secrets"),
            ("configs", "ferry manages no configs"),
        ] {
            if top.get(key).is_some_and(|v| !v.is_null()) {
                self.warn(format!("top-level {key} is ignored: {why}"));
            }
        }
        let name_key = match top.get("name") {
            Some(v) => opt_scalar("name", v)?,
            None => None,
        };
        let project = self.project_name(name_key)?;

        let services_v = top.get("services").unwrap_or(&Value::Null);
        let services_m = map("services", services_v)?
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                E::Msg("services: no services are defined: a compose file needs at least one service under services:".into())
            })?;

        // Profiles: a service with profiles runs only when one of them is active.
        let active: BTreeSet<String> = if self.opts.profiles.is_empty() {
            self.opts
                .env
                .get("COMPOSE_PROFILES")
                .map(|s| {
                    s.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            self.opts.profiles.iter().cloned().collect()
        };
        let mut disabled: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut enabled: Vec<(&String, &Value)> = Vec::new();
        for (name, v) in services_m {
            let path = join("services", name);
            check_key_name("service", &path, name)?;
            let profiles = match map(&path, v)?.and_then(|m| m.get("profiles")) {
                Some(p) => scalar_list(&join(&path, "profiles"), p)?,
                None => Vec::new(),
            };
            let on = profiles.is_empty()
                || active.contains("*")
                || profiles.iter().any(|p| active.contains(p));
            if on {
                enabled.push((name, v));
            } else {
                disabled.insert(name.clone(), profiles);
            }
        }
        for name in self.opts.scale.keys() {
            if !enabled.iter().any(|(n, _)| *n == name) {
                return err(format!(
                    "scale {name}: there is no enabled service named {name:?} in the project"
                ));
            }
        }

        let mut defs: BTreeMap<String, NetDef> = BTreeMap::new();
        if let Some(nets) = map("networks", top.get("networks").unwrap_or(&Value::Null))? {
            for (key, v) in nets {
                let def = self.network_def(&project, key, v)?;
                defs.insert(key.clone(), def);
            }
        }

        let mut svcs: BTreeMap<String, SvcDef> = BTreeMap::new();
        for (name, v) in enabled {
            let def = self.service_def(name, v)?;
            svcs.insert(name.clone(), def);
        }
        if svcs.is_empty() {
            return err(format!(
                "services: every service is disabled by its profiles; activate one of them (--profile or COMPOSE_PROFILES): {}",
                disabled
                    .values()
                    .flatten()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        self.check_references(&mut svcs, &defs, &disabled)?;
        check_cycles(&svcs)?;
        if !self.opts.stack {
            // A stack's replicas are named by the swarm, spread over nodes, and publish
            // host-mode ports each on its own node.
            check_replicas(&svcs)?;
            check_sandbox_names(&project, &svcs)?;
        }
        check_port_clashes(&svcs)?;

        // The implicit default network, unless the file configures `default` itself.
        let uses_default = svcs
            .values()
            .any(|s| s.attached().iter().any(|n| n.key == "default"));
        if uses_default && !defs.contains_key("default") {
            let def = self.network_def(&project, "default", &Value::Null)?;
            defs.insert("default".into(), def);
        }
        check_static_addresses(&svcs, &defs)?;

        let used: BTreeSet<String> = svcs
            .values()
            .flat_map(|s| s.attached().into_iter().map(|n| n.key))
            .collect();
        let mut networks = Vec::new();
        let mut names: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for key in &used {
            let Some(def) = defs.remove(key) else {
                continue;
            };
            if let Some((other, other_external)) = names.get(&def.name) {
                if !(def.external && *other_external) {
                    return err(format!(
                        "networks.{key}: networks {other:?} and {key:?} both name the network {:?}: give each its own name",
                        def.name
                    ));
                }
            }
            names.insert(def.name.clone(), (key.clone(), def.external));
            networks.push(project_network(&project, def));
        }

        let mut project = Project {
            name: project,
            working_dir: self.opts.working_dir.clone(),
            config_file: self.opts.file.clone(),
            networks,
            services: Vec::new(),
            warnings: std::mem::take(&mut self.warnings),
        };
        let mut hashes: BTreeMap<String, String> = BTreeMap::new();
        for name in topological(&svcs) {
            let Some(def) = svcs.remove(&name) else {
                continue;
            };
            let svc = service_plan(&project, def, &hashes);
            hashes.insert(svc.name.clone(), svc.config_hash.clone());
            project.services.push(svc);
        }
        project.services.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(project)
    }

    /// `-p` > `name:` > `COMPOSE_PROJECT_NAME` > the project directory's name.
    fn project_name(&self, name_key: Option<String>) -> R<String> {
        let explicit = [
            (self.opts.project_name.clone(), "the project name option"),
            (name_key, "name"),
            (
                self.opts.env.get("COMPOSE_PROJECT_NAME").cloned(),
                "COMPOSE_PROJECT_NAME",
            ),
        ];
        for (value, source) in explicit {
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            if valid_project_name(&value) {
                return Ok(value);
            }
            let normal = normalize_project_name(&value);
            let hint = if valid_project_name(&normal) {
                format!(" such as {normal:?}")
            } else {
                String::new()
            };
            return Err(format!(
                "{source}: invalid project name {value:?}: a project name must contain only lowercase letters, digits, '-' and '_', and start with a letter or digit; use a name{hint}"
            ));
        }
        let dir = self.opts.working_dir.clone().or_else(|| {
            self.opts
                .file
                .as_ref()
                .and_then(|f| f.parent().map(Path::to_path_buf))
        });
        let Some(base) = dir.as_ref().and_then(|d| d.file_name()) else {
            return Err(
                "the project has no name: give one with the project name option (-p), name: in the file, or COMPOSE_PROJECT_NAME"
                    .into(),
            );
        };
        let base = base.to_string_lossy();
        let normal = normalize_project_name(&base);
        if normal.is_empty() {
            return Err(format!(
                "the project directory {base:?} gives no valid project name: give one with -p, name: in the file, or COMPOSE_PROJECT_NAME"
            ));
        }
        Ok(normal)
    }

    fn network_def(&mut self, project: &str, key: &str, v: &Value) -> Res<NetDef> {
        let path = join("networks", key);
        check_key_name("network", &path, key)?;
        let empty = Map::new();
        let m = map(&path, v)?.unwrap_or(&empty);
        check_keys(&path, m, NETWORK_KEYS)?;
        let given_name = match m.get("name") {
            Some(v) => opt_scalar(&join(&path, "name"), v)?,
            None => None,
        };
        let mut external = false;
        let mut legacy_name = None;
        if let Some(x) = m.get("external") {
            let xp = join(&path, "external");
            match x {
                Value::Object(xm) => {
                    check_keys(&xp, xm, &["name"])?;
                    external = true;
                    if let Some(n) = xm.get("name") {
                        legacy_name = opt_scalar(&join(&xp, "name"), n)?;
                        self.warn(format!(
                            "{xp}.name is deprecated: write name: and external: true instead"
                        ));
                    }
                }
                other => external = boolean(&xp, other)?,
            }
        }
        if external {
            let conflicting: Vec<&str> = m
                .keys()
                .map(String::as_str)
                .filter(|k| !matches!(*k, "external" | "name") && !k.starts_with("x-"))
                .collect();
            if !conflicting.is_empty() {
                return err(format!(
                    "{path}: an external network already exists and the project does not create it, so {} cannot be set: remove {} or drop external",
                    conflicting.join(", "),
                    if conflicting.len() == 1 { "it" } else { "them" }
                ));
            }
            if let (Some(a), Some(b)) = (&given_name, &legacy_name) {
                if a != b {
                    return err(format!(
                        "{path}: name {a:?} and external.name {b:?} differ: keep only name:"
                    ));
                }
            }
            let name = given_name
                .or(legacy_name)
                .unwrap_or_else(|| key.to_string());
            if !PREDEFINED.contains(&name.as_str()) {
                validate::object_name("network", &name).map_err(|e| format!("{path}: {e}"))?;
            }
            return Ok(NetDef {
                key: key.into(),
                name,
                external: true,
                create: None,
                subnets: Vec::new(),
            });
        }

        let driver = match m.get("driver") {
            Some(d) => opt_scalar(&join(&path, "driver"), d)?.unwrap_or_default(),
            None => String::new(),
        };
        let driver = match (driver.is_empty(), self.opts.stack) {
            (true, false) => "bridge".to_string(),
            // A stack's networks span the swarm.
            (true, true) => "overlay".to_string(),
            (false, _) => driver,
        };
        if self.opts.stack && driver != "overlay" {
            // Docker creates the network, then refuses every service on it with these words.
            return err(format!(
                "{path}.driver: the network {} cannot be used with services: only networks scoped to the swarm can be used, such as those created with the overlay driver; remove driver: {driver} or set driver: overlay",
                given_name.clone().unwrap_or_else(|| format!("{project}_{key}"))
            ));
        }
        if !ferry_driver_options::CREATABLE.contains(&driver.as_str()) {
            return err(format!(
                "{path}.driver: the {driver:?} driver is not supported: ferry's networks on this host use {}; remove driver: or set it to one of them",
                ferry_driver_options::CREATABLE.join(", ")
            ));
        }
        let mut options = BTreeMap::new();
        if let Some(d) = m.get("driver_opts") {
            let dp = join(&path, "driver_opts");
            for (k, val) in map(&dp, d)?.into_iter().flatten() {
                options.insert(k.clone(), scalar(&join(&dp, k), val)?);
            }
        }
        ferry_driver_options::check(&driver, &options)
            .map_err(|e| format!("{}: {e}", join(&path, "driver_opts")))?;
        let internal = match m.get("internal") {
            Some(v) => boolean(&join(&path, "internal"), v)?,
            None => false,
        };
        let attachable = match m.get("attachable") {
            Some(v) => boolean(&join(&path, "attachable"), v)?,
            None => false,
        };
        let enable_ipv6 = match m.get("enable_ipv6") {
            Some(v) => Some(boolean(&join(&path, "enable_ipv6"), v)?),
            None => None,
        };
        let enable_ipv4 = match m.get("enable_ipv4") {
            Some(v) => Some(boolean(&join(&path, "enable_ipv4"), v)?),
            None => None,
        };
        if enable_ipv4 == Some(false) {
            return err(format!(
                "{path}.enable_ipv4: IPv4 cannot be disabled on bridge networks: remove enable_ipv4: false"
            ));
        }
        let labels = match m.get("labels") {
            Some(v) => labels_from(&join(&path, "labels"), v)?,
            None => BTreeMap::new(),
        };
        let (ipam, subnets) = match m.get("ipam") {
            Some(v) => {
                let (ipam, subnets) = ipam(&join(&path, "ipam"), v)?;
                (Some(ipam), subnets)
            }
            None => (None, Vec::new()),
        };
        if let Some(s) = subnets.iter().find(|s| matches!(s.subnet, IpNet::V6(_))) {
            if enable_ipv6 != Some(true) {
                return err(format!(
                    "{path}: subnet {} is IPv6 but IPv6 is not enabled on the network: add enable_ipv6: true",
                    s.subnet
                ));
            }
        }
        let name = given_name.unwrap_or_else(|| format!("{project}_{key}"));
        if PREDEFINED.contains(&name.as_str()) {
            return err(format!(
                "{path}: {name:?} is one of ferry's predefined networks and cannot be created: to use it, declare the network with external: true"
            ));
        }
        let create = NetworkCreateRequest {
            name: name.clone(),
            driver,
            internal,
            attachable,
            ipam,
            enable_ipv4,
            enable_ipv6,
            options,
            labels,
            ..Default::default()
        };
        validate::network_request(&create).map_err(|e| format!("{path}: {e}"))?;
        Ok(NetDef {
            key: key.into(),
            name,
            external: false,
            create: Some(create),
            subnets,
        })
    }

    fn service_def(&mut self, name: &str, v: &Value) -> Res<SvcDef> {
        let path = join("services", name);
        let empty = Map::new();
        let m = map(&path, v)?.unwrap_or(&empty);
        for k in m.keys() {
            if let Some((_, why)) = REFUSED_SERVICE_KEYS.iter().find(|(r, _)| r == k) {
                return err(format!("{path}.{k}: {why}"));
            }
            if k.starts_with("x-ferry-") && k != "x-ferry-rootfs" {
                return err(format!(
                    "{path}: unknown ferry extension {k:?}: the only one is x-ferry-rootfs"
                ));
            }
        }
        let mut allowed: Vec<&str> = SERVICE_KEYS.to_vec();
        allowed.extend(confine::KEYS);
        allowed.extend(IGNORED_SERVICE_KEYS.iter().map(|(k, _)| *k));
        check_keys(&path, m, &allowed)?;
        for (k, why) in IGNORED_SERVICE_KEYS {
            if m.get(*k).is_some_and(|v| !v.is_null()) {
                self.warn(format!("{path}: {k} is ignored: {why}"));
            }
        }
        let get = |k: &str| m.get(k).filter(|v| !v.is_null());
        let sub = |k: &str| join(&path, k);
        let opts = self.opts;
        let cx = confine::Ctx {
            dir: opts.working_dir.as_deref(),
            home: opts.env.get("HOME").map(String::as_str),
            fs: self.fs,
        };
        let sec = confine::parse(&path, m, &cx, &mut self.warnings)?;

        if let Some(v) = get("sysctls") {
            let sp = sub("sysctls");
            let entries = list_or_map(&sp, v)?;
            if let Some((k, _)) = entries.iter().find(|(k, _)| k.starts_with("net.")) {
                return err(format!(
                    "{sp}: {k} cannot be set: ferry does not set sysctls in sandbox network namespaces; remove it"
                ));
            }
            self.warn(format!(
                "{sp} is ignored: sandboxes share the host's non-network sysctls"
            ));
        }

        let entrypoint = or_default(&sub("entrypoint"), get("entrypoint"), words)?;
        let command = or_default(&sub("command"), get("command"), words)?;
        let image = or_default(&sub("image"), get("image"), opt_scalar)?;
        let rootfs = match get("x-ferry-rootfs") {
            Some(v) => {
                let p = PathBuf::from(scalar(&sub("x-ferry-rootfs"), v)?);
                if p.is_absolute() {
                    p
                } else if let Some(dir) = &self.opts.working_dir {
                    dir.join(p)
                } else {
                    return err(format!(
                        "{path}.x-ferry-rootfs: {} is relative and the project directory is unknown: give an absolute path",
                        p.display()
                    ));
                }
                .to_string_lossy()
                .into_owned()
            }
            None => String::new(),
        };
        if entrypoint.is_empty() && command.is_empty() {
            return err(match &image {
                Some(img) => format!(
                    "{path}: ferry runs host programs, not images, so image {img:?} cannot be run: give the program to run with command: (or entrypoint:), e.g. command: [\"python3\", \"-m\", \"http.server\", \"80\"]; image is then ignored"
                ),
                None => format!(
                    "{path}: nothing to run: give command: (or entrypoint:) with a program on this host"
                ),
            });
        }
        if let Some(img) = &image {
            let program = entrypoint
                .first()
                .or(command.first())
                .cloned()
                .unwrap_or_default();
            let place = if rootfs.is_empty() {
                "from the host".to_string()
            } else {
                format!("inside x-ferry-rootfs {rootfs}")
            };
            self.warn(format!(
                "{path}: image {img:?} is ignored: ferry runs {program:?} {place}"
            ));
        }

        let mut env = BTreeMap::new();
        if let Some(v) = get("env_file") {
            self.env_files(&sub("env_file"), v, &mut env)?;
        }
        if let Some(v) = get("environment") {
            for (k, val) in list_or_map(&sub("environment"), v)? {
                match val.or_else(|| self.opts.env.get(&k).cloned()) {
                    Some(val) => {
                        env.insert(k, val);
                    }
                    None => {
                        env.remove(&k);
                    }
                }
            }
        }

        let working_dir = match get("working_dir") {
            Some(v) => {
                let wd = scalar(&sub("working_dir"), v)?;
                if !wd.starts_with('/') {
                    return err(format!(
                        "{path}.working_dir: {wd:?} is not an absolute path: give a path starting with /"
                    ));
                }
                wd
            }
            None => String::new(),
        };
        let labels = or_default(&sub("labels"), get("labels"), labels_from)?;
        let hostname = or_default(&sub("hostname"), get("hostname"), host_name)?;
        let tty = get("tty")
            .map(|v| boolean(&sub("tty"), v))
            .transpose()?
            .unwrap_or(false);
        let stdin_open = get("stdin_open")
            .map(|v| boolean(&sub("stdin_open"), v))
            .transpose()?
            .unwrap_or(false);
        let domainname = or_default(&sub("domainname"), get("domainname"), host_name)?;
        let dns = match get("dns") {
            Some(v) => {
                let dp = sub("dns");
                let list = string_or_list(&dp, v)?;
                for (i, d) in list.iter().enumerate() {
                    validate::ip("DNS server", d).map_err(|e| format!("{}: {e}", index(&dp, i)))?;
                }
                list
            }
            None => Vec::new(),
        };
        let dns_search = match get("dns_search") {
            Some(v) => {
                let dp = sub("dns_search");
                let list = string_or_list(&dp, v)?;
                if let Some(bad) = list
                    .iter()
                    .find(|d| d.is_empty() || d.contains(char::is_whitespace))
                {
                    return err(format!("{dp}: invalid search domain {bad:?}"));
                }
                list
            }
            None => Vec::new(),
        };
        let dns_opt = or_default(&sub("dns_opt"), get("dns_opt"), string_or_list)?;
        let extra_hosts = or_default(&sub("extra_hosts"), get("extra_hosts"), extra_hosts)?;

        let network_mode = match get("network_mode") {
            Some(v) => Some(network_mode(&sub("network_mode"), v)?),
            None => None,
        };
        // An empty `networks:` means the default network, as in Compose.
        let networks = match get("networks") {
            Some(v) => Some(service_networks(&sub("networks"), v)?).filter(|n| !n.is_empty()),
            None => None,
        };
        if let (Some(mode), Some(_)) = (&network_mode, &networks) {
            return err(format!(
                "{path}: network_mode and networks cannot both be set: network_mode: {} replaces the service's networks; remove one of them",
                mode.to_compose()
            ));
        }

        let mut ports = Vec::new();
        if let Some(v) = get("ports") {
            let pp = sub("ports");
            for (i, p) in list(&pp, v)?.iter().enumerate() {
                let at = index(&pp, i);
                let (spec, mode) = port_spec(&at, p)?;
                for request in ports::parse_publish(&spec).map_err(|e| format!("{at}: {e}"))? {
                    ports.push(PortSpec {
                        path: at.clone(),
                        text: spec.clone(),
                        port: ProjectPort { request, mode },
                    });
                }
            }
        }
        if let (Some(mode), Some(first)) = (&network_mode, ports.first()) {
            let why = match mode {
                NetworkMode::Host => "the program already listens on the host's own ports",
                NetworkMode::None => "the sandbox has no network to publish from",
                _ => "the sandbox shares another's network namespace: publish the port there",
            };
            return err(format!(
                "{}: ports cannot be published with network_mode: {}: {why}; remove ports:",
                first.path,
                mode.to_compose()
            ));
        }
        let mut expose = Vec::new();
        if let Some(v) = get("expose") {
            let ep = sub("expose");
            for (i, x) in list(&ep, v)?.iter().enumerate() {
                let at = index(&ep, i);
                let s = scalar(&at, x)?;
                expose.extend(ports::parse_expose(&s).map_err(|e| format!("{at}: {e}"))?);
            }
        }

        let mut depends_on = BTreeMap::new();
        if let Some(v) = get("depends_on") {
            depends_on = dependencies(&sub("depends_on"), v)?;
            if depends_on.contains_key(name) {
                return err(format!(
                    "{path}.depends_on: the service depends on itself: remove {name:?} from depends_on"
                ));
            }
        }

        let (replicas, endpoint_mode, swarm) = if self.opts.stack {
            let d = crate::stack::deploy::parse(
                &sub("deploy"),
                m.get("deploy").filter(|v| !v.is_null()),
                &mut self.warnings,
            )?;
            let (replicas, _) = self.replicas(&path, name, &without_deploy(m))?;
            let replicas = match d.replicas {
                Some(r) if m.get("scale").is_some_and(|v| !v.is_null()) && r != replicas => {
                    return err(format!(
                        "{path}: scale ({replicas}) and deploy.replicas ({r}) differ: keep one of them"
                    ))
                }
                Some(r) => self.opts.scale.get(name).copied().unwrap_or(r),
                None => replicas,
            };
            (replicas, d.endpoint_mode, Some(d.swarm))
        } else {
            let (replicas, endpoint_mode) = self.replicas(&path, name, m)?;
            (replicas, endpoint_mode, None)
        };
        let container_name = match get("container_name") {
            Some(v) => {
                let c = scalar(&sub("container_name"), v)?;
                validate::object_name("container", &c)
                    .map_err(|e| format!("{path}.container_name: {e}"))?;
                Some(c)
            }
            None => None,
        };
        let mut links = Vec::new();
        if let Some(v) = get("links") {
            let lp = sub("links");
            for (i, l) in scalar_list(&lp, v)?.into_iter().enumerate() {
                let (svc, alias) = match l.split_once(':') {
                    Some((s, a)) => (s.to_string(), a.to_string()),
                    None => (l.clone(), l.clone()),
                };
                if svc.is_empty() || alias.is_empty() {
                    return err(format!(
                        "{}: invalid link {l:?}: expected SERVICE or SERVICE:ALIAS",
                        index(&lp, i)
                    ));
                }
                links.push((svc, alias));
            }
        }
        let mut external_links = Vec::new();
        if let Some(v) = get("external_links") {
            let lp = sub("external_links");
            for (i, l) in scalar_list(&lp, v)?.into_iter().enumerate() {
                let (sandbox, alias) = match l.split_once(':') {
                    Some((s, a)) => (s, Some(a)),
                    None => (l.as_str(), None),
                };
                if sandbox.is_empty() || alias.is_some_and(str::is_empty) {
                    return err(format!(
                        "{}: invalid link {l:?}: expected SANDBOX or SANDBOX:ALIAS",
                        index(&lp, i)
                    ));
                }
                external_links.push(l);
            }
        }
        let mac_address = match get("mac_address") {
            Some(v) => {
                let mp = sub("mac_address");
                Some(validate::mac(&scalar(&mp, v)?).map_err(|e| format!("{mp}: {e}"))?)
            }
            None => None,
        };
        if mac_address.is_some()
            && matches!(
                network_mode,
                Some(NetworkMode::Service(_) | NetworkMode::Container(_))
            )
        {
            return err(format!(
                "{path}.mac_address: the sandbox shares another's network namespace, so it has no interface of its own: remove mac_address"
            ));
        }
        if let Some(mode @ (NetworkMode::Service(_) | NetworkMode::Container(_))) = &network_mode {
            let shared: Vec<&str> = [
                ("hostname", !hostname.is_empty()),
                ("domainname", !domainname.is_empty()),
                ("dns", !dns.is_empty()),
                ("dns_search", !dns_search.is_empty()),
                ("dns_opt", !dns_opt.is_empty()),
                ("extra_hosts", !extra_hosts.is_empty()),
                ("links", !links.is_empty() || !external_links.is_empty()),
            ]
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| k)
            .collect();
            if !shared.is_empty() {
                return err(format!(
                    "{path}: {} cannot be set with network_mode: {}: the sandbox uses the other sandbox's network namespace and name configuration; set them there",
                    shared.join(", "),
                    mode.to_compose()
                ));
            }
        }

        Ok(SvcDef {
            name: name.into(),
            swarm,
            replicas,
            endpoint_mode,
            depends_on,
            container_name,
            network_mode,
            networks,
            entrypoint,
            command,
            image,
            ports,
            expose,
            env,
            working_dir,
            hostname,
            tty,
            stdin_open,
            domainname,
            dns,
            dns_search,
            dns_opt,
            extra_hosts,
            labels,
            links,
            external_links,
            mac_address,
            rootfs,
            sec,
        })
    }

    /// `deploy.replicas`, `scale` and the scale option; `deploy.endpoint_mode`.
    fn replicas(
        &mut self,
        path: &str,
        name: &str,
        m: &Map<String, Value>,
    ) -> R<(u32, EndpointMode)> {
        let to_u32 = |p: &str, v: &Value| -> R<u32> {
            u32::try_from(uint(p, v)?).map_err(|_| format!("{p} is too large"))
        };
        let mut deploy_replicas = None;
        let mut endpoint_mode = EndpointMode::Vip;
        if let Some(d) = m.get("deploy") {
            let dp = join(path, "deploy");
            let empty = Map::new();
            let dm = map(&dp, d)?.unwrap_or(&empty);
            let ignored = [
                "resources",
                "restart_policy",
                "placement",
                "update_config",
                "rollback_config",
                "labels",
            ];
            let mut allowed = vec!["replicas", "endpoint_mode", "mode"];
            allowed.extend(ignored);
            check_keys(&dp, dm, &allowed)?;
            for k in ignored {
                if dm.get(k).is_some_and(|v| !v.is_null()) {
                    self.warn(format!(
                        "{dp}.{k} is ignored: ferry runs replicas on this host only and sets no limits or policies"
                    ));
                }
            }
            if let Some(v) = dm.get("replicas").filter(|v| !v.is_null()) {
                deploy_replicas = Some(to_u32(&join(&dp, "replicas"), v)?);
            }
            if let Some(v) = dm.get("mode").filter(|v| !v.is_null()) {
                match scalar(&join(&dp, "mode"), v)?.as_str() {
                    "replicated" => {}
                    // One host: a global service has exactly one replica.
                    "global" => {
                        if deploy_replicas.is_some_and(|r| r != 1) {
                            return Err(format!(
                                "{dp}: mode: global runs one replica per host, so replicas must be 1 or absent"
                            ));
                        }
                        deploy_replicas = Some(1);
                    }
                    other => {
                        return Err(format!(
                            "{dp}.mode: {other:?} is not a deploy mode: use replicated or global"
                        ))
                    }
                }
            }
            if let Some(v) = dm.get("endpoint_mode").filter(|v| !v.is_null()) {
                endpoint_mode = match scalar(&join(&dp, "endpoint_mode"), v)?.as_str() {
                    "vip" => EndpointMode::Vip,
                    "dnsrr" => EndpointMode::Dnsrr,
                    other => {
                        return Err(format!(
                        "{dp}.endpoint_mode: {other:?} is not an endpoint mode: use vip or dnsrr"
                    ))
                    }
                };
            }
        }
        let scale = match m.get("scale").filter(|v| !v.is_null()) {
            Some(v) => Some(to_u32(&join(path, "scale"), v)?),
            None => None,
        };
        let replicas = match (scale, deploy_replicas) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "{path}: scale ({a}) and deploy.replicas ({b}) differ: keep one of them"
                ))
            }
            (a, b) => a.or(b).unwrap_or(1),
        };
        Ok((
            self.opts.scale.get(name).copied().unwrap_or(replicas),
            endpoint_mode,
        ))
    }

    fn env_files(&mut self, path: &str, v: &Value, env: &mut BTreeMap<String, String>) -> Res<()> {
        let entries: Vec<(String, Value)> = match v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (index(path, i), x.clone()))
                .collect(),
            other => vec![(path.to_string(), other.clone())],
        };
        for (at, entry) in entries {
            let (file, required) = match &entry {
                Value::Object(m) => {
                    check_keys(&at, m, &["path", "required", "format"])?;
                    let file = scalar(&join(&at, "path"), m.get("path").unwrap_or(&Value::Null))?;
                    let required = match m.get("required") {
                        Some(r) => boolean(&join(&at, "required"), r)?,
                        None => true,
                    };
                    if let Some(f) = m.get("format").filter(|f| !f.is_null()) {
                        return err(format!(
                            "{at}.format: {} is not supported: ferry reads env files in the default format only; remove format:",
                            scalar(&join(&at, "format"), f)?
                        ));
                    }
                    (file, required)
                }
                other => (scalar(&at, other)?, true),
            };
            if !self.fs {
                return err(format!(
                    "{at}: reading {file:?} needs the file system: load the project from its file (ferry_compose::load)"
                ));
            }
            let full = match &self.opts.working_dir {
                Some(dir) => dir.join(&file),
                None => PathBuf::from(&file),
            };
            let text = match std::fs::read_to_string(&full) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !required => continue,
                Err(e) => return Err(E::Read(full, e)),
            };
            let text::DotEnv { vars, unset } = text::dotenv(&text, &self.opts.env)
                .map_err(|e| format!("{at}: {}: {e}", full.display()))?;
            for u in unset {
                self.warn(format!(
                    "{at}: the variable {u:?} is not set: an empty string is used instead"
                ));
            }
            env.extend(vars);
        }
        Ok(())
    }

    /// References between services and to networks; adds the dependencies that `links` and
    /// `network_mode: service:` imply.
    fn check_references(
        &mut self,
        svcs: &mut BTreeMap<String, SvcDef>,
        defs: &BTreeMap<String, NetDef>,
        disabled: &BTreeMap<String, Vec<String>>,
    ) -> R<()> {
        let names: Vec<String> = svcs.keys().cloned().collect();
        let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let missing = |path: &str, what: &str, target: &str| -> String {
            if let Some(profiles) = disabled.get(target) {
                return format!(
                    "{path}: {what} {target:?}, which is disabled by its profiles ({}): activate one (--profile or COMPOSE_PROFILES) or remove the reference",
                    profiles.join(", ")
                );
            }
            let hint = closest(target, &name_refs)
                .map(|c| format!("did you mean {c:?}? "))
                .unwrap_or_default();
            format!(
                "{path}: {what} {target:?}, which is not a service of the project: {hint}services are {}",
                names.join(", ")
            )
        };
        let declared: Vec<&str> = defs.keys().map(String::as_str).collect();
        let mut warnings = Vec::new();
        for name in &names {
            let Some(s) = svcs.get_mut(name) else {
                continue;
            };
            let path = join("services", name);
            if let Some(nets) = &s.networks {
                for n in nets {
                    if n.key != "default" && !defs.contains_key(&n.key) {
                        let hint = closest(&n.key, &declared)
                            .map(|c| format!("did you mean {c:?}? "))
                            .unwrap_or_default();
                        return Err(format!(
                            "{path}.networks: unknown network {:?}: it is not declared under the top-level networks: section; {hint}declare it there or fix the name",
                            n.key
                        ));
                    }
                }
            }
            let mut drop = Vec::new();
            for (target, dep) in &s.depends_on {
                if !known.contains(target.as_str()) {
                    if dep.required {
                        return Err(missing(&format!("{path}.depends_on"), "depends on", target));
                    }
                    warnings.push(format!(
                        "{path}.depends_on: the optional dependency {target:?} is not in the project and is skipped"
                    ));
                    drop.push(target.clone());
                }
            }
            for d in drop {
                s.depends_on.remove(&d);
            }
            let mut implied: Vec<String> = Vec::new();
            for (target, _) in &s.links {
                if !known.contains(target.as_str()) {
                    return Err(missing(&format!("{path}.links"), "links to", target));
                }
                implied.push(target.clone());
            }
            if let Some(NetworkMode::Service(target)) = &s.network_mode {
                if target == name {
                    return Err(format!(
                        "{path}.network_mode: a service cannot share its own network namespace"
                    ));
                }
                if !known.contains(target.as_str()) {
                    return Err(missing(
                        &format!("{path}.network_mode"),
                        "shares the network namespace of",
                        target,
                    ));
                }
                implied.push(target.clone());
            }
            for (key, what, share) in [("pid", "PID", &s.sec.pid), ("ipc", "IPC", &s.sec.ipc)] {
                let Some(target) = share.as_ref().and_then(NamespaceShare::service) else {
                    continue;
                };
                if target == name {
                    return Err(format!(
                        "{path}.{key}: a service cannot share its own {what} namespace"
                    ));
                }
                if !known.contains(target) {
                    return Err(missing(
                        &format!("{path}.{key}"),
                        &format!("shares the {what} namespace of"),
                        target,
                    ));
                }
                implied.push(target.to_string());
            }
            for target in implied {
                s.depends_on.entry(target.clone()).or_insert(Dependency {
                    service: target,
                    condition: DependencyCondition::ServiceStarted,
                    restart: false,
                    required: true,
                });
            }
            for dep in s.depends_on.values() {
                if dep.condition == DependencyCondition::ServiceHealthy {
                    warnings.push(format!(
                        "{path}.depends_on.{}: ferry runs no healthchecks, so service_healthy waits only for {:?} to start",
                        dep.service, dep.service
                    ));
                }
            }
        }
        for name in &names {
            let Some(s) = svcs.get(name) else {
                continue;
            };
            let shared = [
                (
                    "network_mode",
                    s.network_mode.as_ref().and_then(|m| match m {
                        NetworkMode::Service(t) => Some(t.as_str()),
                        _ => None,
                    }),
                ),
                ("pid", s.sec.pid.as_ref().and_then(NamespaceShare::service)),
                ("ipc", s.sec.ipc.as_ref().and_then(NamespaceShare::service)),
            ];
            for (key, target) in shared {
                let Some(target) = target else {
                    continue;
                };
                if svcs.get(target).is_some_and(|t| t.replicas == 0) {
                    return Err(format!(
                        "services.{name}.{key}: service {target:?} has 0 replicas, so there is no namespace to share: give it at least one"
                    ));
                }
            }
        }
        self.warnings.extend(warnings);
        Ok(())
    }
}

/// `command:`/`entrypoint:`: a string split like a shell would, or a list of words.
fn words(path: &str, v: &Value) -> R<Vec<String>> {
    match v {
        Value::String(s) => text::shell_split(s).map_err(|e| format!("{path}: {e}")),
        Value::Array(_) => scalar_list(path, v),
        other => Err(format!(
            "{path} must be a string or a list of words, but it is {}",
            kind(other)
        )),
    }
}

fn host_name(path: &str, v: &Value) -> R<String> {
    let h = scalar(path, v)?;
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(h)
    } else {
        Err(format!(
            "{path}: invalid name {h:?}: use 1 to 64 letters, digits, '-', '.' or '_'"
        ))
    }
}

fn extra_hosts(path: &str, v: &Value) -> R<Vec<String>> {
    let mut entries: Vec<(String, String)> = Vec::new();
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                entries.push((index(path, i), scalar(&index(path, i), x)?));
            }
        }
        Value::Object(m) => {
            // Sorted by name, so the order does not depend on how the YAML map was read.
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            for (name, x) in sorted {
                let at = join(path, name);
                for ip in string_or_list(&at, x)? {
                    entries.push((at.clone(), format!("{name}={ip}")));
                }
            }
        }
        other => {
            return Err(format!(
                "{path} must be a list of NAME:IP or a mapping, but it is {}",
                kind(other)
            ))
        }
    }
    entries
        .into_iter()
        .map(|(at, e)| {
            let h = validate::extra_host(&e).map_err(|err| format!("{at}: {err}"))?;
            Ok(match h.addr {
                Some(a) => format!("{}:{a}", h.name),
                None => format!("{}:host-gateway", h.name),
            })
        })
        .collect()
}

fn network_mode(path: &str, v: &Value) -> R<NetworkMode> {
    let s = scalar(path, v)?;
    let mode = match s.as_str() {
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        "bridge" | "default" => NetworkMode::Bridge,
        _ => match s.split_once(':') {
            Some(("service", t)) if !t.is_empty() => NetworkMode::Service(t.into()),
            Some(("container", t)) if !t.is_empty() => NetworkMode::Container(t.into()),
            _ => {
                return Err(format!(
                    "{path}: {s:?} is not a network mode: use host, none, bridge, service:NAME or container:NAME; to join project networks, use networks:"
                ))
            }
        },
    };
    Ok(mode)
}

fn service_networks(path: &str, v: &Value) -> R<Vec<ServiceNetwork>> {
    let plain = |key: String| ServiceNetwork {
        key,
        aliases: Vec::new(),
        ipv4_address: None,
        ipv6_address: None,
        mac_address: None,
        priority: 0,
        gw_priority: 0,
    };
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let key = scalar(&index(path, i), x)?;
                if out.iter().any(|n: &ServiceNetwork| n.key == key) {
                    return Err(format!(
                        "{}: network {key:?} is listed twice",
                        index(path, i)
                    ));
                }
                out.push(plain(key));
            }
        }
        Value::Object(m) => {
            for (key, x) in m {
                let np = join(path, key);
                let mut n = plain(key.clone());
                let empty = Map::new();
                let nm = map(&np, x)?.unwrap_or(&empty);
                for (k, why) in [
                    ("link_local_ips", "ferry assigns no link-local addresses"),
                    ("driver_opts", "ferry's bridge endpoints take no options"),
                    (
                        "interface_name",
                        "ferry names interfaces eth0, eth1, ... in connection order",
                    ),
                ] {
                    if nm.get(k).is_some_and(|v| !v.is_null()) {
                        return Err(format!("{np}.{k}: not supported: {why}; remove it"));
                    }
                }
                check_keys(
                    &np,
                    nm,
                    &[
                        "aliases",
                        "ipv4_address",
                        "ipv6_address",
                        "mac_address",
                        "priority",
                        "gw_priority",
                    ],
                )?;
                if let Some(a) = nm.get("aliases") {
                    let ap = join(&np, "aliases");
                    for (i, alias) in scalar_list(&ap, a)?.into_iter().enumerate() {
                        let ok = !alias.is_empty()
                            && alias.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
                            });
                        if !ok {
                            return Err(format!(
                                "{}: invalid alias {alias:?}: use letters, digits, '-', '.' and '_'",
                                index(&ap, i)
                            ));
                        }
                        if !n.aliases.contains(&alias) {
                            n.aliases.push(alias);
                        }
                    }
                }
                if let Some(x) = nm.get("ipv4_address") {
                    n.ipv4_address = opt_scalar(&join(&np, "ipv4_address"), x)?;
                }
                if let Some(x) = nm.get("ipv6_address") {
                    n.ipv6_address = opt_scalar(&join(&np, "ipv6_address"), x)?;
                }
                if let Some(x) = nm.get("mac_address").filter(|x| !x.is_null()) {
                    let mp = join(&np, "mac_address");
                    n.mac_address =
                        Some(validate::mac(&scalar(&mp, x)?).map_err(|e| format!("{mp}: {e}"))?);
                }
                if let Some(x) = nm.get("priority").filter(|x| !x.is_null()) {
                    n.priority = int(&join(&np, "priority"), x)?;
                }
                if let Some(x) = nm.get("gw_priority").filter(|x| !x.is_null()) {
                    n.gw_priority = int(&join(&np, "gw_priority"), x)?;
                }
                out.push(n);
            }
        }
        other => {
            return Err(format!(
                "{path} must be a list of network names or a mapping, but it is {}",
                kind(other)
            ))
        }
    }
    // Compose connects by priority (highest first), then by key, whichever form the file
    // uses; so the order is the same after `config` prints the list as a mapping. The first
    // network gives the default route, so the highest gw_priority goes before all.
    out.sort_by(|a, b| {
        (b.gw_priority, b.priority)
            .cmp(&(a.gw_priority, a.priority))
            .then_with(|| a.key.cmp(&b.key))
    });
    Ok(out)
}

/// One `ports:` entry as a `-p` specification (short syntax as written, long syntax
/// rebuilt) and its mode.
fn port_spec(path: &str, v: &Value) -> R<(String, PublishMode)> {
    let m = match v {
        Value::Object(m) => m,
        other => return Ok((scalar(path, other)?, PublishMode::Ingress)),
    };
    check_keys(
        path,
        m,
        &[
            "target",
            "published",
            "host_ip",
            "protocol",
            "mode",
            "name",
            "app_protocol",
        ],
    )?;
    let target = match m.get("target") {
        Some(t) if !t.is_null() => scalar(&join(path, "target"), t)?,
        _ => {
            return Err(format!(
                "{path}: target is missing: give the port the program listens on"
            ))
        }
    };
    if target.contains([':', '/']) {
        return Err(format!(
            "{path}.target: {target:?} must be a port number or range"
        ));
    }
    let published = match m.get("published") {
        Some(p) => opt_scalar(&join(path, "published"), p)?.unwrap_or_default(),
        None => String::new(),
    };
    let host_ip = match m.get("host_ip") {
        Some(h) => opt_scalar(&join(path, "host_ip"), h)?.unwrap_or_default(),
        None => String::new(),
    };
    let protocol = match m.get("protocol") {
        Some(p) => opt_scalar(&join(path, "protocol"), p)?.unwrap_or_default(),
        None => String::new(),
    };
    let mode = match m.get("mode").filter(|x| !x.is_null()) {
        Some(mode) => match scalar(&join(path, "mode"), mode)?.as_str() {
            "ingress" => PublishMode::Ingress,
            "host" => PublishMode::Host,
            other => {
                return Err(format!(
                    "{path}.mode: {other:?} is not a port mode: use ingress or host"
                ))
            }
        },
        None => PublishMode::Ingress,
    };
    let mut spec = String::new();
    if !host_ip.is_empty() {
        if host_ip.contains(':') && !host_ip.starts_with('[') {
            spec.push_str(&format!("[{host_ip}]:"));
        } else {
            spec.push_str(&format!("{host_ip}:"));
        }
    }
    if !published.is_empty() || !host_ip.is_empty() {
        spec.push_str(&format!("{published}:"));
    }
    spec.push_str(&target);
    if !protocol.is_empty() {
        spec.push_str(&format!("/{protocol}"));
    }
    Ok((spec, mode))
}

fn dependencies(path: &str, v: &Value) -> R<BTreeMap<String, Dependency>> {
    let mut out = BTreeMap::new();
    let started = |service: String| Dependency {
        service,
        condition: DependencyCondition::ServiceStarted,
        restart: false,
        required: true,
    };
    match v {
        Value::Array(_) => {
            for s in scalar_list(path, v)? {
                out.insert(s.clone(), started(s));
            }
        }
        Value::Object(m) => {
            for (s, x) in m {
                let dp = join(path, s);
                let mut dep = started(s.clone());
                let empty = Map::new();
                let dm = map(&dp, x)?.unwrap_or(&empty);
                check_keys(&dp, dm, &["condition", "restart", "required"])?;
                if let Some(c) = dm.get("condition").filter(|c| !c.is_null()) {
                    dep.condition = match scalar(&join(&dp, "condition"), c)?.as_str() {
                        "service_started" => DependencyCondition::ServiceStarted,
                        "service_healthy" => DependencyCondition::ServiceHealthy,
                        "service_completed_successfully" => {
                            DependencyCondition::ServiceCompletedSuccessfully
                        }
                        other => {
                            return Err(format!(
                                "{dp}.condition: {other:?} is not a condition: use service_started, service_healthy or service_completed_successfully"
                            ))
                        }
                    };
                }
                if let Some(r) = dm.get("restart") {
                    dep.restart = boolean(&join(&dp, "restart"), r)?;
                }
                if let Some(r) = dm.get("required") {
                    dep.required = boolean(&join(&dp, "required"), r)?;
                }
                out.insert(s.clone(), dep);
            }
        }
        other => {
            return Err(format!(
                "{path} must be a list of services or a mapping, but it is {}",
                kind(other)
            ))
        }
    }
    Ok(out)
}

fn ipam(path: &str, v: &Value) -> R<(Ipam, Vec<SubnetConfig>)> {
    let empty = Map::new();
    let m = map(path, v)?.unwrap_or(&empty);
    check_keys(path, m, &["driver", "config", "options"])?;
    let driver = match m.get("driver") {
        Some(d) => opt_scalar(&join(path, "driver"), d)?.unwrap_or_default(),
        None => String::new(),
    };
    if !(driver.is_empty() || driver == "default") {
        return Err(format!(
            "{path}.driver: IPAM driver {driver:?} is not supported: use the default driver (remove driver: or write default)"
        ));
    }
    let options = match m.get("options") {
        Some(o) => {
            let op = join(path, "options");
            let mut out = BTreeMap::new();
            for (k, x) in map(&op, o)?.into_iter().flatten() {
                out.insert(k.clone(), scalar(&join(&op, k), x)?);
            }
            Some(out)
        }
        None => None,
    };
    let mut config = Vec::new();
    let mut subnets: Vec<SubnetConfig> = Vec::new();
    if let Some(c) = m.get("config") {
        let cp = join(path, "config");
        for (i, entry) in list(&cp, c)?.iter().enumerate() {
            let ep = index(&cp, i);
            let em = map(&ep, entry)?.unwrap_or(&empty);
            check_keys(&ep, em, &["subnet", "ip_range", "gateway", "aux_addresses"])?;
            let text = |k: &str| -> R<String> {
                match em.get(k) {
                    Some(x) => Ok(opt_scalar(&join(&ep, k), x)?.unwrap_or_default()),
                    None => Ok(String::new()),
                }
            };
            let mut aux = BTreeMap::new();
            if let Some(a) = em.get("aux_addresses") {
                let ap = join(&ep, "aux_addresses");
                for (k, x) in map(&ap, a)?.into_iter().flatten() {
                    aux.insert(k.clone(), scalar(&join(&ap, k), x)?);
                }
            }
            let entry = IpamConfig {
                subnet: text("subnet")?,
                ip_range: text("ip_range")?,
                gateway: text("gateway")?,
                auxiliary_addresses: aux,
            };
            if entry.subnet.is_empty() {
                return Err(format!(
                    "{ep}: subnet is missing: ip_range, gateway and aux_addresses need a subnet to belong to; add subnet: (e.g. 172.28.0.0/16)"
                ));
            }
            let checked = validate::subnet_config(&entry).map_err(|e| format!("{ep}: {e}"))?;
            if let Some(prev) = subnets.iter().find(|p| overlap(&p.subnet, &checked.subnet)) {
                return Err(format!(
                    "{ep}: subnet {} overlaps {} of the same network: give distinct subnets",
                    checked.subnet, prev.subnet
                ));
            }
            subnets.push(checked);
            config.push(entry);
        }
    }
    Ok((
        Ipam {
            driver,
            config,
            options,
        },
        subnets,
    ))
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn dependency_waves(svcs: &BTreeMap<String, SvcDef>) -> (Vec<&str>, Vec<&str>) {
    waves(svcs.iter().map(|(n, s)| {
        (
            n.as_str(),
            s.depends_on.keys().map(String::as_str).collect(),
        )
    }))
}

/// Refuses a cycle in `depends_on` (links and `service:` included), naming it.
fn check_cycles(svcs: &BTreeMap<String, SvcDef>) -> R<()> {
    let (_, rest) = dependency_waves(svcs);
    let Some(first) = rest.first() else {
        return Ok(());
    };
    // Every service left over has a dependency that is left over too, so following those
    // from any of them must come back to a service already seen: that is a cycle.
    let rest: BTreeSet<&str> = rest.iter().copied().collect();
    let mut path: Vec<&str> = Vec::new();
    let mut cur = *first;
    let cycle = loop {
        if let Some(i) = path.iter().position(|p| *p == cur) {
            let mut cycle = path[i..].to_vec();
            cycle.push(cur);
            break cycle;
        }
        path.push(cur);
        let next = svcs
            .get(cur)
            .and_then(|s| s.depends_on.keys().find(|d| rest.contains(d.as_str())));
        match next {
            Some(n) => cur = n,
            // Unreachable by the reasoning above; report the path found so far.
            None => break path.clone(),
        }
    };
    Err(format!(
        "services.{}.depends_on: dependency cycle {}: services cannot start in any order; remove one of these dependencies (links, and service: in network_mode, pid and ipc, count as dependencies)",
        cycle.first().copied().unwrap_or(first),
        cycle.join(" -> ")
    ))
}

/// Services, dependencies first (the order of [`Project::start_order`]).
fn topological(svcs: &BTreeMap<String, SvcDef>) -> Vec<String> {
    let (order, rest) = dependency_waves(svcs);
    order.into_iter().chain(rest).map(str::to_string).collect()
}

/// What several replicas of one service cannot share.
fn check_replicas(svcs: &BTreeMap<String, SvcDef>) -> R<()> {
    for s in svcs.values() {
        let path = join("services", &s.name);
        if s.replicas <= 1 {
            continue;
        }
        if let Some(c) = &s.container_name {
            return Err(format!(
                "{path}: container_name {c:?} names a single sandbox, but the service has {} replicas: remove container_name or run one replica",
                s.replicas
            ));
        }
        for n in s.networks.iter().flatten() {
            for (what, set) in [
                ("ipv4_address", n.ipv4_address.is_some()),
                ("ipv6_address", n.ipv6_address.is_some()),
                ("mac_address", n.mac_address.is_some()),
            ] {
                if set {
                    return Err(format!(
                        "{path}.networks.{}.{what}: {} replicas cannot share one static address: remove it or run one replica",
                        n.key, s.replicas
                    ));
                }
            }
        }
        if s.mac_address.is_some() {
            return Err(format!(
                "{path}.mac_address: {} replicas cannot share one MAC address: remove it or run one replica",
                s.replicas
            ));
        }
        for p in &s.ports {
            let port = &p.port;
            let Some(range) = port.request.host_ports else {
                continue;
            };
            if port.is_mesh(s.replicas) {
                continue;
            }
            let example = port.request.container.port;
            if range.len() == 1 && port.mode == PublishMode::Ingress {
                // Fixed, ingress, but with a host address: the mesh listens on every address.
                return Err(format!(
                    "{}: {:?} names a host address, but the routing mesh that publishes one port for {} replicas listens on every address: remove the address, or use mode: host with a range of one host port per replica",
                    p.path, p.text, s.replicas
                ));
            }
            if range.len() < s.replicas {
                let hint = if range.len() == 1 {
                    format!(
                        "publish a range with one host port per replica (e.g. \"{}-{}:{example}\"), publish only the container port (\"{example}\") to get ephemeral host ports, or use mode: ingress (the default) so that the routing mesh publishes the port once for all replicas",
                        range.start,
                        u32::from(range.start) + s.replicas - 1,
                    )
                } else {
                    "widen the range to one port per replica".to_string()
                };
                return Err(format!(
                    "{}: {:?} gives {} host port{} to {} replicas that each publish their own: {hint}",
                    p.path,
                    p.text,
                    range.len(),
                    if range.len() == 1 { "" } else { "s" },
                    s.replicas
                ));
            }
        }
    }
    Ok(())
}

/// Two sandboxes of the project with one name (`container_name` against another service's
/// name or replica names).
fn check_sandbox_names(project: &str, svcs: &BTreeMap<String, SvcDef>) -> R<()> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for s in svcs.values() {
        let names: Vec<String> = match &s.container_name {
            Some(c) => vec![c.clone()],
            None => (1..=s.replicas)
                .map(|i| replica_name(project, &s.name, i))
                .collect(),
        };
        for n in names {
            if let Some(other) = seen.insert(n.clone(), &s.name) {
                return Err(format!(
                    "services.{}: its sandbox would be named {n:?}, as one of service {other:?}: sandbox names must be unique; change container_name",
                    s.name
                ));
            }
        }
    }
    Ok(())
}

/// Two fixed host ports that would be bound twice.
fn check_port_clashes(svcs: &BTreeMap<String, SvcDef>) -> R<()> {
    let mut seen: Vec<(&SvcDef, &PortSpec)> = Vec::new();
    for s in svcs.values() {
        if s.replicas == 0 {
            continue;
        }
        for p in &s.ports {
            let Some(range) = p.port.request.host_ports.filter(|r| r.len() == 1) else {
                continue;
            };
            let clash = seen.iter().find(|(_, q)| {
                q.port.request.container.proto == p.port.request.container.proto
                    && q.port
                        .request
                        .host_ports
                        .is_some_and(|r| r.start == range.start)
                    && ips_overlap(q.port.request.host_ip, p.port.request.host_ip)
            });
            if let Some((other, q)) = clash {
                return Err(format!(
                    "{}: host port {}/{} is already published by {} ({:?}): a host port can be published once; pick another host port",
                    p.path,
                    range.start,
                    p.port.request.container.proto.as_str(),
                    if other.name == s.name { "this service".to_string() } else { format!("service {:?}", other.name) },
                    q.text
                ));
            }
            seen.push((s, p));
        }
    }
    Ok(())
}

fn ips_overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
        _ => true,
    }
}

/// Static addresses must lie in a subnet the network was configured with, be free, and be
/// used once.
fn check_static_addresses(
    svcs: &BTreeMap<String, SvcDef>,
    defs: &BTreeMap<String, NetDef>,
) -> R<()> {
    let mut taken: BTreeMap<(String, IpAddr), String> = BTreeMap::new();
    for s in svcs.values() {
        for n in s.networks.iter().flatten() {
            let Some(def) = defs.get(&n.key) else {
                continue;
            };
            for (v6, given) in [(false, &n.ipv4_address), (true, &n.ipv6_address)] {
                let Some(text) = given else {
                    continue;
                };
                let field = if v6 { "ipv6_address" } else { "ipv4_address" };
                let path = format!("services.{}.networks.{}.{field}", s.name, n.key);
                let addr = check_static(&path, text, v6, def)?;
                if let Some(other) = taken.insert((n.key.clone(), addr), s.name.clone()) {
                    return Err(format!(
                        "{path}: {addr} is also the static address of service {other:?} on network {:?}: give each service its own address",
                        n.key
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_static(path: &str, text: &str, v6: bool, def: &NetDef) -> R<IpAddr> {
    let family = ip_family_name(v6);
    let addr =
        validate::ip(&format!("{family} address"), text).map_err(|e| format!("{path}: {e}"))?;
    if addr.is_ipv6() != v6 {
        return Err(format!("{path}: {addr} is not an {family} address"));
    }
    // The subnets of an external network are not known here; the daemon checks the address.
    if def.external {
        return Ok(addr);
    }
    let subnets: Vec<&SubnetConfig> = def
        .subnets
        .iter()
        .filter(|s| matches!(s.subnet, IpNet::V6(_)) == v6)
        .collect();
    if subnets.is_empty() {
        return Err(format!(
            "{path}: network {:?} has no configured {family} subnet, and a static address needs one: add ipam: config: [{{subnet: ...}}] to networks.{}, or remove the address",
            def.key, def.key
        ));
    }
    let Some(s) = subnets.iter().find(|s| s.subnet.contains(&addr)) else {
        let list: Vec<String> = subnets.iter().map(|s| s.subnet.to_string()).collect();
        return Err(format!(
            "{path}: {addr} is outside the {family} subnet{} of network {:?} ({}): pick an address inside",
            if list.len() == 1 { "" } else { "s" },
            def.key,
            list.join(", ")
        ));
    };
    if addr == s.subnet.network() || (!v6 && addr == s.subnet.broadcast()) {
        return Err(format!(
            "{path}: {addr} is the {} address of subnet {}: pick a host address",
            if addr == s.subnet.network() {
                "network"
            } else {
                "broadcast"
            },
            s.subnet
        ));
    }
    if s.gateway == Some(addr) {
        return Err(format!(
            "{path}: {addr} is the gateway of network {:?}: pick another address",
            def.key
        ));
    }
    if let Some((name, _)) = s.aux_addresses.iter().find(|(_, a)| **a == addr) {
        return Err(format!(
            "{path}: {addr} is reserved as aux_address {name:?} of network {:?}: pick another address",
            def.key
        ));
    }
    Ok(addr)
}

fn project_network(project: &str, def: NetDef) -> ProjectNetwork {
    #[derive(Serialize)]
    struct HashInput<'a> {
        name: &'a str,
        external: bool,
        create: &'a Option<NetworkCreateRequest>,
    }
    let config_hash = sha256_hex(&HashInput {
        name: &def.name,
        external: def.external,
        create: &def.create,
    });
    let create = def.create.map(|mut c| {
        c.labels.insert(labels::PROJECT.into(), project.into());
        c.labels.insert(labels::NETWORK.into(), def.key.clone());
        c.labels
            .insert(labels::CONFIG_HASH.into(), config_hash.clone());
        c
    });
    ProjectNetwork {
        key: def.key,
        name: def.name,
        external: def.external,
        create,
        config_hash,
    }
}

/// The service's plan; `hashes` holds the hashes of the services it depends on. Services are
/// built in dependency order, so `project` already holds every service this one links to or
/// shares a namespace with, and their `container_name`s are known.
fn service_plan(project: &Project, s: SvcDef, hashes: &BTreeMap<String, String>) -> ProjectService {
    let attached = s.attached();
    let mut networks: Vec<NetworkRequest> = Vec::new();
    let mut network_hashes: Vec<(String, String)> = Vec::new();
    let mut shared_hash = None;
    match &s.network_mode {
        Some(mode) => {
            let name = match mode {
                NetworkMode::Host => "host".to_string(),
                NetworkMode::None => "none".to_string(),
                NetworkMode::Bridge => "bridge".to_string(),
                NetworkMode::Service(target) => {
                    shared_hash = hashes.get(target).cloned();
                    format!("container:{}", project.sandbox_name(target, 1))
                }
                NetworkMode::Container(c) => format!("container:{c}"),
            };
            networks.push(NetworkRequest {
                name,
                ..Default::default()
            });
        }
        None => {
            for (i, n) in attached.iter().enumerate() {
                let Some(net) = project.network(&n.key) else {
                    continue;
                };
                // Predefined networks take no aliases; elsewhere the service name is one,
                // so other services reach every replica by it.
                let mut aliases = Vec::new();
                if !PREDEFINED.contains(&net.name.as_str()) {
                    aliases.push(s.name.clone());
                    for a in &n.aliases {
                        if !aliases.contains(a) {
                            aliases.push(a.clone());
                        }
                    }
                }
                // The service-level mac_address belongs to the first (primary) network.
                let mac = n.mac_address.clone().or_else(|| {
                    if i == 0 {
                        s.mac_address.clone()
                    } else {
                        None
                    }
                });
                networks.push(NetworkRequest {
                    name: net.name.clone(),
                    aliases,
                    ipv4_address: n.ipv4_address.clone(),
                    ipv6_address: n.ipv6_address.clone(),
                    mac_address: mac,
                });
                network_hashes.push((n.key.clone(), net.config_hash.clone()));
            }
        }
    }
    let cmd: Vec<String> = s.entrypoint.iter().chain(&s.command).cloned().collect();
    let requests: Vec<PortRequest> = s.ports.iter().map(|p| p.port.request.clone()).collect();
    let mut exposed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for k in s.expose.iter().chain(requests.iter().map(|r| &r.container)) {
        exposed.insert(k.to_string(), serde_json::json!({}));
    }
    let mut links: Vec<String> = s
        .links
        .iter()
        .map(|(svc, alias)| format!("{}:{alias}", project.sandbox_name(svc, 1)))
        .collect();
    links.extend(s.external_links.iter().cloned());
    // pid/ipc `service:X` join X's first replica; its hash is part of this one, so a new X
    // means a new sandbox here too.
    let mut security = s.sec.request.clone();
    let mut shared_ns: Vec<(&'static str, String)> = Vec::new();
    for (key, share, mode) in [
        ("pid", &s.sec.pid, &mut security.pid_mode),
        ("ipc", &s.sec.ipc, &mut security.ipc_mode),
    ] {
        *mode = match share {
            None => String::new(),
            Some(NamespaceShare::Service(target)) => {
                if let Some(h) = hashes.get(target) {
                    shared_ns.push((key, h.clone()));
                }
                format!("container:{}", project.sandbox_name(target, 1))
            }
            Some(other) => other.to_compose(),
        };
    }
    let mut sandbox = SandboxCreateRequest {
        name: String::new(),
        cmd,
        env: s.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: s.working_dir.clone(),
        hostname: s.hostname.clone(),
        domainname: s.domainname.clone(),
        rootfs: s.rootfs.clone(),
        networks,
        extra_hosts: s.extra_hosts.clone(),
        dns: s.dns.clone(),
        dns_search: s.dns_search.clone(),
        dns_options: s.dns_opt.clone(),
        auto_remove: false,
        tty: s.tty,
        open_stdin: s.stdin_open,
        console_size: None,
        port_bindings: ports::to_bindings(&requests),
        exposed_ports: exposed,
        publish_all_ports: false,
        labels: s.labels.clone(),
        links,
        security,
    };

    #[derive(Serialize)]
    struct HashInput<'a> {
        container_name: &'a Option<String>,
        sandbox: &'a SandboxCreateRequest,
        port_modes: Vec<&'static str>,
        networks: &'a [(String, String)],
        shares_namespace_of: &'a Option<String>,
        // Left out when empty, so the hashes of services without pid/ipc: service: stay.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        shares_pid_ipc_of: Vec<(&'static str, String)>,
    }
    let config_hash = sha256_hex(&HashInput {
        container_name: &s.container_name,
        sandbox: &sandbox,
        port_modes: s.ports.iter().map(|p| p.port.mode.as_str()).collect(),
        networks: &network_hashes,
        shares_namespace_of: &shared_hash,
        shares_pid_ipc_of: shared_ns,
    });

    sandbox.name = match &s.container_name {
        Some(c) => c.clone(),
        None => replica_name(&project.name, &s.name, 1),
    };
    let l = &mut sandbox.labels;
    l.insert(labels::PROJECT.into(), project.name.clone());
    l.insert(labels::SERVICE.into(), s.name.clone());
    l.insert(labels::CONTAINER_NUMBER.into(), "1".into());
    l.insert(labels::CONFIG_HASH.into(), config_hash.clone());
    l.insert(labels::ONEOFF.into(), "False".into());
    if let Some(dir) = &project.working_dir {
        l.insert(
            labels::WORKING_DIR.into(),
            dir.to_string_lossy().into_owned(),
        );
    }
    if let Some(file) = &project.config_file {
        l.insert(
            labels::CONFIG_FILES.into(),
            file.to_string_lossy().into_owned(),
        );
    }

    ProjectService {
        name: s.name,
        replicas: s.replicas,
        endpoint_mode: s.endpoint_mode,
        depends_on: s.depends_on.into_values().collect(),
        container_name: s.container_name,
        network_mode: s.network_mode,
        networks: attached,
        entrypoint: s.entrypoint,
        command: s.command,
        image: s.image,
        ports: s.ports.into_iter().map(|p| p.port).collect(),
        expose: s.expose,
        pid: s.sec.pid,
        ipc: s.sec.ipc,
        security_opt: s.sec.security_opt,
        config_hash,
        sandbox,
        swarm: s.swarm,
    }
}

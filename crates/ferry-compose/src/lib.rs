//! Docker Compose files for ferry: parse, interpolate and validate a compose file, and resolve it
//! into a [`Project`], a plan of the networks to create and the sandboxes to run, in the request
//! types of ferry's API. The daemon or the CLI executes the plan; this crate does no I/O except
//! in [`load`], which reads the file, its `.env` and the services' `env_file`s.
//!
//! ```
//! use ferry_compose::{parse, LoadOptions};
//!
//! let text = "
//! services:
//!   web:
//!     command: python3 -m http.server 80
//!     ports: ['8080:80']
//! ";
//! let opts = LoadOptions { project_name: Some("demo".into()), ..Default::default() };
//! let project = parse(text, &opts)?;
//! assert_eq!(project.networks[0].name, "demo_default");
//! let web = project.sandbox_request("web", 1).unwrap();
//! assert_eq!(web.name, "demo-web-1");
//! assert_eq!(web.cmd, ["python3", "-m", "http.server", "80"]);
//! assert_eq!(web.networks[0].aliases, ["web"]);
//! # Ok::<(), ferry_compose::ComposeError>(())
//! ```
//!
//! # What is resolved
//!
//! - **Project name**: the `project_name` option (`-p`) > top-level `name:` >
//!   `COMPOSE_PROJECT_NAME` > the name of the project directory. Given names must already be
//!   valid (`[a-z0-9][a-z0-9_-]*`); a directory name is normalised as Compose does (lowercased,
//!   other characters dropped, leading `_`/`-` removed).
//! - **Interpolation** of every value (never keys): `$VAR`, `${VAR}`, `${VAR:-default}`,
//!   `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$`. An
//!   unset variable becomes an empty string, with a warning. [`load`] adds the variables of a
//!   `.env` file next to the compose file; the given environment wins over it.
//! - **Networks**: `PROJECT_KEY`, or `name:`. External networks keep their name and are not
//!   created. Compose's labels (`com.docker.compose.project`, `com.docker.compose.network`) and
//!   a `com.docker.compose.config-hash` are added. The network `default` (`PROJECT_default`)
//!   exists when a service has neither `networks` nor `network_mode`. Only the `bridge` driver
//!   is accepted. Networks no service uses are left out, as Compose leaves them out.
//! - **Services** become [`SandboxCreateRequest`](ferry_types::api::SandboxCreateRequest)
//!   templates: `entrypoint` + `command` (strings are split like a shell, without expansion),
//!   environment (`env_file`s, then `environment`; a variable without a value is taken from the
//!   environment, or left out), networks with the service name as an alias on each, in
//!   Compose's connection order (highest `gw_priority`, then `priority`, then key: the order
//!   of a list does not count, and the first network gives the default route), ports, exposed
//!   ports, DNS settings, `extra_hosts`, `links`, labels, and confinement (see below).
//!   Replica `N` is named `PROJECT-SERVICE-N` (Compose v2), or `container_name`.
//! - **Hashes**: each service's `com.docker.compose.config-hash` is a SHA-256 over its resolved
//!   request (less Compose's labels; confinement included), the hashes of its networks, and
//!   the hashes of the services whose network, PID or IPC namespace it shares. Changing a
//!   service, or a network it is on, changes its hash; changing another service does not. Replicas and `depends_on` are not part of it, so
//!   scaling recreates nothing.
//!
//! # Behaviour choices
//!
//! - **`image`**: ferry runs host programs, not images. A service with `image` and no
//!   `command`/`entrypoint` is refused, because there is nothing ferry could run. With a
//!   command, `image` is accepted and ignored, with a warning, so that one file can serve
//!   Docker and ferry. `x-ferry-rootfs: DIR` runs the program chrooted in `DIR` (e.g. an
//!   unpacked image); a relative `DIR` is taken from the project directory.
//! - **Confinement**: `cap_add`, `cap_drop`, `privileged`, `security_opt`, `user`, `pid`,
//!   `ipc`, `init` and `read_only` go into the request's `security` as `ferry run`'s flags
//!   would. `security_opt: [seccomp=FILE]` is read (relative to the project directory) when
//!   the project loads and its JSON sent, as the docker CLI does; `config` shows the file's
//!   path. `pid`/`ipc: service:X` becomes `container:` + the name of X's first replica and
//!   makes X a dependency. `volumes` are bind mounts only, short (`HOST:SANDBOX[:ro|rw]`) or
//!   long (`{type: bind, source, target, read_only}`) syntax; a relative host path is taken
//!   from the project directory, `~` from `HOME`. Named and anonymous volumes and other mount
//!   types are refused. Values are checked as the daemon checks them, so a bad one stops the
//!   load rather than `up` half-way; only capability names and whether host paths exist are
//!   left to the daemon.
//! - **Keys ferry cannot honour** that do not touch networking (`build`, `tmpfs`,
//!   `healthcheck`, `restart`, resource limits, ...; top-level `volumes`, `secrets`,
//!   `configs`; `deploy.resources` and other `deploy` policies) are ignored and listed in
//!   [`Project::warnings`]. Networking keys ferry cannot honour are refused with an error:
//!   network drivers other than `bridge`, `link_local_ips`, per-endpoint `driver_opts`,
//!   `interface_name`, `net.*` sysctls, `uts`; so are `extends` and `include`, which would
//!   change the configuration. Unknown keys are errors (with a "did you mean"), as in
//!   Compose; `x-*` keys are ignored, except unknown `x-ferry-*` ones.
//! - **Replicas and published ports**: Compose publishes every port from each container, so
//!   `deploy.replicas: 2` with `ports: ["8080:80"]` fails on the second replica in Docker
//!   Compose. ferry has a routing mesh: a fixed `ingress` port (the default, and what the short
//!   syntax means) without a host address is published once for a replicated service and
//!   balanced over its replicas ([`ProjectService::mesh_ports`]); [`Project::sandbox_request`]
//!   leaves it out of each replica. `mode: host` ports and ports with a host address are
//!   published by each replica, so with several replicas they need a range with one host port
//!   per replica (`"8080-8081:80"`) or an ephemeral port (`"80"`); otherwise the file is
//!   refused. Two services publishing the same fixed host port are refused too.
//! - **`network_mode`** excludes `networks` and `ports`; `service:X` and `container:X` also
//!   exclude `hostname`, DNS settings, `extra_hosts` and `links`, which belong to the shared
//!   namespace. `service:X` becomes `container:` + the name of X's first replica, and makes X
//!   a dependency, as `links` do.
//! - **Static addresses** (`ipv4_address`, `ipv6_address`) must lie in a subnet configured
//!   under the network's `ipam`, must not be the network, broadcast, gateway or an auxiliary
//!   address, must be unique, and need a single replica. On external networks the daemon
//!   checks them.
//! - **`depends_on`**: unknown services and cycles are errors. `service_healthy` is kept in the
//!   plan with a warning, since ferry runs no healthchecks. `required: false` dependencies on
//!   missing services are dropped with a warning.
//! - **Profiles**: a service with `profiles` is enabled only when one of them is active
//!   ([`LoadOptions::profiles`], else `COMPOSE_PROFILES`; `*` enables all).
//! - **`deploy.endpoint_mode`** (`vip`, the default, or `dnsrr`) is carried in the plan for
//!   the executor: one virtual IP per network balanced over the replicas, or the service name
//!   answering every replica's address.

#![warn(missing_docs)]

mod build;
mod confine;
mod error;
mod interpolate;
mod merge;
mod model;
mod node;
mod output;
pub mod plan;
pub mod stack;
mod text;

#[cfg(test)]
mod tests;

pub use error::ComposeError;
pub use model::{
    labels, Dependency, DependencyCondition, EndpointMode, NamespaceShare, NetworkMode, Project,
    ProjectNetwork, ProjectPort, ProjectService, PublishMode, ServiceNetwork, SwarmDeploy,
};

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The file names looked for in a directory, in Compose's order.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Everything besides the file's text that decides the project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The project name given on the command line (`-p`); it wins over the file.
    pub project_name: Option<String>,
    /// Variables for interpolation and for `environment` entries without a value; also read:
    /// `COMPOSE_PROJECT_NAME` and `COMPOSE_PROFILES`.
    pub env: BTreeMap<String, String>,
    /// The compose file, for messages and the `config_files` label.
    pub file: Option<PathBuf>,
    /// The project directory: relative paths are resolved against it, and its name is the
    /// last resort for the project name. Defaults to the file's directory.
    pub working_dir: Option<PathBuf>,
    /// Active profiles (`--profile`); when empty, `COMPOSE_PROFILES` from `env` is used.
    pub profiles: Vec<String>,
    /// Replica counts that override the file (`--scale SERVICE=N`).
    pub scale: BTreeMap<String, u32>,
    /// Read the file for `stack deploy` (see [`stack`]): networks are overlay networks,
    /// `deploy.mode`, `placement` and `update_config` are honoured, and the keys a swarm
    /// cannot honour are ignored or refused as `docker stack deploy` does.
    pub stack: bool,
}

/// Parses compose text into a project. Pure: a service with an `env_file` is refused here,
/// since reading it needs the file system; use [`load`] for that.
pub fn parse(text: &str, opts: &LoadOptions) -> Result<Project, ComposeError> {
    build::build(text, &with_dir(opts.clone()), false)
}

/// Loads the compose file at `path` (or the default file in the directory `path`), with the
/// `.env` file next to it, for the given environment (usually the process's).
pub fn load(
    path: &Path,
    project_name: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<Project, ComposeError> {
    load_with_options(
        path,
        LoadOptions {
            project_name: project_name.map(str::to_string),
            env: env.clone(),
            ..Default::default()
        },
    )
}

/// [`load`] with every option. `opts.file` and `opts.working_dir` are filled from `path` when
/// unset; `opts.env` wins over the `.env` file.
pub fn load_with_options(path: &Path, opts: LoadOptions) -> Result<Project, ComposeError> {
    load_files(&[path.to_path_buf()], opts)
}

/// Several compose files read as one, each later file merged into the earlier ones (see
/// `docker stack deploy -c a.yaml -c b.yaml`): mappings merge key by key at every depth, and
/// any other value of a later file replaces the earlier one. The first file decides the
/// project directory, its `.env` and `opts.file`. With one file, this is [`load_with_options`].
pub fn load_files(paths: &[PathBuf], mut opts: LoadOptions) -> Result<Project, ComposeError> {
    if paths.is_empty() {
        return Err(ComposeError::Invalid {
            file: None,
            message: "no compose file given".into(),
        });
    }
    let mut files = Vec::new();
    for p in paths {
        let file = find_file(p)?;
        files.push(clean(&std::path::absolute(&file).unwrap_or(file)));
    }
    let mut root: Option<serde_json::Value> = None;
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| ComposeError::Read {
            path: file.clone(),
            source,
        })?;
        let value = node::parse_yaml(&text).map_err(|message| ComposeError::Invalid {
            file: Some(file.clone()),
            message,
        })?;
        match root.as_mut() {
            None => root = Some(value),
            Some(r) => merge::merge(r, value),
        }
    }
    let root = root.unwrap_or_default();
    opts.file.get_or_insert_with(|| files[0].clone());
    let opts = with_dir(opts);
    let mut env_warnings = Vec::new();
    let mut opts = opts;
    if let Some(dir) = &opts.working_dir {
        let dotenv = dir.join(".env");
        match std::fs::read_to_string(&dotenv) {
            Ok(t) => {
                let text::DotEnv { vars, unset } =
                    text::dotenv(&t, &opts.env).map_err(|message| ComposeError::Invalid {
                        file: Some(dotenv.clone()),
                        message,
                    })?;
                for v in unset {
                    env_warnings.push(format!(
                        "{}: the variable {v:?} is not set: an empty string is used instead",
                        dotenv.display()
                    ));
                }
                for (k, v) in vars {
                    opts.env.entry(k).or_insert(v);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ComposeError::Read {
                    path: dotenv,
                    source,
                })
            }
        }
    }
    let mut project = build::build_value(root, &opts, true)?;
    env_warnings.append(&mut project.warnings);
    project.warnings = env_warnings;
    Ok(project)
}

/// `path` itself, or the first default file name present in the directory `path`.
fn find_file(path: &Path) -> Result<PathBuf, ComposeError> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    DEFAULT_FILE_NAMES
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| ComposeError::Read {
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no compose file in this directory (looked for {})",
                    DEFAULT_FILE_NAMES.join(", ")
                ),
            ),
        })
}

/// Removes `.` and `a/..` from a path without touching the file system (as Go's
/// `filepath.Clean`, which Compose uses), so labels hold `/srv/app`, not `/srv/x/../app`.
pub(crate) fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn with_dir(mut opts: LoadOptions) -> LoadOptions {
    if opts.working_dir.is_none() {
        opts.working_dir = opts
            .file
            .as_ref()
            .and_then(|f| f.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf);
    }
    opts
}

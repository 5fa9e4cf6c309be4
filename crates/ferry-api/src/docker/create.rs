//! Docker's `POST /containers/create` body (Config + HostConfig + NetworkingConfig) turned
//! into the engine's [`SandboxCreateRequest`] (pure). Fields ferry has no use for (resources,
//! volumes, log drivers...) are ignored, as dockerd ignores fields it does not know; `null`
//! is the zero value.

use super::image::{self, Image};
use ferry_types::api::{NetworkRequest, SandboxCreateRequest};
use ferry_types::nullable::or_default;
use ferry_types::ports::{HostBinding, PortBindings};
use ferry_types::security::SecurityRequest;
use ferry_types::FerryError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The parts of Docker's ContainerCreateRequest ferry reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreate {
    /// Host name.
    #[serde(deserialize_with = "or_default")]
    pub hostname: String,
    /// Domain name.
    #[serde(deserialize_with = "or_default")]
    pub domainname: String,
    /// `--user`.
    #[serde(deserialize_with = "or_default")]
    pub user: String,
    /// `-t`.
    #[serde(deserialize_with = "or_default")]
    pub tty: bool,
    /// `-i`.
    #[serde(deserialize_with = "or_default")]
    pub open_stdin: bool,
    /// `-e`, `--env-file`.
    #[serde(deserialize_with = "or_default")]
    pub env: Vec<String>,
    /// The command.
    #[serde(deserialize_with = "or_default")]
    pub cmd: Vec<String>,
    /// `--entrypoint`, put before the command.
    #[serde(deserialize_with = "or_default")]
    pub entrypoint: Vec<String>,
    /// IMAGE: see [`image`].
    #[serde(deserialize_with = "or_default")]
    pub image: String,
    /// `-w`.
    #[serde(deserialize_with = "or_default")]
    pub working_dir: String,
    /// `--label`.
    #[serde(deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
    /// `--expose` and the ports of `-p`.
    #[serde(deserialize_with = "or_default")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// Docker's HostConfig.
    #[serde(rename = "HostConfig", deserialize_with = "or_default")]
    pub host_config: HostConfigRequest,
    /// Docker's NetworkingConfig.
    #[serde(rename = "NetworkingConfig", deserialize_with = "or_default")]
    pub networking_config: NetworkingConfig,
}

/// The parts of Docker's HostConfig ferry reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfigRequest {
    /// `--network`'s first value: `default`, `bridge`, `host`, `none`, `container:X` or a name.
    #[serde(deserialize_with = "or_default")]
    pub network_mode: String,
    /// `-p`.
    #[serde(deserialize_with = "or_default")]
    pub port_bindings: BTreeMap<String, Option<Vec<HostBinding>>>,
    /// `--rm`.
    #[serde(deserialize_with = "or_default")]
    pub auto_remove: bool,
    /// `--dns`.
    #[serde(deserialize_with = "or_default")]
    pub dns: Vec<String>,
    /// `--dns-search`.
    #[serde(deserialize_with = "or_default")]
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    #[serde(deserialize_with = "or_default")]
    pub dns_options: Vec<String>,
    /// `--add-host`.
    #[serde(deserialize_with = "or_default")]
    pub extra_hosts: Vec<String>,
    /// `--link`.
    #[serde(deserialize_with = "or_default")]
    pub links: Vec<String>,
    /// `-P`.
    #[serde(deserialize_with = "or_default")]
    pub publish_all_ports: bool,
    /// `--cap-add`.
    #[serde(deserialize_with = "or_default")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    #[serde(deserialize_with = "or_default")]
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    #[serde(deserialize_with = "or_default")]
    pub privileged: bool,
    /// `--security-opt`.
    #[serde(deserialize_with = "or_default")]
    pub security_opt: Vec<String>,
    /// `--pid`.
    #[serde(deserialize_with = "or_default")]
    pub pid_mode: String,
    /// `--ipc`.
    #[serde(deserialize_with = "or_default")]
    pub ipc_mode: String,
    /// `--init`.
    pub init: Option<bool>,
    /// `-v HOST:SANDBOX`.
    #[serde(deserialize_with = "or_default")]
    pub binds: Vec<String>,
    /// `--read-only`.
    #[serde(deserialize_with = "or_default")]
    pub readonly_rootfs: bool,
    /// The client's terminal size `[rows, columns]`, for a terminal from the start.
    #[serde(deserialize_with = "or_default")]
    pub console_size: Vec<u16>,
}

/// Docker's NetworkingConfig: endpoint settings by network name.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// By network name.
    #[serde(deserialize_with = "or_default")]
    pub endpoints_config: BTreeMap<String, Option<EndpointRequest>>,
}

/// What `--network-alias`, `--ip`, `--ip6` and `--mac-address` set on one network.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRequest {
    /// Static addresses.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<IpamRequest>,
    /// Aliases.
    #[serde(deserialize_with = "or_default")]
    pub aliases: Vec<String>,
    /// Static MAC.
    #[serde(deserialize_with = "or_default")]
    pub mac_address: String,
}

/// Static addresses on one network.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamRequest {
    /// `--ip`.
    #[serde(rename = "IPv4Address", deserialize_with = "or_default")]
    pub ipv4_address: String,
    /// `--ip6`.
    #[serde(rename = "IPv6Address", deserialize_with = "or_default")]
    pub ipv6_address: String,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn network_request(name: &str, ep: Option<&EndpointRequest>) -> NetworkRequest {
    let ipam = ep.and_then(|e| e.ipam_config.as_ref());
    NetworkRequest {
        name: name.to_string(),
        aliases: ep.map(|e| e.aliases.clone()).unwrap_or_default(),
        ipv4_address: ipam.and_then(|i| non_empty(&i.ipv4_address)),
        ipv6_address: ipam.and_then(|i| non_empty(&i.ipv6_address)),
        mac_address: ep.and_then(|e| non_empty(&e.mac_address)),
    }
}

/// The networks in connection order: `NetworkMode` first, then the other endpoint configs
/// (by name). `default` is the default bridge, which an empty list means unless the client
/// set something on it (`--mac-address` without `--network`).
fn networks(c: &ContainerCreate) -> Vec<NetworkRequest> {
    let eps = &c.networking_config.endpoints_config;
    let mode = c.host_config.network_mode.as_str();
    let mut out = Vec::new();
    let first = match mode {
        "" | "default" => {
            let set = eps.get("default").and_then(Option::as_ref).filter(|e| {
                !e.mac_address.is_empty()
                    || !e.aliases.is_empty()
                    || e.ipam_config
                        .as_ref()
                        .is_some_and(|i| !i.ipv4_address.is_empty() || !i.ipv6_address.is_empty())
            });
            if let Some(ep) = set {
                out.push(network_request(ferry_types::DEFAULT_BRIDGE, Some(ep)));
            }
            None
        }
        m => Some(m),
    };
    if let Some(m) = first {
        out.push(network_request(m, eps.get(m).and_then(Option::as_ref)));
    }
    for (name, ep) in eps {
        if Some(name.as_str()) != first && name != "default" {
            out.push(network_request(name, ep.as_ref()));
        }
    }
    out
}

/// Docker's create body as the engine's request; `name` from the `?name=` query, IMAGE
/// resolved against `rootfs_dir` ([`image::rootfs_dir`]).
pub fn to_sandbox_request(
    c: ContainerCreate,
    name: &str,
    rootfs_dir: &Path,
) -> Result<SandboxCreateRequest, FerryError> {
    let rootfs = match image::resolve(&c.image, rootfs_dir)? {
        Image::Host => String::new(),
        Image::Rootfs(dir) => dir,
    };
    let mut cmd = c.entrypoint.clone();
    cmd.extend(c.cmd.iter().cloned());
    if cmd.is_empty() {
        return Err(FerryError::invalid(format!(
            "no command given: ferry runs no images, so image {:?} has no default command; give one after it",
            c.image
        )));
    }
    let networks = networks(&c);
    let h = c.host_config;
    let port_bindings: PortBindings = h
        .port_bindings
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    Ok(SandboxCreateRequest {
        name: name.to_string(),
        cmd,
        env: c.env,
        working_dir: c.working_dir,
        hostname: c.hostname,
        domainname: c.domainname,
        rootfs,
        networks,
        extra_hosts: h.extra_hosts,
        dns: h.dns,
        dns_search: h.dns_search,
        dns_options: h.dns_options,
        auto_remove: h.auto_remove,
        tty: c.tty,
        open_stdin: c.open_stdin,
        console_size: match h.console_size[..] {
            [r, c] if (r, c) != (0, 0) => Some((r, c)),
            _ => None,
        },
        port_bindings,
        exposed_ports: c.exposed_ports,
        publish_all_ports: h.publish_all_ports,
        labels: c.labels,
        links: h.links,
        security: SecurityRequest {
            cap_add: h.cap_add,
            cap_drop: h.cap_drop,
            privileged: h.privileged,
            security_opt: h.security_opt,
            user: c.user,
            pid_mode: h.pid_mode,
            ipc_mode: h.ipc_mode,
            init: h.init,
            binds: h.binds,
            readonly_rootfs: h.readonly_rootfs,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> ContainerCreate {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_docker_cli_run_body() {
        let c = parse(json!({
            "Hostname": "", "User": "", "AttachStdout": true, "Tty": false, "OpenStdin": false,
            "ExposedPorts": {"80/tcp": {}}, "Env": ["A=1"], "Cmd": ["sh", "-c", "true"],
            "Image": "host", "Entrypoint": null, "Labels": {}, "Volumes": null,
            "HostConfig": {
                "NetworkMode": "n1",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no"}, "AutoRemove": true, "Dns": ["1.1.1.1"],
                "DnsOptions": [], "DnsSearch": [], "ExtraHosts": ["h:1.2.3.4"], "Links": null,
                "PublishAllPorts": false, "Init": null, "CpuShares": 0, "Memory": 0
            },
            "NetworkingConfig": {"EndpointsConfig": {
                "n1": {"IPAMConfig": {"IPv4Address": "172.18.0.9"}, "Aliases": ["web"],
                       "MacAddress": "", "DriverOpts": null, "GwPriority": 0},
                "n2": {"IPAMConfig": null, "Aliases": null}
            }}
        }));
        let r = to_sandbox_request(c, "web", Path::new("/nonexistent")).unwrap();
        assert_eq!(r.name, "web");
        assert_eq!(r.cmd, vec!["sh", "-c", "true"]);
        assert_eq!(r.rootfs, "");
        assert!(r.auto_remove);
        assert_eq!(r.networks.len(), 2);
        assert_eq!(r.networks[0].name, "n1");
        assert_eq!(r.networks[0].aliases, vec!["web"]);
        assert_eq!(r.networks[0].ipv4_address.as_deref(), Some("172.18.0.9"));
        assert_eq!(r.networks[0].mac_address, None);
        assert_eq!(r.networks[1].name, "n2");
        assert_eq!(r.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(r.extra_hosts, vec!["h:1.2.3.4"]);
        assert!(r.links.is_empty());
    }

    #[test]
    fn default_network_entrypoint_and_refusals() {
        let c = parse(
            json!({"Image": "host", "Entrypoint": ["env"], "Cmd": ["-i"],
                             "HostConfig": {"NetworkMode": "default"}}),
        );
        let r = to_sandbox_request(c, "", Path::new("/nonexistent")).unwrap();
        assert!(r.networks.is_empty());
        assert_eq!(r.cmd, vec!["env", "-i"]);
        let c = parse(json!({"Image": "host", "Cmd": ["true"],
                             "HostConfig": {"NetworkMode": "default"},
                             "NetworkingConfig": {"EndpointsConfig": {"default": {"MacAddress": "02:42:ac:11:00:99"}}}}));
        let r = to_sandbox_request(c, "", Path::new("/nonexistent")).unwrap();
        assert_eq!(r.networks[0].name, "bridge");
        assert_eq!(
            r.networks[0].mac_address.as_deref(),
            Some("02:42:ac:11:00:99")
        );
        let c =
            parse(json!({"Image": "host", "HostConfig": {"NetworkMode": "host"}, "Cmd": ["true"]}));
        assert_eq!(
            to_sandbox_request(c, "", Path::new("/nonexistent"))
                .unwrap()
                .networks[0]
                .name,
            "host"
        );
        let e = to_sandbox_request(
            parse(json!({"Image": "host"})),
            "",
            Path::new("/nonexistent"),
        )
        .unwrap_err();
        assert!(e.message.contains("no command given"), "{}", e.message);
        let r = to_sandbox_request(
            parse(
                json!({"Image": "host", "Cmd": ["sh"], "Tty": true, "OpenStdin": true,
                         "HostConfig": {"ConsoleSize": [24, 80]}}),
            ),
            "",
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert!(r.tty && r.open_stdin);
        assert_eq!(r.console_size, Some((24, 80)));
        assert!(to_sandbox_request(
            parse(json!({"Image": "busybox", "Cmd": ["sh"]})),
            "",
            Path::new("/nonexistent")
        )
        .is_err());
    }
}

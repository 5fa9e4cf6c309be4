//! Docker's JSON shapes of the engine's views: `network inspect`, `inspect` and `ps` (pure
//! functions of the model).

use ferry_engine::views::{NetworkRef, NetworkView, SandboxView};
use ferry_types::api::{EndpointIpamConfig, IpamConfig};
use ferry_types::docker::*;
use ferry_types::time::{human_duration, now_secs};
use ferry_types::{Endpoint, NetworkMode, Sandbox, Status};
use std::collections::BTreeMap;

/// Docker's zero time, shown for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `network inspect` (and a `network ls` row) of a network with its members.
pub fn network_inspect(view: &NetworkView) -> NetworkInspect {
    let net = &view.network;
    let containers = view
        .members
        .iter()
        .map(|m| {
            let ep = &m.endpoint;
            (
                m.sandbox_id.to_string(),
                NetworkContainer {
                    name: m.sandbox_name.clone(),
                    endpoint_id: ep.id.to_string(),
                    mac_address: ep.mac.to_string(),
                    ipv4_address: ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                    ipv6_address: ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                },
            )
        })
        .collect();
    NetworkInspect {
        name: net.name.clone(),
        id: net.id.to_string(),
        created: net.created.to_string(),
        scope: view.scope.into(),
        driver: net.driver.as_str().into(),
        enable_ipv4: !net.subnets.is_empty(),
        enable_ipv6: net.enable_ipv6,
        ipam: IpamInspect {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: net
                .subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: s.subnet.to_string(),
                    ip_range: s.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                    gateway: s.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    auxiliary_addresses: s
                        .aux_addresses
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_string()))
                        .collect(),
                })
                .collect(),
        },
        internal: net.internal,
        attachable: net.attachable,
        ingress: net
            .options
            .get("ferry.ingress")
            .is_some_and(|v| v == "true"),
        config_from: ConfigFrom::default(),
        config_only: false,
        containers,
        options: net.options.clone(),
        labels: net.labels.clone(),
    }
}

/// The names a sandbox answers to on a network: its name, aliases, short ID, host name.
pub fn dns_names(sb: &Sandbox, aliases: &[String]) -> Vec<String> {
    let mut names = vec![sb.name.clone()];
    for a in aliases {
        if !names.contains(a) {
            names.push(a.clone());
        }
    }
    let short = ferry_types::ids::short(&sb.id).to_string();
    if !names.contains(&short) {
        names.push(short);
    }
    if !sb.config.hostname.is_empty() && !names.contains(&sb.config.hostname) {
        names.push(sb.config.hostname.clone());
    }
    names
}

fn endpoint_settings(
    sb: &Sandbox,
    net: Option<&NetworkRef>,
    network_id: &str,
    att: Option<&ferry_types::Attachment>,
    ep: Option<&Endpoint>,
) -> EndpointSettings {
    let aliases = att.map(|a| a.aliases.clone()).unwrap_or_default();
    let ipam_config = att.and_then(|a| {
        (a.ipv4.is_some() || a.ipv6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: a.ipv4.map(|i| i.to_string()),
            ipv6_address: a.ipv6.map(|i| i.to_string()),
        })
    });
    let user_defined = net.is_some_and(|n| !n.builtin);
    EndpointSettings {
        ipam_config,
        aliases: aliases.clone(),
        mac_address: ep
            .map(|e| e.mac)
            .or_else(|| att.and_then(|a| a.mac))
            .map(|m| m.to_string())
            .unwrap_or_default(),
        network_id: network_id.to_string(),
        endpoint_id: ep.map(|e| e.id.to_string()).unwrap_or_default(),
        gateway: ep
            .and_then(|e| e.gateway4)
            .map(|g| g.to_string())
            .unwrap_or_default(),
        ip_address: ep
            .and_then(|e| e.ipv4)
            .map(|a| a.addr().to_string())
            .unwrap_or_default(),
        ip_prefix_len: ep.and_then(|e| e.ipv4).map(|a| a.prefix_len()).unwrap_or(0),
        ipv6_gateway: ep
            .and_then(|e| e.gateway6)
            .map(|g| g.to_string())
            .unwrap_or_default(),
        global_ipv6_address: ep
            .and_then(|e| e.ipv6)
            .map(|a| a.addr().to_string())
            .unwrap_or_default(),
        global_ipv6_prefix_len: ep.and_then(|e| e.ipv6).map(|a| a.prefix_len()).unwrap_or(0),
        dns_names: if user_defined {
            dns_names(sb, &aliases)
        } else {
            Vec::new()
        },
    }
}

/// NetworkSettings.Networks of a sandbox, by network name.
pub fn sandbox_networks(view: &SandboxView) -> BTreeMap<String, EndpointSettings> {
    let sb = &view.sandbox;
    let mut out = BTreeMap::new();
    match &sb.config.network_mode {
        NetworkMode::Networks => {
            for att in &sb.config.attachments {
                let net = view.network(&att.network_id);
                let name = net
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| att.network_id.to_string());
                let ep = sb.endpoint_on(&att.network_id);
                out.insert(
                    name,
                    endpoint_settings(sb, net, &att.network_id, Some(att), ep),
                );
            }
        }
        NetworkMode::Host | NetworkMode::None => {
            let wanted = if sb.config.network_mode == NetworkMode::Host {
                ferry_types::HOST_NETWORK
            } else {
                ferry_types::NONE_NETWORK
            };
            // The builtin network of that name, if the caller can see it.
            if let Some(net) = view.network(wanted) {
                out.insert(
                    net.name.clone(),
                    endpoint_settings(sb, Some(net), &net.id, None, None),
                );
            }
        }
        NetworkMode::Container(_) => {}
    }
    out
}

/// The HostConfig.NetworkMode string.
pub fn network_mode_string(view: &SandboxView) -> String {
    let sb = &view.sandbox;
    match &sb.config.network_mode {
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
        NetworkMode::Container(id) => format!("container:{id}"),
        NetworkMode::Networks => sb
            .config
            .attachments
            .first()
            .and_then(|a| view.network(&a.network_id))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| "bridge".into()),
    }
}

/// `inspect` of a sandbox.
pub fn sandbox_inspect(view: &SandboxView) -> ContainerInspect {
    let sb = &view.sandbox;
    let dir = &view.dir;
    let c = &sb.config;
    ContainerInspect {
        id: sb.id.to_string(),
        created: sb.created.to_string(),
        path: c.cmd.first().cloned().unwrap_or_default(),
        args: c.cmd.iter().skip(1).cloned().collect(),
        state: ContainerState {
            status: sb.state.status.as_str().into(),
            running: sb.is_running(),
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: if sb.is_running() {
                sb.state.pid.unwrap_or(0)
            } else {
                0
            },
            exit_code: sb.state.exit_code.unwrap_or(0),
            error: sb.state.error.clone(),
            started_at: sb
                .state
                .started_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| ZERO_TIME.into()),
            finished_at: sb
                .state
                .finished_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| ZERO_TIME.into()),
        },
        name: format!("/{}", sb.name),
        restart_count: 0,
        resolv_conf_path: dir.join("resolv.conf").display().to_string(),
        hostname_path: dir.join("hostname").display().to_string(),
        hosts_path: dir.join("hosts").display().to_string(),
        log_path: dir.join("output.log").display().to_string(),
        config: ContainerConfig {
            hostname: c.hostname.clone(),
            domainname: c.domainname.clone(),
            env: c.env.clone(),
            cmd: c.cmd.clone(),
            working_dir: c.workdir.clone().unwrap_or_default(),
            rootfs: c.rootfs.clone().unwrap_or_default(),
            exposed_ports: c
                .exposed
                .iter()
                .chain(c.ports.iter().map(|p| &p.container))
                .map(|k| (k.to_string(), Default::default()))
                .collect(),
            labels: c.labels.clone(),
            user: c.security.user.clone(),
            image: String::new(),
            tty: c.tty,
            open_stdin: c.open_stdin,
        },
        host_config: HostConfig {
            network_mode: network_mode_string(view),
            extra_hosts: c
                .extra_hosts
                .iter()
                .map(|h| {
                    format!(
                        "{}:{}",
                        h.name,
                        h.addr
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "host-gateway".into())
                    )
                })
                .collect(),
            dns: c.dns.iter().map(|d| d.to_string()).collect(),
            dns_search: c.dns_search.clone(),
            dns_options: c.dns_options.clone(),
            auto_remove: c.auto_remove,
            port_bindings: ferry_types::ports::to_bindings(&c.ports),
            publish_all_ports: c.publish_all,
            links: c
                .links
                .iter()
                .map(|l| format!("/{}:/{}/{}", l.name, sb.name, l.alias))
                .collect(),
            cap_add: c.security.cap_add.clone(),
            cap_drop: c.security.cap_drop.clone(),
            privileged: c.security.privileged,
            security_opt: c.security.security_opt.clone(),
            pid_mode: c.security.pid.docker(str::to_string),
            ipc_mode: match c.security.ipc.docker(str::to_string) {
                m if m.is_empty() => "private".into(),
                m => m,
            },
            init: c.security.init,
            binds: c.security.binds.iter().map(|b| b.spec()).collect(),
            readonly_rootfs: c.security.read_only,
            log_config: LogConfig {
                kind: "json-file".into(),
                config: BTreeMap::new(),
            },
        },
        network_settings: NetworkSettings {
            sandbox_id: sb.id.to_string(),
            sandbox_key: sb.netns.clone().unwrap_or_default(),
            ports: ports_view(sb),
            networks: sandbox_networks(view),
        },
    }
}

/// `ps` row of a sandbox.
pub fn sandbox_summary(view: &SandboxView) -> ContainerSummary {
    let sb = &view.sandbox;
    let now = now_secs();
    let since = |t: &Option<ferry_types::time::Timestamp>| {
        t.map(|s| human_duration(now - s.secs()))
            .unwrap_or_default()
    };
    let status = match sb.state.status {
        Status::Created => "Created".to_string(),
        Status::Running => format!("Up {}", since(&sb.state.started_at)),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            sb.state.exit_code.unwrap_or(0),
            since(&sb.state.finished_at)
        ),
    };
    ContainerSummary {
        id: sb.id.to_string(),
        names: vec![format!("/{}", sb.name)],
        image: String::new(),
        command: sb.config.cmd.join(" "),
        created: sb.created.secs(),
        state: sb.state.status.as_str().into(),
        status,
        ports: sb
            .ports
            .iter()
            .map(|p| SummaryPort {
                ip: p.host_ip.to_string(),
                private_port: p.container.port,
                public_port: Some(p.host_port),
                kind: p.container.proto.as_str().into(),
            })
            .collect(),
        network_settings: SummaryNetworkSettings {
            networks: sandbox_networks(view),
        },
        labels: sb.config.labels.clone(),
    }
}

/// `NetworkSettings.Ports`: every declared or requested sandbox port, with its host
/// bindings while the sandbox runs (`null` when it has none).
pub fn ports_view(sb: &Sandbox) -> BTreeMap<String, Option<Vec<PortBinding>>> {
    let mut out: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for k in sb
        .config
        .exposed
        .iter()
        .chain(sb.config.ports.iter().map(|p| &p.container))
    {
        out.insert(k.to_string(), None);
    }
    for p in &sb.ports {
        out.entry(p.container.to_string())
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.to_string(),
                host_port: p.host_port.to_string(),
            });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::views::MemberView;
    use ferry_types::{Network, NetworkId};
    use serde_json::json;

    fn id(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn network(c: char, name: &str, builtin: bool) -> Network {
        serde_json::from_value(json!({
            "id": id(c),
            "name": name,
            "driver": "bridge",
            "created": "2024-05-01T10:00:00Z",
            "enable_ipv6": false,
            "internal": false,
            "attachable": false,
            "subnets": [{"subnet": "172.18.0.0/16", "ip_range": null, "gateway": "172.18.0.1"}],
            "user_subnets": true,
            "options": {},
            "labels": {"env": "prod"},
            "builtin": builtin
        }))
        .unwrap()
    }

    /// A running sandbox `web` on network `b` (alias `www`), with port 80 published and 53/udp
    /// exposed.
    fn sandbox(mode: serde_json::Value) -> Sandbox {
        serde_json::from_value(json!({
            "id": id('a'),
            "name": "web",
            "created": "2024-05-01T10:00:00Z",
            "config": {
                "cmd": ["sleep", "infinity"],
                "workdir": null,
                "hostname": "box",
                "network_mode": mode,
                "attachments": [{
                    "network_id": id('b'),
                    "aliases": ["www"],
                    "ipv4": null,
                    "ipv6": null,
                    "mac": null
                }],
                "exposed": [{"port": 53, "proto": "udp"}]
            },
            "state": {
                "status": "running",
                "pid": 4242,
                "start_ticks": 99,
                "started_at": "2024-05-01T10:00:01Z",
                "finished_at": null,
                "exit_code": null
            },
            "netns": "/proc/4242/ns/net",
            "endpoints": [{
                "id": id('d'),
                "network_id": id('b'),
                "ifname": "eth0",
                "mac": "02:42:ac:12:00:05",
                "ipv4": "172.18.0.5/16",
                "ipv6": null,
                "gateway4": "172.18.0.1",
                "gateway6": null
            }],
            "ports": [{
                "container": {"port": 80, "proto": "tcp"},
                "host_ip": "0.0.0.0",
                "host_port": 8080,
                "target": "172.18.0.5"
            }]
        }))
        .unwrap()
    }

    fn view(sb: Sandbox, networks: &[&Network]) -> SandboxView {
        SandboxView {
            sandbox: sb,
            dir: "/var/lib/ferry/sandboxes/x".into(),
            networks: networks.iter().map(|n| NetworkRef::from(*n)).collect(),
        }
    }

    #[test]
    fn a_network_shows_its_members_by_sandbox_id() {
        let sb = sandbox(json!({"mode": "networks"}));
        let v = NetworkView {
            scope: ferry_types::SCOPE_LOCAL,
            network: network('b', "appnet", false),
            members: vec![MemberView {
                sandbox_id: sb.id.clone(),
                sandbox_name: sb.name.clone(),
                endpoint: sb.endpoints[0].clone(),
            }],
        };
        let out = serde_json::to_value(network_inspect(&v)).unwrap();
        assert_eq!(out["Id"], json!(id('b')));
        assert_eq!(out["EnableIPv4"], json!(true));
        assert_eq!(out["IPAM"]["Config"][0]["Gateway"], json!("172.18.0.1"));
        assert_eq!(
            out["Containers"][id('a')],
            json!({
                "Name": "web",
                "EndpointID": id('d'),
                "MacAddress": "02:42:ac:12:00:05",
                "IPv4Address": "172.18.0.5/16",
                "IPv6Address": ""
            })
        );
        assert_eq!(out["Labels"], json!({"env": "prod"}));
    }

    #[test]
    fn a_sandbox_shows_its_endpoints_by_network_name() {
        let net = network('b', "appnet", false);
        let v = view(sandbox(json!({"mode": "networks"})), &[&net]);
        let out = serde_json::to_value(sandbox_inspect(&v)).unwrap();
        assert_eq!(out["Name"], json!("/web"));
        assert_eq!(out["Path"], json!("sleep"));
        assert_eq!(out["State"]["Pid"], json!(4242));
        assert_eq!(out["State"]["FinishedAt"], json!(ZERO_TIME));
        assert_eq!(out["HostConfig"]["NetworkMode"], json!("appnet"));
        assert_eq!(out["HostConfig"]["IpcMode"], json!("private"));
        assert_eq!(out["HostsPath"], json!("/var/lib/ferry/sandboxes/x/hosts"));
        let ep = &out["NetworkSettings"]["Networks"]["appnet"];
        assert_eq!(ep["NetworkID"], json!(id('b')));
        assert_eq!(ep["EndpointID"], json!(id('d')));
        assert_eq!(ep["IPAddress"], json!("172.18.0.5"));
        assert_eq!(ep["IPPrefixLen"], json!(16));
        assert_eq!(ep["Gateway"], json!("172.18.0.1"));
        assert_eq!(ep["DNSNames"], json!(["web", "www", "aaaaaaaaaaaa", "box"]));
        assert_eq!(
            out["NetworkSettings"]["Ports"],
            json!({"53/udp": null, "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]})
        );
        let row = serde_json::to_value(sandbox_summary(&v)).unwrap();
        assert_eq!(row["Names"], json!(["/web"]));
        assert_eq!(row["Command"], json!("sleep infinity"));
        assert_eq!(row["State"], json!("running"));
        assert_eq!(
            row["Ports"],
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])
        );
        assert!(row["Status"].as_str().unwrap().starts_with("Up "));
    }

    #[test]
    fn a_stopped_sandbox_shows_what_it_asked_for() {
        let mut sb = sandbox(json!({"mode": "networks"}));
        sb.endpoints.clear();
        sb.config.attachments[0].mac = "02:42:0a:00:00:09".parse().ok();
        // Its network is gone: the entry is named by the ID it had.
        let v = view(sb, &[]);
        let out = sandbox_networks(&v);
        let ep = &out[&id('b')];
        assert_eq!(ep.mac_address, "02:42:0a:00:00:09");
        assert_eq!(ep.endpoint_id, "");
        assert_eq!(ep.ip_address, "");
        // DNS names are shown only on user-defined networks, which a gone one is not known as.
        assert!(ep.dns_names.is_empty());
        assert_eq!(network_mode_string(&v), "bridge");
    }

    #[test]
    fn host_and_container_modes() {
        let host = network('h', "host", true);
        let v = view(sandbox(json!({"mode": "host"})), &[&host]);
        let out = sandbox_networks(&v);
        assert_eq!(out.len(), 1);
        assert_eq!(out["host"].network_id, id('h'));
        assert!(out["host"].dns_names.is_empty());
        assert_eq!(network_mode_string(&v), "host");

        let owner = NetworkId::new(id('c'));
        let v = view(
            sandbox(json!({"mode": "container", "target": owner.as_str()})),
            &[],
        );
        assert!(sandbox_networks(&v).is_empty());
        assert_eq!(network_mode_string(&v), format!("container:{}", id('c')));
    }
}

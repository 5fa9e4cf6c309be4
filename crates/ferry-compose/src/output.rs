//! `ferry compose config`: the project printed back in Compose's normalised long syntax.

use crate::model::{user_labels, Project, ProjectNetwork, ProjectService};
use ferry_types::security::parse_bind;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Doc<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    networks: BTreeMap<&'a str, Net<'a>>,
    services: BTreeMap<&'a str, Svc<'a>>,
}

#[derive(Serialize)]
struct Net<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipam: Option<Ipam>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    internal: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    attachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Ipam {
    #[serde(skip_serializing_if = "String::is_empty")]
    driver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    config: Vec<IpamEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct IpamEntry {
    subnet: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    gateway: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    aux_addresses: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Svc<'a> {
    #[serde(skip_serializing_if = "empty")]
    entrypoint: &'a [String],
    #[serde(skip_serializing_if = "empty")]
    command: &'a [String],
    #[serde(skip_serializing_if = "empty")]
    cap_add: &'a [String],
    #[serde(skip_serializing_if = "empty")]
    cap_drop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    container_name: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<&'a str, Dep>,
    deploy: Deploy,
    #[serde(skip_serializing_if = "empty")]
    dns: &'a [String],
    #[serde(skip_serializing_if = "empty")]
    dns_opt: &'a [String],
    #[serde(skip_serializing_if = "empty")]
    dns_search: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    domainname: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expose: Vec<String>,
    #[serde(skip_serializing_if = "empty")]
    extra_hosts: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    hostname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipc: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "empty")]
    links: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    networks: BTreeMap<&'a str, Option<Attach<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<Port>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    privileged: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
    #[serde(skip_serializing_if = "empty")]
    security_opt: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    user: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "str::is_empty")]
    working_dir: &'a str,
    #[serde(rename = "x-ferry-rootfs", skip_serializing_if = "str::is_empty")]
    rootfs: &'a str,
}

/// A bind mount in the long syntax.
#[derive(Serialize)]
struct Mount {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

#[derive(Serialize)]
struct Dep {
    condition: &'static str,
    required: bool,
    restart: bool,
}

#[derive(Serialize)]
struct Deploy {
    endpoint_mode: &'static str,
    replicas: u32,
}

#[derive(Serialize)]
struct Attach<'a> {
    #[serde(skip_serializing_if = "empty")]
    aliases: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_address: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    priority: i64,
    #[serde(skip_serializing_if = "is_zero")]
    gw_priority: i64,
}

fn empty(v: &&[String]) -> bool {
    v.is_empty()
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Serialize)]
struct Port {
    mode: &'static str,
    target: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_ip: Option<String>,
    protocol: &'static str,
}

fn net(n: &ProjectNetwork) -> Net<'_> {
    let c = n.create.as_ref();
    Net {
        name: &n.name,
        external: n.external,
        driver: c.map(|c| c.driver.as_str()),
        driver_opts: c.map(|c| c.options.clone()).unwrap_or_default(),
        ipam: c.and_then(|c| c.ipam.as_ref()).map(|i| Ipam {
            driver: i.driver.clone(),
            config: i
                .config
                .iter()
                .map(|e| IpamEntry {
                    subnet: e.subnet.clone(),
                    ip_range: e.ip_range.clone(),
                    gateway: e.gateway.clone(),
                    aux_addresses: e.auxiliary_addresses.clone(),
                })
                .collect(),
            options: i.options.clone(),
        }),
        internal: c.is_some_and(|c| c.internal),
        attachable: c.is_some_and(|c| c.attachable),
        enable_ipv6: c.and_then(|c| c.enable_ipv6),
        labels: c.map(|c| user_labels(&c.labels)).unwrap_or_default(),
    }
}

fn svc(s: &ProjectService) -> Svc<'_> {
    let sb = &s.sandbox;
    let sec = &sb.security;
    Svc {
        entrypoint: &s.entrypoint,
        command: &s.command,
        cap_add: &sec.cap_add,
        cap_drop: &sec.cap_drop,
        container_name: s.container_name.as_deref(),
        depends_on: s
            .depends_on
            .iter()
            .map(|d| {
                (
                    d.service.as_str(),
                    Dep {
                        condition: d.condition.as_str(),
                        required: d.required,
                        restart: d.restart,
                    },
                )
            })
            .collect(),
        deploy: Deploy {
            endpoint_mode: s.endpoint_mode.as_str(),
            replicas: s.replicas,
        },
        dns: &sb.dns,
        dns_opt: &sb.dns_options,
        dns_search: &sb.dns_search,
        domainname: &sb.domainname,
        environment: sb
            .env
            .iter()
            .map(|e| e.split_once('=').unwrap_or((e.as_str(), "")))
            .collect(),
        expose: s.expose.iter().map(|k| k.to_string()).collect(),
        extra_hosts: &sb.extra_hosts,
        hostname: &sb.hostname,
        image: s.image.as_deref(),
        init: sec.init,
        ipc: s.ipc.as_ref().map(|m| m.to_compose()),
        labels: user_labels(&sb.labels),
        links: &sb.links,
        network_mode: s.network_mode.as_ref().map(|m| m.to_compose()),
        networks: s
            .networks
            .iter()
            .map(|n| {
                let plain = n.aliases.is_empty()
                    && n.ipv4_address.is_none()
                    && n.ipv6_address.is_none()
                    && n.mac_address.is_none()
                    && n.priority == 0
                    && n.gw_priority == 0;
                let attach = (!plain).then(|| Attach {
                    aliases: &n.aliases,
                    ipv4_address: n.ipv4_address.as_deref(),
                    ipv6_address: n.ipv6_address.as_deref(),
                    mac_address: n.mac_address.as_deref(),
                    priority: n.priority,
                    gw_priority: n.gw_priority,
                });
                (n.key.as_str(), attach)
            })
            .collect(),
        ports: s
            .ports
            .iter()
            .map(|p| Port {
                mode: p.mode.as_str(),
                target: p.request.container.port,
                published: p.request.host_ports.map(|r| r.to_string()),
                host_ip: p.request.host_ip.map(|a| a.to_string()),
                protocol: p.request.container.proto.as_str(),
            })
            .collect(),
        pid: s.pid.as_ref().map(|m| m.to_compose()),
        privileged: sec.privileged,
        read_only: sec.readonly_rootfs,
        security_opt: &s.security_opt,
        user: &sec.user,
        // The plan made these specs, so they parse.
        volumes: sec
            .binds
            .iter()
            .filter_map(|b| parse_bind(b).ok())
            .map(|b| Mount {
                kind: "bind",
                source: b.source,
                target: b.target,
                read_only: b.read_only,
            })
            .collect(),
        working_dir: &sb.working_dir,
        rootfs: &sb.rootfs,
    }
}

fn doc(p: &Project) -> Doc<'_> {
    Doc {
        name: &p.name,
        networks: p
            .networks
            .iter()
            .map(|n| (n.key.as_str(), net(n)))
            .collect(),
        services: p
            .services
            .iter()
            .map(|s| (s.name.as_str(), svc(s)))
            .collect(),
    }
}

/// The project as Compose-style YAML.
pub(crate) fn to_yaml(p: &Project) -> String {
    // The document holds only strings, numbers, booleans, lists and string-keyed maps, which
    // YAML always represents; JSON (a subset of YAML) is the fallback all the same.
    serde_saphyr::to_string(&doc(p)).unwrap_or_else(|_| to_json(p))
}

/// The project as JSON.
pub(crate) fn to_json(p: &Project) -> String {
    serde_json::to_string_pretty(&doc(p)).unwrap_or_default()
}

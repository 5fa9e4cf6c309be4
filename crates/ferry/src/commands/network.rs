//! `ferry network …`.

use crate::output;
use clap::{Args, Subcommand};
use ferry_client::{Client, Filters};
use ferry_types::api::{
    EndpointIpamConfig, EndpointSettingsRequest, Ipam, IpamConfig, NetworkAttachRequest,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDetachRequest, NetworkDisconnectRequest,
};
use std::io::BufRead;

/// Network subcommands.
#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks in detail (JSON).
    Inspect {
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks.
    #[command(alias = "remove")]
    Rm {
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Filters (label=K[=V]).
        #[arg(long = "filter")]
        filter: Vec<String>,
    },
    /// Connect a sandbox to a network.
    Connect(ConnectArgs),
    /// Attach a network namespace ferry did not make (another runtime's container) to a
    /// network, keyed by the caller's ID for it.
    Attach(AttachArgs),
    /// Detach such a container from a network (detaching what is not attached succeeds).
    Detach {
        /// The caller's ID for the container, as attached.
        #[arg(long)]
        id: String,
        /// Network.
        network: String,
    },
    /// Disconnect a sandbox from a network.
    Disconnect {
        /// Disconnect even if not running.
        #[arg(short, long)]
        force: bool,
        /// Network.
        network: String,
        /// Sandbox.
        sandbox: String,
    },
}

/// `network create` flags, as docker's.
#[derive(Args)]
pub struct CreateArgs {
    /// Driver.
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR form (repeatable: IPv4 and IPv6).
    #[arg(long)]
    subnet: Vec<String>,
    /// Allocate addresses from a sub-range (one per subnet, in order).
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Gateway (one per subnet, in order).
    #[arg(long)]
    gateway: Vec<String>,
    /// Reserved addresses, NAME=IP.
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// Enable IPv6.
    #[arg(long)]
    ipv6: bool,
    /// No external access.
    #[arg(long)]
    internal: bool,
    /// Allow manual attachment.
    #[arg(long)]
    attachable: bool,
    /// The swarm's routing-mesh network (overlay; one per swarm; `swarm init` makes one).
    #[arg(long)]
    ingress: bool,
    /// Who sees the network: local or swarm (the driver's own scope when unset).
    #[arg(long)]
    scope: Option<String>,
    /// Labels, KEY=VALUE.
    #[arg(long)]
    label: Vec<String>,
    /// Driver options, KEY=VALUE.
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Network name.
    name: String,
}

/// `network ls` flags.
#[derive(Args)]
pub struct LsArgs {
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Full IDs.
    #[arg(long)]
    no_trunc: bool,
    /// Filters: name=, driver=, label=, id=, type=custom|builtin.
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Output format: table (default) or json.
    #[arg(long)]
    format: Option<String>,
}

/// `network connect` flags.
#[derive(Args)]
pub struct ConnectArgs {
    /// DNS aliases on this network.
    #[arg(long)]
    alias: Vec<String>,
    /// Static IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// Static IPv6 address.
    #[arg(long)]
    ip6: Option<String>,
    /// Network.
    network: String,
    /// Sandbox.
    sandbox: String,
}

/// `network attach` flags.
#[derive(Args)]
pub struct AttachArgs {
    /// Path of the network namespace (/run/netns/NAME, /proc/PID/ns/net).
    #[arg(long)]
    netns: String,
    /// The caller's ID for the container (ferry's record takes it as its name).
    #[arg(long)]
    id: String,
    /// Interface name inside the namespace (default: the first free ethN).
    #[arg(long)]
    ifname: Option<String>,
    /// DNS aliases on this network.
    #[arg(long)]
    alias: Vec<String>,
    /// Static IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// Static IPv6 address.
    #[arg(long)]
    ip6: Option<String>,
    /// Static MAC address.
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Publish a port, [IP:][HOST:]CONTAINER[/PROTO] (first attach of an ID only).
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Network.
    network: String,
}

/// Splits `KEY=VALUE`.
pub fn key_value(what: &str, s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => anyhow::bail!("invalid {what} {s:?}: expected KEY=VALUE"),
    }
}

/// Builds the IPAM config from docker's flags: ranges, gateways and aux addresses attach to the
/// subnet that contains them.
fn ipam(a: &CreateArgs) -> anyhow::Result<Option<Ipam>> {
    if a.subnet.is_empty() {
        if !a.ip_range.is_empty() || !a.gateway.is_empty() || !a.aux_address.is_empty() {
            anyhow::bail!("--ip-range, --gateway and --aux-address need a --subnet");
        }
        return Ok(None);
    }
    let mut config: Vec<IpamConfig> = a
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        })
        .collect();
    let find = |cfgs: &[IpamConfig], addr: &str| -> anyhow::Result<usize> {
        let ip: std::net::IpAddr = addr
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid address {addr:?}"))?;
        cfgs.iter()
            .position(|c| {
                c.subnet
                    .parse::<ipnet::IpNet>()
                    .is_ok_and(|n| n.contains(&ip))
            })
            .ok_or_else(|| anyhow::anyhow!("{addr} is not inside any --subnet given"))
    };
    for r in &a.ip_range {
        let i = find(&config, r)?;
        if !config[i].ip_range.is_empty() {
            anyhow::bail!("subnet {} has more than one --ip-range", config[i].subnet);
        }
        config[i].ip_range = r.clone();
    }
    for g in &a.gateway {
        let i = find(&config, g)?;
        if !config[i].gateway.is_empty() {
            anyhow::bail!("subnet {} has more than one --gateway", config[i].subnet);
        }
        config[i].gateway = g.clone();
    }
    for x in &a.aux_address {
        let (k, v) = key_value("--aux-address", x)?;
        let i = find(&config, &v)?;
        config[i].auxiliary_addresses.insert(k, v);
    }
    Ok(Some(Ipam {
        driver: "default".into(),
        config,
        options: None,
    }))
}

/// The filters of `--filter k=v` flags.
pub fn filters(list: &[String]) -> anyhow::Result<Filters> {
    let mut filters = Filters::new();
    for f in list {
        let (k, v) = key_value("--filter", f)?;
        filters.add(k, v);
    }
    Ok(filters)
}

/// Runs a network subcommand.
pub async fn run(c: &Client, cmd: NetworkCmd) -> anyhow::Result<i32> {
    match cmd {
        NetworkCmd::Create(a) => {
            let req = NetworkCreateRequest {
                name: a.name.clone(),
                driver: a.driver.clone(),
                internal: a.internal,
                attachable: a.attachable,
                ingress: a.ingress,
                scope: a.scope.clone().unwrap_or_default(),
                ipam: ipam(&a)?,
                enable_ipv6: a.ipv6.then_some(true),
                options: a
                    .opt
                    .iter()
                    // Docker takes a bare `--opt KEY` (such as `encrypted`) as an empty value.
                    .map(|o| match o.split_once('=') {
                        None if !o.is_empty() => Ok((o.clone(), String::new())),
                        _ => key_value("-o", o),
                    })
                    .collect::<anyhow::Result<_>>()?,
                labels: super::parse_labels(&a.label)?,
                ..Default::default()
            };
            let r = c.network_create(&req).await?;
            println!("{}", r.id);
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let nets = c.network_list(&filters(&a.filter)?).await?;
            if a.quiet {
                for n in &nets {
                    println!("{}", output::id(&n.id, a.no_trunc));
                }
                return Ok(0);
            }
            match a.format.as_deref() {
                Some("json") | Some("{{json .}}") => {
                    for n in &nets {
                        let v = serde_json::json!({
                            "ID": output::id(&n.id, a.no_trunc),
                            "Name": n.name,
                            "Driver": n.driver,
                            "Scope": n.scope,
                            "IPv6": n.enable_ipv6.to_string(),
                            "Internal": n.internal.to_string(),
                            "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                            "CreatedAt": n.created,
                        });
                        println!("{v}");
                    }
                }
                None | Some("table") => {
                    let rows: Vec<Vec<String>> = nets
                        .iter()
                        .map(|n| {
                            vec![
                                output::id(&n.id, a.no_trunc),
                                n.name.clone(),
                                n.driver.clone(),
                                n.scope.clone(),
                            ]
                        })
                        .collect();
                    output::table(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)?;
                }
                Some(f) => anyhow::bail!("unsupported --format {f:?}: use table or json"),
            }
            Ok(0)
        }
        NetworkCmd::Inspect { names } => {
            output::inspect_all(&names, async |n| c.network_inspect_raw(n).await).await
        }
        NetworkCmd::Rm { names } => {
            let mut code = 0;
            for n in names {
                match c.network_remove(&n).await {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        output::error(e);
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        NetworkCmd::Prune { force, filter } => {
            if !force {
                eprint!("WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] ");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    return Ok(0);
                }
            }
            let r = c.network_prune(&filters(&filter)?).await?;
            if !r.networks_deleted.is_empty() {
                println!("Deleted Networks:");
                for n in r.networks_deleted {
                    println!("{n}");
                }
            }
            Ok(0)
        }
        NetworkCmd::Connect(a) => {
            let req = NetworkConnectRequest {
                container: a.sandbox,
                endpoint_config: Some(EndpointSettingsRequest {
                    ipam_config: (a.ip.is_some() || a.ip6.is_some()).then_some(
                        EndpointIpamConfig {
                            ipv4_address: a.ip,
                            ipv6_address: a.ip6,
                        },
                    ),
                    aliases: (!a.alias.is_empty()).then_some(a.alias),
                    mac_address: None,
                }),
            };
            c.network_connect(&a.network, &req).await?;
            Ok(0)
        }
        NetworkCmd::Attach(a) => {
            let mut publish = Vec::new();
            for spec in &a.publish {
                publish.extend(ferry_types::ports::parse_publish(spec)?);
            }
            let req = NetworkAttachRequest {
                netns: a.netns,
                id: a.id,
                ifname: a.ifname.unwrap_or_default(),
                aliases: a.alias,
                ipv4_address: a.ip.unwrap_or_default(),
                ipv6_address: a.ip6.unwrap_or_default(),
                mac_address: a.mac_address.unwrap_or_default(),
                port_bindings: ferry_types::ports::to_bindings(&publish),
                caller_holds_ports: false,
                labels: Default::default(),
            };
            let r = c.network_attach(&a.network, &req).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(0)
        }
        NetworkCmd::Detach { id, network } => {
            c.network_detach(&network, &NetworkDetachRequest { id })
                .await?;
            Ok(0)
        }
        NetworkCmd::Disconnect {
            force,
            network,
            sandbox,
        } => {
            let req = NetworkDisconnectRequest {
                container: sandbox,
                force,
            };
            c.network_disconnect(&network, &req).await?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_docker_json() {
        let f = filters(&["name=web".into(), "label=env=prod".into()]).unwrap();
        assert_eq!(
            f.to_json(),
            r#"{"label":{"env=prod":true},"name":{"web":true}}"#
        );
        assert!(filters(&["nokey".into()]).is_err());
    }
}

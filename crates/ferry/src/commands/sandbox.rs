//! `ferry run`, `ps`, `logs`, `stop`, `start`, `restart`, `rm`, `inspect`.

use super::network::key_value;
use crate::output;
use clap::Args;
use ferry_client::{Client, ClientError, Filters, LogStream, LogsOptions, WaitCondition};
use ferry_types::api::{NetworkRequest, SandboxCreateRequest};
use ferry_types::docker::ContainerSummary;
use ferry_types::ports;
use std::io::Write;
use std::time::Duration;

/// `ferry run` flags, as docker's (`-h` is the host name, as in docker; help is `--help`).
#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run in the background and print the sandbox ID.
    #[arg(short, long)]
    detach: bool,
    /// Sandbox name.
    #[arg(long)]
    name: Option<String>,
    /// Network to connect to (repeatable): a network, bridge, host, none or container:NAME;
    /// or the long form name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC.
    #[arg(long = "network", alias = "net")]
    network: Vec<String>,
    /// DNS alias on the first network (repeatable).
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// Static IPv4 address on the first network.
    #[arg(long)]
    ip: Option<String>,
    /// Static IPv6 address on the first network.
    #[arg(long)]
    ip6: Option<String>,
    /// Static MAC address on the first network.
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Domain name.
    #[arg(long)]
    domainname: Option<String>,
    /// Environment variables, KEY=VALUE (KEY alone takes this shell's value).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Files of environment variables.
    #[arg(long = "env-file")]
    env_file: Vec<std::path::PathBuf>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Extra /etc/hosts entries, NAME:IP (IP may be host-gateway).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// DNS search domains.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// resolv.conf options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Root filesystem directory to run the command in.
    #[arg(long)]
    rootfs: Option<String>,
    /// Remove the sandbox when its command exits.
    #[arg(long)]
    rm: bool,
    /// Publish a sandbox port (repeatable):
    /// [HOST_IP:][HOST_PORT[-END]:]PORT[-END][/tcp|/udp|/sctp], IPv6 host addresses in brackets.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish every exposed port on an ephemeral host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Declare a port the sandbox listens on, PORT[-END][/PROTO] (published by -P).
    #[arg(long)]
    expose: Vec<String>,
    /// Add a link to another sandbox, NAME[:ALIAS] (written into /etc/hosts).
    #[arg(long)]
    link: Vec<String>,
    /// Set a label, KEY=VALUE (repeatable).
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    #[command(flatten)]
    security: crate::commands::security::SecurityArgs,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// `ps` flags.
#[derive(Args)]
pub struct PsArgs {
    /// All sandboxes, not just running ones.
    #[arg(short, long)]
    all: bool,
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Full IDs and commands.
    #[arg(long)]
    no_trunc: bool,
    /// Output format: table (default) or json.
    #[arg(long)]
    format: Option<String>,
}

/// `logs` flags.
#[derive(Args)]
pub struct LogsArgs {
    /// Keep following the output.
    #[arg(short, long)]
    follow: bool,
    /// Sandbox.
    name: String,
}

/// `stop` / `restart` flags.
#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    time: u64,
    /// Sandboxes.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `rm` flags.
#[derive(Args)]
pub struct RmArgs {
    /// Kill a running sandbox first.
    #[arg(short, long)]
    force: bool,
    /// Sandboxes.
    #[arg(required = true)]
    names: Vec<String>,
}

/// Parses one `--network` value (short or long form).
pub fn network_request(s: &str) -> anyhow::Result<NetworkRequest> {
    if !s.contains('=') {
        return Ok(NetworkRequest {
            name: s.to_string(),
            ..Default::default()
        });
    }
    let mut r = NetworkRequest::default();
    for part in s.split(',') {
        let (k, v) = key_value("--network", part)?;
        match k.as_str() {
            "name" => r.name = v,
            "alias" => r.aliases.push(v),
            "ip" => r.ipv4_address = Some(v),
            "ip6" => r.ipv6_address = Some(v),
            "mac-address" => r.mac_address = Some(v),
            other => anyhow::bail!(
                "unknown --network option {other:?}: use name, alias, ip, ip6, mac-address"
            ),
        }
    }
    if r.name.is_empty() {
        anyhow::bail!("--network {s:?} has no name=");
    }
    Ok(r)
}

fn env_list(a: &RunArgs) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut push = |e: &str| {
        if e.contains('=') {
            out.push(e.to_string());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    };
    for f in &a.env_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("--env-file {}: {e}", f.display()))?;
        for line in text.lines() {
            let l = line.trim();
            if !l.is_empty() && !l.starts_with('#') {
                push(l);
            }
        }
    }
    for e in &a.env {
        push(e);
    }
    Ok(out)
}

/// Builds the create request from `run` flags.
pub fn create_request(a: &RunArgs) -> anyhow::Result<SandboxCreateRequest> {
    let mut networks = a
        .network
        .iter()
        .map(|n| network_request(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let wants_first =
        !a.network_alias.is_empty() || a.ip.is_some() || a.ip6.is_some() || a.mac_address.is_some();
    if wants_first {
        if networks.is_empty() {
            networks.push(NetworkRequest {
                name: ferry_types::DEFAULT_BRIDGE.into(),
                ..Default::default()
            });
        }
        let first = &mut networks[0];
        first.aliases.extend(a.network_alias.iter().cloned());
        first.ipv4_address = a.ip.clone().or(first.ipv4_address.take());
        first.ipv6_address = a.ip6.clone().or(first.ipv6_address.take());
        first.mac_address = a.mac_address.clone().or(first.mac_address.take());
    }
    let mut publish = Vec::new();
    for spec in &a.publish {
        publish.extend(ports::parse_publish(spec)?);
    }
    let mut exposed_ports = std::collections::BTreeMap::new();
    for spec in &a.expose {
        for k in ports::parse_expose(spec)? {
            exposed_ports.insert(k.to_string(), serde_json::json!({}));
        }
    }
    Ok(SandboxCreateRequest {
        name: a.name.clone().unwrap_or_default(),
        cmd: a.cmd.clone(),
        env: env_list(a)?,
        working_dir: a.workdir.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone().unwrap_or_default(),
        rootfs: a.rootfs.clone().unwrap_or_default(),
        networks,
        extra_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        auto_remove: a.rm,
        tty: false,
        open_stdin: false,
        console_size: None,
        port_bindings: ports::to_bindings(&publish),
        exposed_ports,
        publish_all_ports: a.publish_all,
        labels: crate::commands::parse_labels(&a.label)?,
        links: a.link.clone(),
        security: a.security.request()?,
    })
}

async fn copy_logs(mut logs: LogStream) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    while let Some(data) = logs.chunk().await? {
        out.write_all(&data)?;
        out.flush()?;
    }
    Ok(())
}

/// `ferry run`.
pub async fn run(c: &Client, a: RunArgs) -> anyhow::Result<i32> {
    let req = create_request(&a)?;
    if a.detach {
        // One request: the daemon creates and starts it (and removes it with --rm if the
        // start fails).
        let run = c.sandbox_run(&req).await?;
        if !run.warning.is_empty() {
            eprintln!("WARNING: {}", run.warning);
        }
        println!("{}", run.id);
        return Ok(0);
    }
    let created = c.sandbox_create(&req).await?;
    if !created.warning.is_empty() {
        eprintln!("WARNING: {}", created.warning);
    }
    let id = created.id;
    // Wait is registered before start, so even an instant exit is seen.
    let waiter = c.sandbox_wait(&id, WaitCondition::NextExit).await?;
    let logs = c
        .sandbox_logs(
            &id,
            LogsOptions {
                follow: true,
                next_exit: true,
            },
        )
        .await?;
    if let Err(e) = c.sandbox_start(&id).await {
        if a.rm {
            let _ = c.sandbox_remove(&id, true).await;
        }
        return Err(e.into());
    }
    copy_logs(logs).await?;
    let w = waiter.exit().await?;
    if let Some(err) = w.error {
        eprintln!("{}", err.message);
    }
    Ok(w.status_code as i32)
}

/// `ferry ps`.
pub async fn ps(c: &Client, a: PsArgs) -> anyhow::Result<i32> {
    let list = c.sandbox_list(a.all, &Filters::new()).await?;
    if a.quiet {
        for s in &list {
            println!("{}", output::id(&s.id, a.no_trunc));
        }
        return Ok(0);
    }
    match a.format.as_deref() {
        Some("json") | Some("{{json .}}") => {
            for s in &list {
                println!("{}", serde_json::to_string(s)?);
            }
        }
        None | Some("table") => {
            let now = ferry_types::time::now_secs();
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    let mut cmd = format!("\"{}\"", s.command);
                    if !a.no_trunc && cmd.len() > 22 {
                        cmd = format!(
                            "{}…\"",
                            &cmd[..cmd
                                .char_indices()
                                .nth(20)
                                .map(|(i, _)| i)
                                .unwrap_or(cmd.len())]
                        );
                    }
                    vec![
                        output::id(&s.id, a.no_trunc),
                        cmd,
                        format!("{} ago", ferry_types::time::human_duration(now - s.created)),
                        s.status.clone(),
                        summary_ports(s),
                        s.network_settings
                            .networks
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(","),
                        s.names
                            .iter()
                            .map(|n| n.trim_start_matches('/'))
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            output::table(
                &[
                    "SANDBOX ID",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NETWORKS",
                    "NAMES",
                ],
                &rows,
            )?;
        }
        Some(f) => anyhow::bail!("unsupported --format {f:?}: use table or json"),
    }
    Ok(0)
}

/// `ferry logs`.
pub async fn logs(c: &Client, a: LogsArgs) -> anyhow::Result<i32> {
    let options = LogsOptions {
        follow: a.follow,
        next_exit: false,
    };
    copy_logs(c.sandbox_logs(&a.name, options).await?).await?;
    Ok(0)
}

async fn each(names: &[String], f: impl AsyncFn(&str) -> Result<(), ClientError>) -> i32 {
    let mut code = 0;
    for n in names {
        match f(n).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                output::error(e);
                code = 1;
            }
        }
    }
    code
}

/// `ferry stop`, or `ferry restart` with `restart`.
pub async fn stop(c: &Client, a: StopArgs, restart: bool) -> anyhow::Result<i32> {
    let timeout = Some(Duration::from_secs(a.time));
    Ok(each(&a.names, async |n| {
        if restart {
            c.sandbox_restart(n, timeout).await
        } else {
            c.sandbox_stop(n, timeout).await
        }
    })
    .await)
}

/// `ferry start`.
pub async fn start(c: &Client, names: Vec<String>) -> anyhow::Result<i32> {
    Ok(each(&names, async |n| c.sandbox_start(n).await).await)
}

/// `ferry rm`.
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<i32> {
    Ok(each(&a.names, async |n| c.sandbox_remove(n, a.force).await).await)
}

/// Docker's PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`.
pub(crate) fn summary_ports(s: &ContainerSummary) -> String {
    s.ports
        .iter()
        .map(|p| {
            let host = match (p.ip.as_str(), p.public_port) {
                (ip, Some(port)) if ip.contains(':') => format!("[{ip}]:{port}->"),
                (ip, Some(port)) => format!("{ip}:{port}->"),
                _ => String::new(),
            };
            format!("{host}{}/{}", p.private_port, p.kind)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ferry create`: records a sandbox without starting it and prints its ID.
pub async fn create(c: &Client, a: RunArgs) -> anyhow::Result<i32> {
    let req = create_request(&a)?;
    let created = c.sandbox_create(&req).await?;
    if !created.warning.is_empty() {
        eprintln!("WARNING: {}", created.warning);
    }
    println!("{}", created.id);
    Ok(0)
}

/// `ferry port SANDBOX [PORT[/PROTO]]`: the host bindings of a sandbox's published ports.
pub async fn port(c: &Client, name: &str, filter: Option<&str>) -> anyhow::Result<i32> {
    let info = c.sandbox_inspect(name).await?;
    let want = filter.map(ports::PortKey::parse).transpose()?;
    let mut found = false;
    for (key, bindings) in &info.network_settings.ports {
        let k = ports::PortKey::parse(key)?;
        if want.is_some_and(|w| w != k) {
            continue;
        }
        for b in bindings.iter().flatten() {
            found = true;
            let host = if b.host_ip.contains(':') {
                format!("[{}]:{}", b.host_ip, b.host_port)
            } else {
                format!("{}:{}", b.host_ip, b.host_port)
            };
            if want.is_some() {
                println!("{host}");
            } else {
                println!("{k} -> {host}");
            }
        }
    }
    if let (Some(w), false) = (want, found) {
        anyhow::bail!(
            "no public port '{w}' published for {}",
            info.name.trim_start_matches('/')
        );
    }
    Ok(0)
}

/// `ferry inspect`.
pub async fn inspect(c: &Client, names: Vec<String>) -> anyhow::Result<i32> {
    output::inspect_all(&names, async |n| c.sandbox_inspect_raw(n).await).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_network_form() {
        let r = network_request("name=app,alias=web,ip=10.0.0.5").unwrap();
        assert_eq!(r.name, "app");
        assert_eq!(r.aliases, vec!["web"]);
        assert_eq!(r.ipv4_address.as_deref(), Some("10.0.0.5"));
        assert!(network_request("alias=x").is_err());
        assert!(network_request("name=a,colour=red").is_err());
        assert_eq!(
            network_request("container:web").unwrap().name,
            "container:web"
        );
    }
}

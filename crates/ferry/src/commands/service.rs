//! `ferry service`: replicated services with a VIP (or DNS round robin) and the routing mesh.

use crate::output;
use clap::{Args, Subcommand};
use ferry_client::Client;
use ferry_types::placement::{Constraint, Placement, Preference, ServiceMode};
use ferry_types::service::{
    FailureAction, ReplicaTemplate, ServiceCreateRequest, ServiceUpdateRequest, ServiceView,
    TaskView, UpdateConfig, UpdateConfigChange, UpdateOrder,
};
use ferry_types::time::parse_duration_ms;
use std::io::Write;

/// `ferry service` subcommands.
#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Create a service and start its replicas.
    Create(Box<CreateArgs>),
    /// List services.
    #[command(alias = "list")]
    Ls {
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List a service's replicas.
    Ps {
        /// Service name or ID.
        service: String,
    },
    /// Show services as JSON.
    Inspect {
        /// Services.
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Change replica counts: `service scale web=3 api=2`.
    Scale {
        /// SERVICE=REPLICAS pairs.
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Change a service's replicas or published ports.
    Update(Box<UpdateArgs>),
    /// Go back to a swarm service's spec before its last update.
    Rollback {
        /// Service name or ID.
        service: String,
    },
    /// Remove services and their replicas.
    #[command(alias = "remove")]
    Rm {
        /// Services.
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Print the output of every replica (on every node of a swarm), each line prefixed with
    /// the replica's name and node, as Docker does.
    Logs(LogsArgs),
}

/// `service logs` flags.
#[derive(Args)]
pub struct LogsArgs {
    /// Keep printing new output, of replicas that start later too.
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines of each replica (or all).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Prefix each line with when it was read (RFC 3339).
    #[arg(short, long)]
    timestamps: bool,
    /// Leave the task ID out of the prefix.
    #[arg(long = "no-task-ids")]
    no_task_ids: bool,
    /// Print task IDs whole.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Print the lines alone, without the prefix.
    #[arg(long)]
    raw: bool,
    /// Service name or ID.
    service: String,
}

/// How `service logs` prints a line.
#[derive(Debug, Clone, Copy, Default)]
struct LogFormat {
    timestamps: bool,
    no_task_ids: bool,
    no_trunc: bool,
    raw: bool,
    /// Digits of the replica count: shorter slots are padded to line the bars up (Docker's
    /// padding).
    pad: usize,
}

/// A line as `docker service logs` prints it: `[TIME ]NAME.SLOT.TASK@NODE    | text`.
fn format_log_line(l: &ferry_types::logs::ServiceLogLine, f: &LogFormat) -> String {
    let mut out = String::new();
    if f.timestamps {
        out.push_str(&l.time);
        out.push(' ');
    }
    if !f.raw {
        out.push_str(&format!("{}.{}", l.service, l.slot));
        if !f.no_task_ids && !l.task_id.is_empty() {
            out.push('.');
            out.push_str(if f.no_trunc {
                &l.task_id
            } else {
                l.task_id.get(..12).unwrap_or(&l.task_id)
            });
        }
        if !l.node.is_empty() {
            out.push('@');
            out.push_str(&l.node);
        }
        let digits = l.slot.to_string().len();
        out.push_str(&" ".repeat(f.pad.saturating_sub(digits)));
        out.push_str("    | ");
    }
    out.push_str(&l.line);
    out
}

async fn logs(c: &Client, a: LogsArgs) -> anyhow::Result<i32> {
    use ferry_types::logs::{ServiceLogEvent, ServiceLogOptions};
    let tail =
        match a.tail.as_str() {
            "all" | "" => None,
            n => Some(n.parse::<usize>().map_err(|_| {
                anyhow::anyhow!("invalid --tail {n:?}: give a number of lines or all")
            })?),
        };
    let replicas = c
        .service_inspect(&a.service)
        .await?
        .spec
        .mode
        .pointer("/Replicated/Replicas")
        .and_then(|r| r.as_u64())
        .unwrap_or(1);
    let f = LogFormat {
        timestamps: a.timestamps,
        no_task_ids: a.no_task_ids,
        no_trunc: a.no_trunc,
        raw: a.raw,
        pad: replicas.to_string().len(),
    };
    let mut stream = c
        .service_logs(
            &a.service,
            ServiceLogOptions {
                follow: a.follow,
                tail,
            },
        )
        .await?;
    let mut out = std::io::stdout();
    let mut code = 0;
    while let Some(e) = stream.next().await? {
        match e {
            ServiceLogEvent::Line(l) => writeln!(out, "{}", format_log_line(&l, &f))?,
            ServiceLogEvent::Unreachable { node, message } => {
                eprintln!("Error: the replicas on node {node} cannot be read: {message}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `service create` flags.
#[derive(Args)]
pub struct CreateArgs {
    /// Service name.
    #[arg(long)]
    name: String,
    /// Number of replicas.
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// Networks (repeatable; NAME or name=NAME,alias=A).
    #[arg(long)]
    network: Vec<String>,
    /// Publish a port: published=P,target=T[,protocol=udp][,mode=ingress|host] or P:T[/udp].
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// vip (a virtual IP per network, the default) or dnsrr (the name answers every replica).
    #[arg(long = "endpoint-mode", default_value = "vip")]
    endpoint_mode: String,
    /// Environment, KEY=VALUE.
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory of the replicas.
    #[arg(short, long)]
    workdir: Option<String>,
    /// DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// DNS search domains.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// resolv.conf options.
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Extra /etc/hosts entries, NAME:IP.
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Labels, KEY=VALUE.
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// replicated (a count of replicas) or global (one on every eligible node of the swarm).
    #[arg(long, default_value = "replicated")]
    mode: String,
    /// Where replicas may run (swarm): node.hostname==H, node.id==I, node.role==manager,
    /// node.labels.K==V, or != of any of them (repeatable, all must hold).
    #[arg(long)]
    constraint: Vec<String>,
    /// Spread replicas evenly over a node label's values (swarm): spread=node.labels.K.
    #[arg(long = "placement-pref")]
    placement_pref: Vec<String>,
    /// At most this many replicas on one node (swarm; 0: no limit).
    #[arg(long = "replicas-max-per-node", default_value_t = 0)]
    replicas_max_per_node: u32,
    #[command(flatten)]
    rollout: UpdateFlags,
    #[command(flatten)]
    security: super::security::SecurityArgs,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// `service update` flags.
#[derive(Args)]
pub struct UpdateArgs {
    /// New number of replicas.
    #[arg(long)]
    replicas: Option<u32>,
    /// Publish another port (same syntax as create).
    #[arg(long = "publish-add")]
    publish_add: Vec<String>,
    /// Stop publishing a port: P, P/udp, or the published=.. form.
    #[arg(long = "publish-rm")]
    publish_rm: Vec<String>,
    /// Set environment variables, KEY=VALUE (swarm).
    #[arg(long = "env-add")]
    env_add: Vec<String>,
    /// Remove environment variables, by name (swarm).
    #[arg(long = "env-rm")]
    env_rm: Vec<String>,
    /// New arguments of the program, as one shell-like string (swarm).
    #[arg(long, allow_hyphen_values = true)]
    args: Option<String>,
    /// Add a placement constraint (swarm).
    #[arg(long = "constraint-add")]
    constraint_add: Vec<String>,
    /// Remove a placement constraint (swarm).
    #[arg(long = "constraint-rm")]
    constraint_rm: Vec<String>,
    /// Add a placement preference (swarm).
    #[arg(long = "placement-pref-add")]
    placement_pref_add: Vec<String>,
    /// Remove a placement preference (swarm).
    #[arg(long = "placement-pref-rm")]
    placement_pref_rm: Vec<String>,
    /// A new limit of replicas per node, 0 for none (swarm).
    #[arg(long = "replicas-max-per-node")]
    replicas_max_per_node: Option<u32>,
    /// Attach the replicas to a network (swarm).
    #[arg(long = "network-add")]
    network_add: Vec<String>,
    /// Detach the replicas from a network (swarm).
    #[arg(long = "network-rm")]
    network_rm: Vec<String>,
    #[command(flatten)]
    rollout: UpdateFlags,
    /// Go back to the spec before the last update (swarm).
    #[arg(long)]
    rollback: bool,
    /// Replace every replica even if nothing changed (swarm).
    #[arg(long)]
    force: bool,
    /// Service name or ID.
    service: String,
}

/// How an update rolls out (`service create` and `update`).
#[derive(Args, Default)]
pub struct UpdateFlags {
    /// How many replicas are replaced at once (0: all).
    #[arg(long = "update-parallelism")]
    update_parallelism: Option<u32>,
    /// Time between two batches (e.g. 10s).
    #[arg(long = "update-delay")]
    update_delay: Option<String>,
    /// stop-first or start-first.
    #[arg(long = "update-order")]
    update_order: Option<String>,
    /// pause, continue or rollback when a new replica fails.
    #[arg(long = "update-failure-action")]
    update_failure_action: Option<String>,
    /// How long a new replica must run to count as started (e.g. 5s).
    #[arg(long = "update-monitor")]
    update_monitor: Option<String>,
}

impl UpdateFlags {
    /// The changes the flags ask for.
    fn change(&self) -> anyhow::Result<UpdateConfigChange> {
        Ok(UpdateConfigChange {
            parallelism: self.update_parallelism,
            delay_ms: self
                .update_delay
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?,
            order: self
                .update_order
                .as_deref()
                .map(UpdateOrder::parse)
                .transpose()?,
            failure_action: self
                .update_failure_action
                .as_deref()
                .map(FailureAction::parse)
                .transpose()?,
            monitor_ms: self
                .update_monitor
                .as_deref()
                .map(parse_duration_ms)
                .transpose()?,
        })
    }
}

/// Splits a string into words as a shell would (single and double quotes, backslash).
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// Parses `service scale` arguments.
fn scale_pair(s: &str) -> anyhow::Result<(String, u32)> {
    let (name, n) = s
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid scale {s:?}: expected SERVICE=REPLICAS"))?;
    let n = n
        .parse::<u32>()
        .map_err(|_| anyhow::anyhow!("invalid scale {s:?}: {n:?} is not a replica count"))?;
    if name.is_empty() {
        anyhow::bail!("invalid scale {s:?}: no service name");
    }
    Ok((name.to_string(), n))
}

/// Prints services as `service ls` does (`quiet`: IDs only).
pub(crate) fn print_services(list: &[ServiceView], quiet: bool) -> anyhow::Result<()> {
    if quiet {
        for s in list {
            println!("{}", output::id(&s.id, false));
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                output::id(&s.id, false),
                s.spec.name.clone(),
                s.spec.endpoint_spec.mode.clone(),
                if s.spec.mode.get("Global").is_some() {
                    format!(
                        "{}/{} (global)",
                        s.service_status.running_tasks, s.service_status.desired_tasks
                    )
                } else {
                    format!(
                        "{}/{}",
                        s.service_status.running_tasks, s.service_status.desired_tasks
                    )
                },
                s.endpoint
                    .virtual_ips
                    .iter()
                    .map(|v| format!("{}@{}", v.addr, v.network_name))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.endpoint
                    .ports
                    .iter()
                    .map(|p| format!("*:{}->{}/{}", p.published_port, p.target_port, p.protocol))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    output::table(&["ID", "NAME", "MODE", "REPLICAS", "VIPS", "PORTS"], &rows)
}

/// Prints tasks as `service ps` does: with a NODE column when they are a swarm's.
pub(crate) fn print_tasks(tasks: &[TaskView]) -> anyhow::Result<()> {
    let swarm = tasks
        .iter()
        .any(|t| !t.node_id.is_empty() || t.state == "pending");
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut row = vec![output::id(&t.id, false), t.name.clone()];
            if swarm {
                row.push(t.node.clone());
            }
            row.extend([
                t.desired_state.clone(),
                match t.exit_code {
                    Some(code) if t.state == "exited" => format!("exited ({code})"),
                    _ => t.state.clone(),
                },
                t.addresses.join(", "),
                t.error.clone(),
            ]);
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME"];
    if swarm {
        header.push("NODE");
    }
    header.extend(["DESIRED STATE", "CURRENT STATE", "ADDRESSES", "ERROR"]);
    output::table(&header, &rows)
}

/// Runs a `ferry service` subcommand.
pub async fn run(c: &Client, cmd: ServiceCmd) -> anyhow::Result<i32> {
    match cmd {
        ServiceCmd::Create(a) => {
            let networks = a
                .network
                .iter()
                .map(|n| super::sandbox::network_request(n))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let placement = Placement {
                constraints: a
                    .constraint
                    .iter()
                    .map(|c| Constraint::parse(c))
                    .collect::<Result<_, _>>()?,
                preferences: a
                    .placement_pref
                    .iter()
                    .map(|p| Preference::parse(p))
                    .collect::<Result<_, _>>()?,
                // Docker's 0 is no limit.
                max_replicas_per_node: (a.replicas_max_per_node > 0)
                    .then_some(a.replicas_max_per_node),
            };
            let req = ServiceCreateRequest {
                name: a.name.clone(),
                replicas: Some(a.replicas),
                mode: ServiceMode::parse(&a.mode)?,
                placement,
                update: a.rollout.change()?.apply(&UpdateConfig::default()),
                networks,
                ports: a.publish.clone(),
                endpoint_mode: a.endpoint_mode.clone(),
                template: ReplicaTemplate {
                    cmd: a.cmd.clone(),
                    env: a.env.clone(),
                    working_dir: a.workdir.clone().unwrap_or_default(),
                    dns: a.dns.clone(),
                    dns_search: a.dns_search.clone(),
                    dns_options: a.dns_option.clone(),
                    extra_hosts: a.add_host.clone(),
                    labels: super::parse_labels(&a.label)?,
                    security: a.security.request()?,
                    ..Default::default()
                },
                ..Default::default()
            };
            let r = c.service_create(&req).await?;
            println!("{}", r.id);
            Ok(0)
        }
        ServiceCmd::Ls { quiet } => {
            print_services(&c.service_list().await?, quiet)?;
            Ok(0)
        }
        ServiceCmd::Ps { service } => {
            print_tasks(&c.service_tasks(&service).await?)?;
            Ok(0)
        }
        ServiceCmd::Inspect { services } => {
            output::inspect_all(&services, async |n| c.service_inspect_raw(n).await).await
        }
        ServiceCmd::Scale { pairs } => {
            let pairs = pairs
                .iter()
                .map(|p| scale_pair(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut code = 0;
            for (name, n) in pairs {
                let req = ServiceUpdateRequest {
                    replicas: Some(n),
                    ..Default::default()
                };
                match c.service_update(&name, &req).await {
                    Ok(_) => println!("{name} scaled to {n}"),
                    Err(e) => {
                        output::error(e);
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        ServiceCmd::Update(a) => {
            let network_add = a
                .network_add
                .iter()
                .map(|n| super::sandbox::network_request(n))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let args = match &a.args {
                Some(s) => Some(
                    shell_words(s)
                        .ok_or_else(|| anyhow::anyhow!("--args {s:?}: unbalanced quotes"))?,
                ),
                None => None,
            };
            let req = ServiceUpdateRequest {
                replicas: a.replicas,
                publish_add: a.publish_add.clone(),
                publish_rm: a.publish_rm.clone(),
                env_add: a.env_add.clone(),
                env_rm: a.env_rm.clone(),
                args,
                constraint_add: a.constraint_add.clone(),
                constraint_rm: a.constraint_rm.clone(),
                placement_pref_add: a.placement_pref_add.clone(),
                placement_pref_rm: a.placement_pref_rm.clone(),
                replicas_max_per_node: a.replicas_max_per_node,
                network_add,
                network_rm: a.network_rm.clone(),
                update_config: Some(a.rollout.change()?).filter(|c| !c.is_empty()),
                rollback: a.rollback,
                force: a.force,
            };
            c.service_update(&a.service, &req).await?;
            println!("{}", a.service);
            Ok(0)
        }
        ServiceCmd::Rollback { service } => {
            let req = ServiceUpdateRequest {
                rollback: true,
                ..Default::default()
            };
            c.service_update(&service, &req).await?;
            println!("{service}");
            Ok(0)
        }
        ServiceCmd::Rm { services } => {
            let mut code = 0;
            for s in services {
                match c.service_remove(&s).await {
                    Ok(()) => println!("{s}"),
                    Err(e) => {
                        output::error(e);
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        ServiceCmd::Logs(a) => logs(c, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_pairs() {
        assert_eq!(scale_pair("web=3").unwrap(), ("web".into(), 3));
        for bad in ["web", "web=x", "=3", "web=-1"] {
            assert!(scale_pair(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_lines_are_prefixed_as_docker_does() {
        let l = ferry_types::logs::ServiceLogLine {
            service: "web".into(),
            slot: 2,
            task_id: "abcdefghijklmnopqrstuvwxy".into(),
            node: "node1".into(),
            time: "2026-01-02T03:04:05.000000006Z".into(),
            line: "hello".into(),
            ..Default::default()
        };
        let f = LogFormat::default();
        assert_eq!(
            format_log_line(&l, &f),
            "web.2.abcdefghijkl@node1    | hello"
        );
        let padded = LogFormat { pad: 2, ..f };
        assert_eq!(
            format_log_line(&l, &padded),
            "web.2.abcdefghijkl@node1     | hello"
        );
        let whole = LogFormat {
            no_trunc: true,
            timestamps: true,
            ..f
        };
        assert_eq!(
            format_log_line(&l, &whole),
            "2026-01-02T03:04:05.000000006Z web.2.abcdefghijklmnopqrstuvwxy@node1    | hello"
        );
        let no_ids = LogFormat {
            no_task_ids: true,
            ..f
        };
        assert_eq!(format_log_line(&l, &no_ids), "web.2@node1    | hello");
        let raw = LogFormat { raw: true, ..f };
        assert_eq!(format_log_line(&l, &raw), "hello");
        // A service of one host: no task, no node.
        let local = ferry_types::logs::ServiceLogLine {
            task_id: String::new(),
            node: String::new(),
            ..l
        };
        assert_eq!(format_log_line(&local, &f), "web.2    | hello");
    }

    #[test]
    fn args_split_as_a_shell_would() {
        assert_eq!(
            shell_words(r#"-c 'echo a b' "x \"y\"" z\ w"#).unwrap(),
            vec!["-c", "echo a b", "x \"y\"", "z w"]
        );
        assert_eq!(shell_words("").unwrap(), Vec::<String>::new());
        assert!(shell_words("'open").is_none());
    }
}

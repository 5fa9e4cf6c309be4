//! What a second `stack deploy` does to a service that exists: compared with its spec as
//! `service inspect` shows it, the request the file makes now gives nothing to do, an update
//! of only what changed (replicas, arguments, environment, placement, networks, ports, rollout
//! settings), or, when it changes what `service update` cannot (the program, the mode, labels,
//! working directory, DNS settings, hosts, host name, root, confinement), a service made
//! again (pure).

use ferry_types::placement::{Constraint, Preference, ServiceMode};
use ferry_types::service::{
    parse_service_port, FailureAction, PublishMode, ServiceCreateRequest, ServiceUpdateRequest,
    ServiceView, UpdateConfig, UpdateConfigChange, UpdateOrder,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a deploy does to one existing service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The service is as the file says.
    Unchanged,
    /// `service update` with this request.
    Update(Box<ServiceUpdateRequest>),
    /// Remove the service and create it again: these settings changed, which `service
    /// update` cannot change.
    Recreate(Vec<&'static str>),
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

fn env_map(env: &[String]) -> BTreeMap<&str, &str> {
    env.iter()
        .map(|e| e.split_once('=').unwrap_or((e.as_str(), "")))
        .collect()
}

/// The service's update settings as the view shows them (durations in nanoseconds).
fn update_config_of(v: &Value) -> UpdateConfig {
    let d = UpdateConfig::default();
    let ms = |k: &str, default: u64| v[k].as_u64().map_or(default, |ns| ns / 1_000_000);
    UpdateConfig {
        parallelism: v["Parallelism"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d.parallelism),
        delay_ms: ms("Delay", d.delay_ms),
        order: v["Order"]
            .as_str()
            .and_then(|s| UpdateOrder::parse(s).ok())
            .unwrap_or(d.order),
        failure_action: v["FailureAction"]
            .as_str()
            .and_then(|s| FailureAction::parse(s).ok())
            .unwrap_or(d.failure_action),
        monitor_ms: ms("Monitor", d.monitor_ms),
    }
}

/// `current` (as `service inspect` shows it) against `want` (the file's request): what to
/// do. `want`'s values were checked when the file was read; one that does not parse here
/// counts as changed.
pub fn patch(current: &ServiceView, want: &ServiceCreateRequest) -> Change {
    let spec = &current.spec;
    let container = &spec.task_template["ContainerSpec"];
    let t = &want.template;
    let mut recreate = Vec::new();

    let current_mode = if spec.mode.get("Global").is_some() {
        ServiceMode::Global
    } else {
        ServiceMode::Replicated
    };
    if current_mode != want.mode {
        recreate.push("deploy.mode");
    }
    let want_endpoint = if want.endpoint_mode.is_empty() {
        "vip"
    } else {
        want.endpoint_mode.as_str()
    };
    if spec.endpoint_spec.mode != want_endpoint {
        recreate.push("deploy.endpoint_mode");
    }
    let cmd = strings(&container["Command"]);
    if cmd.first() != t.cmd.first() {
        recreate.push("the program (the command's first word)");
    }
    if spec.labels != t.labels {
        // The template hash is a label: a new host name, root or confinement shows here.
        recreate.push("labels, hostname, x-ferry-rootfs or confinement");
    }
    if container["Dir"].as_str().unwrap_or_default() != t.working_dir {
        recreate.push("working_dir");
    }
    let dns = &container["DNSConfig"];
    if strings(&dns["Nameservers"]) != t.dns
        || strings(&dns["Search"]) != t.dns_search
        || strings(&dns["Options"]) != t.dns_options
    {
        recreate.push("dns, dns_search or dns_opt");
    }
    if strings(&container["Hosts"]) != t.extra_hosts {
        recreate.push("extra_hosts");
    }
    if !recreate.is_empty() {
        return Change::Recreate(recreate);
    }

    let mut u = ServiceUpdateRequest::default();
    if want.mode == ServiceMode::Replicated {
        let now = spec.mode["Replicated"]["Replicas"].as_u64();
        let wanted = want.replicas.unwrap_or(1);
        if now != Some(u64::from(wanted)) {
            u.replicas = Some(wanted);
        }
    }
    if cmd != t.cmd {
        u.args = Some(t.cmd.iter().skip(1).cloned().collect());
    }
    let env_now = strings(&container["Env"]);
    let (now, wanted) = (env_map(&env_now), env_map(&t.env));
    u.env_rm = now
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    u.env_add = t
        .env
        .iter()
        .filter(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            now.get(k) != Some(&v)
        })
        .cloned()
        .collect();

    // Placement, compared in the constraints' and preferences' written forms.
    let placement = &spec.task_template["Placement"];
    let c_now: BTreeSet<String> = strings(&placement["Constraints"])
        .iter()
        .map(|c| Constraint::parse(c).map_or_else(|_| c.clone(), |c| c.to_string()))
        .collect();
    let c_want: BTreeSet<String> = want
        .placement
        .constraints
        .iter()
        .map(|c| c.to_string())
        .collect();
    u.constraint_rm = c_now.difference(&c_want).cloned().collect();
    u.constraint_add = c_want.difference(&c_now).cloned().collect();
    let p_now: Vec<String> = placement["Preferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["Spread"]["SpreadDescriptor"].as_str())
        .map(|d| {
            Preference::parse(&format!("spread={d}"))
                .map_or_else(|_| format!("spread={d}"), |p| p.to_string())
        })
        .collect();
    let p_want: Vec<String> = want
        .placement
        .preferences
        .iter()
        .map(|p| p.to_string())
        .collect();
    if p_now != p_want {
        // Their order counts: the first divides the replicas first.
        u.placement_pref_rm = p_now;
        u.placement_pref_add = p_want;
    }
    let max_now = placement["MaxReplicas"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0);
    if max_now != want.placement.max_replicas_per_node {
        u.replicas_max_per_node = Some(want.placement.max_replicas_per_node.unwrap_or(0));
    }

    // Networks, by name: one whose aliases changed leaves and joins again.
    let n_now: BTreeMap<String, Vec<String>> = spec
        .task_networks
        .iter()
        .filter_map(|n| {
            let name = n["Target"].as_str()?.to_string();
            Some((name, strings(&n["Aliases"])))
        })
        .collect();
    let n_want: BTreeMap<&str, &ferry_types::api::NetworkRequest> =
        want.networks.iter().map(|n| (n.name.as_str(), n)).collect();
    for (name, aliases) in &n_now {
        if n_want
            .get(name.as_str())
            .is_none_or(|w| &w.aliases != aliases)
        {
            u.network_rm.push(name.clone());
        }
    }
    for n in &want.networks {
        if n_now.get(&n.name) != Some(&n.aliases) {
            u.network_add.push(n.clone());
        }
    }

    // Ports, by what they are: one that changed goes and comes back.
    type Port = (u16, u16, &'static str, PublishMode);
    let p_now: BTreeSet<Port> = spec
        .endpoint_spec
        .ports
        .iter()
        .filter_map(|p| {
            let proto = ferry_types::ports::Proto::parse(&p.protocol).ok()?;
            let mode = match p.publish_mode.as_str() {
                "host" => PublishMode::Host,
                _ => PublishMode::Ingress,
            };
            Some((p.published_port, p.target_port, proto.as_str(), mode))
        })
        .collect();
    let mut p_want: BTreeMap<Port, &String> = BTreeMap::new();
    for spec in &want.ports {
        match parse_service_port(spec) {
            Ok(p) => {
                p_want.insert((p.published, p.target, p.proto.as_str(), p.mode), spec);
            }
            Err(_) => u.publish_add.push(spec.clone()),
        }
    }
    for p in &p_now {
        if !p_want.contains_key(p) {
            u.publish_rm.push(format!("{}/{}", p.0, p.2));
        }
    }
    for (p, spec) in &p_want {
        if !p_now.contains(p) {
            u.publish_add.push((*spec).clone());
        }
    }

    let uc_now = update_config_of(&spec.update_config);
    if uc_now != want.update {
        let w = &want.update;
        u.update_config = Some(UpdateConfigChange {
            parallelism: Some(w.parallelism),
            delay_ms: Some(w.delay_ms),
            order: Some(w.order),
            failure_action: Some(w.failure_action),
            monitor_ms: Some(w.monitor_ms),
        });
    }

    if u == ServiceUpdateRequest::default() {
        Change::Unchanged
    } else {
        Change::Update(Box::new(u))
    }
}

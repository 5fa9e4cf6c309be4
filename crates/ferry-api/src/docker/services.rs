//! Docker's JSON shapes of services and their tasks: `service inspect`, `service ls` and
//! `service ps` (pure).

use ferry_engine::views::{DesiredState, ServiceState, Task};
use ferry_types::service::{
    EndpointSpecView, EndpointView, PortView, ServiceSpecView, ServiceStatus, ServiceVersion,
    ServiceView, TaskView, VipView,
};

/// `service inspect` (and a `service ls` row).
pub fn service_view(state: &ServiceState) -> ServiceView {
    let s = &state.service;
    let ports: Vec<PortView> = s
        .spec
        .ports
        .iter()
        .map(|p| PortView {
            protocol: p.proto.as_str().into(),
            target_port: p.target,
            published_port: p.published,
            publish_mode: p.mode.as_str().into(),
        })
        .collect();
    ServiceView {
        id: s.id.clone(),
        version: ServiceVersion { index: s.version },
        created_at: s.created.clone(),
        updated_at: s.updated.clone(),
        spec: ServiceSpecView {
            name: s.name.clone(),
            labels: s.spec.template.labels.clone(),
            task_template: serde_json::json!({
                "ContainerSpec": {
                    "Command": s.spec.template.cmd,
                    "Env": s.spec.template.env,
                    "Dir": s.spec.template.working_dir,
                    "DNSConfig": {
                        "Nameservers": s.spec.template.dns,
                        "Search": s.spec.template.dns_search,
                        "Options": s.spec.template.dns_options,
                    },
                    "Hosts": s.spec.template.extra_hosts,
                }
            }),
            mode: serde_json::json!({"Replicated": {"Replicas": s.spec.replicas}}),
            task_networks: s
                .spec
                .networks
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "Target": state.network_name(&n.network_id),
                        "Aliases": n.aliases,
                    })
                })
                .collect(),
            endpoint_spec: EndpointSpecView {
                mode: s.spec.endpoint_mode.as_str().into(),
                ports: ports.clone(),
            },
        },
        endpoint: EndpointView {
            ports,
            virtual_ips: s
                .vips
                .iter()
                .map(|v| VipView {
                    network_id: v.network_id.to_string(),
                    network_name: state.network_name(&v.network_id),
                    addr: v.addr.to_string(),
                })
                .collect(),
        },
        service_status: ServiceStatus {
            running_tasks: state.running,
            desired_tasks: s.spec.replicas,
        },
    }
}

/// A `service ps` row.
pub fn task_view(task: &Task) -> TaskView {
    let sb = &task.replica;
    TaskView {
        id: sb.id.to_string(),
        name: sb.name.clone(),
        service_id: task.service_id.clone(),
        slot: task.slot,
        desired_state: match task.desired {
            DesiredState::Running => "Running",
            DesiredState::Shutdown => "Shutdown",
        }
        .into(),
        state: sb.state.status.as_str().into(),
        error: sb.state.error.clone(),
        exit_code: sb.state.exit_code,
        addresses: sb
            .endpoints
            .iter()
            .flat_map(|e| e.ipv4.iter().chain(e.ipv6.iter()))
            .map(|a| a.to_string())
            .collect(),
    }
}

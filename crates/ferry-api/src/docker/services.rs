//! Docker's JSON shapes of services and their tasks: `service inspect`, `service ls` and
//! `service ps` (pure).

use ferry_engine::views::{DesiredState, ServiceState, Task};
use ferry_types::placement::{Placement, ServiceMode};
use ferry_types::service::{
    EndpointSpecView, EndpointView, FailureAction, PortView, ServiceSpecView, ServiceStatus,
    ServiceVersion, ServiceView, TaskView, UpdateConfig, UpdateOrder, UpdateStatusView, VipView,
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
        created_at: s.created.to_string(),
        updated_at: s.updated.to_string(),
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
                },
                "Placement": placement_view(&s.spec.placement),
            }),
            mode: match s.spec.mode {
                ServiceMode::Replicated => {
                    serde_json::json!({"Replicated": {"Replicas": s.spec.replicas}})
                }
                ServiceMode::Global => serde_json::json!({"Global": {}}),
            },
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
            update_config: update_config_view(&s.spec.update),
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
        update_status: s.update_status.as_ref().map(|u| UpdateStatusView {
            state: u.state.clone(),
            message: u.message.clone(),
        }),
    }
}

/// Docker's `TaskTemplate.Placement`: constraints as written, spread preferences, the
/// per-node limit (absent when there is none).
fn placement_view(p: &Placement) -> serde_json::Value {
    let mut v = serde_json::json!({
        "Constraints": p.constraints.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "Preferences": p.preferences.iter().map(|x| {
            serde_json::json!({"Spread": {"SpreadDescriptor": format!("node.labels.{}", x.spread)}})
        }).collect::<Vec<_>>(),
    });
    if let Some(max) = p.max_replicas_per_node {
        v["MaxReplicas"] = max.into();
    }
    v
}

/// Docker's `UpdateConfig`: durations in nanoseconds.
fn update_config_view(u: &UpdateConfig) -> serde_json::Value {
    serde_json::json!({
        "Parallelism": u.parallelism,
        "Delay": u.delay_ms.saturating_mul(1_000_000),
        "FailureAction": match u.failure_action {
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
            FailureAction::Rollback => "rollback",
        },
        "Monitor": u.monitor_ms.saturating_mul(1_000_000),
        "Order": match u.order {
            UpdateOrder::StopFirst => "stop-first",
            UpdateOrder::StartFirst => "start-first",
        },
    })
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
        node: String::new(),
        node_id: String::new(),
        created_at: sb.created.to_string(),
        sandbox_id: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::views::NetworkRef;
    use ferry_types::service::{Service, ServiceSpec, ServiceVip};
    use serde_json::json;

    fn state() -> ServiceState {
        let net = "b".repeat(64);
        let spec: ServiceSpec = serde_json::from_value(json!({
            "replicas": 2,
            "networks": [{"network_id": net, "aliases": ["api"]}],
            "ports": [{"proto": "tcp", "target": 80, "published": 8080, "mode": "ingress"}],
            "Cmd": ["sleep", "infinity"]
        }))
        .unwrap();
        ServiceState {
            service: Service {
                id: "s".repeat(64),
                name: "web".into(),
                created: ferry_types::time::Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
                updated: ferry_types::time::Timestamp::parse("2024-05-01T10:00:02Z").unwrap(),
                version: 3,
                spec,
                vips: vec![ServiceVip {
                    network_id: net.as_str().into(),
                    addr: "10.0.9.2/24".parse().unwrap(),
                }],
                removing: false,
                swarm: None,
                previous_spec: None,
                update_status: None,
            },
            running: 1,
            networks: vec![NetworkRef {
                id: net.into(),
                name: "appnet".into(),
                builtin: false,
            }],
        }
    }

    #[test]
    fn a_service_in_docker_shape() {
        let out = serde_json::to_value(service_view(&state())).unwrap();
        assert_eq!(out["Version"], json!({"Index": 3}));
        assert_eq!(out["Spec"]["Mode"], json!({"Replicated": {"Replicas": 2}}));
        assert_eq!(
            out["Spec"]["TaskNetworks"],
            json!([{"Target": "appnet", "Aliases": ["api"]}])
        );
        assert_eq!(
            out["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"],
            json!(["sleep", "infinity"])
        );
        assert_eq!(
            out["Endpoint"]["VirtualIPs"],
            json!([{"NetworkID": "b".repeat(64), "NetworkName": "appnet", "Addr": "10.0.9.2/24"}])
        );
        assert_eq!(
            out["Endpoint"]["Ports"],
            json!([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}])
        );
        assert_eq!(
            out["ServiceStatus"],
            json!({"RunningTasks": 1, "DesiredTasks": 2})
        );
        assert_eq!(
            out["Spec"]["TaskTemplate"]["Placement"],
            json!({"Constraints": [], "Preferences": []})
        );
        assert_eq!(
            out["Spec"]["UpdateConfig"],
            json!({"Parallelism": 1, "Delay": 0, "FailureAction": "pause",
                   "Monitor": 5_000_000_000u64, "Order": "stop-first"})
        );
        let mut global = state();
        global.service.spec.mode = ServiceMode::Global;
        global.service.spec.placement = Placement {
            constraints: vec![
                ferry_types::placement::Constraint::parse("node.role==manager").unwrap(),
            ],
            preferences: vec![
                ferry_types::placement::Preference::parse("spread=node.labels.zone").unwrap(),
            ],
            max_replicas_per_node: Some(2),
        };
        let out = serde_json::to_value(service_view(&global)).unwrap();
        assert_eq!(out["Spec"]["Mode"], json!({"Global": {}}));
        assert_eq!(
            out["Spec"]["TaskTemplate"]["Placement"],
            json!({"Constraints": ["node.role==manager"],
                   "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                   "MaxReplicas": 2})
        );
        let mut gone = state();
        gone.networks.clear();
        let out = serde_json::to_value(service_view(&gone)).unwrap();
        assert_eq!(out["Endpoint"]["VirtualIPs"][0]["NetworkName"], json!(""));
    }

    #[test]
    fn a_task_in_docker_shape() {
        let replica = serde_json::from_value(json!({
            "id": "r".repeat(64),
            "name": "web.3",
            "created": "",
            "config": {"cmd": ["sleep"], "workdir": null, "hostname": "", "network_mode": {"mode": "networks"}},
            "state": {"status": "exited", "pid": null, "start_ticks": null, "started_at": null,
                      "finished_at": null, "exit_code": 137, "error": ""},
            "netns": null
        }))
        .unwrap();
        let t = Task {
            service_id: "s".repeat(64),
            slot: 3,
            desired: DesiredState::Shutdown,
            replica,
        };
        let out = serde_json::to_value(task_view(&t)).unwrap();
        assert_eq!(
            out,
            json!({
                "ID": "r".repeat(64),
                "Name": "web.3",
                "ServiceID": "s".repeat(64),
                "Slot": 3,
                "DesiredState": "Shutdown",
                "State": "exited",
                "Error": "",
                "ExitCode": 137,
                "Addresses": [],
                "CreatedAt": "1970-01-01T00:00:00.000000000Z"
            })
        );
    }
}

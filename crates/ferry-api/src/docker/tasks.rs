//! Docker's shape of a service's task (`GET /tasks`, `GET /tasks/{id}`, what `docker service
//! ps` and `docker service logs` read), made from ferry's task rows, and the filters of
//! `GET /tasks` (pure).

use super::filters::Filters;
use ferry_types::service::TaskView;
use ferry_types::FerryError;
use serde_json::{json, Value};

/// What a task runs, from its service's template: the command, and the IMAGE ferry gives it
/// (`host`, or the root filesystem directory it runs in).
#[derive(Debug, Clone, Default)]
pub struct TaskProgram {
    /// The service's command.
    pub cmd: Vec<String>,
    /// `host` or a root filesystem directory.
    pub image: String,
}

/// Docker's task state from ferry's replica state and the task's desired state: a replica
/// that ended is `complete` (exit 0) or `failed`, or `shutdown` when it was told to stop.
pub fn docker_state(t: &TaskView) -> &'static str {
    let shutdown = t.desired_state.eq_ignore_ascii_case("shutdown");
    match t.state.as_str() {
        "pending" => "pending",
        "assigned" => "assigned",
        "created" if shutdown => "shutdown",
        "created" => "starting",
        "running" => "running",
        "exited" if shutdown => "shutdown",
        "exited" if t.exit_code.unwrap_or(0) == 0 && t.error.is_empty() => "complete",
        "exited" => "failed",
        _ => "shutdown",
    }
}

/// Docker's words for a state, in `Status.Message`.
fn message(state: &str) -> &'static str {
    match state {
        "pending" => "pending task scheduling",
        "assigned" => "scheduler assigned task to node",
        "starting" => "starting",
        "running" => "started",
        "complete" => "finished",
        "failed" => "started",
        _ => "shutdown",
    }
}

/// One task in Docker's shape.
pub fn task_json(t: &TaskView, program: &TaskProgram) -> Value {
    let state = docker_state(t);
    let mut status = json!({
        "Timestamp": t.created_at,
        "State": state,
        "Message": message(state),
        "PortStatus": {},
    });
    if !t.error.is_empty() {
        status["Err"] = t.error.clone().into();
    }
    if !t.sandbox_id.is_empty() || t.exit_code.is_some() {
        status["ContainerStatus"] = json!({
            "ContainerID": t.sandbox_id,
            "PID": 0,
            "ExitCode": t.exit_code.unwrap_or(0),
        });
    }
    let mut v = json!({
        "ID": t.id,
        "Version": {"Index": 1},
        "CreatedAt": t.created_at,
        "UpdatedAt": t.created_at,
        "Labels": {},
        "Spec": {
            "ContainerSpec": {"Image": program.image, "Command": program.cmd},
            "ForceUpdate": 0,
        },
        "ServiceID": t.service_id,
        "Slot": t.slot,
        "Status": status,
        "DesiredState": t.desired_state.to_ascii_lowercase(),
    });
    if !t.node_id.is_empty() {
        v["NodeID"] = t.node_id.clone().into();
    }
    if !t.addresses.is_empty() {
        v["NetworksAttachments"] = json!([{ "Addresses": t.addresses }]);
    }
    v
}

/// The filters of `GET /tasks`, with services and nodes already resolved to IDs.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Task ID prefixes.
    pub ids: Vec<String>,
    /// Task names (`SERVICE.SLOT`).
    pub names: Vec<String>,
    /// Service IDs.
    pub services: Vec<String>,
    /// Node IDs.
    pub nodes: Vec<String>,
    /// `running`, `shutdown` or `accepted`.
    pub desired: Vec<String>,
}

/// The keys `GET /tasks` takes, as dockerd's (`label` and `up-to-date` match every task:
/// ferry's tasks carry no labels and run their service's current spec).
pub const KEYS: &[&str] = &[
    "id",
    "name",
    "service",
    "node",
    "desired-state",
    "label",
    "up-to-date",
];

/// Checks the keys and the desired states; services and nodes are resolved by the caller.
pub fn check(f: &Filters) -> Result<(), FerryError> {
    if let Some(k) = f.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(FerryError::invalid(format!(
            "invalid filter '{k}': task filters are {}",
            KEYS.join(", ")
        )));
    }
    for d in f.get("desired-state").into_iter().flatten() {
        if !matches!(d.as_str(), "running" | "shutdown" | "accepted") {
            return Err(FerryError::invalid(format!(
                "Invalid desired-state filter: '{d}'"
            )));
        }
    }
    Ok(())
}

impl TaskFilter {
    /// Whether a task passes: any value of a key may match, every key must.
    pub fn matches(&self, t: &TaskView) -> bool {
        let desired = t.desired_state.to_ascii_lowercase();
        (self.ids.is_empty() || self.ids.iter().any(|i| t.id.starts_with(i.as_str())))
            && (self.names.is_empty() || self.names.contains(&t.name))
            && (self.services.is_empty() || self.services.contains(&t.service_id))
            && (self.nodes.is_empty() || self.nodes.contains(&t.node_id))
            && (self.desired.is_empty()
                || self
                    .desired
                    .iter()
                    // Docker's `accepted` is a task on its way to run.
                    .any(|d| *d == desired || (d == "accepted" && desired == "running")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: &str, desired: &str, exit: Option<i32>) -> TaskView {
        TaskView {
            id: "abc123".into(),
            name: "web.2".into(),
            service_id: "svc".into(),
            slot: 2,
            desired_state: desired.into(),
            state: state.into(),
            error: String::new(),
            exit_code: exit,
            addresses: vec!["10.0.1.5/24".into()],
            node: "h1".into(),
            node_id: "node1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            sandbox_id: "sb".into(),
        }
    }

    #[test]
    fn states_map_to_docker_s() {
        assert_eq!(docker_state(&task("running", "Running", None)), "running");
        assert_eq!(docker_state(&task("pending", "Running", None)), "pending");
        assert_eq!(docker_state(&task("created", "Running", None)), "starting");
        assert_eq!(
            docker_state(&task("exited", "Running", Some(0))),
            "complete"
        );
        assert_eq!(docker_state(&task("exited", "Running", Some(1))), "failed");
        assert_eq!(
            docker_state(&task("exited", "Shutdown", Some(137))),
            "shutdown"
        );
        assert_eq!(
            docker_state(&task("shutdown", "Shutdown", None)),
            "shutdown"
        );
    }

    #[test]
    fn a_task_in_docker_shape() {
        let p = TaskProgram {
            cmd: vec!["sleep".into()],
            image: "host".into(),
        };
        let v = task_json(&task("running", "Running", None), &p);
        assert_eq!(v["ID"], "abc123");
        assert_eq!(v["Slot"], 2);
        assert_eq!(v["NodeID"], "node1");
        assert_eq!(v["DesiredState"], "running");
        assert_eq!(v["Status"]["State"], "running");
        assert_eq!(v["Status"]["Timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(v["Status"]["ContainerStatus"]["ContainerID"], "sb");
        assert_eq!(v["Spec"]["ContainerSpec"]["Image"], "host");
        assert_eq!(v["NetworksAttachments"][0]["Addresses"][0], "10.0.1.5/24");
        assert!(v["Status"].get("Err").is_none());
    }

    #[test]
    fn filters_select_tasks() {
        let t = task("running", "Running", None);
        let all = TaskFilter::default();
        assert!(all.matches(&t));
        let f = TaskFilter {
            services: vec!["svc".into()],
            nodes: vec!["node1".into()],
            desired: vec!["accepted".into()],
            ids: vec!["abc".into()],
            names: vec!["web.2".into()],
        };
        assert!(f.matches(&t));
        let f = TaskFilter {
            desired: vec!["shutdown".into()],
            ..Default::default()
        };
        assert!(!f.matches(&t));
        let f = TaskFilter {
            nodes: vec!["node2".into()],
            ..Default::default()
        };
        assert!(!f.matches(&t));
        let mut bad = Filters::new();
        bad.insert("desired-state".into(), vec!["sleeping".into()]);
        assert!(check(&bad).is_err());
        bad.clear();
        bad.insert("colour".into(), vec!["red".into()]);
        assert!(check(&bad).is_err());
    }
}

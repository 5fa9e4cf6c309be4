//! Docker's task routes, what `docker service ps` and `docker service logs` read: `GET /tasks`
//! (filters `service=`, `node=`, `desired-state=`, `id=`, `name=`), `GET /tasks/{id}` and
//! `GET /tasks/{id}/logs`, made from the swarm's task records (every node's) and the
//! replicas of this host's own services.

use crate::docker::negotiation::Dialect;
use crate::docker::tasks::{self, TaskFilter, TaskProgram};
use crate::docker::{filters, services};
use crate::server::{ok_json, service_log_stream, ApiError, App, Ctl};
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ferry_types::service::TaskView;
use ferry_types::FerryError;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

type Res = Result<Response, ApiError>;
type Sw = Extension<Arc<ferry_swarm::Swarm>>;

/// The task routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/tasks", get(list))
        .route("/tasks/{id}", get(inspect))
        .route("/tasks/{id}/logs", get(logs))
}

/// Every task this daemon can see: the swarm's, then this host's services' replicas; with
/// what each runs, by service ID.
async fn all(ctl: &Ctl) -> Result<(Vec<TaskView>, BTreeMap<String, TaskProgram>), FerryError> {
    let states = ctl.list_services().await;
    let mut out = ctl.swarm_tasks().await?.unwrap_or_default();
    for st in states.iter().filter(|s| s.service.swarm.is_none()) {
        // A service removed since the listing has no tasks left to show.
        if let Ok(local) = ctl.service_tasks(&st.service.id).await {
            out.extend(local.iter().map(services::task_view));
        }
    }
    let programs = states
        .iter()
        .map(|st| {
            let t = &st.service.spec.template;
            let image = if t.rootfs.is_empty() {
                "host".to_string()
            } else {
                t.rootfs.clone()
            };
            (
                st.service.id.clone(),
                TaskProgram {
                    cmd: t.cmd.clone(),
                    image,
                },
            )
        })
        .collect();
    Ok((out, programs))
}

/// The task `reference` names: its ID or an unambiguous prefix of it.
fn find<'a>(all: &'a [TaskView], reference: &str) -> Result<&'a TaskView, FerryError> {
    if let Some(t) = all.iter().find(|t| t.id == reference) {
        return Ok(t);
    }
    let found: Vec<&TaskView> = all
        .iter()
        .filter(|t| !reference.is_empty() && t.id.starts_with(reference))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(FerryError::not_found(format!("task {reference} not found"))),
        _ => Err(FerryError::invalid(format!(
            "task {reference} is ambiguous ({} matches found)",
            found.len()
        ))),
    }
}

async fn list(
    State(ctl): State<Ctl>,
    Extension(swarm): Sw,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let f = filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))?;
    tasks::check(&f)?;
    let (all, programs) = all(&ctl).await?;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    // Services and nodes are named by ID, name or ID prefix, as dockerd takes them.
    let mut service_ids = Vec::new();
    for s in get("service") {
        match ctl.find_swarm_service(&s).await {
            Ok(Some(found)) => service_ids.push(found.id),
            _ => match ctl.inspect_service(&s).await {
                Ok(found) => service_ids.push(found.service.id),
                Err(_) => service_ids.push(s),
            },
        }
    }
    let mut node_ids = Vec::new();
    for n in get("node") {
        match swarm.node(&n).await {
            Ok(found) => node_ids.push(found.id),
            Err(_) => node_ids.push(n),
        }
    }
    let filter = TaskFilter {
        ids: get("id"),
        names: get("name"),
        services: service_ids,
        nodes: node_ids,
        desired: get("desired-state"),
    };
    let none = TaskProgram::default();
    let out: Vec<serde_json::Value> = all
        .iter()
        .filter(|t| filter.matches(t))
        .map(|t| tasks::task_json(t, programs.get(&t.service_id).unwrap_or(&none)))
        .collect();
    Ok(ok_json(&out))
}

async fn inspect(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    let (all, programs) = all(&ctl).await?;
    let t = find(&all, &id)?;
    let none = TaskProgram::default();
    Ok(ok_json(&tasks::task_json(
        t,
        programs.get(&t.service_id).unwrap_or(&none),
    )))
}

async fn logs(
    State(ctl): State<Ctl>,
    dialect: Dialect,
    Extension(swarm): Sw,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let (all, _) = all(&ctl).await?;
    let t = find(&all, &id)?;
    service_log_stream(&ctl, dialect, &swarm, &t.service_id, &q, Some(t.id.clone())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TaskView {
        TaskView {
            id: id.into(),
            name: String::new(),
            service_id: String::new(),
            slot: 1,
            desired_state: "Running".into(),
            state: "running".into(),
            error: String::new(),
            exit_code: None,
            addresses: Vec::new(),
            node: String::new(),
            node_id: String::new(),
            created_at: String::new(),
            sandbox_id: String::new(),
        }
    }

    #[test]
    fn tasks_are_found_by_id_or_prefix() {
        let all = [t("abc1"), t("abc2"), t("xyz")];
        assert_eq!(find(&all, "xyz").unwrap().id, "xyz");
        assert_eq!(find(&all, "x").unwrap().id, "xyz");
        assert!(find(&all, "abc").is_err());
        assert!(find(&all, "nope").is_err());
        assert!(find(&all, "").is_err());
    }
}

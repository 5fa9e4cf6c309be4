//! One pass of the leader: from the services, their tasks and the nodes as etcd has them, the
//! task records to write so that every service has its replicas placed. Pure: the caller
//! reads the tables and writes the result, fenced by its leadership.
//!
//! - Placement itself (which node for which slot, constraints, spread, pending reasons) is
//!   `ferry_cluster::placement`; this pass turns its plan into records: a stopped task turns
//!   `Shutdown` with the reason, a started one reuses the slot's pending record or is new.
//! - An update (the service's version above a task's) replaces tasks a batch at a time
//!   (`update_parallelism`, 0 = all; [`super::rollout`] says when): stop-first, the old task
//!   of a slot is shut down and the slot placed again in the same pass; start-first, the slot
//!   is placed again while the old task keeps running, and the old task is shut down in the
//!   pass that sees the new one running (or shut down, if the new one fails the update).
//! - History: a slot keeps its last [`TASK_HISTORY`] ended tasks; tasks of services that are
//!   gone are deleted.

use super::rollout::{self, Rollout};
use ferry_cluster::placement::{self, Assignment, NodeState, ServiceDemand};
use ferry_cluster::tasks::{new_task_id, TaskDesired, TaskRecord, TaskStatus, TASK_HISTORY};
use ferry_store::{Op, StoreError, Table};
use ferry_types::service::{FailureAction, Service, UpdateOrder, UpdateStatus};
use std::collections::{BTreeMap, BTreeSet};

/// What one pass writes.
#[derive(Debug, Default)]
pub struct PassWrites {
    /// Task records, in a stable order.
    pub tasks: Vec<Op>,
    /// Services whose update stands elsewhere now (paused, rolled back, completed).
    pub services: Vec<Service>,
    /// The earliest moment (milliseconds since the epoch) at which an update waits for
    /// time alone (its delay or monitor period): the leader passes again then.
    pub wake_at_ms: Option<i64>,
}

/// The writes of one pass. `statuses` are the nodes' reports, `now` the time (RFC 3339).
pub fn reconcile(
    services: &[Service],
    tasks: &[TaskRecord],
    nodes: &[NodeState],
    statuses: &BTreeMap<String, TaskStatus>,
    now: &str,
) -> Result<PassWrites, StoreError> {
    let now_ms = rollout::millis(now).unwrap_or(0);
    let mut changed_services = Vec::new();
    let mut wake_at_ms: Option<i64> = None;
    let mut out: BTreeMap<String, Option<TaskRecord>> = BTreeMap::new();
    let live: BTreeSet<&str> = services
        .iter()
        .filter(|s| !s.removing)
        .map(|s| s.id.as_str())
        .collect();
    // Tasks of services that are gone (or going) are deleted: their nodes remove the
    // replicas when the service record goes.
    for t in tasks
        .iter()
        .filter(|t| !live.contains(t.service_id.as_str()))
    {
        out.insert(t.id.clone(), None);
    }
    // Every running task counts as load on its node.
    let mut load: BTreeMap<String, u32> = BTreeMap::new();
    for t in tasks
        .iter()
        .filter(|t| live.contains(t.service_id.as_str()))
        .filter(|t| t.desired == TaskDesired::Running && !t.node_id.is_empty())
    {
        *load.entry(t.node_id.clone()).or_default() += 1;
    }
    let mut sorted: Vec<&Service> = services.iter().filter(|s| !s.removing).collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for s in sorted {
        let own: Vec<&TaskRecord> = tasks.iter().filter(|t| t.service_id == s.id).collect();
        let (changes, service, wake) =
            reconcile_service(s, &own, nodes, &load, statuses, now, now_ms);
        changed_services.extend(service);
        wake_at_ms = match (wake_at_ms, wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for t in own
            .iter()
            .filter(|t| t.desired == TaskDesired::Running && !t.node_id.is_empty())
        {
            if let Some(n) = load.get_mut(&t.node_id) {
                *n = n.saturating_sub(1);
            }
        }
        // The service's tasks after the pass weigh on the next services' placement.
        for t in own
            .iter()
            .map(|t| changes.get(&t.id).cloned().unwrap_or(Some((*t).clone())))
            .chain(
                changes
                    .iter()
                    .filter(|(id, _)| !own.iter().any(|t| &t.id == *id))
                    .map(|(_, t)| t.clone()),
            )
            .flatten()
            .filter(|t| t.desired == TaskDesired::Running && !t.node_id.is_empty())
        {
            *load.entry(t.node_id.clone()).or_default() += 1;
        }
        out.extend(changes);
    }
    let tasks = out
        .into_iter()
        .map(|(id, t)| match t {
            Some(t) => Op::put_json(Table::Tasks, &id, &t),
            None => Ok(Op::delete(Table::Tasks, &id)),
        })
        .collect::<Result<Vec<Op>, StoreError>>()?;
    Ok(PassWrites {
        tasks,
        services: changed_services,
        wake_at_ms,
    })
}

/// The service after its update failed: paused, or back on its previous spec.
fn after_failure(s: &Service, task: &str, why: &str) -> Service {
    let mut s = s.clone();
    let message =
        format!("update paused due to failure or early termination of task {task}: {why}");
    match (s.spec.update.failure_action, s.previous_spec.take()) {
        (FailureAction::Rollback, Some(previous)) => {
            let current = std::mem::replace(&mut s.spec, *previous);
            s.previous_spec = Some(Box::new(current));
            s.version += 1;
            if let Some(t) = s.swarm.as_mut() {
                t.template_version = s.version;
            }
            s.update_status = Some(UpdateStatus {
                state: "rollback_started".into(),
                message: format!(
                    "update rolled back due to failure or early termination of task {task}: {why}"
                ),
            });
        }
        (_, previous) => {
            s.previous_spec = previous;
            s.update_status = Some(UpdateStatus {
                state: "paused".into(),
                message,
            });
        }
    }
    s
}

/// What one pass changes of one service: its tasks (task ID → the new record, or `None` to
/// delete it), its record if its update moved on, and when time alone moves its update on.
type ServiceChanges = (
    BTreeMap<String, Option<TaskRecord>>,
    Option<Service>,
    Option<i64>,
);

/// The changes to one service's tasks.
fn reconcile_service(
    s: &Service,
    own: &[&TaskRecord],
    nodes: &[NodeState],
    load: &BTreeMap<String, u32>,
    statuses: &BTreeMap<String, TaskStatus>,
    now: &str,
    now_ms: i64,
) -> ServiceChanges {
    let mut changes: BTreeMap<String, Option<TaskRecord>> = BTreeMap::new();
    let shut = |t: &TaskRecord, why: &str| {
        let mut t = t.clone();
        t.desired = TaskDesired::Shutdown;
        t.message = why.to_string();
        t
    };
    let running: Vec<&TaskRecord> = own
        .iter()
        .copied()
        .filter(|t| t.desired == TaskDesired::Running && !t.node_id.is_empty())
        .collect();
    // An update replaces outdated tasks a batch at a time, the next batch once the last one
    // is placed.
    // What replicas run changes with the template version; a replica count alone does not.
    let template_version = s
        .swarm
        .as_ref()
        .map(|t| t.template_version)
        .filter(|v| *v > 0)
        .unwrap_or(s.version);
    // Old tasks whose replacement was started first: placement sees only the new task of
    // their slot, and they stop below once it runs.
    let outgoing = rollout::outgoing(s, own, template_version);
    let outdated: Vec<&TaskRecord> = running
        .iter()
        .copied()
        .filter(|t| t.spec_version < template_version && !outgoing.contains(&t.id))
        .collect();
    let mut wake = None;
    let mut failed_task: Option<String> = None;
    let (batch, service_change) = match rollout::rollout(s, own, statuses, template_version, now_ms)
    {
        Rollout::Proceed { batch } => (batch, None),
        Rollout::Wait { until_ms } => {
            wake = until_ms;
            (0, None)
        }
        Rollout::Idle => (0, None),
        Rollout::Completed => {
            let mut done = s.clone();
            let rolled_back = s
                .update_status
                .as_ref()
                .is_some_and(|u| u.state == "rollback_started");
            done.update_status = Some(UpdateStatus {
                state: if rolled_back {
                    "rollback_completed"
                } else {
                    "completed"
                }
                .into(),
                message: if rolled_back {
                    "rollback completed".into()
                } else {
                    "update completed".into()
                },
            });
            (0, Some(done))
        }
        Rollout::Failed { task, why } => {
            let after = after_failure(s, &task, &why);
            failed_task = Some(task);
            (0, Some(after))
        }
    };
    let start_first = s.spec.update.order == UpdateOrder::StartFirst;
    let mut replaced: BTreeSet<&str> = BTreeSet::new();
    for t in outdated.iter().take(batch) {
        // Start-first: the old task runs on, out of placement's sight, until its
        // replacement runs.
        if !start_first {
            changes.insert(t.id.clone(), Some(shut(t, "replaced by an update")));
        }
        replaced.insert(t.id.as_str());
    }
    // Outgoing tasks whose new task failed the update: they keep their slot.
    let mut restored: BTreeSet<&str> = BTreeSet::new();
    for t in running.iter().filter(|t| outgoing.contains(&t.id)) {
        let Some(new) = rollout::replacement(s, own, template_version, t) else {
            continue;
        };
        let new_failed = statuses.get(&new.id).and_then(rollout::failure).is_some();
        if failed_task.is_some() && new_failed {
            // The update failed: the new task goes, and the old one keeps its slot (a
            // rollback, if asked for, replaces it as any update does).
            changes.insert(
                new.id.clone(),
                Some(shut(new, "failed the update; the old task keeps running")),
            );
            restored.insert(t.id.as_str());
        } else if rollout::is_running(statuses, &new.id) {
            changes.insert(t.id.clone(), Some(shut(t, "replaced by an update")));
        }
    }
    // Tasks placement does not see: replaced in this pass, outgoing, or shut above.
    let set_aside: BTreeSet<String> = running
        .iter()
        .filter(|t| {
            replaced.contains(t.id.as_str())
                || (outgoing.contains(&t.id) && !restored.contains(t.id.as_str()))
                || matches!(changes.get(&t.id), Some(Some(c)) if c.desired == TaskDesired::Shutdown)
        })
        .map(|t| t.id.clone())
        .collect();
    let aside = |t: &TaskRecord| set_aside.contains(&t.id);
    let current: Vec<Assignment> = running
        .iter()
        .filter(|t| !aside(t))
        .map(|t| Assignment {
            slot: t.slot,
            node_id: t.node_id.clone(),
        })
        .collect();
    let demand = ServiceDemand {
        mode: s.spec.mode,
        replicas: s.spec.replicas,
        placement: &s.spec.placement,
    };
    let plan = placement::place(demand, nodes, &current, load);
    let find_running = |a: &Assignment| {
        running
            .iter()
            .find(|t| t.slot == a.slot && t.node_id == a.node_id && !aside(t))
    };
    for (a, why) in &plan.stop {
        if let Some(t) = find_running(a) {
            changes.insert(t.id.clone(), Some(shut(t, why.as_str())));
        }
    }
    let pending_of = |slot: u32| {
        own.iter()
            .find(|t| t.is_pending() && t.slot == slot)
            .copied()
    };
    let mut used_pending: BTreeSet<String> = BTreeSet::new();
    for a in &plan.start {
        let rec = match pending_of(a.slot) {
            Some(p) => {
                used_pending.insert(p.id.clone());
                let mut t = p.clone();
                t.node_id = a.node_id.clone();
                t.message.clear();
                t.spec_version = template_version;
                t
            }
            None => TaskRecord {
                id: new_task_id(),
                service_id: s.id.clone(),
                slot: a.slot,
                node_id: a.node_id.clone(),
                desired: TaskDesired::Running,
                spec_version: template_version,
                created_at: now.to_string(),
                message: String::new(),
            },
        };
        changes.insert(rec.id.clone(), Some(rec));
    }
    for p in &plan.pending {
        match pending_of(p.slot) {
            Some(t) => {
                used_pending.insert(t.id.clone());
                if t.message != p.reason || t.spec_version != template_version {
                    let mut t = t.clone();
                    t.message = p.reason.clone();
                    t.spec_version = template_version;
                    changes.insert(t.id.clone(), Some(t));
                }
            }
            None => {
                let t = TaskRecord {
                    id: new_task_id(),
                    service_id: s.id.clone(),
                    slot: p.slot,
                    node_id: String::new(),
                    desired: TaskDesired::Running,
                    spec_version: template_version,
                    created_at: now.to_string(),
                    message: p.reason.clone(),
                };
                changes.insert(t.id.clone(), Some(t));
            }
        }
    }
    // Pending records no slot needs any more (a scale-down, a node that came).
    for t in own
        .iter()
        .filter(|t| t.is_pending() && !used_pending.contains(&t.id))
    {
        changes.insert(t.id.clone(), None);
    }
    // History: the newest ended tasks of each slot stay.
    let mut ended: BTreeMap<u32, Vec<&TaskRecord>> = BTreeMap::new();
    for t in own {
        let after = changes.get(&t.id);
        let desired = match after {
            Some(Some(n)) => n.desired,
            Some(None) => continue,
            None => t.desired,
        };
        if desired == TaskDesired::Shutdown {
            ended.entry(t.slot).or_default().push(t);
        }
    }
    for (_, mut list) in ended {
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        for t in list.into_iter().skip(TASK_HISTORY) {
            changes.insert(t.id.clone(), None);
        }
    }
    (changes, service_change, wake)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_cluster::placement::NodeAvailability;
    use ferry_types::placement::{NodeFacts, NodeRoleFact};
    use ferry_types::service::{ServiceSpec, SwarmTasks};

    fn node(id: &str, up: bool, availability: NodeAvailability) -> NodeState {
        NodeState {
            facts: NodeFacts {
                id: id.into(),
                hostname: format!("host-{id}"),
                role: NodeRoleFact::Worker,
                labels: Default::default(),
                os: "linux".into(),
                arch: "x86_64".into(),
            },
            up,
            availability,
        }
    }

    fn service(id: &str, replicas: u32, version: u64) -> Service {
        let t = ferry_types::time::Timestamp::now();
        Service {
            id: id.into(),
            name: format!("svc-{id}"),
            created: t,
            updated: t,
            version,
            spec: ServiceSpec {
                replicas,
                ..Default::default()
            },
            vips: vec![],
            removing: false,
            swarm: Some(SwarmTasks {
                here: Default::default(),
                outgoing: Default::default(),
                template_version: version,
            }),
            previous_spec: None,
            update_status: None,
        }
    }

    /// One pass, its writes applied.
    fn step(tasks: &mut Vec<TaskRecord>, s: &[Service], nodes: &[NodeState], now: &str) {
        // Every placed replica reports itself running.
        let statuses: BTreeMap<String, TaskStatus> = tasks
            .iter()
            .map(|t| {
                (
                    t.id.clone(),
                    TaskStatus {
                        task_id: t.id.clone(),
                        node_id: t.node_id.clone(),
                        state: "running".into(),
                        error: String::new(),
                        exit_code: None,
                        sandbox_id: String::new(),
                        addresses: vec![],
                        started_at: String::new(),
                        restarts: 0,
                    },
                )
            })
            .collect();
        let w = reconcile(s, tasks, nodes, &statuses, now).unwrap();
        apply(tasks, w.tasks);
    }

    /// Applies the ops to a task list, as etcd would.
    fn apply(tasks: &mut Vec<TaskRecord>, ops: Vec<Op>) {
        for op in ops {
            match op {
                Op::Put { key, value, .. } => {
                    let t: TaskRecord = serde_json::from_slice(&value).unwrap();
                    tasks.retain(|o| o.id != key);
                    tasks.push(t);
                }
                Op::Delete { key, .. } => tasks.retain(|o| o.id != key),
                other => panic!("unexpected op {other:?}"),
            }
        }
    }

    fn running_on(tasks: &[TaskRecord]) -> BTreeMap<String, u32> {
        let mut m = BTreeMap::new();
        for t in tasks.iter().filter(|t| t.desired == TaskDesired::Running) {
            *m.entry(t.node_id.clone()).or_default() += 1;
        }
        m
    }

    #[test]
    fn replicas_spread_and_a_second_pass_writes_nothing() {
        let nodes = vec![
            node("a", true, NodeAvailability::Active),
            node("b", true, NodeAvailability::Active),
            node("c", true, NodeAvailability::Active),
        ];
        let s = vec![service("s1", 3, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        assert_eq!(
            running_on(&tasks).values().copied().collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
        assert!(reconcile(&s, &tasks, &nodes, &BTreeMap::new(), "t2")
            .unwrap()
            .tasks
            .is_empty());
    }

    #[test]
    fn a_down_node_s_task_is_shut_down_and_its_slot_placed_elsewhere() {
        let mut nodes = vec![
            node("a", true, NodeAvailability::Active),
            node("b", true, NodeAvailability::Active),
        ];
        let s = vec![service("s1", 2, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        nodes[1].up = false;
        step(&mut tasks, &s, &nodes, "t2");
        let on = running_on(&tasks);
        assert_eq!(on.get("a"), Some(&2));
        assert_eq!(on.get("b"), None);
        let shut: Vec<_> = tasks
            .iter()
            .filter(|t| t.desired == TaskDesired::Shutdown)
            .collect();
        assert_eq!(shut.len(), 1);
        assert_eq!(shut[0].node_id, "b");
        assert!(!shut[0].message.is_empty());
    }

    #[test]
    fn an_unplaceable_slot_is_pending_then_placed_when_a_node_comes() {
        let mut nodes = vec![node("a", true, NodeAvailability::Drain)];
        let s = vec![service("s1", 1, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        assert_eq!(tasks.len(), 1);
        assert!(tasks[0].is_pending());
        assert!(
            tasks[0].message.contains("no suitable node"),
            "{}",
            tasks[0].message
        );
        let pending_id = tasks[0].id.clone();
        nodes.push(node("b", true, NodeAvailability::Active));
        step(&mut tasks, &s, &nodes, "t2");
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            tasks[0].id, pending_id,
            "the pending record is the one placed"
        );
        assert!(tasks[0].runs_on("b"));
    }

    #[test]
    fn an_update_replaces_tasks_a_batch_at_a_time() {
        let nodes = vec![
            node("a", true, NodeAvailability::Active),
            node("b", true, NodeAvailability::Active),
        ];
        let mut s = vec![service("s1", 2, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        s[0].version = 2;
        s[0].swarm.as_mut().unwrap().template_version = 2;
        s[0].spec.update.parallelism = 1;
        step(&mut tasks, &s, &nodes, "t2");
        let current = |tasks: &[TaskRecord], v: u64| {
            tasks
                .iter()
                .filter(|t| t.desired == TaskDesired::Running && t.spec_version == v)
                .count()
        };
        assert_eq!((current(&tasks, 1), current(&tasks, 2)), (1, 1));
        step(&mut tasks, &s, &nodes, "t3");
        assert_eq!((current(&tasks, 1), current(&tasks, 2)), (0, 2));
        step(&mut tasks, &s, &nodes, "t4");
        assert_eq!(
            tasks
                .iter()
                .filter(|t| t.desired == TaskDesired::Running)
                .count(),
            2
        );
    }

    /// Every task's replica reports `state`, but those in `others`.
    fn statuses(tasks: &[TaskRecord], others: &[(&str, &str)]) -> BTreeMap<String, TaskStatus> {
        tasks
            .iter()
            .map(|t| {
                let state = others
                    .iter()
                    .find(|(id, _)| *id == t.id)
                    .map_or("running", |(_, s)| *s);
                (
                    t.id.clone(),
                    TaskStatus {
                        task_id: t.id.clone(),
                        node_id: t.node_id.clone(),
                        state: state.into(),
                        error: String::new(),
                        exit_code: (state == "exited").then_some(1),
                        sandbox_id: String::new(),
                        addresses: vec![],
                        started_at: String::new(),
                        restarts: 0,
                    },
                )
            })
            .collect()
    }

    fn live(tasks: &[TaskRecord]) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = tasks
            .iter()
            .filter(|t| t.desired == TaskDesired::Running)
            .map(|t| (t.slot, t.spec_version))
            .collect();
        v.sort();
        v
    }

    /// A new spec for `s`, rolled out start-first.
    fn begin_start_first_update(s: &mut Service) {
        s.version = 2;
        s.swarm.as_mut().unwrap().template_version = 2;
        s.spec.update.order = UpdateOrder::StartFirst;
        s.update_status = Some(UpdateStatus {
            state: "updating".into(),
            message: String::new(),
        });
    }

    #[test]
    fn start_first_runs_the_new_task_beside_the_old_until_it_runs() {
        let nodes = vec![node("a", true, NodeAvailability::Active)];
        let mut s = vec![service("s1", 1, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        let old = tasks[0].id.clone();
        begin_start_first_update(&mut s[0]);
        // The new task is placed; the old one keeps running.
        let st = statuses(&tasks, &[]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t2").unwrap();
        apply(&mut tasks, w.tasks);
        assert_eq!(live(&tasks), vec![(1, 1), (1, 2)]);
        // The new one is not running yet: both stay, nothing else is written.
        let new = tasks
            .iter()
            .find(|t| t.spec_version == 2)
            .unwrap()
            .id
            .clone();
        let st = statuses(&tasks, &[(&new, "created")]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t3").unwrap();
        assert!(w.tasks.is_empty(), "{:?}", w.tasks);
        // It runs: the old one is shut down.
        let st = statuses(&tasks, &[]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t4").unwrap();
        apply(&mut tasks, w.tasks);
        assert_eq!(live(&tasks), vec![(1, 2)]);
        let o = tasks.iter().find(|t| t.id == old).unwrap();
        assert_eq!(o.desired, TaskDesired::Shutdown);
        assert_eq!(o.message, "replaced by an update");
    }

    #[test]
    fn a_failed_start_first_task_goes_and_the_old_one_stays() {
        let nodes = vec![node("a", true, NodeAvailability::Active)];
        let mut s = vec![service("s1", 1, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        let old = tasks[0].id.clone();
        begin_start_first_update(&mut s[0]);
        let st = statuses(&tasks, &[]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t2").unwrap();
        apply(&mut tasks, w.tasks);
        let new = tasks
            .iter()
            .find(|t| t.spec_version == 2)
            .unwrap()
            .id
            .clone();
        let st = statuses(&tasks, &[(&new, "exited")]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t3").unwrap();
        assert_eq!(
            w.services[0].update_status.as_ref().unwrap().state,
            "paused"
        );
        apply(&mut tasks, w.tasks);
        assert_eq!(live(&tasks), vec![(1, 1)]);
        assert!(tasks
            .iter()
            .any(|t| t.id == old && t.desired == TaskDesired::Running));
        // Paused: later passes keep the old task and place nothing new.
        s[0].update_status = w.services[0].update_status.clone();
        let st = statuses(&tasks, &[]);
        let w = reconcile(&s, &tasks, &nodes, &st, "t4").unwrap();
        assert!(w.tasks.is_empty(), "{:?}", w.tasks);
    }

    #[test]
    fn a_scale_keeps_the_running_tasks() {
        let nodes = vec![
            node("a", true, NodeAvailability::Active),
            node("b", true, NodeAvailability::Active),
        ];
        let mut s = vec![service("s1", 2, 1)];
        let mut tasks = Vec::new();
        step(&mut tasks, &s, &nodes, "t1");
        let before: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
        s[0].version = 2;
        s[0].spec.replicas = 3;
        step(&mut tasks, &s, &nodes, "t2");
        assert_eq!(tasks.len(), 3);
        for id in before {
            assert!(
                tasks
                    .iter()
                    .any(|t| t.id == id && t.desired == TaskDesired::Running),
                "task {id} was replaced by a scale"
            );
        }
    }

    #[test]
    fn history_is_bounded_and_a_removed_service_s_tasks_go() {
        let nodes = vec![node("a", true, NodeAvailability::Active)];
        let mut s = vec![service("s1", 1, 1)];
        let mut tasks = Vec::new();
        for v in 1..=10u64 {
            s[0].version = v;
            s[0].swarm.as_mut().unwrap().template_version = v;
            step(&mut tasks, &s, &nodes, &format!("t{v:02}"));
        }
        let ended = tasks
            .iter()
            .filter(|t| t.desired == TaskDesired::Shutdown)
            .count();
        assert_eq!(ended, TASK_HISTORY);
        assert_eq!(running_on(&tasks).get("a"), Some(&1));
        s[0].removing = true;
        step(&mut tasks, &s, &nodes, "t99");
        assert!(tasks.is_empty());
    }
}

//! Where a service's rolling update stands, from its tasks and what their nodes report: go on
//! with the next batch, wait for the last one (its replicas not running yet, the delay
//! between batches not over, or the monitor period after the last batch not over), stop on a
//! failed replica (the failure action decides what then), or say that the update is
//! complete. Pure.
//!
//! As Docker's updater does: a batch is done once its new replicas run, and the next one
//! starts after `--update-delay`; a new replica that fails (ends, cannot start, or was
//! restarted by its node) before the update completes is a failed update; the update
//! completes only when every new replica has run for `--update-monitor` since its start.
//! With `--update-order start-first` a slot's new task runs beside the old one until it
//! runs: the old one is *outgoing* ([`outgoing`]) and is shut down then.

use ferry_cluster::tasks::{TaskDesired, TaskRecord, TaskStatus};
use ferry_types::placement::ServiceMode;
use ferry_types::service::{FailureAction, Service};
use ferry_types::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// What the leader does with a service's update in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// No update under way.
    Idle,
    /// Replace the next `batch` outdated tasks.
    Proceed {
        /// How many.
        batch: usize,
    },
    /// The last batch is not running yet, or the delay between batches or the monitor
    /// period is not over.
    Wait {
        /// When (milliseconds since the epoch) waiting ends by itself, if time alone ends
        /// it: the leader looks again then.
        until_ms: Option<i64>,
    },
    /// A replica of the new spec failed, and the failure action is not `continue`.
    Failed {
        /// The task that failed.
        task: String,
        /// What its node reported.
        why: String,
    },
    /// Every task runs the new spec: the update is complete.
    Completed,
}

/// An RFC 3339 time in milliseconds since the epoch.
pub fn millis(s: &str) -> Option<i64> {
    Timestamp::parse(s).map(|t| t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000))
}

/// Whether a node reports a task's replica as failed (ended, not started, or started again
/// after it ended), and why.
pub fn failure(status: &TaskStatus) -> Option<String> {
    if !status.error.is_empty() {
        return Some(status.error.clone());
    }
    if status.state == "exited" || status.state == "rejected" {
        return Some(match status.exit_code {
            Some(c) => format!("its replica exited with code {c}"),
            None => "its replica exited".to_string(),
        });
    }
    (status.restarts > 0).then(|| {
        format!(
            "its replica ended and was restarted {} time(s)",
            status.restarts
        )
    })
}

/// What pairs an old task with the new one that replaces it: the slot of a replicated
/// service, the node of a global one (whose new task may take another slot).
fn pair_key(s: &Service, t: &TaskRecord) -> String {
    match s.spec.mode {
        ServiceMode::Global => format!("node {}", t.node_id),
        _ => format!("slot {}", t.slot),
    }
}

/// The outdated tasks (desired running, of a template version below `version`) whose slot
/// (node, for a global service) already has a task of `version` (placed, or waiting for a
/// node): an update started their replacement first, and they stop once it runs.
pub fn outgoing(s: &Service, own: &[&TaskRecord], version: u64) -> BTreeSet<String> {
    let placed = |t: &&&TaskRecord| t.desired == TaskDesired::Running && !t.node_id.is_empty();
    // A new task still waiting for a node holds its slot too: the old one runs meanwhile.
    let renewed: BTreeSet<String> = own
        .iter()
        .filter(|t| t.desired == TaskDesired::Running && t.spec_version == version)
        .filter(|t| !t.node_id.is_empty() || s.spec.mode != ServiceMode::Global)
        .map(|t| pair_key(s, t))
        .collect();
    own.iter()
        .filter(placed)
        .filter(|t| t.spec_version < version && renewed.contains(&pair_key(s, t)))
        .map(|t| t.id.clone())
        .collect()
}

/// The task of `version` that replaces the outgoing task `old`, if one is placed.
pub fn replacement<'a>(
    s: &Service,
    own: &[&'a TaskRecord],
    version: u64,
    old: &TaskRecord,
) -> Option<&'a TaskRecord> {
    let key = pair_key(s, old);
    own.iter().copied().find(|t| {
        t.desired == TaskDesired::Running
            && !t.node_id.is_empty()
            && t.spec_version == version
            && pair_key(s, t) == key
    })
}

/// Whether the node reports the task's replica running.
pub fn is_running(statuses: &BTreeMap<String, TaskStatus>, task: &str) -> bool {
    statuses.get(task).is_some_and(|st| st.state == "running")
}

/// The state of `s`'s update: `own` are its tasks, `version` the template version tasks must
/// run, `now_ms` the time in milliseconds since the epoch.
pub fn rollout(
    s: &Service,
    own: &[&TaskRecord],
    statuses: &BTreeMap<String, TaskStatus>,
    version: u64,
    now_ms: i64,
) -> Rollout {
    let paused = s
        .update_status
        .as_ref()
        .is_some_and(|u| u.state == "paused");
    let running: Vec<&TaskRecord> = own
        .iter()
        .copied()
        .filter(|t| t.desired == TaskDesired::Running)
        .collect();
    let in_flight = outgoing(s, own, version);
    let all_outdated = running
        .iter()
        .filter(|t| !t.node_id.is_empty() && t.spec_version < version)
        .count();
    // Outdated tasks whose replacement has not started yet.
    let outdated = running
        .iter()
        .filter(|t| !t.node_id.is_empty() && t.spec_version < version)
        .filter(|t| !in_flight.contains(&t.id))
        .count();
    let current: Vec<&TaskRecord> = running
        .iter()
        .copied()
        .filter(|t| t.spec_version == version)
        .collect();
    let in_update = s
        .update_status
        .as_ref()
        .is_some_and(|u| matches!(u.state.as_str(), "updating" | "rollback_started"));
    if in_update && s.spec.update.failure_action != FailureAction::Continue {
        for t in &current {
            if let Some(why) = statuses.get(&t.id).and_then(failure) {
                return Rollout::Failed {
                    task: t.id.clone(),
                    why,
                };
            }
        }
    }
    if paused {
        return Rollout::Idle;
    }
    let not_running = current.iter().any(|t| !is_running(statuses, &t.id));
    // When the newest of the new replicas started (their nodes' clocks), or was placed.
    let last_start = current
        .iter()
        .filter_map(|t| {
            statuses
                .get(&t.id)
                .and_then(|st| millis(&st.started_at))
                .or_else(|| millis(&t.created_at))
        })
        .max();
    if all_outdated == 0 {
        if !in_update {
            return Rollout::Idle;
        }
        if not_running {
            return Rollout::Wait { until_ms: None };
        }
        // The monitor period after the last batch: a replica failing in it fails the update.
        let monitor = i64::try_from(s.spec.update.monitor_ms).unwrap_or(i64::MAX);
        if let Some(l) = last_start {
            let until = l.saturating_add(monitor);
            if now_ms < until {
                return Rollout::Wait {
                    until_ms: Some(until),
                };
            }
        }
        return Rollout::Completed;
    }
    // A batch in flight: wait until its replicas run.
    if not_running {
        return Rollout::Wait { until_ms: None };
    }
    if outdated == 0 {
        // Only outgoing tasks are left: this pass shuts them down.
        return Rollout::Wait { until_ms: None };
    }
    let delay = i64::try_from(s.spec.update.delay_ms).unwrap_or(i64::MAX);
    if delay > 0 {
        if let Some(l) = last_start {
            let until = l.saturating_add(delay);
            if now_ms < until {
                return Rollout::Wait {
                    until_ms: Some(until),
                };
            }
        }
    }
    Rollout::Proceed {
        batch: match s.spec.update.parallelism {
            0 => outdated,
            n => n as usize,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::service::{ServiceSpec, SwarmTasks, UpdateOrder, UpdateStatus};

    /// 2026-01-01T00:00:00Z in milliseconds.
    const T0: i64 = 1_767_225_600_000;

    fn service(version: u64, state: Option<&str>, action: FailureAction) -> Service {
        let t = ferry_types::time::Timestamp::now();
        let mut spec = ServiceSpec {
            replicas: 2,
            ..Default::default()
        };
        spec.update.failure_action = action;
        spec.update.monitor_ms = 0;
        Service {
            id: "s".into(),
            name: "web".into(),
            created: t,
            updated: t,
            version,
            spec,
            vips: vec![],
            removing: false,
            swarm: Some(SwarmTasks {
                here: Default::default(),
                outgoing: Default::default(),
                template_version: version,
            }),
            previous_spec: None,
            update_status: state.map(|s| UpdateStatus {
                state: s.into(),
                message: String::new(),
            }),
        }
    }

    fn task(id: &str, version: u64) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            service_id: "s".into(),
            slot: 1,
            node_id: "n".into(),
            desired: TaskDesired::Running,
            spec_version: version,
            created_at: "2026-01-01T00:00:00Z".into(),
            message: String::new(),
        }
    }

    fn status(id: &str, state: &str, code: Option<i32>) -> (String, TaskStatus) {
        (
            id.to_string(),
            TaskStatus {
                task_id: id.into(),
                node_id: "n".into(),
                state: state.into(),
                error: String::new(),
                exit_code: code,
                sandbox_id: String::new(),
                addresses: vec![],
                started_at: "2026-01-01T00:00:01Z".into(),
                restarts: 0,
            },
        )
    }

    const WAIT: Rollout = Rollout::Wait { until_ms: None };

    #[test]
    fn an_update_proceeds_waits_and_completes() {
        let s = service(2, Some("updating"), FailureAction::Pause);
        let (mut old, new) = (task("a", 1), task("b", 2));
        old.slot = 2;
        let own = vec![&old, &new];
        let mut st = BTreeMap::from([status("a", "running", None)]);
        assert_eq!(
            rollout(&s, &own, &st, 2, T0 + 2000),
            WAIT,
            "b not running yet"
        );
        st.extend([status("b", "running", None)]);
        assert_eq!(
            rollout(&s, &own, &st, 2, T0 + 2000),
            Rollout::Proceed { batch: 1 }
        );
        let done = vec![&new];
        assert_eq!(rollout(&s, &done, &st, 2, T0 + 2000), Rollout::Completed);
        let s = service(2, None, FailureAction::Pause);
        assert_eq!(rollout(&s, &done, &st, 2, T0 + 2000), Rollout::Idle);
    }

    #[test]
    fn a_failed_replica_stops_the_update_unless_told_to_continue() {
        let (mut old, new) = (task("a", 1), task("b", 2));
        old.slot = 2;
        let own = vec![&old, &new];
        let st = BTreeMap::from([status("a", "running", None), status("b", "exited", Some(3))]);
        let s = service(2, Some("updating"), FailureAction::Rollback);
        assert!(matches!(
            rollout(&s, &own, &st, 2, T0),
            Rollout::Failed { .. }
        ));
        let s = service(2, Some("updating"), FailureAction::Continue);
        assert_eq!(rollout(&s, &own, &st, 2, T0), WAIT);
        // Paused: nothing more until the user updates the service again.
        let s = service(2, Some("paused"), FailureAction::Pause);
        assert_eq!(rollout(&s, &own, &st, 2, T0), Rollout::Idle);
    }

    #[test]
    fn the_update_completes_only_after_the_monitor_period() {
        let mut s = service(2, Some("updating"), FailureAction::Pause);
        s.spec.update.monitor_ms = 5000;
        let new = task("b", 2);
        let own = vec![&new];
        let mut st = BTreeMap::from([status("b", "running", None)]);
        // Started at T0 + 1 s: the monitor ends at T0 + 6 s.
        assert_eq!(
            rollout(&s, &own, &st, 2, T0 + 3000),
            Rollout::Wait {
                until_ms: Some(T0 + 6000)
            }
        );
        assert_eq!(rollout(&s, &own, &st, 2, T0 + 6000), Rollout::Completed);
        // A replica its node restarted within the period failed, even if it runs again.
        if let Some(b) = st.get_mut("b") {
            b.restarts = 1;
        }
        match rollout(&s, &own, &st, 2, T0 + 3000) {
            Rollout::Failed { task, why } => {
                assert_eq!(task, "b");
                assert!(why.contains("restarted"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn start_first_keeps_the_old_task_until_the_new_one_runs() {
        let mut s = service(2, Some("updating"), FailureAction::Pause);
        s.spec.update.order = UpdateOrder::StartFirst;
        s.spec.replicas = 1;
        let (old, new) = (task("a", 1), task("b", 2));
        let own = vec![&old, &new];
        assert_eq!(
            outgoing(&s, &own, 2),
            BTreeSet::from(["a".to_string()]),
            "a's slot has a new task"
        );
        assert_eq!(replacement(&s, &own, 2, &old).map(|t| &t.id), Some(&new.id));
        let mut st = BTreeMap::from([status("a", "running", None)]);
        assert_eq!(rollout(&s, &own, &st, 2, T0), WAIT, "b not running yet");
        st.extend([status("b", "running", None)]);
        // b runs: the pass shuts a down; nothing else to replace.
        assert_eq!(rollout(&s, &own, &st, 2, T0), WAIT);
        // An old task alone in its slot is not outgoing.
        assert!(outgoing(&s, &[&old], 2).is_empty());
    }

    #[test]
    fn a_global_service_pairs_its_tasks_by_node() {
        let mut s = service(2, Some("updating"), FailureAction::Pause);
        s.spec.mode = ServiceMode::Global;
        let (old, mut new, mut other) = (task("a", 1), task("b", 2), task("c", 1));
        new.slot = 7;
        other.node_id = "m".into();
        let own = vec![&old, &new, &other];
        assert_eq!(outgoing(&s, &own, 2), BTreeSet::from(["a".to_string()]));
    }

    #[test]
    fn the_delay_counts_from_the_last_start() {
        let mut s = service(2, Some("updating"), FailureAction::Pause);
        s.spec.update.delay_ms = 2000;
        let (mut old, new) = (task("a", 1), task("b", 2));
        old.slot = 2;
        let own = vec![&old, &new];
        let st = BTreeMap::from([status("a", "running", None), status("b", "running", None)]);
        assert_eq!(
            rollout(&s, &own, &st, 2, T0 + 2000),
            Rollout::Wait {
                until_ms: Some(T0 + 3000)
            }
        );
        assert_eq!(
            rollout(&s, &own, &st, 2, T0 + 3000),
            Rollout::Proceed { batch: 1 }
        );
    }
}

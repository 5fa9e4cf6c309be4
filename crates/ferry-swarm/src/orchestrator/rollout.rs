//! Where a service's rolling update stands, from its tasks and what their nodes report: go on
//! with the next batch, wait for the last one (its replicas not running yet, or the delay
//! between batches not over), stop on a failed replica (the failure action decides what then),
//! or say that the update is complete. Pure.

use ferry_cluster::tasks::{TaskDesired, TaskRecord, TaskStatus};
use ferry_types::service::{FailureAction, Service};
use std::collections::BTreeMap;

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
    /// The last batch is not running yet, or the delay between batches is not over.
    Wait,
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

/// Whether a node reports a task's replica as failed: ended, or not started.
fn failed(status: &TaskStatus) -> Option<String> {
    if !status.error.is_empty() {
        return Some(status.error.clone());
    }
    (status.state == "exited").then(|| match status.exit_code {
        Some(c) => format!("its replica exited with code {c}"),
        None => "its replica exited".to_string(),
    })
}

/// The state of `s`'s update: `own` are its tasks, `version` the template version tasks must
/// run, `now` the time in seconds.
pub fn rollout(
    s: &Service,
    own: &[&TaskRecord],
    statuses: &BTreeMap<String, TaskStatus>,
    version: u64,
    now: i64,
) -> Rollout {
    let paused = s
        .update_status
        .as_ref()
        .is_some_and(|u| u.state == "paused");
    let running: Vec<&&TaskRecord> = own
        .iter()
        .filter(|t| t.desired == TaskDesired::Running)
        .collect();
    let outdated = running
        .iter()
        .filter(|t| !t.node_id.is_empty() && t.spec_version < version)
        .count();
    let current: Vec<&&&TaskRecord> = running
        .iter()
        .filter(|t| t.spec_version == version)
        .collect();
    let in_update = s
        .update_status
        .as_ref()
        .is_some_and(|u| matches!(u.state.as_str(), "updating" | "rollback_started"));
    if in_update && s.spec.update.failure_action != FailureAction::Continue {
        for t in &current {
            if let Some(why) = statuses.get(&t.id).and_then(failed) {
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
    let not_running = current
        .iter()
        .any(|t| statuses.get(&t.id).is_none_or(|st| st.state != "running"));
    if outdated == 0 {
        return if in_update && !not_running {
            Rollout::Completed
        } else {
            Rollout::Idle
        };
    }
    // A batch in flight: wait until its replicas run.
    if not_running {
        return Rollout::Wait;
    }
    let delay = (s.spec.update.delay_ms / 1000) as i64;
    if delay > 0 {
        let last = current
            .iter()
            .filter_map(|t| ferry_types::time::parse_rfc3339(&t.created_at))
            .max();
        if last.is_some_and(|l| now < l + delay) {
            return Rollout::Wait;
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
    use ferry_types::service::{ServiceSpec, SwarmTasks, UpdateStatus};

    fn service(version: u64, state: Option<&str>, action: FailureAction) -> Service {
        let t = ferry_types::time::Timestamp::now();
        let mut spec = ServiceSpec {
            replicas: 2,
            ..Default::default()
        };
        spec.update.failure_action = action;
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
            },
        )
    }

    #[test]
    fn an_update_proceeds_waits_and_completes() {
        let s = service(2, Some("updating"), FailureAction::Pause);
        let (old, new) = (task("a", 1), task("b", 2));
        let own = vec![&old, &new];
        let mut st = BTreeMap::from([status("a", "running", None)]);
        assert_eq!(
            rollout(&s, &own, &st, 2, 0),
            Rollout::Wait,
            "b not running yet"
        );
        st.extend([status("b", "running", None)]);
        assert_eq!(rollout(&s, &own, &st, 2, 0), Rollout::Proceed { batch: 1 });
        let done = vec![&new];
        assert_eq!(rollout(&s, &done, &st, 2, 0), Rollout::Completed);
        let s = service(2, None, FailureAction::Pause);
        assert_eq!(rollout(&s, &done, &st, 2, 0), Rollout::Idle);
    }

    #[test]
    fn a_failed_replica_stops_the_update_unless_told_to_continue() {
        let (old, new) = (task("a", 1), task("b", 2));
        let own = vec![&old, &new];
        let st = BTreeMap::from([status("a", "running", None), status("b", "exited", Some(3))]);
        let s = service(2, Some("updating"), FailureAction::Rollback);
        assert!(matches!(
            rollout(&s, &own, &st, 2, 0),
            Rollout::Failed { .. }
        ));
        let s = service(2, Some("updating"), FailureAction::Continue);
        assert_eq!(rollout(&s, &own, &st, 2, 0), Rollout::Wait);
        // Paused: nothing more until the user updates the service again.
        let s = service(2, Some("paused"), FailureAction::Pause);
        assert_eq!(rollout(&s, &own, &st, 2, 0), Rollout::Idle);
    }
}

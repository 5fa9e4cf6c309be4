//! Swarm services' tasks: the leader's decisions of which replica runs on which node, and what
//! each node reports of the replicas it runs.
//!
//! - A **task** (`tasks/<id>`) is one replica slot of a service placed on one node (or waiting
//!   for one: `node_id` empty, `pending` says why). Only the leader writes tasks, each write
//!   fenced by its leadership record, so a deposed leader writes nothing. A task the leader
//!   moves or replaces is not deleted at once: it turns `Shutdown` (the node that ran it stops
//!   its replica, also when it comes back after being Down) and stays a while as history for
//!   `service ps`.
//! - A **status** (`task_status/<id>`) is what the node running a task reports of it, on the
//!   node's session lease: when the node dies its statuses vanish with it.
//! - The **leader** record (`swarm/leader`) is on the leader's lease: the manager that writes it
//!   where there is none leads until its lease ends.

use serde::{Deserialize, Serialize};

/// The leader's record's key in the `swarm` table.
pub const LEADER_KEY: &str = "leader";

/// How many ended tasks of a slot are kept for `service ps` (Docker keeps 5 in all).
pub const TASK_HISTORY: usize = 4;

/// The manager that leads the placement of services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    /// The leader's node ID.
    pub node_id: String,
    /// When it became leader (RFC 3339).
    pub since: String,
}

/// What the leader wants of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskDesired {
    /// Its replica runs on its node.
    Running,
    /// Its replica is stopped and removed; the record is history.
    Shutdown,
}

impl TaskDesired {
    /// Docker's word.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskDesired::Running => "Running",
            TaskDesired::Shutdown => "Shutdown",
        }
    }
}

/// One replica slot of a service, placed on a node by the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Task ID (25 lowercase letters and digits, as Docker's).
    pub id: String,
    /// The service's ID.
    pub service_id: String,
    /// The slot, from 1 (a global service's tasks get the lowest free ones).
    pub slot: u32,
    /// The node that runs it; empty while it waits for one.
    #[serde(default)]
    pub node_id: String,
    /// Whether its replica should run.
    pub desired: TaskDesired,
    /// The service version whose spec it runs.
    pub spec_version: u64,
    /// When the leader made it (RFC 3339).
    pub created_at: String,
    /// Why it waits for a node (Docker's "no suitable node (...)"), or why it was shut down.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl TaskRecord {
    /// Whether its replica should run on `node_id`.
    pub fn runs_on(&self, node_id: &str) -> bool {
        self.desired == TaskDesired::Running && self.node_id == node_id
    }

    /// Whether it waits for a node.
    pub fn is_pending(&self) -> bool {
        self.desired == TaskDesired::Running && self.node_id.is_empty()
    }
}

/// What a node reports of a task it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: String,
    /// The node reporting.
    pub node_id: String,
    /// The replica's state: `created`, `running`, `exited`.
    pub state: String,
    /// Why its last start failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Its exit code, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The replica sandbox's ID.
    pub sandbox_id: String,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// When its current run started (RFC 3339); empty when it never ran. The leader's
    /// update monitor counts from it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// How many times the node started the task's replica again after it ended: a replica
    /// restarted between two of the leader's looks has failed all the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A new task ID: 25 characters of `[0-9a-z]`, as Docker's.
pub fn new_task_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 25];
    // The kernel's CSPRNG does not fail once the system has booted.
    let _ = getrandom::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_look_like_dockers() {
        let a = new_task_id();
        assert_eq!(a.len(), 25);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, new_task_id());
    }

    #[test]
    fn a_task_says_where_it_runs() {
        let mut t = TaskRecord {
            id: new_task_id(),
            service_id: "s".into(),
            slot: 1,
            node_id: String::new(),
            desired: TaskDesired::Running,
            spec_version: 1,
            created_at: String::new(),
            message: "no suitable node".into(),
        };
        assert!(t.is_pending());
        assert!(!t.runs_on("n1"));
        t.node_id = "n1".into();
        assert!(t.runs_on("n1") && !t.is_pending());
        t.desired = TaskDesired::Shutdown;
        assert!(!t.runs_on("n1"));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TaskRecord>(&json).unwrap(), t);
    }
}

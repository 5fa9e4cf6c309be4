//! The services' leader: one manager at a time places every swarm service's replicas on the
//! nodes, by writing task records; each node runs the tasks placed on it (the engine's side).
//!
//! **Election.** Every manager runs [`run`]. Where no leader record exists (`swarm/leader`),
//! a manager writes its own on its session lease, on condition that the key is absent; the
//! one whose write lands leads. It leads until its lease ends (its daemon stopped, or etcd
//! lost it for longer than the TTL), when etcd deletes the record and the others race again.
//! **Fencing.** Every write of the leader is conditional on the record being the one it
//! wrote (its revision), so a leader that lost its lease while busy writes nothing more:
//! its next write fails and it goes back to campaigning.
//!
//! **Placement passes.** The leader runs a pass ([`reconcile`]) whenever services, tasks,
//! nodes or sessions change (a watch of each), and every few seconds besides; a pass reads
//! the four tables and writes what differs. A node whose session lease expired is Down at
//! that moment, so its replicas are placed elsewhere within a pass of the expiry.

pub mod reconcile;
pub mod rollout;

use crate::records::{Availability, NodeRecord, SessionRecord};
use ferry_cluster::placement::{NodeAvailability, NodeState};
use ferry_cluster::tasks::{LeaderRecord, TaskRecord, TaskStatus, LEADER_KEY};
use ferry_pki::Role;
use ferry_store::{Condition, Op, Store, StoreError, Table, Txn};
use ferry_types::placement::{NodeFacts, NodeRoleFact};
use ferry_types::service::Service;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a follower looks for a missing leader, and how long a failed step waits.
const POLL: Duration = Duration::from_millis(500);
/// A leader's pass runs at least this often, whatever the watches say.
const PASS_EVERY: Duration = Duration::from_secs(2);
/// How many task writes one transaction carries (etcd allows 128 operations; one is the
/// fence).
const BATCH: usize = 100;

/// Runs the election and, while this node leads, the placement passes, until aborted.
/// `leases` follows the node's session lease.
pub async fn run(store: Arc<dyn Store>, node_id: String, leases: watch::Receiver<i64>) {
    loop {
        let lease = *leases.borrow();
        match campaign(&*store, &node_id, lease).await {
            Ok(Some(revision)) => {
                tracing::info!(node = %node_id, "this manager leads the placement of services");
                lead(&store, &node_id, revision, leases.clone()).await;
                tracing::info!(node = %node_id, "this manager no longer leads");
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "the services' leader cannot be elected now"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Becomes leader when there is none and this node is a manager: the revision of the record
/// written, or `None` when another node leads (or this one may not).
async fn campaign(store: &dyn Store, node_id: &str, lease: i64) -> Result<Option<u64>, StoreError> {
    // A record, even one this node wrote before a restart, leads until its lease ends.
    if store.get(Table::Swarm, LEADER_KEY).await?.is_some() {
        return Ok(None);
    }
    if !is_manager(store, node_id).await? {
        return Ok(None);
    }
    let rec = LeaderRecord {
        node_id: node_id.to_string(),
        since: ferry_types::time::Timestamp::now().to_string(),
    };
    let txn = Txn::new(vec![Op::put_json_leased(
        Table::Swarm,
        LEADER_KEY,
        &rec,
        lease,
    )?])
    .when(Condition::Absent {
        table: Table::Swarm,
        key: LEADER_KEY.into(),
    });
    match store.apply(txn).await {
        Ok(revision) => Ok(Some(revision)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn is_manager(store: &dyn Store, node_id: &str) -> Result<bool, StoreError> {
    let Some(r) = store.get(Table::Nodes, node_id).await? else {
        return Ok(false);
    };
    Ok(serde_json::from_slice::<NodeRecord>(&r.value).is_ok_and(|n| n.role == Role::Manager))
}

/// Leads until a fenced write fails, the session's lease changes or the node is no longer a
/// manager.
async fn lead(
    store: &Arc<dyn Store>,
    node_id: &str,
    revision: u64,
    mut leases: watch::Receiver<i64>,
) {
    let fence = Condition::KeyAt {
        table: Table::Swarm,
        key: LEADER_KEY.into(),
        revision,
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    // The nodes' task reports move updates on (a batch runs, a replica fails).
    let watchers: Vec<tokio::task::JoinHandle<()>> = [
        Table::Services,
        Table::Tasks,
        Table::TaskStatus,
        Table::Nodes,
        Table::Sessions,
        Table::Swarm,
    ]
    .into_iter()
    .map(|t| tokio::spawn(watch_table(store.clone(), t, wake.clone())))
    .collect();
    let _stop = AbortOnDrop(watchers);
    loop {
        let mut next = PASS_EVERY;
        match pass(&**store, node_id, &fence).await {
            Ok(Some(wake_at_ms)) => {
                // An update's delay or monitor period ends then.
                if let Some(at) = wake_at_ms {
                    let now = rollout::millis(&ferry_types::time::Timestamp::now().to_string());
                    let wait = at.saturating_sub(now.unwrap_or(at));
                    next = next.min(Duration::from_millis(wait.clamp(1, i64::MAX) as u64));
                }
            }
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "a placement pass failed; trying again"),
        }
        tokio::select! {
            _ = wake.notified() => {
                // Changes come in bursts (a transaction's events, several nodes at once).
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ = tokio::time::sleep(next) => {}
            // A new lease (or none): the record on the old one is gone, or going.
            _ = leases.changed() => return,
        }
    }
}

/// One placement pass: `Ok(None)` when this node no longer leads, else when (milliseconds
/// since the epoch) an update waits for time alone, if one does.
async fn pass(
    store: &dyn Store,
    node_id: &str,
    fence: &Condition,
) -> Result<Option<Option<i64>>, StoreError> {
    let leader = store.get(Table::Swarm, LEADER_KEY).await?;
    let (_, key) = fence.target();
    let still = match (&leader, fence) {
        (Some(r), Condition::KeyAt { revision, .. }) => r.mod_revision == *revision,
        _ => false,
    };
    if !still {
        tracing::debug!(key, "the leader record is no longer this node's");
        return Ok(None);
    }
    let nodes: Vec<NodeRecord> = ferry_store::list_json(store, Table::Nodes).await?;
    if !nodes
        .iter()
        .any(|n| n.id == node_id && n.role == Role::Manager)
    {
        // Demoted: step down, so that a manager leads.
        let _ = store
            .apply(Txn::new(vec![Op::delete(Table::Swarm, LEADER_KEY)]).when(fence.clone()))
            .await;
        return Ok(None);
    }
    let sessions: Vec<SessionRecord> = ferry_store::list_json(store, Table::Sessions).await?;
    let up: BTreeSet<&str> = sessions.iter().map(|s| s.node_id.as_str()).collect();
    let states: Vec<NodeState> = nodes
        .iter()
        .map(|n| node_state(n, up.contains(n.id.as_str())))
        .collect();
    let mut services: Vec<Service> = Vec::new();
    let mut revisions: BTreeMap<String, u64> = BTreeMap::new();
    for e in store.list(Table::Services).await?.entries {
        match serde_json::from_slice::<Service>(&e.value) {
            Ok(svc) => {
                revisions.insert(svc.id.clone(), e.mod_revision);
                services.push(svc);
            }
            Err(err) => {
                tracing::warn!(key = %e.key, error = %err, "unreadable service record ignored")
            }
        }
    }
    let tasks: Vec<TaskRecord> = ferry_store::list_json(store, Table::Tasks).await?;
    let statuses: BTreeMap<String, TaskStatus> =
        ferry_store::list_json::<TaskStatus>(store, Table::TaskStatus)
            .await?
            .into_iter()
            .map(|s| (s.task_id.clone(), s))
            .collect();
    let now = ferry_types::time::Timestamp::now().to_string();
    let writes = reconcile::reconcile(&services, &tasks, &states, &statuses, &now)?;
    // An update that failed, was rolled back or completed: the service's record says so,
    // written only if nobody changed it since it was read.
    for svc in &writes.services {
        let Some(rev) = revisions.get(&svc.id) else {
            continue;
        };
        if let Some(u) = &svc.update_status {
            tracing::info!(service = %svc.name, state = %u.state, message = %u.message, "service update");
        }
        let txn = Txn::new(vec![Op::put_json(Table::Services, &svc.id, svc)?])
            .when(fence.clone())
            .when(Condition::KeyAt {
                table: Table::Services,
                key: svc.id.clone(),
                revision: *rev,
            });
        match store.apply(txn).await {
            Ok(_) => {}
            Err(StoreError::Conflict { key: k, .. }) if k == LEADER_KEY => return Ok(None),
            // Changed meanwhile: the next pass sees the new record.
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let ops = &writes.tasks;
    if !ops.is_empty() {
        tracing::debug!(writes = ops.len(), "placement pass");
    }
    for chunk in ops.chunks(BATCH) {
        let txn = Txn::new(chunk.to_vec()).when(fence.clone());
        match store.apply(txn).await {
            Ok(_) => {}
            Err(StoreError::Conflict { key: k, .. }) if k == LEADER_KEY => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(writes.wake_at_ms))
}

/// What placement needs of a node. Every node is taken to be of the leader's platform (the
/// swarm records no other).
pub fn node_state(n: &NodeRecord, up: bool) -> NodeState {
    NodeState {
        facts: NodeFacts {
            id: n.id.clone(),
            hostname: n.hostname.clone(),
            role: match n.role {
                Role::Manager => NodeRoleFact::Manager,
                Role::Worker => NodeRoleFact::Worker,
            },
            labels: n.labels.clone(),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        },
        up,
        availability: match n.availability {
            Availability::Active => NodeAvailability::Active,
            Availability::Pause => NodeAvailability::Pause,
            Availability::Drain => NodeAvailability::Drain,
        },
    }
}

/// Wakes `wake` on every change of `table`, watching again after a lost watch.
async fn watch_table(store: Arc<dyn Store>, table: Table, wake: Arc<tokio::sync::Notify>) {
    loop {
        let from = match store.list(table).await {
            Ok(l) => l.revision + 1,
            Err(_) => {
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        wake.notify_one();
        if let Ok(mut events) = store.watch(table, from).await {
            while let Some(Ok(_)) = events.next().await {
                wake.notify_one();
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The watches a leader runs, stopped with it.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

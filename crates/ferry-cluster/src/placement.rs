//! Placement of a swarm service's replicas on the nodes: which running replicas stay, which
//! stop and why, which new ones start where, and which cannot be placed and why. Pure: the
//! leader reads the nodes and tasks, calls [`place`], and writes what it decided.
//!
//! The rules are Docker's (swarmkit's scheduler and orchestrators), made deterministic:
//! - A running replica stays while its node is up and not drained (a paused node keeps what
//!   it runs), still satisfies the constraints and holds no more than the per-node limit.
//!   Replicas never move to even out the load when nodes join, as in Docker.
//! - A new replica goes to an eligible node (up, `active`, constraints met, under the
//!   per-node limit). Spread preferences come first: at each preference in turn, the
//!   service's replicas are divided evenly among the label's values, the nodes without the
//!   label forming one group (the empty value), counting the replicas already there; a new
//!   replica goes to the group with the fewest among those that have an eligible node (ties:
//!   the smaller value). Within the group: the node with the fewest replicas of this service,
//!   then the fewest tasks overall, then the smallest node ID.
//!
//!   swarmkit builds the same groups (over all nodes, eligible or not, the empty value for a
//!   missing label, label values compared exactly) and counts existing replicas the same
//!   way, but divides a batch at once and hands out the remainder in Go's random map order,
//!   so that with uneven existing counts a group can get more than its even share; placing
//!   one replica at a time into the emptiest group gives the even division it aims at, and
//!   the same answer every time.
//! - A global service runs one replica on each node that is up, not drained and satisfies
//!   the constraints (a paused node keeps its replica but gets none new), as swarmkit's
//!   global orchestrator does; it has no pending replicas.
//! - A replica that cannot be placed is pending with Docker's reason: each node counts once,
//!   for the first test it fails (available for new tasks, then constraints, then the
//!   per-node limit), the most frequent first.

use ferry_types::placement::{NodeFacts, Placement, ServiceMode};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use ferry_types::placement::NodeAvailability;

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// What constraints and preferences look at.
    pub facts: NodeFacts,
    /// Whether it holds its session lease (Docker's `Ready`); a node that is not up runs
    /// nothing that placement counts on.
    pub up: bool,
    /// Whether it takes replicas.
    pub availability: NodeAvailability,
}

impl NodeState {
    /// Whether it may be given new replicas (before constraints and limits).
    fn takes_new(&self) -> bool {
        self.up && self.availability == NodeAvailability::Active
    }
}

/// What the service asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDemand<'a> {
    /// Replicated or global.
    pub mode: ServiceMode,
    /// How many replicas (ignored for global services).
    pub replicas: u32,
    /// Constraints, preferences and the per-node limit. A global service uses only the
    /// constraints: it runs one replica on each eligible node.
    pub placement: &'a Placement,
}

/// A replica of the service (desired running) and the node it is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assignment {
    /// Its slot: 1..=replicas for a replicated service, any number for a global one.
    pub slot: u32,
    /// The node's ID.
    pub node_id: String,
}

/// Why a running replica stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopReason {
    /// Its node is down, or no longer in the cluster.
    NodeDown,
    /// Its node is drained.
    NodeDrained,
    /// Its node no longer satisfies the constraints.
    ConstraintsNotMet,
    /// Its slot is above the replica count (the service was scaled down).
    AboveReplicaCount,
    /// Its node runs more replicas of the service than the per-node limit allows.
    AbovePerNodeLimit,
    /// Another replica has its slot (or, for a global service, its node).
    Duplicate,
}

impl StopReason {
    /// Why, in words, for `service ps` and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::NodeDown => "node is down",
            StopReason::NodeDrained => "node is drained",
            StopReason::ConstraintsNotMet => "node no longer satisfies the constraints",
            StopReason::AboveReplicaCount => "service scaled down",
            StopReason::AbovePerNodeLimit => "max replicas per node limit exceeded",
            StopReason::Duplicate => "another replica has its slot",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A slot that could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pending {
    /// The slot.
    pub slot: u32,
    /// Docker's wording: `no suitable node (scheduling constraints not satisfied on 2 nodes;
    /// 1 node not available for new tasks)`.
    pub reason: String,
}

/// What to do, each list sorted (by slot, then node).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Replicas that stay where they are.
    pub keep: Vec<Assignment>,
    /// Replicas to stop, and why.
    pub stop: Vec<(Assignment, StopReason)>,
    /// Replicas to start.
    pub start: Vec<Assignment>,
    /// Slots of a replicated service that no node can take now.
    pub pending: Vec<Pending>,
}

/// Decides where the service's replicas run.
///
/// `nodes` are every node of the cluster (IDs unique), `current` the service's replicas that
/// are desired running, `load` the number of running tasks of other services on each node
/// (by node ID; a missing node counts 0). Identical entries in `current` (the same slot on
/// the same node twice) are kept once, the others stopped as duplicates.
pub fn place(
    demand: ServiceDemand<'_>,
    nodes: &[NodeState],
    current: &[Assignment],
    load: &BTreeMap<String, u32>,
) -> Plan {
    let mut nodes: Vec<&NodeState> = nodes.iter().collect();
    nodes.sort_by(|a, b| a.facts.id.cmp(&b.facts.id));
    let by_id: BTreeMap<&str, &NodeState> =
        nodes.iter().map(|n| (n.facts.id.as_str(), *n)).collect();
    let placement = demand.placement;
    let global = demand.mode == ServiceMode::Global;
    // Docker's limit 0 is no limit.
    let limit = placement.max_replicas_per_node.filter(|&m| m > 0);

    let mut plan = Plan::default();
    if global {
        plan.keep = global_survivors(placement, &by_id, current, &mut plan.stop);
    } else {
        let survivors = surviving(demand, &by_id, current, &mut plan.stop);
        // The per-node limit keeps each node's lowest slots.
        let mut on_node: BTreeMap<&str, Vec<&Assignment>> = BTreeMap::new();
        for a in survivors {
            on_node.entry(a.node_id.as_str()).or_default().push(a);
        }
        for list in on_node.values_mut() {
            list.sort();
            for (i, a) in list.iter().enumerate() {
                if limit.is_some_and(|l| i as u64 >= u64::from(l)) {
                    plan.stop
                        .push(((*a).clone(), StopReason::AbovePerNodeLimit));
                } else {
                    plan.keep.push((*a).clone());
                }
            }
        }
    }
    plan.keep.sort();

    if global {
        start_global(&nodes, placement, &mut plan);
    } else {
        start_replicated(demand, &nodes, limit, load, &mut plan);
    }
    plan.stop.sort();
    plan.start.sort();
    plan.pending.sort();
    plan
}

/// The replicas of a replicated service that may stay before the per-node limit: slots in
/// 1..=replicas, one replica per slot (the one that may stay, then one on an up node, then
/// the smallest node ID), on a node that can still run it.
fn surviving<'c>(
    demand: ServiceDemand<'_>,
    by_id: &BTreeMap<&str, &NodeState>,
    current: &'c [Assignment],
    stop: &mut Vec<(Assignment, StopReason)>,
) -> Vec<&'c Assignment> {
    let verdict = |a: &Assignment| verdict(demand.placement, by_id, a);
    let up = |a: &Assignment| by_id.get(a.node_id.as_str()).is_some_and(|n| n.up);

    let mut by_slot: BTreeMap<u32, Vec<&Assignment>> = BTreeMap::new();
    for a in current {
        by_slot.entry(a.slot).or_default().push(a);
    }
    let mut survivors = Vec::new();
    for (slot, mut group) in by_slot {
        if slot == 0 || slot > demand.replicas {
            stop.extend(
                group
                    .into_iter()
                    .map(|a| (a.clone(), StopReason::AboveReplicaCount)),
            );
            continue;
        }
        // Of a slot held twice, the replica that may stay wins, then one on an up node.
        group.sort_by_key(|a| (verdict(a).is_some(), !up(a), a.node_id.clone()));
        let mut group = group.into_iter();
        if let Some(first) = group.next() {
            match verdict(first) {
                None => survivors.push(first),
                Some(why) => stop.push((first.clone(), why)),
            }
        }
        stop.extend(group.map(|a| (a.clone(), StopReason::Duplicate)));
    }
    survivors
}

/// Why a replica cannot stay on its node, if it cannot.
fn verdict(
    placement: &Placement,
    by_id: &BTreeMap<&str, &NodeState>,
    a: &Assignment,
) -> Option<StopReason> {
    let Some(node) = by_id.get(a.node_id.as_str()) else {
        return Some(StopReason::NodeDown);
    };
    if !node.up {
        Some(StopReason::NodeDown)
    } else if node.availability == NodeAvailability::Drain {
        Some(StopReason::NodeDrained)
    } else if !placement.matches(&node.facts) {
        Some(StopReason::ConstraintsNotMet)
    } else {
        None
    }
}

/// The replicas of a global service that stay: those whose node can still run them, one per
/// node (its lowest slot), and one per slot (on the smallest node ID).
fn global_survivors(
    placement: &Placement,
    by_id: &BTreeMap<&str, &NodeState>,
    current: &[Assignment],
    stop: &mut Vec<(Assignment, StopReason)>,
) -> Vec<Assignment> {
    let mut sorted: Vec<&Assignment> = current.iter().collect();
    sorted.sort();
    let mut served: BTreeSet<&str> = BTreeSet::new();
    let mut by_slot: BTreeMap<u32, Vec<&Assignment>> = BTreeMap::new();
    for a in sorted {
        if let Some(why) = verdict(placement, by_id, a) {
            stop.push((a.clone(), why));
        } else if !served.insert(a.node_id.as_str()) {
            stop.push((a.clone(), StopReason::Duplicate));
        } else {
            by_slot.entry(a.slot).or_default().push(a);
        }
    }
    let mut keep = Vec::new();
    for group in by_slot.into_values() {
        let mut group = group.into_iter();
        keep.extend(group.next().cloned());
        stop.extend(group.map(|a| (a.clone(), StopReason::Duplicate)));
    }
    keep
}

/// One replica on every eligible node that has none, each taking the lowest free slot.
fn start_global(nodes: &[&NodeState], placement: &Placement, plan: &mut Plan) {
    let served: BTreeSet<&str> = plan.keep.iter().map(|a| a.node_id.as_str()).collect();
    let used: BTreeSet<u32> = plan.keep.iter().map(|a| a.slot).collect();
    let mut free = (1..=u32::MAX).filter(|s| !used.contains(s));
    for node in nodes {
        if node.takes_new()
            && placement.matches(&node.facts)
            && !served.contains(node.facts.id.as_str())
        {
            if let Some(slot) = free.next() {
                plan.start.push(Assignment {
                    slot,
                    node_id: node.facts.id.clone(),
                });
            }
        }
    }
}

/// Every slot in 1..=replicas without a kept replica is started where it fits best, or is
/// pending.
fn start_replicated(
    demand: ServiceDemand<'_>,
    nodes: &[&NodeState],
    limit: Option<u32>,
    load: &BTreeMap<String, u32>,
    plan: &mut Plan,
) {
    let placement = demand.placement;
    let held: BTreeSet<u32> = plan.keep.iter().map(|a| a.slot).collect();
    let missing: Vec<u32> = (1..=demand.replicas)
        .filter(|s| !held.contains(s))
        .collect();
    if missing.is_empty() {
        return;
    }

    // Per node (in ID order): its replicas of this service, whether it may take new ones
    // before the limit, its label value for each preference.
    let mut kept: BTreeMap<&str, u32> = BTreeMap::new();
    for a in &plan.keep {
        *kept.entry(a.node_id.as_str()).or_default() += 1;
    }
    let mut mine: Vec<u32> = nodes
        .iter()
        .map(|n| kept.get(n.facts.id.as_str()).copied().unwrap_or(0))
        .collect();
    let others: Vec<u32> = nodes
        .iter()
        .map(|n| load.get(&n.facts.id).copied().unwrap_or(0))
        .collect();
    let fits: Vec<bool> = nodes
        .iter()
        .map(|n| n.takes_new() && placement.matches(&n.facts))
        .collect();
    let paths: Vec<Vec<&str>> = nodes
        .iter()
        .map(|n| {
            placement
                .preferences
                .iter()
                .map(|p| n.facts.labels.get(&p.spread).map_or("", String::as_str))
                .collect()
        })
        .collect();
    let under_limit = |mine: &[u32], i: usize| limit.is_none_or(|l| mine[i] < l);

    for (k, &slot) in missing.iter().enumerate() {
        let eligible: Vec<usize> = (0..nodes.len())
            .filter(|&i| fits[i] && under_limit(&mine, i))
            .collect();
        let Some(i) = choose(&eligible, &paths, &mine, &others, nodes) else {
            // Eligibility only shrinks as replicas are placed: the rest cannot be placed
            // either.
            let reason = no_suitable_node(nodes, &mine, limit, placement);
            plan.pending
                .extend(missing[k..].iter().map(|&slot| Pending {
                    slot,
                    reason: reason.clone(),
                }));
            return;
        };
        mine[i] += 1;
        plan.start.push(Assignment {
            slot,
            node_id: nodes[i].facts.id.clone(),
        });
    }
}

/// The best of the eligible nodes (indexes into `nodes`) for one more replica.
fn choose(
    eligible: &[usize],
    paths: &[Vec<&str>],
    mine: &[u32],
    others: &[u32],
    nodes: &[&NodeState],
) -> Option<usize> {
    let mut candidates: Vec<usize> = eligible.to_vec();
    let levels = paths.first().map_or(0, Vec::len);
    for level in 0..levels {
        let &first = candidates.first()?;
        // Every candidate shares the groups chosen so far; count the service's replicas in
        // each group of this level among all nodes under them, eligible or not.
        let prefix = &paths[first][..level];
        let mut count: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, path) in paths.iter().enumerate() {
            if &path[..level] == prefix {
                *count.entry(path[level]).or_default() += u64::from(mine[i]);
            }
        }
        let open: BTreeSet<&str> = candidates.iter().map(|&i| paths[i][level]).collect();
        let best = open
            .into_iter()
            .min_by_key(|v| (count.get(v).copied().unwrap_or(0), *v))?;
        candidates.retain(|&i| paths[i][level] == best);
    }
    candidates.into_iter().min_by(|&a, &b| {
        let key = |i: usize| (mine[i], u64::from(mine[i]) + u64::from(others[i]));
        key(a)
            .cmp(&key(b))
            .then_with(|| nodes[a].facts.id.cmp(&nodes[b].facts.id))
    })
}

/// Docker's explanation of why no node takes a replica: each node counted once, for the first
/// test it fails, the most frequent first (ties in the order of the tests).
fn no_suitable_node(
    nodes: &[&NodeState],
    mine: &[u32],
    limit: Option<u32>,
    placement: &Placement,
) -> String {
    let (mut unavailable, mut constraints, mut full) = (0usize, 0usize, 0usize);
    for (i, node) in nodes.iter().enumerate() {
        if !node.takes_new() {
            unavailable += 1;
        } else if !placement.matches(&node.facts) {
            constraints += 1;
        } else if limit.is_some_and(|l| mine[i] >= l) {
            full += 1;
        }
    }
    let plural = |n: usize| if n == 1 { "node" } else { "nodes" };
    let mut parts: Vec<(usize, String)> = Vec::new();
    if unavailable > 0 {
        parts.push((
            unavailable,
            format!(
                "{unavailable} {} not available for new tasks",
                plural(unavailable)
            ),
        ));
    }
    if constraints > 0 {
        parts.push((
            constraints,
            format!(
                "scheduling constraints not satisfied on {constraints} {}",
                plural(constraints)
            ),
        ));
    }
    if full > 0 {
        parts.push((full, "max replicas per node limit exceed".to_string()));
    }
    // A stable sort keeps the tests' order among equal counts.
    parts.sort_by_key(|part| std::cmp::Reverse(part.0));
    if parts.is_empty() {
        return "no suitable node".to_string();
    }
    let explanation: Vec<String> = parts.into_iter().map(|(_, text)| text).collect();
    format!("no suitable node ({})", explanation.join("; "))
}

#[cfg(test)]
mod tests;

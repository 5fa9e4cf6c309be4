use super::*;
use ferry_types::placement::{Constraint, NodeRoleFact, Preference};

fn node(id: &str, labels: &[(&str, &str)]) -> NodeState {
    NodeState {
        facts: NodeFacts {
            id: id.into(),
            hostname: format!("host-{id}"),
            role: NodeRoleFact::Worker,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            os: "linux".into(),
            arch: "x86_64".into(),
        },
        up: true,
        availability: NodeAvailability::Active,
    }
}

fn nodes(ids: &[&str]) -> Vec<NodeState> {
    ids.iter().map(|id| node(id, &[])).collect()
}

fn a(slot: u32, node_id: &str) -> Assignment {
    Assignment {
        slot,
        node_id: node_id.into(),
    }
}

fn constraints(cs: &[&str]) -> Placement {
    Placement {
        constraints: cs
            .iter()
            .map(|s| Constraint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect(),
        ..Placement::default()
    }
}

fn spread(labels: &[&str]) -> Placement {
    Placement {
        preferences: labels
            .iter()
            .map(|l| Preference {
                spread: l.to_string(),
            })
            .collect(),
        ..Placement::default()
    }
}

fn replicated(
    replicas: u32,
    placement: &Placement,
    nodes: &[NodeState],
    current: &[Assignment],
    load: &[(&str, u32)],
) -> Plan {
    let load = load.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    let demand = ServiceDemand {
        mode: ServiceMode::Replicated,
        replicas,
        placement,
    };
    place(demand, nodes, current, &load)
}

fn global(placement: &Placement, nodes: &[NodeState], current: &[Assignment]) -> Plan {
    let demand = ServiceDemand {
        mode: ServiceMode::Global,
        replicas: 0,
        placement,
    };
    place(demand, nodes, current, &BTreeMap::new())
}

/// How many replicas each node runs once the plan is carried out.
fn per_node(plan: &Plan) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for x in plan.keep.iter().chain(&plan.start) {
        *out.entry(x.node_id.clone()).or_default() += 1;
    }
    out
}

fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// The replicas running once the plan is carried out, as the next round's `current`.
fn after(plan: &Plan) -> Vec<Assignment> {
    plan.keep.iter().chain(&plan.start).cloned().collect()
}

#[test]
fn replicas_spread_evenly_over_three_nodes() {
    let ns = nodes(&["a", "b", "c"]);
    let plan = replicated(6, &Placement::default(), &ns, &[], &[]);
    assert_eq!(
        plan.start,
        vec![
            a(1, "a"),
            a(2, "b"),
            a(3, "c"),
            a(4, "a"),
            a(5, "b"),
            a(6, "c")
        ]
    );
    assert!(plan.keep.is_empty() && plan.stop.is_empty() && plan.pending.is_empty());
    // Carried out, the same demand changes nothing.
    let again = replicated(6, &Placement::default(), &ns, &after(&plan), &[]);
    assert_eq!(again.keep, after(&plan));
    assert!(again.start.is_empty() && again.stop.is_empty());
}

#[test]
fn fewest_of_this_service_first_then_fewest_overall() {
    let ns = nodes(&["a", "b", "c"]);
    let load = [("a", 5), ("b", 0), ("c", 1)];
    // One replica each whatever the load: this service's count decides first.
    let plan = replicated(3, &Placement::default(), &ns, &[], &load);
    assert_eq!(per_node(&plan), counts(&[("a", 1), ("b", 1), ("c", 1)]));
    // The fourth goes to the least loaded node.
    let plan = replicated(4, &Placement::default(), &ns, &[], &load);
    assert_eq!(per_node(&plan), counts(&[("a", 1), ("b", 2), ("c", 1)]));
    // The service's own replicas already on a node count: slots 3 and 4 go elsewhere.
    let plan = replicated(
        4,
        &Placement::default(),
        &ns,
        &[a(1, "b"), a(2, "b")],
        &load,
    );
    assert_eq!(plan.keep, vec![a(1, "b"), a(2, "b")]);
    assert_eq!(plan.start, vec![a(3, "c"), a(4, "a")]);
}

#[test]
fn constraints_of_every_key_choose_the_nodes() {
    let mut ns = vec![
        node("a", &[("zone", "east")]),
        node("b", &[("zone", "west")]),
        node("c", &[]),
    ];
    ns[0].facts.role = NodeRoleFact::Manager;
    ns[2].facts.arch = "aarch64".into();
    ns[2].facts.os = "freebsd".into();
    let cases: &[(&str, &[&str])] = &[
        ("node.id==b", &["b"]),
        ("node.id!=b", &["a", "c"]),
        ("node.hostname==HOST-C", &["c"]),
        ("node.hostname!=host-c", &["a", "b"]),
        ("node.role==manager", &["a"]),
        ("node.role!=manager", &["b", "c"]),
        ("node.labels.zone==east", &["a"]),
        ("node.labels.zone!=east", &["b", "c"]),
        ("node.platform.os==linux", &["a", "b"]),
        ("node.platform.os!=linux", &["c"]),
        ("node.platform.arch==aarch64", &["c"]),
        ("node.platform.arch!=aarch64", &["a", "b"]),
    ];
    for (c, expected) in cases {
        let plan = replicated(4, &constraints(&[c]), &ns, &[], &[]);
        let used: Vec<String> = per_node(&plan).into_keys().collect();
        assert_eq!(used, *expected, "{c}");
        assert!(plan.pending.is_empty(), "{c}");
    }
}

#[test]
fn a_missing_label_fails_eq_and_passes_ne() {
    let ns = vec![node("a", &[("zone", "east")]), node("b", &[])];
    let plan = replicated(2, &constraints(&["node.labels.zone!=east"]), &ns, &[], &[]);
    assert_eq!(plan.start, vec![a(1, "b"), a(2, "b")]);
    let plan = replicated(1, &constraints(&["node.labels.rack==r1"]), &ns, &[], &[]);
    assert!(plan.start.is_empty());
    assert_eq!(
        plan.pending,
        vec![Pending {
            slot: 1,
            reason: "no suitable node (scheduling constraints not satisfied on 2 nodes)".into()
        }]
    );
}

#[test]
fn a_changed_constraint_moves_the_replicas_it_excludes() {
    let ns = nodes(&["a", "b", "c"]);
    let current = [a(1, "a"), a(2, "b"), a(3, "c")];
    let plan = replicated(3, &constraints(&["node.id!=b"]), &ns, &current, &[]);
    assert_eq!(plan.keep, vec![a(1, "a"), a(3, "c")]);
    assert_eq!(plan.stop, vec![(a(2, "b"), StopReason::ConstraintsNotMet)]);
    assert_eq!(plan.start, vec![a(2, "a")]);
}

#[test]
fn a_drained_node_runs_nothing_and_its_replicas_move() {
    let mut ns = nodes(&["a", "b", "c"]);
    ns[1].availability = NodeAvailability::Drain;
    let current = [a(1, "a"), a(2, "b"), a(3, "c"), a(4, "b")];
    let plan = replicated(4, &Placement::default(), &ns, &current, &[]);
    assert_eq!(plan.keep, vec![a(1, "a"), a(3, "c")]);
    assert_eq!(
        plan.stop,
        vec![
            (a(2, "b"), StopReason::NodeDrained),
            (a(4, "b"), StopReason::NodeDrained)
        ]
    );
    assert_eq!(plan.start, vec![a(2, "a"), a(4, "c")]);
}

#[test]
fn a_paused_node_keeps_its_replicas_but_takes_no_new_ones() {
    let mut ns = nodes(&["a", "b"]);
    ns[0].availability = NodeAvailability::Pause;
    let plan = replicated(3, &Placement::default(), &ns, &[a(1, "a")], &[]);
    assert_eq!(plan.keep, vec![a(1, "a")]);
    assert_eq!(plan.start, vec![a(2, "b"), a(3, "b")]);
    // With only paused nodes, new replicas wait.
    ns[1].availability = NodeAvailability::Pause;
    let plan = replicated(2, &Placement::default(), &ns, &[a(1, "a")], &[]);
    assert_eq!(plan.keep, vec![a(1, "a")]);
    assert_eq!(
        plan.pending,
        vec![Pending {
            slot: 2,
            reason: "no suitable node (2 nodes not available for new tasks)".into()
        }]
    );
}

#[test]
fn the_replicas_of_a_down_or_removed_node_move() {
    let mut ns = nodes(&["a", "b", "c"]);
    ns[2].up = false;
    let current = [a(1, "a"), a(2, "b"), a(3, "c"), a(4, "gone")];
    let plan = replicated(4, &Placement::default(), &ns, &current, &[]);
    assert_eq!(
        plan.stop,
        vec![
            (a(3, "c"), StopReason::NodeDown),
            (a(4, "gone"), StopReason::NodeDown)
        ]
    );
    assert_eq!(plan.start, vec![a(3, "a"), a(4, "b")]);
    // When c comes back it gets nothing back: no rebalancing of running replicas.
    ns[2].up = true;
    let back = replicated(4, &Placement::default(), &ns, &after(&plan), &[]);
    assert_eq!(
        back.keep,
        after(&plan)
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert!(back.start.is_empty() && back.stop.is_empty());
}

#[test]
fn the_per_node_limit_leaves_the_rest_pending() {
    let ns = nodes(&["a", "b", "c"]);
    let limited = Placement {
        max_replicas_per_node: Some(2),
        ..Placement::default()
    };
    let plan = replicated(8, &limited, &ns, &[], &[]);
    assert_eq!(per_node(&plan), counts(&[("a", 2), ("b", 2), ("c", 2)]));
    let reason = "no suitable node (max replicas per node limit exceed)".to_string();
    assert_eq!(
        plan.pending,
        vec![
            Pending {
                slot: 7,
                reason: reason.clone()
            },
            Pending { slot: 8, reason }
        ]
    );
    // A node over the limit keeps its lowest slots; the others move.
    let current = [a(1, "a"), a(2, "a"), a(3, "a"), a(4, "b")];
    let plan = replicated(4, &limited, &ns, &current, &[]);
    assert_eq!(plan.keep, vec![a(1, "a"), a(2, "a"), a(4, "b")]);
    assert_eq!(plan.stop, vec![(a(3, "a"), StopReason::AbovePerNodeLimit)]);
    assert_eq!(plan.start, vec![a(3, "c")]);
    // Docker's 0 is no limit.
    let zero = Placement {
        max_replicas_per_node: Some(0),
        ..Placement::default()
    };
    assert!(replicated(9, &zero, &ns, &[], &[]).pending.is_empty());
}

#[test]
fn pending_reasons_use_dockers_words() {
    let mut ns = nodes(&["a", "b", "c", "d"]);
    ns[0].up = false;
    let manager_only = constraints(&["node.role==manager"]);
    // 3 nodes fail the constraints, 1 is down: the most frequent first.
    let plan = replicated(1, &manager_only, &ns, &[], &[]);
    assert_eq!(
        plan.pending[0].reason,
        "no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node not \
         available for new tasks)"
    );
    // Equal counts keep Docker's order of the tests: availability, constraints, limit.
    ns[1].availability = NodeAvailability::Drain;
    ns[2].facts.role = NodeRoleFact::Manager;
    let limited = Placement {
        max_replicas_per_node: Some(1),
        ..manager_only.clone()
    };
    let plan = replicated(2, &limited, &ns, &[], &[]);
    assert_eq!(plan.start, vec![a(1, "c")]);
    assert_eq!(
        plan.pending,
        vec![Pending {
            slot: 2,
            reason: "no suitable node (2 nodes not available for new tasks; scheduling \
                     constraints not satisfied on 1 node; max replicas per node limit exceed)"
                .into()
        }]
    );
    // No node at all.
    let plan = replicated(1, &Placement::default(), &[], &[], &[]);
    assert_eq!(plan.pending[0].reason, "no suitable node");
}

#[test]
fn global_follows_nodes_as_they_join_leave_and_drain() {
    let none = Placement::default();
    let mut ns = nodes(&["a", "b", "c"]);
    let plan = global(&none, &ns, &[]);
    assert_eq!(plan.start, vec![a(1, "a"), a(2, "b"), a(3, "c")]);
    assert!(plan.pending.is_empty());
    let mut current = after(&plan);

    // A node joins: it gets the next slot; the others keep theirs.
    ns.push(node("d", &[]));
    let plan = global(&none, &ns, &current);
    assert_eq!(plan.keep, current);
    assert_eq!(plan.start, vec![a(4, "d")]);
    current = after(&plan);

    // b goes down and c is drained: theirs stop, nothing starts elsewhere.
    ns[1].up = false;
    ns[2].availability = NodeAvailability::Drain;
    let plan = global(&none, &ns, &current);
    assert_eq!(plan.keep, vec![a(1, "a"), a(4, "d")]);
    assert_eq!(
        plan.stop,
        vec![
            (a(2, "b"), StopReason::NodeDown),
            (a(3, "c"), StopReason::NodeDrained)
        ]
    );
    assert!(plan.start.is_empty());
    current = after(&plan);

    // A new node takes the lowest free slot; b back up takes the next one.
    ns.push(node("e", &[]));
    ns[1].up = true;
    let plan = global(&none, &ns, &current);
    assert_eq!(plan.start, vec![a(2, "b"), a(3, "e")]);
    current = after(&plan);

    // Paused: keeps its replica; a paused newcomer gets none.
    ns[0].availability = NodeAvailability::Pause;
    let mut f = node("f", &[]);
    f.availability = NodeAvailability::Pause;
    ns.push(f);
    let plan = global(&none, &ns, &current);
    assert_eq!(
        plan.keep,
        current
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert!(plan.start.is_empty() && plan.stop.is_empty());

    // Constraints: only matching nodes run one; a node that stops matching stops its own.
    let workers_east = constraints(&["node.labels.zone==east"]);
    let ns = vec![
        node("a", &[("zone", "east")]),
        node("b", &[]),
        node("c", &[("zone", "east")]),
    ];
    let plan = global(&workers_east, &ns, &[a(1, "a"), a(2, "b")]);
    assert_eq!(plan.keep, vec![a(1, "a")]);
    assert_eq!(plan.stop, vec![(a(2, "b"), StopReason::ConstraintsNotMet)]);
    assert_eq!(plan.start, vec![a(2, "c")]);
    assert!(plan.pending.is_empty());
}

#[test]
fn global_runs_one_replica_per_node_and_slot() {
    let ns = nodes(&["a", "b", "c"]);
    // Two on a: its lowest slot stays. Slot 3 on a and b: a's is already a second replica
    // there, so b's stays. Slot 7 twice on nodes that each have none yet: the smaller ID.
    let current = [a(1, "a"), a(5, "a"), a(3, "b"), a(3, "a")];
    let plan = global(&Placement::default(), &ns, &current);
    assert_eq!(plan.keep, vec![a(1, "a"), a(3, "b")]);
    assert_eq!(
        plan.stop,
        vec![
            (a(3, "a"), StopReason::Duplicate),
            (a(5, "a"), StopReason::Duplicate)
        ]
    );
    assert_eq!(plan.start, vec![a(2, "c")]);
    let plan = global(&Placement::default(), &ns, &[a(7, "c"), a(7, "b")]);
    assert_eq!(plan.keep, vec![a(7, "b")]);
    assert_eq!(plan.stop, vec![(a(7, "c"), StopReason::Duplicate)]);
    assert_eq!(plan.start, vec![a(1, "a"), a(2, "c")]);
}

#[test]
fn a_slot_held_twice_keeps_one_preferring_an_up_node() {
    let mut ns = nodes(&["a", "b"]);
    ns[0].up = false;
    let plan = replicated(1, &Placement::default(), &ns, &[a(1, "a"), a(1, "b")], &[]);
    assert_eq!(plan.keep, vec![a(1, "b")]);
    assert_eq!(plan.stop, vec![(a(1, "a"), StopReason::Duplicate)]);
    assert!(plan.start.is_empty());
    // Both up: the smaller node ID.
    ns[0].up = true;
    let plan = replicated(1, &Placement::default(), &ns, &[a(1, "b"), a(1, "a")], &[]);
    assert_eq!(plan.keep, vec![a(1, "a")]);
    assert_eq!(plan.stop, vec![(a(1, "b"), StopReason::Duplicate)]);
    // Both down: one stops as down, the other as its duplicate; the slot starts again.
    ns[0].up = false;
    ns[1].up = false;
    ns.push(node("c", &[]));
    let plan = replicated(1, &Placement::default(), &ns, &[a(1, "b"), a(1, "a")], &[]);
    assert_eq!(
        plan.stop,
        vec![
            (a(1, "a"), StopReason::NodeDown),
            (a(1, "b"), StopReason::Duplicate)
        ]
    );
    assert_eq!(plan.start, vec![a(1, "c")]);
    // The same replica listed twice is kept once.
    let plan = replicated(1, &Placement::default(), &ns, &[a(1, "c"), a(1, "c")], &[]);
    assert_eq!(plan.keep, vec![a(1, "c")]);
    assert_eq!(plan.stop, vec![(a(1, "c"), StopReason::Duplicate)]);
}

#[test]
fn scaling_down_keeps_the_lowest_slots() {
    let ns = nodes(&["a", "b", "c"]);
    let current = [a(1, "a"), a(2, "b"), a(3, "c"), a(4, "a"), a(5, "b")];
    let plan = replicated(3, &Placement::default(), &ns, &current, &[]);
    assert_eq!(plan.keep, vec![a(1, "a"), a(2, "b"), a(3, "c")]);
    assert_eq!(
        plan.stop,
        vec![
            (a(4, "a"), StopReason::AboveReplicaCount),
            (a(5, "b"), StopReason::AboveReplicaCount)
        ]
    );
    assert!(plan.start.is_empty());
    let plan = replicated(0, &Placement::default(), &ns, &current, &[]);
    assert!(plan.keep.is_empty() && plan.start.is_empty());
    assert_eq!(plan.stop.len(), 5);
}

#[test]
fn joining_nodes_do_not_move_running_replicas() {
    let ns = nodes(&["a", "b", "c"]);
    let current = [a(1, "a"), a(2, "b"), a(3, "a"), a(4, "b")];
    let plan = replicated(4, &Placement::default(), &ns, &current, &[]);
    assert_eq!(plan.keep.len(), 4);
    assert!(plan.start.is_empty() && plan.stop.is_empty());
    // But new replicas go to the newcomer first.
    let plan = replicated(6, &Placement::default(), &ns, &current, &[]);
    assert_eq!(plan.start, vec![a(5, "c"), a(6, "c")]);
}

#[test]
fn spread_preference_divides_replicas_among_label_values() {
    // One node in east, three in west, one without the label: three groups.
    let ns = vec![
        node("e1", &[("dc", "east")]),
        node("u1", &[]),
        node("w1", &[("dc", "west")]),
        node("w2", &[("dc", "west")]),
        node("w3", &[("dc", "west")]),
    ];
    let plan = replicated(6, &spread(&["dc"]), &ns, &[], &[]);
    assert_eq!(
        per_node(&plan),
        counts(&[("e1", 2), ("u1", 2), ("w1", 1), ("w2", 1)])
    );
    // 7 replicas: the extra one to the smallest value of the tied groups ("" first).
    let plan = replicated(7, &spread(&["dc"]), &ns, &[], &[]);
    assert_eq!(
        per_node(&plan),
        counts(&[("e1", 2), ("u1", 3), ("w1", 1), ("w2", 1)])
    );
    // Replicas already in a group count: east has 3, so the next 3 go elsewhere.
    let current = [a(1, "e1"), a(2, "e1"), a(3, "e1")];
    let plan = replicated(6, &spread(&["dc"]), &ns, &current, &[]);
    assert_eq!(per_node(&plan), counts(&[("e1", 3), ("u1", 2), ("w1", 1)]));
    // A group without an eligible node is passed over.
    let mut drained = ns.clone();
    drained[0].availability = NodeAvailability::Drain;
    let plan = replicated(4, &spread(&["dc"]), &drained, &[], &[]);
    assert_eq!(per_node(&plan), counts(&[("u1", 2), ("w1", 1), ("w2", 1)]));
}

#[test]
fn spread_preferences_nest_in_order() {
    // Two datacenters, east with two racks, west with one.
    let ns = vec![
        node("e1", &[("dc", "east"), ("rack", "r1")]),
        node("e2", &[("dc", "east"), ("rack", "r1")]),
        node("e3", &[("dc", "east"), ("rack", "r2")]),
        node("w1", &[("dc", "west"), ("rack", "r1")]),
        node("w2", &[("dc", "west"), ("rack", "r1")]),
    ];
    let plan = replicated(8, &spread(&["dc", "rack"]), &ns, &[], &[]);
    // Four per datacenter; east's four split between its racks, r1's two over e1 and e2.
    assert_eq!(
        per_node(&plan),
        counts(&[("e1", 1), ("e2", 1), ("e3", 2), ("w1", 2), ("w2", 2)])
    );
    // With constraints and the per-node limit too.
    let p = Placement {
        max_replicas_per_node: Some(1),
        ..spread(&["dc", "rack"])
    };
    let plan = replicated(6, &p, &ns, &[], &[]);
    assert_eq!(plan.start.len(), 5);
    assert_eq!(plan.pending.len(), 1);
    assert_eq!(
        plan.pending[0].reason,
        "no suitable node (max replicas per node limit exceed)"
    );
}

#[test]
fn the_plan_does_not_depend_on_input_order() {
    let mut ns = vec![
        node("n3", &[("dc", "b")]),
        node("n1", &[("dc", "a")]),
        node("n4", &[]),
        node("n2", &[("dc", "a")]),
    ];
    ns[2].up = false;
    let current = vec![a(4, "n4"), a(2, "n2"), a(2, "n1"), a(9, "n3")];
    let p = spread(&["dc"]);
    let load = [("n1", 3), ("n3", 1)];
    let first = replicated(6, &p, &ns, &current, &load);
    ns.reverse();
    let mut reversed = current.clone();
    reversed.reverse();
    let second = replicated(6, &p, &ns, &reversed, &load);
    assert_eq!(first, second);
    assert_eq!(first, replicated(6, &p, &ns, &reversed, &load));
    // Every list sorted, every slot 1..=6 running or started exactly once.
    let mut slots: Vec<u32> = after(&first).iter().map(|x| x.slot).collect();
    slots.sort();
    assert_eq!(slots, vec![1, 2, 3, 4, 5, 6]);
    for list in [&first.keep, &first.start] {
        assert!(list.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn a_thousand_replicas_over_a_hundred_nodes() {
    let ns: Vec<NodeState> = (0..100)
        .map(|i| {
            let zone = format!("z{}", i % 3);
            let rack = format!("r{}", i % 7);
            node(&format!("n{i:03}"), &[("zone", &zone), ("rack", &rack)])
        })
        .collect();
    let plan = replicated(1000, &Placement::default(), &ns, &[], &[]);
    assert_eq!(plan.start.len(), 1000);
    assert!(per_node(&plan).values().all(|&c| c == 10));
    let p = Placement {
        max_replicas_per_node: Some(12),
        ..spread(&["zone", "rack"])
    };
    let plan = replicated(1000, &p, &ns, &[], &[]);
    assert_eq!(plan.start.len(), 1000);
    assert!(per_node(&plan).values().all(|&c| c <= 12));
    // Once more with half of them running: the plan keeps them and fills the rest.
    let half: Vec<Assignment> = plan
        .start
        .iter()
        .filter(|x| x.slot % 2 == 0)
        .cloned()
        .collect();
    let again = replicated(1000, &p, &ns, &half, &[]);
    assert_eq!(again.keep.len(), 500);
    assert_eq!(again.start.len(), 500);
}

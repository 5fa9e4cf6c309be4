//! The bench's logic on a small swarm against a real etcd: every change is seen by every
//! node, the burst fills every node's kernel with the others' entries, and nothing is left
//! behind. Needs root and etcd (it runs etcd in a network namespace of its own).

use cluster_sim::swarm::{burst_record, Config, Swarm, BURST_NET, PROBE_NET};
use ferry_store::etcd_store::testing::with_etcd;
use std::time::Duration;

const NODES: usize = 20;

#[test]
fn a_small_swarm_sees_every_change_and_converges() {
    with_etcd(|endpoint| async move {
        let config = Config {
            endpoint,
            prefix: "/ferry-sim-test/v1".into(),
            nodes: NODES,
            lease_ttl: Duration::from_secs(10),
            start_parallel: 8,
        };
        let mut swarm = Swarm::start(&config).await.expect("the swarm starts");
        let p = swarm
            .propagation(3, Duration::from_secs(20))
            .await
            .expect("the changes are written");
        assert_eq!(p.missed, 0);
        assert_eq!(p.arrivals.len(), 3 * NODES);
        assert_eq!(p.withdrawals.len(), 3 * NODES);
        assert_eq!(p.per_change_max.len(), 3);

        let b = swarm
            .burst(Duration::from_secs(20))
            .await
            .expect("the burst is written");
        assert_eq!(b.missed, 0);
        assert_eq!(b.full.len(), NODES);
        for (i, node) in swarm.nodes.iter().enumerate() {
            let kernel = node.kernel.lock().expect("the kernel's lock");
            let net = kernel
                .network(BURST_NET)
                .expect("the burst network's entries");
            assert_eq!(net.fdb.len(), NODES - 1, "node {i}");
            assert_eq!(net.neigh.len(), NODES - 1, "node {i}");
            let own = burst_record(i);
            assert!(
                !net.fdb.contains_key(&own.mac.octets()),
                "node {i} programmed itself"
            );
            let other = burst_record((i + 1) % NODES);
            assert_eq!(net.fdb.get(&other.mac.octets()), Some(&other.vtep));
            assert!(
                kernel.network(PROBE_NET).is_none(),
                "node {i} kept a deleted probe"
            );
        }
        let h = &swarm.health;
        assert_eq!(h.leases_lost.load(std::sync::atomic::Ordering::Relaxed), 0);
        swarm.stop().await;
    });
}

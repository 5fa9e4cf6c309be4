//! Claims against the memory store (the etcd store passes the same contract on conditional
//! transactions): hosts asking at once each get a value of their own, a taken value names its
//! holder, and only the holder releases it.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_cluster::{ClaimError, Claims};
use ferry_ipam::PoolSpec;
use ferry_store::MemoryStore;
use ipnet::IpNet;
use std::collections::HashSet;
use std::sync::Arc;

fn pool() -> Vec<PoolSpec> {
    vec![PoolSpec {
        base: "10.0.0.0/16".parse().unwrap(),
        size: 24,
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_asking_at_once_get_distinct_vnis_and_subnets() {
    let store = Arc::new(MemoryStore::new());
    let mut tasks = Vec::new();
    for host in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let c = Claims::new(store.as_ref());
            let owner = format!("net-{host}");
            let vni = c.claim_vni(&owner, 4096..=4200).await.unwrap();
            let subnet = c.claim_subnet(&owner, None, &pool()).await.unwrap();
            (vni, subnet)
        }));
    }
    let mut vnis = HashSet::new();
    let mut subnets: Vec<IpNet> = Vec::new();
    for t in tasks {
        let (vni, subnet) = t.await.unwrap();
        assert!(vnis.insert(vni), "VNI {vni} handed out twice");
        assert!(
            !subnets.iter().any(|s| ferry_ipam::overlaps(s, &subnet)),
            "{subnet} overlaps one handed out already: {subnets:?}"
        );
        subnets.push(subnet);
    }
    assert_eq!(vnis.len(), 8);
    assert!(
        vnis.iter().all(|v| (4096..4104).contains(v)),
        "lowest free first: {vnis:?}"
    );
}

#[tokio::test]
async fn a_taken_value_names_its_holder_and_only_the_holder_releases_it() {
    let store = MemoryStore::new();
    let c = Claims::new(&store);
    let ip = "10.0.1.5".parse().unwrap();
    c.claim_address("net1", ip, "ep-a", None).await.unwrap();
    // The same owner again is fine (a retried request).
    c.claim_address("net1", ip, "ep-a", None).await.unwrap();
    match c.claim_address("net1", ip, "ep-b", None).await {
        Err(ClaimError::Taken { what, owner }) => {
            assert_eq!(what, "address 10.0.1.5");
            assert_eq!(owner, "ep-a");
        }
        other => panic!("expected Taken, got {other:?}"),
    }
    // The same address on another network is another value.
    c.claim_address("net2", ip, "ep-b", None).await.unwrap();
    // Someone else's release changes nothing; the holder's frees it.
    c.release_address("net1", ip, "ep-b").await.unwrap();
    assert!(c.claim_address("net1", ip, "ep-c", None).await.is_err());
    c.release_address("net1", ip, "ep-a").await.unwrap();
    c.claim_address("net1", ip, "ep-c", None).await.unwrap();

    // A given subnet that overlaps a claimed one is refused, naming the holder.
    let a: IpNet = "10.9.0.0/16".parse().unwrap();
    assert_eq!(c.claim_subnet("net-a", Some(a), &[]).await.unwrap(), a);
    let err = c
        .claim_subnet("net-b", Some("10.9.3.0/24".parse().unwrap()), &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("overlaps 10.9.0.0/16") && err.to_string().contains("net-a"),
        "{err}"
    );
    // VNIs run out with a clear error.
    c.claim_vni("x", 1..=1).await.unwrap();
    let err = c.claim_vni("y", 1..=1).await.unwrap_err();
    assert!(err.to_string().contains("no VXLAN ID left"), "{err}");
    c.release_vni(1, "x").await.unwrap();
    assert_eq!(c.claim_vni("y", 1..=1).await.unwrap(), 1);
}

/// Needs root (etcd runs in a network namespace of the test's own). Four "hosts", each with its
/// own connection to a real etcd, claim VNIs, subnets and one contested address at once.
#[test]
fn hosts_on_a_real_etcd_never_get_the_same_value() {
    use ferry_store::etcd_store::testing::with_etcd;
    use ferry_store::{EtcdConfig, EtcdStore};
    with_etcd(|endpoint| async move {
        let mut tasks = Vec::new();
        for host in 0..4 {
            let endpoint = endpoint.clone();
            tasks.push(tokio::spawn(async move {
                let store = EtcdStore::connect(EtcdConfig::new([endpoint.as_str()]))
                    .await
                    .unwrap();
                let c = Claims::new(&store);
                let owner = format!("host-{host}");
                let vni = c.claim_vni(&owner, 4096..=4200).await.unwrap();
                let subnet = c.claim_subnet(&owner, None, &pool()).await.unwrap();
                let won = c
                    .claim_address("net1", "10.0.0.9".parse().unwrap(), &owner, None)
                    .await
                    .is_ok();
                (vni, subnet, won)
            }));
        }
        let mut vnis = HashSet::new();
        let mut subnets: Vec<IpNet> = Vec::new();
        let mut winners = 0;
        for t in tasks {
            let (vni, subnet, won) = t.await.unwrap();
            assert!(vnis.insert(vni), "VNI {vni} handed out twice");
            assert!(!subnets.iter().any(|s| ferry_ipam::overlaps(s, &subnet)));
            subnets.push(subnet);
            winners += usize::from(won);
        }
        assert_eq!(winners, 1, "exactly one host holds the contested address");
    });
}

#[tokio::test]
async fn an_address_claimed_on_a_lease_goes_with_it_and_moves_to_a_new_one() {
    use ferry_store::Store;
    let store = MemoryStore::new();
    let c = Claims::new(&store);
    let ip = "10.0.1.7".parse().unwrap();
    let old = store
        .grant_lease(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    c.claim_address("net1", ip, "node-a/ep1", Some(old))
        .await
        .unwrap();
    // A new session of the node takes the claim over: the old lease's end leaves it.
    let new = store
        .grant_lease(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    c.renew_address("net1", ip, "node-a/ep1", new)
        .await
        .unwrap();
    store.revoke_lease(old).await.unwrap();
    assert_eq!(
        c.holder("addr/net1/10.0.1.7").await.unwrap().unwrap().0,
        "node-a/ep1"
    );
    // Nobody else renews it.
    assert!(c
        .renew_address("net1", ip, "node-b/ep2", new)
        .await
        .is_err());
    // The node's end frees it.
    store.revoke_lease(new).await.unwrap();
    assert!(c.holder("addr/net1/10.0.1.7").await.unwrap().is_none());
    c.claim_address("net1", ip, "node-b/ep2", None)
        .await
        .unwrap();
}

//! The etcd store against a real etcd, started for each test inside a network namespace of the
//! test's own thread and bound to that namespace's loopback. A missing `etcd` fails the tests.

use super::testing::with_etcd;
use super::*;
use crate::contract::{next_event, put_event};
use crate::Event;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

async fn store(endpoint: &str, prefix: &str) -> EtcdStore {
    EtcdStore::connect(EtcdConfig::new([endpoint]).with_prefix(prefix))
        .await
        .expect("connect to etcd")
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        table: Table::Networks,
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

#[test]
fn honours_the_lease_contract() {
    with_etcd(|endpoint| async move {
        let case = AtomicUsize::new(0);
        crate::contract::run_leases(
            || {
                let prefix = format!("/ferry-lease/{}", case.fetch_add(1, Ordering::Relaxed));
                let endpoint = endpoint.clone();
                async move { Arc::new(store(&endpoint, &prefix).await) as Arc<dyn Store> }
            },
            // etcd's shortest lease, in whole seconds.
            Duration::from_secs(2),
        )
        .await;
    });
}

#[test]
fn honours_the_store_contract() {
    with_etcd(|endpoint| async move {
        // Each check gets a prefix of its own, so that it starts from an empty store.
        let case = AtomicUsize::new(0);
        crate::contract::run(|| {
            let prefix = format!("/ferry-test/{}", case.fetch_add(1, Ordering::Relaxed));
            let endpoint = endpoint.clone();
            async move { Arc::new(store(&endpoint, &prefix).await) as Arc<dyn Store> }
        })
        .await;
    });
}

#[test]
fn a_write_through_another_client_makes_a_conflict() {
    with_etcd(|endpoint| async move {
        let (a, b) = (
            store(&endpoint, "/ferry/v1").await,
            store(&endpoint, "/ferry/v1").await,
        );
        let r1 = a.apply_ops(vec![put("k", "a")]).await.expect("write");
        let seen = a.get(Table::Networks, "k").await.expect("get");
        assert_eq!(seen.map(|r| r.mod_revision), Some(r1));
        // The other host writes first.
        let r2 = b.apply_ops(vec![put("k", "b")]).await.expect("write");
        assert!(r2 > r1);
        let stale = Txn::new(vec![put("k", "a2")]).when(Condition::KeyAt {
            table: Table::Networks,
            key: "k".into(),
            revision: r1,
        });
        match a.apply(stale).await {
            Err(StoreError::Conflict {
                table,
                key,
                expected,
                actual,
            }) => {
                assert_eq!((table, key.as_str()), (Table::Networks, "k"));
                assert_eq!((expected, actual), (Expected::At(r1), Some(r2)));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let create = Txn::new(vec![put("k", "a3")]).when(Condition::Absent {
            table: Table::Networks,
            key: "k".into(),
        });
        assert!(matches!(
            a.apply(create).await,
            Err(StoreError::Conflict {
                expected: Expected::Absent,
                actual: Some(r),
                ..
            }) if r == r2
        ));
        let record = a.get(Table::Networks, "k").await.expect("get");
        assert_eq!(
            record.map(|r| r.value),
            Some(b"b".to_vec()),
            "b's write stands"
        );
        // With the current revision the write goes through.
        let fresh = Txn::new(vec![put("k", "a4")]).when(Condition::KeyAt {
            table: Table::Networks,
            key: "k".into(),
            revision: r2,
        });
        let r3 = a
            .apply(fresh)
            .await
            .expect("a write at the current revision");
        let record = b.get(Table::Networks, "k").await.expect("get");
        assert_eq!(record.map(|r| r.mod_revision), Some(r3));
    });
}

#[test]
fn of_racing_writers_on_two_clients_exactly_one_wins() {
    with_etcd(|endpoint| async move {
        let clients = [
            Arc::new(store(&endpoint, "/ferry/v1").await),
            Arc::new(store(&endpoint, "/ferry/v1").await),
        ];
        let r = clients[0]
            .apply_ops(vec![put("k", "start")])
            .await
            .expect("write");
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (s, barrier) = (clients[i % 2].clone(), barrier.clone());
                let txn = Txn::new(vec![put("k", &i.to_string())]).when(Condition::KeyAt {
                    table: Table::Networks,
                    key: "k".into(),
                    revision: r,
                });
                tokio::spawn(async move {
                    barrier.wait().await;
                    (i, s.apply(txn).await)
                })
            })
            .collect();
        let mut won = Vec::new();
        for t in tasks {
            match t.await.expect("a writer panicked") {
                (i, Ok(rev)) => won.push((i, rev)),
                (_, Err(StoreError::Conflict { actual, .. })) => {
                    assert!(
                        actual > Some(r),
                        "a loser must see the revision that beat it"
                    )
                }
                (_, Err(e)) => panic!("expected a conflict, got {e}"),
            }
        }
        assert_eq!(won.len(), 1, "winners {won:?}");
        let (i, rev) = won[0];
        for s in &clients {
            let got = s.get(Table::Networks, "k").await.expect("get");
            assert_eq!(
                got.map(|g| (g.value, g.mod_revision)),
                Some((i.to_string().into_bytes(), rev))
            );
        }
    });
}

#[test]
fn a_watch_resumes_from_a_revision() {
    with_etcd(|endpoint| async move {
        let (a, b) = (
            store(&endpoint, "/ferry/v1").await,
            store(&endpoint, "/ferry/v1").await,
        );
        let r1 = a.apply_ops(vec![put("a", "1")]).await.expect("write");
        let r2 = b.apply_ops(vec![put("b", "1")]).await.expect("write");
        let mut w = a.watch(Table::Networks, r1).await.expect("watch");
        assert_eq!(next_event(&mut w).await, put_event("a", "1", r1));
        assert_eq!(next_event(&mut w).await, put_event("b", "1", r2));
        drop(w);
        // Written while nobody watched, by the other host, beside a write elsewhere.
        let r3 = b
            .apply_ops(vec![Op::delete(Table::Networks, "a")])
            .await
            .expect("write");
        b.apply_ops(vec![Op::Put {
            table: Table::Sandboxes,
            key: "s".into(),
            value: b"1".to_vec(),
        }])
        .await
        .expect("write");
        let mut w = a.watch(Table::Networks, r2 + 1).await.expect("watch");
        assert_eq!(
            next_event(&mut w).await,
            Event::Delete {
                key: "a".into(),
                revision: r3
            }
        );
        let r5 = b.apply_ops(vec![put("c", "1")]).await.expect("write");
        assert_eq!(next_event(&mut w).await, put_event("c", "1", r5));
        // Another prefix is another store: its writes are not seen.
        let other = store(&endpoint, "/elsewhere").await;
        other.apply_ops(vec![put("x", "1")]).await.expect("write");
        let r7 = b.apply_ops(vec![put("d", "1")]).await.expect("write");
        assert_eq!(next_event(&mut w).await, put_event("d", "1", r7));
    });
}

#[test]
fn compaction_ends_old_watches_and_spares_the_rest() {
    with_etcd(|endpoint| async move {
        let s = store(&endpoint, "/ferry/v1").await;
        let r1 = s.apply_ops(vec![put("a", "1")]).await.expect("write");
        let r2 = s.apply_ops(vec![put("a", "2")]).await.expect("write");
        // A watcher that is caught up is not disturbed by a compaction.
        let mut live = s.watch(Table::Networks, r2 + 1).await.expect("watch");
        s.compact(r2).await.expect("compact");
        match s.watch(Table::Networks, r1).await {
            Err(StoreError::Compacted { requested, oldest }) => {
                assert_eq!((requested, oldest), (r1, r2));
            }
            Err(e) => panic!("expected Compacted, got {e}"),
            Ok(_) => panic!("a watch from a compacted revision started"),
        }
        s.compact(r1).await.expect("compacting again is no error");
        let r3 = s.apply_ops(vec![put("a", "3")]).await.expect("write");
        assert_eq!(next_event(&mut live).await, put_event("a", "3", r3));
        // Beyond the newest revision: all the history goes.
        s.compact(r3 + 100).await.expect("compact");
        assert!(matches!(
            s.watch(Table::Networks, r3 - 1).await,
            Err(StoreError::Compacted { oldest, .. }) if oldest == r3
        ));
        let mut w = s.watch(Table::Networks, r3).await.expect("watch");
        assert_eq!(next_event(&mut w).await, put_event("a", "3", r3));
        assert_eq!(
            s.get(Table::Networks, "a")
                .await
                .expect("get")
                .map(|r| r.value),
            Some(b"3".to_vec()),
            "records stay"
        );
    });
}

#[tokio::test]
async fn a_client_certificate_needs_its_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cert = dir.path().join("client.pem");
    std::fs::write(&cert, "not a certificate").expect("write");
    let tls = EtcdTls {
        cert: Some(cert),
        ..EtcdTls::default()
    };
    let config = EtcdConfig::new(["https://127.0.0.1:1"]).with_tls(tls);
    let Err(e) = EtcdStore::connect(config).await else {
        panic!("a certificate without a key was accepted");
    };
    assert!(e.to_string().contains("needs its key"), "{e}");

    let tls = EtcdTls {
        ca: Some(dir.path().join("missing.pem")),
        ..EtcdTls::default()
    };
    let config = EtcdConfig::new(["https://127.0.0.1:1"]).with_tls(tls);
    let Err(e) = EtcdStore::connect(config).await else {
        panic!("a missing CA file was accepted");
    };
    assert!(e.to_string().contains("missing.pem"), "{e}");
}

#[tokio::test]
async fn it_is_a_cluster_store() {
    let s = EtcdStore::connect(EtcdConfig::new(["http://127.0.0.1:2379"]).with_prefix("/p/"))
        .await
        .expect("connecting dials nothing yet");
    assert_eq!(s.scope(), Scope::Global);
    assert_eq!(s.describe(), "etcd http://127.0.0.1:2379 under /p");
}

#[test]
fn a_dead_endpoint_is_passed_over() {
    with_etcd(|endpoint| async move {
        // Port 1 of the test's own loopback: nothing listens there.
        let s = EtcdStore::connect(
            EtcdConfig::new(["http://127.0.0.1:1", endpoint.as_str()]).with_prefix("/failover"),
        )
        .await
        .expect("connect");
        for round in 0..3 {
            let r = s
                .apply_ops(vec![put("a", &round.to_string())])
                .await
                .expect("a write goes to the live member");
            let got = s.get(Table::Networks, "a").await.expect("a read too");
            assert_eq!(got.map(|g| g.mod_revision), Some(r));
        }
        let lease = s.grant_lease(Duration::from_secs(5)).await.expect("grant");
        assert!(s.keep_alive(lease).await.expect("renew").is_some());
        // A store that knows only a dead member learns of a live one.
        let lonely = EtcdStore::connect(EtcdConfig::new(["http://127.0.0.1:1"]))
            .await
            .expect("connect");
        assert!(lonely.get(Table::Networks, "a").await.is_err());
        lonely
            .set_endpoints(&["http://127.0.0.1:1".into(), endpoint.clone()])
            .await
            .expect("new endpoints");
        assert_eq!(lonely.endpoints().len(), 2);
        assert!(lonely.get(Table::Networks, "a").await.is_ok());
        assert!(
            lonely.describe().contains(&endpoint),
            "{}",
            lonely.describe()
        );
    });
}

//! The behaviour every [`Store`] must show, as async checks that panic on a violation. A
//! backend's tests call [`run`] with a way to make an empty store (an etcd backend: a fresh key
//! prefix). Other crates reach this module through the `contract` feature.
//!
//! The checks assume nothing about absolute revisions, only about their order. A store of
//! [`Scope::Global`] may have other writers (its revision counts their changes too), so where a
//! check wants the store's revision unchanged it only asks that of a [`Scope::Local`] store.

use crate::{
    Condition, Event, Expected, Op, Record, Scope, Store, StoreError, Table, Txn, WatchStream,
};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long a watch may take to deliver an event that is already committed.
const DELIVERY: Duration = Duration::from_secs(10);

/// Runs every check, each on a store of its own from `new_store`.
pub async fn run<F, Fut>(new_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    put_get_list_delete(new_store().await).await;
    revisions_are_monotonic_and_per_key(new_store().await).await;
    conditions_that_hold_let_the_transaction_through(new_store().await).await;
    a_failed_condition_writes_nothing(new_store().await).await;
    a_watch_from_a_listing_misses_nothing(new_store().await).await;
    a_watch_from_before_a_compaction_fails(new_store().await).await;
    of_concurrent_conditional_writers_exactly_one_wins(new_store().await).await;
    concurrent_read_modify_writes_lose_no_update(new_store().await).await;
}

/// Runs the checks of session leases, each on a store of its own, with leases of `ttl` (the
/// shortest the backend keeps).
pub async fn run_leases<F, Fut>(new_store: F, ttl: Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    a_revoked_lease_takes_its_records(new_store().await).await;
    an_unrenewed_lease_expires_and_watchers_see_it(new_store().await, ttl).await;
    a_renewed_lease_keeps_its_records(new_store().await, ttl).await;
    a_plain_put_detaches_a_record_from_its_lease(new_store().await).await;
}

fn put_leased(key: &str, value: &str, lease: i64) -> Op {
    Op::PutLeased {
        table: Table::Nodes,
        key: key.into(),
        value: value.as_bytes().to_vec(),
        lease,
    }
}

/// Revoking deletes the lease's records (and only them) in one revision; the lease is then
/// gone for renewals and writes.
pub async fn a_revoked_lease_takes_its_records(s: Arc<dyn Store>) {
    let s = &*s;
    let lease = s.grant_lease(Duration::from_secs(30)).await.expect("grant");
    apply(
        s,
        vec![
            put_leased("a", "1", lease),
            put_leased("b", "1", lease),
            put(Table::Nodes, "c", "1"),
        ],
    )
    .await;
    let listing = s.list(Table::Nodes).await.expect("list");
    assert_eq!(listing.entries.len(), 3);
    let mut w = s
        .watch(Table::Nodes, listing.revision + 1)
        .await
        .expect("watch");
    assert!(s.keep_alive(lease).await.expect("renew").is_some());
    s.revoke_lease(lease).await.expect("revoke");
    let first = next_event(&mut w).await;
    let second = next_event(&mut w).await;
    assert!(
        matches!(
            (&first, &second),
            (Event::Delete { .. }, Event::Delete { .. })
        ),
        "{first:?} {second:?}"
    );
    assert_eq!(first.revision(), second.revision(), "one revision");
    let keys: Vec<_> = s.list(Table::Nodes).await.expect("list").entries;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key, "c");
    assert_eq!(s.keep_alive(lease).await.expect("renew"), None);
    s.revoke_lease(lease)
        .await
        .expect("revoking twice is no error");
    match s.apply_ops(vec![put_leased("d", "1", lease)]).await {
        Err(StoreError::LeaseNotFound { lease: l }) => assert_eq!(l, lease),
        other => panic!("a put on a revoked lease must fail, got {other:?}"),
    }
    assert!(s.get(Table::Nodes, "d").await.expect("get").is_none());
}

/// A lease not renewed within its TTL expires: its records go, and a watcher sees the deletes.
pub async fn an_unrenewed_lease_expires_and_watchers_see_it(s: Arc<dyn Store>, ttl: Duration) {
    let s = &*s;
    let lease = s.grant_lease(ttl).await.expect("grant");
    let r = apply(s, vec![put_leased("a", "1", lease)]).await;
    let mut w = s.watch(Table::Nodes, r + 1).await.expect("watch");
    let started = tokio::time::Instant::now();
    let e = tokio::time::timeout(ttl * 2 + Duration::from_secs(2), w.next())
        .await
        .expect("the lease expires within twice its TTL (+2 s)")
        .expect("an event")
        .expect("not an error");
    assert!(
        matches!(&e, Event::Delete { key, .. } if key == "a"),
        "{e:?}"
    );
    assert!(
        started.elapsed() + Duration::from_millis(100) >= ttl,
        "not before the TTL"
    );
    assert!(s.get(Table::Nodes, "a").await.expect("get").is_none());
    assert_eq!(s.keep_alive(lease).await.expect("renew"), None);
}

/// Renewals every third of the TTL keep the records past several TTLs.
pub async fn a_renewed_lease_keeps_its_records(s: Arc<dyn Store>, ttl: Duration) {
    let s = &*s;
    let lease = s.grant_lease(ttl).await.expect("grant");
    apply(s, vec![put_leased("a", "1", lease)]).await;
    let until = tokio::time::Instant::now() + ttl * 2;
    while tokio::time::Instant::now() < until {
        let left = s.keep_alive(lease).await.expect("renew");
        assert!(left.is_some(), "a renewed lease stays");
        tokio::time::sleep(ttl / 3).await;
    }
    assert!(s.get(Table::Nodes, "a").await.expect("get").is_some());
    s.revoke_lease(lease).await.expect("revoke");
}

/// As in etcd, a put without a lease takes the record off its lease.
pub async fn a_plain_put_detaches_a_record_from_its_lease(s: Arc<dyn Store>) {
    let s = &*s;
    let lease = s.grant_lease(Duration::from_secs(30)).await.expect("grant");
    apply(s, vec![put_leased("a", "1", lease)]).await;
    apply(s, vec![put(Table::Nodes, "a", "2")]).await;
    s.revoke_lease(lease).await.expect("revoke");
    let got = s.get(Table::Nodes, "a").await.expect("get");
    assert_eq!(got.map(|r| r.value), Some(b"2".to_vec()));
}

fn put(table: Table, key: &str, value: &str) -> Op {
    Op::Put {
        table,
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn at(key: &str, revision: u64) -> Condition {
    Condition::KeyAt {
        table: Table::Networks,
        key: key.into(),
        revision,
    }
}

fn record(value: &str, mod_revision: u64) -> Option<Record> {
    Some(Record {
        value: value.as_bytes().to_vec(),
        mod_revision,
    })
}

async fn apply(s: &dyn Store, ops: Vec<Op>) -> u64 {
    s.apply_ops(ops)
        .await
        .expect("an unconditional transaction")
}

async fn get(s: &dyn Store, key: &str) -> Option<Record> {
    s.get(Table::Networks, key).await.expect("get")
}

async fn revision(s: &dyn Store) -> u64 {
    s.list(Table::Networks).await.expect("list").revision
}

/// Checks that the store's revision `got` is still `want`: exactly when nobody else can write,
/// or at least when others may.
fn still_at(s: &dyn Store, got: u64, want: u64, what: &str) {
    match s.scope() {
        Scope::Local => assert_eq!(got, want, "{what}"),
        Scope::Global => assert!(got >= want, "{what}: revision {got} went back from {want}"),
    }
}

/// The watch's next event, within [`DELIVERY`].
pub(crate) async fn next_event(w: &mut WatchStream) -> Event {
    match tokio::time::timeout(DELIVERY, w.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(e))) => panic!("the watch failed: {e}"),
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no event within {DELIVERY:?}"),
    }
}

/// The event a put of `key` at `revision` makes.
pub(crate) fn put_event(key: &str, value: &str, revision: u64) -> Event {
    Event::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        revision,
    }
}

fn delete_event(key: &str, revision: u64) -> Event {
    Event::Delete {
        key: key.into(),
        revision,
    }
}

/// Records go in and come out by table and key; a delete of an absent key is no error.
pub async fn put_get_list_delete(s: Arc<dyn Store>) {
    let s = s.as_ref();
    let r = apply(
        s,
        vec![
            put(Table::Networks, "b", "2"),
            put(Table::Networks, "a", "1"),
            put(Table::Sandboxes, "a", "s"),
        ],
    )
    .await;
    let nets = s.list(Table::Networks).await.expect("list");
    still_at(s, nets.revision, r, "a listing after a write");
    let keys: Vec<_> = nets
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_slice(), e.mod_revision))
        .collect();
    assert_eq!(
        keys,
        [("a", &b"1"[..], r), ("b", &b"2"[..], r)],
        "key order"
    );
    assert_eq!(
        s.get(Table::Sandboxes, "a").await.expect("get"),
        record("s", r)
    );
    assert_eq!(s.get(Table::Meta, "a").await.expect("get"), None);
    let r2 = apply(
        s,
        vec![
            Op::delete(Table::Networks, "a"),
            Op::delete(Table::Networks, "zz"),
        ],
    )
    .await;
    assert!(r2 > r);
    let nets = s.list(Table::Networks).await.expect("list");
    assert_eq!(nets.entries.len(), 1);
    assert_eq!(nets.entries[0].key, "b");
    assert_eq!(nets.entries[0].mod_revision, r, "b was not written again");
    let empty = s.list(Table::Services).await.expect("list");
    assert!(empty.entries.is_empty());
    still_at(
        s,
        empty.revision,
        r2,
        "the revision is the store's, not the table's",
    );
}

/// Each change gets a higher revision; each key keeps the revision that last wrote it; a
/// transaction that changes nothing makes no revision.
pub async fn revisions_are_monotonic_and_per_key(s: Arc<dyn Store>) {
    let s = s.as_ref();
    let r0 = revision(s).await;
    let r1 = apply(s, vec![put(Table::Networks, "a", "1")]).await;
    let r2 = apply(s, vec![put(Table::Networks, "b", "1")]).await;
    assert!(r0 < r1 && r1 < r2, "{r0} < {r1} < {r2}");
    let r3 = apply(s, vec![put(Table::Networks, "a", "2")]).await;
    assert!(r2 < r3);
    assert_eq!(get(s, "a").await, record("2", r3));
    assert_eq!(get(s, "b").await, record("1", r2));
    still_at(s, revision(s).await, r3, "a listing after a write");

    let r4 = apply(
        s,
        vec![
            put(Table::Networks, "c", "1"),
            put(Table::Sandboxes, "c", "1"),
        ],
    )
    .await;
    assert_eq!(
        get(s, "c").await,
        record("1", r4),
        "one revision per transaction"
    );
    assert_eq!(
        s.get(Table::Sandboxes, "c").await.expect("get"),
        record("1", r4)
    );

    let none = apply(s, vec![Op::delete(Table::Networks, "absent")]).await;
    still_at(s, none, r4, "deleting nothing makes no revision");
    let empty = s.apply(Txn::default()).await.expect("an empty transaction");
    still_at(s, empty, r4, "an empty transaction makes no revision");
    still_at(s, revision(s).await, r4, "no revision was made");
    // Nor did those leave an event.
    let mut w = s.watch(Table::Networks, r4 + 1).await.expect("watch");
    let r5 = apply(s, vec![put(Table::Networks, "d", "1")]).await;
    assert_eq!(next_event(&mut w).await, put_event("d", "1", r5));
}

/// A transaction whose conditions hold is applied, at a new revision.
pub async fn conditions_that_hold_let_the_transaction_through(s: Arc<dyn Store>) {
    let s = s.as_ref();
    let r1 = apply(s, vec![put(Table::Networks, "a", "1")]).await;
    let txn = Txn::new(vec![
        put(Table::Networks, "a", "2"),
        put(Table::Networks, "b", "1"),
    ])
    .when(at("a", r1))
    .when(Condition::Present {
        table: Table::Networks,
        key: "a".into(),
    })
    .when(Condition::Absent {
        table: Table::Networks,
        key: "b".into(),
    });
    let r2 = s.apply(txn).await.expect("the conditions hold");
    assert!(r2 > r1);
    assert_eq!(get(s, "a").await, record("2", r2));
    assert_eq!(get(s, "b").await, record("1", r2));
}

/// A condition that fails stops the whole transaction, with a conflict naming the record.
pub async fn a_failed_condition_writes_nothing(s: Arc<dyn Store>) {
    let s = s.as_ref();
    let r1 = apply(s, vec![put(Table::Networks, "a", "1")]).await;
    let ops = vec![
        put(Table::Networks, "a", "x"),
        put(Table::Networks, "c", "x"),
        Op::delete(Table::Networks, "a"),
    ];
    let present = |key: &str| Condition::Present {
        table: Table::Networks,
        key: key.into(),
    };
    let absent = |key: &str| Condition::Absent {
        table: Table::Networks,
        key: key.into(),
    };
    let cases = [
        (at("a", r1 + 100), "a", Expected::At(r1 + 100), Some(r1)),
        (absent("a"), "a", Expected::Absent, Some(r1)),
        (present("zz"), "zz", Expected::Present, None),
        (at("zz", r1), "zz", Expected::At(r1), None),
    ];
    for (failing, want_key, want_expected, want_actual) in cases {
        // The failing condition comes after one that holds.
        let txn = Txn::new(ops.clone()).when(present("a")).when(failing);
        match s.apply(txn).await {
            Err(StoreError::Conflict {
                table,
                key,
                expected,
                actual,
            }) => {
                assert_eq!(table, Table::Networks);
                assert_eq!(key, want_key);
                assert_eq!(expected, want_expected);
                assert_eq!(actual, want_actual);
            }
            Err(e) => panic!("expected a conflict, got {e}"),
            Ok(r) => panic!("a failed condition let the transaction through at {r}"),
        }
    }
    assert_eq!(get(s, "a").await, record("1", r1));
    assert_eq!(get(s, "c").await, None);
    still_at(s, revision(s).await, r1, "no revision was made");
    // Nor did a failed transaction leave an event.
    let mut w = s.watch(Table::Networks, r1 + 1).await.expect("watch");
    let r2 = apply(s, vec![put(Table::Networks, "d", "1")]).await;
    assert_eq!(next_event(&mut w).await, put_event("d", "1", r2));
}

/// A watch from a listing's revision + 1 delivers every change of its table made after the
/// listing, committed before or after the watch began, in order, and nothing of other tables.
pub async fn a_watch_from_a_listing_misses_nothing(s: Arc<dyn Store>) {
    let s = s.as_ref();
    apply(
        s,
        vec![
            put(Table::Networks, "a", "1"),
            put(Table::Networks, "b", "1"),
        ],
    )
    .await;
    let listing = s.list(Table::Networks).await.expect("list");
    // Committed between the listing and the watch.
    let r1 = apply(s, vec![put(Table::Networks, "c", "1")]).await;
    let r2 = apply(s, vec![put(Table::Sandboxes, "x", "1")]).await;
    let r3 = apply(s, vec![Op::delete(Table::Networks, "a")]).await;
    let r4 = apply(
        s,
        vec![
            put(Table::Networks, "d", "1"),
            Op::delete(Table::Networks, "b"),
        ],
    )
    .await;
    let mut w = s
        .watch(Table::Networks, listing.revision + 1)
        .await
        .expect("watch");
    let mut others = s
        .watch(Table::Sandboxes, listing.revision + 1)
        .await
        .expect("watch");
    assert_eq!(next_event(&mut w).await, put_event("c", "1", r1));
    assert_eq!(next_event(&mut w).await, delete_event("a", r3));
    assert_eq!(next_event(&mut w).await, put_event("d", "1", r4));
    assert_eq!(next_event(&mut w).await, delete_event("b", r4));
    // Committed while the watcher waits.
    let waiter = tokio::spawn(async move { next_event(&mut w).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r5 = apply(s, vec![put(Table::Networks, "e", "1")]).await;
    let live = waiter.await.expect("the watcher panicked");
    assert_eq!(live, put_event("e", "1", r5));
    assert_eq!(next_event(&mut others).await, put_event("x", "1", r2));
    // A watch starts at the revision asked for, inclusive.
    let mut late = s.watch(Table::Networks, r4).await.expect("watch");
    assert_eq!(next_event(&mut late).await, put_event("d", "1", r4));
    assert_eq!(next_event(&mut late).await, delete_event("b", r4));
    assert_eq!(next_event(&mut late).await, put_event("e", "1", r5));
}

/// A watch from a revision the store has forgotten fails with `Compacted`; one from the
/// compaction's revision works.
pub async fn a_watch_from_before_a_compaction_fails(s: Arc<dyn Store>) {
    let s = s.as_ref();
    let r1 = apply(s, vec![put(Table::Networks, "a", "1")]).await;
    apply(s, vec![put(Table::Networks, "a", "2")]).await;
    let r3 = apply(s, vec![put(Table::Networks, "a", "3")]).await;
    s.compact(r3).await.expect("compact");
    match s.watch(Table::Networks, r1).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!(requested, r1);
            assert!(
                oldest > r1 && oldest <= r3,
                "oldest {oldest} not in ({r1}, {r3}]"
            );
        }
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("a watch from a compacted revision started"),
    }
    let mut w = s.watch(Table::Networks, r3).await.expect("watch");
    assert_eq!(next_event(&mut w).await, put_event("a", "3", r3));
    assert_eq!(get(s, "a").await, record("3", r3), "records stay");
}

/// Writers racing on the same read: one transaction wins, the others get a conflict.
pub async fn of_concurrent_conditional_writers_exactly_one_wins(s: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    let r = apply(&*s, vec![put(Table::Networks, "k", "start")]).await;
    for (name, condition) in [
        ("update", at("k", r)),
        (
            "create",
            Condition::Absent {
                table: Table::Networks,
                key: "new".into(),
            },
        ),
    ] {
        let key = match &condition {
            Condition::KeyAt { key, .. } | Condition::Absent { key, .. } => key.clone(),
            Condition::Present { key, .. } => key.clone(),
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
                let txn = Txn::new(vec![put(Table::Networks, &key, &i.to_string())])
                    .when(condition.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    (i, s.apply(txn).await)
                })
            })
            .collect();
        let mut won = Vec::new();
        let mut lost = 0;
        for t in tasks {
            match t.await.expect("a writer panicked") {
                (i, Ok(rev)) => won.push((i, rev)),
                (_, Err(StoreError::Conflict { .. })) => lost += 1,
                (_, Err(e)) => panic!("{name}: expected a conflict, got {e}"),
            }
        }
        assert_eq!(won.len(), 1, "{name}: winners {won:?}");
        assert_eq!(lost, WRITERS - 1);
        let (i, rev) = won[0];
        assert_eq!(get(&*s, &key).await, record(&i.to_string(), rev), "{name}");
    }
}

/// Read-modify-write loops that retry on conflict lose no update.
pub async fn concurrent_read_modify_writes_lose_no_update(s: Arc<dyn Store>) {
    const WRITERS: usize = 4;
    const EACH: usize = 10;
    apply(&*s, vec![put(Table::Networks, "n", "0")]).await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut done = 0;
                while done < EACH {
                    let Some(cur) = get(&*s, "n").await else {
                        panic!("the counter vanished");
                    };
                    let n: usize = String::from_utf8_lossy(&cur.value)
                        .parse()
                        .expect("a number");
                    let txn = Txn::new(vec![put(Table::Networks, "n", &(n + 1).to_string())])
                        .when(at("n", cur.mod_revision));
                    match s.apply(txn).await {
                        Ok(_) => done += 1,
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => panic!("expected a conflict, got {e}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a writer panicked");
    }
    let n = get(&*s, "n").await.expect("the counter");
    assert_eq!(n.value, (WRITERS * EACH).to_string().into_bytes());
}

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn honours_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    crate::contract::run(|| {
        let path = dir
            .path()
            .join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        async move { Arc::new(RedbStore::open(&path).unwrap()) as Arc<dyn Store> }
    })
    .await;
}

#[tokio::test]
async fn records_and_revisions_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let (r1, r2) = {
        let s = RedbStore::open(&path).unwrap();
        let r1 = s
            .apply_ops(vec![Op::put_json(Table::Networks, "a", &1).unwrap()])
            .await
            .unwrap();
        let r2 = s
            .apply_ops(vec![Op::put_json(Table::Networks, "b", &2).unwrap()])
            .await
            .unwrap();
        (r1, r2)
    };
    let s = RedbStore::open(&path).unwrap();
    let listing = s.list(Table::Networks).await.unwrap();
    assert_eq!(listing.revision, r2);
    let revs: Vec<_> = listing
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.mod_revision))
        .collect();
    assert_eq!(revs, [("a", r1), ("b", r2)]);
    let r3 = s
        .apply_ops(vec![Op::delete(Table::Networks, "a")])
        .await
        .unwrap();
    assert_eq!(r3, r2 + 1, "revisions go on where they stopped");
}

#[tokio::test]
async fn history_starts_when_the_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    {
        let s = RedbStore::open(&path).unwrap();
        s.apply_ops(vec![Op::put_json(Table::Networks, "a", &1).unwrap()])
            .await
            .unwrap();
    }
    let s = RedbStore::open(&path).unwrap();
    match s.watch(Table::Networks, 1).await {
        Err(StoreError::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (1, 2)),
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("a watch from before the open started"),
    }
    assert!(s.watch(Table::Networks, 2).await.is_ok());
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let _first = RedbStore::open(&path).unwrap();
    match RedbStore::open(&path) {
        Err(StoreError::Locked { .. }) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second open succeeded"),
    }
}

/// A file as ferry wrote it before records had revisions: a table per kind, key to value.
fn write_layout1(path: &std::path::Path, records: &[(Table, &str, &[u8])]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    for t in Table::ALL {
        let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new(t.name());
        let mut table = txn.open_table(def).unwrap();
        for (rt, k, v) in records {
            if *rt == t {
                table.insert(*k, *v).unwrap();
            }
        }
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_file_without_revisions_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    write_layout1(
        &path,
        &[
            (Table::Networks, "n1", b"{\"net\":1}"),
            (Table::Networks, "n2", b"{\"net\":2}"),
            (Table::Sandboxes, "s1", b"{\"sb\":1}"),
            (Table::Meta, "host-id", b"abc"),
        ],
    );
    {
        let s = RedbStore::open(&path).unwrap();
        let nets = s.list(Table::Networks).await.unwrap();
        assert_eq!(nets.revision, 1, "the upgrade is one revision");
        let got: Vec<_> = nets
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_slice(), e.mod_revision))
            .collect();
        assert_eq!(
            got,
            [
                ("n1", &b"{\"net\":1}"[..], 1),
                ("n2", &b"{\"net\":2}"[..], 1)
            ]
        );
        assert_eq!(
            s.get(Table::Meta, "host-id").await.unwrap(),
            Some(Record {
                value: b"abc".to_vec(),
                mod_revision: 1
            })
        );
        assert_eq!(s.list(Table::Sandboxes).await.unwrap().entries.len(), 1);
        assert!(s.list(Table::Services).await.unwrap().entries.is_empty());
        let r = s
            .apply(Txn::new(vec![Op::delete(Table::Networks, "n2")]).when(
                crate::Condition::KeyAt {
                    table: Table::Networks,
                    key: "n2".into(),
                    revision: 1,
                },
            ))
            .await
            .unwrap();
        assert_eq!(r, 2);
    }
    // The old tables are gone, so opening again moves nothing.
    let s = RedbStore::open(&path).unwrap();
    let nets = s.list(Table::Networks).await.unwrap();
    assert_eq!(nets.revision, 2);
    assert_eq!(nets.entries.len(), 1);
    assert_eq!(nets.entries[0].mod_revision, 1);
    drop(s);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_string())
        .collect();
    for t in Table::ALL {
        assert!(!names.contains(&t.name().to_string()), "{names:?}");
    }
}

#[tokio::test]
async fn an_empty_file_without_revisions_starts_at_revision_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    write_layout1(&path, &[]);
    let s = RedbStore::open(&path).unwrap();
    assert_eq!(s.list(Table::Networks).await.unwrap().revision, 0);
}

#[test]
fn calls_complete_without_yielding() {
    // A caller's future cannot then be dropped between a commit and its next step.
    use futures::FutureExt;
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(&dir.path().join("ferry.db")).unwrap();
    let op = Op::put_json(Table::Networks, "a", &1).unwrap();
    assert!(matches!(s.apply_ops(vec![op]).now_or_never(), Some(Ok(1))));
    assert!(s.get(Table::Networks, "a").now_or_never().is_some());
    assert!(s.list(Table::Networks).now_or_never().is_some());
}

#[tokio::test]
async fn a_local_store_refuses_leases_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(&dir.path().join("ferry.db")).unwrap();
    let e = s
        .grant_lease(std::time::Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no leases"), "{e}");
    assert!(matches!(
        s.keep_alive(1).await,
        Err(StoreError::LeasesUnsupported { .. })
    ));
    let ops = vec![
        Op::put_json(Table::Nodes, "a", &1).unwrap(),
        Op::put_json_leased(Table::Nodes, "b", &1, 7).unwrap(),
    ];
    assert!(matches!(
        s.apply_ops(ops).await,
        Err(StoreError::LeasesUnsupported { .. })
    ));
    assert!(s.list(Table::Nodes).await.unwrap().entries.is_empty());
}

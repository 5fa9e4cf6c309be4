//! Measures the latency of one durable commit as the number of records grows.
//! usage: cargo run --release -p ferry-store --example commit_cost -- [RECORDS=1000]
use ferry_store::{Op, RedbStore, Store, Table};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("ferry-commit-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = RedbStore::open(&dir.join("ferry.db")).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let value = vec![b'x'; 1500];
    let mut samples = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        rt.block_on(store.apply_ops(vec![Op::Put {
            table: Table::Sandboxes,
            key: format!("{i:064}"),
            value: value.clone(),
        }]))
        .expect("apply");
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |s: &[f64]| {
        let mut v = s.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "commit ms: first 10 median {:.3}, last 10 median {:.3}",
        median(&samples[..10]),
        median(&samples[n - 10..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! `cluster-sim`: starts N simulated ferry nodes against one etcd, measures how one endpoint
//! change and a burst of one endpoint per node reach every node's (fake) kernel, and what the
//! nodes and etcd cost in memory. Prints a table. `bench/cluster-sim.sh` starts etcd for it.

use clap::Parser;
use cluster_sim::memory::{self, Counting};
use cluster_sim::stats::{ms, Summary};
use cluster_sim::status::etcd_size;
use cluster_sim::swarm::{Config, Swarm};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The goal for one change to reach every node (p99).
const CHANGE_GOAL: Duration = Duration::from_secs(2);
/// The goal for a burst of one endpoint per node to converge everywhere.
const BURST_GOAL: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(about = "Swarm scale by simulation: N nodes, each with its own etcd session and watch")]
struct Args {
    /// etcd's client URL.
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    endpoint: String,
    /// How many simulated nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// How many single endpoint changes to time (each put, then each delete).
    #[arg(long, default_value_t = 20)]
    changes: usize,
    /// The nodes' session lease TTL, in seconds.
    #[arg(long, default_value_t = 10)]
    lease_ttl: u64,
    /// How many nodes connect at once while the swarm starts.
    #[arg(long, default_value_t = 32)]
    start_parallel: usize,
    /// How long to wait for any one measurement, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// etcd's process ID, to report its resident set.
    #[arg(long)]
    etcd_pid: Option<u32>,
    /// The key prefix of the swarm's records.
    #[arg(long, default_value = "/ferry-sim/v1")]
    prefix: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn mib(b: u64) -> String {
    if b < 1024 * 1024 {
        return format!("{:.0} KiB", b as f64 / 1024.0);
    }
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn kib(b: f64) -> String {
    format!("{:.1} KiB", b / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.nodes;
    let timeout = Duration::from_secs(args.timeout);
    let config = Config {
        endpoint: args.endpoint.clone(),
        prefix: args.prefix.clone(),
        nodes: n,
        lease_ttl: Duration::from_secs(args.lease_ttl),
        start_parallel: args.start_parallel,
    };
    let (rss0, heap0) = (memory::rss(None), memory::live_heap());
    let t = Instant::now();
    let mut swarm = Swarm::start(&config).await?;
    let started = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss1, heap1) = (memory::rss(None), memory::live_heap());

    let prop = swarm.propagation(args.changes, timeout).await?;
    // A failed burst (a node's lease gone, say) still leaves the other figures to print.
    let (burst, burst_err) = match swarm.burst(timeout).await {
        Ok(b) => (Some(b), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss2, heap2) = (memory::rss(None), memory::live_heap());
    let size = etcd_size(&args.endpoint).await;
    let cpu = (
        memory::cpu_time(None),
        args.etcd_pid.and_then(|p| memory::cpu_time(Some(p))),
    );
    let etcd_rss = args.etcd_pid.and_then(|p| memory::rss(Some(p)));
    let h = &swarm.health;
    let troubles = [
        ("leases lost", h.leases_lost.load(Ordering::Relaxed)),
        (
            "failed renewals",
            h.keepalive_errors.load(Ordering::Relaxed),
        ),
        ("failed listings", h.list_errors.load(Ordering::Relaxed)),
        ("lost watches", h.watches_lost.load(Ordering::Relaxed)),
        ("change arrivals missed", prop.missed),
        (
            "nodes not converged",
            burst.as_ref().map_or(n, |b| b.missed),
        ),
        (
            "burst writes retried",
            burst.as_ref().map_or(0, |b| b.retries),
        ),
    ];

    println!("cluster-sim: {n} nodes, each with its own etcd connection, lease ({} s TTL) and watch; etcd at {}", args.lease_ttl, args.endpoint);
    println!(
        "{:<44} {:.1} s",
        "start (connect, lease, list, watch)",
        started.as_secs_f64()
    );
    let arrivals = Summary::of(&prop.arrivals);
    if let Some(s) = arrivals {
        let worst_max = prop
            .per_change_max
            .iter()
            .max()
            .copied()
            .unwrap_or_default();
        println!(
            "{:<44} p50 {} ms  p99 {} ms  max {} ms  ({} changes x {n} nodes; goal p99 <= 2 s: {})",
            "one endpoint put -> every node's kernel",
            ms(s.p50),
            ms(s.p99),
            ms(worst_max.max(s.max)),
            args.changes,
            verdict(s.p99 <= CHANGE_GOAL && prop.missed == 0)
        );
        let maxes = Summary::of(&prop.per_change_max);
        if let Some(m) = maxes {
            println!(
                "{:<44} p50 {} ms  max {} ms",
                "  slowest node per change",
                ms(m.p50),
                ms(m.max)
            );
        }
    }
    if let Some(s) = Summary::of(&prop.withdrawals) {
        println!(
            "{:<44} p50 {} ms  p99 {} ms  max {} ms",
            "one endpoint delete -> withdrawn everywhere",
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        );
    }
    if let Some(e) = &burst_err {
        println!(
            "{:<44} FAILED: {e}",
            format!("burst of {n} endpoints (one per node)")
        );
    }
    if let Some((burst, s)) = burst
        .as_ref()
        .and_then(|b| Some((b, Summary::of(&b.full)?)))
    {
        println!(
            "{:<44} all {n} puts returned in {} ms; every node full in {} ms (per node p50 {} ms); goal <= 10 s: {}",
            format!("burst of {n} endpoints (one per node)"),
            ms(burst.writes),
            ms(s.max),
            ms(s.p50),
            verdict(s.max <= BURST_GOAL && burst.missed == 0)
        );
    }
    let per_node = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if n > 0 => Some(b.saturating_sub(a) as f64 / n as f64),
        _ => None,
    };
    if let (Some(r1), Some(r2)) = (rss1, rss2) {
        println!(
            "{:<44} {} idle, {} after the burst",
            "process RSS",
            mib(r1),
            mib(r2)
        );
    }
    for (label, a, b) in [
        ("RSS per node (idle / after burst)", rss0, (rss1, rss2)),
        ("heap per node (idle / after burst)", heap0, (heap1, heap2)),
    ] {
        if let (Some(x), Some(y)) = (per_node(a, b.0), per_node(a, b.1)) {
            println!("{:<44} {} / {}", label, kib(x), kib(y));
        }
    }
    match size {
        Ok(s) => println!(
            "{:<44} db {} ({} in use){}",
            "etcd",
            mib(u64::try_from(s.db_size).unwrap_or(0)),
            mib(u64::try_from(s.db_in_use).unwrap_or(0)),
            etcd_rss
                .map(|r| format!(", RSS {}", mib(r)))
                .unwrap_or_default()
        ),
        Err(e) => println!("{:<44} status unavailable: {e}", "etcd"),
    }
    if let (Some(own), etcd) = cpu {
        println!(
            "{:<44} nodes {:.1} s{}",
            "CPU time used (whole run)",
            own.as_secs_f64(),
            etcd.map(|e| format!(", etcd {:.1} s", e.as_secs_f64()))
                .unwrap_or_default()
        );
    }
    println!(
        "{:<44} slowest round trip {} ms, longest gap between renewals {} ms",
        "lease renewals (every TTL/3)",
        h.slowest_renewal_ms.load(Ordering::Relaxed),
        h.longest_renewal_gap_ms.load(Ordering::Relaxed)
    );
    let shown: Vec<String> = troubles.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("{:<44} {}", "troubles", shown.join(", "));
    if let Some(e) = h
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        println!("{:<44} {e}", "  first");
    }
    swarm.stop().await;
    Ok(())
}

//! The simulated swarm: N nodes started against one etcd, a publisher that stands for the
//! node where an endpoint changes, and the two measurements: how long one change takes to
//! reach every node's kernel, and how long a burst of one endpoint per node takes to be
//! programmed everywhere.

use crate::node::{node_id, Health, Node, Probes, Report};
use ferry_cluster::PeerRecord;
use ferry_store::{EtcdConfig, EtcdStore, Op, Store};
use ferry_types::MacAddr;
use futures::StreamExt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The network whose endpoints are traced one change at a time.
pub const PROBE_NET: &str = "sim-probe";
/// The network every node publishes one endpoint on in the burst.
pub const BURST_NET: &str = "sim-burst";
/// The publisher's node ID (not one of the simulated nodes, so every node takes its records).
const PUBLISHER: &str = "publisher";

/// How long a node waits before it writes again after a failed write (the engine's pause).
const WRITE_RETRY: Duration = Duration::from_millis(500);
/// How many times a node tries a write again before the bench gives up.
const WRITE_TRIES: usize = 20;

/// How the swarm is made.
#[derive(Debug, Clone)]
pub struct Config {
    /// etcd's client URL.
    pub endpoint: String,
    /// The key prefix of the swarm's records.
    pub prefix: String,
    /// How many nodes.
    pub nodes: usize,
    /// Their session leases' TTL.
    pub lease_ttl: Duration,
    /// How many nodes connect at once while the swarm starts.
    pub start_parallel: usize,
}

/// One change's journey, from the put (or delete) to each node's kernel.
#[derive(Debug, Default)]
pub struct Propagation {
    /// Put to programmed, per node and change.
    pub arrivals: Vec<Duration>,
    /// The slowest node of each change.
    pub per_change_max: Vec<Duration>,
    /// Delete to withdrawn, per node and change.
    pub withdrawals: Vec<Duration>,
    /// (node, change) pairs that did not arrive in time, puts and deletes together.
    pub missed: usize,
}

/// A burst of one endpoint per node.
#[derive(Debug, Default)]
pub struct Burst {
    /// From the start of the burst until the last node's put returned.
    pub writes: Duration,
    /// From the start of the burst until each node had every other node's endpoint.
    pub full: Vec<Duration>,
    /// Nodes that were not full in time.
    pub missed: usize,
    /// Writes that failed and were tried again.
    pub retries: usize,
}

/// The running swarm.
pub struct Swarm {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Their troubles.
    pub health: Arc<Health>,
    rx: mpsc::UnboundedReceiver<Report>,
    publisher: EtcdStore,
    publisher_lease: i64,
}

impl Swarm {
    /// Starts every node and waits until each is following.
    pub async fn start(config: &Config) -> anyhow::Result<Swarm> {
        let (tx, rx) = mpsc::unbounded_channel();
        let probes = Probes {
            traced: PROBE_NET.into(),
            filled: BURST_NET.into(),
            full_at: config.nodes.saturating_sub(1),
            tx,
        };
        let health = Arc::new(Health::default());
        let mut started: Vec<(usize, Node)> = futures::stream::iter(0..config.nodes)
            .map(|i| {
                let (probes, health) = (probes.clone(), health.clone());
                async move {
                    Node::start(
                        i,
                        &config.endpoint,
                        &config.prefix,
                        config.lease_ttl,
                        probes,
                        health,
                    )
                    .await
                    .map(|n| (i, n))
                    .map_err(|e| e.context(format!("starting node {i}")))
                }
            })
            .buffer_unordered(config.start_parallel.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        started.sort_by_key(|(i, _)| *i);
        let publisher = EtcdStore::connect(
            EtcdConfig::new([config.endpoint.as_str()]).with_prefix(config.prefix.as_str()),
        )
        .await?;
        let publisher_lease = publisher.grant_lease(Duration::from_secs(600)).await?;
        Ok(Swarm {
            nodes: started.into_iter().map(|(_, n)| n).collect(),
            health,
            rx,
            publisher,
            publisher_lease,
        })
    }

    /// Puts `changes` endpoints one after the other from the publisher, each after the last
    /// reached every node, then deletes them the same way; `timeout` bounds each wait.
    pub async fn propagation(
        &mut self,
        changes: usize,
        timeout: Duration,
    ) -> anyhow::Result<Propagation> {
        let mut out = Propagation::default();
        let n = self.nodes.len();
        let mut records = Vec::with_capacity(changes);
        for k in 0..changes {
            let rec = probe_record(k);
            self.drain();
            let t0 = Instant::now();
            self.publisher
                .apply_ops(vec![rec.put(self.publisher_lease)?])
                .await?;
            let got = self.collect(&rec.key(), true, n, t0, timeout).await;
            out.missed += n - got.len();
            out.per_change_max
                .push(got.iter().copied().max().unwrap_or(timeout));
            out.arrivals.extend(got);
            records.push(rec);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for rec in records {
            self.drain();
            let t0 = Instant::now();
            self.publisher
                .apply_ops(vec![Op::delete(ferry_store::Table::Peers, &rec.key())])
                .await?;
            let got = self.collect(&rec.key(), false, n, t0, timeout).await;
            out.missed += n - got.len();
            out.withdrawals.extend(got);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(out)
    }

    /// Every node puts one endpoint at the same moment, each under its own lease on its own
    /// connection; waits until every node has all the others' (at most `timeout`).
    pub async fn burst(&mut self, timeout: Duration) -> anyhow::Result<Burst> {
        self.drain();
        let n = self.nodes.len();
        let gate = Arc::new(tokio::sync::Barrier::new(n + 1));
        let mut writers = Vec::with_capacity(n);
        for (i, node) in self.nodes.iter().enumerate() {
            let (store, lease, gate) = (node.store.clone(), node.lease, gate.clone());
            let op = burst_record(i).put(lease)?;
            writers.push(tokio::spawn(async move {
                gate.wait().await;
                // As the engine's publisher does: a failed write is tried again after a pause.
                let mut retries = 0;
                while let Err(e) = store.apply_ops(vec![op.clone()]).await {
                    retries += 1;
                    if retries > WRITE_TRIES {
                        return Err(e);
                    }
                    tokio::time::sleep(WRITE_RETRY).await;
                }
                Ok((Instant::now(), retries))
            }));
        }
        gate.wait().await;
        let t0 = Instant::now();
        let mut last_write = t0;
        let mut retries = 0;
        for w in writers {
            let (at, r) = w.await??;
            last_write = last_write.max(at);
            retries += r;
        }
        let mut out = Burst {
            writes: last_write - t0,
            retries,
            ..Burst::default()
        };
        let deadline = tokio::time::Instant::from_std(t0 + timeout);
        let mut seen = vec![false; n];
        // With one node there is nothing to wait for.
        if n > 1 {
            while out.full.len() < n {
                match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    Ok(Some(Report::Full { node, at })) if !seen[node] => {
                        seen[node] = true;
                        out.full.push(at - t0);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
        if n > 1 {
            out.missed = n - out.full.len();
        }
        Ok(out)
    }

    /// Stops every node and ends every session.
    pub async fn stop(self) {
        futures::stream::iter(self.nodes)
            .for_each_concurrent(64, |n| n.stop())
            .await;
        let _ = self.publisher.revoke_lease(self.publisher_lease).await;
    }

    /// Forgets reports of earlier steps.
    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The delays from `t0` of the first `want` nodes that programmed (or withdrew) `key`.
    async fn collect(
        &mut self,
        key: &str,
        programmed: bool,
        want: usize,
        t0: Instant,
        timeout: Duration,
    ) -> Vec<Duration> {
        let deadline = tokio::time::Instant::from_std(t0 + timeout);
        let mut seen = vec![false; want];
        let mut got = Vec::with_capacity(want);
        while got.len() < want {
            let r = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => break,
            };
            let (node, k, at) = match r {
                Report::Programmed { node, key, at } if programmed => (node, key, at),
                Report::Withdrawn { node, key, at } if !programmed => (node, key, at),
                _ => continue,
            };
            if k == key && node < want && !seen[node] {
                seen[node] = true;
                got.push(at - t0);
            }
        }
        got
    }
}

/// The publisher's `k`th endpoint on the traced network.
pub fn probe_record(k: usize) -> PeerRecord {
    let [_, _, hi, lo] = u32::try_from(k).unwrap_or(u32::MAX).to_be_bytes();
    PeerRecord {
        network_id: PROBE_NET.into(),
        node_id: PUBLISHER.into(),
        endpoint_id: format!("probe-{k}"),
        sandbox_id: format!("probe-{k}"),
        vtep: Ipv4Addr::new(10, 255, 255, 254),
        mac: MacAddr::new([2, 0xfe, 0, 0, hi, lo]),
        ipv4: ipnet::IpNet::new(Ipv4Addr::new(10, 254, hi, lo).into(), 16).ok(),
        ipv6: None,
        names: vec![format!("probe-{k}")],
        service: None,
    }
}

/// Node `i`'s endpoint on the burst network.
pub fn burst_record(i: usize) -> PeerRecord {
    let [_, a, b, c] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    let vtep = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 1)).wrapping_add(i as u32));
    PeerRecord {
        network_id: BURST_NET.into(),
        node_id: node_id(i),
        endpoint_id: format!("ep-{i}"),
        sandbox_id: format!("sb-{i}"),
        vtep,
        mac: MacAddr::new([2, 0, 0, a, b, c]),
        ipv4: ipnet::IpNet::new(
            Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 2)).wrapping_add(i as u32)).into(),
            16,
        )
        .ok(),
        ipv6: None,
        names: vec![format!("sb-{i}")],
        service: None,
    }
}

//! One simulated node: its own connection to etcd, a session lease it keeps alive, and a
//! watch of every node's peer records, followed the way the engine follows them (list, then
//! watch from the listing's revision + 1, and after a lost watch list again and diff), each
//! change applied to the node's fake kernel.

use crate::kernel::FakeKernel;
use ferry_cluster::PeerRecord;
use ferry_engine::cluster::mirror::{Change, Mirror};
use ferry_store::{EtcdConfig, EtcdStore, Store, Table};
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// How long a node waits before it lists again after a failed list or a lost watch (the
/// engine's own pause).
const RETRY: Duration = Duration::from_millis(500);

/// What a node tells the bench about its kernel, with when it happened.
#[derive(Debug)]
pub enum Report {
    /// An entry of the traced network was programmed.
    Programmed {
        /// The node.
        node: usize,
        /// The peer record's key.
        key: String,
        /// When.
        at: Instant,
    },
    /// An entry of the traced network was withdrawn.
    Withdrawn {
        /// The node.
        node: usize,
        /// The peer record's key.
        key: String,
        /// When.
        at: Instant,
    },
    /// The filled network reached the expected number of entries.
    Full {
        /// The node.
        node: usize,
        /// When.
        at: Instant,
    },
}

/// What the nodes report, and to whom.
#[derive(Clone, Debug)]
pub struct Probes {
    /// The network whose every entry is reported as it comes and goes.
    pub traced: String,
    /// The network whose filling up is reported once.
    pub filled: String,
    /// How many entries make the filled network full.
    pub full_at: usize,
    /// Where reports go.
    pub tx: mpsc::UnboundedSender<Report>,
}

/// Troubles seen by all the nodes together; a clean run has none.
#[derive(Debug, Default)]
pub struct Health {
    /// Sessions whose lease was found gone.
    pub leases_lost: AtomicUsize,
    /// Failed lease renewals.
    pub keepalive_errors: AtomicUsize,
    /// Failed listings.
    pub list_errors: AtomicUsize,
    /// Watches that could not be opened or ended with an error.
    pub watches_lost: AtomicUsize,
    /// The slowest lease renewal's round trip, in milliseconds.
    pub slowest_renewal_ms: AtomicU64,
    /// The longest time between two successful renewals of one lease, in milliseconds.
    pub longest_renewal_gap_ms: AtomicU64,
    /// The first error seen, for the report.
    pub first_error: Mutex<Option<String>>,
}

impl Health {
    /// Counts a trouble, keeping the first one's message.
    fn count(&self, counter: &AtomicUsize, what: &str, e: impl std::fmt::Display) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(format!("{what}: {e}"));
        }
    }
}

/// A running simulated node.
pub struct Node {
    /// Its ID in the swarm.
    pub id: String,
    /// Its connection to etcd.
    pub store: Arc<EtcdStore>,
    /// Its session lease.
    pub lease: i64,
    /// What its kernel would hold.
    pub kernel: Arc<Mutex<FakeKernel>>,
    tasks: Vec<AbortHandle>,
}

impl Node {
    /// Connects, opens the session and starts following; returns once the first listing is
    /// applied and the watch is open.
    pub async fn start(
        index: usize,
        endpoint: &str,
        prefix: &str,
        ttl: Duration,
        probes: Probes,
        health: Arc<Health>,
    ) -> anyhow::Result<Node> {
        let store =
            Arc::new(EtcdStore::connect(EtcdConfig::new([endpoint]).with_prefix(prefix)).await?);
        let lease = store.grant_lease(ttl).await?;
        let id = node_id(index);
        let kernel = Arc::new(Mutex::new(FakeKernel::default()));
        let keeper = tokio::spawn(keep_alive(store.clone(), lease, ttl, health.clone()));
        let (ready_tx, ready) = oneshot::channel();
        let follower = Follower {
            index,
            id: id.clone(),
            store: store.clone(),
            kernel: kernel.clone(),
            probes,
            health,
        };
        let follow = tokio::spawn(follower.run(ready_tx));
        let tasks = vec![keeper.abort_handle(), follow.abort_handle()];
        let node = Node {
            id,
            store,
            lease,
            kernel,
            tasks,
        };
        ready
            .await
            .map_err(|_| anyhow::anyhow!("node {index} stopped before it was following"))?;
        Ok(node)
    }

    /// Stops following and ends the session (its records go with the lease).
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.store.revoke_lease(self.lease).await;
    }
}

/// The ID of the node of this index.
pub fn node_id(index: usize) -> String {
    format!("node-{index}")
}

/// Renews the lease three times per TTL, as long as the node runs; a failed renewal is tried
/// again after a short pause.
async fn keep_alive(store: Arc<EtcdStore>, lease: i64, ttl: Duration, health: Arc<Health>) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    let mut renewed = Instant::now();
    loop {
        tick.tick().await;
        let asked = Instant::now();
        match store.keep_alive(lease).await {
            Ok(Some(_)) => {
                let now = Instant::now();
                let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                health
                    .slowest_renewal_ms
                    .fetch_max(ms(now - asked), Ordering::Relaxed);
                health
                    .longest_renewal_gap_ms
                    .fetch_max(ms(now - renewed), Ordering::Relaxed);
                renewed = now;
            }
            Ok(None) => {
                health.leases_lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                // Tried again soon rather than at the next tick: a busy etcd refuses renewals
                // while its apply lags its commits, and a lease has only three ticks to live.
                health.count(&health.keepalive_errors, "lease renewal", e);
                tokio::time::sleep(RETRY).await;
                tick.reset_immediately();
            }
        }
    }
}

/// The watch of the peer records, and what it does with them.
struct Follower {
    index: usize,
    id: String,
    store: Arc<EtcdStore>,
    kernel: Arc<Mutex<FakeKernel>>,
    probes: Probes,
    health: Arc<Health>,
}

impl Follower {
    async fn run(self, ready: oneshot::Sender<()>) {
        let mut ready = Some(ready);
        let mut mirror = Mirror::default();
        loop {
            let listing = match self.store.list(Table::Peers).await {
                Ok(l) => l,
                Err(e) => {
                    self.health.count(&self.health.list_errors, "listing", e);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            for c in mirror.relist(listing.entries) {
                self.apply(c);
            }
            let mut events = match self.store.watch(Table::Peers, listing.revision + 1).await {
                Ok(w) => w,
                Err(e) => {
                    self.health.count(&self.health.watches_lost, "watch", e);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => {
                        if let Some(c) = mirror.event(ev) {
                            self.apply(c);
                        }
                    }
                    Err(e) => {
                        self.health.count(&self.health.watches_lost, "watch", e);
                        break;
                    }
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// A change as the engine applies it: the replaced or removed record of another node is
    /// withdrawn, the new one programmed; this node's own records are skipped.
    fn apply(&self, c: Change) {
        let decode = |v: &[u8]| serde_json::from_slice::<PeerRecord>(v).ok();
        let (new, old) = match &c {
            Change::Put { value, old, .. } => (decode(value), old.as_deref().and_then(decode)),
            Change::Delete { old, .. } => (None, decode(old)),
        };
        let others = |p: Option<PeerRecord>| p.filter(|p| p.node_id != self.id);
        let (new, old) = (others(new), others(old));
        let mut kernel = self.kernel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = old.filter(|o| Some(o) != new.as_ref()) {
            kernel.unprogram(&old);
            if old.network_id == self.probes.traced {
                self.report(Report::Withdrawn {
                    node: self.index,
                    key: old.key(),
                    at: Instant::now(),
                });
            }
        }
        if let Some(new) = new {
            let count = kernel.program(&new);
            let at = Instant::now();
            if new.network_id == self.probes.traced {
                self.report(Report::Programmed {
                    node: self.index,
                    key: new.key(),
                    at,
                });
            } else if new.network_id == self.probes.filled && count == self.probes.full_at {
                self.report(Report::Full {
                    node: self.index,
                    at,
                });
            }
        }
    }

    fn report(&self, r: Report) {
        // The bench may have stopped listening; the node goes on regardless.
        let _ = self.probes.tx.send(r);
    }
}

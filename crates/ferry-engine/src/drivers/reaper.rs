//! Link deletions that finish after the reply. The kernel unregisters a network device
//! synchronously and slowly (a bridge takes ~30 ms, a veth ~16 ms, mostly waiting out RCU
//! grace periods), which used to be most of what `network rm`, `disconnect` and `rm -f`
//! cost. A driver retires a link instead (down, so it carries nothing, and renamed to a
//! tombstone, so its name is free at once, and into a group of retired links) and hands it
//! here; one worker deletes retired links in the background, all those waiting in one
//! request (the kernel then waits out its grace periods once for the batch).
//!
//! Deleting a device holds the kernel's RTNL lock for milliseconds, and every other link
//! request waits for it: deleted at once, a retired link would only move its cost onto the
//! next request. So the worker waits for the daemon to be quiet ([`Activity`]): no operation
//! begun for [`QUIET`], or [`MAX_DELAY`] since the link was retired, or a backlog of
//! [`MAX_BACKLOG`] links.
//!
//! Crash-safe by construction: a tombstone left by a daemon killed before its deletion ran is
//! recognised by its name alone, and the sweep at the next start removes it.

use ferry_kernel::netlink::Netlink;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// How long the daemon must have begun no operation before a retired link is deleted.
pub const QUIET: Duration = Duration::from_millis(25);
/// How long a retired link waits at most.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// How many retired links wait at most.
pub const MAX_BACKLOG: usize = 64;

/// When the daemon last began an operation.
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// An operation begins now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago the last operation began.
    pub fn quiet_for(&self) -> Duration {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Whether to delete now: the daemon is quiet, the oldest has waited long enough, or too
/// many wait.
pub fn due(quiet_for: Duration, oldest_waited: Duration, backlog: usize) -> bool {
    quiet_for >= QUIET || oldest_waited >= MAX_DELAY || backlog >= MAX_BACKLOG
}

/// Name prefix of retired links. Nothing else of ferry's, nor Docker's, starts with it.
pub const TOMBSTONE_PREFIX: &str = "fz";

/// A retired link's name: the prefix and 13 hex digits of a per-daemon counter mixed with
/// the link's index (15 bytes, the kernel's limit), unique among the links of a namespace.
pub fn tombstone_name(index: u32, serial: u64) -> String {
    let mixed = (serial << 32) ^ u64::from(index);
    format!("{TOMBSTONE_PREFIX}{:013x}", mixed & 0x000f_ffff_ffff_ffff)
}

/// True for a name [`tombstone_name`] makes.
pub fn is_tombstone(name: &str) -> bool {
    name.strip_prefix(TOMBSTONE_PREFIX)
        .is_some_and(|h| h.len() == 13 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The names retired links still hold, each counted once per link: two retired pairs of one
/// sandbox may hold the same name in turn (the older one's end renamed out of the way by a
/// join), and the first one's deletion must not free the name the second still holds.
#[derive(Default)]
struct Held(HashMap<String, usize>);

impl Held {
    fn add(&mut self, keys: &[String]) {
        for k in keys {
            *self.0.entry(k.clone()).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, keys: &[String]) {
        for k in keys {
            if let Some(n) = self.0.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    self.0.remove(k);
                }
            }
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

struct Job {
    index: u32,
    /// When it was retired.
    at: Instant,
    /// Names that stay taken until the link is gone (the sandbox end of a veth, which keeps
    /// its name inside the sandbox until its pair is deleted).
    keys: Vec<String>,
}

/// The background deleter of retired links, in the host's namespace.
pub struct Reaper {
    nl: Netlink,
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<Mutex<Held>>,
    done: Arc<Notify>,
    serial: std::sync::atomic::AtomicU64,
    outstanding: Arc<std::sync::atomic::AtomicUsize>,
    /// Someone waits for a name a retired link holds: delete without waiting for quiet.
    urgent: Arc<std::sync::atomic::AtomicBool>,
}

impl Reaper {
    /// Starts the worker on a thread of its own, with a netlink connection of its own: the
    /// kernel unregisters a device inside the request that deletes it, and that wait must
    /// stall neither the daemon's runtime nor the connection its other requests share.
    /// `nl` (the daemon's connection) retires links; the worker's namespace is the calling
    /// thread's.
    pub fn start(nl: Netlink, activity: Arc<Activity>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let pending: Arc<Mutex<Held>> = Arc::default();
        let done = Arc::new(Notify::new());
        let outstanding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let urgent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, d, o, u) = (
            pending.clone(),
            done.clone(),
            outstanding.clone(),
            urgent.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("ferry-reaper".into())
            .spawn(move || Self::work(rx, p, d, o, activity, u));
        if let Err(e) = spawned {
            // Without a worker, retire() finds the channel closed and deletes at once.
            tracing::warn!(error = %e, "no background link deleter: removals wait for the kernel");
        }
        Self {
            nl,
            tx,
            pending,
            done,
            serial: std::sync::atomic::AtomicU64::new(1),
            outstanding,
            urgent,
        }
    }

    fn work(
        mut rx: mpsc::UnboundedReceiver<Job>,
        pending: Arc<Mutex<Held>>,
        done: Arc<Notify>,
        outstanding: Arc<std::sync::atomic::AtomicUsize>,
        activity: Arc<Activity>,
        urgent: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::warn!(error = %e, "no runtime for the background link deleter");
                return;
            }
        };
        rt.block_on(async move {
            let nl = match Netlink::connect() {
                Ok(nl) => nl,
                Err(e) => {
                    tracing::warn!(error = %e, "no netlink for the background link deleter");
                    return;
                }
            };
            let mut queue: VecDeque<Job> = VecDeque::new();
            loop {
                if queue.is_empty() {
                    match rx.recv().await {
                        Some(job) => queue.push_back(job),
                        None => return,
                    }
                }
                while let Ok(job) = rx.try_recv() {
                    queue.push_back(job);
                }
                let oldest = queue.front().map(|j| j.at.elapsed()).unwrap_or_default();
                if !due(activity.quiet_for(), oldest, queue.len())
                    && !urgent.swap(false, Ordering::AcqRel)
                {
                    tokio::time::sleep(QUIET / 5).await;
                    continue;
                }
                // Every link retired so far goes in one request: the kernel's wait for RCU
                // grace periods, most of a deletion, is then paid once for all of them.
                let jobs: Vec<Job> = queue.drain(..).collect();
                if let Err(e) = nl.delete_retired().await {
                    tracing::debug!(error = %e, "retired links not deleted together; one by one");
                    for job in &jobs {
                        if let Err(e) = nl.delete_link(job.index).await {
                            // The sweep at the next start removes the tombstone.
                            tracing::warn!(link = job.index, error = %e, "retired link not deleted");
                        }
                    }
                }
                if let Ok(mut held) = pending.lock() {
                    for job in &jobs {
                        held.remove(&job.keys);
                    }
                }
                outstanding.fetch_sub(jobs.len(), std::sync::atomic::Ordering::AcqRel);
                done.notify_waiters();
            }
        });
    }

    /// Makes `ifname` free in the sandbox namespace at `netns`: the sandbox end of a pair
    /// retired from it may still hold the name; it is renamed out of the way (it goes with
    /// its pair), or waited for when it cannot be.
    pub async fn free_sandbox_name(
        &self,
        netns: &std::path::Path,
        nl: &Netlink,
        ifname: &str,
    ) -> ferry_kernel::Result<()> {
        let key = ns_key(netns, ifname);
        if !self.holds(&key) {
            return Ok(());
        }
        if let Some(old) = nl.link(ifname).await? {
            let name = self.tombstone(old.index);
            if let Err(e) = nl.retire(old.index, &name).await {
                tracing::debug!(error = %e, "retired sandbox end not renamed; waiting for it");
                self.settled(&key).await;
            }
        }
        Ok(())
    }

    /// Retires the host end of an endpoint's veth pair named `host`, when it is there (the
    /// pair goes with it). Until it is deleted, the sandbox end keeps its name `ifname` in
    /// `netns` (while that namespace lives), which a join there renames or waits for.
    pub async fn retire_host_end(
        &self,
        nl: &Netlink,
        host: &str,
        netns: Option<&std::path::Path>,
        ifname: &str,
    ) -> ferry_kernel::Result<()> {
        let Some(link) = nl.link(host).await? else {
            return Ok(());
        };
        let keys = netns.map(|p| vec![ns_key(p, ifname)]).unwrap_or_default();
        self.retire(link.index, keys).await
    }

    /// Retires a link (down, renamed to a tombstone) and queues its deletion. `keys` stay
    /// taken (see [`Reaper::settled`]) until it is gone. When retiring fails, the link is
    /// deleted here and now.
    pub async fn retire(&self, index: u32, keys: Vec<String>) -> ferry_kernel::Result<()> {
        if let Err(e) = self.nl.retire(index, &self.tombstone(index)).await {
            tracing::debug!(link = index, error = %e, "link not retired; deleting it now");
            return self.nl.delete_link(index).await;
        }
        if let Ok(mut held) = self.pending.lock() {
            held.add(&keys);
        }
        self.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let job = Job {
            index,
            at: Instant::now(),
            keys,
        };
        if self.tx.send(job).is_err() {
            // No worker (the runtime is going down): delete it here.
            self.outstanding
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return self.nl.delete_link(index).await;
        }
        Ok(())
    }

    /// Whether a retired link still holds `key`.
    pub fn holds(&self, key: &str) -> bool {
        self.pending
            .lock()
            .map(|s| s.contains(key))
            .unwrap_or(false)
    }

    /// A fresh tombstone name for the link at `index` (in whatever namespace it is).
    pub fn tombstone(&self, index: u32) -> String {
        tombstone_name(
            index,
            self.serial
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Waits until no retired link holds `key`.
    pub async fn settled(&self, key: &str) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let waiting = self
                .pending
                .lock()
                .map(|s| s.contains(key))
                .unwrap_or(false);
            if !waiting {
                return;
            }
            self.urgent.store(true, Ordering::Release);
            notified.await;
        }
    }

    /// Waits until every retired link is gone (a daemon that stops leaves none behind).
    pub async fn drain(&self) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outstanding.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The key of an interface name inside a namespace.
pub fn ns_key(netns: &std::path::Path, ifname: &str) -> String {
    format!("{}:{ifname}", netns.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_wait_for_a_quiet_daemon_but_not_forever() {
        let busy = Duration::from_millis(3);
        assert!(!due(busy, Duration::from_millis(100), 3));
        assert!(due(QUIET, Duration::ZERO, 1));
        assert!(due(busy, MAX_DELAY, 1));
        assert!(due(busy, Duration::ZERO, MAX_BACKLOG));
        let a = Activity::default();
        a.touch();
        assert!(a.quiet_for() < QUIET);
    }

    #[test]
    fn a_name_stays_held_until_every_link_holding_it_is_gone() {
        let k = vec!["/proc/1/ns/net:eth1".to_string()];
        let mut held = Held::default();
        held.add(&k);
        held.add(&k);
        held.remove(&k);
        assert!(held.contains(&k[0]));
        held.remove(&k);
        assert!(!held.contains(&k[0]));
        held.remove(&k);
        assert!(!held.contains(&k[0]));
    }

    #[test]
    fn tombstones_are_short_distinct_and_recognised() {
        let a = tombstone_name(7, 1);
        let b = tombstone_name(7, 2);
        let c = tombstone_name(8, 1);
        assert!(a.len() <= 15, "{a}");
        assert!(is_tombstone(&a) && is_tombstone(&b) && is_tombstone(&c));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(!is_tombstone("fr-0123456789ab"));
        assert!(!is_tombstone("fz"));
        assert!(!is_tombstone("fzxyz"));
    }
}

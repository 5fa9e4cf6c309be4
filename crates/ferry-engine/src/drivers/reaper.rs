//! Link deletions that finish after the reply. The kernel unregisters a network device
//! synchronously and slowly (a bridge takes ~30 ms, a veth ~16 ms, mostly waiting out RCU
//! grace periods), which used to be most of what `network rm`, `disconnect` and `rm -f`
//! cost. A driver retires a link instead (down, so it carries nothing, and renamed to a
//! tombstone, so its name is free at once) and hands it here; one worker deletes retired
//! links in order, in the background.
//!
//! Crash-safe by construction: a tombstone left by a daemon killed before its deletion ran is
//! recognised by its name alone, and the sweep at the next start removes it.

use ferry_kernel::netlink::Netlink;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

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

struct Job {
    index: u32,
    /// Names that stay taken until the link is gone (the sandbox end of a veth, which keeps
    /// its name inside the sandbox until its pair is deleted).
    keys: Vec<String>,
}

/// The background deleter of retired links, in the host's namespace.
pub struct Reaper {
    nl: Netlink,
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<Mutex<HashSet<String>>>,
    done: Arc<Notify>,
    serial: std::sync::atomic::AtomicU64,
    outstanding: Arc<std::sync::atomic::AtomicUsize>,
}

impl Reaper {
    /// Starts the worker. Must run inside a tokio runtime.
    pub fn start(nl: Netlink) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let pending: Arc<Mutex<HashSet<String>>> = Arc::default();
        let done = Arc::new(Notify::new());
        let outstanding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let worker_nl = nl.clone();
        let (p, d, o) = (pending.clone(), done.clone(), outstanding.clone());
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                if let Err(e) = worker_nl.delete_link(job.index).await {
                    // The sweep at the next start removes the tombstone.
                    tracing::warn!(link = job.index, error = %e, "retired link not deleted");
                }
                if let Ok(mut set) = p.lock() {
                    for k in &job.keys {
                        set.remove(k);
                    }
                }
                o.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                d.notify_waiters();
            }
        });
        Self {
            nl,
            tx,
            pending,
            done,
            serial: std::sync::atomic::AtomicU64::new(1),
            outstanding,
        }
    }

    /// Retires a link (down, renamed to a tombstone) and queues its deletion. `keys` stay
    /// taken (see [`Reaper::settled`]) until it is gone. When retiring fails, the link is
    /// deleted here and now.
    pub async fn retire(&self, index: u32, keys: Vec<String>) -> ferry_kernel::Result<()> {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = self.nl.retire(index, &tombstone_name(index, serial)).await {
            tracing::debug!(link = index, error = %e, "link not retired; deleting it now");
            return self.nl.delete_link(index).await;
        }
        if let Ok(mut set) = self.pending.lock() {
            set.extend(keys.iter().cloned());
        }
        self.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if self.tx.send(Job { index, keys }).is_err() {
            // No worker (the runtime is going down): delete it here.
            self.outstanding
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            return self.nl.delete_link(index).await;
        }
        Ok(())
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

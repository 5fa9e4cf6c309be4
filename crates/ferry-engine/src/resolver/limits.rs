//! How many queries the resolver forwards at once: daemon-wide, per sandbox, and per upstream
//! server. A forward to a server that never answers holds its slot for the whole upstream
//! timeout, so without a bound per sandbox one sandbox asking for such names could take every
//! slot and leave all the others with SERVFAIL. Pure bookkeeping: the server holds a permit
//! while a forward runs, and dropping the permit gives the slot back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The bounds on forwards in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Daemon-wide.
    pub total: usize,
    /// Per sandbox: beyond it, that sandbox's further queries are refused at once.
    pub per_sandbox: usize,
    /// Per upstream server: beyond it, the server is skipped (the next one is tried), so one
    /// dead server cannot take the slots that queries to the other servers need.
    pub per_upstream: usize,
}

impl Bounds {
    /// The daemon's bounds. Six sandboxes flooding one dead server fill its share, eight
    /// fill the daemon's; one alone leaves seven eighths of the slots to the others. A
    /// forward to a server that answers lasts milliseconds, so 128 at once is far above what
    /// a sandbox's lookups need.
    pub const DEFAULT: Bounds = Bounds {
        total: 1024,
        per_sandbox: 128,
        per_upstream: 768,
    };
}

/// Which bound refused a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// The daemon-wide bound.
    Total,
    /// The sandbox's own bound.
    Sandbox,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    sandboxes: HashMap<Arc<str>, usize>,
    upstreams: HashMap<SocketAddr, usize>,
}

/// Forwards in flight, counted against [`Bounds`].
#[derive(Debug)]
pub struct Limits {
    bounds: Bounds,
    counts: Mutex<Counts>,
}

impl Limits {
    /// No forward in flight.
    pub fn new(bounds: Bounds) -> Arc<Self> {
        Arc::new(Limits {
            bounds,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for one forward of `sandbox`, or which bound is reached.
    pub fn admit(self: &Arc<Self>, sandbox: &Arc<str>) -> Result<ForwardPermit, Over> {
        let mut c = self.counts();
        if c.total >= self.bounds.total {
            return Err(Over::Total);
        }
        let mine = c.sandboxes.entry(sandbox.clone()).or_insert(0);
        if *mine >= self.bounds.per_sandbox {
            return Err(Over::Sandbox);
        }
        *mine += 1;
        c.total += 1;
        Ok(ForwardPermit {
            limits: self.clone(),
            sandbox: sandbox.clone(),
        })
    }

    /// A slot for one exchange with `upstream`, or None when it has its share in flight.
    pub fn upstream(self: &Arc<Self>, upstream: SocketAddr) -> Option<UpstreamPermit> {
        let mut c = self.counts();
        let n = c.upstreams.entry(upstream).or_insert(0);
        if *n >= self.bounds.per_upstream {
            return None;
        }
        *n += 1;
        Some(UpstreamPermit {
            limits: self.clone(),
            upstream,
        })
    }

    /// Forwards in flight: daemon-wide, and of `sandbox`.
    pub fn in_flight(&self, sandbox: &str) -> (usize, usize) {
        let c = self.counts();
        (c.total, c.sandboxes.get(sandbox).copied().unwrap_or(0))
    }

    /// How many sandboxes and upstreams have forwards in flight (counters at zero are
    /// dropped, so these maps never grow with sandboxes that are gone).
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let c = self.counts();
        (c.sandboxes.len(), c.upstreams.len())
    }
}

/// One forward of one sandbox in flight; the slot is free again when this is dropped.
#[derive(Debug)]
pub struct ForwardPermit {
    limits: Arc<Limits>,
    sandbox: Arc<str>,
}

impl Drop for ForwardPermit {
    fn drop(&mut self) {
        let mut c = self.limits.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.sandboxes.get_mut(&self.sandbox) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.sandboxes.remove(&self.sandbox);
            }
        }
    }
}

/// One exchange with one upstream server in flight.
#[derive(Debug)]
pub struct UpstreamPermit {
    limits: Arc<Limits>,
    upstream: SocketAddr,
}

impl Drop for UpstreamPermit {
    fn drop(&mut self) {
        let mut c = self.limits.counts();
        if let Some(n) = c.upstreams.get_mut(&self.upstream) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.upstreams.remove(&self.upstream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Bounds = Bounds {
        total: 5,
        per_sandbox: 2,
        per_upstream: 3,
    };

    #[test]
    fn a_sandbox_over_its_share_leaves_the_rest_to_others() {
        let l = Limits::new(SMALL);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let held: Vec<_> = (0..2).map(|_| l.admit(&a).unwrap()).collect();
        assert_eq!(l.admit(&a).unwrap_err(), Over::Sandbox);
        assert_eq!(
            l.admit(&a).unwrap_err(),
            Over::Sandbox,
            "refused, not queued"
        );
        let b1 = l.admit(&b).unwrap();
        let b2 = l.admit(&b).unwrap();
        let c1 = l.admit(&c).unwrap();
        assert_eq!(l.in_flight("a"), (5, 2));
        // The daemon-wide bound holds whoever asks.
        assert_eq!(l.admit(&c).unwrap_err(), Over::Total);
        drop(b1);
        let c2 = l.admit(&c).unwrap();
        drop(held);
        assert_eq!(l.in_flight("a"), (3, 0));
        assert!(l.admit(&a).is_ok(), "slots come back when forwards end");
        drop((b2, c1, c2));
        assert_eq!(l.in_flight("c"), (0, 0));
        assert_eq!(l.tracked(), (0, 0), "no counter left behind");
    }

    #[test]
    fn a_busy_upstream_is_skipped_and_others_still_get_slots() {
        let l = Limits::new(SMALL);
        let dead: SocketAddr = "127.0.0.52:53".parse().unwrap();
        let good: SocketAddr = "127.0.0.53:53".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| l.upstream(dead).unwrap()).collect();
        assert!(l.upstream(dead).is_none());
        let g = l.upstream(good);
        assert!(g.is_some());
        drop(held);
        assert!(l.upstream(dead).is_some());
        drop(g);
        assert_eq!(l.tracked(), (0, 0));
    }
}

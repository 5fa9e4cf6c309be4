//! The recent changes of a local store, kept in memory so that a watcher can start from a past
//! revision (list, then watch from the listing's revision + 1) and then follow new commits.
//! The history starts empty when the process starts and is bounded: a watch from a revision it
//! no longer holds fails with [`StoreError::Compacted`], as an etcd watch does after compaction.

use crate::{Event, StoreError, Table, WatchStream};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// How much history a local store keeps for watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit {
    /// At most this many events.
    pub events: usize,
    /// At most about this many bytes of keys and values.
    pub bytes: usize,
}

impl Default for HistoryLimit {
    /// 4096 events or 16 MiB: minutes of a busy daemon's changes, and a bounded cost in memory.
    fn default() -> Self {
        HistoryLimit {
            events: 4096,
            bytes: 16 << 20,
        }
    }
}

/// The events of the last revisions, in order.
struct Log {
    events: VecDeque<(Table, Event)>,
    /// Every event at or below this revision is gone (or happened before the process started).
    compacted: u64,
    /// The store's revision.
    latest: u64,
    bytes: usize,
    limit: HistoryLimit,
}

impl Log {
    /// Drops the oldest revisions, whole, while over the limit; the latest revision stays, so a
    /// watcher that keeps up is never cut off by one large transaction.
    fn trim(&mut self) {
        while self.events.len() > self.limit.events || self.bytes > self.limit.bytes {
            let Some(oldest) = self.events.front().map(|(_, e)| e.revision()) else {
                break;
            };
            if oldest >= self.latest {
                break;
            }
            self.drop_through(oldest);
        }
    }

    /// Drops every event at or below `revision`.
    fn drop_through(&mut self, revision: u64) {
        while let Some((_, e)) = self.events.front() {
            if e.revision() > revision {
                break;
            }
            self.bytes -= size(e);
            self.events.pop_front();
        }
        self.compacted = self.compacted.max(revision);
    }
}

/// What an event costs in memory, roughly.
fn size(e: &Event) -> usize {
    let value = match e {
        Event::Put { value, .. } => value.len(),
        Event::Delete { .. } => 0,
    };
    e.key().len() + value + 64
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    // Every change to the log is a few pushes and pops that cannot panic half-way.
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// A local store's history and the signal that wakes its watchers.
pub(crate) struct History {
    log: Arc<Mutex<Log>>,
    /// Carries the latest revision. Dropped with the store, which ends every watch.
    tick: watch::Sender<u64>,
}

impl History {
    /// An empty history of a store at `revision`: a watch can start at `revision + 1`.
    pub(crate) fn new(revision: u64, limit: HistoryLimit) -> Self {
        History {
            log: Arc::new(Mutex::new(Log {
                events: VecDeque::new(),
                compacted: revision,
                latest: revision,
                bytes: 0,
                limit,
            })),
            tick: watch::channel(revision).0,
        }
    }

    /// Records the changes of a committed transaction. Callers record revisions in increasing
    /// order, each once.
    pub(crate) fn record(&self, revision: u64, events: Vec<(Table, Event)>) {
        {
            let mut log = lock(&self.log);
            debug_assert!(revision > log.latest, "revisions are recorded in order");
            for (table, e) in events {
                log.bytes += size(&e);
                log.events.push_back((table, e));
            }
            log.latest = revision;
            log.trim();
        }
        self.tick.send_replace(revision);
    }

    /// Forgets the events below `revision` (at most up to the latest revision + 1): a watch
    /// can then start no earlier than `revision`.
    pub(crate) fn compact(&self, revision: u64) {
        let mut log = lock(&self.log);
        let through = revision.min(log.latest + 1).saturating_sub(1);
        log.drop_through(through);
    }

    /// The events of `table` from revision `from` on (0 counts as 1, the first revision).
    pub(crate) fn watch(&self, table: Table, from: u64) -> Result<WatchStream, StoreError> {
        let mut cursor = Cursor {
            log: self.log.clone(),
            tick: self.tick.subscribe(),
            table,
            next: from.max(1),
            pending: VecDeque::new(),
            ended: false,
        };
        cursor.tick.borrow_and_update();
        // Checked now, so that a watch from too far back fails at once.
        cursor.fill()?;
        Ok(Box::pin(futures::stream::unfold(cursor, Cursor::step)))
    }
}

/// One watcher's place in the history.
struct Cursor {
    log: Arc<Mutex<Log>>,
    tick: watch::Receiver<u64>,
    table: Table,
    /// The first revision not yet taken from the log.
    next: u64,
    /// Events taken from the log, not yet delivered.
    pending: VecDeque<Event>,
    ended: bool,
}

impl Cursor {
    /// Moves the events from `next` on into `pending`.
    fn fill(&mut self) -> Result<(), StoreError> {
        let log = lock(&self.log);
        if self.next <= log.compacted {
            return Err(StoreError::Compacted {
                requested: self.next,
                oldest: log.compacted + 1,
            });
        }
        let start = log
            .events
            .partition_point(|(_, e)| e.revision() < self.next);
        let table = self.table;
        self.pending.extend(
            log.events
                .range(start..)
                .filter(|(t, _)| *t == table)
                .map(|(_, e)| e.clone()),
        );
        self.next = self.next.max(log.latest + 1);
        Ok(())
    }

    async fn step(mut self) -> Option<(Result<Event, StoreError>, Cursor)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some((Ok(e), self));
            }
            if self.ended {
                return None;
            }
            // Marked seen before reading, so a commit after the read wakes this watcher.
            self.tick.borrow_and_update();
            if let Err(e) = self.fill() {
                self.ended = true;
                return Some((Err(e), self));
            }
            if self.pending.is_empty() && self.tick.changed().await.is_err() {
                // The store is gone: deliver what it recorded last, then end.
                self.ended = true;
                if let Err(e) = self.fill() {
                    return Some((Err(e), self));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn put(key: &str, revision: u64) -> (Table, Event) {
        (
            Table::Networks,
            Event::Put {
                key: key.into(),
                value: vec![0; 10],
                revision,
            },
        )
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_the_limit_is_told_so() {
        let h = History::new(
            0,
            HistoryLimit {
                events: 3,
                bytes: usize::MAX,
            },
        );
        h.record(1, vec![put("a", 1)]);
        let mut w = h.watch(Table::Networks, 1).unwrap();
        assert_eq!(w.next().await.unwrap().unwrap().revision(), 1);
        for r in 2..=6 {
            h.record(r, vec![put("a", r)]);
        }
        // The cursor had taken revision 1 only; 2 and 3 are gone now.
        match w.next().await {
            Some(Err(StoreError::Compacted { requested, oldest })) => {
                assert_eq!((requested, oldest), (2, 4));
            }
            other => panic!("expected Compacted, got {other:?}"),
        }
        assert!(w.next().await.is_none(), "the stream ends after the error");
    }

    #[test]
    fn revisions_are_trimmed_whole_and_the_latest_stays() {
        let h = History::new(
            0,
            HistoryLimit {
                events: 2,
                bytes: usize::MAX,
            },
        );
        h.record(1, vec![put("a", 1), put("b", 1)]);
        h.record(2, vec![put("a", 2), put("b", 2), put("c", 2)]);
        let log = lock(&h.log);
        assert_eq!(log.compacted, 1);
        assert_eq!(
            log.events.len(),
            3,
            "revision 2 is the latest and stays whole"
        );
        drop(log);
        assert!(matches!(
            h.watch(Table::Networks, 1),
            Err(StoreError::Compacted {
                requested: 1,
                oldest: 2
            })
        ));
    }

    #[test]
    fn the_byte_limit_bounds_the_history() {
        let h = History::new(
            0,
            HistoryLimit {
                events: usize::MAX,
                bytes: 200,
            },
        );
        for r in 1..=10 {
            h.record(r, vec![put("a", r)]);
        }
        let log = lock(&h.log);
        assert!(log.bytes <= 200, "{} bytes kept", log.bytes);
        assert_eq!(
            log.bytes,
            log.events.iter().map(|(_, e)| size(e)).sum::<usize>()
        );
    }

    #[tokio::test]
    async fn a_watch_ends_when_the_store_goes_away() {
        let h = History::new(5, HistoryLimit::default());
        let mut w = h.watch(Table::Networks, 6).unwrap();
        h.record(6, vec![put("a", 6)]);
        drop(h);
        assert_eq!(w.next().await.unwrap().unwrap().revision(), 6);
        assert!(w.next().await.is_none());
    }
}

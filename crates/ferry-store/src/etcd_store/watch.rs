//! Watches: an etcd prefix watch of a table from a start revision, its events mapped to the
//! trait's, and its cancellation by compaction to [`StoreError::Compacted`].

use super::keys::Layout;
use super::{is_compacted, is_future, revision, EtcdStore};
use crate::{Event, StoreError, Table, WatchStream};
use etcd_client::{EventType, GetOptions, WatchOptions, WatchResponse};
use std::collections::VecDeque;
use std::time::Duration;

/// How long etcd may take to cancel a watch from a compacted revision (it checks its unsynced
/// watchers every 100 ms).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Starts a watch of `table` from `from` (0 counts as 1).
pub(super) async fn open(
    store: &EtcdStore,
    table: Table,
    from: u64,
) -> Result<WatchStream, StoreError> {
    let from = from.max(1);
    let start = i64::try_from(from).unwrap_or(i64::MAX);
    let prefix = store.layout.table_prefix(table);
    // etcd cancels a watch from a compacted revision only some time after starting it, but
    // the caller wants to know now. A read at the revision fails exactly when such a watch
    // would (a compaction in between shows as the stream's first item).
    let compacted = match store
        .client()
        .kv_client()
        .get(
            prefix.clone(),
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_count_only()
                    .with_revision(start),
            ),
        )
        .await
    {
        Ok(_) => false,
        Err(e) if is_future(&e) => false,
        Err(e) if is_compacted(&e) => true,
        Err(e) => return Err(store.etcd_err(e)),
    };
    let stream = store
        .client()
        .watch_client()
        .watch(
            prefix,
            Some(WatchOptions::new().with_prefix().with_start_revision(start)),
        )
        .await
        .map_err(|e| store.etcd_err(e))?;
    let mut follow = Follow {
        stream,
        layout: store.layout.clone(),
        table,
        shown: store.shown(),
        next: from,
        pending: VecDeque::new(),
        ended: false,
    };
    if compacted {
        // The cancellation says where the history starts now.
        return match tokio::time::timeout(CANCEL_WAIT, follow.step_raw()).await {
            Ok(Some(Err(e @ StoreError::Compacted { .. }))) => Err(e),
            Ok(Some(Err(e))) => Err(e),
            Ok(_) => Err(follow.err("etcd refused a read at a compacted revision but not a watch")),
            Err(_) => Err(follow.err("etcd did not cancel a watch from a compacted revision")),
        };
    }
    Ok(Box::pin(futures::stream::unfold(follow, |mut f| async {
        let item = f.step_raw().await?;
        Some((item, f))
    })))
}

/// One watcher: the etcd stream, and the events of a response not yet delivered.
struct Follow {
    /// Kept whole: its request half keeps the watch open.
    stream: etcd_client::WatchStream,
    layout: Layout,
    table: Table,
    shown: String,
    /// The revision of the next event the watcher wants.
    next: u64,
    pending: VecDeque<Result<Event, StoreError>>,
    ended: bool,
}

impl Follow {
    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: format!("etcd {}", self.shown),
            message: e.to_string(),
        }
    }

    /// The next event, or the error that ends the watch; `None` when etcd closed the stream.
    async fn step_raw(&mut self) -> Option<Result<Event, StoreError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                match &item {
                    Ok(e) => self.next = e.revision() + 1,
                    Err(_) => self.ended = true,
                }
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match self.stream.message().await {
                Ok(Some(resp)) => self.take(resp),
                Ok(None) => return None,
                Err(e) => {
                    let e = self.err(e);
                    self.pending.push_back(Err(e));
                }
            }
        }
    }

    /// Queues a response's events, or the error its cancellation means. Responses without
    /// events (the creation, progress notes) queue nothing.
    fn take(&mut self, resp: WatchResponse) {
        if resp.canceled() {
            let e = if resp.compact_revision() > 0 {
                StoreError::Compacted {
                    requested: self.next,
                    oldest: revision(resp.compact_revision()),
                }
            } else {
                self.err(format!(
                    "etcd cancelled the watch: {}",
                    resp.cancel_reason()
                ))
            };
            self.pending.push_back(Err(e));
            return;
        }
        for ev in resp.events() {
            let Some(kv) = ev.kv() else {
                self.pending
                    .push_back(Err(self.err("an event without its record")));
                return;
            };
            let Some(key) = self.layout.key_of(self.table, kv.key()) else {
                self.pending.push_back(Err(StoreError::Decode {
                    table: self.table.name(),
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    message: "not a key of the table".into(),
                }));
                return;
            };
            let key = key.to_string();
            let revision = revision(kv.mod_revision());
            self.pending.push_back(Ok(match ev.event_type() {
                EventType::Put => Event::Put {
                    key,
                    value: kv.value().to_vec(),
                    revision,
                },
                EventType::Delete => Event::Delete { key, revision },
            }));
        }
    }
}

//! The output of this node's replicas of one service, line by line: what each replica's log
//! holds now (its last N lines with `tail`), then, when followed, what they write next and the
//! replicas that start later, until the reader goes. Every replica is read by a task of its
//! own; their lines meet in one channel in the order they are read. The API serves it for a
//! service of one host, and the swarm's node endpoint for the replicas of a swarm service on
//! this node.

use super::Controller;
use ferry_types::logs::{ServiceLogLine, ServiceLogOptions};
use ferry_types::time::Timestamp;
use ferry_types::{FerryError, SandboxId};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// How often a followed stream looks for new replicas and new output. Lines are read as the
/// log grows; the log has no notification of its own.
const POLL: Duration = Duration::from_millis(100);
/// How often a followed stream looks for replicas that started since.
const DISCOVER: Duration = Duration::from_millis(250);

/// A replica whose log is read.
struct Replica {
    id: SandboxId,
    service_id: String,
    slot: u32,
    task: String,
    log: PathBuf,
}

impl Controller {
    /// The ID and name of the service of this host that `reference` names.
    pub async fn local_service(&self, reference: &str) -> Result<(String, String), FerryError> {
        let st = self.lock().await;
        let s = st.find_service(reference)?;
        Ok((s.id.clone(), s.name.clone()))
    }

    /// Streams the output of the replicas of service `service_id` that run on this host.
    /// Lines carry the service's ID, the slot and the task; the caller adds names. Without
    /// `follow` the channel closes once every replica's log is read to its end.
    pub fn replica_logs(
        self: &Arc<Self>,
        service_id: &str,
        options: ServiceLogOptions,
    ) -> mpsc::Receiver<ServiceLogLine> {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(discover(self.clone(), service_id.to_string(), options, tx));
        rx
    }

    /// This host's replicas of a service, old tasks' included (their output is the service's
    /// too, as Docker shows it).
    async fn replicas_of(&self, service_id: &str) -> Vec<Replica> {
        // Not `lock()`: a reader polling must not count as activity the reaper waits out.
        let st = self.state.lock().await;
        st.sandboxes()
            .filter_map(|sb| {
                let r = sb.config.replica_of.as_ref()?;
                (r.service == service_id).then(|| Replica {
                    id: sb.id.clone(),
                    service_id: r.service.clone(),
                    slot: r.slot,
                    task: r.task.clone().unwrap_or_default(),
                    log: self.cfg.sandbox_dir(&sb.id).join("output.log"),
                })
            })
            .collect()
    }

    async fn sandbox_exists(&self, id: &SandboxId) -> bool {
        self.state.lock().await.sandbox(id).is_some()
    }
}

/// Starts a reader for every replica, and, when following, for every replica that appears.
async fn discover(
    ctl: Arc<Controller>,
    service_id: String,
    options: ServiceLogOptions,
    tx: mpsc::Sender<ServiceLogLine>,
) {
    let mut seen = HashSet::new();
    let mut first = true;
    loop {
        for r in ctl.replicas_of(&service_id).await {
            if seen.insert(r.id.clone()) {
                // A replica that starts later is read from its beginning: all of it is new.
                let tail = if first { options.tail } else { None };
                tokio::spawn(read_replica(
                    ctl.clone(),
                    r,
                    tail,
                    options.follow,
                    tx.clone(),
                ));
            }
        }
        first = false;
        if !options.follow {
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(DISCOVER) => {}
        }
    }
}

/// Sends one replica's lines: those there now (the last `tail`), then, with `follow`, the
/// new ones until the replica is removed or the reader goes.
async fn read_replica(
    ctl: Arc<Controller>,
    r: Replica,
    tail: Option<usize>,
    follow: bool,
    tx: mpsc::Sender<ServiceLogLine>,
) {
    let line = |text: String| ServiceLogLine {
        service_id: r.service_id.clone(),
        slot: r.slot,
        task_id: r.task.clone(),
        time: Timestamp::now().to_string(),
        line: text,
        ..Default::default()
    };
    let mut split = LineSplitter::default();
    let mut file = tokio::fs::File::open(&r.log).await.ok();
    let mut now = Vec::new();
    if let Some(f) = file.as_mut() {
        let _ = f.read_to_end(&mut now).await;
    }
    let mut first = split.push(&now);
    if !follow {
        first.extend(split.finish());
    }
    for text in last(first, tail) {
        if tx.send(line(text)).await.is_err() {
            return;
        }
    }
    if !follow {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if file.is_none() {
            file = tokio::fs::File::open(&r.log).await.ok();
        }
        let n = match file.as_mut() {
            Some(f) => f.read(&mut buf).await.unwrap_or(0),
            None => 0,
        };
        if n > 0 {
            for text in split.push(&buf[..n]) {
                if tx.send(line(text)).await.is_err() {
                    return;
                }
            }
            continue;
        }
        if !ctl.sandbox_exists(&r.id).await {
            if let Some(text) = split.finish() {
                let _ = tx.send(line(text)).await;
            }
            return;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The last `n` of `lines` (all of them when `n` is `None`).
fn last(mut lines: Vec<String>, n: Option<usize>) -> Vec<String> {
    if let Some(n) = n {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    lines
}

/// Cuts bytes into lines, keeping an unfinished last line for the next bytes.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// The lines `bytes` completes, without their `\n` (or `\r\n`).
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            self.partial.extend_from_slice(piece);
            if self.partial.last() == Some(&b'\n') {
                let mut l = std::mem::take(&mut self.partial);
                l.pop();
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                out.push(String::from_utf8_lossy(&l).into_owned());
            }
        }
        out
    }

    /// The unfinished line, if any (at the end of what will ever come).
    fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty())
            .then(|| String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_anywhere_and_joined_back() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\nb"), vec!["a"]);
        assert_eq!(s.push(b"c\r\n\nd"), vec!["bc", ""]);
        assert_eq!(s.finish().as_deref(), Some("d"));
        assert_eq!(s.finish(), None);
        assert_eq!(s.push(b"\xff\n"), vec!["\u{fffd}"]);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let v = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(last(v(5), Some(2)), vec!["3", "4"]);
        assert_eq!(last(v(1), Some(2)), vec!["0"]);
        assert_eq!(last(v(3), None), v(3));
        assert!(last(v(3), Some(0)).is_empty());
    }
}

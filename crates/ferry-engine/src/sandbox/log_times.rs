//! When each part of a sandbox's output was captured, for `logs --timestamps`, `--since` and
//! `--until`. The process writes its output log itself (so it survives a daemon restart), or,
//! with a terminal, the daemon writes what it reads from the terminal; either way the daemon
//! appends a mark beside the log (`output.times`) each time the log grows: the offset where
//! the new bytes begin and the time they arrived. A line takes the time of the last mark at or
//! before its first byte. Marks are 16 bytes: offset, then nanoseconds since the epoch, both
//! little-endian (an append of one mark is one write, so a reader never sees half of one).

use ferry_types::time::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marks' file name, beside the log.
pub const FILE: &str = "output.times";

/// Bytes of the log from `offset` on arrived at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Where they begin in the log.
    pub offset: u64,
    /// When they arrived.
    pub at: Timestamp,
}

/// The marks file of the log at `log`.
pub fn times_path(log: &Path) -> PathBuf {
    log.with_file_name(FILE)
}

fn encode(m: Mark) -> [u8; 16] {
    let nanos = m.at.secs() * 1_000_000_000 + i64::from(m.at.subsec_nanos());
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&m.offset.to_le_bytes());
    out[8..].copy_from_slice(&nanos.to_le_bytes());
    out
}

/// The marks in `bytes` (a partial last one is left out).
pub fn decode(bytes: &[u8]) -> Vec<Mark> {
    bytes
        .chunks_exact(16)
        .map(|c| {
            let mut o = [0u8; 8];
            let mut n = [0u8; 8];
            o.copy_from_slice(&c[..8]);
            n.copy_from_slice(&c[8..]);
            let nanos = i64::from_le_bytes(n);
            Mark {
                offset: u64::from_le_bytes(o),
                at: Timestamp::from_unix(
                    nanos.div_euclid(1_000_000_000),
                    u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
                ),
            }
        })
        .collect()
}

/// Appends a mark to the marks file of `log`.
pub fn append(log: &Path, m: Mark) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(times_path(log))?
        .write_all(&encode(m))
}

/// The marks of `log` (none when there is no marks file).
pub fn read(log: &Path) -> Vec<Mark> {
    std::fs::read(times_path(log))
        .map(|b| decode(&b))
        .unwrap_or_default()
}

/// The time of the byte at `offset`: the last mark at or before it, else the first mark's
/// (bytes a daemon that was down did not see arrive), else `None`.
pub fn time_at(marks: &[Mark], offset: u64) -> Option<Timestamp> {
    let i = marks.partition_point(|m| m.offset <= offset);
    match i {
        0 => marks.first().map(|m| m.at),
        i => Some(marks[i - 1].at),
    }
}

/// The length of the file at `path` (0 when it cannot be read).
pub fn len_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Marks the growth of a log a process writes itself, as the daemon sees it (inotify).
pub struct Clock {
    log: PathBuf,
    seen: u64,
}

impl Clock {
    /// Starts from the log's present length: what is there was marked before, or arrived
    /// while no daemon watched.
    pub fn new(log: PathBuf) -> Self {
        let seen = len_of(&log);
        Self { log, seen }
    }

    /// Marks what arrived since the last look.
    pub fn catch_up(&mut self) {
        let len = len_of(&self.log);
        if len > self.seen {
            let m = Mark {
                offset: self.seen,
                at: Timestamp::now(),
            };
            if let Err(e) = append(&self.log, m) {
                tracing::debug!(log = %self.log.display(), error = %e, "log time not kept");
            }
        }
        // A log cut short (a new sandbox with the same directory) starts over.
        self.seen = len;
    }
}

/// The clocks of the running sandboxes' logs, on one inotify instance.
pub struct Clocks {
    watcher: ferry_kernel::fswatch::Watcher,
    clocks: std::sync::Mutex<std::collections::HashMap<i32, Clock>>,
}

impl Clocks {
    /// Starts the clocks' task. Must run inside a tokio runtime.
    pub fn start() -> Result<std::sync::Arc<Self>, ferry_kernel::KernelError> {
        let me = std::sync::Arc::new(Self {
            watcher: ferry_kernel::fswatch::Watcher::new()?,
            clocks: Default::default(),
        });
        // The task lives as long as the daemon, as the clocks do.
        let task = me.clone();
        tokio::spawn(async move {
            while let Ok(wds) = task.watcher.changed().await {
                let mut m = task.map();
                for wd in wds {
                    if let Some(c) = m.get_mut(&wd) {
                        c.catch_up();
                    }
                }
            }
        });
        Ok(me)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i32, Clock>> {
        // A panic while holding it leaves the map as it was.
        self.clocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Times `log`'s growth from now on; returns what stops it ([`Clocks::stop`]).
    pub fn watch(&self, log: PathBuf) -> Option<i32> {
        let wd = match self.watcher.add(&log) {
            Ok(wd) => wd,
            Err(e) => {
                tracing::debug!(error = %e, "output log not timed");
                return None;
            }
        };
        let mut c = Clock::new(log);
        c.catch_up();
        self.map().insert(wd, c);
        Some(wd)
    }

    /// Marks what arrived last and stops timing the log `wd` names.
    pub fn stop(&self, wd: i32) {
        if let Some(mut c) = self.map().remove(&wd) {
            c.catch_up();
        }
        self.watcher.remove(wd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_their_encoding_and_date_bytes() {
        let t = |s| Timestamp::from_unix(s, 5);
        let marks = vec![
            Mark {
                offset: 0,
                at: t(100),
            },
            Mark {
                offset: 10,
                at: t(200),
            },
        ];
        let mut bytes: Vec<u8> = marks.iter().flat_map(|m| encode(*m)).collect();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode(&bytes), marks);
        assert_eq!(time_at(&marks, 0), Some(t(100)));
        assert_eq!(time_at(&marks, 9), Some(t(100)));
        assert_eq!(time_at(&marks, 10), Some(t(200)));
        assert_eq!(time_at(&marks, 99), Some(t(200)));
        assert_eq!(time_at(&marks[1..], 3), Some(t(200)));
        assert_eq!(time_at(&[], 3), None);
    }

    #[tokio::test]
    async fn the_clock_marks_each_growth() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("output.log");
        std::fs::write(&log, "old\n").unwrap();
        let mut c = Clock::new(log.clone());
        c.catch_up();
        assert!(read(&log).is_empty());
        std::fs::write(&log, "old\nnew\n").unwrap();
        c.catch_up();
        let m = read(&log);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].offset, 4);
    }
}

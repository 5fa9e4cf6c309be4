//! The terminals of sandboxes started with one (`docker run -t`): the daemon holds each
//! master, copies what the process writes to its output log (timing each piece), and gives
//! attached clients its input and window size. A terminal lives with the daemon: after a
//! restart its master is gone, and the process sees its terminal hang up (SIGHUP), as when a
//! terminal window closes.

use super::Controller;
use crate::sandbox::log_times::{self, Mark};
use ferry_kernel::pty::Pty;
use ferry_types::time::Timestamp;
use ferry_types::{FerryError, SandboxId};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A kept terminal.
struct Kept {
    pty: Arc<Pty>,
    /// Turns true once all of its output is in the log.
    drained: tokio::sync::watch::Receiver<bool>,
}

/// Terminals by sandbox ID.
#[derive(Default)]
pub(crate) struct Ttys(Mutex<HashMap<String, Kept>>);

impl Ttys {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        // A panic while holding it leaves the map as it was.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Controller {
    /// Keeps the master of sandbox `id`'s terminal, copying its output to `log` until no
    /// process holds the terminal.
    pub(crate) fn keep_tty(&self, id: &SandboxId, master: OwnedFd, log: PathBuf) {
        let pty = match Pty::new(master) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(sandbox = %id, error = %e, "terminal not kept: its output is lost");
                return;
            }
        };
        let (drained_tx, drained) = tokio::sync::watch::channel(false);
        self.ttys.map().insert(
            id.to_string(),
            Kept {
                pty: pty.clone(),
                drained,
            },
        );
        let me = self.me.clone();
        let key = id.to_string();
        tokio::spawn(async move {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log);
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match pty.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let Ok(f) = file.as_mut() else { continue };
                let offset = f.metadata().map(|m| m.len()).unwrap_or(0);
                let mark = Mark {
                    offset,
                    at: Timestamp::now(),
                };
                if log_times::append(&log, mark)
                    .and_then(|()| f.write_all(&buf[..n]))
                    .is_err()
                {
                    tracing::debug!(log = %log.display(), "terminal output not logged");
                }
            }
            let _ = drained_tx.send(true);
            if let Some(me) = me.upgrade() {
                let mut m = me.ttys.map();
                if m.get(&key).is_some_and(|k| Arc::ptr_eq(&k.pty, &pty)) {
                    m.remove(&key);
                }
            }
        });
    }

    /// While the daemon holds sandbox `id`'s terminal: what tells when its output is all in
    /// the log (the process's exit may be seen before).
    pub(crate) fn tty_drained(&self, id: &SandboxId) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.ttys.map().get(id.as_str()).map(|k| k.drained.clone())
    }

    /// The terminal of the sandbox `reference` names, while its process holds one.
    pub async fn tty_of(&self, reference: &str) -> Result<Option<Arc<Pty>>, FerryError> {
        let id = self.sandbox_id(reference).await?;
        Ok(self.ttys.map().get(id.as_str()).map(|k| k.pty.clone()))
    }

    /// Sets the window size of a sandbox's terminal (`docker resize`).
    pub async fn resize_tty(
        &self,
        reference: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(), FerryError> {
        match self.tty_of(reference).await? {
            Some(p) => p
                .resize(rows, cols)
                .map_err(|e| FerryError::internal(e.to_string())),
            None => Err(FerryError::conflict(format!(
                "cannot resize container {reference}: it does not run with a terminal"
            ))),
        }
    }
}

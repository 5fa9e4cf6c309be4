//! Network namespaces made ahead of time. Making one (the kernel initialises every protocol's
//! per-namespace state) and setting its loopback up (addresses, routes, IPv6 autoconfiguration)
//! took a few milliseconds of every start that owns a namespace, on the start's path. A few are
//! kept ready, each with its loopback up and a netlink connection inside it; a start takes
//! one, and a new one is made in the background after the reply.
//!
//! Crash-safe by construction: a ready namespace is held only by an open file of the daemon's
//! (as a start's own namespace is until its process holds it), so a daemon that dies, by
//! `kill -9` or otherwise, leaves none behind, and there is nothing to sweep.

use ferry_kernel::netlink::Netlink;
use ferry_kernel::netns;
use std::fs::File;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// How many namespaces wait ready: a burst of starts takes them faster than one at a time
/// is made.
pub const SIZE: usize = 4;

/// A new network namespace with its loopback up.
pub struct ReadyNetns {
    /// Holds the namespace (see [`netns::create_held`]).
    pub file: File,
    /// A netlink connection inside it.
    pub nl: Netlink,
}

/// Makes a namespace as a start needs it.
pub async fn make() -> ferry_kernel::Result<ReadyNetns> {
    let rt = tokio::runtime::Handle::current();
    // `create_held` waits for a helper thread of its own: not on the runtime's threads.
    let (file, nl) = tokio::task::spawn_blocking(move || {
        netns::create_held(move || {
            let _g = rt.enter();
            Netlink::connect()
        })
    })
    .await
    .map_err(|e| ferry_kernel::KernelError::io("netns helper", std::io::Error::other(e)))??;
    nl.set_up_by_name("lo").await?;
    Ok(ReadyNetns { file, nl })
}

/// The ready namespaces, and the background task that keeps [`SIZE`] of them. It begins
/// at the first start (a daemon that starts nothing makes none), and makes the namespaces a
/// start took once that start is done ([`NetnsPool::refill`]), not while the start still
/// needs the kernel's locks and the CPU.
#[derive(Default)]
pub struct NetnsPool {
    ready: Mutex<Vec<ReadyNetns>>,
    wanted: Arc<Notify>,
}

impl Drop for NetnsPool {
    fn drop(&mut self) {
        // The filler wakes, finds the pool gone and ends.
        self.wanted.notify_one();
    }
}

impl NetnsPool {
    /// An empty pool whose filler runs on the current runtime.
    pub fn start() -> Arc<Self> {
        let pool = Arc::new(NetnsPool::default());
        let weak = Arc::downgrade(&pool);
        let wanted = pool.wanted.clone();
        tokio::spawn(async move {
            loop {
                wanted.notified().await;
                loop {
                    let Some(pool) = weak.upgrade() else { return };
                    if pool.len() >= SIZE {
                        break;
                    }
                    match make().await {
                        Ok(ns) => pool.put(ns),
                        // Starts make their own meanwhile; try again after the next one.
                        Err(e) => {
                            tracing::debug!(error = %e, "no network namespace made ahead");
                            break;
                        }
                    }
                }
            }
        });
        pool
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ReadyNetns>> {
        match self.ready.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn put(&self, ns: ReadyNetns) {
        self.lock().push(ns);
    }

    /// A ready namespace, or `None` when none is (the caller makes one with [`make`]).
    pub fn take(&self) -> Option<ReadyNetns> {
        self.lock().pop()
    }

    /// Makes up, in the background, for the namespaces taken: called when a start is done.
    pub fn refill(&self) {
        self.wanted.notify_one();
    }
}

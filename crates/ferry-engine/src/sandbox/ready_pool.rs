//! Sandboxes made ahead of their start. Making a network namespace (the kernel initialises
//! every protocol's per-namespace state) and setting its loopback up took a few milliseconds
//! of every start that owns a namespace; cloning the sandbox's first process into its other
//! new namespaces and loading ferry's init took about one more. A few are kept ready, each a
//! standby process (`ferry_kernel::process::standby`) in namespaces of its own, its loopback
//! up and a netlink connection inside its network namespace, born in the cgroup of the
//! sandbox ID it is made for. A new sandbox (`run`, `create`) takes one, and with it that ID
//! ([`ReadyPool::reserve`]); its start plumbs the namespace and hands the standby its
//! sandbox. A start without a reservation (a sandbox created while none was ready, or before
//! a restart, or one a standby does not fit) borrows a ready network namespace only, from a
//! standby that then ends. New ones are made in the background, after the reply.
//! Without ferry's init (the program could not be opened) only network namespaces are made
//! ahead.
//!
//! Crash-safe by construction: a standby exits when the daemon's end of its socket closes
//! (the cgroup of its ID, empty, is swept at the next start like that of any sandbox that is
//! not running), and a bare namespace is held only by an open file of the daemon's, so a
//! daemon that dies, by `kill -9` or otherwise, leaves none behind.

use ferry_kernel::netlink::Netlink;
use ferry_kernel::netns;
use ferry_kernel::process::Standby;
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// How many wait ready: a burst of starts takes them faster than one at a time is made.
pub const SIZE: usize = 4;

/// How many standbys sandboxes created and not yet started may hold: beyond it, a `create`
/// takes none (its start then clones as before), so created sandboxes never started cost
/// no more than this.
pub const MAX_RESERVED: usize = 16;

/// What holds a network namespace made ahead.
pub enum Holder {
    /// A standby process, in namespaces of its own, made for the sandbox ID beside it (its
    /// cgroup's name).
    Standby(Standby, String),
    /// An open file (see [`netns::create_held`]): a bare namespace.
    File(File),
}

/// A sandbox's namespaces made ahead, its network namespace's loopback up.
pub struct Ready {
    /// What holds them.
    pub holder: Holder,
    /// A netlink connection inside the network namespace.
    pub nl: Netlink,
}

impl Ready {
    /// A path that opens the network namespace while this is kept.
    pub fn netns(&self) -> PathBuf {
        match &self.holder {
            Holder::Standby(s, _) => s.netns(),
            Holder::File(f) => netns::held_path(f),
        }
    }

    /// The sandbox ID a standby was made for.
    fn id(&self) -> Option<&str> {
        match &self.holder {
            Holder::Standby(_, id) => Some(id),
            Holder::File(_) => None,
        }
    }
}

/// What a standby is made with: ferry's init, and where sandboxes' cgroups are made.
#[derive(Clone, Default)]
pub struct Recipe {
    /// ferry's init, open; `None` makes bare namespaces.
    pub init: Option<Arc<File>>,
    /// Where sandboxes' cgroups are made (a standby is born in its ID's), when they have one.
    pub cgroups: Option<PathBuf>,
}

/// Makes one: a standby with `recipe`'s init, or a bare network namespace.
pub async fn make(recipe: &Recipe, standby: bool) -> ferry_kernel::Result<Ready> {
    let rt = tokio::runtime::Handle::current();
    let ready = match recipe.init.clone().filter(|_| standby) {
        Some(init) => {
            let id: String = crate::controller::new_id();
            let cgroup = recipe.cgroups.as_ref().map(|c| c.join(&id));
            // Cloning waits until the standby runs: not on the runtime's threads.
            tokio::task::spawn_blocking(move || {
                let standby = Standby::spawn(&init, cgroup.as_deref())?;
                let nl = Netlink::connect_in(&standby.netns())?;
                Ok::<_, ferry_kernel::KernelError>(Ready {
                    holder: Holder::Standby(standby, id),
                    nl,
                })
            })
            .await
            .map_err(|e| {
                ferry_kernel::KernelError::io("standby helper", std::io::Error::other(e))
            })??
        }
        None => {
            // `create_held` waits for a helper thread of its own: not on the runtime's threads.
            let (file, nl) = tokio::task::spawn_blocking(move || {
                netns::create_held(move || {
                    let _g = rt.enter();
                    Netlink::connect()
                })
            })
            .await
            .map_err(|e| {
                ferry_kernel::KernelError::io("netns helper", std::io::Error::other(e))
            })??;
            Ready {
                holder: Holder::File(file),
                nl,
            }
        }
    };
    ready.nl.set_up_by_name("lo").await?;
    Ok(ready)
}

/// The ready ones, and the background task that keeps [`SIZE`] of them. It begins at the
/// first start (a daemon that starts nothing makes none), and makes up for what a start took
/// once that start is done ([`ReadyPool::refill`]), not while the start still needs the
/// kernel's locks and the CPU.
pub struct ReadyPool {
    ready: Mutex<Vec<Ready>>,
    /// Taken by `run` with their ID, until its start.
    reserved: Mutex<HashMap<String, Ready>>,
    /// Set on a clean exit: nothing more is made.
    closed: std::sync::atomic::AtomicBool,
    wanted: Arc<Notify>,
    recipe: Recipe,
}

impl Drop for ReadyPool {
    fn drop(&mut self) {
        // The filler wakes, finds the pool gone and ends.
        self.wanted.notify_one();
    }
}

impl ReadyPool {
    /// An empty pool whose filler runs on the current runtime.
    pub fn start(recipe: Recipe) -> Arc<Self> {
        let pool = Arc::new(ReadyPool {
            ready: Mutex::default(),
            reserved: Mutex::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
            wanted: Arc::default(),
            recipe,
        });
        let weak = Arc::downgrade(&pool);
        let wanted = pool.wanted.clone();
        tokio::spawn(async move {
            loop {
                wanted.notified().await;
                loop {
                    let Some(pool) = weak.upgrade() else { return };
                    if pool.len() >= SIZE || pool.closed.load(Ordering::Acquire) {
                        break;
                    }
                    match make(&pool.recipe, true).await {
                        Ok(r) => pool.put(r),
                        // Starts make their own meanwhile; try again after the next one.
                        Err(e) => {
                            tracing::debug!(error = %e, "no sandbox made ahead");
                            break;
                        }
                    }
                }
            }
        });
        pool
    }

    /// What the pool makes its sandboxes with.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Ready>> {
        lock(&self.ready)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn put(&self, r: Ready) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.lock().push(r);
    }

    /// Takes a ready standby for a sandbox about to be made, and returns the ID the sandbox
    /// must have (the standby's cgroup is named by it); `None` when no standby is ready.
    pub fn reserve(&self) -> Option<String> {
        if lock(&self.reserved).len() >= MAX_RESERVED {
            return None;
        }
        let ready = {
            let mut all = self.lock();
            let i = all.iter().rposition(|r| r.id().is_some())?;
            all.swap_remove(i)
        };
        let id = ready.id()?.to_string();
        lock(&self.reserved).insert(id.clone(), ready);
        Some(id)
    }

    /// Gives up a reservation (the sandbox was not made, or owns no network namespace): its
    /// standby ends.
    pub fn release(&self, id: &str) {
        let gone = lock(&self.reserved).remove(id);
        drop(gone);
    }

    /// What the start of sandbox `id` uses: its reservation, else any ready one, else `None`
    /// (the caller makes a bare namespace with [`make`]).
    pub fn take_for(&self, id: &str) -> Option<Ready> {
        if let Some(r) = lock(&self.reserved).remove(id) {
            return Some(r);
        }
        self.lock().pop()
    }

    /// Ends everything made ahead (standbys end and take their cgroups), on a clean exit.
    pub fn clear(&self) {
        self.closed.store(true, Ordering::Release);
        let ready: Vec<Ready> = self.lock().drain(..).collect();
        let reserved: Vec<Ready> = lock(&self.reserved).drain().map(|(_, r)| r).collect();
        drop((ready, reserved));
    }

    /// Makes up, in the background, for what starts took: called when a start is done.
    pub fn refill(&self) {
        self.wanted.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

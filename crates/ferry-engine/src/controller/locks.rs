//! How operations exclude each other. One lock guards the state, and every operation plans
//! under it: checks, allocates, records its intent in the store. A driver's call (`join`) may
//! be slow (a remote driver, a busy kernel), so an operation on one sandbox lets the state lock
//! go for the length of that call, and the others go on. What keeps a second operation on the
//! same sandbox out meanwhile is the sandbox's own lock, always taken before the state lock.

use crate::state::State;
use std::collections::HashMap;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

/// The per-sandbox locks, made on first use and dropped with their last holder.
#[derive(Default)]
pub(crate) struct SandboxLocks {
    locks: std::sync::Mutex<HashMap<String, Weak<Mutex<()>>>>,
}

impl SandboxLocks {
    fn entry(&self, id: &str) -> Arc<Mutex<()>> {
        let mut map = match self.locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(l) = map.get(id).and_then(Weak::upgrade) {
            return l;
        }
        // Forget the locks nobody holds any more, so the map does not grow with every
        // sandbox ever made.
        map.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(Mutex::new(()));
        map.insert(id.to_string(), Arc::downgrade(&l));
        l
    }

    /// Waits for the sandbox's lock. Never called with the state lock held: the order is
    /// sandbox, then state.
    pub(crate) async fn lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.entry(id).lock_owned().await
    }
}

/// The state lock as an operation holds it: either its own guard, which it may let go for the
/// length of a driver's call, or the state of a caller that keeps holding it (reconcile, the
/// service supervisor, and operations on service replicas, which the supervisor also moves).
pub(crate) enum StateLock<'a> {
    /// A guard that [`StateLock::unlocked`] may release.
    Releasable {
        /// The state's mutex, to take it again.
        mutex: &'a Mutex<State>,
        /// The guard; `None` only while [`StateLock::unlocked`] runs.
        guard: Option<MutexGuard<'a, State>>,
    },
    /// The state, locked by the caller for the whole operation.
    Held(&'a mut State),
    /// A guard kept for the whole operation.
    Kept(MutexGuard<'a, State>),
}

impl<'a> StateLock<'a> {
    /// A guard that may be released around slow calls.
    pub(crate) fn releasable(mutex: &'a Mutex<State>, guard: MutexGuard<'a, State>) -> Self {
        StateLock::Releasable {
            mutex,
            guard: Some(guard),
        }
    }

    /// Runs `f` without the state lock when it may be released, and takes the lock again.
    /// `f` must not borrow from the state: others change it meanwhile.
    pub(crate) async fn unlocked<F: Future>(&mut self, f: F) -> F::Output {
        match self {
            StateLock::Held(_) | StateLock::Kept(_) => f.await,
            StateLock::Releasable { mutex, guard } => {
                drop(guard.take());
                let out = f.await;
                *guard = Some(mutex.lock().await);
                out
            }
        }
    }
}

impl Deref for StateLock<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        match self {
            StateLock::Held(s) => s,
            StateLock::Kept(g) => g,
            StateLock::Releasable { guard, .. } => guard
                .as_deref()
                .expect("the state is only read while its lock is held"),
        }
    }
}

impl DerefMut for StateLock<'_> {
    fn deref_mut(&mut self) -> &mut State {
        match self {
            StateLock::Held(s) => s,
            StateLock::Kept(g) => g,
            StateLock::Releasable { guard, .. } => guard
                .as_deref_mut()
                .expect("the state is only changed while its lock is held"),
        }
    }
}

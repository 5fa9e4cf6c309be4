//! Named points at which the daemon can be made to die, so that the state a crash leaves
//! behind can be made on purpose and the next start checked against it.
//!
//! `FERRY_TEST_CRASH_AT=NAME` in the daemon's environment makes it kill itself with SIGKILL
//! (as `kill -9` would: no destructor, no flush, no reply) the first time it reaches the
//! point `NAME`. Unset, every point is a comparison with `None`.

use std::sync::OnceLock;

/// The environment variable that names the point to die at.
pub const ENV: &str = "FERRY_TEST_CRASH_AT";

/// After `service update`/`scale` has saved the new spec, before any replica changes.
pub const SERVICE_UPDATE_SAVED: &str = "service-update-saved";
/// After `service rm` has saved the spec with no replicas, before any replica is removed.
pub const SERVICE_RM_SAVED: &str = "service-rm-saved";
/// After a sandbox's record is deleted, before its directory is.
pub const SANDBOX_RM_SAVED: &str = "sandbox-rm-saved";
/// After a new sandbox's directory is made, before its record is saved.
pub const SANDBOX_CREATE_DIR: &str = "sandbox-create-dir";

/// After a start's process runs, before its PID and namespace are recorded.
pub const SANDBOX_START_SPAWNED: &str = "sandbox-start-spawned";

/// After a network's bridge is created, before it is marked with its alias.
pub const NETWORK_BRIDGE_MADE: &str = "network-bridge-made";

/// Every point, for the check of the variable's value at start.
pub const ALL: &[&str] = &[
    SERVICE_UPDATE_SAVED,
    SERVICE_RM_SAVED,
    SANDBOX_RM_SAVED,
    SANDBOX_CREATE_DIR,
    SANDBOX_START_SPAWNED,
    NETWORK_BRIDGE_MADE,
];

fn armed() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Checks the variable once at start: a name that is no point would silently never fire.
pub fn check() -> Result<(), String> {
    match armed() {
        Some(at) if !ALL.contains(&at) => Err(format!(
            "{ENV}={at} names no crash point; the points are: {}",
            ALL.join(", ")
        )),
        _ => Ok(()),
    }
}

/// Dies here with SIGKILL when `FERRY_TEST_CRASH_AT` names this point.
pub(crate) fn reached(point: &'static str) {
    if armed() == Some(point) {
        tracing::warn!(point, "{ENV}: the daemon kills itself here");
        // SAFETY: kill(2) on our own PID has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

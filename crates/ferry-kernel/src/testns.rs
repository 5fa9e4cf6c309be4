//! Test helper: runs a test body on a thread inside a fresh network namespace with `lo` up, so
//! tests never touch the host's interfaces, nftables or conntrack tables.

use nix::sched::{unshare, CloneFlags};

/// Runs `f` on a new thread that unshared its network namespace and brought `lo` up. Fails
/// the test when not running as root (these tests need real kernel objects, as CI gives
/// them); a panic in `f` fails the test.
pub(crate) fn in_fresh_netns<T, F>(f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it runs in a network namespace of its own"
    );
    let joined = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        lo_up();
        f()
    })
    .join();
    match joined {
        Ok(v) => Some(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Brings `lo` up through rtnetlink, on the calling thread (a socket opened here belongs to
/// this thread's namespace).
fn lo_up() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let nl = crate::netlink::Netlink::connect().expect("netlink");
        nl.set_up_by_name("lo").await.expect("set lo up");
    });
}

//! A real etcd for tests: started inside a network namespace of the test's own thread, bound to
//! that namespace's loopback, killed at the end. For this crate's tests and other crates' (the
//! `contract` feature). A missing `etcd` fails the test that asks for one.

use super::{EtcdConfig, EtcdStore};
use crate::{Store, Table};
use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The etcd binary (Debian's `etcd-server` installs it as `/usr/bin/etcd`).
const ETCD: &str = "etcd";
/// How long etcd may take to start answering.
const STARTUP: Duration = Duration::from_secs(30);

/// A running etcd with its data in a temporary directory; killed when dropped.
struct Etcd {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd on two free ports of 127.0.0.1.
    fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Both listeners are held until both ports are known, so that they differ.
        let (client, peer) = (free_port(), free_port());
        let (client, peer) = (port_of(&client), port_of(&peer));
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd's log file");
        let child = Command::new(ETCD)
            .arg("--name=ferry-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=ferry-test={peer_url}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{ETCD}`: {e} (these tests need etcd: apt-get install etcd-server)")
            });
        Etcd {
            child,
            endpoint,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Waits until etcd answers a read.
    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("etcd exited with {status}:\n{}", self.log());
            }
            if let Ok(s) = EtcdStore::connect(EtcdConfig::new([&self.endpoint])).await {
                let answer =
                    tokio::time::timeout(Duration::from_secs(2), s.get(Table::Meta, "ready"));
                if let Ok(Ok(_)) = answer.await {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd did not answer within {STARTUP:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // It may have died already; either way it must be gone before its directory is.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1")
}

fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().expect("a bound address").port()
}

/// Runs `body` with the endpoint of a fresh etcd, on a thread in a network namespace of its
/// own (with `lo` up), so that etcd's ports and traffic stay inside the test.
pub fn with_etcd<F, Fut>(body: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it runs etcd in a network namespace of its own"
    );
    let joined = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        // Children and threads started from here share the new namespace.
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("running `ip link set lo up`");
        assert!(up.success(), "ip link set lo up: {up}");
        let mut etcd = Etcd::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async {
            etcd.wait_ready().await;
            body(etcd.endpoint.clone()).await;
        });
        drop(rt);
        drop(etcd);
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

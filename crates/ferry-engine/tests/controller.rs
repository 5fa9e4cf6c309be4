//! The controller against a fake driver and the memory store: each operation's undo when the
//! driver fails at a step, the store and IPAM left as they were, a restart that keeps going
//! past a network it cannot make; and (as root, with real namespaces) that a slow join on one
//! sandbox holds up no other sandbox's request.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use async_trait::async_trait;
use ferry_engine::config::{DaemonConfig, FirewallMode};
use ferry_engine::controller::StartOptions;
use ferry_engine::driver::{
    Capability, Drivers, JoinInfo, NetworkDriver, Owned, SandboxNs, Scope, Stack,
};
use ferry_engine::Controller;
use ferry_store::{MemoryStore, Store, Table};
use ferry_types::api::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    NetworkRequest, SandboxCreateRequest,
};
use ferry_types::{Endpoint, FerryError, Network};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A driver whose every call is recorded, and that fails the steps it is told to.
struct Fake {
    name: &'static str,
    stack: Stack,
    singleton: bool,
    calls: Mutex<Vec<String>>,
    fail: Mutex<HashSet<String>>,
    /// A join on a network of this name waits until the gate opens.
    gate: Option<(String, Arc<tokio::sync::Notify>)>,
}

impl Fake {
    fn new(name: &'static str) -> Self {
        Fake {
            name,
            stack: Stack::Endpoints,
            singleton: false,
            calls: Mutex::default(),
            fail: Mutex::default(),
            gate: None,
        }
    }

    fn singleton(name: &'static str, stack: Stack) -> Self {
        Fake {
            stack,
            singleton: true,
            ..Fake::new(name)
        }
    }

    /// Makes `step` fail for the network named `net` (`*` for every network).
    fn fail(&self, step: &str, net: &str) {
        self.fail.lock().unwrap().insert(format!("{step} {net}"));
    }

    fn heal(&self) {
        self.fail.lock().unwrap().clear();
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn call(&self, step: &str, net: &Network) -> Result<(), FerryError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{step} {}", net.name));
        let fail = self.fail.lock().unwrap();
        if fail.contains(&format!("{step} {}", net.name)) || fail.contains(&format!("{step} *")) {
            return Err(FerryError::internal(format!(
                "injected failure: {step} {}",
                net.name
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl NetworkDriver for Fake {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capability(&self) -> Capability {
        Capability {
            scope: Scope::Local,
            stack: self.stack,
            singleton: self.singleton,
            host_gateway: true,
            routes_out: true,
        }
    }

    async fn configure(
        &self,
        net: &mut Network,
        _others: &[&Network],
    ) -> Result<serde_json::Value, FerryError> {
        self.call("configure", net)?;
        Ok(serde_json::json!({"fake": true}))
    }

    async fn create_network(&self, net: &Network) -> Result<(), FerryError> {
        self.call("create", net)
    }

    async fn delete_network(&self, net: &Network) -> Result<(), FerryError> {
        self.call("delete", net)
    }

    async fn join(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError> {
        self.call("join", net)?;
        if let Some((gated, gate)) = &self.gate {
            if *gated == net.name {
                gate.notified().await;
            }
        }
        // A real interface for the controller to address: a veth pair inside the sandbox.
        let peer = format!("p{}", &ep.id[..8]);
        ns.nl
            .create_veth_pair(&ep.ifname, &peer, None)
            .await
            .map_err(|e| FerryError::internal(e.to_string()))?;
        Ok(JoinInfo::default())
    }

    async fn leave(
        &self,
        net: &Network,
        _ep: &Endpoint,
        _netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        self.call("leave", net)
    }

    async fn endpoint_present(
        &self,
        _net: &Network,
        _ep: &Endpoint,
        _netns: &Path,
    ) -> Result<bool, FerryError> {
        Ok(true)
    }

    async fn sweep(&self, _owned: &Owned<'_>) -> Result<(), FerryError> {
        Ok(())
    }
}

struct Engine {
    ctl: Arc<Controller>,
    store: Arc<MemoryStore>,
    fake: Arc<Fake>,
    _dir: tempfile::TempDir,
}

fn config(dir: &Path) -> DaemonConfig {
    let mut cfg = DaemonConfig::with_roots(dir.join("data"), dir.join("run"));
    cfg.firewall = FirewallMode::None;
    cfg.ip_forward = false;
    cfg.init = false;
    cfg
}

async fn engine_on(
    store: Arc<MemoryStore>,
    dir: tempfile::TempDir,
    fake: Arc<Fake>,
) -> Result<Engine, FerryError> {
    let f = fake.clone();
    let options = StartOptions {
        drivers: Some(Box::new(move |_| {
            let mut d = Drivers::new();
            d.register(f)
                .register(Arc::new(Fake::new("bridge")))
                .register(Arc::new(Fake::singleton("host", Stack::Host)))
                .register(Arc::new(Fake::singleton("null", Stack::Loopback)));
            d
        })),
        cgroups: false,
    };
    let ctl = Controller::start_with(config(dir.path()), store.clone(), options).await?;
    Ok(Engine {
        ctl,
        store,
        fake,
        _dir: dir,
    })
}

async fn engine(fake: Fake) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    engine_on(Arc::new(MemoryStore::new()), dir, Arc::new(fake))
        .await
        .unwrap()
}

fn net_req(name: &str, subnet: &str) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: name.into(),
        driver: "fake".into(),
        ipam: Some(Ipam {
            config: vec![IpamConfig {
                subnet: subnet.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn stored_networks(store: &MemoryStore) -> usize {
    store.list(Table::Networks).await.unwrap().entries.len()
}

#[tokio::test]
async fn a_network_the_driver_cannot_make_leaves_no_record_and_its_subnet_free() {
    let e = engine(Fake::new("fake")).await;
    let before = stored_networks(&e.store).await;
    e.fake.fail("create", "n");
    let err = e
        .ctl
        .create_network(net_req("n", "10.1.0.0/24"))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("injected failure: create n"),
        "{err:?}"
    );
    // Undone: the driver was asked to remove what it may have half made, and nothing of the
    // network is left in the store or in the state.
    assert_eq!(e.fake.calls(), ["configure n", "create n", "delete n"]);
    assert_eq!(stored_networks(&e.store).await, before);
    assert!(e.ctl.inspect_network("n").await.is_err());
    // Its name and subnet are free again.
    e.fake.heal();
    e.ctl
        .create_network(net_req("n", "10.1.0.0/24"))
        .await
        .unwrap();
    assert_eq!(stored_networks(&e.store).await, before + 1);
}

#[tokio::test]
async fn a_refusal_in_configure_makes_nothing() {
    let e = engine(Fake::new("fake")).await;
    let before = stored_networks(&e.store).await;
    e.fake.fail("configure", "n");
    assert!(e
        .ctl
        .create_network(net_req("n", "10.2.0.0/24"))
        .await
        .is_err());
    assert_eq!(
        e.fake.calls(),
        ["configure n"],
        "no kernel call after a refusal"
    );
    assert_eq!(stored_networks(&e.store).await, before);
}

#[tokio::test]
async fn a_removal_the_driver_fails_is_still_recorded_and_the_driver_asked_once() {
    let e = engine(Fake::new("fake")).await;
    e.ctl
        .create_network(net_req("n", "10.3.0.0/24"))
        .await
        .unwrap();
    let before = stored_networks(&e.store).await;
    e.fake.fail("delete", "n");
    // The record goes (the sweep at the next start removes what the kernel kept), so the
    // store never names a network the user removed.
    e.ctl.remove_network("n").await.unwrap();
    assert_eq!(stored_networks(&e.store).await, before - 1);
    assert_eq!(
        e.fake.calls().iter().filter(|c| *c == "delete n").count(),
        1
    );
    // And the name is free.
    e.fake.heal();
    e.ctl
        .create_network(net_req("n", "10.3.0.0/24"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_start_remakes_every_network_and_goes_on_past_one_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = Arc::new(MemoryStore::new());
    let fake = Arc::new(Fake::new("fake"));
    let e = engine_on(store.clone(), dir, fake.clone()).await.unwrap();
    e.ctl
        .create_network(net_req("good", "10.4.0.0/24"))
        .await
        .unwrap();
    e.ctl
        .create_network(net_req("bad", "10.5.0.0/24"))
        .await
        .unwrap();
    drop(e.ctl);
    let dir = e._dir;
    // A second engine on the same store, as after a daemon restart.
    fake.calls.lock().unwrap().clear();
    fake.fail("create", "bad");
    let again = engine_on(store, dir, fake.clone()).await.unwrap();
    let calls = fake.calls();
    assert!(calls.contains(&"create good".to_string()), "{calls:?}");
    assert!(calls.contains(&"create bad".to_string()), "{calls:?}");
    assert!(again.ctl.inspect_network("good").await.is_ok());
    assert!(
        again.ctl.inspect_network("bad").await.is_ok(),
        "kept in the store"
    );
    assert!(root.exists());
}

#[tokio::test]
async fn a_stopped_sandbox_connects_and_disconnects_in_the_store_alone() {
    let e = engine(Fake::new("fake")).await;
    e.ctl
        .create_network(net_req("n", "10.6.0.0/24"))
        .await
        .unwrap();
    let sb = e
        .ctl
        .create_sandbox(SandboxCreateRequest {
            name: "s".into(),
            cmd: vec!["sleep".into(), "60".into()],
            networks: vec![NetworkRequest {
                name: "n".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    e.ctl
        .disconnect(
            "n",
            NetworkDisconnectRequest {
                container: sb.id.clone(),
                force: false,
            },
        )
        .await
        .unwrap();
    e.ctl
        .connect(
            "n",
            NetworkConnectRequest {
                container: "s".into(),
                endpoint_config: None,
            },
        )
        .await
        .unwrap();
    let calls = e.fake.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("join") || c.starts_with("leave")),
        "no driver call for a stopped sandbox: {calls:?}"
    );
    let inspect = e.ctl.inspect_network("n").await.unwrap();
    let again = e
        .ctl
        .connect(
            "n",
            NetworkConnectRequest {
                container: "s".into(),
                endpoint_config: None,
            },
        )
        .await
        .unwrap_err();
    assert!(again.message.contains("already connected"), "{again:?}");
    e.ctl.remove_sandbox("s", false).await.unwrap();
    e.ctl.remove_network("n").await.unwrap();
    assert_eq!(inspect.network.name, "n");
}

/// Needs root: sandboxes run in namespaces of their own. The first sandbox's join waits on a
/// gate the test opens only after a second sandbox has started: were the state lock held
/// across the join, the second start would never finish.
#[test]
fn a_slow_join_on_one_sandbox_holds_up_no_other_sandbox() {
    in_own_netns(slow_join_scenario());
}

/// Needs root, as above. A join that fails undoes the start: no endpoint left in the
/// sandbox's record nor among the network's members, its address free, and a start once the
/// driver is well again succeeds.
#[test]
fn a_failed_join_undoes_the_start_and_frees_the_address() {
    in_own_netns(failed_join_scenario());
}

/// Runs a scenario as root, its engine and runtime's threads in a network namespace of the
/// test's own (threads inherit it from the one that makes them): nothing touches the host's.
fn in_own_netns(scenario: impl std::future::Future<Output = ()> + Send + 'static) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: sandboxes run in network namespaces of their own"
    );
    let joined = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(scenario);
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

async fn failed_join_scenario() {
    let e = engine(Fake::new("fake")).await;
    e.ctl
        .create_network(net_req("n", "10.9.0.0/29"))
        .await
        .unwrap();
    e.ctl
        .create_sandbox(SandboxCreateRequest {
            name: "s".into(),
            cmd: vec!["sleep".into(), "60".into()],
            networks: vec![NetworkRequest {
                name: "n".into(),
                ipv4_address: Some("10.9.0.2".into()),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    e.fake.fail("join", "n");
    let err = e.ctl.start_sandbox("s").await.unwrap_err();
    assert!(err.message.contains("injected failure: join n"), "{err:?}");
    let id = e.ctl.sandbox_id("s").await.unwrap();
    assert!(!e.ctl.is_running(&id).await);
    let view = e.ctl.inspect_network("n").await.unwrap();
    assert!(view.members.is_empty(), "no member left");
    // The static address was released: the same start succeeds once the driver is well.
    e.fake.heal();
    e.ctl.start_sandbox("s").await.unwrap();
    assert!(e.ctl.is_running(&id).await);
    e.ctl.remove_sandbox("s", true).await.unwrap();
}

async fn slow_join_scenario() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut fake = Fake::new("fake");
    fake.gate = Some(("slow".into(), gate.clone()));
    let e = engine(fake).await;
    e.ctl
        .create_network(net_req("slow", "10.7.0.0/24"))
        .await
        .unwrap();
    e.ctl
        .create_network(net_req("fast", "10.8.0.0/24"))
        .await
        .unwrap();
    for (name, net) in [("a", "slow"), ("b", "fast")] {
        e.ctl
            .create_sandbox(SandboxCreateRequest {
                name: name.into(),
                cmd: vec!["sleep".into(), "60".into()],
                networks: vec![NetworkRequest {
                    name: net.into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let ctl = e.ctl.clone();
    let slow = tokio::spawn(async move { ctl.start_sandbox("a").await });
    // Wait until a's join is under way.
    for _ in 0..500 {
        if e.fake.calls().iter().any(|c| c == "join slow") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(e.fake.calls().iter().any(|c| c == "join slow"));
    // b starts, and the API answers, while a's join waits.
    let fast = tokio::time::timeout(Duration::from_secs(30), async {
        e.ctl.start_sandbox("b").await?;
        e.ctl.inspect_network("slow").await.map(drop)
    })
    .await;
    assert!(
        !slow.is_finished(),
        "a's join cannot have finished: its gate is shut"
    );
    gate.notify_one();
    let slow = slow.await.unwrap();
    assert!(
        matches!(fast, Ok(Ok(()))),
        "b was held up by a's join: {fast:?}"
    );
    slow.unwrap();
    assert!(
        e.ctl
            .is_running(&e.ctl.sandbox_id("a").await.unwrap())
            .await
    );
    for s in ["a", "b"] {
        e.ctl.remove_sandbox(s, true).await.unwrap();
    }
}

//! The controller (CNM Controller): the one owner of ferry's state. Every operation takes the
//! state lock, checks and allocates, writes the desired state to the store, then changes the
//! kernel; a failure undoes what the operation made, in the kernel and in the store.

mod attach;
pub mod changes;
mod cluster;
mod dns;
mod endpoints;
mod gateway_bridge;
mod host_addresses;
mod ingress;
mod lb_addresses;
mod links;
mod locks;
mod mesh_paths;
mod mesh_view;
mod networks;
mod plumbing;
mod publish;
mod reconcile;
mod replica_logs;
mod sandboxes;
mod services;
mod swarm_services;
mod ttys;

use crate::config::DaemonConfig;
use crate::driver::Drivers;
use crate::firewall::Firewall;
use crate::state::State;
use ferry_kernel::netlink::Netlink;
use ferry_kernel::port_reservation::PortReservation;
use ferry_store::{Op, Store, Table};
use ferry_types::{FerryError, Network, NetworkId, Sandbox};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::{watch, Mutex, MutexGuard};

/// The engine's single point of control.
pub struct Controller {
    cfg: DaemonConfig,
    store: Arc<dyn Store>,
    host_nl: Netlink,
    /// The network drivers, by name.
    drivers: Drivers,
    /// Deletes the links drivers retire, after the replies.
    reaper: Arc<crate::drivers::reaper::Reaper>,
    /// Network namespaces made ahead of the starts that take them.
    ready_pool: Arc<crate::sandbox::ready_pool::ReadyPool>,
    /// When an operation last began: the reaper deletes while the daemon is quiet.
    activity: Arc<crate::drivers::reaper::Activity>,
    firewall: Firewall,
    /// The connect-time fast path of service VIPs.
    connect_lb: crate::connect_lb::ConnectLb,
    /// The daemon's cgroup tree: a cgroup per sandbox.
    cgroups: crate::cgroups::DaemonCgroup,
    /// This program, open, for sandboxes whose first process is ferry's init.
    init_binary: Option<Arc<std::fs::File>>,
    resolver: Arc<crate::resolver::Resolver>,
    /// The terminals of running sandboxes started with one, by sandbox ID.
    ttys: ttys::Ttys,
    /// What times the output of running sandboxes without a terminal (made at the first
    /// start, inside the runtime; `None` when inotify is not available).
    log_clocks: std::sync::OnceLock<Option<Arc<crate::sandbox::log_times::Clocks>>>,
    /// Sockets holding the host ports of running sandboxes, by sandbox ID.
    held_ports: std::sync::Mutex<HashMap<String, Vec<PortReservation>>>,
    state: Mutex<State>,
    /// One lock per sandbox, taken before `state` by operations on it.
    sandbox_locks: locks::SandboxLocks,
    /// Restart history of service replicas, by (service ID, slot).
    restarts: std::sync::Mutex<HashMap<(String, u32), services::Restarts>>,
    /// Why a replica slot's sandbox could not be made, until it is: what a swarm task's
    /// report says (`rejected`).
    replica_errors: std::sync::Mutex<HashMap<(String, u32), String>>,
    /// How many times each swarm task's replica was started again after it ended, by task
    /// ID: reported to the swarm's leader, whose update monitor counts it as a failure.
    task_restarts: std::sync::Mutex<HashMap<String, u32>>,
    /// Wakes the service supervisor when a converge leaves a replica down.
    supervisor: tokio::sync::Notify,
    /// Bumped whenever a sandbox's process exits, so waiters re-check.
    exits: watch::Sender<u64>,
    /// Every sandbox and network record saved ([`Controller::changes`]).
    changes: tokio::sync::broadcast::Sender<changes::Change>,
    host_id: String,
    /// This node's swarm membership, while it has one.
    cluster: Arc<crate::cluster::ClusterSlot>,
    /// What the node keeps while it is in a swarm.
    cluster_rt: cluster::ClusterRuntime,
    me: Weak<Controller>,
}

/// Makes a driver registry from what drivers work with.
pub type MakeDrivers = Box<dyn FnOnce(&crate::drivers::DriverContext) -> Drivers + Send>;

/// How [`Controller::start_with`] starts the engine.
pub struct StartOptions {
    /// The driver registry (the built-in one when unset).
    pub drivers: Option<MakeDrivers>,
    /// Run sandboxes in the daemon's cgroup tree (a daemon does; an embedding may not).
    pub cgroups: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            drivers: None,
            cgroups: true,
        }
    }
}

/// A store failure as an API error.
fn store_err(e: ferry_store::StoreError) -> FerryError {
    FerryError::internal(e.to_string()).with_source(e)
}

impl Controller {
    /// Starts the engine: connects to the kernel, loads the store, reconciles the kernel with
    /// it (removing what nothing owns, replicas no spec wants included), and makes the
    /// default networks on first start.
    pub async fn start(cfg: DaemonConfig, store: Arc<dyn Store>) -> Result<Arc<Self>, FerryError> {
        Self::start_with(cfg, store, StartOptions::default()).await
    }

    /// [`Controller::start`], with other drivers or without the daemon's cgroup tree.
    pub async fn start_with(
        cfg: DaemonConfig,
        store: Arc<dyn Store>,
        options: StartOptions,
    ) -> Result<Arc<Self>, FerryError> {
        crate::crash_point::check().map_err(FerryError::invalid)?;
        std::fs::create_dir_all(cfg.data_root.join("sandboxes")).map_err(|e| {
            FerryError::internal(format!("create {}: {e}", cfg.data_root.display()))
        })?;
        let host_nl = Netlink::connect().map_err(crate::drivers::kernel_err)?;
        let host_id = match store.get(Table::Meta, "host-id").await.map_err(store_err)? {
            Some(r) => String::from_utf8_lossy(&r.value).into_owned(),
            None => {
                let id: String = new_id();
                store
                    .apply_ops(vec![Op::Put {
                        table: Table::Meta,
                        key: "host-id".into(),
                        value: id.clone().into_bytes(),
                    }])
                    .await
                    .map_err(store_err)?;
                id
            }
        };
        let (exits, _) = watch::channel(0u64);
        let mut state = State::default();
        if let Some(r) = ferry_kernel::sysctl::get("net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| crate::ports::parse_ephemeral_range(&t))
        {
            state.ports = crate::ports::PortTable::new(r);
        }
        let firewall = Firewall::new(cfg.firewall);
        // Before any sandbox starts, so that all of them are born in the daemon's tree.
        let cgroups = if options.cgroups {
            crate::cgroups::DaemonCgroup::setup(&cfg.data_root, &cfg.exec_root)
        } else {
            crate::cgroups::DaemonCgroup::default()
        };
        let connect_lb = if firewall.enabled() {
            crate::connect_lb::ConnectLb::start(&cgroups)
        } else {
            crate::connect_lb::ConnectLb::default()
        };
        // Open now: the file on disk may be replaced while the daemon runs.
        let init_binary = match crate::sandbox::init_binary::open() {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                tracing::warn!(error = %e, "this program cannot be opened: sandboxes run without ferry's init");
                None
            }
        };
        let activity = Arc::new(crate::drivers::reaper::Activity::default());
        let reaper = Arc::new(crate::drivers::reaper::Reaper::start(
            host_nl.clone(),
            activity.clone(),
        ));
        let cluster = Arc::new(crate::cluster::ClusterSlot::default());
        let ctx = crate::drivers::DriverContext {
            cluster: cluster.clone(),
            reaper: reaper.clone(),
            nl: host_nl.clone(),
            ip_forward: cfg.ip_forward,
            firewall: firewall.enabled(),
            mtu: cfg.mtu,
        };
        let drivers = match options.drivers {
            Some(make) => make(&ctx),
            None => crate::drivers::builtin(&ctx),
        };
        let ctl = Arc::new_cyclic(|me| Controller {
            reaper,
            ready_pool: crate::sandbox::ready_pool::ReadyPool::start(
                crate::sandbox::ready_pool::Recipe {
                    init: init_binary.clone(),
                    cgroups: cgroups.sandboxes(),
                },
            ),
            activity,
            drivers,
            firewall,
            connect_lb,
            cgroups,
            init_binary,
            resolver: crate::resolver::Resolver::new(),
            held_ports: std::sync::Mutex::new(HashMap::new()),
            ttys: ttys::Ttys::default(),
            log_clocks: std::sync::OnceLock::new(),
            restarts: std::sync::Mutex::new(HashMap::new()),
            replica_errors: std::sync::Mutex::new(HashMap::new()),
            task_restarts: std::sync::Mutex::new(HashMap::new()),
            supervisor: tokio::sync::Notify::new(),
            host_nl,
            cfg,
            store,
            state: Mutex::new(state),
            sandbox_locks: locks::SandboxLocks::default(),
            exits,
            changes: tokio::sync::broadcast::channel(changes::BACKLOG).0,
            host_id,
            cluster,
            cluster_rt: cluster::ClusterRuntime::default(),
            me: me.clone(),
        });
        ctl.reconcile().await?;
        // Before the API answers, so no client sees a replica that no spec wants.
        ctl.remove_unwanted().await;
        ctl.clone().supervise();
        Ok(ctl)
    }

    /// On a clean exit: the sandboxes made ahead end, the links retired by the last
    /// operations are deleted, and the daemon leaves its cgroup tree, which goes unless
    /// sandboxes still run in it.
    pub async fn shutdown(&self) {
        self.ready_pool.clear();
        self.reaper.drain().await;
        self.cgroups.leave();
    }

    /// The settings in force.
    pub fn config(&self) -> &DaemonConfig {
        &self.cfg
    }

    async fn lock(&self) -> MutexGuard<'_, State> {
        self.activity.touch();
        self.state.lock().await
    }

    /// Locks a sandbox for an operation: its own lock, then the state's, which the operation
    /// may let go around slow driver calls (not for a service's replica, which the service
    /// supervisor moves under the state lock alone). Returns its ID too.
    async fn lock_sandbox(
        &self,
        reference: &str,
    ) -> Result<
        (
            tokio::sync::OwnedMutexGuard<()>,
            locks::StateLock<'_>,
            ferry_types::SandboxId,
        ),
        FerryError,
    > {
        let id = self.lock().await.find_sandbox(reference)?.id.clone();
        let op = self.sandbox_locks.lock(&id).await;
        let guard = self.lock().await;
        let replica = match guard.sandbox(&id) {
            Some(sb) => sb.config.replica_of.is_some(),
            None => {
                return Err(FerryError::not_found(format!(
                    "no such sandbox: {reference}"
                )))
            }
        };
        let st = if replica {
            locks::StateLock::Kept(guard)
        } else {
            locks::StateLock::releasable(&self.state, guard)
        };
        Ok((op, st, id))
    }

    fn arc(&self) -> Option<Arc<Controller>> {
        self.me.upgrade()
    }

    /// Writes `ops` as one unconditional transaction.
    async fn save(&self, ops: Vec<Op>) -> Result<(), FerryError> {
        let announced = (self.changes.receiver_count() > 0).then(|| ops.clone());
        self.store.apply_ops(ops).await.map_err(store_err)?;
        if let Some(ops) = announced {
            self.announce(&ops);
        }
        Ok(())
    }

    fn put_network_op(net: &Network) -> Result<Op, FerryError> {
        Op::put_json(Table::Networks, &net.id, net).map_err(store_err)
    }

    fn put_sandbox_op(sb: &Sandbox) -> Result<Op, FerryError> {
        Op::put_json(Table::Sandboxes, &sb.id, sb).map_err(store_err)
    }

    /// Store operations for a sandbox plus the IPAM cursors of the networks it touches.
    fn sandbox_ops(st: &State, sb: &Sandbox, nets: &[NetworkId]) -> Result<Vec<Op>, FerryError> {
        let mut ops = vec![Self::put_sandbox_op(sb)?];
        for id in nets {
            if let Some(n) = st.network(id) {
                let mut n = n.clone();
                n.ipam_cursors = st.ipam_cursors(id);
                ops.push(Self::put_network_op(&n)?);
            }
        }
        Ok(ops)
    }
}

/// A new random 64-digit ID, of any kind.
pub fn new_id<T: From<String>>() -> T {
    let mut b = [0u8; 32];
    // The kernel's CSPRNG does not fail once the system has booted.
    let _ = getrandom::fill(&mut b);
    T::from(ferry_types::ids::from_bytes(&b))
}

/// Random bytes for names and MACs.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = getrandom::fill(&mut b);
    b
}

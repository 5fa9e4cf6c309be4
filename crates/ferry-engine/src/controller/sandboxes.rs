//! Sandbox operations: create, start, stop, remove, connect, disconnect, wait, list, inspect.

use super::endpoints::write_in_place;
use super::locks::StateLock;
use super::{new_id, random_bytes, store_err, Controller};
use crate::driver::{SandboxNs, Stack};
use crate::drivers::kernel_err;
use crate::filters::SandboxFilter;
use crate::sandbox::ready_pool::Holder;
use crate::sandbox::{etc_files, names};
use crate::state::State;
use crate::views::{NetworkRef, SandboxView};
use ferry_kernel::netlink::Netlink;
use ferry_kernel::netns;
use ferry_kernel::process::{self, BindMount, Mounts, Ns, Pidfd, SpawnSpec};
use ferry_store::{Op, Table};
use ferry_types::api::{
    CreateResponse, ExecTarget, NetworkConnectRequest, NetworkDisconnectRequest,
    SandboxCreateRequest, WaitError, WaitResponse,
};
use ferry_types::security::NamespaceMode;
use ferry_types::validate;
use ferry_types::{
    Attachment, FerryError, MacAddr, Network, NetworkId, NetworkMode, Sandbox, SandboxConfig,
    SandboxId, SandboxState, Status,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn parse_opt_ip(what: &str, s: &Option<String>) -> Result<Option<IpAddr>, FerryError> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::ip(what, v).map(Some),
    }
}

fn parse_opt_mac(s: &Option<String>) -> Result<Option<MacAddr>, FerryError> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::mac_addr(v).map(Some),
    }
}

impl Controller {
    /// A sandbox with its directory and the networks it names.
    fn sandbox_view(&self, st: &State, sb: &Sandbox) -> SandboxView {
        let mut networks: Vec<NetworkRef> = Vec::new();
        let mut add = |n: &Network| {
            if !networks.iter().any(|r| r.id == n.id) {
                networks.push(n.into());
            }
        };
        match &sb.config.network_mode {
            NetworkMode::Networks => sb
                .config
                .attachments
                .iter()
                .filter_map(|a| st.network(&a.network_id))
                .for_each(&mut add),
            NetworkMode::Host => st
                .find_network(ferry_types::HOST_NETWORK)
                .into_iter()
                .for_each(&mut add),
            NetworkMode::None => st
                .find_network(ferry_types::NONE_NETWORK)
                .into_iter()
                .for_each(&mut add),
            NetworkMode::Container(_) => {}
        }
        SandboxView {
            sandbox: sb.clone(),
            dir: self.cfg.sandbox_dir(&sb.id),
            networks,
        }
    }

    /// Builds an attachment for a network from user input, checking aliases and static
    /// addresses.
    fn attachment(
        &self,
        st: &mut State,
        net: &Network,
        aliases: Vec<String>,
        ipv4: Option<IpAddr>,
        ipv6: Option<IpAddr>,
        mac: Option<MacAddr>,
    ) -> Result<Attachment, FerryError> {
        if self.stack_of(net) != Stack::Endpoints {
            return Err(FerryError::forbidden(format!(
                "network {} cannot be combined with other networks or given settings",
                net.name
            )));
        }
        if !aliases.is_empty() && net.builtin {
            return Err(FerryError::invalid(format!(
                "network-scoped aliases are supported only on user-defined networks, not on {}",
                net.name
            )));
        }
        if matches!(ipv4, Some(IpAddr::V6(_))) || matches!(ipv6, Some(IpAddr::V4(_))) {
            return Err(FerryError::invalid(
                "--ip takes an IPv4 address and --ip6 an IPv6 address",
            ));
        }
        Self::check_static(st, net, ipv4, ipv6)?;
        Ok(Attachment {
            network_id: net.id.clone(),
            aliases,
            ipv4,
            ipv6,
            mac,
            ifname: None,
        })
    }

    /// `create`: records a new sandbox (not started).
    pub async fn create_sandbox(
        &self,
        req: SandboxCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        let mut st = self.lock().await;
        self.create_locked(&mut st, req, None).await
    }

    /// `create`, with the state locked; `replica_of` marks a service's replica.
    pub(crate) async fn create_locked(
        &self,
        st: &mut State,
        req: SandboxCreateRequest,
        replica_of: Option<ferry_types::service::ReplicaOf>,
    ) -> Result<CreateResponse, FerryError> {
        // The start that follows (a Docker client's, a replica's) takes the standby.
        let (sb, warning, reserved) = self.new_reserved_sandbox(st, req, replica_of).await?;
        if let Err(e) = self.save_created(&sb).await {
            self.release_reserved(&reserved);
            return Err(e);
        }
        let id = sb.id.clone();
        st.put_sandbox(sb);
        if reserved.is_some() {
            // Its start may be a while coming (or never come): the pool makes up for it now.
            self.ready_pool.refill();
        }
        Ok(CreateResponse {
            id: id.into(),
            warning,
        })
    }

    /// A new sandbox (see [`Self::new_sandbox`]) with the ID of a standby made ahead, which
    /// stays reserved for its start, when one is ready and the sandbox owns a network
    /// namespace a standby has; else with an ID of its own. Returns the reservation too.
    async fn new_reserved_sandbox(
        &self,
        st: &mut State,
        req: SandboxCreateRequest,
        replica_of: Option<ferry_types::service::ReplicaOf>,
    ) -> Result<(Sandbox, String, Option<String>), FerryError> {
        let reserved = self.ready_pool.reserve();
        let made = self
            .new_sandbox(st, req, replica_of, reserved.clone().map(SandboxId::from))
            .await;
        let (sb, warning) = match made {
            Ok(m) => m,
            Err(e) => {
                self.release_reserved(&reserved);
                return Err(e);
            }
        };
        if !matches!(
            sb.config.network_mode,
            NetworkMode::Networks | NetworkMode::None
        ) {
            // Its process joins namespaces a standby does not have.
            self.release_reserved(&reserved);
            return Ok((sb, warning, None));
        }
        Ok((sb, warning, reserved))
    }

    /// Records a sandbox as created; a failure removes the directory [`Self::new_sandbox`]
    /// made for it.
    async fn save_created(&self, sb: &Sandbox) -> Result<(), FerryError> {
        let saved = match Self::put_sandbox_op(sb) {
            Ok(op) => self.save(vec![op]).await,
            Err(e) => Err(e),
        };
        if saved.is_err() {
            let _ = std::fs::remove_dir_all(self.cfg.sandbox_dir(&sb.id));
        }
        saved
    }

    /// `run -d`: creates a sandbox and starts it in one call. The record is first written
    /// with the start's intent (one store commit fewer than `create` then `start`): a crash
    /// before that commit leaves only a directory, which the sweep at the next start
    /// removes; one after it leaves a sandbox that reconcile finds not running, as after a
    /// crash in any start. A start that fails leaves the sandbox created, as `create` then
    /// `start` would, or removes it with `auto_remove`.
    pub async fn run_sandbox(
        &self,
        req: SandboxCreateRequest,
    ) -> Result<CreateResponse, FerryError> {
        let auto_remove = req.auto_remove;
        let mut guard = self.lock().await;
        // A standby made ahead, and the ID it was made for (see `ready_pool`).
        let (sb, warning, reserved) = self.new_reserved_sandbox(&mut guard, req, None).await?;
        let id = sb.id.clone();
        // Nobody knows the ID yet, so its lock is free: taken before the sandbox is seen.
        let _op = self.sandbox_locks.lock(&id).await;
        guard.put_sandbox(sb);
        let mut st = StateLock::releasable(&self.state, guard);
        let started = self.start_locked(&mut st, &id).await;
        // A start that failed before its namespaces were plumbed left the standby reserved.
        self.release_reserved(&reserved);
        let Err(e) = started else {
            return Ok(CreateResponse {
                id: id.into(),
                warning,
            });
        };
        // The record as `create` would have left it (a start that got as far as its intent
        // has saved it already; once more is harmless).
        if let Some(sb) = st.sandbox(&id).cloned() {
            if auto_remove {
                let _ = self.remove_locked(&mut st, sb, &[]).await;
            } else if self.save_created(&sb).await.is_err() {
                st.remove_sandbox(&id);
            }
        }
        Err(e)
    }

    /// Ends a standby `run` reserved and did not use.
    fn release_reserved(&self, reserved: &Option<String>) {
        if let Some(id) = reserved {
            self.ready_pool.release(id);
        }
    }

    /// A new sandbox as `create` makes it, with its directory, not yet recorded nor in the
    /// state; returns it with the create's warning. Its ID is `id` when given (one a standby
    /// was made for), else a new one.
    async fn new_sandbox(
        &self,
        st: &mut State,
        req: SandboxCreateRequest,
        replica_of: Option<ferry_types::service::ReplicaOf>,
        id: Option<SandboxId>,
    ) -> Result<(Sandbox, String), FerryError> {
        validate::sandbox_request(&req)?;
        let name = if req.name.is_empty() {
            let mut n = 0;
            loop {
                let cand = names::generate(random_bytes(), n);
                if !st.sandbox_name_taken(&cand) {
                    break cand;
                }
                n += 1;
            }
        } else {
            let n = req.name.strip_prefix('/').unwrap_or(&req.name).to_string();
            validate::object_name("sandbox", &n)?;
            if let Some(other) = st.find_sandbox(&n).ok().filter(|s| s.name == n) {
                return Err(FerryError::conflict(format!(
                    "the sandbox name \"/{n}\" is already in use by sandbox {}; remove it or choose another name",
                    other.id
                )));
            }
            n
        };
        let id: SandboxId = id.unwrap_or_else(new_id);
        let requests = if req.networks.is_empty() {
            vec![ferry_types::api::NetworkRequest {
                name: ferry_types::DEFAULT_BRIDGE.into(),
                ..Default::default()
            }]
        } else {
            req.networks.clone()
        };
        let mut mode = NetworkMode::Networks;
        let mut attachments = Vec::new();
        for r in &requests {
            let special = if let Some(target) = r.name.strip_prefix("container:") {
                let t = st.find_sandbox(target)?;
                if matches!(t.config.network_mode, NetworkMode::Container(_)) {
                    return Err(FerryError::invalid(format!(
                        "sandbox {} itself shares another sandbox's network namespace; join that one instead",
                        t.name
                    )));
                }
                Some(NetworkMode::Container(t.id.clone()))
            } else {
                match self.stack_of(st.find_network(&r.name)?) {
                    Stack::Host => Some(NetworkMode::Host),
                    Stack::Loopback => Some(NetworkMode::None),
                    Stack::Endpoints => None,
                }
            };
            if let Some(m) = special {
                if requests.len() > 1 {
                    return Err(FerryError::invalid(format!(
                        "--network {} cannot be combined with other networks",
                        r.name
                    )));
                }
                if !r.aliases.is_empty()
                    || r.ipv4_address.is_some()
                    || r.ipv6_address.is_some()
                    || r.mac_address.is_some()
                {
                    return Err(FerryError::invalid(format!(
                        "--network-alias, --ip, --ip6 and --mac-address cannot be used with --network {}",
                        r.name
                    )));
                }
                mode = m;
                continue;
            }
            let net = st.find_network(&r.name)?.clone();
            if replica_of.is_none() {
                self.check_attachable(&net)?;
            }
            if attachments
                .iter()
                .any(|a: &Attachment| a.network_id == net.id)
            {
                return Err(FerryError::invalid(format!(
                    "network {} is given twice",
                    net.name
                )));
            }
            let att = self.attachment(
                st,
                &net,
                r.aliases.clone(),
                parse_opt_ip("--ip", &r.ipv4_address)?,
                parse_opt_ip("--ip6", &r.ipv6_address)?,
                parse_opt_mac(&r.mac_address)?,
            )?;
            attachments.push(att);
        }
        if mode == NetworkMode::Networks {
            self.add_gateway_bridge(st, &mut attachments).await?;
        }
        let port_config = self.port_config(st, &req, &mode, &attachments)?;
        let extra_hosts = req
            .extra_hosts
            .iter()
            .map(|h| validate::extra_host(h))
            .collect::<Result<Vec<_>, _>>()?;
        let dns = req
            .dns
            .iter()
            .map(|d| validate::ip("--dns server", d))
            .collect::<Result<Vec<_>, _>>()?;
        let hostname = match (&mode, req.hostname.as_str()) {
            (NetworkMode::Container(t), "") => st
                .sandbox(t)
                .map(|t| t.config.hostname.clone())
                .unwrap_or_default(),
            (NetworkMode::Container(_), _) => {
                return Err(FerryError::invalid(
                    "--hostname cannot be used with --network container:NAME",
                ))
            }
            (NetworkMode::Host, "") => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            (_, "") => ferry_types::ids::short(&id).to_string(),
            // Checked by validate::sandbox_request.
            (_, h) => h.to_string(),
        };
        let absolute = |what: &str, p: &str| -> Result<Option<String>, FerryError> {
            if p.is_empty() {
                Ok(None)
            } else if !p.starts_with('/') {
                Err(FerryError::invalid(format!(
                    "{what} {p:?} must be an absolute path"
                )))
            } else {
                Ok(Some(p.to_string()))
            }
        };
        let links = Self::links(st, &req.links, &mode)?;
        let security = crate::sandbox::confine::parse_request(st, &req, self.cfg.init)?;
        let rootfs = absolute("rootfs", &req.rootfs)?;
        if let Some(r) = &rootfs {
            if !Path::new(r).is_dir() {
                return Err(FerryError::invalid(format!(
                    "rootfs {r} is not a directory"
                )));
            }
        }
        let sb = Sandbox {
            id: id.clone(),
            name,
            created: ferry_types::time::Timestamp::now(),
            config: SandboxConfig {
                cmd: req.cmd.clone(),
                env: req.env.clone(),
                workdir: absolute("working directory", &req.working_dir)?,
                hostname,
                domainname: req.domainname.clone(),
                rootfs,
                network_mode: mode,
                attachments,
                extra_hosts,
                dns,
                dns_search: req.dns_search.clone(),
                dns_options: req.dns_options.clone(),
                auto_remove: req.auto_remove,
                tty: req.tty,
                open_stdin: req.open_stdin,
                console_size: req.console_size,
                ports: port_config.ports,
                exposed: port_config.exposed,
                publish_all: port_config.publish_all,
                caller_holds_ports: false,
                labels: req.labels.clone(),
                links,
                replica_of,
                security,
            },
            state: SandboxState {
                status: Status::Created,
                pid: None,
                start_ticks: None,
                started_at: None,
                finished_at: None,
                exit_code: None,
                error: String::new(),
            },
            netns: None,
            netns_identity: None,
            endpoints: Vec::new(),
            ports: Vec::new(),
            embedded_dns: false,
            external_netns: None,
        };
        let dir = self.cfg.sandbox_dir(&id);
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::File::create(dir.join("output.log")).map(|_| ()))
            .and_then(|_| {
                std::fs::File::create(dir.join(crate::sandbox::log_times::FILE)).map(|_| ())
            })
            .map_err(|e| FerryError::internal(format!("create sandbox directory: {e}")))?;
        crate::crash_point::reached(crate::crash_point::SANDBOX_CREATE_DIR);
        Ok((sb, port_config.warning.unwrap_or_default()))
    }

    /// `start`.
    pub async fn start_sandbox(&self, reference: &str) -> Result<(), FerryError> {
        let (_op, mut st, id) = self.lock_sandbox(reference).await?;
        self.start_locked(&mut st, &id).await
    }

    pub(crate) async fn start_locked(
        &self,
        st: &mut StateLock<'_>,
        id: &str,
    ) -> Result<(), FerryError> {
        let started = self.start_planned(st, id).await;
        // Not before: making a namespace would compete with this start for the kernel's
        // locks and the CPU.
        self.ready_pool.refill();
        started
    }

    async fn start_planned(&self, st: &mut StateLock<'_>, id: &str) -> Result<(), FerryError> {
        let before = st
            .sandbox(id)
            .cloned()
            .ok_or_else(|| FerryError::not_found(format!("no such sandbox: {id}")))?;
        if before.is_running() {
            return Ok(());
        }
        for link in &before.config.links {
            match st.sandbox(&link.target) {
                Some(t) if t.is_running() => {}
                Some(t) => {
                    return Err(FerryError::conflict(format!(
                        "cannot link to sandbox {}: it is not running; start it first",
                        t.name
                    )))
                }
                None => {
                    return Err(FerryError::conflict(format!(
                        "cannot start {}: its --link target {} no longer exists",
                        before.name, link.alias
                    )))
                }
            }
        }
        let mut sb = before.clone();
        // Phase 1, pure: allocate and record the intent, so a crash from here on leaves a
        // record that reconcile can clean up after.
        let own_netns = sb.external_netns.is_none()
            && matches!(
                sb.config.network_mode,
                NetworkMode::Networks | NetworkMode::None
            );
        let mut touched = Vec::new();
        let shared_netns: Option<String> = match &sb.config.network_mode {
            NetworkMode::Container(t) => {
                let target = st.sandbox(t).ok_or_else(|| {
                    FerryError::conflict(format!(
                        "the sandbox whose network namespace {} shares no longer exists",
                        sb.name
                    ))
                })?;
                if !target.is_running() {
                    return Err(FerryError::conflict(format!(
                        "cannot join the network namespace of sandbox {}: it is not running",
                        target.name
                    )));
                }
                target.netns.clone()
            }
            _ => None,
        };
        if sb.config.network_mode == NetworkMode::Networks {
            for (i, att) in sb.config.attachments.clone().iter().enumerate() {
                let net = match st.network(&att.network_id) {
                    Some(n) => n.clone(),
                    None => {
                        for ep in &sb.endpoints {
                            Self::release_endpoint(st, ep);
                        }
                        return Err(FerryError::not_found(format!(
                            "network {} of sandbox {} no longer exists; disconnect it with ferry network disconnect",
                            att.network_id, sb.name
                        )));
                    }
                };
                let ifname = att.ifname.clone().unwrap_or_else(|| format!("eth{i}"));
                let mut made = self.allocate_endpoint(st, &net, att, ifname);
                if self.is_global(&net) {
                    if let Ok(ep) = made {
                        made = self.claim_endpoint_addresses(st, &net, att, ep).await;
                    }
                }
                match made {
                    Ok(ep) => {
                        touched.push(net.id.clone());
                        sb.endpoints.push(ep);
                    }
                    Err(e) => {
                        for ep in &sb.endpoints {
                            Self::release_endpoint(st, ep);
                        }
                        return Err(e.context(format!("network {}", net.name)));
                    }
                }
            }
        }
        // The embedded resolver serves this run if it starts on a network with names; a
        // connect to one while it runs turns it on later.
        sb.embedded_dns = self.uses_dns(st, &sb);
        let reservations = match self.publish(st, &sb) {
            Ok((published, held)) => {
                sb.ports = published;
                held
            }
            Err(e) => {
                for ep in &sb.endpoints {
                    Self::release_endpoint(st, ep);
                }
                return Err(e);
            }
        };
        // An own namespace gets its path once its process holds it (see bring_up).
        sb.netns = if own_netns {
            None
        } else {
            shared_netns.or_else(|| sb.external_netns.clone())
        };
        sb.state.status = Status::Running;
        sb.state.pid = None;
        sb.state.error.clear();
        if let Err(e) = self.save(Self::sandbox_ops(st, &sb, &touched)?).await {
            for ep in &sb.endpoints {
                Self::release_endpoint(st, ep);
            }
            self.unpublish(st, &sb.id);
            return Err(e);
        }
        st.put_sandbox(sb.clone());
        // Phase 2: the kernel and the process. The firewall knows the endpoints (anti-spoofing)
        // and ports before any veth exists.
        let up = match self.firewall.apply(&self.sandbox_changes(st, &sb, true)) {
            Ok(()) => self.bring_up(st, &mut sb, own_netns).await,
            Err(e) => Err(e),
        };
        match up {
            Ok(()) => {
                crate::crash_point::reached(crate::crash_point::SANDBOX_START_SPAWNED);
                self.hold(&sb.id, reservations);
                Self::flush_udp(&sb.ports);
                st.put_sandbox(sb.clone());
                self.save(vec![Self::put_sandbox_op(&sb)?]).await?;
                if let Some(r) = &sb.config.replica_of {
                    self.lb_refresh(st, &r.service, None);
                }
                if let (Some(me), Some(pid)) = (self.arc(), sb.state.pid) {
                    me.watch(sb.id.clone(), pid);
                }
                tracing::info!(sandbox = %sb.name, pid = ?sb.state.pid, "sandbox started");
                Ok(())
            }
            Err(e) => {
                self.tear_down(st, &sb).await;
                let mut failed = before;
                failed.state.error = e.message.clone();
                st.put_sandbox(failed.clone());
                let _ = self.save(Self::sandbox_ops(st, &failed, &touched)?).await;
                Err(e)
            }
        }
    }

    async fn bring_up(
        &self,
        st: &mut StateLock<'_>,
        sb: &mut Sandbox,
        own_netns: bool,
    ) -> Result<(), FerryError> {
        if let Some(path) = sb.external_netns.clone() {
            return self.bring_up_external(st, sb, Path::new(&path)).await;
        }
        // A new namespace is held by this file until the sandbox's process holds it: a crash
        // in between frees it, and its veth ends with it.
        let held = if own_netns {
            let ready = match self.ready_pool.take_for(&sb.id) {
                Some(r) => r,
                None => crate::sandbox::ready_pool::make(self.ready_pool.recipe(), false)
                    .await
                    .map_err(kernel_err)?,
            };
            let path = ready.netns();
            let ns = &ready.nl;
            for ep in sb.endpoints.clone() {
                let net = st
                    .network(&ep.network_id)
                    .cloned()
                    .ok_or_else(|| FerryError::internal("network vanished"))?;
                self.plug(
                    st,
                    &net,
                    &ep,
                    &SandboxNs {
                        path: &path,
                        nl: ns,
                    },
                )
                .await?;
            }
            Self::apply_default_routes(st, sb, ns).await?;
            self.dns_start(st, sb, &path)?;
            sb.netns = Some(path.display().to_string());
            Some(ready)
        } else {
            None
        };
        self.write_files(st, sb)?;
        let spec = self.spawn_spec(st, sb)?;
        if let Some(dir) = &spec.cgroup {
            process::cgroup::create(dir).map_err(kernel_err)?;
        }
        // What the process writes before its clock starts (`watch`) arrived from now on.
        let log = self.cfg.sandbox_dir(&sb.id).join("output.log");
        let mark = crate::sandbox::log_times::Mark {
            offset: crate::sandbox::log_times::len_of(&log),
            at: ferry_types::time::Timestamp::now(),
        };
        if let Err(e) = crate::sandbox::log_times::append(&log, mark) {
            tracing::debug!(sandbox = %sb.name, error = %e, "log time not kept");
        }
        // A standby made ahead becomes the sandbox's first process; one the sandbox does not
        // fit (a terminal, a shared PID namespace) only lent its network namespace, which
        // the new process holds once started.
        let (standby, namespace) = match held.map(|r| r.holder) {
            Some(Holder::Standby(s, _)) => (Some(s), None),
            Some(Holder::File(f)) => (None, Some(f)),
            None => (None, None),
        };
        let spawned = match standby {
            Some(s) if s.fits(&spec) => s.start(&spec),
            lender => {
                let spawned = process::spawn(&spec);
                if let Some(l) = lender {
                    // Its exit (tearing its namespaces down) is waited for off the start's path.
                    tokio::task::spawn_blocking(move || drop(l));
                }
                spawned
            }
        }
        .map_err(|e| {
            if let Some(dir) = &spec.cgroup {
                process::cgroup::remove(dir);
            }
            FerryError::invalid(format!("cannot start sandbox {}: {e}", sb.name))
        })?;
        let pid = spawned.pid;
        if let Some(master) = spawned.pty {
            self.keep_tty(&sb.id, master, log);
        }
        if own_netns {
            sb.netns = Some(netns::of_pid(pid).display().to_string());
        }
        sb.netns_identity = sb
            .netns
            .as_deref()
            .and_then(|p| netns::identity(Path::new(p)));
        // The process holds its namespace now.
        drop(namespace);
        sb.state.pid = Some(pid);
        sb.state.start_ticks = process::start_ticks(pid);
        sb.state.started_at = Some(ferry_types::time::Timestamp::now());
        sb.state.finished_at = None;
        sb.state.exit_code = None;
        Ok(())
    }

    pub(crate) fn write_files(&self, st: &State, sb: &Sandbox) -> Result<(), FerryError> {
        if matches!(sb.config.network_mode, NetworkMode::Container(_)) {
            return Ok(());
        }
        let dir = self.cfg.sandbox_dir(&sb.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| FerryError::internal(format!("create {}: {e}", dir.display())))?;
        self.write_hosts(st, sb)?;
        self.write_resolv(st, sb)?;
        write_in_place(&dir.join("hostname"), &format!("{}\n", sb.config.hostname))
    }

    /// (Re)writes a sandbox's resolv.conf in place (it is bind-mounted, like /etc/hosts):
    /// 127.0.0.11 when the embedded resolver serves it, else the host's servers.
    fn write_resolv(&self, st: &State, sb: &Sandbox) -> Result<(), FerryError> {
        let dir = self.cfg.sandbox_dir(&sb.id);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let servers = if sb.config.dns.is_empty() {
            &self.cfg.dns
        } else {
            &sb.config.dns
        };
        let search = if sb.config.dns_search.is_empty() {
            &self.cfg.dns_search
        } else {
            &sb.config.dns_search
        };
        let options = if sb.config.dns_options.is_empty() {
            &self.cfg.dns_opts
        } else {
            &sb.config.dns_options
        };
        let overrides = etc_files::DnsOverrides {
            servers,
            search,
            options,
        };
        let resolv = if self.serves_dns(st, sb) {
            etc_files::render_resolv_embedded(&host_resolv, &overrides, &self.upstreams(sb))
        } else {
            etc_files::render_resolv(
                &host_resolv,
                &overrides,
                sb.config.network_mode != NetworkMode::Host,
            )
        };
        write_in_place(&dir.join("resolv.conf"), &resolv)
    }

    fn spawn_spec(&self, st: &State, sb: &Sandbox) -> Result<SpawnSpec, FerryError> {
        // Files come from the sandbox itself, or from the one whose namespace it shares.
        let files_of = match &sb.config.network_mode {
            NetworkMode::Container(t) => t.clone(),
            _ => sb.id.clone(),
        };
        let dir = self.cfg.sandbox_dir(&files_of);
        let root = sb.config.rootfs.as_deref().map(PathBuf::from);
        let sec = &sb.config.security;
        let in_root = |t: &Path| match &root {
            Some(r) => r.join(t.strip_prefix("/").unwrap_or(t)),
            None => t.to_path_buf(),
        };
        let mut binds: Vec<BindMount> = ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|f| BindMount {
                source: dir.join(f),
                target: PathBuf::from("/etc").join(f),
                read_only: false,
            })
            .filter(|b| b.source.exists() && in_root(&b.target).exists())
            .collect();
        for b in &sec.binds {
            let target = PathBuf::from(&b.target);
            if root.is_some() && !in_root(&target).exists() {
                // As Docker makes a volume's mount point in the container's filesystem.
                let t = in_root(&target);
                let made = if Path::new(&b.source).is_dir() {
                    std::fs::create_dir_all(&t)
                } else {
                    t.parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::File::create(&t).map(|_| ()))
                };
                made.map_err(|e| {
                    FerryError::invalid(format!(
                        "volume {}: cannot make its mount point {} in the root filesystem: {e}",
                        b.spec(),
                        t.display()
                    ))
                })?;
            }
            binds.push(BindMount {
                source: PathBuf::from(&b.source),
                target,
                read_only: b.read_only,
            });
        }
        let mut env = sb.config.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={}", ferry_types::DEFAULT_PATH));
        }
        if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
            env.push(format!("HOSTNAME={}", sb.config.hostname));
        }
        let shared = |mode: &NamespaceMode, kind: &str| -> Result<Ns, FerryError> {
            Ok(match mode {
                NamespaceMode::Private => Ns::New,
                NamespaceMode::Host => Ns::Host,
                NamespaceMode::Sandbox(id) => {
                    let pid = st
                        .sandbox(id)
                        .filter(|t| t.is_running())
                        .and_then(|t| t.state.pid)
                        .ok_or_else(|| {
                            FerryError::conflict(format!(
                                "the sandbox whose {kind} namespace {} shares is not running; start it first",
                                sb.name
                            ))
                        })?;
                    Ns::Join(PathBuf::from(format!("/proc/{pid}/ns/{kind}")))
                }
            })
        };
        let (net, uts) = match &sb.config.network_mode {
            NetworkMode::Host => (Ns::Host, Ns::Host),
            _ => (
                sb.netns
                    .as_ref()
                    .map_or(Ns::Host, |p| Ns::Join(PathBuf::from(p))),
                Ns::New,
            ),
        };
        // ferry's own state: a sandbox on the host's root must not reach the daemon.
        let mut hide = vec![self.cfg.data_root.clone(), self.cfg.exec_root.clone()];
        if !hide.iter().any(|h| self.cfg.socket.starts_with(h)) {
            hide.push(self.cfg.socket.clone());
        }
        let confinement =
            crate::sandbox::confine::confinement(sec, root.as_deref().unwrap_or(Path::new("/")))?;
        Ok(SpawnSpec {
            argv: sb.config.cmd.clone(),
            env,
            workdir: sb.config.workdir.clone(),
            net,
            pid: shared(&sec.pid, "pid")?,
            ipc: shared(&sec.ipc, "ipc")?,
            uts,
            cgroupns: Ns::New,
            hostname: Some(sb.config.hostname.clone()),
            domainname: (!sb.config.domainname.is_empty()).then(|| sb.config.domainname.clone()),
            cgroup: self.cgroups.sandbox_for(&sb.id, sec.privileged),
            mounts: Mounts::New {
                request: process::mounts::MountRequest {
                    rootfs: root,
                    privileged: sec.privileged,
                    read_only: sec.read_only,
                    hide,
                    ..Default::default()
                },
                binds,
            },
            confinement,
            init: if sec.init {
                self.init_binary.clone()
            } else {
                None
            },
            new_session: true,
            stdio: if sb.config.tty {
                process::Stdio::Tty {
                    size: sb.config.console_size,
                }
            } else {
                process::Stdio::Log(self.cfg.sandbox_dir(&sb.id).join("output.log"))
            },
        })
    }

    /// Undoes a sandbox's networking: its endpoints and their addresses. Its namespace ends
    /// with the last process in it.
    pub(crate) async fn tear_down(&self, st: &mut State, sb: &Sandbox) {
        // A replica leaves its service's load balancer first, so no new connection meets it.
        if let Some(r) = &sb.config.replica_of {
            self.lb_refresh(st, &r.service, Some(&sb.id));
        }
        if let Err(e) = self.firewall.apply(&self.sandbox_changes(st, sb, false)) {
            // The next start rebuilds the tables from the store, without these elements.
            tracing::warn!(sandbox = %sb.name, error = %e, "firewall elements not removed");
        }
        Self::flush_udp(&sb.ports);
        self.unpublish(st, &sb.id);
        self.dns_stop(sb);
        // The namespace goes with the sandbox's last process, and interfaces in it; one a
        // caller attached stays, and its interfaces are taken out of it.
        let external = Self::live_external_netns(sb);
        for ep in &sb.endpoints {
            if let Some(net) = st.network(&ep.network_id) {
                if let Err(e) = self.unplug(net, ep, external.as_deref()).await {
                    tracing::warn!(sandbox = %sb.name, error = %e, "endpoint not removed");
                }
            }
            Self::release_endpoint(st, ep);
        }
    }

    /// Watches a running sandbox's process and records its exit. Unless the daemon reads its
    /// terminal, its output log's growth is timed meanwhile.
    pub(crate) fn watch(self: std::sync::Arc<Self>, id: SandboxId, pid: u32) {
        let drained = self.tty_drained(&id);
        let clock = match (&drained, self.log_clocks()) {
            (None, Some(clocks)) => clocks
                .watch(self.cfg.sandbox_dir(&id).join("output.log"))
                .map(|wd| (clocks, wd)),
            _ => None,
        };
        tokio::spawn(async move {
            let code = match Pidfd::open(pid) {
                Ok(fd) => fd.wait().await,
                Err(_) => None,
            };
            if let Some((clocks, wd)) = clock {
                clocks.stop(wd);
            }
            // Its last output is in the log before the exit is told: a client that reads
            // the log to the end of the run misses none. Something the process left behind
            // may hold the terminal; it goes in `on_exit`.
            if let Some(mut d) = drained {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), d.wait_for(|done| *done)).await;
            }
            self.on_exit(&id, pid, code).await;
        });
    }

    fn log_clocks(&self) -> Option<std::sync::Arc<crate::sandbox::log_times::Clocks>> {
        self.log_clocks
            .get_or_init(|| match crate::sandbox::log_times::Clocks::start() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "output log times not kept: inotify unavailable");
                    None
                }
            })
            .clone()
    }

    async fn on_exit(&self, id: &str, pid: u32, code: Option<i32>) {
        let _op = self.sandbox_locks.lock(id).await;
        let mut st = self.lock().await;
        let Some(sb) = st.sandbox(id).cloned() else {
            return;
        };
        if !sb.is_running() || sb.state.pid != Some(pid) {
            return;
        }
        // What the process left behind goes with it, as in a container.
        self.kill_leftovers(&sb.id, pid);
        let error = code.is_none().then(|| {
            "exit status unknown: the process was adopted after a daemon restart".to_string()
        });
        tracing::info!(sandbox = %sb.name, code = ?code, "sandbox exited");
        self.finish_exit(&mut st, sb, code.unwrap_or(255), error)
            .await;
        self.exits.send_modify(|g| *g += 1);
    }

    /// Kills whatever a sandbox whose first process `pid` ended left running (its cgroup, or
    /// its process group without a cgroup tree) and removes its cgroup.
    pub(crate) fn kill_leftovers(&self, id: &str, pid: u32) {
        match self.cgroups.sandbox(id) {
            Some(dir) => {
                if !process::cgroup::kill_and_remove(&dir, Duration::from_millis(200)) {
                    // Processes stuck in the kernel leave later; a daemon start sweeps it.
                    tracing::debug!(cgroup = %dir.display(), "sandbox cgroup not removed yet");
                }
            }
            None => {
                if let Err(e) = process::kill_group(pid) {
                    tracing::warn!(sandbox = %id, error = %e, "leftover processes not killed");
                }
            }
        }
    }

    /// Records that a sandbox's process ended: its networking is undone, its state becomes
    /// exited, and it is removed (`--rm`) or saved.
    pub(crate) async fn finish_exit(
        &self,
        st: &mut State,
        mut sb: Sandbox,
        code: i32,
        error: Option<String>,
    ) {
        self.tear_down(st, &sb).await;
        let touched: Vec<NetworkId> = sb.endpoints.iter().map(|e| e.network_id.clone()).collect();
        sb.endpoints.clear();
        sb.ports.clear();
        sb.netns = None;
        sb.netns_identity = None;
        sb.state.status = Status::Exited;
        sb.state.pid = None;
        sb.state.start_ticks = None;
        sb.state.finished_at = Some(ferry_types::time::Timestamp::now());
        sb.state.exit_code = Some(code);
        if let Some(e) = error {
            sb.state.error = e;
        }
        let saved = if sb.config.auto_remove {
            st.remember_exit(&sb.id, code);
            self.remove_locked(st, sb.clone(), &touched).await
        } else {
            st.put_sandbox(sb.clone());
            match Self::sandbox_ops(st, &sb, &touched) {
                Ok(ops) => self.save(ops).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = saved {
            tracing::error!(sandbox = %sb.name, error = %e, "exit not recorded");
        }
    }

    /// `stop`: SIGTERM, then SIGKILL after `timeout`.
    pub async fn stop_sandbox(&self, reference: &str, timeout: Duration) -> Result<(), FerryError> {
        let (id, pid) = {
            // Its lock, so that a start in progress finishes first; let go before waiting,
            // as the exit is recorded under it.
            let (_op, st, id) = self.lock_sandbox(reference).await?;
            let sb = st.find_sandbox(&id)?;
            Self::refuse_external(sb, "stopped")?;
            match (sb.is_running(), sb.state.pid) {
                (true, Some(pid)) => (sb.id.clone(), pid),
                _ => return Ok(()),
            }
        };
        let sig = if timeout.is_zero() {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        process::signal(pid, sig).map_err(kernel_err)?;
        if self.wait_stopped(&id, pid, timeout).await {
            return Ok(());
        }
        process::signal(pid, libc::SIGKILL).map_err(kernel_err)?;
        if self.wait_stopped(&id, pid, Duration::from_secs(10)).await {
            Ok(())
        } else {
            Err(FerryError::internal(format!(
                "sandbox {reference} did not stop after SIGKILL"
            )))
        }
    }

    /// `kill`: sends `signal` to the sandbox's process (its exit is recorded as any exit).
    pub async fn kill_sandbox(&self, reference: &str, signal: i32) -> Result<(), FerryError> {
        let (_op, st, id) = self.lock_sandbox(reference).await?;
        let sb = st.find_sandbox(&id)?;
        Self::refuse_external(sb, "killed")?;
        match (sb.is_running(), sb.state.pid) {
            (true, Some(pid)) => process::signal(pid, signal).map_err(kernel_err),
            _ => Err(FerryError::conflict(format!(
                "sandbox {} is not running",
                sb.name
            ))),
        }
    }

    async fn wait_stopped(&self, id: &str, pid: u32, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout.max(Duration::from_millis(1));
        let mut rx = self.exits.subscribe();
        loop {
            {
                let st = self.lock().await;
                match st.sandbox(id) {
                    Some(sb) if sb.is_running() && sb.state.pid == Some(pid) => {}
                    _ => return true,
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// `restart`.
    pub async fn restart_sandbox(
        &self,
        reference: &str,
        timeout: Duration,
    ) -> Result<(), FerryError> {
        self.stop_sandbox(reference, timeout).await?;
        self.start_sandbox(reference).await
    }

    /// `rm`: a running sandbox needs `force` (it is killed first).
    pub async fn remove_sandbox(&self, reference: &str, force: bool) -> Result<(), FerryError> {
        {
            let (_op, mut st, id) = self.lock_sandbox(reference).await?;
            let sb = st.find_sandbox(&id)?.clone();
            if sb.external_netns.is_some() && (force || !sb.is_running()) {
                // ferry runs nothing there: removing it is detaching it from every network.
                return self.detach_all(&mut st, sb).await;
            }
            if sb.is_running() && !force {
                return Err(FerryError::conflict(format!(
                    "cannot remove running sandbox {}: stop it first or use rm -f",
                    sb.name
                )));
            }
            let shared = NetworkMode::Container(sb.id.clone());
            let user = st
                .sandboxes()
                .find(|o| o.is_running() && o.config.network_mode == shared)
                .map(|u| u.name.clone());
            if let (Some(user), false) = (user, force) {
                return Err(FerryError::conflict(format!(
                    "sandbox {user} shares the network namespace of {}: remove it first or use rm -f",
                    sb.name
                )));
            }
        }
        self.stop_sandbox(reference, Duration::ZERO).await?;
        let Ok((_op, mut st, id)) = self.lock_sandbox(reference).await else {
            return Ok(()); // removed on exit (--rm)
        };
        let Some(sb) = st.sandbox(&id).cloned() else {
            return Ok(());
        };
        self.remove_locked(&mut st, sb, &[]).await
    }

    pub(crate) async fn remove_locked(
        &self,
        st: &mut State,
        sb: Sandbox,
        touched: &[NetworkId],
    ) -> Result<(), FerryError> {
        let mut ops = vec![Op::delete(Table::Sandboxes, &sb.id)];
        for id in touched {
            if let Some(n) = st.network(id) {
                let mut n = n.clone();
                n.ipam_cursors = st.ipam_cursors(id);
                ops.push(Self::put_network_op(&n)?);
            }
        }
        self.save(ops).await?;
        crate::crash_point::reached(crate::crash_point::SANDBOX_RM_SAVED);
        st.remove_sandbox(&sb.id);
        // A sandbox created and never started still holds the standby made for it.
        self.ready_pool.release(&sb.id);
        // A crash before this line leaves the directory to the sweep at the next start.
        let _ = std::fs::remove_dir_all(self.cfg.sandbox_dir(&sb.id));
        tracing::info!(sandbox = %sb.name, "sandbox removed");
        Ok(())
    }

    /// `wait`: blocks until the sandbox's process is not running and returns its exit code.
    /// With `next_exit`, a sandbox that is not running yet is waited for until a run of it ends
    /// (how `run` waits, registering before `start`).
    pub async fn wait_sandbox(
        &self,
        id: &SandboxId,
        next_exit: bool,
    ) -> Result<WaitResponse, FerryError> {
        let mut rx = self.exits.subscribe();
        let first_end = self.lock().await.sandbox(id).map(|s| s.state.finished_at);
        loop {
            {
                let st = self.lock().await;
                match st.sandbox(id) {
                    Some(sb) if sb.is_running() => {}
                    Some(sb) if next_exit && Some(sb.state.finished_at) == first_end => {}
                    Some(sb) => {
                        return Ok(WaitResponse {
                            status_code: i64::from(sb.state.exit_code.unwrap_or(0)),
                            error: (!sb.state.error.is_empty()).then(|| WaitError {
                                message: sb.state.error.clone(),
                            }),
                        })
                    }
                    None => {
                        return match st.recent_exit(id) {
                            Some(c) => Ok(WaitResponse {
                                status_code: i64::from(c),
                                error: None,
                            }),
                            None => Err(FerryError::not_found(format!("no such sandbox: {id}"))),
                        }
                    }
                }
            }
            if rx.changed().await.is_err() {
                return Err(FerryError::internal("daemon is shutting down"));
            }
        }
    }

    /// Resolves a reference to a full ID.
    pub async fn sandbox_id(&self, reference: &str) -> Result<SandboxId, FerryError> {
        Ok(self.lock().await.find_sandbox(reference)?.id.clone())
    }

    /// `network connect`.
    pub async fn connect(
        &self,
        network: &str,
        req: NetworkConnectRequest,
    ) -> Result<(), FerryError> {
        let (_op, mut st, id) = self.lock_sandbox(&req.container).await?;
        let req = NetworkConnectRequest {
            container: id.to_string(),
            ..req
        };
        self.connect_locked(&mut st, network, req, None).await
    }

    /// `network connect` with the state locked, the interface named `ifname` when given.
    pub(crate) async fn connect_locked(
        &self,
        st: &mut StateLock<'_>,
        network: &str,
        req: NetworkConnectRequest,
        ifname: Option<String>,
    ) -> Result<(), FerryError> {
        let net = st.find_network(network)?.clone();
        let mut sb = st.find_sandbox(&req.container)?.clone();
        if sb.config.replica_of.is_none() {
            self.check_attachable(&net)?;
        }
        if self.stack_of(&net) != Stack::Endpoints {
            return Err(FerryError::forbidden(format!(
                "sandboxes cannot be connected to the {} network; start them with --network {} instead",
                net.name, net.name
            )));
        }
        match &sb.config.network_mode {
            NetworkMode::Networks => {}
            NetworkMode::Host => {
                return Err(FerryError::forbidden(format!(
                "sandbox {} uses the host's network namespace and cannot be connected to networks",
                sb.name
            )))
            }
            NetworkMode::None => {
                return Err(FerryError::forbidden(format!(
                    "sandbox {} runs with --network none and cannot be connected to networks",
                    sb.name
                )))
            }
            NetworkMode::Container(t) => {
                let owner = st
                    .sandbox(t)
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| t.to_string());
                return Err(FerryError::forbidden(format!(
                    "sandbox {} shares the network namespace of {owner}; connect {owner} instead",
                    sb.name
                )));
            }
        }
        if sb.config.attachments.iter().any(|a| a.network_id == net.id) {
            return Err(FerryError::forbidden(format!(
                "sandbox {} is already connected to network {}",
                sb.name, net.name
            )));
        }
        let cfg = req.endpoint_config.unwrap_or_default();
        for a in cfg.aliases.iter().flatten() {
            validate::alias(a)?;
        }
        let ipam = cfg.ipam_config.unwrap_or_default();
        let mut att = self.attachment(
            st,
            &net,
            cfg.aliases.unwrap_or_default(),
            parse_opt_ip("--ip", &ipam.ipv4_address)?,
            parse_opt_ip("--ip6", &ipam.ipv6_address)?,
            parse_opt_mac(&cfg.mac_address)?,
        )?;
        att.ifname = ifname;
        let before = sb.clone();
        sb.config.attachments.push(att.clone());
        if !sb.is_running() {
            self.save(vec![Self::put_sandbox_op(&sb)?]).await?;
            st.put_sandbox(sb);
            return Ok(());
        }
        let netns_path = sb.netns.clone().ok_or_else(|| {
            FerryError::internal(format!(
                "running sandbox {} has no network namespace",
                sb.name
            ))
        })?;
        let ifname = att.ifname.clone().unwrap_or_else(|| Self::free_ifname(&sb));
        let mut ep = self.allocate_endpoint(st, &net, &att, ifname)?;
        if self.is_global(&net) {
            ep = self.claim_endpoint_addresses(st, &net, &att, ep).await?;
        }
        sb.endpoints.push(ep.clone());
        // A sandbox not served by the embedded resolver yet (one on the default bridge) gets
        // it with its first network with names, as in Docker: listeners in its namespace and
        // 127.0.0.11 in its resolv.conf, for the rest of this run.
        let opens_resolver = self.has_dns(&net) && !self.serves_dns(st, &before);
        if opens_resolver {
            sb.embedded_dns = true;
        }
        let touched = [net.id.clone()];
        if let Err(e) = self.save(Self::sandbox_ops(st, &sb, &touched)?).await {
            Self::release_endpoint(st, &ep);
            return Err(e);
        }
        st.put_sandbox(sb.clone());
        let plugged = async {
            let mut elements = ferry_firewall::Changes::new();
            self.endpoint_changes(&mut elements, &net, &ep, true);
            self.firewall.apply(&elements)?;
            let ns = Netlink::connect_in(Path::new(&netns_path)).map_err(kernel_err)?;
            let path = Path::new(&netns_path);
            self.plug(st, &net, &ep, &SandboxNs { path, nl: &ns })
                .await?;
            Self::apply_default_routes(st, &sb, &ns).await?;
            self.write_hosts(st, &sb)?;
            if opens_resolver {
                self.dns_start(st, &sb, Path::new(&netns_path))?;
                self.write_resolv(st, &sb)?;
            }
            Ok::<(), FerryError>(())
        };
        if let Err(e) = plugged.await {
            if opens_resolver {
                self.dns_stop(&sb);
                if let Err(e) = self.write_resolv(st, &before) {
                    tracing::warn!(sandbox = %sb.name, error = %e, "resolv.conf not restored");
                }
            }
            let mut elements = ferry_firewall::Changes::new();
            self.endpoint_changes(&mut elements, &net, &ep, false);
            let _ = self.firewall.apply(&elements);
            let _ = self.unplug_now(&net, &ep, Path::new(&netns_path)).await;
            Self::release_endpoint(st, &ep);
            st.put_sandbox(before.clone());
            let _ = self.save(Self::sandbox_ops(st, &before, &touched)?).await;
            return Err(e);
        }
        if !opens_resolver && self.serves_dns(st, &sb) {
            self.dns_add_endpoint(&net, &sb, &ep);
        }
        tracing::info!(sandbox = %sb.name, network = %net.name, "connected");
        Ok(())
    }

    /// `network disconnect`.
    pub async fn disconnect(
        &self,
        network: &str,
        req: NetworkDisconnectRequest,
    ) -> Result<(), FerryError> {
        let (_op, mut st, id) = self.lock_sandbox(&req.container).await?;
        let req = NetworkDisconnectRequest {
            container: id.to_string(),
            ..req
        };
        self.disconnect_locked(&mut st, network, req).await
    }

    /// `network disconnect` with the state locked.
    pub(crate) async fn disconnect_locked(
        &self,
        st: &mut State,
        network: &str,
        req: NetworkDisconnectRequest,
    ) -> Result<(), FerryError> {
        let net = st.find_network(network)?.clone();
        let mut sb = st.find_sandbox(&req.container)?.clone();
        if sb.config.replica_of.is_none() {
            self.check_attachable(&net)?;
        }
        if !sb.config.attachments.iter().any(|a| a.network_id == net.id) {
            return Err(FerryError::not_found(format!(
                "sandbox {} is not connected to network {}",
                sb.name, net.name
            )));
        }
        sb.config.attachments.retain(|a| a.network_id != net.id);
        // A served sandbox stays served without its last network with names (Docker keeps
        // 127.0.0.11 too), its other queries forwarded while it can reach the outside.
        if sb.is_running() && self.serves_dns(st, &sb) {
            sb.embedded_dns = true;
        }
        let ep = sb.endpoint_on(&net.id).cloned();
        sb.endpoints.retain(|e| e.network_id != net.id);
        let Some(ep) = ep else {
            self.save(vec![Self::put_sandbox_op(&sb)?]).await?;
            st.put_sandbox(sb);
            return Ok(());
        };
        // Ports lead to an address of this endpoint: they go with it.
        let addrs: Vec<IpAddr> = ep
            .ipv4
            .iter()
            .chain(ep.ipv6.iter())
            .map(|a| a.addr())
            .collect();
        let ports: Vec<_> = if sb.ports.iter().any(|p| addrs.contains(&p.target)) {
            std::mem::take(&mut sb.ports)
        } else {
            Vec::new()
        };
        self.save(Self::sandbox_ops(st, &sb, &[])?).await?;
        let mut changes = ferry_firewall::Changes::new();
        self.endpoint_changes(&mut changes, &net, &ep, false);
        for p in &ports {
            changes.remove_port(p);
        }
        if let Err(e) = self.firewall.apply(&changes) {
            tracing::warn!(sandbox = %sb.name, error = %e, "firewall elements not removed");
        }
        if !ports.is_empty() {
            Self::flush_udp(&ports);
            self.unpublish(st, &sb.id);
        }
        self.dns_remove_endpoint(&net.id, &sb.id);
        // The record says disconnected from here on: a failure to remove the interface leaves
        // an orphan (cut off from the firewall's sets above), which the sweep at the next
        // start removes; it must not leave the state in memory behind the store's.
        let netns = Self::live_netns(&sb);
        if let Err(e) = self.unplug(&net, &ep, netns.as_deref()).await {
            tracing::warn!(sandbox = %sb.name, network = %net.name, error = %e, "endpoint's interface not removed");
        }
        Self::release_endpoint(st, &ep);
        st.put_sandbox(sb.clone());
        if let Some(p) = &netns {
            let ns = Netlink::connect_in(p).map_err(kernel_err)?;
            Self::apply_default_routes(st, &sb, &ns).await?;
        }
        self.write_hosts(st, &sb)?;
        tracing::info!(sandbox = %sb.name, network = %net.name, "disconnected");
        Ok(())
    }

    /// The firewall elements of a sandbox's endpoints and ports, added or removed.
    fn sandbox_changes(&self, st: &State, sb: &Sandbox, add: bool) -> ferry_firewall::Changes {
        let mut c = ferry_firewall::Changes::new();
        for ep in &sb.endpoints {
            if let Some(net) = st.network(&ep.network_id) {
                self.endpoint_changes(&mut c, net, ep, add);
            }
        }
        for p in &sb.ports {
            if add {
                c.add_port(p);
            } else {
                c.remove_port(p);
            }
        }
        c
    }

    /// Forgets UDP flows to published host ports, so that datagrams of a flow that began
    /// before a mapping changed go to the new backend instead of following a stale entry.
    fn flush_udp(ports: &[ferry_types::ports::PublishedPort]) {
        let mut done = std::collections::HashSet::new();
        for p in ports {
            if p.container.proto == ferry_types::ports::Proto::Udp && done.insert(p.host_port) {
                if let Err(e) = ferry_kernel::conntrack::flush_udp_dport(p.host_port) {
                    tracing::warn!(port = p.host_port, error = %e, "conntrack entries not flushed");
                }
            }
        }
    }

    /// `ps`: the sandboxes that pass the filter (`all`: stopped ones too), newest first.
    pub async fn list_sandboxes(
        &self,
        all: bool,
        filter: &SandboxFilter,
    ) -> Result<Vec<SandboxView>, FerryError> {
        let st = self.lock().await;
        let mut out: Vec<SandboxView> = st
            .sandboxes()
            .filter(|s| all || s.is_running())
            .filter(|s| filter.matches(s))
            .map(|s| self.sandbox_view(&st, s))
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.sandbox.created));
        Ok(out)
    }

    /// `inspect`.
    pub async fn inspect_sandbox(&self, reference: &str) -> Result<SandboxView, FerryError> {
        let st = self.lock().await;
        let sb = st.find_sandbox(reference)?;
        Ok(self.sandbox_view(&st, sb))
    }

    /// The sandbox's full ID and the path of its output log.
    pub async fn log_source(&self, reference: &str) -> Result<(SandboxId, PathBuf), FerryError> {
        let st = self.lock().await;
        let sb = st.find_sandbox(reference)?;
        Ok((
            sb.id.clone(),
            self.cfg.sandbox_dir(&sb.id).join("output.log"),
        ))
    }

    /// Whether a sandbox's process runs (false once it is gone).
    pub async fn is_running(&self, id: &SandboxId) -> bool {
        self.lock()
            .await
            .sandbox(id)
            .is_some_and(|s| s.is_running())
    }

    /// When the sandbox's last run ended (`None` inside when it never ended; `None` outside
    /// when the sandbox is gone).
    pub async fn last_end(&self, id: &SandboxId) -> Option<Option<ferry_types::time::Timestamp>> {
        self.lock().await.sandbox(id).map(|s| s.state.finished_at)
    }

    /// Whether a run ended since `first_end` was read (or the sandbox is gone).
    pub async fn run_ended_since(
        &self,
        id: &SandboxId,
        first_end: &Option<Option<ferry_types::time::Timestamp>>,
    ) -> bool {
        let st = self.lock().await;
        match st.sandbox(id) {
            None => true,
            Some(sb) if sb.is_running() => false,
            Some(sb) => Some(sb.state.finished_at) != *first_end,
        }
    }

    /// A receiver that changes whenever a sandbox exits.
    pub fn exit_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.exits.subscribe()
    }

    /// What `ferry exec` needs to enter a running sandbox.
    pub async fn exec_target(&self, reference: &str) -> Result<ExecTarget, FerryError> {
        let st = self.lock().await;
        let sb = st.find_sandbox(reference)?;
        Self::refuse_external(sb, "entered with exec")?;
        let pid = match (sb.is_running(), sb.state.pid) {
            (true, Some(p)) => p,
            _ => {
                return Err(FerryError::conflict(format!(
                    "sandbox {} is not running: start it first",
                    sb.name
                )))
            }
        };
        Ok(ExecTarget {
            pid,
            rootfs: sb.config.rootfs.clone().unwrap_or_default(),
            env: sb.config.env.clone(),
            working_dir: sb.config.workdir.clone().unwrap_or_default(),
            // An exec'd process is confined as the sandbox's own are: a weaker one would be
            // a way out for them (ptrace it, use its capabilities).
            caps: crate::sandbox::confine::capabilities(&sb.config.security)?,
            seccomp: match &sb.config.security.seccomp {
                ferry_types::security::Seccomp::Unconfined => None,
                s => Some(s.clone()),
            },
            no_new_privileges: sb.config.security.no_new_privileges,
            user: sb.config.security.user.clone(),
        })
    }

    /// Loads the sandboxes of the store into the state.
    pub(crate) async fn load_sandboxes(&self, st: &mut State) -> Result<(), FerryError> {
        for sb in ferry_store::list_json::<Sandbox>(self.store.as_ref(), Table::Sandboxes)
            .await
            .map_err(store_err)?
        {
            st.put_sandbox(sb);
        }
        Ok(())
    }
}

//! Sandboxes ferry did not start (`network attach` / `network detach`): a caller (a CNI
//! plugin, a Docker network plugin, a user with `ip netns`) hands ferry a network namespace
//! and its own ID for the container, and ferry gives it endpoints there with everything its
//! own sandboxes get: IPAM, DNS names and aliases, firewall and anti-spoofing, published
//! ports. The record is a sandbox marked with the namespace's path; ferry runs no process in
//! it, so it cannot be stopped or entered, only detached. It lives as long as the namespace:
//! a start finds the ones whose namespace is gone and removes them.

use super::locks::StateLock;
use super::Controller;
use crate::driver::SandboxNs;
use crate::drivers::kernel_err;
use crate::state::State;
use ferry_kernel::netlink::Netlink;
use ferry_kernel::netns;
use ferry_types::api::{
    AttachResponse, Attachment, EndpointIpamConfig, EndpointSettingsRequest, NetworkAttachRequest,
    NetworkConnectRequest, NetworkDetachRequest, NetworkDisconnectRequest, NetworkNamesRequest,
    NetworkRequest, SandboxCreateRequest,
};
use ferry_types::{validate, FerryError, NetworkId, Sandbox, SandboxId};
use std::path::{Path, PathBuf};

/// What the record of an attached container shows for a command.
const ATTACHED_CMD: &str = "(attached)";

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Controller {
    /// `network attach`: an endpoint of the network in the caller's namespace.
    pub async fn attach(
        &self,
        network: &str,
        req: NetworkAttachRequest,
    ) -> Result<AttachResponse, FerryError> {
        validate::object_name("container ID", &req.id)?;
        if !req.netns.starts_with('/') {
            return Err(FerryError::invalid(format!(
                "netns {:?} must be the absolute path of a network namespace (/run/netns/NAME, /proc/PID/ns/net)",
                req.netns
            )));
        }
        if !req.ifname.is_empty() {
            validate::interface_name(&req.ifname).map_err(|e| e.context("--ifname"))?;
        }
        let path = Path::new(&req.netns);
        let identity = netns::identity(path).ok_or_else(|| {
            FerryError::not_found(format!("network namespace {} does not exist", req.netns))
        })?;
        if netns::identity(Path::new("/proc/self/ns/net")) == Some(identity) {
            return Err(FerryError::forbidden(format!(
                "{} is the host's own network namespace: attach a container's namespace",
                req.netns
            )));
        }
        // Entering it is what tells a namespace from any other file.
        let ns = Netlink::connect_in(path).map_err(|e| {
            FerryError::invalid(format!(
                "{} is not a network namespace ferry can enter: {e}",
                req.netns
            ))
        })?;
        // An attached container's own lock first, as for any operation on a sandbox.
        let _op = self.lock_attached(&req.id).await;
        let mut st = self.lock().await;
        let net = st.find_network(network)?.clone();
        self.check_attachable(&net)?;
        let existing = st
            .find_sandbox(&req.id)
            .ok()
            .filter(|s| s.name == req.id)
            .cloned();
        let used = existing
            .as_ref()
            .map(Self::used_ifnames)
            .unwrap_or_default();
        let ifname = Self::free_ifname_in(&ns, used, &req.ifname).await?;
        let id = match existing {
            Some(sb) => {
                match &sb.external_netns {
                    None => {
                        return Err(FerryError::conflict(format!(
                        "sandbox {} is one ferry started: connect it with ferry network connect",
                        sb.name
                    )))
                    }
                    Some(p) if sb.netns_identity != Some(identity) => {
                        return Err(FerryError::conflict(format!(
                            "container {} is attached from namespace {p} already: detach it first",
                            sb.name
                        )))
                    }
                    Some(_) => {}
                }
                if !req.port_bindings.is_empty() {
                    return Err(FerryError::invalid(format!(
                        "ports are published with a container's first attach, and {} is attached already: detach it and attach it again with its ports",
                        sb.name
                    )));
                }
                let connect = NetworkConnectRequest {
                    container: sb.id.to_string(),
                    endpoint_config: Some(EndpointSettingsRequest {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: opt(&req.ipv4_address),
                            ipv6_address: opt(&req.ipv6_address),
                        }),
                        aliases: Some(req.aliases.clone()),
                        mac_address: opt(&req.mac_address),
                    }),
                };
                self.connect_locked(
                    &mut StateLock::Held(&mut st),
                    &net.id,
                    connect,
                    Some(ifname),
                )
                .await?;
                sb.id
            }
            None => {
                self.attach_first(&mut st, &net.id, &req, identity, ifname)
                    .await?
            }
        };
        let sb = st
            .sandbox(&id)
            .ok_or_else(|| FerryError::internal("attached sandbox vanished"))?;
        let ep = sb.endpoint_on(&net.id).ok_or_else(|| {
            FerryError::internal(format!("{} has no endpoint on {}", sb.name, net.name))
        })?;
        let show = |a: Option<String>| a.unwrap_or_default();
        tracing::info!(container = %sb.name, network = %net.name, netns = %req.netns, "attached");
        Ok(AttachResponse {
            sandbox_id: sb.id.to_string(),
            ifname: ep.ifname.clone(),
            mac_address: ep.mac.to_string(),
            ipv4_address: show(ep.ipv4.map(|a| a.to_string())),
            ipv6_address: show(ep.ipv6.map(|a| a.to_string())),
            gateway: show(ep.gateway4.map(|a| a.to_string())),
            ipv6_gateway: show(ep.gateway6.map(|a| a.to_string())),
            dns_server: if self.has_dns(&net) {
                crate::resolver::LISTEN.to_string()
            } else {
                String::new()
            },
        })
    }

    /// The first attach of a container: its record, made and started as a sandbox whose
    /// namespace is the caller's. A failure leaves no record.
    async fn attach_first(
        &self,
        st: &mut State,
        network_id: &str,
        req: &NetworkAttachRequest,
        identity: (u64, u64),
        ifname: String,
    ) -> Result<SandboxId, FerryError> {
        let create = SandboxCreateRequest {
            name: req.id.clone(),
            cmd: vec![ATTACHED_CMD.into()],
            networks: vec![NetworkRequest {
                name: network_id.to_string(),
                aliases: req.aliases.clone(),
                ipv4_address: opt(&req.ipv4_address),
                ipv6_address: opt(&req.ipv6_address),
                mac_address: opt(&req.mac_address),
            }],
            port_bindings: req.port_bindings.clone(),
            labels: req.labels.clone(),
            // It ends with its namespace, and then it is gone.
            auto_remove: true,
            ..Default::default()
        };
        let id = SandboxId::from(self.create_locked(st, create, None).await?.id);
        let Some(mut sb) = st.sandbox(&id).cloned() else {
            return Err(FerryError::internal("new sandbox vanished"));
        };
        sb.external_netns = Some(req.netns.clone());
        sb.config.caller_holds_ports = req.caller_holds_ports;
        sb.netns_identity = Some(identity);
        if let Some(a) = sb.config.attachments.first_mut() {
            a.ifname = Some(ifname);
        }
        let saved = match Self::put_sandbox_op(&sb) {
            Ok(op) => self.save(vec![op]).await,
            Err(e) => Err(e),
        };
        st.put_sandbox(sb.clone());
        let started = match saved {
            Ok(()) => self.start_locked(&mut StateLock::Held(st), &id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            if let Some(sb) = st.sandbox(&id).cloned() {
                if let Err(undo) = self.remove_locked(st, sb, &[]).await {
                    tracing::warn!(container = %req.id, error = %undo, "failed attach not forgotten");
                }
            }
            return Err(e);
        }
        Ok(id)
    }

    /// `network detach`: takes the caller's container off the network; its record goes with
    /// its last network. Detaching what is not attached succeeds, and a namespace already
    /// gone is fine: what ferry made for it is removed all the same.
    pub async fn detach(&self, network: &str, req: NetworkDetachRequest) -> Result<(), FerryError> {
        let _op = self.lock_attached(&req.id).await;
        let mut st = self.lock().await;
        let net = st.find_network(network)?.clone();
        let Some(sb) = st
            .find_sandbox(&req.id)
            .ok()
            .filter(|s| s.name == req.id)
            .cloned()
        else {
            return Ok(());
        };
        if sb.external_netns.is_none() {
            return Err(FerryError::conflict(format!(
                "sandbox {} is one ferry started: disconnect it with ferry network disconnect",
                sb.name
            )));
        }
        if !sb.config.attachments.iter().any(|a| a.network_id == net.id) {
            return Ok(());
        }
        if sb.config.attachments.len() == 1 {
            return self.detach_all(&mut st, sb).await;
        }
        let req = NetworkDisconnectRequest {
            container: sb.id.to_string(),
            force: false,
        };
        self.disconnect_locked(&mut st, &net.id, req).await
    }

    /// `network names`: replaces the aliases of an attached container's endpoint on the
    /// network; they answer in DNS at once, and the names they replace no longer do.
    pub async fn set_attached_names(
        &self,
        network: &str,
        req: NetworkNamesRequest,
    ) -> Result<(), FerryError> {
        for a in &req.aliases {
            validate::alias(a)?;
        }
        let _op = self.lock_attached(&req.id).await;
        let mut st = self.lock().await;
        let net = st.find_network(network)?.clone();
        let not_attached = || {
            FerryError::not_found(format!(
                "no container {} is attached to network {}",
                req.id, net.name
            ))
        };
        let mut sb = st
            .find_sandbox(&req.id)
            .ok()
            .filter(|s| s.name == req.id && s.external_netns.is_some())
            .cloned()
            .ok_or_else(not_attached)?;
        let a = sb
            .config
            .attachments
            .iter_mut()
            .find(|a| a.network_id == net.id)
            .ok_or_else(not_attached)?;
        if a.aliases == req.aliases {
            return Ok(());
        }
        a.aliases.clone_from(&req.aliases);
        if let Some(ep) = sb.endpoints.iter_mut().find(|e| e.network_id == net.id) {
            ep.aliases.clone_from(&req.aliases);
        }
        self.save(vec![Self::put_sandbox_op(&sb)?]).await?;
        st.put_sandbox(sb.clone());
        if let Some(ep) = sb.endpoint_on(&net.id) {
            self.dns_remove_endpoint(&net.id, &sb.id);
            self.dns_add_endpoint(&net, &sb, ep);
        }
        tracing::info!(container = %sb.name, network = %net.name, aliases = ?req.aliases, "names set");
        Ok(())
    }

    /// `network attachments`: the containers callers attached to the network, for a caller
    /// to check its own or to collect those it no longer knows.
    pub async fn attachments(&self, network: &str) -> Result<Vec<Attachment>, FerryError> {
        let st = self.lock().await;
        let net = st.find_network(network)?;
        let show = |a: Option<String>| a.unwrap_or_default();
        let mut out: Vec<Attachment> = st
            .sandboxes()
            .filter_map(|sb| {
                let netns = sb.external_netns.clone()?;
                let attached = sb
                    .config
                    .attachments
                    .iter()
                    .find(|a| a.network_id == net.id)?;
                // A container whose namespace went away keeps its record (and no endpoint)
                // until it is detached or the daemon restarts: it is listed all the same.
                let ep = sb.endpoint_on(&net.id);
                Some(Attachment {
                    id: sb.name.clone(),
                    sandbox_id: sb.id.to_string(),
                    netns,
                    netns_live: Self::live_external_netns(sb).is_some(),
                    ifname: ep
                        .map(|e| e.ifname.clone())
                        .or_else(|| attached.ifname.clone())
                        .unwrap_or_default(),
                    mac_address: show(ep.map(|e| e.mac.to_string())),
                    ipv4_address: show(ep.and_then(|e| e.ipv4).map(|a| a.to_string())),
                    ipv6_address: show(ep.and_then(|e| e.ipv6).map(|a| a.to_string())),
                    labels: sb.config.labels.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The lock of the sandbox a caller's container ID names, when there is one.
    async fn lock_attached(&self, name: &str) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let id = self
            .lock()
            .await
            .find_sandbox(name)
            .ok()
            .filter(|s| s.name == name)
            .map(|s| s.id.clone())?;
        Some(self.sandbox_locks.lock(&id).await)
    }

    /// Detaches an attached container from every network and forgets it.
    pub(crate) async fn detach_all(&self, st: &mut State, sb: Sandbox) -> Result<(), FerryError> {
        self.tear_down(st, &sb).await;
        let touched: Vec<NetworkId> = sb.endpoints.iter().map(|e| e.network_id.clone()).collect();
        tracing::info!(container = %sb.name, "detached");
        self.remove_locked(st, sb, &touched).await
    }

    /// Plugs an attached container's endpoints into its namespace (the start of a sandbox
    /// whose process is not ferry's).
    pub(crate) async fn bring_up_external(
        &self,
        st: &mut StateLock<'_>,
        sb: &mut Sandbox,
        path: &Path,
    ) -> Result<(), FerryError> {
        if netns::identity(path) != sb.netns_identity {
            return Err(FerryError::conflict(format!(
                "network namespace {} is gone or is another one now",
                path.display()
            )));
        }
        let ns = Netlink::connect_in(path).map_err(kernel_err)?;
        // The resolver listens on loopback there; a namespace made by `ip netns add` has it
        // down.
        ns.set_up_by_name("lo").await.map_err(kernel_err)?;
        for ep in sb.endpoints.clone() {
            let net = st
                .network(&ep.network_id)
                .cloned()
                .ok_or_else(|| FerryError::internal("network vanished"))?;
            self.plug(st, &net, &ep, &SandboxNs { path, nl: &ns })
                .await?;
        }
        Self::apply_default_routes(st, sb, &ns).await?;
        self.dns_start(st, sb, path)?;
        sb.netns = Some(path.display().to_string());
        self.write_files(st, sb)?;
        sb.state.pid = None;
        sb.state.started_at = Some(ferry_types::time::Timestamp::now());
        sb.state.finished_at = None;
        sb.state.exit_code = None;
        Ok(())
    }

    /// The namespace of an attached container, while it is still the one attached.
    pub(crate) fn live_external_netns(sb: &Sandbox) -> Option<PathBuf> {
        let p = Path::new(sb.external_netns.as_deref()?);
        let id = netns::identity(p)?;
        (Some(id) == sb.netns_identity).then(|| p.to_path_buf())
    }

    /// The namespace a running sandbox's interfaces are in, while it exists.
    pub(crate) fn live_netns(sb: &Sandbox) -> Option<PathBuf> {
        match &sb.external_netns {
            Some(_) => Self::live_external_netns(sb),
            None => sb.netns.as_deref().map(PathBuf::from),
        }
    }

    /// Refuses what needs a process of ferry's on an attached container.
    pub(crate) fn refuse_external(sb: &Sandbox, what: &str) -> Result<(), FerryError> {
        match &sb.external_netns {
            Some(p) => Err(FerryError::conflict(format!(
                "{} is a container ferry did not start (attached from {p}): it cannot be {what}; detach it with ferry network detach --id {} NETWORK, or ferry rm -f {}",
                sb.name, sb.name, sb.name
            ))),
            None => Ok(()),
        }
    }

    /// The interface names a sandbox's endpoints and attachments use.
    fn used_ifnames(sb: &Sandbox) -> Vec<String> {
        sb.endpoints
            .iter()
            .map(|e| e.ifname.clone())
            .chain(
                sb.config
                    .attachments
                    .iter()
                    .filter_map(|a| a.ifname.clone()),
            )
            .collect()
    }

    /// The first `ethN` not in `used`.
    fn first_free(used: &[String]) -> String {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(n))
            .unwrap_or_else(|| "eth0".into())
    }

    /// The first `ethN` no endpoint or attachment of the sandbox uses.
    pub(crate) fn free_ifname(sb: &Sandbox) -> String {
        Self::first_free(&Self::used_ifnames(sb))
    }

    /// The interface name for an attach: the one asked for, which must be free in the
    /// namespace, or the first `ethN` free there and among `used`.
    async fn free_ifname_in(
        ns: &Netlink,
        mut used: Vec<String>,
        wanted: &str,
    ) -> Result<String, FerryError> {
        let present = ns.links().await.map_err(kernel_err)?;
        if !wanted.is_empty() {
            if present.iter().any(|l| l.name == wanted) || used.iter().any(|n| n == wanted) {
                return Err(FerryError::conflict(format!(
                    "interface {wanted} already exists in the namespace; choose another with --ifname"
                )));
            }
            return Ok(wanted.to_string());
        }
        used.extend(present.into_iter().map(|l| l.name));
        Ok(Self::first_free(&used))
    }
}

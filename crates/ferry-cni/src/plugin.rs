//! One call of the plugin: the command run against the ferry daemon, the result or the
//! spec's error returned.

use crate::check::{check_attachment, gc_victims};
use crate::config::NetConf;
use crate::env::{CniEnv, Command};
use crate::error::{CniError, DAEMON_FAILED, DAEMON_REFUSED, NOT_AVAILABLE, TRY_AGAIN_LATER};
use crate::request::attach_request;
use crate::result::{add_result, prev_addresses, version_result};
use crate::version::shape_of;
use ferry_client::{Client, ClientError};
use ferry_types::api::NetworkDetachRequest;
use serde_json::Value;
use std::path::Path;

/// Runs one call; `Some` is the JSON to print on success.
pub async fn run(env: &CniEnv, conf: &NetConf) -> Result<Option<Value>, CniError> {
    if env.command == Command::Version {
        let v = if conf.cni_version.is_empty() {
            crate::version::SUPPORTED[crate::version::SUPPORTED.len() - 1]
        } else {
            &conf.cni_version
        };
        return Ok(Some(version_result(v)));
    }
    let shape = shape_of(&conf.cni_version)?;
    conf.require_name()?;
    let client = Client::new(conf.socket());
    let net = conf.ferry_network();
    match env.command {
        Command::Add => {
            let mut req = attach_request(conf, env)?;
            // podman hands a container's ports to the plugin of each of its networks; ferry
            // publishes them with its first attach, and a later one carries none.
            if !req.port_bindings.is_empty() && attached_elsewhere(&client, &req.id).await {
                req.port_bindings.clear();
            }
            let resp = client
                .network_attach(net, &req)
                .await
                .map_err(|e| daemon_err("attach", e))?;
            Ok(Some(add_result(
                &conf.cni_version,
                shape,
                &env.netns,
                &resp,
            )))
        }
        Command::Del => {
            let req = NetworkDetachRequest {
                id: env.container_id.clone(),
            };
            match client.network_detach(net, &req).await {
                // The network is gone, and the container's endpoint with it.
                Ok(()) | Err(ClientError::NotFound { .. }) => Ok(None),
                Err(e) => Err(daemon_err("detach", e)),
            }
        }
        Command::Check => {
            let all = client
                .network_attachments(net)
                .await
                .map_err(|e| daemon_err("list attachments", e))?;
            let a = all.iter().find(|a| a.id == env.container_id);
            let present = interface_present(&env.netns, &env.ifname).await;
            let prev = conf
                .prev_result
                .as_ref()
                .map(prev_addresses)
                .unwrap_or_default();
            let same_netns = a.is_some_and(|a| a.netns == env.netns);
            check_attachment(
                a,
                &env.container_id,
                same_netns,
                &env.ifname,
                present,
                &prev,
            )?;
            Ok(None)
        }
        Command::Status => {
            client.ping().await.map_err(|e| {
                CniError::new(NOT_AVAILABLE, "ferry is not available", e.to_string())
            })?;
            client.network_inspect(net).await.map_err(|e| {
                CniError::new(NOT_AVAILABLE, "ferry is not available", e.to_string())
            })?;
            Ok(None)
        }
        Command::Gc => {
            let valid = conf.gc_attachments()?;
            let all = client
                .network_attachments(net)
                .await
                .map_err(|e| daemon_err("list attachments", e))?;
            let mut failures = Vec::new();
            // Every one is tried; the failures are reported together.
            for id in gc_victims(&conf.name, &all, &valid) {
                if let Err(e) = client
                    .network_detach(net, &NetworkDetachRequest { id: id.clone() })
                    .await
                {
                    failures.push(format!("{id}: {e}"));
                }
            }
            if failures.is_empty() {
                Ok(None)
            } else {
                Err(CniError::new(
                    DAEMON_FAILED,
                    "garbage collection left attachments",
                    failures.join("; "),
                ))
            }
        }
        Command::Version => Ok(None),
    }
}

/// Whether the daemon holds a record of the container `id` already (attached to another
/// network).
async fn attached_elsewhere(client: &Client, id: &str) -> bool {
    client
        .sandbox_inspect(id)
        .await
        .is_ok_and(|s| s.name.trim_start_matches('/') == id)
}

/// Whether `ifname` is in the namespace at `netns` now.
async fn interface_present(netns: &str, ifname: &str) -> bool {
    let Ok(nl) = ferry_kernel::netlink::Netlink::connect_in(Path::new(netns)) else {
        return false;
    };
    nl.links()
        .await
        .is_ok_and(|links| links.iter().any(|l| l.name == ifname))
}

/// A daemon failure as the spec's error: unreachable is "try again later", a refusal keeps
/// the daemon's message.
fn daemon_err(what: &str, e: ClientError) -> CniError {
    match e {
        ClientError::Connect { .. } | ClientError::Transport { .. } => CniError::new(
            TRY_AGAIN_LATER,
            format!("cannot {what}: the ferry daemon is unreachable"),
            e.to_string(),
        ),
        ClientError::NotFound { .. }
        | ClientError::Conflict { .. }
        | ClientError::Invalid { .. } => CniError::new(
            DAEMON_REFUSED,
            format!("ferry refused to {what}"),
            e.to_string(),
        ),
        _ => CniError::new(
            DAEMON_FAILED,
            format!("ferry failed to {what}"),
            e.to_string(),
        ),
    }
}

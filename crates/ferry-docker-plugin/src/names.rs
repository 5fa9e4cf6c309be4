//! dockerd's names of its containers on ferry networks, made ferry's names too. dockerd sends
//! a network driver neither a container's name nor its aliases, and answers them only from
//! its own resolver; so the plugin follows dockerd's network `connect` events, reads the
//! container (its name, and per network its endpoint ID and aliases) and sets those names
//! on the container's ferry endpoint. A ferry sandbox on the network then resolves them to
//! the address dockerd's resolver gives; they go with the endpoint when dockerd takes it away.

use crate::dockerd::Dockerd;
use crate::Plugin;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// One endpoint of a container, as dockerd's inspect shows it, with the names it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointNames {
    /// dockerd's network ID.
    pub network_id: String,
    /// dockerd's endpoint ID.
    pub endpoint_id: String,
    /// The container's name, then its aliases on the network (dockerd's `DNSNames` too,
    /// when it lists them), without repeats.
    pub names: Vec<String>,
}

/// The endpoints and names of a container from dockerd's `GET /containers/{id}/json`.
pub fn endpoint_names(inspect: &Value) -> Vec<EndpointNames> {
    let name = inspect["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let Some(nets) = inspect["NetworkSettings"]["Networks"].as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ep in nets.values() {
        let (Some(network_id), Some(endpoint_id)) =
            (ep["NetworkID"].as_str(), ep["EndpointID"].as_str())
        else {
            continue;
        };
        if network_id.is_empty() || endpoint_id.is_empty() {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        let more = ["Aliases", "DNSNames"]
            .iter()
            .filter_map(|k| ep[*k].as_array())
            .flatten()
            .filter_map(Value::as_str);
        for n in std::iter::once(name).chain(more) {
            if !n.is_empty() && !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
        out.push(EndpointNames {
            network_id: network_id.to_string(),
            endpoint_id: endpoint_id.to_string(),
            names,
        });
    }
    out
}

/// The container a network event is about, when it is a `connect`.
pub fn connected_container(event: &Value) -> Option<String> {
    if event["Type"] != "network" || event["Action"] != "connect" {
        return None;
    }
    event["Actor"]["Attributes"]["container"]
        .as_str()
        .map(str::to_string)
}

/// Follows dockerd for as long as the plugin runs: subscribes to its network events, names
/// the containers already running (what connected while the plugin was not listening), then
/// each container that connects. A dockerd that is not there, or restarts, is waited for.
pub async fn follow(plugin: Arc<Plugin>, dockerd: Dockerd) {
    let filters = json!({"type": ["network"], "event": ["connect"]});
    let mut reported = false;
    loop {
        match dockerd.events(&filters).await {
            Ok(mut events) => {
                reported = false;
                tracing::info!("following dockerd's network events for container names");
                name_running(&plugin, &dockerd).await;
                loop {
                    match events.next().await {
                        Ok(Some(e)) => {
                            if let Some(c) = connected_container(&e) {
                                name_container(&plugin, &dockerd, &c).await;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "dockerd's events ended");
                            break;
                        }
                    }
                }
            }
            Err(e) if !reported => {
                reported = true;
                tracing::warn!(error = %e, "dockerd cannot be read yet: containers' names wait for it");
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Names every container of dockerd that has endpoints: stopped ones have none, and one
/// still starting (not yet listed as running) may have connected before the events were
/// subscribed to.
async fn name_running(plugin: &Plugin, dockerd: &Dockerd) {
    let list = match dockerd.get_json("/containers/json?all=1").await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "dockerd's containers not listed");
            return;
        }
    };
    for c in list.as_array().into_iter().flatten() {
        if let Some(id) = c["Id"].as_str() {
            name_container(plugin, dockerd, id).await;
        }
    }
}

/// Sets the names of each of a container's endpoints on ferry networks.
async fn name_container(plugin: &Plugin, dockerd: &Dockerd, id: &str) {
    let inspect = match dockerd.get_json(&format!("/containers/{id}/json")).await {
        Ok(v) => v,
        // Gone already (a `run --rm` that ended): nothing to name.
        Err(e) => {
            tracing::debug!(container = %id, error = %e, "container not read");
            return;
        }
    };
    for ep in endpoint_names(&inspect) {
        match plugin
            .set_names(&ep.network_id, &ep.endpoint_id, &ep.names)
            .await
        {
            Ok(true) => {
                tracing::info!(container = %id, endpoint = %ep.endpoint_id, names = ?ep.names, "names set")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(container = %id, endpoint = %ep.endpoint_id, error = %e, "names not set")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_container_and_its_aliases() {
        let inspect = json!({
            "Name": "/web",
            "NetworkSettings": {"Networks": {
                "dnet": {"NetworkID": "n1", "EndpointID": "e1",
                         "Aliases": ["www", "0123456789ab", "web"]},
                "other": {"NetworkID": "n2", "EndpointID": "e2", "Aliases": null,
                          "DNSNames": ["web", "api"]},
                "gone": {"NetworkID": "n3", "EndpointID": ""}
            }}
        });
        let got = endpoint_names(&inspect);
        assert_eq!(
            got,
            [
                EndpointNames {
                    network_id: "n1".into(),
                    endpoint_id: "e1".into(),
                    names: vec!["web".into(), "www".into(), "0123456789ab".into()],
                },
                EndpointNames {
                    network_id: "n2".into(),
                    endpoint_id: "e2".into(),
                    names: vec!["web".into(), "api".into()],
                },
            ]
        );
        assert!(endpoint_names(&json!({})).is_empty());
    }

    #[test]
    fn only_connects_name_containers() {
        let e = json!({"Type": "network", "Action": "connect",
                       "Actor": {"ID": "n1", "Attributes": {"container": "c1", "type": "ferry"}}});
        assert_eq!(connected_container(&e).as_deref(), Some("c1"));
        let e = json!({"Type": "network", "Action": "disconnect",
                       "Actor": {"Attributes": {"container": "c1"}}});
        assert_eq!(connected_container(&e), None);
    }
}

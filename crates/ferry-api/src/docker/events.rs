//! `docker events`: Docker's container and network events, told from the engine's change
//! feed: each saved record is compared with what was seen of it before (the front end keeps
//! no log of its own, so a client sees what happens while it listens). A sandbox that appears
//! is `create`d, one whose run began is `start`ed, one whose run ended `die`s, one that is gone
//! is `destroy`ed; its endpoints that come and go are network `connect` and `disconnect`.

use super::filters::Filters;
use ferry_engine::controller::changes::Change;
use ferry_engine::views::{NetworkView, SandboxView};
use ferry_types::{Network, Sandbox};
use serde::Serialize;
use std::collections::BTreeMap;

/// One event, in Docker's shape (with the legacy `status`, `id` and `from` of containers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `container` or `network`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `destroy`, `connect`, `disconnect`.
    #[serde(rename = "Action")]
    pub action: String,
    /// What it happened to.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// The action again (containers only, as older clients read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The actor's ID again (containers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The image (containers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// Its ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, and for containers `image` and the labels, for networks `type` and
    /// `container`.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// What one look at the engine saw of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSeen {
    /// Its name.
    pub name: String,
    /// Its image as shown.
    pub image: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When its last run started.
    pub started: Option<String>,
    /// When its last run ended.
    pub finished: Option<String>,
    /// Whether it runs.
    pub running: bool,
    /// Its last exit code.
    pub exit_code: i32,
    /// The networks it has an endpoint on, by ID.
    pub networks: Vec<String>,
}

impl SandboxSeen {
    /// What is seen of a sandbox whose image is shown as `image`.
    pub fn of(sb: &Sandbox, image: String) -> Self {
        SandboxSeen {
            name: sb.name.clone(),
            image,
            labels: sb.config.labels.clone(),
            started: sb.state.started_at.map(|t| t.to_string()),
            finished: sb.state.finished_at.map(|t| t.to_string()),
            running: sb.is_running(),
            exit_code: sb.state.exit_code.unwrap_or(0),
            networks: sb
                .endpoints
                .iter()
                .map(|e| e.network_id.to_string())
                .collect(),
        }
    }
}

/// What one look at the engine saw of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSeen {
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: String,
}

impl NetworkSeen {
    /// What is seen of a network.
    pub fn of(n: &Network) -> Self {
        NetworkSeen {
            name: n.name.clone(),
            driver: n.driver.as_str().to_string(),
        }
    }
}

/// One look at the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Sandboxes by ID.
    pub sandboxes: BTreeMap<String, SandboxSeen>,
    /// Networks by ID.
    pub networks: BTreeMap<String, NetworkSeen>,
}

impl Snapshot {
    /// A look at these views; `image` names a sandbox's image.
    pub fn of(
        sandboxes: &[SandboxView],
        networks: &[NetworkView],
        image: impl Fn(&Sandbox) -> String,
    ) -> Self {
        Snapshot {
            sandboxes: sandboxes
                .iter()
                .map(|v| {
                    let sb = &v.sandbox;
                    (sb.id.to_string(), SandboxSeen::of(sb, image(sb)))
                })
                .collect(),
            networks: networks
                .iter()
                .map(|n| (n.network.id.to_string(), NetworkSeen::of(&n.network)))
                .collect(),
        }
    }

    /// The look after a change.
    pub fn apply(&mut self, change: &Change, image: impl Fn(&Sandbox) -> String) {
        match change {
            Change::Sandbox(id, Some(sb)) => {
                self.sandboxes
                    .insert(id.clone(), SandboxSeen::of(sb, image(sb)));
            }
            Change::Sandbox(id, None) => {
                self.sandboxes.remove(id);
            }
            Change::Network(id, Some(n)) => {
                self.networks.insert(id.clone(), NetworkSeen::of(n));
            }
            Change::Network(id, None) => {
                self.networks.remove(id);
            }
        }
    }
}

fn container_event(id: &str, s: &SandboxSeen, action: &str, now: (i64, i64)) -> Event {
    let mut attributes = s.labels.clone();
    attributes.insert("name".into(), s.name.clone());
    attributes.insert("image".into(), s.image.clone());
    if action == "die" {
        attributes.insert("exitCode".into(), s.exit_code.to_string());
    }
    Event {
        kind: "container".into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        time: now.0,
        time_nano: now.1,
        status: Some(action.into()),
        id: Some(id.into()),
        from: Some(s.image.clone()),
    }
}

fn network_event(
    id: &str,
    n: &NetworkSeen,
    action: &str,
    container: Option<&str>,
    now: (i64, i64),
) -> Event {
    let mut attributes = BTreeMap::from([
        ("name".to_string(), n.name.clone()),
        ("type".to_string(), n.driver.clone()),
    ]);
    if let Some(c) = container {
        attributes.insert("container".into(), c.into());
    }
    Event {
        kind: "network".into(),
        action: action.into(),
        actor: Actor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        time: now.0,
        time_nano: now.1,
        status: None,
        id: None,
        from: None,
    }
}

/// The events between two looks, in the order dockerd emits them; `now` is (seconds,
/// nanoseconds).
pub fn diff(old: &Snapshot, new: &Snapshot, now: (i64, i64)) -> Vec<Event> {
    let mut out = Vec::new();
    for (id, n) in &new.networks {
        if !old.networks.contains_key(id) {
            out.push(network_event(id, n, "create", None, now));
        }
    }
    for (id, s) in &new.sandboxes {
        if !old.sandboxes.contains_key(id) {
            out.push(container_event(id, s, "create", now));
        }
    }
    let network = |id: &str| {
        new.networks
            .get(id)
            .or_else(|| old.networks.get(id))
            .cloned()
    };
    let endpoint_event = |net: &str, sb: &str, action: &str| {
        let n = network(net).unwrap_or_else(|| NetworkSeen {
            name: String::new(),
            driver: String::new(),
        });
        network_event(net, &n, action, Some(sb), now)
    };
    for (id, s) in &new.sandboxes {
        let before = old
            .sandboxes
            .get(id)
            .map(|o| o.networks.as_slice())
            .unwrap_or(&[]);
        for n in s.networks.iter().filter(|n| !before.contains(n)) {
            out.push(endpoint_event(n, id, "connect"));
        }
    }
    for (id, s) in &new.sandboxes {
        let o = old.sandboxes.get(id);
        if s.started.is_some() && o.map(|o| &o.started) != Some(&s.started) {
            out.push(container_event(id, s, "start", now));
        }
        if !s.running && s.finished.is_some() && o.map(|o| &o.finished) != Some(&s.finished) {
            out.push(container_event(id, s, "die", now));
        }
    }
    for (id, o) in &old.sandboxes {
        let after = new
            .sandboxes
            .get(id)
            .map(|s| s.networks.as_slice())
            .unwrap_or(&[]);
        for n in o.networks.iter().filter(|n| !after.contains(n)) {
            out.push(endpoint_event(n, id, "disconnect"));
        }
    }
    for (id, s) in &old.sandboxes {
        if !new.sandboxes.contains_key(id) {
            if s.running {
                out.push(container_event(id, s, "die", now));
            }
            out.push(container_event(id, s, "destroy", now));
        }
    }
    for (id, n) in &old.networks {
        if !new.networks.contains_key(id) {
            out.push(network_event(id, n, "destroy", None, now));
        }
    }
    out
}

/// Whether an event passes Docker's event filters (`type`, `event`, `container`, `network`,
/// `label`; any value of a key may match, every key must).
pub fn matches(f: &Filters, e: &Event) -> bool {
    let any = |key: &str, ok: &dyn Fn(&str) -> bool| {
        f.get(key)
            .filter(|v| !v.is_empty())
            .is_none_or(|v| v.iter().any(|x| ok(x)))
    };
    let named = |x: &str| {
        e.actor.id.starts_with(x) || e.actor.attributes.get("name").is_some_and(|n| n == x)
    };
    any("type", &|x| x == e.kind)
        && any("event", &|x| x == e.action)
        && any("container", &|x| {
            (e.kind == "container" && named(x))
                || e.actor
                    .attributes
                    .get("container")
                    .is_some_and(|c| c.starts_with(x))
        })
        && any("network", &|x| e.kind == "network" && named(x))
        && any("label", &|x| match x.split_once('=') {
            Some((k, v)) => e.actor.attributes.get(k).is_some_and(|a| a == v),
            None => e.actor.attributes.contains_key(x),
        })
}

/// Checks the filter keys `events` knows.
pub fn check(f: &Filters) -> Result<(), ferry_types::FerryError> {
    for k in f.keys() {
        if !["type", "event", "container", "network", "label", "scope"].contains(&k.as_str()) {
            return Err(ferry_types::FerryError::invalid(format!(
                "invalid filter {k:?}: event filters are type, event, container, network, label, scope"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(running: bool, started: Option<&str>, finished: Option<&str>) -> SandboxSeen {
        let networks = if running {
            vec!["n".to_string()]
        } else {
            vec![]
        };
        SandboxSeen {
            name: "web".into(),
            image: "host".into(),
            labels: BTreeMap::from([("app".to_string(), "x".to_string())]),
            started: started.map(String::from),
            finished: finished.map(String::from),
            running,
            exit_code: 3,
            networks,
        }
    }

    fn net() -> NetworkSeen {
        NetworkSeen {
            name: "n1".into(),
            driver: "bridge".into(),
        }
    }

    fn actions(v: &[Event]) -> Vec<String> {
        v.iter()
            .map(|e| format!("{} {}", e.kind, e.action))
            .collect()
    }

    #[test]
    fn a_whole_life_seen_in_two_looks() {
        let empty = Snapshot::default();
        let mut up = Snapshot::default();
        up.networks.insert("n".into(), net());
        up.sandboxes.insert("c".into(), sb(true, Some("t1"), None));
        let e = diff(&empty, &up, (1, 1_000_000_000));
        assert_eq!(
            actions(&e),
            [
                "network create",
                "container create",
                "network connect",
                "container start"
            ]
        );
        assert_eq!(e[2].actor.attributes["container"], "c");
        let mut down = up.clone();
        down.sandboxes
            .insert("c".into(), sb(false, Some("t1"), Some("t2")));
        let e = diff(&up, &down, (2, 2));
        assert_eq!(actions(&e), ["container die", "network disconnect"]);
        assert_eq!(e[0].actor.attributes["exitCode"], "3");
        // Restarted and ended again between looks: a start and a die.
        let mut again = down.clone();
        again
            .sandboxes
            .insert("c".into(), sb(false, Some("t3"), Some("t4")));
        assert_eq!(
            actions(&diff(&down, &again, (3, 3))),
            ["container start", "container die"]
        );
        let e = diff(&again, &empty, (4, 4));
        assert_eq!(actions(&e), ["container destroy", "network destroy"]);
        assert_eq!(diff(&again, &again, (5, 5)), vec![]);
    }

    #[test]
    fn filters() {
        let mut up = Snapshot::default();
        up.networks.insert("nid".into(), net());
        let mut c = sb(true, Some("t"), None);
        c.networks = vec!["nid".into()];
        up.sandboxes.insert("cid".into(), c);
        let e = diff(&Snapshot::default(), &up, (0, 0));
        let f = |j: &str| super::super::filters::parse(j).unwrap();
        let pick = |j: &str| {
            actions(
                &e.iter()
                    .filter(|x| matches(&f(j), x))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            pick(r#"{"type":["network"]}"#),
            ["network create", "network connect"]
        );
        assert_eq!(pick(r#"{"event":["start"]}"#), ["container start"]);
        assert_eq!(
            pick(r#"{"container":["web"]}"#),
            ["container create", "container start"]
        );
        assert_eq!(
            pick(r#"{"container":["cid"],"type":["network"]}"#),
            ["network connect"]
        );
        assert_eq!(
            pick(r#"{"network":["n1"],"event":["connect"]}"#),
            ["network connect"]
        );
        assert_eq!(
            pick(r#"{"label":["app=x"]}"#),
            ["container create", "container start"]
        );
        assert!(check(&f(r#"{"colour":["red"]}"#)).is_err());
        assert!(check(&f(r#"{"type":["network"]}"#)).is_ok());
        let v = serde_json::to_value(&e[1]).unwrap();
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["status"], "create");
    }
}

//! A service's output as `GET /services/{id}/logs` streams it: one JSON object a line, each a
//! line of one replica's output with what names it (service, slot, task, node), or the report
//! of a node whose replicas could not be read. The client formats the prefix, as Docker's CLI
//! does.

use serde::{Deserialize, Serialize};

/// What a service's log stream holds (and how far back it starts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceLogOptions {
    /// Keep streaming new lines (and replicas that start later) until the client goes.
    pub follow: bool,
    /// Only the last N lines each replica has written so far (all when `None`).
    pub tail: Option<usize>,
}

impl ServiceLogOptions {
    /// Reads `follow` and `tail` from a request's query pairs (`tail=all` or absent: every
    /// line).
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, crate::FerryError> {
        let mut o = ServiceLogOptions::default();
        for (k, v) in pairs {
            match k {
                "follow" => o.follow = v == "1" || v == "true",
                "tail" => {
                    o.tail = match v {
                        "" | "all" => None,
                        n => Some(n.parse().map_err(|_| {
                            crate::FerryError::invalid(format!(
                                "invalid tail {n:?}: give a number of lines or all"
                            ))
                        })?),
                    }
                }
                _ => {}
            }
        }
        Ok(o)
    }

    /// The query string that asks for these options (without `?`).
    pub fn to_query(&self) -> String {
        let mut q = vec![format!("follow={}", u8::from(self.follow))];
        if let Some(n) = self.tail {
            q.push(format!("tail={n}"));
        }
        q.join("&")
    }
}

/// One line of a replica's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceLogLine {
    /// The service's ID.
    pub service_id: String,
    /// The service's name.
    #[serde(default)]
    pub service: String,
    /// The replica's slot.
    pub slot: u32,
    /// The swarm task the replica runs (empty for a service of one host).
    #[serde(default)]
    pub task_id: String,
    /// The node the replica runs on (empty for a service of one host).
    #[serde(default)]
    pub node_id: String,
    /// That node's host name.
    #[serde(default)]
    pub node: String,
    /// When the line was read (RFC 3339; the log keeps no times of its own).
    pub time: String,
    /// The line, without its newline (invalid UTF-8 replaced).
    pub line: String,
}

/// An element of a service's log stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceLogEvent {
    /// A line of a replica's output.
    Line(ServiceLogLine),
    /// A node whose replicas' output could not be read (or stopped coming); the other nodes'
    /// lines go on.
    Unreachable {
        /// The node's host name (or ID).
        node: String,
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_a_query() {
        for o in [
            ServiceLogOptions::default(),
            ServiceLogOptions {
                follow: true,
                tail: Some(3),
            },
        ] {
            let q = o.to_query();
            let pairs = q.split('&').filter_map(|p| p.split_once('='));
            assert_eq!(ServiceLogOptions::from_query(pairs).unwrap(), o);
        }
        assert_eq!(
            ServiceLogOptions::from_query([("tail", "all")])
                .unwrap()
                .tail,
            None
        );
        assert!(ServiceLogOptions::from_query([("tail", "-1")]).is_err());
    }

    #[test]
    fn events_are_one_json_object_each() {
        let e = ServiceLogEvent::Unreachable {
            node: "n".into(),
            message: "m".into(),
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(!s.contains('\n'));
        assert_eq!(serde_json::from_str::<ServiceLogEvent>(&s).unwrap(), e);
    }
}

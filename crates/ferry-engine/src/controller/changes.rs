//! The engine's change feed: every sandbox and network record saved or deleted, as it is
//! saved, for front ends that report what happens (Docker's `events`). Records are decoded
//! only while someone listens.

use super::Controller;
use ferry_store::{Op, Table};
use ferry_types::{Network, Sandbox};
use tokio::sync::broadcast;

/// How many changes a slow listener may fall behind before it is told it lagged.
pub(crate) const BACKLOG: usize = 1024;

/// One saved change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A sandbox record, as saved; `None` when it was deleted.
    Sandbox(String, Option<Box<Sandbox>>),
    /// A network record, as saved; `None` when it was deleted.
    Network(String, Option<Box<Network>>),
}

/// The changes in a saved batch of store operations (other tables are not reported).
pub(crate) fn of_ops(ops: &[Op]) -> Vec<Change> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Put {
                table: Table::Sandboxes,
                key,
                value,
            } => Some(Change::Sandbox(
                key.clone(),
                serde_json::from_slice(value).ok().map(Box::new),
            )),
            Op::Put {
                table: Table::Networks,
                key,
                value,
            } => Some(Change::Network(
                key.clone(),
                serde_json::from_slice(value).ok().map(Box::new),
            )),
            Op::Delete {
                table: Table::Sandboxes,
                key,
            } => Some(Change::Sandbox(key.clone(), None)),
            Op::Delete {
                table: Table::Networks,
                key,
            } => Some(Change::Network(key.clone(), None)),
            _ => None,
        })
        .collect()
}

impl Controller {
    /// A receiver of every sandbox and network change saved from now on.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells the listeners about a saved batch.
    pub(crate) fn announce(&self, ops: &[Op]) {
        if self.changes.receiver_count() == 0 {
            return;
        }
        for c in of_ops(ops) {
            // Err only when every listener left meanwhile.
            let _ = self.changes.send(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_sandbox_and_network_records_only() {
        let ops = vec![
            Op::delete(Table::Sandboxes, "s1"),
            Op::delete(Table::Networks, "n1"),
            Op::delete(Table::Meta, "m"),
        ];
        assert_eq!(
            of_ops(&ops),
            vec![
                Change::Sandbox("s1".into(), None),
                Change::Network("n1".into(), None)
            ]
        );
    }
}

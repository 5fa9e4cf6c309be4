//! Transactions: conditions on the current revisions of records, and the changes to make when
//! every condition holds.

use crate::{StoreError, Table};

/// One change in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Write `value` under `key`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: String,
        /// The encoded record.
        value: Vec<u8>,
    },
    /// Write `value` under `key`, attached to a session lease: when the lease ends (revoked,
    /// or not renewed within its TTL) the store deletes the record, and watchers see the delete.
    PutLeased {
        /// The table.
        table: Table,
        /// The key.
        key: String,
        /// The encoded record.
        value: Vec<u8>,
        /// The lease, from [`crate::Store::grant_lease`].
        lease: i64,
    },
    /// Remove `key` (no error when absent).
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: String,
    },
}

impl Op {
    /// A put of a record encoded as JSON.
    pub fn put_json<T: serde::Serialize>(
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<Op, StoreError> {
        Ok(Op::Put {
            table,
            key: key.to_string(),
            value: serde_json::to_vec(value).map_err(|e| StoreError::Encode(e.to_string()))?,
        })
    }

    /// A put of a record encoded as JSON, attached to `lease`.
    pub fn put_json_leased<T: serde::Serialize>(
        table: Table,
        key: &str,
        value: &T,
        lease: i64,
    ) -> Result<Op, StoreError> {
        Ok(Op::PutLeased {
            table,
            key: key.to_string(),
            value: serde_json::to_vec(value).map_err(|e| StoreError::Encode(e.to_string()))?,
            lease,
        })
    }

    /// The record the operation changes.
    pub fn target(&self) -> (Table, &str) {
        match self {
            Op::Put { table, key, .. }
            | Op::PutLeased { table, key, .. }
            | Op::Delete { table, key } => (*table, key),
        }
    }

    /// A delete.
    pub fn delete(table: Table, key: &str) -> Op {
        Op::Delete {
            table,
            key: key.to_string(),
        }
    }
}

/// What a transaction requires of one record before it writes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The record exists and was last modified at `revision` (its `mod_revision`): nobody wrote
    /// it since it was read.
    KeyAt {
        /// The table.
        table: Table,
        /// The key.
        key: String,
        /// The record's expected `mod_revision`.
        revision: u64,
    },
    /// No record has the key.
    Absent {
        /// The table.
        table: Table,
        /// The key.
        key: String,
    },
    /// A record has the key, whatever its revision.
    Present {
        /// The table.
        table: Table,
        /// The key.
        key: String,
    },
}

/// The state a failed [`Condition`] wanted, as [`StoreError::Conflict`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The record at this `mod_revision`.
    At(u64),
    /// No record.
    Absent,
    /// Any record.
    Present,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::At(r) => write!(f, "revision {r}"),
            Expected::Absent => f.write_str("no record"),
            Expected::Present => f.write_str("a record"),
        }
    }
}

impl Condition {
    /// The record the condition is about.
    pub fn target(&self) -> (Table, &str) {
        match self {
            Condition::KeyAt { table, key, .. }
            | Condition::Absent { table, key }
            | Condition::Present { table, key } => (*table, key),
        }
    }

    /// What the condition wants.
    pub fn expected(&self) -> Expected {
        match self {
            Condition::KeyAt { revision, .. } => Expected::At(*revision),
            Condition::Absent { .. } => Expected::Absent,
            Condition::Present { .. } => Expected::Present,
        }
    }

    /// Checks the condition against the record's current `mod_revision` (`None`: no record).
    pub fn check(&self, actual: Option<u64>) -> Result<(), StoreError> {
        let holds = match (self.expected(), actual) {
            (Expected::At(want), Some(have)) => want == have,
            (Expected::Absent, None) | (Expected::Present, Some(_)) => true,
            _ => false,
        };
        if holds {
            return Ok(());
        }
        let (table, key) = self.target();
        Err(StoreError::Conflict {
            table,
            key: key.to_string(),
            expected: self.expected(),
            actual,
        })
    }
}

/// An atomic transaction: when every condition holds, every operation is applied under one new
/// revision; otherwise nothing is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// What must hold before anything is written.
    pub conditions: Vec<Condition>,
    /// The changes, in order (a later change of the same key wins).
    pub ops: Vec<Op>,
}

impl Txn {
    /// An unconditional transaction.
    pub fn new(ops: Vec<Op>) -> Self {
        Txn {
            conditions: Vec::new(),
            ops,
        }
    }

    /// The transaction with one more condition.
    pub fn when(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }
}

impl From<Vec<Op>> for Txn {
    fn from(ops: Vec<Op>) -> Self {
        Txn::new(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(revision: u64) -> Condition {
        Condition::KeyAt {
            table: Table::Networks,
            key: "n".into(),
            revision,
        }
    }

    #[test]
    fn conditions_hold_only_in_their_state() {
        let absent = Condition::Absent {
            table: Table::Networks,
            key: "n".into(),
        };
        let present = Condition::Present {
            table: Table::Networks,
            key: "n".into(),
        };
        assert!(at(3).check(Some(3)).is_ok());
        assert!(at(3).check(Some(4)).is_err());
        assert!(at(3).check(None).is_err());
        assert!(absent.check(None).is_ok());
        assert!(absent.check(Some(1)).is_err());
        assert!(present.check(Some(1)).is_ok());
        assert!(present.check(None).is_err());
    }

    #[test]
    fn a_conflict_says_what_was_expected_and_found() {
        let e = at(3).check(Some(7)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "conflict on networks/n: expected revision 3, found revision 7: another writer \
             changed it first; read it again and retry"
        );
        let e = at(3).check(None).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected revision 3, found no record"),
            "{e}"
        );
        match e {
            StoreError::Conflict {
                table,
                key,
                expected,
                actual,
            } => {
                assert_eq!((table, key.as_str()), (Table::Networks, "n"));
                assert_eq!((expected, actual), (Expected::At(3), None));
            }
            other => panic!("expected a conflict, got {other}"),
        }
    }
}

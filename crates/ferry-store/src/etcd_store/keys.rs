//! Where records live in etcd's one flat key space: `<root>/<table>/<key>`, so that a table is a
//! key prefix that one range read lists and one prefix watch follows.

use crate::{Op, Table};

/// The keys of one store: every record under one root prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    /// The root, without a trailing `/`.
    root: String,
}

impl Layout {
    /// The layout under `root` (e.g. `/ferry/v1`); trailing slashes are ignored.
    pub(super) fn new(root: &str) -> Self {
        Layout {
            root: root.trim_end_matches('/').to_string(),
        }
    }

    /// The root prefix, as given without its trailing slashes.
    pub(super) fn root(&self) -> &str {
        &self.root
    }

    /// The prefix of every key of `table`, ending in `/`.
    pub(super) fn table_prefix(&self, table: Table) -> String {
        format!("{}/{}/", self.root, table.name())
    }

    /// The etcd key of a record.
    pub(super) fn record(&self, table: Table, key: &str) -> String {
        format!("{}{key}", self.table_prefix(table))
    }

    /// The record key of an etcd key of `table` (`None`: not one of its keys, or not UTF-8).
    pub(super) fn key_of<'a>(&self, table: Table, etcd_key: &'a [u8]) -> Option<&'a str> {
        let rest = etcd_key.strip_prefix(self.table_prefix(table).as_bytes())?;
        std::str::from_utf8(rest).ok()
    }
}

/// The operations with only the last one of each record kept, in the order of those last ones.
/// etcd refuses a transaction that names a key twice; applying only the last change of a key
/// leaves the same records as applying them all in order.
pub(super) fn last_per_record(ops: Vec<Op>) -> Vec<Op> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Op> = ops
        .into_iter()
        .rev()
        .filter(|op| {
            let (table, key) = op.target();
            seen.insert((table, key.to_string()))
        })
        .collect();
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_prefixes_under_the_root() {
        let l = Layout::new("/ferry/v1/");
        assert_eq!(l.root(), "/ferry/v1");
        assert_eq!(l.table_prefix(Table::Networks), "/ferry/v1/networks/");
        assert_eq!(l.record(Table::Meta, "a/b"), "/ferry/v1/meta/a/b");
        assert_eq!(
            l.key_of(Table::Meta, b"/ferry/v1/meta/a/b"),
            Some("a/b"),
            "a key may hold slashes"
        );
        assert_eq!(l.key_of(Table::Networks, b"/ferry/v1/meta/a"), None);
        assert_eq!(l.key_of(Table::Meta, b"/ferry/v1/meta/\xff"), None);
        // A table whose name starts another's is not mistaken for it.
        assert_eq!(l.key_of(Table::Meta, b"/ferry/v1/metadata/a"), None);
    }

    #[test]
    fn only_the_last_change_of_a_record_is_kept() {
        let put = |t, k: &str, v: &str| Op::Put {
            table: t,
            key: k.into(),
            value: v.as_bytes().to_vec(),
        };
        let ops = vec![
            put(Table::Networks, "a", "1"),
            put(Table::Networks, "c", "1"),
            put(Table::Sandboxes, "a", "1"),
            Op::delete(Table::Networks, "a"),
            put(Table::Networks, "c", "2"),
        ];
        assert_eq!(
            last_per_record(ops),
            vec![
                put(Table::Sandboxes, "a", "1"),
                Op::delete(Table::Networks, "a"),
                put(Table::Networks, "c", "2"),
            ]
        );
    }
}

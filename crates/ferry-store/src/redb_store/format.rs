//! The layout of ferry's redb file, and the upgrade of the layout written before records had
//! revisions.
//!
//! Layout 2: a table `<name>.v2` per [`Table`] maps each key to `(mod_revision, value)`, and
//! the table `store` holds the store-wide `revision`. Layout 1 had a table `<name>` per
//! [`Table`] mapping each key to its value alone. Layout 1 tables are read, copied into
//! layout 2 at one new revision, and deleted, in the one write transaction that opens the
//! file, so a crash leaves either layout whole.

use crate::Table;
use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use std::collections::HashSet;

/// The records of a table: key to `(mod_revision, value)`.
pub(super) fn records(
    table: Table,
) -> TableDefinition<'static, &'static str, (u64, &'static [u8])> {
    TableDefinition::new(match table {
        Table::Networks => "networks.v2",
        Table::Sandboxes => "sandboxes.v2",
        Table::Meta => "meta.v2",
        Table::Services => "services.v2",
        Table::Claims => "claims.v2",
        Table::Peers => "peers.v2",
        Table::Nodes => "nodes.v2",
        Table::Sessions => "sessions.v2",
        Table::Swarm => "swarm.v2",
        Table::Tasks => "tasks.v2",
        Table::TaskStatus => "task_status.v2",
    })
}

/// Store-wide values.
pub(super) const STORE: TableDefinition<'static, &'static str, u64> = TableDefinition::new("store");

/// The key of the store-wide revision in [`STORE`].
pub(super) const REVISION: &str = "revision";

/// A table of layout 1: key to value, no revision.
fn layout1(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The store-wide revision as `txn` sees it.
pub(super) fn current_revision(txn: &WriteTransaction) -> Result<u64, redb::Error> {
    let store = txn.open_table(STORE)?;
    let revision = store.get(REVISION)?.map(|v| v.value()).unwrap_or(0);
    Ok(revision)
}

/// Creates every table of layout 2 and moves the records of layout 1 into it, all at one new
/// revision. Returns the store's revision.
pub(super) fn prepare(txn: &WriteTransaction) -> Result<u64, redb::Error> {
    let existing: HashSet<String> = txn.list_tables()?.map(|t| t.name().to_string()).collect();
    let mut revision = current_revision(txn)?;
    let moved_at = revision + 1;
    let mut moved = false;
    for table in Table::ALL {
        let mut dst = txn.open_table(records(table))?;
        if !existing.contains(table.name()) {
            continue;
        }
        {
            let src = txn.open_table(layout1(table))?;
            for item in src.iter()? {
                let (k, v) = item?;
                dst.insert(k.value(), (moved_at, v.value()))?;
                moved = true;
            }
        }
        txn.delete_table(layout1(table))?;
    }
    if moved {
        revision = moved_at;
        txn.open_table(STORE)?.insert(REVISION, revision)?;
    }
    Ok(revision)
}

//! `ferry stack ls`: every stack of the swarm, with its number of services.

use crate::output;
use ferry_client::{Client, Filters};
use ferry_compose::stack::NAMESPACE;
use std::collections::BTreeMap;

/// Lists the stacks: the values of the namespace label on the services.
pub(super) async fn ls(c: &Client) -> anyhow::Result<i32> {
    let list = c
        .service_list_filtered(&Filters::new().with("label", NAMESPACE))
        .await?;
    let mut stacks: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &list {
        if let Some(name) = s.spec.labels.get(NAMESPACE) {
            *stacks.entry(name.as_str()).or_default() += 1;
        }
    }
    let rows: Vec<Vec<String>> = stacks
        .into_iter()
        .map(|(name, n)| vec![name.to_string(), n.to_string()])
        .collect();
    output::table(&["NAME", "SERVICES"], &rows)?;
    Ok(0)
}

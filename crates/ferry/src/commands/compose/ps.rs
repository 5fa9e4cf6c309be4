//! `compose ps`: the project's sandboxes, service replicas included.

use super::{project_sandboxes, summary_name};
use crate::commands::sandbox::summary_ports;
use crate::output;
use clap::Args;
use ferry_client::Client;
use ferry_compose::{labels, Project};

/// `compose ps` flags.
#[derive(Args)]
pub struct PsArgs {
    /// Stopped sandboxes too.
    #[arg(short, long)]
    all: bool,
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
}

/// `compose ps`.
pub async fn ps(c: &Client, project: &Project, a: PsArgs) -> anyhow::Result<i32> {
    let mut list = project_sandboxes(c, &project.name).await?;
    list.retain(|s| a.all || s.state == "running");
    list.sort_by_key(summary_name);
    if a.quiet {
        for s in &list {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let addresses: Vec<String> = s
                .network_settings
                .networks
                .iter()
                .filter(|(_, e)| !e.ip_address.is_empty())
                .map(|(net, e)| format!("{}@{net}", e.ip_address))
                .collect();
            vec![
                summary_name(s),
                s.labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                s.status.clone(),
                addresses.join(", "),
                summary_ports(s),
            ]
        })
        .collect();
    output::table(&["NAME", "SERVICE", "STATUS", "ADDRESSES", "PORTS"], &rows)?;
    Ok(0)
}

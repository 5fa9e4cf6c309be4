//! `ferry node`: the swarm's nodes.

use crate::output;
use clap::Subcommand;
use ferry_client::Client;
use ferry_types::swarm::NodeUpdate;

/// `ferry node` subcommands.
#[derive(Subcommand)]
pub enum NodeCmd {
    /// List the swarm's nodes.
    #[command(alias = "list")]
    Ls {
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show nodes as JSON (`self` is this node).
    Inspect {
        /// Nodes (ID, hostname or unique ID prefix).
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Change a node's availability or labels.
    Update {
        /// active, pause or drain.
        #[arg(long, value_parser = ["active", "pause", "drain"])]
        availability: Option<String>,
        /// Add or replace a label (KEY=VALUE; repeatable).
        #[arg(long = "label-add")]
        label_add: Vec<String>,
        /// Remove a label (repeatable).
        #[arg(long = "label-rm")]
        label_rm: Vec<String>,
        /// The node.
        node: String,
    },
    /// Make nodes managers.
    Promote {
        /// Nodes.
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Make managers workers.
    Demote {
        /// Nodes.
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Remove nodes from the swarm.
    #[command(alias = "remove")]
    Rm {
        /// Remove even a node that is up.
        #[arg(short, long)]
        force: bool,
        /// Nodes.
        #[arg(required = true)]
        nodes: Vec<String>,
    },
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Runs a `ferry node` command.
pub async fn run(c: &Client, cmd: NodeCmd) -> anyhow::Result<i32> {
    match cmd {
        NodeCmd::Ls { quiet } => {
            let mut nodes = c.node_list().await?;
            nodes.sort_by(|a, b| {
                (a.description.hostname.as_str(), a.id.as_str())
                    .cmp(&(b.description.hostname.as_str(), b.id.as_str()))
            });
            if quiet {
                for n in &nodes {
                    println!("{}", n.id);
                }
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    let manager = match &n.manager_status {
                        Some(m) if m.leader => "Leader".to_string(),
                        Some(m) => title(&m.reachability),
                        None => String::new(),
                    };
                    vec![
                        format!("{}{}", n.id, if n.is_self { " *" } else { "" }),
                        n.description.hostname.clone(),
                        title(&n.status.state),
                        title(&n.spec.availability),
                        manager,
                    ]
                })
                .collect();
            output::table(
                &["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS"],
                &rows,
            )?;
            Ok(0)
        }
        NodeCmd::Inspect { nodes } => {
            let mut out = Vec::new();
            for n in &nodes {
                out.push(c.node_inspect_raw(n).await?);
            }
            output::json_array(&out)?;
            Ok(0)
        }
        NodeCmd::Update {
            availability,
            label_add,
            label_rm,
            node,
        } => {
            let update = NodeUpdate {
                role: None,
                availability,
                label_add: super::parse_labels(&label_add)?,
                label_rm,
            };
            c.node_update(&node, &update).await?;
            println!("{node}");
            Ok(0)
        }
        NodeCmd::Promote { nodes } => role(c, nodes, "manager").await,
        NodeCmd::Demote { nodes } => role(c, nodes, "worker").await,
        NodeCmd::Rm { force, nodes } => {
            for n in &nodes {
                c.node_remove(n, force).await?;
                println!("{n}");
            }
            Ok(0)
        }
    }
}

async fn role(c: &Client, nodes: Vec<String>, role: &str) -> anyhow::Result<i32> {
    for n in &nodes {
        let update = NodeUpdate {
            role: Some(role.to_string()),
            ..Default::default()
        };
        c.node_update(n, &update).await?;
        println!("Node {n} is now a {role} of the swarm.");
    }
    Ok(0)
}

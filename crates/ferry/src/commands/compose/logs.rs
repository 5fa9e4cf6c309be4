//! `compose logs`, and the output half of an attached `up`: every sandbox's output, each
//! line prefixed with the sandbox's name, sandboxes read side by side.

use super::{project_sandboxes, summary_name};
use clap::Args;
use ferry_client::{Client, LogsOptions};
use ferry_compose::{labels, Project};
use std::io::Write;
use tokio::task::JoinSet;

/// `compose logs` flags.
#[derive(Args)]
pub struct LogsArgs {
    /// Keep printing new output until the sandboxes end (or Ctrl-C).
    #[arg(short, long)]
    follow: bool,
    /// Only these services.
    services: Vec<String>,
}

/// `compose logs`.
pub async fn logs(c: &Client, project: &Project, a: LogsArgs) -> anyhow::Result<i32> {
    for s in &a.services {
        if project.service(s).is_none() {
            anyhow::bail!(
                "no such service: {s} (project {} has {})",
                project.name,
                service_list(project)
            );
        }
    }
    let mut names: Vec<String> = project_sandboxes(c, &project.name)
        .await?
        .iter()
        .filter(|sb| {
            a.services.is_empty()
                || sb
                    .labels
                    .get(labels::SERVICE)
                    .is_some_and(|s| a.services.contains(s))
        })
        .map(summary_name)
        .collect();
    names.sort();
    follow(c, &names, a.follow).await?;
    Ok(0)
}

fn service_list(project: &Project) -> String {
    project
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the output of the named sandboxes, each line as `NAME  | line`, names padded to one
/// width; with `follow`, until every one has ended.
pub async fn follow(c: &Client, names: &[String], follow: bool) -> anyhow::Result<()> {
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let mut set = JoinSet::new();
    for name in names {
        let c = c.clone();
        let name = name.clone();
        let prefix = format!("{name:width$}  | ");
        let options = LogsOptions {
            follow,
            next_exit: false,
        };
        set.spawn(async move {
            let mut logs = c.sandbox_logs(&name, options).await?;
            let mut pending: Vec<u8> = Vec::new();
            while let Some(data) = logs.chunk().await? {
                pending.extend_from_slice(&data);
                print_lines(&prefix, &mut pending, false)?;
            }
            print_lines(&prefix, &mut pending, true)?;
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// Prints the complete lines of `pending` (all of it when `flush`), leaving the rest.
fn print_lines(prefix: &str, pending: &mut Vec<u8>, flush: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = pending.drain(..=i).collect();
        out.write_all(prefix.as_bytes())?;
        out.write_all(&line)?;
    }
    if flush && !pending.is_empty() {
        out.write_all(prefix.as_bytes())?;
        out.write_all(pending)?;
        out.write_all(b"\n")?;
        pending.clear();
    }
    out.flush()
}

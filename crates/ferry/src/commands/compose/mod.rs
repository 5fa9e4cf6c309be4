//! `ferry compose`: runs a Docker Compose project's sandboxes, services and networks. The
//! file is resolved by `ferry-compose`, the difference with the daemon computed by its
//! planner, and the steps carried out here through the daemon's API, as Docker Compose is a
//! client of Docker's.

mod logs;
mod ps;
mod up;

use clap::{Args, Subcommand};
use ferry_client::{Client, Filters};
use ferry_compose::plan::{Observed, ObservedNetwork, ObservedSandbox, ObservedService};
use ferry_compose::{labels, LoadOptions, Project};
use ferry_types::docker::ContainerSummary;
use std::path::PathBuf;

/// `ferry compose` flags and subcommands.
#[derive(Args)]
pub struct ComposeArgs {
    /// The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or
    /// docker-compose.yml in the current directory).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// The project name (default: the file's `name:`, else $COMPOSE_PROJECT_NAME, else the
    /// project directory's name).
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Enable services of this profile (repeatable).
    #[arg(long)]
    profile: Vec<String>,
    #[command(subcommand)]
    cmd: ComposeCmd,
}

/// `ferry compose` subcommands.
#[derive(Subcommand)]
pub enum ComposeCmd {
    /// Create and start the project's networks, sandboxes and services; only what changed
    /// since the last `up` is recreated.
    Up(up::UpArgs),
    /// Stop and remove the project's sandboxes, services and networks, and nothing else.
    Down {
        /// Also remove volumes: ferry has none, so there is nothing more to remove.
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Accepted for Docker Compose's sake: `down` always removes every object labelled
        /// with the project, including those of services no longer in the file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
    },
    /// List the project's sandboxes (service replicas included).
    Ps(ps::PsArgs),
    /// Print the output of the project's sandboxes, each line prefixed with its name.
    Logs(logs::LogsArgs),
    /// Validate the file and print it resolved: interpolated, normalised, defaults filled.
    Config {
        /// yaml or json.
        #[arg(long, default_value = "yaml")]
        format: String,
        /// Only validate: print nothing but errors and warnings.
        #[arg(short, long)]
        quiet: bool,
        /// Print the service names, one per line.
        #[arg(long)]
        services: bool,
        /// Print the network names, one per line.
        #[arg(long)]
        networks: bool,
    },
}

/// Runs a `ferry compose` subcommand.
pub async fn run(c: &Client, a: ComposeArgs) -> anyhow::Result<i32> {
    let project = match load(&a) {
        // As with Docker Compose, `-p NAME down|ps|logs` works without the file: the
        // project's objects are found by their labels.
        Err(ferry_compose::ComposeError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound
                && a.file.is_none()
                && matches!(
                    a.cmd,
                    ComposeCmd::Down { .. } | ComposeCmd::Ps(_) | ComposeCmd::Logs(_)
                ) =>
        {
            match &a.project_name {
                Some(name) => bare_project(name),
                None => anyhow::bail!(
                    "no compose file in this directory: give one with -f, or name the project with -p"
                ),
            }
        }
        r => r?,
    };
    for w in &project.warnings {
        eprintln!("WARN {w}");
    }
    match a.cmd {
        ComposeCmd::Up(args) => up::up(c, &project, args).await,
        ComposeCmd::Down { .. } => up::down(c, &project).await,
        ComposeCmd::Ps(args) => ps::ps(c, &project, args).await,
        ComposeCmd::Logs(args) => logs::logs(c, &project, args).await,
        ComposeCmd::Config {
            format,
            quiet,
            services,
            networks,
        } => {
            if quiet {
            } else if services {
                for s in &project.services {
                    println!("{}", s.name);
                }
            } else if networks {
                for n in &project.networks {
                    println!("{}", n.key);
                }
            } else {
                match format.as_str() {
                    "yaml" => print!("{}", project.to_yaml()),
                    "json" => println!("{}", project.to_json()),
                    other => anyhow::bail!("unknown format {other:?}: use yaml or json"),
                }
            }
            Ok(0)
        }
    }
}

/// A project known only by name: no services or networks of its own in a file, so every
/// object is found by its labels.
fn bare_project(name: &str) -> Project {
    Project {
        name: name.to_string(),
        working_dir: None,
        config_file: None,
        networks: Vec::new(),
        services: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Reads and resolves the compose file.
fn load(a: &ComposeArgs) -> Result<Project, ferry_compose::ComposeError> {
    let path = match &a.file {
        Some(f) => f.clone(),
        None => std::env::current_dir().map_err(|source| ferry_compose::ComposeError::Read {
            path: PathBuf::from("."),
            source,
        })?,
    };
    let opts = LoadOptions {
        project_name: a.project_name.clone(),
        env: std::env::vars().collect(),
        profiles: a.profile.clone(),
        ..Default::default()
    };
    ferry_compose::load_with_options(&path, opts)
}

/// The filters that select a project's objects by label.
fn project_filter(project: &str) -> Filters {
    Filters::new().with("label", format!("{}={project}", labels::PROJECT))
}

/// Every sandbox of the project, stopped ones too.
async fn project_sandboxes(c: &Client, project: &str) -> anyhow::Result<Vec<ContainerSummary>> {
    Ok(c.sandbox_list(true, &project_filter(project)).await?)
}

/// A sandbox's name without Docker's leading slash.
fn summary_name(s: &ContainerSummary) -> String {
    s.names
        .first()
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_else(|| s.id.clone())
}

/// What the daemon holds: every network, sandbox and service (the planner needs foreign
/// ones too, to refuse taking their names).
async fn observe(c: &Client) -> anyhow::Result<Observed> {
    let networks = c.network_list(&Filters::new()).await?;
    let sandboxes = c.sandbox_list(true, &Filters::new()).await?;
    let services = c.service_list().await?;
    Ok(Observed {
        networks: networks
            .into_iter()
            .map(|n| ObservedNetwork {
                name: n.name,
                labels: n.labels,
            })
            .collect(),
        sandboxes: sandboxes
            .iter()
            .map(|s| ObservedSandbox {
                name: summary_name(s),
                labels: s.labels.clone(),
                running: s.state == "running",
            })
            .collect(),
        services: services
            .into_iter()
            .map(|s| ObservedService {
                replicas: s.service_status.desired_tasks,
                name: s.spec.name,
                labels: s.spec.labels,
            })
            .collect(),
    })
}

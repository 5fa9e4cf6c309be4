//! `ferry stack`: compose files run as swarm services, with Docker's stack semantics. The
//! files are read by `ferry-compose` for a stack (overlay networks `STACK_NET`, services
//! `STACK_SERVICE`, all labelled `com.docker.stack.namespace=STACK`), and the networks and
//! services made, updated or removed here through the daemon's API, as `docker stack` is a
//! client of Docker's. A stack exists only as that label on its objects.

mod deploy;
mod ls;
mod ps;
mod rm;
mod services;

use clap::Subcommand;
use ferry_client::{Client, Filters};
use ferry_compose::stack::NAMESPACE;
use ferry_types::service::ServiceView;

/// `ferry stack` subcommands.
#[derive(Subcommand)]
pub enum StackCmd {
    /// Deploy a new stack or update an existing one (on a swarm manager).
    #[command(alias = "up")]
    Deploy(deploy::DeployArgs),
    /// List the stacks: every namespace label of the swarm's services.
    #[command(alias = "list")]
    Ls,
    /// List the services of a stack.
    Services {
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
        /// The stack.
        stack: String,
    },
    /// List the tasks of every service of a stack, with their nodes.
    Ps {
        /// The stack.
        stack: String,
    },
    /// Remove stacks: their services, then their networks (on a swarm manager).
    #[command(alias = "remove", alias = "down")]
    Rm {
        /// The stacks.
        #[arg(required = true)]
        stacks: Vec<String>,
    },
}

/// Runs a `ferry stack` subcommand.
pub async fn run(c: &Client, cmd: StackCmd) -> anyhow::Result<i32> {
    match cmd {
        StackCmd::Deploy(a) => deploy::deploy(c, a).await,
        StackCmd::Ls => ls::ls(c).await,
        StackCmd::Services { quiet, stack } => services::services(c, &stack, quiet).await,
        StackCmd::Ps { stack } => ps::ps(c, &stack).await,
        StackCmd::Rm { stacks } => rm::rm(c, &stacks).await,
    }
}

/// The filter that selects a stack's objects.
fn stack_filter(stack: &str) -> Filters {
    Filters::new().with("label", format!("{NAMESPACE}={stack}"))
}

/// The stack's services, by name.
async fn stack_services(c: &Client, stack: &str) -> anyhow::Result<Vec<ServiceView>> {
    let mut list = c.service_list_filtered(&stack_filter(stack)).await?;
    list.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    Ok(list)
}

/// Deploy and rm change the swarm: only a manager may (Docker's check and words).
async fn require_manager(c: &Client) -> anyhow::Result<()> {
    let info = c.info().await?;
    if !info.swarm.control_available {
        anyhow::bail!(
            "this node is not a swarm manager. Use \"ferry swarm init\" or \"ferry swarm join\" to connect this node to swarm and try again"
        );
    }
    Ok(())
}

/// Docker's line when a stack has nothing to show.
fn nothing_found(stack: &str) {
    eprintln!("Nothing found in stack: {stack}");
}

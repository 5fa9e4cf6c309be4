//! `ferry stack deploy`: the stack's networks made if missing, each service created, or
//! updated with only what changed since the last deploy (its spec as `service inspect`
//! shows it against the files), and with `--prune` the services no longer in the files
//! removed, as `docker stack deploy` does.

use anyhow::Context;
use clap::Args;
use ferry_client::{Client, ClientError};
use ferry_compose::stack::{self, Change};
use ferry_compose::LoadOptions;
use ferry_types::service::ServiceCreateRequest;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `stack deploy` flags.
#[derive(Args)]
pub struct DeployArgs {
    /// A compose file (repeatable: each later file is merged into the earlier ones).
    #[arg(short = 'c', long = "compose-file", required = true)]
    compose_file: Vec<PathBuf>,
    /// Remove the stack's services that the files no longer have.
    #[arg(long)]
    prune: bool,
    /// The stack's name: its networks are STACK_NET, its services STACK_SERVICE.
    stack: String,
}

/// Deploys or updates the stack.
pub(super) async fn deploy(c: &Client, a: DeployArgs) -> anyhow::Result<i32> {
    super::require_manager(c).await?;
    let project = ferry_compose::load_files(
        &a.compose_file,
        LoadOptions {
            project_name: Some(a.stack.clone()),
            env: std::env::vars().collect(),
            stack: true,
            ..Default::default()
        },
    )?;
    for w in &project.warnings {
        eprintln!("{w}\n");
    }
    let networks = stack::network_requests(&project);
    let services = stack::service_requests(&project)?;

    // External networks must exist and span the swarm (Docker's checks and words).
    for n in project.networks.iter().filter(|n| n.external) {
        match c.network_inspect(&n.name).await {
            Ok(i) if i.scope == "swarm" => {}
            Ok(i) => anyhow::bail!(
                "network {:?} is declared as external, but it is not in the right scope: {:?} instead of \"swarm\"",
                n.name,
                i.scope
            ),
            Err(ClientError::NotFound { .. }) => anyhow::bail!(
                "network {:?} is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed",
                n.name
            ),
            Err(e) => return Err(e.into()),
        }
    }

    // Networks: made once; a deploy does not change a network that exists (as Docker).
    let existing = c.network_list(&super::stack_filter(&a.stack)).await?;
    for n in &networks {
        if existing.iter().any(|e| e.name == n.name) {
            continue;
        }
        println!("Creating network {}", n.name);
        c.network_create(n)
            .await
            .with_context(|| format!("failed to create network {}", n.name))?;
    }

    let current = super::stack_services(c, &a.stack).await?;
    for want in &services {
        let Some(cur) = current.iter().find(|s| s.spec.name == want.name) else {
            println!("Creating service {}", want.name);
            create(c, want).await?;
            continue;
        };
        match stack::patch(cur, want) {
            Change::Unchanged => {}
            Change::Update(u) => {
                println!("Updating service {} (id: {})", want.name, cur.id);
                c.service_update(&cur.id, &u)
                    .await
                    .with_context(|| format!("failed to update service {}", want.name))?;
            }
            Change::Recreate(why) => {
                println!(
                    "Recreating service {} (id: {}): {} changed, which an update cannot change",
                    want.name,
                    cur.id,
                    why.join(", ")
                );
                c.service_remove(&cur.id)
                    .await
                    .with_context(|| format!("failed to remove service {}", want.name))?;
                create(c, want).await?;
            }
        }
    }
    if a.prune {
        for s in &current {
            if !services.iter().any(|w| w.name == s.spec.name) {
                println!("Removing service {}", s.spec.name);
                c.service_remove(&s.id)
                    .await
                    .with_context(|| format!("failed to remove service {}", s.spec.name))?;
            }
        }
    }
    Ok(0)
}

/// Creates a service; a name still held by the service just removed is waited for.
async fn create(c: &Client, req: &ServiceCreateRequest) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        match c.service_create(req).await {
            Err(ClientError::Conflict { .. }) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            r => {
                r.with_context(|| format!("failed to create service {}", req.name))?;
                return Ok(());
            }
        }
    }
}

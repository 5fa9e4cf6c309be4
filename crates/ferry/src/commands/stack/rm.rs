//! `ferry stack rm`: a stack's services, then its networks, as `docker stack rm` removes
//! them. An overlay network is refused while a replica of a removed service still holds it
//! on some node, so its removal is retried until the replicas are gone.

use crate::output;
use ferry_client::{Client, ClientError};
use std::time::{Duration, Instant};

/// How long a network's removal waits for the replicas on it to go.
const NETWORK_WAIT: Duration = Duration::from_secs(60);

/// Removes each stack; exit code 1 when something of one could not be removed.
pub(super) async fn rm(c: &Client, stacks: &[String]) -> anyhow::Result<i32> {
    super::require_manager(c).await?;
    let mut code = 0;
    for stack in stacks {
        let services = super::stack_services(c, stack).await?;
        let mut networks = c.network_list(&super::stack_filter(stack)).await?;
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        if services.is_empty() && networks.is_empty() {
            super::nothing_found(stack);
            continue;
        }
        let mut failed = false;
        for s in &services {
            println!("Removing service {}", s.spec.name);
            if let Err(e) = c.service_remove(&s.id).await {
                output::error(e);
                failed = true;
            }
        }
        for n in &networks {
            println!("Removing network {}", n.name);
            if let Err(e) = remove_network(c, &n.id).await {
                output::error(e);
                failed = true;
            }
        }
        if failed {
            eprintln!("Failed to remove some resources from stack: {stack}");
            code = 1;
        }
    }
    Ok(code)
}

/// Removes a network, waiting while it is still in use.
async fn remove_network(c: &Client, id: &str) -> Result<(), ClientError> {
    let start = Instant::now();
    loop {
        match c.network_remove(id).await {
            Err(ClientError::Conflict { .. }) if start.elapsed() < NETWORK_WAIT => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(ClientError::NotFound { .. }) => return Ok(()),
            other => return other,
        }
    }
}

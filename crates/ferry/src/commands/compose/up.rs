//! `compose up` and `compose down`: carry out the planner's steps, one progress line as each
//! begins and one as it ends.

use super::{logs, observe, project_sandboxes, summary_name};
use anyhow::Context;
use clap::Args;
use ferry_client::{Client, WaitCondition};
use ferry_compose::plan::{self, Step};
use ferry_compose::{DependencyCondition, Project, ProjectService};
use ferry_types::api::NetworkRequest;
use ferry_types::service::{ReplicaTemplate, ServiceCreateRequest, ServiceUpdateRequest};
use std::time::Instant;

/// `compose up` flags.
#[derive(Args)]
pub struct UpArgs {
    /// Leave the project running in the background; without it, `up` prints the sandboxes'
    /// output until they all end or Ctrl-C stops them.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Remove sandboxes and services of services the file no longer has.
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
}

/// `compose up`.
pub async fn up(c: &Client, project: &Project, a: UpArgs) -> anyhow::Result<i32> {
    let observed = observe(c).await?;
    let (steps, orphans) = plan::up(project, &observed, a.remove_orphans)?;
    if !orphans.is_empty() && !a.remove_orphans {
        eprintln!(
            "WARN Found orphan sandboxes or services ({}) of project {}: services no longer in the file. Run up with --remove-orphans to remove them.",
            orphans.join(", "),
            project.name
        );
    }
    if steps.is_empty() {
        eprintln!("Project {} is up to date", project.name);
    }
    run_steps(c, project, &steps).await?;
    if a.detach {
        return Ok(0);
    }
    attach(c, project).await
}

/// `compose down`.
pub async fn down(c: &Client, project: &Project) -> anyhow::Result<i32> {
    let observed = observe(c).await?;
    let steps = plan::down(project, &observed);
    if steps.is_empty() {
        eprintln!(
            "Nothing to remove: project {} has no sandboxes, services or networks",
            project.name
        );
    }
    run_steps(c, project, &steps).await?;
    Ok(0)
}

/// Carries out steps in order; the first failure stops the run, after its line.
async fn run_steps(c: &Client, project: &Project, steps: &[Step]) -> anyhow::Result<()> {
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let (kind, name, doing, done) = step.describe();
        let why = step.reason().map(|r| format!(" ({r})")).unwrap_or_default();
        eprintln!("[{}/{total}] {kind} {name}  {doing}{why}", i + 1);
        let t = Instant::now();
        match run_step(c, project, step).await {
            Ok(()) => eprintln!(
                "[{}/{total}] {kind} {name}  {done} ({:.1}s)",
                i + 1,
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("[{}/{total}] {kind} {name}  Error", i + 1);
                return Err(e.context(format!("{kind} {name}")));
            }
        }
    }
    Ok(())
}

async fn run_step(c: &Client, project: &Project, step: &Step) -> anyhow::Result<()> {
    match step {
        Step::RemoveSandbox { name, .. } => c.sandbox_remove(name, true).await?,
        Step::RemoveService { name, .. } => c.service_remove(name).await?,
        Step::RemoveNetwork { name } => c.network_remove(name).await?,
        Step::CreateNetwork { key, .. } => {
            let req = project
                .network(key)
                .and_then(|n| n.create.as_ref())
                .with_context(|| format!("the plan has no network {key}"))?;
            c.network_create(req).await?;
        }
        Step::WaitDependencies { service } => wait_dependencies(c, project, service).await?,
        Step::CreateSandbox { service, index, .. } => {
            let req = project
                .sandbox_request(service, *index)
                .with_context(|| format!("the plan has no replica {index} of {service}"))?;
            let created = c.sandbox_create(&req).await?;
            if !created.warning.is_empty() {
                eprintln!("WARN {}", created.warning);
            }
            if let Err(e) = c.sandbox_start(&created.id).await {
                // No half-made project: the next `up` creates it afresh.
                let _ = c.sandbox_remove(&created.id, true).await;
                return Err(e.into());
            }
        }
        Step::StartSandbox { name } => c.sandbox_start(name).await?,
        Step::CreateService { service, name } => {
            let s = project
                .service(service)
                .with_context(|| format!("the plan has no service {service}"))?;
            let req = service_request(s, name)?;
            c.service_create(&req).await?;
        }
        Step::ScaleService { name, replicas } => {
            let req = ServiceUpdateRequest {
                replicas: Some(*replicas),
                ..Default::default()
            };
            c.service_update(name, &req).await?;
        }
    }
    Ok(())
}

/// Waits for the conditions of a service's `depends_on`: started (already so, since
/// dependencies come first), healthy (ferry runs no healthchecks; the file's load warned), or
/// completed successfully (every sandbox of the dependency exited with status 0).
async fn wait_dependencies(c: &Client, project: &Project, service: &str) -> anyhow::Result<()> {
    let Some(s) = project.service(service) else {
        return Ok(());
    };
    for d in &s.depends_on {
        if d.condition != DependencyCondition::ServiceCompletedSuccessfully {
            continue;
        }
        let Some(dep) = project.service(&d.service) else {
            continue;
        };
        for index in 1..=dep.replicas {
            let name = project.sandbox_name(&dep.name, index);
            let w = c
                .sandbox_wait(&name, WaitCondition::NotRunning)
                .await?
                .exit()
                .await
                .with_context(|| format!("reading the exit status of {name}"))?;
            if w.status_code != 0 {
                anyhow::bail!(
                    "{service} depends on {} completing successfully, but {name} exited with status {}",
                    dep.name,
                    w.status_code
                );
            }
        }
    }
    Ok(())
}

/// The ferry service that runs a replicated compose service: the replica template with the
/// routing mesh's ports, replicas named `PROJECT-SERVICE-N`.
pub(super) fn service_request(
    s: &ProjectService,
    name: &str,
) -> anyhow::Result<ServiceCreateRequest> {
    if let Some(mode) = &s.network_mode {
        anyhow::bail!(
            "service {} has {} replicas and network_mode {}: replicas of a service need networks of their own; remove network_mode or use one replica",
            s.name,
            s.replicas,
            mode.to_compose()
        );
    }
    let t = &s.sandbox;
    let networks = t
        .networks
        .iter()
        .map(|n| NetworkRequest {
            name: n.name.clone(),
            aliases: n.aliases.clone(),
            ..Default::default()
        })
        .collect();
    let ports = s
        .mesh_ports()
        .iter()
        .filter_map(|p| {
            let host = p.request.host_ports?.start;
            Some(format!(
                "published={host},target={},protocol={},mode=ingress",
                p.request.container.port,
                p.request.container.proto.as_str()
            ))
        })
        .collect();
    Ok(ServiceCreateRequest {
        name: name.to_string(),
        replicas: Some(s.replicas),
        networks,
        ports,
        endpoint_mode: s.endpoint_mode.as_str().to_string(),
        replica_prefix: Some(name.to_string()),
        template: ReplicaTemplate {
            replica_ports: s.replica_port_bindings(),
            ..ReplicaTemplate::of_sandbox(t)
        },
        ..Default::default()
    })
}

/// The attached part of `up`: prints every sandbox's output until they all end; Ctrl-C
/// stops the project (sandboxes stopped, services scaled to none; the next `up` brings them
/// back).
async fn attach(c: &Client, project: &Project) -> anyhow::Result<i32> {
    let names: Vec<String> = project_sandboxes(c, &project.name)
        .await?
        .iter()
        .filter(|s| s.state == "running")
        .map(summary_name)
        .collect();
    eprintln!("Attaching to {}", names.join(", "));
    tokio::select! {
        r = logs::follow(c, &names, true) => r?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            tokio::select! {
                r = stop(c, project) => r?,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("Stopping forced: the project is left as it is");
                    return Ok(130);
                }
            }
        }
    }
    Ok(0)
}

/// Stops the project without removing it.
async fn stop(c: &Client, project: &Project) -> anyhow::Result<()> {
    let observed = observe(c).await?;
    for svc in observed
        .services
        .iter()
        .filter(|s| s.labels.get(ferry_compose::labels::PROJECT) == Some(&project.name))
    {
        let req = ServiceUpdateRequest {
            replicas: Some(0),
            ..Default::default()
        };
        c.service_update(&svc.name, &req).await?;
        eprintln!("Service {}  Stopped", svc.name);
    }
    // Dependents stop before what they depend on.
    let order: Vec<&str> = project
        .stop_order()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut sandboxes = project_sandboxes(c, &project.name).await?;
    sandboxes.sort_by_key(|sb| {
        sb.labels
            .get(ferry_compose::labels::SERVICE)
            .and_then(|s| order.iter().position(|o| o == s))
    });
    for sb in sandboxes {
        if sb.state == "running" && !sb.labels.contains_key("com.docker.swarm.service.id") {
            let name = summary_name(&sb);
            c.sandbox_stop(&name, None).await?;
            eprintln!("Sandbox {name}  Stopped");
        }
    }
    Ok(())
}

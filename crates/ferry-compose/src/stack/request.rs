//! A stack's project turned into the API's requests: one `network create` per network the
//! stack makes, one `service create` per service (pure).

use crate::model::{user_labels, Project, ProjectService};
use crate::{ComposeError, PublishMode};
use ferry_types::api::NetworkCreateRequest;
use ferry_types::placement::ServiceMode;
use ferry_types::service::{ReplicaTemplate, ServiceCreateRequest};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The label every object of a stack carries: the stack's name (Docker's).
pub const NAMESPACE: &str = "com.docker.stack.namespace";

/// A service's label holding a hash of what its replicas are made with that `service
/// inspect` does not show (host name, root directory, confinement): when it differs, the
/// service is made again, since `service update` cannot change those.
pub const TEMPLATE_HASH: &str = "ferry.stack.template-hash";

/// `STACK_SERVICE`, as Docker names a stack's services.
pub fn service_name(stack: &str, service: &str) -> String {
    format!("{stack}_{service}")
}

/// The networks the stack makes (not its external ones), labelled with the stack's name
/// instead of Compose's labels.
pub fn network_requests(project: &Project) -> Vec<NetworkCreateRequest> {
    project
        .networks
        .iter()
        .filter_map(|n| n.create.clone())
        .map(|mut c| {
            c.labels = user_labels(&c.labels);
            c.labels.insert(NAMESPACE.into(), project.name.clone());
            c
        })
        .collect()
}

/// One `service create` request per service of the stack, by service name.
pub fn service_requests(project: &Project) -> Result<Vec<ServiceCreateRequest>, ComposeError> {
    project
        .services
        .iter()
        .map(|s| service_request(project, s))
        .collect()
}

fn invalid(project: &Project, message: String) -> ComposeError {
    ComposeError::Invalid {
        file: project.config_file.clone(),
        message,
    }
}

fn service_request(
    project: &Project,
    s: &ProjectService,
) -> Result<ServiceCreateRequest, ComposeError> {
    let swarm = s.swarm.clone().unwrap_or_default();
    let sb = &s.sandbox;
    let mut ports = Vec::new();
    for p in &s.ports {
        let r = &p.request;
        let at = format!("services.{}.ports", s.name);
        if r.host_ip.is_some() {
            return Err(invalid(
                project,
                format!(
                    "{at}: {} names a host address, but a swarm service publishes on every address of its nodes: remove the address",
                    r.container
                ),
            ));
        }
        let published = match r.host_ports {
            Some(range) if range.start == range.end => range.start,
            Some(range) => {
                return Err(invalid(
                    project,
                    format!(
                        "{at}: {}-{} is a range of host ports for one port ({}): a swarm service publishes one host port per port; give one",
                        range.start, range.end, r.container
                    ),
                ))
            }
            None => {
                return Err(invalid(
                    project,
                    format!(
                        "{at}: port {} has no published port: give one, e.g. \"8080:{}\"",
                        r.container, r.container.port
                    ),
                ))
            }
        };
        ports.push(format!(
            "published={published},target={},protocol={},mode={}",
            r.container.port,
            r.container.proto.as_str(),
            match p.mode {
                PublishMode::Ingress => "ingress",
                PublishMode::Host => "host",
            }
        ));
    }
    let mut labels = user_labels(&sb.labels);
    labels.extend(swarm.labels.clone());
    labels.insert(NAMESPACE.into(), project.name.clone());
    let mut template = ReplicaTemplate {
        cmd: sb.cmd.clone(),
        env: sb.env.clone(),
        working_dir: sb.working_dir.clone(),
        hostname: sb.hostname.clone(),
        rootfs: sb.rootfs.clone(),
        dns: sb.dns.clone(),
        dns_search: sb.dns_search.clone(),
        dns_options: sb.dns_options.clone(),
        extra_hosts: sb.extra_hosts.clone(),
        links: Vec::new(),
        labels,
        replica_ports: Default::default(),
        security: sb.security.clone(),
    };
    template
        .labels
        .insert(TEMPLATE_HASH.into(), template_hash(&template));
    Ok(ServiceCreateRequest {
        name: service_name(&project.name, &s.name),
        replicas: match swarm.mode {
            ServiceMode::Replicated => Some(s.replicas),
            ServiceMode::Global => None,
        },
        networks: sb.networks.clone(),
        ports,
        endpoint_mode: s.endpoint_mode.as_str().into(),
        replica_prefix: None,
        mode: swarm.mode,
        placement: swarm.placement,
        update: swarm.update_config,
        template,
        unknown: Default::default(),
    })
}

/// SHA-256 (hex) of the host name, root directory and confinement of a template.
fn template_hash(t: &ReplicaTemplate) -> String {
    #[derive(Serialize)]
    struct Hidden<'a> {
        hostname: &'a str,
        rootfs: &'a str,
        security: &'a ferry_types::security::SecurityRequest,
    }
    let bytes = serde_json::to_vec(&Hidden {
        hostname: &t.hostname,
        rootfs: &t.rootfs,
        security: &t.security,
    })
    .unwrap_or_default();
    Sha256::digest(&bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

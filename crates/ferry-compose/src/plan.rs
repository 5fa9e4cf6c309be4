//! What `up` and `down` must do: the difference between a [`Project`] and the objects the
//! daemon holds for it, as an ordered list of [`Step`]s. Pure: the caller observes the daemon
//! and carries the steps out.
//!
//! Objects are recognised by Compose's labels, never by name alone, so `down` removes what the
//! project made and nothing else, and `up` refuses to adopt a same-named network it did not
//! make.

use crate::model::{labels, Project, ProjectService};
use std::collections::{BTreeMap, BTreeSet};

/// A network the daemon holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A sandbox the daemon holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedSandbox {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it is running.
    pub running: bool,
}

/// A ferry service the daemon holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedService {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its replica count.
    pub replicas: u32,
}

/// Everything the daemon holds that may concern a project (more is fine: what does not carry
/// the project's label is ignored, except networks whose names the project needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Networks.
    pub networks: Vec<ObservedNetwork>,
    /// Sandboxes, including services' replicas (recognised by their swarm labels).
    pub sandboxes: Vec<ObservedSandbox>,
    /// Services.
    pub services: Vec<ObservedService>,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Stop and remove a sandbox.
    RemoveSandbox {
        /// Its name.
        name: String,
        /// Why: `recreate`, `orphan`, `scale`, `down`.
        why: &'static str,
    },
    /// Remove a ferry service and its replicas.
    RemoveService {
        /// Its name.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// Remove a network.
    RemoveNetwork {
        /// Its name.
        name: String,
    },
    /// Create the network with this key ([`crate::ProjectNetwork::create`]).
    CreateNetwork {
        /// Key in the project.
        key: String,
        /// Its name.
        name: String,
    },
    /// Wait until the dependencies of a service are ready (their condition).
    WaitDependencies {
        /// The dependent service.
        service: String,
    },
    /// Create and start replica `index` of a single-sandbox service
    /// ([`Project::sandbox_request`]).
    CreateSandbox {
        /// The service.
        service: String,
        /// Replica number, from 1.
        index: u32,
        /// Its name.
        name: String,
    },
    /// Start an existing, stopped sandbox whose configuration is current.
    StartSandbox {
        /// Its name.
        name: String,
    },
    /// Create a ferry service (VIP or DNS round robin) for a replicated compose service.
    CreateService {
        /// The compose service.
        service: String,
        /// The ferry service's name ([`service_name`]).
        name: String,
    },
    /// Change a ferry service's replica count.
    ScaleService {
        /// The ferry service's name.
        name: String,
        /// The new count.
        replicas: u32,
    },
}

impl Step {
    /// Why a removal happens (`recreate`, `orphan`, `scale`, `down`), for progress lines.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Step::RemoveSandbox { why, .. } | Step::RemoveService { why, .. } => Some(why),
            _ => None,
        }
    }

    /// The object's kind and name, and the verbs for doing and done, for progress lines.
    pub fn describe(&self) -> (&'static str, &str, &'static str, &'static str) {
        match self {
            Step::RemoveSandbox { name, .. } => ("Sandbox", name, "Removing", "Removed"),
            Step::RemoveService { name, .. } => ("Service", name, "Removing", "Removed"),
            Step::RemoveNetwork { name } => ("Network", name, "Removing", "Removed"),
            Step::CreateNetwork { name, .. } => ("Network", name, "Creating", "Created"),
            Step::WaitDependencies { service } => ("Service", service, "Waiting", "Ready"),
            Step::CreateSandbox { name, .. } => ("Sandbox", name, "Creating", "Started"),
            Step::StartSandbox { name } => ("Sandbox", name, "Starting", "Started"),
            Step::CreateService { name, .. } => ("Service", name, "Creating", "Created"),
            Step::ScaleService { name, .. } => ("Service", name, "Scaling", "Scaled"),
        }
    }
}

/// Why `up` cannot go ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A network the project would create exists but is not the project's.
    #[error("network {name} already exists and was not created by project {project} (its {label} label is {found:?}): remove it, or declare it in the file with external: true")]
    ForeignNetwork {
        /// The network.
        name: String,
        /// The project.
        project: String,
        /// The label checked.
        label: &'static str,
        /// What the label says.
        found: String,
    },
    /// An external network is missing.
    #[error("network {name} is declared external but does not exist: create it first (ferry network create {name})")]
    MissingExternal {
        /// The network.
        name: String,
    },
    /// A sandbox name the project needs is held by something else.
    #[error("the name {name} is already used by a sandbox that is not {service}'s in project {project}: remove or rename that sandbox")]
    ForeignSandbox {
        /// The sandbox.
        name: String,
        /// The compose service that needs the name.
        service: String,
        /// The project.
        project: String,
    },
}

/// The name of the ferry service that runs a replicated compose service: `PROJECT-SERVICE`,
/// whose replicas are `PROJECT-SERVICE-N`, the names Compose gives containers.
pub fn service_name(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

/// Whether a compose service runs as a ferry service (one VIP or DNS round robin in front of
/// its replicas, restarted when they exit) rather than as plain sandboxes: when it has more
/// than one replica. A single replica is a plain sandbox, as in Compose, so a program that
/// runs once and exits is not restarted.
pub fn is_replicated(s: &ProjectService) -> bool {
    s.replicas > 1
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

fn is_replica(sb: &ObservedSandbox) -> bool {
    sb.labels.contains_key("com.docker.swarm.service.id")
}

fn in_project(labels: &BTreeMap<String, String>, project: &str) -> bool {
    label(labels, labels::PROJECT) == Some(project)
}

/// The sandbox's replica number: its `container-number` label.
fn number(sb: &ObservedSandbox) -> Option<u32> {
    label(&sb.labels, labels::CONTAINER_NUMBER).and_then(|n| n.parse().ok())
}

/// The steps that bring the daemon to the project: removals first (dependents before their
/// dependencies), then networks, then creations in dependency order. Only what differs is
/// touched: a sandbox or service is recreated when its `config-hash` label differs from the
/// plan's, which is so when its own configuration or one of its networks changed; a scale
/// change adds or removes replicas and leaves the others running. Sandboxes of services no
/// longer in the file are removed when `remove_orphans`, and otherwise returned as orphans
/// for a warning.
pub fn up(
    project: &Project,
    observed: &Observed,
    remove_orphans: bool,
) -> Result<(Vec<Step>, Vec<String>), PlanError> {
    let p = &project.name;
    let mut removals = Vec::new();
    let mut creations = Vec::new();
    let mut orphans = Vec::new();

    // Sandboxes and services of services the file no longer has.
    let known: BTreeSet<&str> = project.services.iter().map(|s| s.name.as_str()).collect();
    for sb in observed
        .sandboxes
        .iter()
        .filter(|sb| in_project(&sb.labels, p) && !is_replica(sb))
    {
        if !label(&sb.labels, labels::SERVICE).is_some_and(|s| known.contains(s)) {
            orphans.push(sb.name.clone());
        }
    }
    for svc in observed
        .services
        .iter()
        .filter(|s| in_project(&s.labels, p))
    {
        if !label(&svc.labels, labels::SERVICE).is_some_and(|s| known.contains(s)) {
            orphans.push(svc.name.clone());
        }
    }
    if remove_orphans {
        for name in &orphans {
            if observed.services.iter().any(|s| &s.name == name) {
                removals.push(Step::RemoveService {
                    name: name.clone(),
                    why: "orphan",
                });
            } else {
                removals.push(Step::RemoveSandbox {
                    name: name.clone(),
                    why: "orphan",
                });
            }
        }
    }

    for s in project.stop_order() {
        let mine = |labels: &BTreeMap<String, String>| {
            in_project(labels, p) && label(labels, labels::SERVICE) == Some(s.name.as_str())
        };
        let current = |labels: &BTreeMap<String, String>| {
            label(labels, labels::CONFIG_HASH) == Some(s.config_hash.as_str())
        };
        let sandboxes: Vec<&ObservedSandbox> = observed
            .sandboxes
            .iter()
            .filter(|sb| mine(&sb.labels) && !is_replica(sb))
            .collect();
        let service = observed.services.iter().find(|o| mine(&o.labels));
        if is_replicated(s) {
            for sb in &sandboxes {
                removals.push(Step::RemoveSandbox {
                    name: sb.name.clone(),
                    why: "recreate",
                });
            }
            let name = service_name(p, &s.name);
            match service {
                Some(o) if current(&o.labels) => {
                    if o.replicas != s.replicas {
                        creations.push((
                            s.name.as_str(),
                            Step::ScaleService {
                                name: o.name.clone(),
                                replicas: s.replicas,
                            },
                        ));
                    }
                }
                other => {
                    if let Some(o) = other {
                        removals.push(Step::RemoveService {
                            name: o.name.clone(),
                            why: "recreate",
                        });
                    }
                    creations.push((
                        s.name.as_str(),
                        Step::CreateService {
                            service: s.name.clone(),
                            name,
                        },
                    ));
                }
            }
            continue;
        }
        if let Some(o) = service {
            removals.push(Step::RemoveService {
                name: o.name.clone(),
                why: "recreate",
            });
        }
        for index in 1..=s.replicas {
            let name = project.sandbox_name(&s.name, index);
            let existing = sandboxes
                .iter()
                .find(|sb| sb.name == name || number(sb) == Some(index));
            match existing {
                Some(sb) if current(&sb.labels) && sb.name == name => {
                    if !sb.running {
                        creations.push((
                            s.name.as_str(),
                            Step::StartSandbox {
                                name: sb.name.clone(),
                            },
                        ));
                    }
                }
                other => {
                    if let Some(sb) = other {
                        removals.push(Step::RemoveSandbox {
                            name: sb.name.clone(),
                            why: "recreate",
                        });
                    } else if let Some(foreign) = observed
                        .sandboxes
                        .iter()
                        .find(|sb| sb.name == name && !mine(&sb.labels))
                    {
                        return Err(PlanError::ForeignSandbox {
                            name: foreign.name.clone(),
                            service: s.name.clone(),
                            project: p.clone(),
                        });
                    }
                    creations.push((
                        s.name.as_str(),
                        Step::CreateSandbox {
                            service: s.name.clone(),
                            index,
                            name,
                        },
                    ));
                }
            }
        }
        // Replicas above the count, highest first.
        let mut surplus: Vec<&&ObservedSandbox> = sandboxes
            .iter()
            .filter(|sb| number(sb).is_none_or(|n| n > s.replicas))
            .collect();
        surplus.sort_by_key(|sb| std::cmp::Reverse(number(sb)));
        for sb in surplus {
            removals.push(Step::RemoveSandbox {
                name: sb.name.clone(),
                why: "scale",
            });
        }
    }

    let mut networks = Vec::new();
    for n in &project.networks {
        let found = observed.networks.iter().find(|o| o.name == n.name);
        if n.external {
            if found.is_none() {
                return Err(PlanError::MissingExternal {
                    name: n.name.clone(),
                });
            }
            continue;
        }
        match found {
            None => networks.push(Step::CreateNetwork {
                key: n.key.clone(),
                name: n.name.clone(),
            }),
            Some(o) => {
                for (key, want) in [(labels::PROJECT, p.as_str()), (labels::NETWORK, &n.key)] {
                    let have = label(&o.labels, key).unwrap_or_default();
                    if have != want {
                        return Err(PlanError::ForeignNetwork {
                            name: n.name.clone(),
                            project: p.clone(),
                            label: key,
                            found: have.to_string(),
                        });
                    }
                }
                if label(&o.labels, labels::CONFIG_HASH) != Some(n.config_hash.as_str()) {
                    networks.push(Step::RemoveNetwork {
                        name: n.name.clone(),
                    });
                    networks.push(Step::CreateNetwork {
                        key: n.key.clone(),
                        name: n.name.clone(),
                    });
                }
            }
        }
    }

    // Creations in dependency order, each service after its dependencies are ready.
    let mut steps = removals;
    steps.append(&mut networks);
    for s in project.start_order() {
        let mine: Vec<Step> = creations
            .iter()
            .filter(|(svc, _)| *svc == s.name)
            .map(|(_, step)| step.clone())
            .collect();
        if mine.is_empty() {
            continue;
        }
        if !s.depends_on.is_empty() {
            steps.push(Step::WaitDependencies {
                service: s.name.clone(),
            });
        }
        steps.extend(mine);
    }
    Ok((steps, orphans))
}

/// The steps that remove a project: its sandboxes (dependents first, then any the file does
/// not know), its services, then its networks. External networks and anything without the
/// project's label are left alone.
pub fn down(project: &Project, observed: &Observed) -> Vec<Step> {
    let p = &project.name;
    let mut steps = Vec::new();
    let order: Vec<&str> = project
        .stop_order()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let rank = |labels: &BTreeMap<String, String>| {
        label(labels, labels::SERVICE)
            .and_then(|s| order.iter().position(|o| *o == s))
            .map_or(0, |i| i + 1)
    };
    let mut services: Vec<&ObservedService> = observed
        .services
        .iter()
        .filter(|s| in_project(&s.labels, p))
        .collect();
    services.sort_by_key(|s| (rank(&s.labels), s.name.clone()));
    let mut sandboxes: Vec<&ObservedSandbox> = observed
        .sandboxes
        .iter()
        .filter(|sb| in_project(&sb.labels, p) && !is_replica(sb))
        .collect();
    sandboxes.sort_by_key(|sb| (rank(&sb.labels), sb.name.clone()));
    // Merge by rank so a service's dependents (sandboxes or services) go before it.
    let mut items: Vec<(usize, Step)> = sandboxes
        .iter()
        .map(|sb| {
            (
                rank(&sb.labels),
                Step::RemoveSandbox {
                    name: sb.name.clone(),
                    why: "down",
                },
            )
        })
        .chain(services.iter().map(|s| {
            (
                rank(&s.labels),
                Step::RemoveService {
                    name: s.name.clone(),
                    why: "down",
                },
            )
        }))
        .collect();
    items.sort_by_key(|(r, _)| *r);
    steps.extend(items.into_iter().map(|(_, s)| s));
    let mut nets: Vec<&ObservedNetwork> = observed
        .networks
        .iter()
        .filter(|n| in_project(&n.labels, p))
        .collect();
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    steps.extend(nets.into_iter().map(|n| Step::RemoveNetwork {
        name: n.name.clone(),
    }));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, LoadOptions};

    fn project(yaml: &str) -> Project {
        let opts = LoadOptions {
            project_name: Some("demo".into()),
            ..Default::default()
        };
        parse(yaml, &opts).expect("valid compose file")
    }

    const FILE: &str = "
services:
  db:
    command: sleep 600
  web:
    command: sleep 600
    depends_on: [db]
    deploy: {replicas: 3}
    ports: ['8080:80']
";

    /// What the daemon holds after `up` of `p`, as the executor would have made it.
    fn made(p: &Project) -> Observed {
        let mut o = Observed::default();
        for n in &p.networks {
            o.networks.push(ObservedNetwork {
                name: n.name.clone(),
                labels: n
                    .create
                    .as_ref()
                    .map(|c| c.labels.clone())
                    .unwrap_or_default(),
            });
        }
        for s in &p.services {
            if is_replicated(s) {
                o.services.push(ObservedService {
                    name: service_name(&p.name, &s.name),
                    labels: s.sandbox.labels.clone(),
                    replicas: s.replicas,
                });
                for i in 1..=s.replicas {
                    let mut labels = s.sandbox.labels.clone();
                    labels.insert("com.docker.swarm.service.id".into(), "x".into());
                    o.sandboxes.push(ObservedSandbox {
                        name: format!("{}-{}-{i}", p.name, s.name),
                        labels,
                        running: true,
                    });
                }
            } else {
                for i in 1..=s.replicas {
                    let r = p.sandbox_request(&s.name, i).unwrap();
                    o.sandboxes.push(ObservedSandbox {
                        name: r.name,
                        labels: r.labels,
                        running: true,
                    });
                }
            }
        }
        o
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| {
                let (kind, name, doing, _) = s.describe();
                format!("{doing} {kind} {name}")
            })
            .collect()
    }

    #[test]
    fn first_up_creates_networks_then_dependencies_first() {
        let p = project(FILE);
        let (steps, orphans) = up(&p, &Observed::default(), false).unwrap();
        assert!(orphans.is_empty());
        assert_eq!(
            names(&steps),
            [
                "Creating Network demo_default",
                "Creating Sandbox demo-db-1",
                "Waiting Service web",
                "Creating Service demo-web",
            ]
        );
    }

    #[test]
    fn second_up_of_the_same_file_does_nothing() {
        let p = project(FILE);
        let (steps, _) = up(&p, &made(&p), false).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
    }

    #[test]
    fn a_stopped_sandbox_is_started_not_recreated() {
        let p = project(FILE);
        let mut o = made(&p);
        o.sandboxes
            .iter_mut()
            .find(|s| s.name == "demo-db-1")
            .unwrap()
            .running = false;
        let (steps, _) = up(&p, &o, false).unwrap();
        assert_eq!(names(&steps), ["Starting Sandbox demo-db-1"]);
    }

    #[test]
    fn a_changed_service_alone_is_recreated() {
        let before = project(FILE);
        let after =
            project(&FILE.replace("db:\n    command: sleep 600", "db:\n    command: sleep 700"));
        let (steps, _) = up(&after, &made(&before), false).unwrap();
        assert_eq!(
            names(&steps),
            ["Removing Sandbox demo-db-1", "Creating Sandbox demo-db-1"]
        );
    }

    #[test]
    fn scaling_changes_only_the_count() {
        let before = project(FILE);
        let after = project(&FILE.replace("replicas: 3", "replicas: 5"));
        let (steps, _) = up(&after, &made(&before), false).unwrap();
        assert_eq!(
            steps,
            [
                Step::WaitDependencies {
                    service: "web".into()
                },
                Step::ScaleService {
                    name: "demo-web".into(),
                    replicas: 5
                }
            ]
        );
    }

    #[test]
    fn scaling_a_single_sandbox_service_removes_the_highest_numbers() {
        let file = "services:\n  w:\n    command: sleep 600\n    deploy: {replicas: 1}\n";
        let p = project(file);
        let mut o = made(&p);
        for i in [2, 3] {
            let mut sb = o.sandboxes[0].clone();
            sb.name = format!("demo-w-{i}");
            sb.labels
                .insert(labels::CONTAINER_NUMBER.into(), i.to_string());
            o.sandboxes.push(sb);
        }
        let (steps, _) = up(&p, &o, false).unwrap();
        assert_eq!(
            names(&steps),
            ["Removing Sandbox demo-w-3", "Removing Sandbox demo-w-2"]
        );
    }

    #[test]
    fn going_from_one_replica_to_several_turns_the_sandbox_into_a_service() {
        let before = project(&FILE.replace("replicas: 3", "replicas: 1"));
        let (steps, _) = up(&project(FILE), &made(&before), false).unwrap();
        assert_eq!(
            names(&steps),
            [
                "Removing Sandbox demo-web-1",
                "Waiting Service web",
                "Creating Service demo-web"
            ]
        );
        // And back.
        let (steps, _) = up(&before, &made(&project(FILE)), false).unwrap();
        assert_eq!(
            names(&steps),
            [
                "Removing Service demo-web",
                "Waiting Service web",
                "Creating Sandbox demo-web-1"
            ]
        );
    }

    #[test]
    fn a_changed_network_is_recreated_with_the_services_on_it() {
        let file = "
services:
  a: {command: sleep 600, networks: [front]}
  b: {command: sleep 600, networks: [back]}
networks:
  front: {}
  back: {}
";
        let before = project(file);
        let after = project(&file.replace("front: {}", "front: {internal: true}"));
        let (steps, _) = up(&after, &made(&before), false).unwrap();
        assert_eq!(
            names(&steps),
            [
                "Removing Sandbox demo-a-1",
                "Removing Network demo_front",
                "Creating Network demo_front",
                "Creating Sandbox demo-a-1",
            ]
        );
    }

    #[test]
    fn orphans_are_reported_or_removed() {
        let before = project(FILE);
        let after = project("services:\n  db:\n    command: sleep 600\n");
        let (steps, orphans) = up(&after, &made(&before), false).unwrap();
        assert!(steps.is_empty(), "{steps:?}");
        assert_eq!(orphans, ["demo-web"]);
        let (steps, _) = up(&after, &made(&before), true).unwrap();
        assert_eq!(names(&steps), ["Removing Service demo-web"]);
    }

    #[test]
    fn a_same_named_network_of_someone_else_is_refused() {
        let p = project(FILE);
        let o = Observed {
            networks: vec![ObservedNetwork {
                name: "demo_default".into(),
                labels: BTreeMap::new(),
            }],
            ..Default::default()
        };
        let e = up(&p, &o, false).unwrap_err().to_string();
        assert!(e.contains("network demo_default already exists"), "{e}");
        assert!(e.contains("external: true"), "{e}");
    }

    #[test]
    fn a_same_named_sandbox_of_someone_else_is_refused() {
        let p = project(FILE);
        let o = Observed {
            sandboxes: vec![ObservedSandbox {
                name: "demo-db-1".into(),
                labels: BTreeMap::new(),
                running: true,
            }],
            ..Default::default()
        };
        let e = up(&p, &o, false).unwrap_err().to_string();
        assert!(e.contains("demo-db-1 is already used"), "{e}");
    }

    #[test]
    fn a_missing_external_network_is_refused() {
        let p = project(
            "services:\n  a: {command: sleep 1, networks: [ext]}\nnetworks:\n  ext: {external: true}\n",
        );
        let e = up(&p, &Observed::default(), false).unwrap_err().to_string();
        assert!(e.contains("network ext is declared external"), "{e}");
    }

    #[test]
    fn down_removes_dependents_first_and_only_the_projects_objects() {
        let p = project(FILE);
        let mut o = made(&p);
        o.sandboxes.push(ObservedSandbox {
            name: "someone-else".into(),
            labels: BTreeMap::new(),
            running: true,
        });
        o.networks.push(ObservedNetwork {
            name: "shared".into(),
            labels: BTreeMap::new(),
        });
        let mut other = made(&project(FILE));
        for sb in &mut other.sandboxes {
            sb.labels.insert(labels::PROJECT.into(), "other".into());
        }
        o.sandboxes.append(&mut other.sandboxes);
        assert_eq!(
            names(&down(&p, &o)),
            [
                "Removing Service demo-web",
                "Removing Sandbox demo-db-1",
                "Removing Network demo_default"
            ]
        );
    }
}

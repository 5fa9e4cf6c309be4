//! The compose → request translation of stacks, and the patch of a second deploy.

use super::*;
use crate::{parse, LoadOptions};
use ferry_types::placement::ServiceMode;
use ferry_types::service::{ServiceCreateRequest, ServiceUpdateRequest, ServiceView};
use serde_json::json;

fn opts() -> LoadOptions {
    LoadOptions {
        project_name: Some("app".into()),
        stack: true,
        ..Default::default()
    }
}

fn load(yaml: &str) -> Result<crate::Project, String> {
    parse(yaml, &opts()).map_err(|e| e.to_string())
}

const STACK: &str = r#"
services:
  db:
    command: socat TCP-LISTEN:5432,fork,reuseaddr SYSTEM:'echo row'
    environment: [ROLE=db]
    networks: [back]
    deploy:
      placement:
        constraints: [node.role == manager]
  web:
    command: ["python3", "-m", "http.server", "80"]
    environment:
      DB: db
    labels: [tier=front]
    networks:
      back:
      front:
        aliases: [www]
    ports:
      - target: 80
        published: 8080
        mode: host
      - "9090:90/udp"
    deploy:
      replicas: 2
      labels: {owner: ops}
      update_config: {parallelism: 2, delay: 1s}
  agent:
    command: sleep infinity
    deploy:
      mode: global
networks:
  front:
  back:
    driver_opts: {com.docker.network.driver.mtu: "1400"}
  shared:
    external: true
"#;

fn requests(yaml: &str) -> Vec<ServiceCreateRequest> {
    service_requests(&load(yaml).unwrap()).unwrap()
}

fn req<'a>(all: &'a [ServiceCreateRequest], name: &str) -> &'a ServiceCreateRequest {
    all.iter().find(|r| r.name == name).unwrap()
}

#[test]
fn a_stack_s_networks_are_overlay_networks_labelled_with_the_stack() {
    let p = load(STACK).unwrap();
    let nets = network_requests(&p);
    let names: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["app_back", "app_default", "app_front"]);
    for n in &nets {
        assert_eq!(n.driver, "overlay");
        assert_eq!(
            n.labels,
            [(NAMESPACE.to_string(), "app".to_string())].into()
        );
    }
    assert_eq!(nets[0].options["com.docker.network.driver.mtu"], "1400");
}

#[test]
fn services_become_swarm_service_requests() {
    let all = requests(STACK);
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["app_agent", "app_db", "app_web"]);

    let db = req(&all, "app_db");
    assert_eq!(db.replicas, Some(1));
    assert_eq!(db.mode, ServiceMode::Replicated);
    assert_eq!(
        db.template.cmd,
        ["socat", "TCP-LISTEN:5432,fork,reuseaddr", "SYSTEM:echo row"]
    );
    assert_eq!(
        db.placement.constraints[0].to_string(),
        "node.role==manager"
    );
    assert_eq!(db.networks.len(), 1);
    assert_eq!(
        (db.networks[0].name.as_str(), db.networks[0].aliases.clone()),
        ("app_back", vec!["db".to_string()])
    );

    let web = req(&all, "app_web");
    assert_eq!(web.replicas, Some(2));
    assert_eq!(web.endpoint_mode, "vip");
    assert_eq!(
        web.ports,
        [
            "published=8080,target=80,protocol=tcp,mode=host",
            "published=9090,target=90,protocol=udp,mode=ingress"
        ]
    );
    assert_eq!(web.template.env, ["DB=db"]);
    let nets: Vec<(&str, Vec<String>)> = web
        .networks
        .iter()
        .map(|n| (n.name.as_str(), n.aliases.clone()))
        .collect();
    assert_eq!(
        nets,
        [
            ("app_back", vec!["web".to_string()]),
            ("app_front", vec!["web".to_string(), "www".to_string()])
        ]
    );
    let l = &web.template.labels;
    assert_eq!(l[NAMESPACE], "app");
    assert_eq!(l["tier"], "front");
    assert_eq!(l["owner"], "ops");
    assert!(l.contains_key(TEMPLATE_HASH));
    assert!(
        !l.keys().any(|k| k.starts_with("com.docker.compose.")),
        "{l:?}"
    );
    assert_eq!((web.update.parallelism, web.update.delay_ms), (2, 1000));

    let agent = req(&all, "app_agent");
    assert_eq!((agent.mode, agent.replicas), (ServiceMode::Global, None));
    assert_eq!(agent.networks[0].name, "app_default");
}

#[test]
fn keys_a_swarm_cannot_honour_are_ignored_or_refused_as_docker_does() {
    let p = load(
        "services:\n  web:\n    command: x\n    build: .\n    restart: always\n    container_name: w\n    depends_on: [db]\n  db:\n    command: y\n",
    )
    .unwrap();
    assert!(
        p.warnings
            .contains(&"Ignoring unsupported options: build, restart".to_string()),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.starts_with("Ignoring deprecated options:\n\ncontainer_name")),
        "{:?}",
        p.warnings
    );
    for (yaml, why) in [
        (
            "services:\n  web:\n    command: x\n    extends: base\n",
            "Compose file contains unsupported options:\n\nextends: Support for `extends` is not implemented yet.",
        ),
        (
            "services:\n  web:\n    command: x\n    colour: red\n",
            "unknown key \"colour\"",
        ),
        (
            "services:\n  web:\n    command: x\n    networks: [n]\nnetworks:\n  n:\n    driver: bridge\n",
            "the network app_n cannot be used with services: only networks scoped to the swarm can be used, such as those created with the overlay driver",
        ),
        (
            "services:\n  web:\n    command: x\n    deploy:\n      mode: global\n      replicas: 2\n",
            "replicas can only be used with replicated mode",
        ),
    ] {
        let e = load(yaml).unwrap_err();
        assert!(e.contains(why), "{yaml}: {e}");
    }
    for (yaml, why) in [
        (
            "services:\n  web:\n    command: x\n    ports: ['127.0.0.1:80:80']\n",
            "host address",
        ),
        (
            "services:\n  web:\n    command: x\n    ports: ['80']\n",
            "no published port",
        ),
        (
            "services:\n  web:\n    command: x\n    ports: ['8080-8081:80']\n",
            "range of host ports",
        ),
    ] {
        let e = service_requests(&load(yaml).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{yaml}: {e}");
    }
}

#[test]
fn compose_itself_is_unchanged_by_the_stack_keys() {
    // Read for compose, the same file keeps compose's meaning: bridge networks, deploy
    // placement ignored with compose's warning, no swarm part.
    let o = LoadOptions {
        project_name: Some("app".into()),
        ..Default::default()
    };
    let p = parse(STACK.replace("mode: host", "mode: ingress").as_str(), &o).unwrap();
    assert!(p.services.iter().all(|s| s.swarm.is_none()));
    assert!(p
        .networks
        .iter()
        .filter_map(|n| n.create.as_ref())
        .all(|c| c.driver == "bridge"));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("deploy.placement is ignored")),
        "{:?}",
        p.warnings
    );
}

/// The view `service inspect` gives of a service made from `r` (as the API renders it).
fn view_of(r: &ServiceCreateRequest) -> ServiceView {
    let ports: Vec<serde_json::Value> = r
        .ports
        .iter()
        .map(|p| {
            let p = ferry_types::service::parse_service_port(p).unwrap();
            json!({"Protocol": p.proto.as_str(), "TargetPort": p.target,
                   "PublishedPort": p.published, "PublishMode": p.mode.as_str()})
        })
        .collect();
    let mut placement = json!({
        "Constraints": r.placement.constraints.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "Preferences": r.placement.preferences.iter()
            .map(|p| json!({"Spread": {"SpreadDescriptor": format!("node.labels.{}", p.spread)}}))
            .collect::<Vec<_>>(),
    });
    if let Some(m) = r.placement.max_replicas_per_node {
        placement["MaxReplicas"] = m.into();
    }
    let t = &r.template;
    serde_json::from_value(json!({
        "ID": "x", "Version": {"Index": 1}, "CreatedAt": "", "UpdatedAt": "",
        "Spec": {
            "Name": r.name,
            "Labels": t.labels,
            "TaskTemplate": {
                "ContainerSpec": {"Command": t.cmd, "Env": t.env, "Dir": t.working_dir,
                    "DNSConfig": {"Nameservers": t.dns, "Search": t.dns_search, "Options": t.dns_options},
                    "Hosts": t.extra_hosts},
                "Placement": placement,
            },
            "Mode": match r.mode {
                ServiceMode::Replicated => json!({"Replicated": {"Replicas": r.replicas.unwrap_or(1)}}),
                ServiceMode::Global => json!({"Global": {}}),
            },
            "TaskNetworks": r.networks.iter()
                .map(|n| json!({"Target": n.name, "Aliases": n.aliases})).collect::<Vec<_>>(),
            "EndpointSpec": {"Mode": if r.endpoint_mode.is_empty() { "vip" } else { r.endpoint_mode.as_str() }, "Ports": ports},
            "UpdateConfig": {"Parallelism": r.update.parallelism, "Delay": r.update.delay_ms * 1_000_000,
                "FailureAction": "pause", "Monitor": r.update.monitor_ms * 1_000_000,
                "Order": "stop-first"},
        },
        "Endpoint": {"Ports": [], "VirtualIPs": []},
        "ServiceStatus": {"RunningTasks": 0, "DesiredTasks": 1}
    }))
    .unwrap()
}

fn web_after(edit: impl Fn(&str) -> String) -> (ServiceView, ServiceCreateRequest) {
    let before = requests(STACK);
    let after = requests(&edit(STACK));
    (
        view_of(req(&before, "app_web")),
        req(&after, "app_web").clone(),
    )
}

#[test]
fn the_same_file_changes_nothing() {
    for r in requests(STACK) {
        assert_eq!(patch(&view_of(&r), &r), Change::Unchanged, "{}", r.name);
    }
}

#[test]
fn a_new_replica_count_changes_only_the_count() {
    let (view, want) = web_after(|s| s.replace("replicas: 2", "replicas: 5"));
    assert_eq!(
        patch(&view, &want),
        Change::Update(Box::new(ServiceUpdateRequest {
            replicas: Some(5),
            ..Default::default()
        }))
    );
    // The other services are untouched by that edit.
    let after = requests(&STACK.replace("replicas: 2", "replicas: 5"));
    for name in ["app_db", "app_agent"] {
        let before = requests(STACK);
        assert_eq!(
            patch(&view_of(req(&before, name)), req(&after, name)),
            Change::Unchanged
        );
    }
}

#[test]
fn arguments_environment_placement_ports_networks_and_rollout_are_patched() {
    let (view, want) = web_after(|s| {
        s.replace("\"http.server\", \"80\"", "\"http.server\", \"81\"")
            .replace("DB: db", "DB: db2\n      MODE: fast")
            .replace("labels: {owner: ops}", "labels: {owner: ops}\n      placement: {constraints: [node.labels.zone==east], max_replicas_per_node: 1}")
            .replace("published: 8080", "published: 8081")
            .replace("aliases: [www]", "aliases: [www2]")
            .replace("delay: 1s", "delay: 2s")
    });
    let Change::Update(u) = patch(&view, &want) else {
        panic!("{:?}", patch(&view, &want))
    };
    assert_eq!(u.replicas, None);
    assert_eq!(
        u.args,
        Some(vec!["-m".into(), "http.server".into(), "81".into()])
    );
    assert!(u.env_rm.is_empty(), "{:?}", u.env_rm);
    assert_eq!(u.env_add, ["DB=db2", "MODE=fast"]);
    assert_eq!(u.constraint_add, ["node.labels.zone==east"]);
    assert_eq!(u.replicas_max_per_node, Some(1));
    assert_eq!(u.publish_rm, ["8080/tcp"]);
    assert_eq!(
        u.publish_add,
        ["published=8081,target=80,protocol=tcp,mode=host"]
    );
    assert_eq!(u.network_rm, ["app_front"]);
    assert_eq!(u.network_add.len(), 1);
    assert_eq!(u.network_add[0].aliases, ["web", "www2"]);
    assert_eq!(
        u.update_config.as_ref().and_then(|c| c.delay_ms),
        Some(2000)
    );

    // And back: what was added goes.
    let (view, want) = web_after(|s| s.replace("    environment:\n      DB: db\n", ""));
    let Change::Update(u) = patch(&view, &want) else {
        panic!()
    };
    assert_eq!(u.env_rm, ["DB"]);
    assert!(u.env_add.is_empty());
}

#[test]
fn what_update_cannot_change_makes_the_service_again() {
    for (edit, what) in [
        (
            ("\"python3\", \"-m\"", "\"python3.11\", \"-m\""),
            "the program",
        ),
        (("replicas: 2", "mode: global"), "deploy.mode"),
        (("labels: [tier=front]", "labels: [tier=back]"), "labels"),
        (
            (
                "labels: [tier=front]",
                "labels: [tier=front]\n    hostname: h",
            ),
            "hostname",
        ),
        (
            (
                "labels: [tier=front]",
                "labels: [tier=front]\n    dns: [10.0.0.53]",
            ),
            "dns",
        ),
        (
            (
                "labels: {owner: ops}",
                "labels: {owner: ops}\n      endpoint_mode: dnsrr",
            ),
            "endpoint_mode",
        ),
    ] {
        let (view, want) = web_after(|s| s.replace(edit.0, edit.1));
        match patch(&view, &want) {
            Change::Recreate(why) => {
                assert!(why.iter().any(|w| w.contains(what)), "{what}: {why:?}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

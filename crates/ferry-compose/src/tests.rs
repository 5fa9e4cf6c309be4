//! Tests of the whole pipeline: text in, plan or message out.

use crate::{labels, load, load_with_options, parse, LoadOptions, NetworkMode, Project};
use crate::{DependencyCondition, EndpointMode, PublishMode};
use ferry_types::{ErrorKind, FerryError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn opts() -> LoadOptions {
    LoadOptions {
        project_name: Some("proj".into()),
        ..Default::default()
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn ok(yaml: &str) -> Project {
    parse(yaml, &opts()).unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn ok_with(yaml: &str, o: &LoadOptions) -> Project {
    parse(yaml, o).unwrap_or_else(|e| panic!("{e}"))
}

/// The error message, checked to contain every part.
#[track_caller]
fn fails(yaml: &str, parts: &[&str]) -> String {
    fails_with(yaml, &opts(), parts)
}

#[track_caller]
fn fails_with(yaml: &str, o: &LoadOptions, parts: &[&str]) -> String {
    let e = match parse(yaml, o) {
        Ok(p) => panic!("expected an error containing {parts:?}, got a project: {p:#?}"),
        Err(e) => e.to_string(),
    };
    for part in parts {
        assert!(e.contains(part), "{e:?} lacks {part:?}");
    }
    e
}

fn has_warning(p: &Project, part: &str) -> bool {
    p.warnings.iter().any(|w| w.contains(part))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

const TWO_NETWORKS: &str = r#"
services:
  broker:
    command: socat TCP-LISTEN:9000,fork TCP:backend:9000
    networks: [front, back]
  backend:
    command: ["sleep", "infinity"]
    networks: [back]
  client:
    command: sleep infinity
    networks:
      front:
networks:
  front:
  back:
    ipam:
      config:
        - subnet: 10.20.0.0/24
"#;

#[test]
fn seed_two_networks_and_a_broker_on_both() {
    let p = ok(TWO_NETWORKS);
    assert_eq!(p.name, "proj");
    let keys: Vec<_> = p.networks.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["back", "front"]);
    let front = p.network("front").unwrap();
    assert_eq!(front.name, "proj_front");
    let create = front.create.as_ref().unwrap();
    assert_eq!(create.name, "proj_front");
    assert_eq!(create.driver, "bridge");
    assert_eq!(create.labels[labels::PROJECT], "proj");
    assert_eq!(create.labels[labels::NETWORK], "front");
    assert_eq!(create.labels[labels::CONFIG_HASH], front.config_hash);
    let back = p.network("back").unwrap().create.as_ref().unwrap();
    assert_eq!(back.ipam.as_ref().unwrap().config[0].subnet, "10.20.0.0/24");

    let broker = p.service("broker").unwrap();
    let nets: Vec<_> = broker
        .sandbox
        .networks
        .iter()
        .map(|n| (n.name.as_str(), n.aliases.clone()))
        .collect();
    // Networks connect in key order, as in Compose, whatever the list order; the service
    // name is an alias on each network.
    assert_eq!(
        nets,
        [
            ("proj_back", vec!["broker".to_string()]),
            ("proj_front", vec!["broker".to_string()])
        ]
    );
    assert_eq!(
        broker.sandbox.cmd,
        ["socat", "TCP-LISTEN:9000,fork", "TCP:backend:9000"]
    );
    assert_eq!(broker.sandbox.name, "proj-broker-1");
    // No service lacks networks, so there is no default network.
    assert!(p.network("default").is_none());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn seed_vault_pair_on_one_network() {
    let p = ok(r#"
services:
  vault-ms:
    command: python3 -m http.server 8200
    networks: [vault-net]
  security-processor:
    command: ["sh", "-c", "sleep 1"]
    environment:
      VAULT_ADDR: http://vault-ms:8200
    networks: [vault-net]
    depends_on: [vault-ms]
networks:
  vault-net: {}
"#);
    let vault = p.service("vault-ms").unwrap();
    let sp = p.service("security-processor").unwrap();
    assert_eq!(vault.sandbox.networks[0].name, "proj_vault-net");
    assert_eq!(vault.sandbox.networks[0].aliases, ["vault-ms"]);
    assert_eq!(sp.sandbox.networks[0].aliases, ["security-processor"]);
    assert_eq!(sp.sandbox.env, ["VAULT_ADDR=http://vault-ms:8200"]);
    assert_eq!(sp.depends_on[0].service, "vault-ms");
    assert_eq!(
        sp.depends_on[0].condition,
        DependencyCondition::ServiceStarted
    );
    let order: Vec<_> = p.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["vault-ms", "security-processor"]);
    let stop: Vec<_> = p.stop_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stop, ["security-processor", "vault-ms"]);
}

const NGINX_LIKE: &str = r#"
services:
  nginx:
    image: nginx:alpine
    command: python3 -m http.server 80
    deploy:
      replicas: 2
    ports: ["8080:80"]
"#;

#[test]
fn seed_replicas_behind_one_host_port_use_the_routing_mesh() {
    let p = ok(NGINX_LIKE);
    let s = p.service("nginx").unwrap();
    assert_eq!(s.replicas, 2);
    assert!(has_warning(&p, "image \"nginx:alpine\" is ignored"));
    // 8080 is published once, for the service, and balanced over both replicas.
    let mesh = s.mesh_ports();
    assert_eq!(mesh.len(), 1);
    assert_eq!(mesh[0].mode, PublishMode::Ingress);
    assert_eq!(mesh[0].request.container.port, 80);
    assert_eq!(mesh[0].request.host_ports.map(|r| r.start), Some(8080));
    // So no replica binds it itself, while the template keeps Compose's single-container view.
    assert!(s.replica_port_bindings().is_empty());
    for i in 1..=2 {
        let r = p.sandbox_request("nginx", i).unwrap();
        assert!(r.port_bindings.is_empty(), "{:?}", r.port_bindings);
        assert!(r.exposed_ports.contains_key("80/tcp"));
    }
    assert_eq!(s.sandbox.port_bindings["80/tcp"][0].host_port, "8080");
    // One replica publishes the port itself, as in Compose.
    let single = ok(&NGINX_LIKE.replace("replicas: 2", "replicas: 1"));
    let one = single.service("nginx").unwrap();
    assert!(one.mesh_ports().is_empty());
    assert_eq!(
        single.sandbox_request("nginx", 1).unwrap().port_bindings["80/tcp"][0].host_port,
        "8080"
    );
    // Scaling does not change the hash; the mode does.
    assert_eq!(one.config_hash, s.config_hash);
    let host_mode = NGINX_LIKE.replace(
        "ports: [\"8080:80\"]",
        "ports: [{target: 80, published: \"8080-8081\", mode: host}]",
    );
    let h = ok(&host_mode);
    assert_ne!(h.service("nginx").unwrap().config_hash, s.config_hash);

    // Ports each replica publishes itself need one host port per replica.
    assert!(h.service("nginx").unwrap().mesh_ports().is_empty());
    assert_eq!(
        h.sandbox_request("nginx", 2).unwrap().port_bindings["80/tcp"][0].host_port,
        "8080-8081"
    );
    fails(
        &NGINX_LIKE.replace(
            "\"8080:80\"",
            "{target: 80, published: \"8080\", mode: host}",
        ),
        &[
            "services.nginx.ports[0]",
            "gives 1 host port to 2 replicas that each publish their own",
            "\"8080-8081:80\"",
            "(\"80\")",
            "mode: ingress",
        ],
    );
    fails(
        &NGINX_LIKE.replace("8080:80", "127.0.0.1:8080:80"),
        &[
            "services.nginx.ports[0]",
            "names a host address",
            "routing mesh",
            "every address",
        ],
    );
    fails(
        &NGINX_LIKE
            .replace("8080:80", "8080-8081:80")
            .replace("replicas: 2", "replicas: 3"),
        &["gives 2 host ports to 3 replicas", "widen the range"],
    );
    // Ephemeral host ports and ranges are per replica.
    let p = ok(&NGINX_LIKE.replace("8080:80", "80"));
    assert!(p.service("nginx").unwrap().mesh_ports().is_empty());
    let p = ok(&NGINX_LIKE.replace("8080:80", "8080-8081:80"));
    assert_eq!(
        p.sandbox_request("nginx", 2).unwrap().port_bindings["80/tcp"][0].host_port,
        "8080-8081"
    );
    // The mesh port still clashes with another service's port.
    fails(
        &format!("{NGINX_LIKE}  other:\n    command: x\n    ports: [\"8080:81\"]\n"),
        &[
            "services.other.ports[0]",
            "host port 8080/tcp is already published by service \"nginx\"",
        ],
    );
}

#[test]
fn replicas_get_their_own_names_and_numbers() {
    let p = ok(&NGINX_LIKE.replace("8080:80", "80"));
    assert_eq!(p.sandbox_name("nginx", 2), "proj-nginx-2");
    let r1 = p.sandbox_request("nginx", 1).unwrap();
    let r2 = p.sandbox_request("nginx", 2).unwrap();
    assert_eq!(r1.name, "proj-nginx-1");
    assert_eq!(r2.name, "proj-nginx-2");
    assert_eq!(r2.labels[labels::CONTAINER_NUMBER], "2");
    assert_eq!(
        r1.labels[labels::CONFIG_HASH],
        r2.labels[labels::CONFIG_HASH]
    );
    assert_eq!(r2.labels[labels::SERVICE], "nginx");
    assert_eq!(r2.labels[labels::PROJECT], "proj");
    assert_eq!(r2.labels[labels::ONEOFF], "False");
    assert!(p.sandbox_request("nginx", 0).is_none());
    assert!(p.sandbox_request("nginx", 3).is_none());
    assert!(p.sandbox_request("nope", 1).is_none());
    // The implicit default network carries the service name as alias, for every replica.
    assert_eq!(r2.networks[0].name, "proj_default");
    assert_eq!(r2.networks[0].aliases, ["nginx"]);
}

#[test]
fn image_without_a_command_is_refused() {
    fails(
        "services:\n  web:\n    image: nginx\n",
        &[
            "services.web",
            "ferry runs host programs, not images",
            "image \"nginx\" cannot be run",
            "command:",
        ],
    );
    fails(
        "services:\n  web:\n    environment: [A=1]\n",
        &["services.web: nothing to run", "command:"],
    );
    let p = ok("services:\n  web:\n    image: nginx\n    command: [python3, -m, http.server]\n    x-ferry-rootfs: /srv/rootfs\n");
    let web = p.service("web").unwrap();
    assert_eq!(web.image.as_deref(), Some("nginx"));
    assert_eq!(web.sandbox.rootfs, "/srv/rootfs");
    assert!(
        has_warning(&p, "inside x-ferry-rootfs /srv/rootfs"),
        "{:?}",
        p.warnings
    );
    fails(
        "services:\n  web:\n    command: x\n    x-ferry-rootfs: rel/dir\n",
        &["x-ferry-rootfs", "relative", "absolute"],
    );
    let mut o = opts();
    o.working_dir = Some("/projects/app".into());
    let p = ok_with(
        "services:\n  web:\n    command: x\n    x-ferry-rootfs: rel/dir\n",
        &o,
    );
    assert_eq!(
        p.service("web").unwrap().sandbox.rootfs,
        "/projects/app/rel/dir"
    );
    fails(
        "services:\n  web:\n    command: x\n    x-ferry-rootfz: /a\n",
        &["unknown ferry extension \"x-ferry-rootfz\""],
    );
}

#[test]
fn entrypoint_and_command_are_concatenated() {
    let p = ok(r#"
services:
  a:
    entrypoint: "sh -c"
    command: ["echo \"$$HOME\" 'and more'"]
  b:
    entrypoint: ["socat"]
    command: 'TCP-LISTEN:80,fork "SYSTEM:echo hi there"'
"#);
    assert_eq!(
        p.service("a").unwrap().sandbox.cmd,
        ["sh", "-c", "echo \"$HOME\" 'and more'"]
    );
    assert_eq!(
        p.service("b").unwrap().sandbox.cmd,
        ["socat", "TCP-LISTEN:80,fork", "SYSTEM:echo hi there"]
    );
    fails(
        "services:\n  a:\n    command: \"echo 'open\"\n",
        &["services.a.command", "unclosed single quote"],
    );
}

#[test]
fn interpolation_in_the_file() {
    let mut o = opts();
    o.env = env(&[("PORT", "8081"), ("NET", "edge"), ("EMPTY", "")]);
    let p = ok_with(
        r#"
services:
  web:
    command: ["sh", "-c", "echo $$PATH ${MISSING} ${EMPTY:-fallback}"]
    ports: ["${PORT}:80", "${OTHER_PORT:-9090}:90"]
    networks: ["${NET}"]
    environment:
      LEVEL: ${LEVEL-info}
networks:
  edge:
    internal: ${INTERNAL:-true}
"#,
        &o,
    );
    let web = p.service("web").unwrap();
    assert_eq!(web.sandbox.cmd[2], "echo $PATH  fallback");
    assert_eq!(web.sandbox.port_bindings["80/tcp"][0].host_port, "8081");
    assert_eq!(web.sandbox.port_bindings["90/tcp"][0].host_port, "9090");
    assert_eq!(web.sandbox.networks[0].name, "proj_edge");
    assert_eq!(web.sandbox.env, ["LEVEL=info"]);
    assert!(p.network("edge").unwrap().create.as_ref().unwrap().internal);
    assert!(
        has_warning(&p, "\"MISSING\" is not set"),
        "{:?}",
        p.warnings
    );
    fails_with(
        "services:\n  web:\n    command: x ${TOKEN:?give the API token}\n",
        &o,
        &[
            "services.web.command",
            "required variable TOKEN is missing a value: give the API token",
        ],
    );
    fails_with(
        "services:\n  web:\n    command: echo $5\n",
        &o,
        &["services.web.command", "write \"$$\""],
    );
    fails_with(
        "services:\n  web:\n    command: echo ${A\n",
        &o,
        &["no closing"],
    );
}

#[test]
fn project_name_precedence_and_normalisation() {
    let text = "name: from-file\nservices:\n  a:\n    command: x\n";
    let bare = "services:\n  a:\n    command: x\n";
    let mut o = LoadOptions {
        project_name: Some("cli".into()),
        env: env(&[("COMPOSE_PROJECT_NAME", "from-env")]),
        working_dir: Some("/home/me/My App".into()),
        ..Default::default()
    };
    assert_eq!(ok_with(text, &o).name, "cli");
    o.project_name = None;
    assert_eq!(ok_with(text, &o).name, "from-file");
    assert_eq!(ok_with(bare, &o).name, "from-env");
    o.env.clear();
    assert_eq!(ok_with(bare, &o).name, "myapp");
    o.working_dir = Some("/x/__Dots.and-Dashes_1".into());
    assert_eq!(ok_with(bare, &o).name, "dotsand-dashes_1");
    // The directory of the file counts when no working_dir is given.
    o.working_dir = None;
    o.file = Some("/srv/Shop/compose.yaml".into());
    assert_eq!(ok_with(bare, &o).name, "shop");

    o.project_name = Some("My App".into());
    fails_with(
        bare,
        &o,
        &[
            "invalid project name \"My App\"",
            "lowercase letters, digits, '-' and '_'",
            "\"myapp\"",
        ],
    );
    o.project_name = Some("-x".into());
    fails_with(bare, &o, &["start with a letter or digit"]);
    o.project_name = None;
    o.file = None;
    fails_with(bare, &o, &["the project has no name", "-p"]);
    o.working_dir = Some("/tmp/___".into());
    fails_with(bare, &o, &["gives no valid project name"]);
    fails_with(
        "name: Bad_Name\nservices:\n  a:\n    command: x\n",
        &LoadOptions::default(),
        &["name: invalid project name \"Bad_Name\""],
    );
}

#[test]
fn network_naming_labels_and_options() {
    let p = ok(r#"
services:
  a:
    command: x
    networks: [named, plain, six]
networks:
  named:
    name: shared-net
    labels: ["team=net", "tier"]
  plain:
    driver: bridge
    driver_opts:
      com.docker.network.bridge.enable_icc: "false"
    attachable: true
    internal: true
    labels:
      team: net
  six:
    enable_ipv6: true
    ipam:
      driver: default
      config:
        - subnet: 10.30.0.0/24
          ip_range: 10.30.0.128/25
          gateway: 10.30.0.254
          aux_addresses: {printer: 10.30.0.5}
        - subnet: fd00:30::/64
  unused:
    driver: bridge
"#);
    let named = p.network("named").unwrap();
    assert_eq!(named.name, "shared-net");
    let c = named.create.as_ref().unwrap();
    assert_eq!(c.labels["team"], "net");
    assert_eq!(c.labels["tier"], "");
    let plain = p.network("plain").unwrap().create.as_ref().unwrap();
    assert!(plain.internal && plain.attachable);
    assert_eq!(
        plain.options["com.docker.network.bridge.enable_icc"],
        "false"
    );
    let six = p.network("six").unwrap().create.as_ref().unwrap();
    assert_eq!(six.enable_ipv6, Some(true));
    let ipam = six.ipam.as_ref().unwrap();
    assert_eq!(ipam.config.len(), 2);
    assert_eq!(ipam.config[0].gateway, "10.30.0.254");
    assert_eq!(ipam.config[0].auxiliary_addresses["printer"], "10.30.0.5");
    // Declared but unused networks are not part of the plan.
    assert!(p.network("unused").is_none());
}

#[test]
fn network_errors() {
    let base = "services:\n  a:\n    command: x\n    networks: [n]\nnetworks:\n  n:\n";
    let with = |body: &str| format!("{base}{body}");
    fails(
        &with("    driver: weave\n"),
        &[
            "networks.n.driver",
            "\"weave\"",
            "ferry's networks on this host use bridge, macvlan, ipvlan, overlay",
        ],
    );
    fails(
        &with("    driver: macvlan\n    driver_opts:\n      macvlan_mode: sideways\n"),
        &[
            "networks.n.driver_opts",
            "invalid value \"sideways\" for option macvlan_mode",
        ],
    );
    fails(
        &with("    ipam:\n      config:\n        - subnet: 10.1.2.3/16\n"),
        &["networks.n.ipam.config[0]", "host bits set", "10.1.0.0/16"],
    );
    fails(
        &with("    ipam:\n      config:\n        - subnet: banana\n"),
        &["networks.n.ipam.config[0]", "invalid subnet \"banana\""],
    );
    fails(
        &with("    ipam:\n      config:\n        - gateway: 10.0.0.1\n"),
        &["networks.n.ipam.config[0]: subnet is missing"],
    );
    fails(
        &with("    ipam:\n      config:\n        - subnet: 10.0.0.0/16\n        - subnet: 10.0.1.0/24\n"),
        &["networks.n.ipam.config[1]", "overlaps 10.0.0.0/16"],
    );
    fails(
        &with("    ipam:\n      config:\n        - subnet: fd00::/64\n"),
        &["networks.n", "IPv6", "enable_ipv6: true"],
    );
    fails(
        &with("    ipam:\n      driver: dhcp\n"),
        &["networks.n.ipam.driver", "\"dhcp\""],
    );
    fails(
        &with("    driver_opts:\n      com.docker.network.bridge.enable_icc: maybe\n"),
        &["networks.n.driver_opts"],
    );
    fails(
        &with("    enable_ipv4: false\n"),
        &["IPv4 cannot be disabled"],
    );
    fails(&with("    name: host\n"), &["predefined", "external: true"]);
    fails(
        &with("    name: bad name\n"),
        &["networks.n", "invalid network name"],
    );
    fails(
        &with("    labels:\n      com.docker.compose.project: x\n"),
        &["networks.n.labels", "reserved"],
    );
    fails(
        &with("    drivr: bridge\n"),
        &[
            "networks.n: unknown key \"drivr\"",
            "did you mean \"driver\"?",
        ],
    );
    fails(
        &with("    external: true\n    driver: bridge\n"),
        &["networks.n", "external", "driver cannot be set"],
    );
    fails(
        "services:\n  a:\n    command: x\n    networks: [fron]\nnetworks:\n  front:\n",
        &[
            "services.a.networks",
            "unknown network \"fron\"",
            "did you mean \"front\"?",
            "top-level networks",
        ],
    );
    fails(
        "services:\n  a:\n    command: x\n    networks: [n, n]\nnetworks:\n  n:\n",
        &["services.a.networks[1]", "listed twice"],
    );
    fails(
        "services:\n  a:\n    command: x\n    networks: [x, y]\nnetworks:\n  x: {name: same}\n  y: {name: same}\n",
        &["both name the network \"same\""],
    );
}

#[test]
fn external_networks_are_used_not_created() {
    let p = ok(r#"
services:
  a:
    command: x
    networks:
      ext:
        ipv4_address: 192.168.5.5
      legacy:
      byname:
networks:
  ext:
    external: true
  legacy:
    external:
      name: old-style
  byname:
    external: true
    name: "${NOPE:-real-name}"
"#);
    let ext = p.network("ext").unwrap();
    assert!(ext.external);
    assert!(ext.create.is_none());
    assert_eq!(ext.name, "ext");
    assert_eq!(p.network("legacy").unwrap().name, "old-style");
    assert_eq!(p.network("byname").unwrap().name, "real-name");
    assert!(has_warning(&p, "external.name is deprecated"));
    let names: Vec<_> = p
        .service("a")
        .unwrap()
        .sandbox
        .networks
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(names, ["real-name", "ext", "old-style"]); // byname, ext, legacy
                                                          // Two keys may name the same external network.
    ok("services:\n  a:\n    command: x\n    networks: [x, y]\nnetworks:\n  x: {external: true, name: same}\n  y: {external: true, name: same}\n");
}

#[test]
fn default_network_is_implicit_or_configurable() {
    let p = ok("services:\n  a:\n    command: x\n  b:\n    command: y\n    network_mode: host\n");
    let d = p.network("default").unwrap();
    assert_eq!(d.name, "proj_default");
    assert_eq!(
        d.create.as_ref().unwrap().labels[labels::NETWORK],
        "default"
    );
    assert_eq!(p.networks.len(), 1);
    // An empty networks: is the default network too.
    let p = ok(
        "services:\n  a:\n    command: x\n    networks: []\n  b:\n    command: x\n    networks:\n",
    );
    assert_eq!(
        p.service("a").unwrap().sandbox.networks[0].name,
        "proj_default"
    );
    assert_eq!(
        p.service("b").unwrap().sandbox.networks[0].name,
        "proj_default"
    );
    // Only host-mode services: no default network.
    let p = ok("services:\n  b:\n    command: y\n    network_mode: host\n");
    assert!(p.networks.is_empty());
    assert_eq!(p.service("b").unwrap().sandbox.networks[0].name, "host");
    let p = ok("services:\n  a:\n    command: x\nnetworks:\n  default:\n    name: lan\n    external: true\n");
    assert_eq!(p.service("a").unwrap().sandbox.networks[0].name, "lan");
    assert!(p.network("default").unwrap().external);
    let p = ok("services:\n  a:\n    command: x\nnetworks:\n  default:\n    ipam:\n      config: [{subnet: 10.9.0.0/24}]\n");
    assert_eq!(
        p.network("default")
            .unwrap()
            .create
            .as_ref()
            .unwrap()
            .ipam
            .as_ref()
            .unwrap()
            .config[0]
            .subnet,
        "10.9.0.0/24"
    );
}

#[test]
fn service_network_map_form() {
    let p = ok(r#"
services:
  a:
    command: x
    mac_address: 02:42:ac:11:00:99
    networks:
      zeta:
        aliases: [z1, z1, a]
        priority: 10
      alpha:
        ipv4_address: 10.40.0.10
        ipv6_address: fd00:40::10
      gw:
        gw_priority: 5
networks:
  zeta:
  gw:
  alpha:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 10.40.0.0/24
        - subnet: fd00:40::/64
"#);
    let a = p.service("a").unwrap();
    let keys: Vec<_> = a.networks.iter().map(|n| n.key.as_str()).collect();
    // gw_priority first, then priority, then key order.
    assert_eq!(keys, ["gw", "zeta", "alpha"]);
    let reqs = &a.sandbox.networks;
    assert_eq!(reqs[1].aliases, ["a", "z1"]);
    assert_eq!(reqs[2].ipv4_address.as_deref(), Some("10.40.0.10"));
    assert_eq!(reqs[2].ipv6_address.as_deref(), Some("fd00:40::10"));
    // The service-level MAC address goes to the first network.
    assert_eq!(reqs[0].mac_address.as_deref(), Some("02:42:ac:11:00:99"));
    assert_eq!(reqs[1].mac_address, None);
    for (key, why) in [
        (
            "link_local_ips: [169.254.1.1]",
            "link_local_ips: not supported",
        ),
        ("driver_opts: {a: b}", "driver_opts: not supported"),
        ("interface_name: eth5", "interface_name: not supported"),
        ("alias: [x]", "unknown key \"alias\""),
    ] {
        fails(
            &format!("services:\n  a:\n    command: x\n    networks:\n      n:\n        {key}\nnetworks:\n  n:\n"),
            &["services.a.networks.n", why],
        );
    }
}

#[test]
fn static_addresses_are_checked() {
    let net = "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.50.0.0/24\n          aux_addresses: {reserved: 10.50.0.7}\n  bare:\n";
    let svc = |addr: &str| {
        format!("services:\n  a:\n    command: x\n    networks:\n      n:\n        ipv4_address: {addr}\n{net}")
    };
    assert_eq!(
        ok(&svc("10.50.0.20"))
            .service("a")
            .unwrap()
            .sandbox
            .networks[0]
            .ipv4_address
            .as_deref(),
        Some("10.50.0.20")
    );
    fails(
        &svc("10.51.0.20"),
        &[
            "services.a.networks.n.ipv4_address",
            "10.51.0.20 is outside the IPv4 subnet of network \"n\" (10.50.0.0/24)",
        ],
    );
    fails(&svc("10.50.0.1"), &["is the gateway"]);
    fails(&svc("10.50.0.0"), &["network address"]);
    fails(&svc("10.50.0.255"), &["broadcast address"]);
    fails(&svc("10.50.0.7"), &["aux_address \"reserved\""]);
    fails(&svc("fd00::1"), &["is not an IPv4 address"]);
    fails(
        &svc("not-an-ip"),
        &[
            "services.a.networks.n.ipv4_address",
            "expected an IPv4 or IPv6 address",
        ],
    );
    fails(
        &format!("services:\n  a:\n    command: x\n    networks:\n      bare:\n        ipv4_address: 10.0.0.5\n{net}"),
        &[
            "services.a.networks.bare.ipv4_address",
            "network \"bare\" has no configured IPv4 subnet",
            "ipam",
        ],
    );
    fails(
        &format!("services:\n  a:\n    command: x\n    networks:\n      n:\n        ipv4_address: 10.50.0.9\n  b:\n    command: x\n    networks:\n      n:\n        ipv4_address: 10.50.0.9\n{net}"),
        &["services.b.networks.n.ipv4_address", "also the static address of service \"a\""],
    );
    fails(
        &format!("services:\n  a:\n    command: x\n    scale: 2\n    networks:\n      n:\n        ipv4_address: 10.50.0.9\n{net}"),
        &["services.a.networks.n.ipv4_address", "2 replicas cannot share one static address"],
    );
}

#[test]
fn network_mode_forms() {
    let p = ok(r#"
services:
  base:
    command: sleep infinity
    container_name: the-base
  side:
    command: sleep infinity
    network_mode: service:base
  ns:
    command: sleep infinity
    network_mode: container:some-sandbox
  iso:
    command: sleep infinity
    network_mode: none
  legacy:
    command: sleep infinity
    network_mode: bridge
"#);
    let side = p.service("side").unwrap();
    assert_eq!(side.sandbox.networks.len(), 1);
    assert_eq!(side.sandbox.networks[0].name, "container:the-base");
    assert_eq!(side.network_mode, Some(NetworkMode::Service("base".into())));
    assert!(side.networks.is_empty());
    // service: implies a dependency, so base starts first.
    assert_eq!(side.depends_on[0].service, "base");
    let order: Vec<_> = p.start_order().iter().map(|s| s.name.as_str()).collect();
    assert!(order.iter().position(|s| *s == "base") < order.iter().position(|s| *s == "side"));
    assert_eq!(
        p.service("ns").unwrap().sandbox.networks[0].name,
        "container:some-sandbox"
    );
    assert_eq!(p.service("iso").unwrap().sandbox.networks[0].name, "none");
    assert_eq!(
        p.service("legacy").unwrap().sandbox.networks[0].name,
        "bridge"
    );
    assert_eq!(p.sandbox_name("base", 1), "the-base");

    // Without container_name, service: points at replica 1's Compose name.
    let p = ok(
        "services:\n  a:\n    command: x\n  b:\n    command: y\n    network_mode: \"service:a\"\n",
    );
    assert_eq!(
        p.service("b").unwrap().sandbox.networks[0].name,
        "container:proj-a-1"
    );

    let two = "services:\n  a:\n    command: x\n  b:\n    command: y\n";
    fails(
        &format!("{two}    network_mode: host\n    networks: [default]\n"),
        &["services.b", "network_mode and networks cannot both be set"],
    );
    fails(
        &format!("{two}    network_mode: host\n    ports: [\"80:80\"]\n"),
        &[
            "services.b.ports[0]",
            "network_mode: host",
            "already listens on the host",
        ],
    );
    fails(
        &format!("{two}    network_mode: service:a\n    ports: [\"80\"]\n"),
        &["publish the port there"],
    );
    fails(
        &format!("{two}    network_mode: service:a\n    dns: 1.1.1.1\n    hostname: h\n"),
        &[
            "services.b",
            "hostname, dns cannot be set with network_mode: service:a",
        ],
    );
    fails(
        &format!("{two}    network_mode: service:nope\n"),
        &[
            "services.b.network_mode",
            "\"nope\", which is not a service",
        ],
    );
    fails(
        &format!("{two}    network_mode: service:b\n"),
        &["cannot share its own network namespace"],
    );
    fails(
        &format!("{two}    network_mode: bogus\n"),
        &["services.b.network_mode", "\"bogus\" is not a network mode"],
    );
    fails(
        "services:\n  a:\n    command: x\n    scale: 0\n  b:\n    command: y\n    network_mode: service:a\n",
        &["0 replicas"],
    );
}

#[test]
fn start_order_and_cycles() {
    let p = ok(r#"
services:
  web:
    command: x
    depends_on:
      api: {condition: service_healthy}
      cache: {condition: service_started, restart: true}
  api:
    command: x
    depends_on: [db]
  db:
    command: x
  cache:
    command: x
  zz:
    command: x
"#);
    let order: Vec<_> = p.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["cache", "db", "zz", "api", "web"]);
    let web = p.service("web").unwrap();
    assert_eq!(
        web.depends_on[0].condition,
        DependencyCondition::ServiceHealthy
    );
    assert!(web.depends_on[1].restart);
    assert!(has_warning(
        &p,
        "service_healthy waits only for \"api\" to start"
    ));

    fails(
        "services:\n  a:\n    command: x\n    depends_on: [b]\n  b:\n    command: x\n    depends_on: [c]\n  c:\n    command: x\n    depends_on: [a]\n",
        &["depends_on", "dependency cycle a -> b -> c -> a"],
    );
    fails(
        "services:\n  a:\n    command: x\n    depends_on: [a]\n",
        &["services.a.depends_on", "depends on itself"],
    );
    // links count as dependencies for cycles.
    fails(
        "services:\n  a:\n    command: x\n    links: [b]\n  b:\n    command: x\n    depends_on: [a]\n",
        &["dependency cycle a -> b -> a", "links"],
    );
    fails(
        "services:\n  a:\n    command: x\n    depends_on: [dbb]\n  db:\n    command: x\n",
        &[
            "services.a.depends_on",
            "\"dbb\", which is not a service",
            "did you mean \"db\"?",
        ],
    );
    fails(
        "services:\n  a:\n    command: x\n    depends_on: {db: {condition: service_ready}}\n  db:\n    command: x\n",
        &["services.a.depends_on.db.condition", "\"service_ready\""],
    );
    fails(
        "services:\n  a:\n    command: x\n    container_name: proj-b-1\n  b:\n    command: x\n",
        &["would be named \"proj-b-1\"", "unique"],
    );
    let p = ok("services:\n  a:\n    command: x\n    depends_on:\n      gone: {required: false}\n");
    assert!(p.service("a").unwrap().depends_on.is_empty());
    assert!(has_warning(&p, "optional dependency \"gone\""));
}

#[test]
fn start_order_of_a_hand_built_project_keeps_every_service() {
    let mut p = ok("services:\n  a:\n    command: x\n  b:\n    command: x\n  c:\n    command: x\n");
    // A cycle between a and b, and a dependency on a service that is not there.
    let dep = |s: &str| crate::Dependency {
        service: s.into(),
        condition: DependencyCondition::ServiceStarted,
        restart: false,
        required: true,
    };
    p.services[0].depends_on = vec![dep("b")];
    p.services[1].depends_on = vec![dep("a")];
    p.services[2].depends_on = vec![dep("ghost")];
    let order: Vec<_> = p.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["c", "a", "b"]);
}

#[test]
fn long_dependency_chains_need_no_deep_recursion() {
    let mut text = String::from("services:\n");
    for i in 0..3000 {
        text.push_str(&format!("  s{i:05}:\n    command: x\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [s{:05}]\n", i - 1));
        }
    }
    let p = ok(&text);
    let order = p.start_order();
    assert_eq!(order.first().map(|s| s.name.as_str()), Some("s00000"));
    assert_eq!(order.last().map(|s| s.name.as_str()), Some("s02999"));
    let cyclic = text.replace(
        "  s00000:\n    command: x\n",
        "  s00000:\n    command: x\n    depends_on: [s02999]\n",
    );
    fails(&cyclic, &["dependency cycle s00000 -> s02999 -> s02998"]);
}

#[test]
fn config_hashes_track_exactly_what_changed() {
    let base = r#"
services:
  web:
    command: python3 -m http.server 80
    ports: ["8080:80"]
    networks: [front]
  worker:
    command: sleep infinity
    networks: [back]
networks:
  front:
  back:
"#;
    let hash = |text: &str, svc: &str| ok(text).service(svc).unwrap().config_hash.clone();
    let (web, worker) = (hash(base, "web"), hash(base, "worker"));
    assert_eq!(web.len(), 64);
    assert!(web.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(web, hash(base, "web"), "same input, same hash");
    assert_ne!(web, worker);

    let cmd = base.replace("http.server 80", "http.server 81");
    assert_ne!(hash(&cmd, "web"), web);
    assert_eq!(hash(&cmd, "worker"), worker);

    let ports = base.replace("8080:80", "8081:80");
    assert_ne!(hash(&ports, "web"), web);
    assert_eq!(hash(&ports, "worker"), worker);

    let other = base.replace("sleep infinity", "sleep 3600");
    assert_eq!(hash(&other, "web"), web);
    assert_ne!(hash(&other, "worker"), worker);

    // A changed network changes the hash of the services on it, and only theirs.
    let net = base.replace("  back:\n", "  back:\n    internal: true\n");
    assert_eq!(hash(&net, "web"), web);
    assert_ne!(hash(&net, "worker"), worker);
    assert_ne!(
        ok(&net).network("back").unwrap().config_hash,
        ok(base).network("back").unwrap().config_hash
    );
    assert_eq!(
        ok(&net).network("front").unwrap().config_hash,
        ok(base).network("front").unwrap().config_hash
    );

    // Scaling and ordering do not recreate.
    let scaled = base.replace(
        "    networks: [back]\n",
        "    networks: [back]\n    scale: 3\n    depends_on: [web]\n",
    );
    assert_eq!(hash(&scaled, "worker"), worker);
    // Key order and formatting do not matter.
    let reordered = base.replace(
        "    command: python3 -m http.server 80\n    ports: [\"8080:80\"]\n",
        "    ports:\n      - \"8080:80\"\n    command: [python3, -m, http.server, \"80\"]\n",
    );
    assert_eq!(hash(&reordered, "web"), web);
    // The hash is also the label.
    let p = ok(base);
    let w = p.service("web").unwrap();
    assert_eq!(w.sandbox.labels[labels::CONFIG_HASH], w.config_hash);

    // A service sharing another's namespace changes with it.
    let shared =
        "services:\n  a:\n    command: x\n  b:\n    command: y\n    network_mode: service:a\n";
    let b = hash(shared, "b");
    assert_ne!(hash(&shared.replace("command: x", "command: z"), "b"), b);
}

#[test]
fn ports_and_expose() {
    let p = ok(r#"
services:
  a:
    command: x
    ports:
      - 80
      - "127.0.0.1:8443:443"
      - "[::1]:5353:53/udp"
      - target: 9000
        published: "19000"
        host_ip: 127.0.0.2
        protocol: tcp
        mode: host
      - target: 7000
        published: 7000-7001
      - target: 6000
        host_ip: "::1"
        protocol: sctp
    expose: ["3000", 4000, "5000-5001/udp"]
"#);
    let s = p.service("a").unwrap();
    let b = &s.sandbox.port_bindings;
    assert_eq!(b["80/tcp"][0].host_port, "");
    assert_eq!(b["443/tcp"][0].host_ip, "127.0.0.1");
    assert_eq!(b["53/udp"][0].host_ip, "::1");
    assert_eq!(b["9000/tcp"][0].host_port, "19000");
    assert_eq!(b["9000/tcp"][0].host_ip, "127.0.0.2");
    assert_eq!(b["7000/tcp"][0].host_port, "7000-7001");
    assert_eq!(b["6000/sctp"][0].host_ip, "::1");
    let exposed: Vec<_> = s.sandbox.exposed_ports.keys().cloned().collect();
    for k in [
        "3000/tcp", "4000/tcp", "5000/udp", "5001/udp", "80/tcp", "9000/tcp",
    ] {
        assert!(exposed.contains(&k.to_string()), "{k} in {exposed:?}");
    }
    let one = |ports: &str| format!("services:\n  a:\n    command: x\n    ports: {ports}\n");
    fails(
        &one("[\"8080:80/icmp\"]"),
        &["services.a.ports[0]", "tcp, udp or sctp"],
    );
    fails(
        &one("[\"70000:80\"]"),
        &["services.a.ports[0]", "1 to 65535"],
    );
    fails(
        &one("[{published: 80}]"),
        &["services.a.ports[0]: target is missing"],
    );
    fails(
        &one("[{target: 80, mode: vip}]"),
        &["services.a.ports[0].mode", "ingress or host"],
    );
    fails(
        &one("[{target: 80, protocl: tcp}]"),
        &["unknown key \"protocl\"", "did you mean \"protocol\"?"],
    );
    fails(&one("\"80\""), &["services.a.ports must be a list"]);
    fails(
        "services:\n  a:\n    command: x\n    expose: [\"http\"]\n",
        &["services.a.expose[0]", "1 to 65535"],
    );
    // The same fixed host port twice, across services or within one.
    fails(
        "services:\n  a:\n    command: x\n    ports: [\"8080:80\"]\n  b:\n    command: x\n    ports: [\"127.0.0.1:8080:81\"]\n",
        &["services.b.ports[0]", "host port 8080/tcp is already published by service \"a\""],
    );
    fails(
        &one("[\"8080:80\", \"8080:81\"]"),
        &["services.a.ports[1]", "by this service"],
    );
    // Different addresses or protocols do not clash.
    ok(&one(
        "[\"127.0.0.1:8080:80\", \"127.0.0.2:8080:81\", \"8080:80/udp\"]",
    ));
}

#[test]
fn environment_dns_hosts_and_names() {
    let mut o = opts();
    o.env = env(&[("FROM_HOST", "h"), ("ALSO", "a")]);
    let p = ok_with(
        r#"
services:
  a:
    command: x
    environment:
      - PLAIN=1
      - FROM_HOST
      - ABSENT
      - WITH=equals=inside
    dns: 1.1.1.1
    dns_search: example.com
    dns_opt: [ndots:2]
    extra_hosts:
      - "db:10.0.0.5"
      - "gw=host-gateway"
      - "v6:::1"
    hostname: web1
    domainname: example.com
    working_dir: /srv
    labels:
      tier: front
  b:
    command: x
    environment:
      ALSO:
      NUM: 8080
      FLAG: true
      EMPTY: ""
    dns: [8.8.8.8, "2001:4860:4860::8888"]
    extra_hosts:
      zed: 10.0.0.9
      multi: [10.0.0.1, 10.0.0.2]
    labels: [a=b]
"#,
        &o,
    );
    let a = &p.service("a").unwrap().sandbox;
    assert_eq!(a.env, ["FROM_HOST=h", "PLAIN=1", "WITH=equals=inside"]);
    assert_eq!(a.dns, ["1.1.1.1"]);
    assert_eq!(a.dns_search, ["example.com"]);
    assert_eq!(a.dns_options, ["ndots:2"]);
    assert_eq!(a.extra_hosts, ["db:10.0.0.5", "gw:host-gateway", "v6:::1"]);
    assert_eq!(
        (a.hostname.as_str(), a.domainname.as_str()),
        ("web1", "example.com")
    );
    assert_eq!(a.working_dir, "/srv");
    assert_eq!(a.labels["tier"], "front");
    let b = &p.service("b").unwrap().sandbox;
    assert_eq!(b.env, ["ALSO=a", "EMPTY=", "FLAG=true", "NUM=8080"]);
    assert_eq!(b.dns.len(), 2);
    assert_eq!(
        b.extra_hosts,
        ["multi:10.0.0.1", "multi:10.0.0.2", "zed:10.0.0.9"]
    );
    assert_eq!(b.labels["a"], "b");

    let one = |body: &str| format!("services:\n  a:\n    command: x\n{body}");
    fails(
        &one("    dns: [dns.google]\n"),
        &["services.a.dns[0]", "invalid DNS server"],
    );
    fails(
        &one("    extra_hosts: [\"nocolon\"]\n"),
        &["services.a.extra_hosts[0]", "NAME:IP"],
    );
    fails(
        &one("    extra_hosts: {db: banana}\n"),
        &["services.a.extra_hosts.db"],
    );
    fails(
        &one("    hostname: \"bad host\"\n"),
        &["services.a.hostname", "invalid name"],
    );
    fails(
        &one("    working_dir: srv\n"),
        &["services.a.working_dir", "absolute"],
    );
    fails(
        &one("    labels: {com.docker.compose.service: x}\n"),
        &["services.a.labels", "reserved"],
    );
    fails(
        &one("    environment: [\"=x\"]\n"),
        &["services.a.environment", "invalid key"],
    );
    fails(
        &one("    environment: 5\n"),
        &["services.a.environment must be a list of KEY=VALUE or a mapping"],
    );
    fails(
        &one("    mac_address: 01:00:5e:00:00:01\n"),
        &["services.a.mac_address", "multicast"],
    );
    fails(
        &one("    container_name: \"bad name\"\n"),
        &["services.a.container_name"],
    );
    fails(
        &one("    container_name: fixed\n    deploy: {replicas: 2}\n"),
        &[
            "container_name \"fixed\" names a single sandbox",
            "2 replicas",
        ],
    );
    fails(
        &one("    env_file: .env.web\n"),
        &[
            "services.a.env_file",
            "needs the file system",
            "ferry_compose::load",
        ],
    );
}

#[test]
fn replicas_scale_and_endpoint_mode() {
    let p = ok("services:\n  a:\n    command: x\n    scale: 3\n  b:\n    command: x\n    deploy:\n      replicas: 0\n      endpoint_mode: dnsrr\n      resources: {limits: {cpus: '0.5'}}\n  c:\n    command: x\n    deploy: {mode: global}\n");
    assert_eq!(p.service("a").unwrap().replicas, 3);
    let b = p.service("b").unwrap();
    assert_eq!((b.replicas, b.endpoint_mode), (0, EndpointMode::Dnsrr));
    assert_eq!(p.service("c").unwrap().replicas, 1);
    assert!(has_warning(&p, "services.b.deploy.resources is ignored"));
    let mut o = opts();
    o.scale.insert("a".into(), 1);
    assert_eq!(
        ok_with("services:\n  a:\n    command: x\n    scale: 3\n", &o)
            .service("a")
            .unwrap()
            .replicas,
        1
    );
    o.scale.insert("nope".into(), 1);
    fails_with(
        "services:\n  a:\n    command: x\n",
        &o,
        &["scale nope", "no enabled service"],
    );
    fails(
        "services:\n  a:\n    command: x\n    scale: 2\n    deploy: {replicas: 3}\n",
        &["services.a: scale (2) and deploy.replicas (3) differ"],
    );
    fails(
        "services:\n  a:\n    command: x\n    deploy: {endpoint_mode: rr}\n",
        &["services.a.deploy.endpoint_mode", "vip or dnsrr"],
    );
    fails(
        "services:\n  a:\n    command: x\n    deploy: {replicas: -1}\n",
        &["services.a.deploy.replicas must be a whole number"],
    );
}

#[test]
fn keys_ferry_cannot_honour() {
    let p = ok(r#"
version: "3.9"
services:
  a:
    command: x
    build: .
    tmpfs: /run
    healthcheck: {test: ["CMD", "true"]}
    restart: always
    sysctls: {kernel.msgmax: 65536}
    x-custom: {anything: [1, 2]}
volumes:
  data: {}
x-anchors: &defaults
  foo: bar
"#);
    for w in [
        "`version` is obsolete",
        "services.a: build is ignored",
        "services.a: tmpfs is ignored",
        "services.a: healthcheck is ignored: ferry runs no healthchecks",
        "services.a: restart is ignored",
        "services.a.sysctls is ignored",
        "top-level volumes is ignored",
    ] {
        assert!(has_warning(&p, w), "{w}: {:?}", p.warnings);
    }
    assert_eq!(p.warnings.len(), 7, "{:?}", p.warnings);
    fails(
        "services:\n  a:\n    command: x\n    sysctls: [net.ipv4.ip_forward=1]\n",
        &["services.a.sysctls", "net.ipv4.ip_forward cannot be set"],
    );
    fails(
        "services:\n  a:\n    command: x\n    extends: {service: b}\n",
        &["services.a.extends", "not support extends"],
    );
    fails(
        "services:\n  a:\n    command: x\n    uts: host\n",
        &["services.a.uts", "UTS namespace"],
    );
    fails(
        "services:\n  a:\n    command: x\n    netwroks: [a]\n",
        &[
            "services.a: unknown key \"netwroks\"",
            "did you mean \"networks\"?",
        ],
    );
    fails(
        "include: [other.yaml]\nservices:\n  a:\n    command: x\n",
        &["include", "merge the files"],
    );
    fails(
        "servces:\n  a:\n    command: x\n",
        &[
            "top level: unknown key \"servces\"",
            "did you mean \"services\"?",
        ],
    );
    fails("services: {}\n", &["no services are defined"]);
    fails("", &["the file is empty"]);
    fails("- a\n- b\n", &["must be a mapping", "a list"]);
    fails("services:\n  a: [x]\n", &["services.a must be a mapping"]);
    fails(
        "services:\n  'bad name':\n    command: x\n",
        &["services.bad name", "invalid service name"],
    );
    fails(
        "services:\n  a:\n    command: [x\n",
        &["invalid YAML", "line"],
    );
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let p = ok(r#"
x-common: &common
  networks: [n]
  environment: {SHARED: "1"}
services:
  a:
    <<: *common
    command: x
  b:
    <<: *common
    command: y
    environment: {OWN: "2"}
networks:
  n:
"#);
    assert_eq!(p.service("a").unwrap().sandbox.env, ["SHARED=1"]);
    assert_eq!(p.service("b").unwrap().sandbox.env, ["OWN=2"]);
    assert_eq!(p.service("b").unwrap().sandbox.networks[0].name, "proj_n");
}

#[test]
fn profiles_enable_services() {
    let text = "services:\n  a:\n    command: x\n  dbg:\n    command: x\n    profiles: [debug]\n";
    let p = ok(text);
    assert!(p.service("dbg").is_none());
    let mut o = opts();
    o.profiles = vec!["debug".into()];
    assert!(ok_with(text, &o).service("dbg").is_some());
    let mut o = opts();
    o.env = env(&[("COMPOSE_PROFILES", "other, debug")]);
    assert!(ok_with(text, &o).service("dbg").is_some());
    fails(
        "services:\n  a:\n    command: x\n    depends_on: [dbg]\n  dbg:\n    command: x\n    profiles: [debug]\n",
        &["services.a.depends_on", "\"dbg\", which is disabled by its profiles (debug)"],
    );
    fails(
        "services:\n  dbg:\n    command: x\n    profiles: [debug]\n",
        &["every service is disabled by its profiles", "debug"],
    );
}

#[test]
fn links_point_at_replica_one() {
    let p = ok("services:\n  db:\n    command: x\n  app:\n    command: y\n    links: [db, \"db:database\"]\n    external_links: [\"legacy-redis:redis\"]\n");
    let app = p.service("app").unwrap();
    assert_eq!(
        app.sandbox.links,
        ["proj-db-1:db", "proj-db-1:database", "legacy-redis:redis"]
    );
    assert_eq!(app.depends_on[0].service, "db");
    fails(
        "services:\n  app:\n    command: y\n    links: [nope]\n",
        &["services.app.links", "\"nope\", which is not a service"],
    );
}

#[test]
fn config_output_is_canonical_and_reloads_to_the_same_plan() {
    let mut o = opts();
    o.env = env(&[("PORT", "8080")]);
    let p = ok_with(
        r#"
services:
  web:
    image: nginx
    entrypoint: [python3]
    command: -m http.server 80
    ports: ["${PORT}:80", {target: 443, published: "8443", host_ip: "::1", mode: host}]
    expose: [9000]
    environment: [B=2, A=1]
    networks:
      front:
        aliases: [www]
        ipv4_address: 10.60.0.10
    depends_on: [db]
    labels: {tier: web}
    deploy: {replicas: 1, endpoint_mode: dnsrr}
  db:
    command: sleep infinity
    networks: [front, back]
    extra_hosts: {gw: host-gateway}
    dns: [9.9.9.9]
  side:
    command: sleep infinity
    network_mode: service:db
networks:
  front:
    ipam:
      config: [{subnet: 10.60.0.0/24}]
    labels: {team: web}
  back:
    internal: true
"#,
        &o,
    );
    let yaml = p.to_yaml();
    for part in [
        "name: proj\n",
        "name: proj_front",
        "subnet: 10.60.0.0/24",
        "\"8080\"",
        "target: 443",
        "mode: host",
        "ipv4_address: \"10.60.0.10\"",
        "network_mode: service:db",
        "endpoint_mode: dnsrr",
        "image: nginx",
        "team: web",
    ] {
        assert!(yaml.contains(part), "{part:?} not in:\n{yaml}");
    }
    assert!(!yaml.contains("com.docker.compose"), "{yaml}");
    assert!(!yaml.contains("${"), "{yaml}");
    // The same project prints the same text.
    assert_eq!(yaml, ok_with(&yaml, &opts()).to_yaml());
    // Loading the output gives the same plan.
    let again = ok_with(&yaml, &opts());
    for s in &p.services {
        let t = again.service(&s.name).unwrap();
        assert_eq!(t.config_hash, s.config_hash, "{}", s.name);
        assert_eq!(t.sandbox, s.sandbox, "{}", s.name);
    }
    for n in &p.networks {
        assert_eq!(again.network(&n.key).unwrap(), n);
    }
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(json["services"]["web"]["deploy"]["endpoint_mode"], "dnsrr");
}

#[test]
fn load_reads_the_file_dotenv_and_env_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("My Shop");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join("compose.yaml"),
        "services:\n  web:\n    command: python3 -m http.server ${PORT}\n    env_file: [web.env, {path: missing.env, required: false}]\n    environment: [OVERRIDE=compose]\n",
    )
    .unwrap();
    std::fs::write(root.join(".env"), "PORT=8000\nFROM_DOTENV=yes\n").unwrap();
    std::fs::write(
        root.join("web.env"),
        "# web settings\nOVERRIDE=file\nGREETING=\"hi ${FROM_DOTENV}\"\n",
    )
    .unwrap();

    // A directory finds compose.yaml; the directory names the project.
    let p = load(&root, None, &BTreeMap::new()).unwrap();
    assert_eq!(p.name, "myshop");
    let web = p.service("web").unwrap();
    assert_eq!(web.sandbox.cmd, ["python3", "-m", "http.server", "8000"]);
    assert_eq!(web.sandbox.env, ["GREETING=hi yes", "OVERRIDE=compose"]);
    assert_eq!(
        web.sandbox.labels[labels::CONFIG_FILES],
        root.join("compose.yaml").to_string_lossy()
    );
    assert_eq!(
        web.sandbox.labels[labels::WORKING_DIR],
        root.to_string_lossy()
    );

    // The given environment wins over .env; -p wins over the directory.
    let p = load(
        &root.join("compose.yaml"),
        Some("shop2"),
        &env(&[("PORT", "9000")]),
    )
    .unwrap();
    assert_eq!(p.name, "shop2");
    assert_eq!(p.service("web").unwrap().sandbox.cmd[3], "9000");

    // A required env_file that is missing is an error naming it.
    std::fs::remove_file(root.join("web.env")).unwrap();
    let e = load(&root, None, &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("web.env"), "{e}");
    assert_eq!(FerryError::from(e).kind, ErrorKind::NotFound);

    // Errors name the file.
    std::fs::write(
        root.join("compose.yaml"),
        "services:\n  web:\n    command: x\n    ports: [\"0:0\"]\n",
    )
    .unwrap();
    let e = load(&root, None, &BTreeMap::new()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: services.web.ports[0]",
            root.join("compose.yaml").display()
        )),
        "{msg}"
    );
    let fe = FerryError::from(e);
    assert_eq!(fe.kind, ErrorKind::InvalidInput);
    assert_eq!(fe.message, msg);

    let e = load(&dir.path().join("nothing-here"), None, &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, crate::ComposeError::Read { .. }), "{e}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = load(&empty, None, &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("compose.yaml, compose.yml"), "{e}");

    // Profiles and scale through the options.
    std::fs::write(
        root.join("compose.yaml"),
        "services:\n  web:\n    command: x\n    profiles: [p]\n",
    )
    .unwrap();
    let p = load_with_options(
        &root,
        LoadOptions {
            profiles: vec!["p".into()],
            scale: [("web".to_string(), 4)].into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.service("web").unwrap().replicas, 4);
}

#[test]
fn example_two_networks() {
    let p = load(
        &examples().join("two-networks/compose.yaml"),
        None,
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(p.name, "two-networks");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let broker = p.service("broker").unwrap();
    let nets: Vec<_> = broker
        .sandbox
        .networks
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(nets, ["two-networks_back", "two-networks_front"]);
    assert_eq!(broker.sandbox.cmd[0], "socat");
    let client = p.service("client").unwrap();
    assert_eq!(client.sandbox.networks.len(), 1);
    assert_eq!(client.sandbox.networks[0].name, "two-networks_front");
    assert!(p.network("back").unwrap().create.as_ref().unwrap().internal);
    let order: Vec<_> = p.start_order().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["backend", "broker", "client"]);
}

#[test]
fn example_vault() {
    let p = load(&examples().join("vault"), None, &BTreeMap::new()).unwrap();
    assert_eq!(p.name, "vault");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let vault = p.service("vault-ms").unwrap();
    assert_eq!(vault.sandbox.networks[0].name, "vault_vault-net");
    assert_eq!(vault.sandbox.networks[0].aliases, ["vault-ms", "vault"]);
    assert_eq!(
        vault.sandbox.networks[0].ipv4_address.as_deref(),
        Some("172.30.50.10")
    );
    let dir = &vault.sandbox.labels[labels::WORKING_DIR];
    assert!(
        dir.ends_with("/examples/vault") && !dir.contains(".."),
        "{dir}"
    );
    let sp = p.service("security-processor").unwrap();
    assert!(sp.sandbox.env.contains(&"VAULT_PORT=8200".to_string()));
    assert!(sp.sandbox.cmd[2].contains("TCP:${VAULT_HOST}:${VAULT_PORT}"));
    let p = load(
        &examples().join("vault"),
        None,
        &env(&[("VAULT_PORT", "9200")]),
    )
    .unwrap();
    assert!(p
        .service("security-processor")
        .unwrap()
        .sandbox
        .env
        .contains(&"VAULT_PORT=9200".to_string()));
}

#[test]
fn example_web_replicas() {
    let p = load(
        &examples().join("web-replicas/compose.yaml"),
        None,
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(p.name, "web-replicas");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let web = p.service("web").unwrap();
    assert_eq!((web.replicas, web.endpoint_mode), (2, EndpointMode::Vip));
    let mesh = web.mesh_ports();
    assert_eq!(mesh.len(), 1);
    assert_eq!(mesh[0].request.host_ports.map(|r| r.start), Some(8080));
    let r2 = p.sandbox_request("web", 2).unwrap();
    assert_eq!(r2.name, "web-replicas-web-2");
    assert!(r2.port_bindings.is_empty());
    assert_eq!(r2.cmd[0], "python3");
    assert_eq!(p.network("default").unwrap().name, "web-replicas_default");
    let client = p.service("client").unwrap();
    assert_eq!(client.depends_on[0].service, "web");
}

/// Options for a project in /srv/app, for a user whose home is /home/u.
fn in_srv_app() -> LoadOptions {
    LoadOptions {
        project_name: Some("proj".into()),
        working_dir: Some(PathBuf::from("/srv/app")),
        env: env(&[("HOME", "/home/u")]),
        ..Default::default()
    }
}

const CONFINED: &str = r#"
services:
  a:
    command: sleep infinity
    cap_add: [NET_ADMIN, CAP_SYS_TIME]
    cap_drop: [MKNOD]
    security_opt: ["seccomp=unconfined", "no-new-privileges:true"]
    user: 1000
    pid: host
    ipc: shareable
    init: true
    read_only: true
    volumes:
      - ./data:/data
      - /etc/ssl:/etc/ssl/:ro
      - ~/cache:/cache:rw
      - {type: bind, source: ../shared, target: /shared, read_only: true}
  b:
    command: sleep infinity
    pid: service:a
    ipc: "service:a"
    privileged: true
    user: "nobody:nogroup"
    deploy: {replicas: 2}
  c:
    command: sleep infinity
    ipc: container:other-sandbox
    init: false
"#;

#[test]
fn confinement_keys_reach_the_sandbox_request() {
    let p = ok_with(CONFINED, &in_srv_app());
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let a = &p.service("a").unwrap().sandbox.security;
    assert_eq!(a.cap_add, ["NET_ADMIN", "CAP_SYS_TIME"]);
    assert_eq!(a.cap_drop, ["MKNOD"]);
    assert!(!a.privileged);
    assert_eq!(
        a.security_opt,
        ["seccomp=unconfined", "no-new-privileges:true"]
    );
    assert_eq!(a.user, "1000");
    assert_eq!(a.pid_mode, "host");
    assert_eq!(a.ipc_mode, "shareable");
    assert_eq!(a.init, Some(true));
    assert!(a.readonly_rootfs);
    // Relative host paths are taken from the project directory, ~ from HOME; `..` is
    // resolved, a trailing / dropped, rw is the default.
    assert_eq!(
        a.binds,
        [
            "/srv/app/data:/data",
            "/etc/ssl:/etc/ssl:ro",
            "/home/u/cache:/cache",
            "/srv/shared:/shared:ro"
        ]
    );

    // service:X joins X's first replica, and makes X a dependency.
    let b = p.service("b").unwrap();
    assert_eq!(b.sandbox.security.pid_mode, "container:proj-a-1");
    assert_eq!(b.sandbox.security.ipc_mode, "container:proj-a-1");
    assert_eq!(b.pid, Some(crate::NamespaceShare::Service("a".into())));
    assert_eq!(b.depends_on[0].service, "a");
    assert!(b.sandbox.security.privileged);
    assert_eq!(b.sandbox.security.user, "nobody:nogroup");
    assert_eq!(b.sandbox.security.init, None, "the daemon's default");
    // Every replica, and the template of the ferry service they belong to, carry it.
    let second = p.sandbox_request("b", 2).unwrap();
    assert_eq!(second.security, b.sandbox.security);
    let template = ferry_types::service::ReplicaTemplate::of_sandbox(&second);
    assert_eq!(template.security, b.sandbox.security);

    let c = &p.service("c").unwrap().sandbox.security;
    assert_eq!(c.ipc_mode, "container:other-sandbox");
    assert_eq!(c.pid_mode, "");
    assert_eq!(c.init, Some(false));

    // With container_name, service: names that sandbox.
    let named = CONFINED.replace(
        "  a:\n    command: sleep infinity\n",
        "  a:\n    command: sleep infinity\n    container_name: the-a\n",
    );
    let p = ok_with(&named, &in_srv_app());
    let b = &p.service("b").unwrap().sandbox.security;
    assert_eq!(b.pid_mode, "container:the-a");

    // A service without the keys keeps the daemon's defaults.
    let plain = ok("services:\n  a:\n    command: x\n");
    assert_eq!(
        plain.service("a").unwrap().sandbox.security,
        Default::default()
    );
}

#[test]
fn confinement_refusals_say_what_to_do() {
    let o = in_srv_app();
    let svc = |keys: &str| format!("services:\n  web:\n    command: x\n{keys}");
    let f = |keys: &str, parts: &[&str]| fails_with(&svc(keys), &o, parts);
    // Named and anonymous volumes, other mount types.
    f(
        "    volumes: [\"data:/var/lib/data\"]\n",
        &[
            "services.web.volumes[0]: \"data\" is a named volume",
            "ferry has only bind mounts",
            "./data",
        ],
    );
    f(
        "    volumes: [{type: volume, source: data, target: /data}]\n",
        &[
            "services.web.volumes[0]: \"data\" is a named volume",
            "ferry has only bind mounts",
        ],
    );
    f(
        "    volumes: [{type: volume, target: /data}]\n",
        &["services.web.volumes[0]: a volume without a source is an anonymous volume"],
    );
    f(
        "    volumes: [{type: tmpfs, target: /tmp}]\n",
        &[
            "services.web.volumes[0].type: tmpfs mounts are not supported",
            "ferry has only bind mounts",
        ],
    );
    f(
        "    volumes: [/data]\n",
        &[
            "services.web.volumes[0]",
            "anonymous volume",
            "HOST-PATH:/data",
        ],
    );
    f(
        "    volumes: [{source: ./a, target: /a}]\n",
        &["services.web.volumes[0]: type is missing", "type: bind"],
    );
    f(
        "    volumes: [{type: bind, source: ./a, target: /a, bind: {propagation: shared}}]\n",
        &["services.web.volumes[0].bind.propagation: not supported"],
    );
    f(
        "    volumes: [{type: bind, source: ./a}]\n",
        &["services.web.volumes[0]: target is missing"],
    );
    // Bad modes, relative targets, clashing targets.
    f(
        "    volumes: [\"./a:/a:z\"]\n",
        &[
            "services.web.volumes[0]: mode \"z\"",
            "ferry knows ro and rw",
        ],
    );
    f(
        "    volumes: [\"./a:/a:rx\"]\n",
        &["mode \"rx\"", "ro and rw"],
    );
    f(
        "    volumes: [\"./a:data\"]\n",
        &[
            "services.web.volumes[0]: the sandbox path \"data\" is relative",
            "/data",
        ],
    );
    f(
        "    volumes: [{type: bind, source: /a, target: ./a}]\n",
        &["the sandbox path \"./a\" is relative"],
    );
    f(
        "    volumes: [\"./a:/\"]\n",
        &["services.web.volumes[0]", "cannot be /"],
    );
    f(
        "    volumes: [\"./a:/x\", \"./b:/x/\"]\n",
        &["services.web.volumes[1]: /x is already the target of services.web.volumes[0]"],
    );
    f(
        "    volumes: [\"./a:/x:ro:rw\"]\n",
        &["HOST-PATH:SANDBOX-PATH[:ro|rw]"],
    );
    // Host paths that cannot be resolved.
    fails(
        &svc("    volumes: [\"./a:/a\"]\n"),
        &["\"./a\" is relative and the project directory is unknown"],
    );
    fails(
        &svc("    volumes: [\"~/a:/a\"]\n"),
        &["starts with ~, but HOME is not set"],
    );
    f(
        "    volumes: [\"~bob/a:/a\"]\n",
        &["~USER is not supported"],
    );
    // The other keys.
    f(
        "    user: \"a b\"\n",
        &[
            "services.web.user: invalid user \"a b\"",
            "UID[:GID] or NAME[:GROUP]",
        ],
    );
    f(
        "    pid: private\n",
        &[
            "services.web.pid: \"private\" is not a PID mode",
            "host, service:NAME or container:NAME",
        ],
    );
    f(
        "    ipc: none\n",
        &["services.web.ipc: ipc: none is not supported", "private"],
    );
    f("    ipc: \"container:\"\n", &["is not an IPC mode"]);
    f(
        "    pid: service:db\n",
        &["services.web.pid: shares the PID namespace of \"db\", which is not a service"],
    );
    f(
        "    ipc: service:web\n",
        &["services.web.ipc: a service cannot share its own IPC namespace"],
    );
    fails_with(
        "services:\n  a:\n    command: x\n    scale: 0\n  b:\n    command: y\n    pid: service:a\n",
        &o,
        &["services.b.pid: service \"a\" has 0 replicas"],
    );
    f(
        "    cap_add: [\"NET ADMIN\"]\n",
        &[
            "services.web.cap_add[0]: invalid capability \"NET ADMIN\"",
            "NET_ADMIN",
        ],
    );
    f(
        "    security_opt: [\"apparmor=unconfined\"]\n",
        &[
            "services.web.security_opt[0]",
            "AppArmor and SELinux labels are not supported",
        ],
    );
    f(
        "    security_opt: [\"no-new-privileges=maybe\"]\n",
        &["no-new-privileges takes true or false, not \"maybe\""],
    );
    f(
        "    security_opt: [\"seccomp\"]\n",
        &["services.web.security_opt[0]", "names no profile"],
    );
    f(
        "    security_opt: [\"foo=bar\"]\n",
        &["unknown security option \"foo=bar\""],
    );
    f(
        "    read_only: maybe\n",
        &["services.web.read_only must be true or false"],
    );
    // A profile file needs the file system.
    f(
        "    security_opt: [\"seccomp=profile.json\"]\n",
        &["services.web.security_opt[0]", "needs the file system"],
    );
    // A cycle through pid: is named as such.
    fails(
        "services:\n  a:\n    command: x\n    pid: service:b\n  b:\n    command: y\n    ipc: service:a\n",
        &["dependency cycle", "service: in network_mode, pid and ipc"],
    );
}

#[test]
fn seccomp_profiles_are_read_from_the_project_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#;
    std::fs::create_dir(root.join("sec")).unwrap();
    std::fs::write(root.join("sec/profile.json"), profile).unwrap();
    let file = root.join("compose.yaml");
    let write = |opt: &str| {
        std::fs::write(
            &file,
            format!("services:\n  a:\n    command: x\n    security_opt: [\"{opt}\"]\n"),
        )
        .unwrap()
    };
    let load = || load(&file, Some("p"), &BTreeMap::new());
    write("seccomp=sec/profile.json");
    let p = load().unwrap();
    let a = p.service("a").unwrap();
    // The request carries the JSON, as the docker CLI sends it; config shows the file.
    assert_eq!(
        a.sandbox.security.security_opt,
        [format!("seccomp={profile}")]
    );
    let shown = format!("seccomp={}", root.join("sec/profile.json").display());
    assert_eq!(a.security_opt, [shown.as_str()]);
    assert!(p.to_yaml().contains(&shown), "{}", p.to_yaml());
    // The older key:value spelling too.
    write("seccomp:./sec/../sec/profile.json");
    assert_eq!(
        load().unwrap().service("a").unwrap().config_hash,
        a.config_hash
    );
    // A changed profile recreates the service.
    std::fs::write(
        root.join("sec/profile.json"),
        r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#,
    )
    .unwrap();
    assert_ne!(
        load().unwrap().service("a").unwrap().config_hash,
        a.config_hash
    );
    // A profile that is not JSON, or not there.
    std::fs::write(root.join("sec/profile.json"), "[1]").unwrap();
    let e = load().unwrap_err().to_string();
    assert!(
        e.contains("services.a.security_opt[0]") && e.contains("is not a seccomp profile"),
        "{e}"
    );
    std::fs::write(root.join("sec/profile.json"), "{").unwrap();
    let e = load().unwrap_err().to_string();
    assert!(e.contains("invalid JSON"), "{e}");
    write("seccomp=missing.json");
    let e = load().unwrap_err();
    assert!(
        e.to_string()
            .contains(&root.join("missing.json").display().to_string()),
        "{e}"
    );
    assert_eq!(FerryError::from(e).kind, ErrorKind::NotFound);
}

#[test]
fn config_hashes_cover_confinement() {
    let base = "services:\n  a:\n    command: x\n    cap_add: [NET_ADMIN]\n  b:\n    command: y\n    pid: service:a\n  c:\n    command: z\n";
    let o = in_srv_app();
    let hashes = |text: &str| -> Vec<String> {
        let p = ok_with(text, &o);
        ["a", "b", "c"]
            .iter()
            .map(|s| p.service(s).unwrap().config_hash.clone())
            .collect()
    };
    let before = hashes(base);
    // Each key, changed on a, changes a's hash (and b's, which shares a's PID namespace),
    // never c's.
    for change in [
        "    cap_add: [NET_RAW]\n",
        "    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n",
        "    cap_add: [NET_ADMIN]\n    privileged: true\n",
        "    cap_add: [NET_ADMIN]\n    security_opt: [seccomp=unconfined]\n",
        "    cap_add: [NET_ADMIN]\n    user: \"1000\"\n",
        "    cap_add: [NET_ADMIN]\n    pid: host\n",
        "    cap_add: [NET_ADMIN]\n    ipc: shareable\n",
        "    cap_add: [NET_ADMIN]\n    init: false\n",
        "    cap_add: [NET_ADMIN]\n    read_only: true\n",
        "    cap_add: [NET_ADMIN]\n    volumes: [./d:/d]\n",
    ] {
        let after = hashes(&base.replace("    cap_add: [NET_ADMIN]\n", change));
        assert_ne!(after[0], before[0], "{change}");
        assert_ne!(after[1], before[1], "{change}");
        assert_eq!(after[2], before[2], "{change}");
    }
    // A changed mount mode or host path is a change too.
    let v = |spec: &str| {
        hashes(&base.replace(
            "    cap_add: [NET_ADMIN]\n",
            &format!("    volumes: [\"{spec}\"]\n"),
        ))[0]
            .clone()
    };
    assert_ne!(v("./d:/d"), v("./d:/d:ro"));
    assert_ne!(v("./d:/d"), v("./e:/d"));
    // The same mount in either syntax is the same configuration.
    assert_eq!(
        v("/srv/app/d:/d:ro"),
        hashes(&base.replace(
            "    cap_add: [NET_ADMIN]\n",
            "    volumes: [{type: bind, source: ./d, target: /d, read_only: true}]\n"
        ))[0]
    );
    // The keys of another service change nothing here.
    let c = hashes(&base.replace("    command: z\n", "    command: z\n    read_only: true\n"));
    assert_eq!(c[..2], before[..2]);
    assert_ne!(c[2], before[2]);
}

#[test]
fn config_shows_confinement_and_reloads_to_the_same_plan() {
    let o = in_srv_app();
    let p = ok_with(CONFINED, &o);
    let yaml = p.to_yaml();
    for part in [
        "cap_add:\n    - NET_ADMIN\n    - CAP_SYS_TIME\n",
        "cap_drop:\n    - MKNOD\n",
        "no-new-privileges:true",
        "user: \"1000\"",
        "pid: host\n",
        "ipc: shareable\n",
        "pid: service:a\n",
        "ipc: container:other-sandbox\n",
        "init: true\n",
        "init: false\n",
        "privileged: true\n",
        "read_only: true\n",
        "type: bind",
        "source: /srv/app/data",
        "target: /data",
        "source: /home/u/cache",
    ] {
        assert!(yaml.contains(part), "{part:?} not in:\n{yaml}");
    }
    let again = ok_with(&yaml, &o);
    for s in &p.services {
        let t = again.service(&s.name).unwrap();
        assert_eq!(t.sandbox, s.sandbox, "{}", s.name);
        assert_eq!(t.config_hash, s.config_hash, "{}", s.name);
    }
    assert_eq!(yaml, again.to_yaml());
}

#[test]
fn macvlan_and_ipvlan_networks_carry_their_driver_and_options() {
    let p = ok(r#"
name: proj
services:
  a:
    command: sleep infinity
    networks: [lan, l3]
networks:
  lan:
    driver: macvlan
    driver_opts:
      parent: eth0.50
      macvlan_mode: bridge
      ferry.host_access: "true"
    ipam:
      config:
        - subnet: 192.168.50.0/24
          gateway: 192.168.50.1
  l3:
    driver: ipvlan
    driver_opts:
      parent: eth1
      ipvlan_mode: l3
"#);
    let lan = p.network("lan").unwrap().create.as_ref().unwrap();
    assert_eq!(lan.driver, "macvlan");
    assert_eq!(lan.options["parent"], "eth0.50");
    assert_eq!(lan.options["ferry.host_access"], "true");
    let l3 = p.network("l3").unwrap().create.as_ref().unwrap();
    assert_eq!(l3.driver, "ipvlan");
    assert_eq!(l3.options["ipvlan_mode"], "l3");
}

#[test]
fn tty_and_stdin_open_give_a_terminal() {
    let p = ok("services:\n  a:\n    command: sh\n    tty: true\n    stdin_open: true\n  b:\n    command: x\n");
    let a = &p.service("a").unwrap().sandbox;
    assert!(a.tty && a.open_stdin);
    let b = &p.service("b").unwrap().sandbox;
    assert!(!b.tty && !b.open_stdin);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    fails(
        "services:\n  a:\n    command: x\n    tty: maybe\n",
        &["services.a.tty"],
    );
}

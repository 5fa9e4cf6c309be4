//! Bad input gets a precise message and the right status, and leaves nothing half-made.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{api, message, Host};

#[test]
fn network_create_errors_have_clear_messages_and_codes() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.90.0.0/24", "taken"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["network", "create", "taken"],
            "network with name taken already exists",
        ),
        (
            &["network", "create", "--subnet", "10.90.0.128/25", "o"],
            "overlaps subnet of network taken",
        ),
        (
            &["network", "create", "--subnet", "10.91.0.0/33", "o"],
            "expected CIDR notation",
        ),
        (
            &["network", "create", "--subnet", "10.91.0.1/24", "o"],
            "did you mean 10.91.0.0/24",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.91.0.0/24",
                "--gateway",
                "10.92.0.1",
                "o",
            ],
            "is not inside any --subnet",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.91.0.0/24",
                "--ip-range",
                "10.91.1.0/25",
                "o",
            ],
            "is not inside any --subnet",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.91.0.0/24",
                "--subnet",
                "10.91.0.0/25",
                "o",
            ],
            "overlap",
        ),
        (
            &["network", "create", "-d", "weave", "o"],
            "unknown network driver",
        ),
        (
            &["network", "create", "-d", "overlay", "o"],
            "not part of a swarm",
        ),
        (
            &[
                "network",
                "create",
                "-o",
                "com.docker.network.bridge.enable_icc=maybe",
                "o",
            ],
            "use true or false",
        ),
        (&["network", "create", "bad name"], "invalid network name"),
        (
            &["network", "create", "--subnet", "fd00:9::/64", "o"],
            "without --ipv6",
        ),
    ];
    for (args, want) in cases {
        let e = h.fails(args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    let (code, body) = api(&h, "POST", "/networks/create", Some(r#"{"Name":"taken"}"#));
    assert_eq!(code, 409, "{body}");
    let (code, body) = api(
        &h,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"x","IPAM":{"Config":[{"Subnet":"nope"}]}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(message(&body).contains("invalid subnet"), "{body}");
    let (code, body) = api(&h, "POST", "/networks/create", Some(r#"{"Name": 5"#));
    assert_eq!(code, 400);
    assert!(message(&body).contains("invalid request body"), "{body}");
    // Like dockerd: fields it does not know are ignored, null is the zero value.
    let (code, body) = api(
        &h,
        "POST",
        "/v1.50/networks/create",
        Some(
            r#"{"Name":"x","Bogus":1,"IPAM":{"Config":[{"Subnet":"10.77.0.0/24","IPRange":null,"AuxiliaryAddresses":null}]}}"#,
        ),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = api(&h, "DELETE", "/v1.50/networks/x", None);
    assert_eq!(code, 204, "{body}");
    // Nothing half-made: only the networks created successfully exist.
    let names = h.ok(&["network", "ls", "--format", "json"]);
    assert_eq!(names.lines().count(), 4, "{names}");
    let links = h.links();
    assert_eq!(
        links.iter().filter(|l| l.starts_with("fr-")).count(),
        1,
        "{links:?}"
    );
}

#[test]
fn sandbox_and_endpoint_errors() {
    let h = Host::new();
    h.ok(&[
        "network",
        "create",
        "--subnet",
        "10.93.0.0/24",
        "--ip-range",
        "10.93.0.128/25",
        "n",
    ]);
    h.ok(&["network", "create", "auto"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "n",
        "--ip",
        "10.93.0.10",
        "--",
        "sleep",
        "600",
    ]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "-d", "--name", "a", "--", "true"],
            "is already in use by sandbox",
        ),
        (
            &[
                "run",
                "-d",
                "--network",
                "n",
                "--ip",
                "10.93.0.10",
                "--",
                "true",
            ],
            "already in use",
        ),
        (
            &[
                "run",
                "-d",
                "--network",
                "n",
                "--ip",
                "10.99.0.5",
                "--",
                "true",
            ],
            "is not in any subnet of network n",
        ),
        (
            &[
                "run",
                "-d",
                "--network",
                "n",
                "--ip",
                "10.93.0.1",
                "--",
                "true",
            ],
            "gateway",
        ),
        (
            &[
                "run",
                "-d",
                "--network",
                "auto",
                "--ip",
                "172.18.0.9",
                "--",
                "true",
            ],
            "user-configured subnet",
        ),
        (
            &["run", "-d", "--network", "nosuch", "--", "true"],
            "network nosuch not found",
        ),
        (
            &[
                "run",
                "-d",
                "--network",
                "host",
                "--network",
                "n",
                "--",
                "true",
            ],
            "cannot be combined",
        ),
        (
            &["run", "-d", "--network-alias", "x", "--", "true"],
            "user-defined networks",
        ),
        (
            &["run", "-d", "--add-host", "nocolon", "--", "true"],
            "expected NAME:IP",
        ),
        (&["run", "-d", "--", "/no/such/program"], "cannot start"),
        (
            &["network", "connect", "n", "nosuch"],
            "no such sandbox: nosuch",
        ),
        (
            &["network", "connect", "host", "a"],
            "cannot be connected to the host network",
        ),
        (
            &["network", "connect", "none", "a"],
            "cannot be connected to the none network",
        ),
        (&["network", "connect", "n", "a"], "already connected"),
        (
            &["network", "disconnect", "auto", "a"],
            "is not connected to network auto",
        ),
        (
            &["network", "rm", "n"],
            "has active endpoints (sandboxes: a)",
        ),
        (&["network", "rm", "bridge"], "pre-defined network"),
        (&["rm", "a"], "stop it first or use rm -f"),
        (&["exec", "nosuch", "--", "true"], "no such sandbox"),
    ];
    for (args, want) in cases {
        let e = h.fails(args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    // The failed start of /no/such/program left no endpoint and no namespace behind.
    assert_eq!(h.veths(), 1, "{:?}", h.links());
    // Status codes of the raw API.
    assert_eq!(api(&h, "GET", "/networks/nosuch", None).0, 404);
    assert_eq!(api(&h, "DELETE", "/networks/n", None).0, 409);
    assert_eq!(api(&h, "DELETE", "/networks/bridge", None).0, 403);
    assert_eq!(
        api(
            &h,
            "POST",
            "/networks/host/connect",
            Some(r#"{"Container":"a"}"#)
        )
        .0,
        403
    );
    assert_eq!(api(&h, "GET", "/containers/nosuch/json", None).0, 404);
    assert_eq!(api(&h, "DELETE", "/containers/a", None).0, 409);
    assert_eq!(
        api(&h, "POST", "/containers/create", Some(r#"{"Cmd":[]}"#)).0,
        400
    );
    let (code, v) = api(&h, "GET", "/_nothing_here", None);
    assert_eq!(code, 404, "{v}");
}

#[test]
fn an_exhausted_subnet_is_refused_and_frees_up_again() {
    let h = Host::new();
    // A /29 has six host addresses; the gateway takes one.
    h.ok(&["network", "create", "--subnet", "10.94.0.0/29", "tiny"]);
    for i in 0..5 {
        h.ok(&[
            "run",
            "-d",
            "--name",
            &format!("s{i}"),
            "--network",
            "tiny",
            "--",
            "sleep",
            "600",
        ]);
    }
    let e = h.fails(&[
        "run",
        "-d",
        "--name",
        "s5",
        "--network",
        "tiny",
        "--",
        "sleep",
        "600",
    ]);
    assert!(e.contains("no free address left"), "{e}");
    assert_eq!(h.veths(), 5, "the failed start made nothing");
    h.ok(&["rm", "-f", "s0"]);
    h.ok(&["start", "s5"]);
    assert_eq!(h.ip("s5", "tiny"), "10.94.0.2", "the only free address");
}

#[test]
fn serial_allocation_does_not_reuse_a_freed_address_at_once() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.95.0.0/24", "n"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "n",
        "--",
        "sleep",
        "600",
    ]);
    let first = h.ip("a", "n");
    h.ok(&["rm", "-f", "a"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "n",
        "--",
        "sleep",
        "600",
    ]);
    assert_ne!(h.ip("b", "n"), first);
}

#[test]
fn default_networks_and_config_file() {
    let h = Host::new();
    let ls = h.ok(&["network", "ls"]);
    for n in ["bridge", "host", "none"] {
        assert!(ls.contains(n), "{ls}");
    }
    let b: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(b[0]["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
    assert_eq!(b[0]["Options"]["com.docker.network.bridge.name"], "ferry0");
    assert!(h
        .sh("ip -o addr show dev ferry0")
        .stdout
        .contains("172.17.0.1/16"));
    let id = b[0]["Id"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    // Prefixes and names both resolve.
    h.ok(&["network", "inspect", &id[..5]]);
    let f = h.ok(&["network", "ls", "--filter", "type=custom", "-q"]);
    assert!(f.is_empty(), "{f}");
    let info = h.ok(&["info"]);
    assert!(info.contains("Default Bridge: 172.17.0.1/16"), "{info}");

    // An unknown daemon.json key stops the daemon with its name.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("daemon.json");
    std::fs::write(&conf, r#"{"bip":"10.96.0.1/24","iptablez":false}"#).unwrap();
    let r = std::process::Command::new(common::ferry_bin())
        .args(["daemon", "--config-file"])
        .arg(&conf)
        .arg("--data-root")
        .arg(dir.path().join("d"))
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown field `iptablez`"));
}

#[test]
fn bip_moves_the_default_bridge() {
    let h = Host::with_args(&["--bip", "10.97.5.1/24"]);
    let b: serde_json::Value =
        serde_json::from_str(&h.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(b[0]["IPAM"]["Config"][0]["Subnet"], "10.97.5.0/24");
    assert_eq!(b[0]["IPAM"]["Config"][0]["Gateway"], "10.97.5.1");
    // 172.17.0.0/16 is free now, so the first user network takes it.
    h.ok(&["network", "create", "u"]);
    let u: serde_json::Value = serde_json::from_str(&h.ok(&["network", "inspect", "u"])).unwrap();
    assert_eq!(u[0]["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
}

#[test]
fn port_publishing_errors_are_precise_and_leave_nothing() {
    let h = Host::new();
    // Malformed PortBindings through the API: 400 with the reason, and no sandbox made.
    for (body, why) in [
        (
            r#"{"Name":"p1","Cmd":["sleep","60"],"PortBindings":{"80/icmp":[]}}"#,
            "tcp, udp or sctp",
        ),
        (
            r#"{"Name":"p1","Cmd":["sleep","60"],"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"99999"}]}}"#,
            "1 to 65535",
        ),
        (
            r#"{"Name":"p1","Cmd":["sleep","60"],"PortBindings":{"80/tcp":[{"HostIp":"not-an-ip","HostPort":"80"}]}}"#,
            "invalid host address",
        ),
        (
            r#"{"Name":"p1","Cmd":["sleep","60"],"ExposedPorts":{"abc":{}},"PublishAllPorts":true}"#,
            "container port",
        ),
    ] {
        let (code, v) = api(&h, "POST", "/containers/create", Some(body));
        assert_eq!(code, 400, "{body}: {v}");
        assert!(message(&v).contains(why), "{body}: {v}");
    }
    assert!(h.ok(&["ps", "-aq"]).is_empty(), "nothing half-made");
    // The CLI checks the syntax before it calls the daemon.
    let e = h.fails(&["run", "-d", "-p", "8000-8001:80-82", "--", "sleep", "60"]);
    assert!(e.contains("differ in size"), "{e}");
    // Modes that cannot carry published ports say why.
    let e = h.fails(&[
        "run",
        "-d",
        "--network",
        "none",
        "-p",
        "80",
        "--",
        "sleep",
        "60",
    ]);
    assert!(e.contains("--network none"), "{e}");
    // host mode publishes nothing, with Docker's warning.
    let r = h.ferry(&[
        "create",
        "--network",
        "host",
        "-p",
        "80",
        "--",
        "sleep",
        "60",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("discarded"), "{}", r.stderr);

    // create + start publishes; a failed start (port taken) leaves the sandbox created and
    // the first sandbox's port untouched.
    h.ok(&[
        "create", "--name", "c1", "-p", "18080:80", "--", "sleep", "600",
    ]);
    h.ok(&[
        "create", "--name", "c2", "-p", "18080:80", "--", "sleep", "600",
    ]);
    h.ok(&["start", "c1"]);
    assert_eq!(h.ok(&["port", "c1", "80"]), "0.0.0.0:18080");
    let e = h.fails(&["start", "c2"]);
    assert!(e.contains("already published by sandbox c1"), "{e}");
    let c2 = h.inspect("c2");
    assert_eq!(c2["State"]["Status"], "created");
    assert_eq!(h.ok(&["port", "c1", "80"]), "0.0.0.0:18080");
    let e = h.fails(&["port", "c1", "81"]);
    assert!(e.contains("no public port '81/tcp'"), "{e}");
    h.ok(&["rm", "-f", "c1"]);
    h.ok(&["start", "c2"]);
    assert_eq!(h.ok(&["port", "c2"]), "80/tcp -> 0.0.0.0:18080");
}

/// Output piped into `head` ends the CLI quietly when the pipe closes, as with other Unix
/// tools: no panic, no error message.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let h = Host::new();
    h.ok(&[
        "run",
        "--name",
        "big",
        "--",
        "sh",
        "-c",
        "yes ferry | head -c 2000000",
    ]);
    let r = h.sh(&format!(
        "FERRY_HOST=unix://{} {} logs big | head -c 5",
        h.socket().display(),
        common::ferry_bin()
    ));
    assert_eq!(r.stdout, "ferry");
    assert_eq!(r.stderr, "", "nothing said on a closed pipe");
}

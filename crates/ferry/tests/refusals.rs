//! Input that cannot work is refused up front with 400 (413 for a body over the limit) and a
//! message that says what, why and what to do, and leaves nothing behind; API clients that
//! stall lose their connection while others are served.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{api, message, Host};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Sends `body` to `path` and insists on `status` with `want` in the message.
fn refused(h: &Host, path: &str, body: &str, status: u16, want: &str) {
    let (code, v) = api(h, "POST", path, Some(body));
    let shown: String = body.chars().take(200).collect();
    assert_eq!(code, status, "{path} {shown}: {v}");
    assert!(message(&v).contains(want), "{path} {shown}: {v}");
}

/// The names of the networks, sorted.
fn network_names(h: &Host) -> Vec<String> {
    let mut names: Vec<String> = h
        .ok(&["network", "ls", "--format", "json"])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("network json");
            v["Name"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    names.sort_unstable();
    names
}

/// Nothing but the default networks, and no sandbox, service or bridge of ferry's.
fn nothing_made(h: &Host) {
    assert!(h.ok(&["ps", "-aq"]).is_empty(), "a sandbox was made");
    assert!(
        h.ok(&["service", "ls", "-q"]).is_empty(),
        "a service was made"
    );
    assert_eq!(
        network_names(h),
        ["bridge", "host", "none"],
        "a network was made"
    );
    let links = h.links();
    assert!(
        !links
            .iter()
            .any(|l| l.starts_with("fr-") || l.starts_with("vf")),
        "{links:?}"
    );
}

#[test]
fn dns_search_and_options_cannot_add_lines_to_resolv_conf() {
    let h = Host::new();
    let injected = "example.com\nnameserver 6.6.6.6";
    let e = h.fails(&["run", "-d", "--dns-search", injected, "--", "sleep", "60"]);
    assert!(e.contains("invalid DNS search domain"), "{e}");
    let e = h.fails(&[
        "run",
        "-d",
        "--dns-option",
        "ndots:1\nnameserver 6.6.6.6",
        "--",
        "sleep",
        "60",
    ]);
    assert!(e.contains("invalid DNS option"), "{e}");
    let e = h.fails(&[
        "create",
        "--dns-option",
        "ndots:1 rotate",
        "--",
        "sleep",
        "60",
    ]);
    assert!(e.contains("no spaces"), "{e}");
    for (body, want) in [
        (
            r#"{"Cmd":["sleep","60"],"DnsSearch":["a.com\nnameserver 6.6.6.6"]}"#,
            "invalid DNS search domain",
        ),
        (
            r#"{"Cmd":["sleep","60"],"DnsSearch":["has space.com"]}"#,
            "invalid DNS search domain",
        ),
        (
            r#"{"Cmd":["sleep","60"],"DnsOptions":["edns0\nnameserver 6.6.6.6"]}"#,
            "invalid DNS option",
        ),
    ] {
        refused(&h, "/containers/create", body, 400, want);
    }
    refused(
        &h,
        "/services/create",
        r#"{"Name":"s","Cmd":["sleep","60"],"DnsSearch":["x\nnameserver 6.6.6.6"]}"#,
        400,
        "invalid DNS search domain",
    );
    nothing_made(&h);

    // What Docker accepts still works and lands in resolv.conf as given.
    h.sleeper(
        "ok",
        &["--dns-search", "example.com", "--dns-option", "ndots:2"],
    );
    let resolv = h.ok(&["exec", "ok", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("search example.com"), "{resolv}");
    assert!(resolv.contains("ndots:2"), "{resolv}");
    assert!(!resolv.contains("6.6.6.6"), "{resolv}");
}

#[test]
fn subnets_that_can_never_work_are_refused_with_400() {
    let h = Host::new();
    for (subnet, v6) in [
        ("127.0.0.0/8", false),
        ("255.255.255.0/24", false),
        ("224.0.0.0/4", false),
        ("169.254.0.0/16", false),
        ("0.0.0.0/0", false),
        ("fe80::/64", true),
        ("::ffff:10.0.0.0/104", true),
        ("::/0", true),
        ("ff00::/8", true),
    ] {
        let mut args = vec!["network", "create", "--subnet", subnet];
        if v6 {
            args.push("--ipv6");
        }
        args.push("n");
        let e = h.fails(&args);
        assert!(e.contains("which a network cannot use"), "{subnet}: {e}");
        // 224.0.0.0/4, ::/0 and ff00::/8 reached the kernel and came back as a 500.
        let body = format!(
            r#"{{"Name":"n","EnableIPv6":{v6},"IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#
        );
        refused(
            &h,
            "/networks/create",
            &body,
            400,
            "which a network cannot use",
        );
    }
    nothing_made(&h);

    // A pool that can never work keeps the daemon from starting, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("daemon.json");
    std::fs::write(
        &conf,
        r#"{"default-address-pools":[{"base":"127.0.0.0/8","size":24}]}"#,
    )
    .unwrap();
    let r = std::process::Command::new(common::ferry_bin())
        .args(["daemon", "--config-file"])
        .arg(&conf)
        .arg("--data-root")
        .arg(dir.path().join("d"))
        .arg("--exec-root")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_ne!(r.status.code(), Some(0));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("default-address-pools base 127.0.0.0/8") && err.contains("loopback"),
        "{err}"
    );
}

#[test]
fn nul_bytes_bad_macs_and_bad_names_are_refused_at_create() {
    let h = Host::new();
    h.ok(&["network", "create", "--subnet", "10.98.0.0/24", "n"]);
    let before = h.links();
    for (body, want) in [
        (r#"{"Cmd":["sleep","6\u0000"]}"#, "NUL"),
        (r#"{"Cmd":["sleep","60"],"Env":["A=b\u0000c"]}"#, "NUL"),
        (
            r#"{"Cmd":["sleep","60"],"WorkingDir":"/tmp\u0000x"}"#,
            "NUL",
        ),
        (
            r#"{"Cmd":["sleep","60"],"Hostname":"two words"}"#,
            "invalid hostname",
        ),
        (
            r#"{"Cmd":["sleep","60"],"Networks":[{"Name":"n","Aliases":["a b"]}]}"#,
            "invalid network alias",
        ),
        (
            r#"{"Cmd":["sleep","60"],"Networks":[{"Name":"n","Aliases":["a\nb"]}]}"#,
            "invalid network alias",
        ),
        (
            r#"{"Cmd":["sleep","60"],"Networks":[{"Name":"n","MacAddress":"ff:ff:ff:ff:ff:ff"}]}"#,
            "broadcast",
        ),
    ] {
        refused(&h, "/containers/create", body, 400, want);
    }
    let long_label = "a".repeat(64);
    let long_name = ["abc"; 64].join(".");
    for (args, want) in [
        (
            vec!["--network", "n", "--mac-address", "00:00:00:00:00:00"],
            "all zeros",
        ),
        (
            vec!["--network", "n", "--mac-address", "01:00:5e:00:00:01"],
            "multicast",
        ),
        (
            vec!["--network", "n", "--network-alias", long_label.as_str()],
            "at most 63",
        ),
        (
            vec!["--network", "n", "--network-alias", long_name.as_str()],
            "at most 253",
        ),
        (vec!["--hostname", long_label.as_str()], "invalid hostname"),
    ] {
        let mut a = vec!["run", "-d"];
        a.extend(args);
        a.extend(["--", "sleep", "60"]);
        let e = h.fails(&a);
        assert!(e.contains(want), "{a:?}: {e}");
    }
    refused(
        &h,
        "/services/create",
        r#"{"Name":"s","Cmd":["sleep","60\u0000"]}"#,
        400,
        "NUL",
    );
    refused(
        &h,
        "/services/create",
        r#"{"Name":"s","Cmd":["sleep","60"],"Networks":[{"Name":"n","Aliases":["bad alias"]}]}"#,
        400,
        "invalid network alias",
    );
    assert!(h.ok(&["ps", "-aq"]).is_empty(), "a sandbox was made");
    assert!(
        h.ok(&["service", "ls", "-q"]).is_empty(),
        "a service was made"
    );
    assert_eq!(h.links(), before, "kernel objects were made");

    // network connect checks its aliases too, and leaves the sandbox as it was.
    h.sleeper("a", &[]);
    let e = h.fails(&["network", "connect", "--alias", "x y", "n", "a"]);
    assert!(e.contains("invalid network alias"), "{e}");
    refused(
        &h,
        "/networks/n/connect",
        r#"{"Container":"a","EndpointConfig":{"Aliases":["a\nb"]}}"#,
        400,
        "invalid network alias",
    );
    assert!(
        h.inspect("a")["NetworkSettings"]["Networks"]
            .get("n")
            .is_none(),
        "the sandbox was connected"
    );
}

#[test]
fn labels_and_driver_options_are_bounded() {
    let h = Host::new();
    let many = |n: usize, value: usize| -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| format!(r#""key{i}":"{}""#, "v".repeat(value)))
            .collect();
        format!("{{{}}}", entries.join(","))
    };
    refused(
        &h,
        "/networks/create",
        &format!(r#"{{"Name":"n","Labels":{}}}"#, many(1001, 0)),
        400,
        "too many labels",
    );
    refused(
        &h,
        "/networks/create",
        &format!(r#"{{"Name":"n","Options":{}}}"#, many(1001, 0)),
        400,
        "too many driver options",
    );
    refused(
        &h,
        "/networks/create",
        &format!(r#"{{"Name":"n","Labels":{}}}"#, many(1, 5000)),
        400,
        "at most 4096",
    );
    refused(
        &h,
        "/networks/create",
        &format!(r#"{{"Name":"n","Labels":{}}}"#, many(20, 4000)),
        400,
        "at most 65536",
    );
    refused(
        &h,
        "/containers/create",
        &format!(r#"{{"Cmd":["sleep","60"],"Labels":{}}}"#, many(1001, 0)),
        400,
        "too many labels",
    );
    refused(
        &h,
        "/services/create",
        &format!(
            r#"{{"Name":"s","Cmd":["sleep","60"],"Labels":{}}}"#,
            many(1, 5000)
        ),
        400,
        "at most 4096",
    );
    let big = format!("k={}", "v".repeat(5000));
    let e = h.fails(&["network", "create", "--label", &big, "n"]);
    assert!(e.contains("at most 4096"), "{e}");
    nothing_made(&h);

    // Up to the limits, all is kept.
    let (code, v) = api(
        &h,
        "POST",
        "/networks/create",
        Some(&format!(r#"{{"Name":"n","Labels":{}}}"#, many(1000, 10))),
    );
    assert_eq!(code, 201, "{v}");
    let n: serde_json::Value = serde_json::from_str(&h.ok(&["network", "inspect", "n"])).unwrap();
    assert_eq!(n[0]["Labels"].as_object().map(|l| l.len()), Some(1000));
}

#[test]
fn a_body_over_the_limit_gets_413_with_a_json_message() {
    let h = Host::new();
    // 2 MiB of label: far over the body limit (1 MiB).
    let body = format!(
        r#"{{"Name":"n","Labels":{{"k":"{}"}}}}"#,
        "v".repeat(2 * 1024 * 1024)
    );
    let (code, v) = api(&h, "POST", "/networks/create", Some(&body));
    assert_eq!(code, 413, "{v}");
    assert!(message(&v).contains("request body too large"), "{v}");
    assert!(message(&v).contains("at most 1048576 bytes"), "{v}");
    // Under the limit, the request is read and judged on its content.
    let body = format!(
        r#"{{"Name":"n","Labels":{{"k":"{}"}}}}"#,
        "v".repeat(512 * 1024)
    );
    refused(&h, "/networks/create", &body, 400, "at most 4096");
    nothing_made(&h);
}

/// Whether the daemon has closed `conn`: a read returns end of file (or a reset). Reading
/// blocks until it does; the read timeout only keeps a failing test from hanging.
fn closed_by_daemon(conn: &mut UnixStream) -> Result<Vec<u8>, String> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e) => return Err(format!("still open ({e}) after {} bytes", got.len())),
        }
    }
}

#[test]
fn stalled_and_slow_clients_are_dropped_while_others_are_served() {
    // One second for headers (and then for a body), so the test need not wait long.
    let h = Host::with_args(&["--api-read-timeout", "1"]);
    let socket = h.socket();

    // A client that connects and sends nothing.
    let mut silent = UnixStream::connect(&socket).unwrap();
    // A client that sends the headers of a request but only part of its body.
    let mut half_body = UnixStream::connect(&socket).unwrap();
    half_body
        .write_all(b"POST /networks/create HTTP/1.1\r\nHost: ferry\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Na")
        .unwrap();
    // A client that trickles its headers in, byte after byte, on a thread of its own.
    let trickle_socket = socket.clone();
    let trickler = std::thread::spawn(move || {
        let mut conn = UnixStream::connect(&trickle_socket).unwrap();
        conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: ferry\r\nX-Slow: ")
            .unwrap();
        // Each byte would restart a timer that counted idle time only; a header timer that
        // counts from the start closes the connection however steady the trickle.
        for sent in 0..600 {
            if conn.write_all(b"a").is_err() {
                return Ok(sent);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the daemon kept a connection whose headers never ended".to_string())
    });

    // Meanwhile the API serves everyone else.
    h.ok(&["network", "create", "served"]);
    assert!(h.ok(&["network", "ls"]).contains("served"));
    h.sleeper("a", &["--network", "served"]);

    let got = closed_by_daemon(&mut silent).expect("silent connection");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    let got = closed_by_daemon(&mut half_body).expect("connection with half a body");
    let reply = String::from_utf8_lossy(&got);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("did not arrive within 1 s"), "{reply}");
    let sent = trickler.join().unwrap().expect("trickling connection");
    assert!(
        sent > 0,
        "the connection was closed before the trickle began"
    );

    // And still does, with nothing half-made by the abandoned requests.
    assert!(h.inspect("a")["State"]["Running"].as_bool().unwrap());
    assert_eq!(network_names(&h), ["bridge", "host", "none", "served"]);
}

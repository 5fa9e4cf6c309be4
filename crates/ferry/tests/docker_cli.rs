//! The real docker CLI (and docker-py) drive a private ferry daemon through its Docker Engine
//! API: system commands, networks, and containers from `run` to `rm`, checked by their output
//! and exit codes. The CLI talks to the daemon's socket; everything it makes lives in the
//! test's own network namespace.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{api, eventually, message, Host};

/// Curl's view of a reply: status line and headers, lower-cased.
fn headers(h: &Host, args: &str) -> String {
    let r = h.sh(&format!(
        "curl -s -o /dev/null -D - --unix-socket {} {args}",
        h.socket().display()
    ));
    r.stdout.to_lowercase()
}

#[test]
fn system_commands_and_version_negotiation() {
    let h = Host::new();
    let v = h.docker_ok(&["version"]);
    assert!(v.contains("Server: ferry"), "{v}");
    assert!(
        v.contains("API version:      1.50 (minimum version 1.24)"),
        "{v}"
    );
    let arch = h.docker_ok(&["version", "--format", "{{.Server.Arch}}"]);
    assert!(!arch.contains('_'), "GOARCH names, not {arch}");
    let info = h.docker_ok(&[
        "info",
        "--format",
        "{{.OSType}} {{.Swarm.LocalNodeState}} {{.Plugins.Network}} {{gt .NCPU 0}}",
    ]);
    assert_eq!(info, "linux inactive [bridge host null] true");

    let ping = headers(&h, "-I http://d/_ping");
    for want in [
        "200 ok",
        "api-version: 1.50",
        "ostype: linux",
        "server: ferry/",
        "swarm: inactive",
        "cache-control: no-cache, no-store, must-revalidate",
    ] {
        assert!(ping.contains(want), "{want} missing: {ping}");
    }
    let get = h.sh(&format!(
        "curl -s --unix-socket {} http://d/v1.24/_ping",
        h.socket().display()
    ));
    assert_eq!(get.stdout, "OK");
    assert!(headers(&h, "http://d/v1.41/version").contains("api-version: 1.50"));
    let (code, body) = api(&h, "GET", "/v1.99/version", None);
    assert_eq!(code, 400);
    assert_eq!(
        message(&body),
        "client version 1.99 is too new. Maximum supported API version is 1.50"
    );
    let (code, body) = api(&h, "GET", "/v1.12/info", None);
    assert_eq!(code, 400);
    assert!(message(&body)
        .starts_with("client version 1.12 is too old. Minimum supported API version is 1.24"));

    // IMAGE: `host`, or a directory under DATA_ROOT/rootfs; nothing is pulled.
    let images = h.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images, "host:latest");
    let r = h.docker(&["run", "busybox", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr.contains("ferry runs no images and pulls none"),
        "{}",
        r.stderr
    );
    let r = h.docker(&["create", "host"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no command given"), "{}", r.stderr);
    std::fs::create_dir_all(h.data_root().join("rootfs/tiny")).unwrap();
    let images = h.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(images, "host\ntiny");
}

#[test]
fn network_commands_with_dockers_codes_and_words() {
    let h = Host::new();
    let id = h.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.31.0.0/24",
        "--ip-range",
        "10.31.0.128/25",
        "--gateway",
        "10.31.0.1",
        "--label",
        "env=test",
        "n1",
    ]);
    assert_eq!(id.len(), 64, "{id}");
    h.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.31.1.0/24",
        "n2",
    ]);
    let r = h.docker(&["network", "create", "n1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("network with name n1 already exists"),
        "{}",
        r.stderr
    );
    let ls = h.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "label=env=test",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls, "n1 bridge");
    let gw = h.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "n1",
    ]);
    assert_eq!(gw, "10.31.0.1");

    h.docker_ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "n1",
        "host",
        "sleep",
        "600",
    ]);
    h.docker_ok(&[
        "network",
        "connect",
        "--alias",
        "db",
        "--ip",
        "10.31.1.50",
        "n2",
        "c1",
    ]);
    let members = h.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "n2",
    ]);
    assert!(members.starts_with("c1 "), "{members}");
    let r = h.docker(&["network", "connect", "n2", "c1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("endpoint with name c1 already exists in network n2"),
        "{}",
        r.stderr
    );
    let r = h.docker(&["network", "connect", "n2", "nosuch"]);
    assert!(
        r.stderr.contains("No such container: nosuch"),
        "{}",
        r.stderr
    );
    // A network in use: refused with dockerd's 403.
    let r = h.docker(&["network", "rm", "n1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("has active endpoints"), "{}", r.stderr);
    assert_eq!(api(&h, "DELETE", "/v1.50/networks/n1", None).0, 403);
    h.docker_ok(&["network", "disconnect", "n2", "c1"]);
    h.docker_ok(&["rm", "-f", "c1"]);
    let r = h.docker(&["network", "rm", "n1", "n2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "n1\nn2\n");
    let r = h.docker(&["network", "inspect", "n1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
    let r = h.docker(&["network", "create", "-d", "weave", "w"]);
    assert!(
        r.stderr.contains("plugin \"weave\" not found"),
        "{}",
        r.stderr
    );
    assert_eq!(
        api(
            &h,
            "POST",
            "/v1.50/networks/create",
            Some(r#"{"Name":"w","Driver":"weave"}"#)
        )
        .0,
        404
    );
    h.docker_ok(&["network", "create", "spare"]);
    assert_eq!(
        h.docker_ok(&["network", "prune", "-f"]),
        "Deleted Networks:\nspare"
    );
}

#[test]
fn containers_from_run_to_rm() {
    let h = Host::new();
    h.docker_ok(&["network", "create", "--subnet", "10.32.0.0/24", "n1"]);
    let env_file = h.dir.path().join("env");
    std::fs::write(&env_file, "B=2\n").unwrap();
    let env_file = env_file.display().to_string();
    let id = h.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "n1",
        "--network-alias",
        "www",
        "--ip",
        "10.32.0.9",
        "-p",
        "8080:80",
        "--expose",
        "53/udp",
        "--dns",
        "192.0.2.53",
        "--add-host",
        "gw.example:192.0.2.4",
        "--hostname",
        "box",
        "-e",
        "A=1",
        "--env-file",
        &env_file,
        "-w",
        "/tmp",
        "--label",
        "tier=front",
        "host",
        "sh",
        "-c",
        "echo hello $A $B; pwd; exec socat TCP-LISTEN:80,reuseaddr,fork SYSTEM:'echo pong'",
    ]);
    assert_eq!(id.len(), 64);

    // Logs: the multiplexed stream, tail and timestamps.
    assert!(
        eventually(10, || h.docker(&["logs", "web"]).stdout
            == "hello 1 2\n/tmp\n"),
        "{}",
        h.docker(&["logs", "web"]).stdout
    );
    assert_eq!(h.docker_ok(&["logs", "--tail", "1", "web"]), "/tmp");
    let stamped = h.docker_ok(&["logs", "-t", "web"]);
    assert!(
        stamped
            .lines()
            .all(|l| l.starts_with("20") && l.contains("Z ")),
        "{stamped}"
    );

    // ps and its filters.
    let names =
        |filter: &str| h.docker_ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert_eq!(names("network=n1"), "web");
    assert_eq!(names("publish=80"), "web");
    assert_eq!(names("publish=81"), "");
    assert_eq!(names("expose=53/udp"), "web");
    assert_eq!(names("name=we"), "web");
    assert_eq!(names("label=tier=front"), "web");
    assert_eq!(names("status=running"), "web");
    assert_eq!(names("ancestor=host:latest"), "web");
    assert_eq!(names("ancestor=busybox"), "");
    assert_eq!(h.docker_ok(&["ps", "-q"]), &id[..12]);
    assert_eq!(
        h.docker_ok(&["ps", "--format", "{{.Image}} {{.Ports}}"]),
        "host 0.0.0.0:8080->80/tcp"
    );

    // inspect, port, and what the flags made.
    let fmt = "{{.Config.Hostname}} {{.NetworkSettings.Networks.n1.IPAddress}} {{.HostConfig.Dns}} {{.Config.WorkingDir}} {{.Config.Image}}";
    assert_eq!(
        h.docker_ok(&["inspect", "-f", fmt, "web"]),
        "box 10.32.0.9 [192.0.2.53] /tmp host"
    );
    assert_eq!(h.docker_ok(&["port", "web"]), "80/tcp -> 0.0.0.0:8080");
    // The published port answers once socat listens.
    let pong = || {
        h.sh("echo ping | socat -t5 -T5 - TCP:127.0.0.1:8080")
            .stdout
            == "pong\n"
    };
    assert!(eventually(10, pong), "no pong through the published port");
    let hosts = h.docker_ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains("192.0.2.4\tgw.example"), "{hosts}");
    // The alias answers on the network, from another container.
    let r = h.docker(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "host",
        "getent",
        "hosts",
        "www",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("10.32.0.9"), "{}", r.stdout);

    // exec: exit codes, -e, -w, -i; top.
    let r = h.docker(&["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let r = h.docker_stdin(
        &[
            "exec",
            "-i",
            "-e",
            "X=2",
            "-w",
            "/etc",
            "web",
            "sh",
            "-c",
            "cat; echo $X $A; pwd",
        ],
        Some("in\n"),
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "in\n2 1\n/etc\n"),
        "{}",
        r.stderr
    );
    // -t: a terminal of the sandbox's own devpts (its first), the stream unframed.
    let r = h.docker(&[
        "exec",
        "-t",
        "web",
        "sh",
        "-c",
        "tty; test -t 0 && echo t0; exit 5",
    ]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (5, "/dev/pts/0\r\nt0\r\n"),
        "{}",
        r.stderr
    );
    let top = h.docker_ok(&["top", "web"]);
    assert!(
        top.starts_with("UID") && top.contains("socat TCP-LISTEN:80"),
        "{top}"
    );

    // run in the foreground: output and exit code pass through (a sandbox's errors share
    // its one log with its output); --rm leaves nothing.
    let r = h.docker(&[
        "run",
        "--rm",
        "--name",
        "once",
        "host",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (4, "out\nerr\n", "")
    );
    assert_eq!(h.docker_ok(&["ps", "-aq", "--filter", "name=once"]), "");

    // create, start, attach, wait.
    h.docker_ok(&[
        "create",
        "--name",
        "later",
        "host",
        "sh",
        "-c",
        "sleep 0.5; echo late; exit 6",
    ]);
    assert_eq!(names("status=created"), "later");
    h.docker_ok(&["start", "later"]);
    let r = h.docker(&["attach", "later"]);
    assert_eq!(r.stdout, "late\n", "{}", r.stderr);
    assert_eq!(h.docker_ok(&["wait", "later"]), "6");
    assert_eq!(names("exited=6"), "later");
    assert_eq!(names("since=web"), "later");
    assert_eq!(names("before=later"), "web");

    // kill, stop, start, restart, rm.
    h.docker_ok(&["kill", "web"]);
    assert_eq!(h.docker_ok(&["wait", "web"]), "137");
    let r = h.docker(&["kill", "web"]);
    assert!(
        r.stderr.contains("Container web is not running"),
        "{}",
        r.stderr
    );
    h.docker_ok(&["start", "web"]);
    h.docker_ok(&["restart", "-t", "1", "web"]);
    assert_eq!(names("status=running"), "web");
    h.docker_ok(&["stop", "-t", "1", "web"]);
    assert!(h
        .docker_ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Status}}",
            "--filter",
            "name=web"
        ])
        .starts_with("Exited"));
    let r = h.docker(&["rm", "nosuch"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "Error response from daemon: No such container: nosuch"
    );
    h.docker_ok(&["start", "web"]);
    assert_ne!(h.docker(&["rm", "web"]).code, 0);
    // prune takes the stopped one only.
    let pruned = h.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(h.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]), "web");
    h.docker_ok(&["rm", "-f", "web"]);
    assert_eq!(h.docker_ok(&["ps", "-aq"]), "");
    h.docker_ok(&["network", "rm", "n1"]);
}

/// `cmd` (a shell command line, the docker CLI's settings in its environment), run by
/// `script` on a terminal of its own, `rows` by `cols`, with `input` typed on it.
fn on_a_terminal(h: &Host, rows: u16, cols: u16, cmd: &str, input: Option<&str>) -> common::Run {
    let inner = format!(
        "stty rows {rows} cols {cols}; DOCKER_HOST=unix://{} DOCKER_CONFIG={} {cmd}",
        h.socket().display(),
        h.dir.path().join("docker-config").display()
    );
    let quoted = inner.replace('\'', r"'\''");
    match input {
        Some(i) => h.sh_stdin(&format!("script -qec '{quoted}' /dev/null"), i),
        None => h.sh(&format!("script -qec '{quoted}' /dev/null </dev/null")),
    }
}

#[test]
fn terminals_for_run_and_exec() {
    let h = Host::new();
    // run -t: the process's streams are a terminal of the sandbox's own devpts, and it leads
    // the session that terminal controls; the output is the terminal's, unframed.
    let r = h.docker(&[
        "run",
        "-t",
        "--rm",
        "host",
        "sh",
        "-c",
        "tty; test -t 0 && test -t 1 && test -t 2 && echo all; ps -o sid=,tty= -p $$; exit 3",
    ]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let out = r.stdout.replace('\r', "");
    assert!(out.starts_with("/dev/pts/0\nall\n"), "{out}");
    assert!(
        out.lines()
            .nth(2)
            .is_some_and(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "pts/0"]),
        "{out}"
    );

    // A detached one: its log is the terminal's output, unframed; exec gets the next
    // terminal of the same devpts; resize sets the window size.
    h.docker_ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "tt",
        "host",
        "sh",
        "-c",
        "tty; exec sleep 300",
    ]);
    assert_eq!(
        h.docker_ok(&["inspect", "-f", "{{.Config.Tty}}", "tt"]),
        "true"
    );
    assert!(
        eventually(10, || h.docker(&["logs", "tt"]).stdout == "/dev/pts/0\r\n"),
        "{:?}",
        h.docker(&["logs", "tt"]).stdout
    );
    let r = h.docker(&["exec", "-t", "tt", "tty"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "/dev/pts/1\r\n"),
        "{}",
        r.stderr
    );
    let r = h.docker(&["exec", "-t", "tt", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    // A detached one with a terminal nobody reads is not held up by its output.
    h.docker_ok(&[
        "exec",
        "-d",
        "-t",
        "tt",
        "sh",
        "-c",
        "seq 100000; echo done > /dev/shm/tty-detached",
    ]);
    assert!(
        eventually(20, || h
            .docker(&["exec", "tt", "cat", "/dev/shm/tty-detached"])
            .stdout
            == "done\n"),
        "a detached exec with a terminal did not finish"
    );
    let resize = headers(
        &h,
        "-X POST 'http://d/v1.47/containers/tt/resize?h=40&w=120'",
    );
    assert!(resize.starts_with("http/1.1 200"), "{resize}");
    assert_eq!(
        h.docker_ok(&["exec", "tt", "stty", "-F", "/dev/pts/0", "size"]),
        "40 120"
    );
    // A sandbox without a terminal has none to resize.
    h.docker_ok(&["run", "-d", "--name", "plain", "host", "sleep", "300"]);
    let resize = headers(
        &h,
        "-X POST 'http://d/v1.47/containers/plain/resize?h=40&w=120'",
    );
    assert!(resize.starts_with("http/1.1 409"), "{resize}");

    // -it on a terminal: the size is the client's from the start, input reaches the
    // process, the exit code comes back.
    let r = on_a_terminal(
        &h,
        22,
        77,
        "docker exec -it tt sh -c \"stty size; exit 4\"",
        None,
    );
    assert!(r.stdout.contains("22 77"), "{}{}", r.stdout, r.stderr);
    let r = on_a_terminal(
        &h,
        23,
        78,
        "docker run -it --rm host sh -c \"stty size; read x; echo got:\\$x\"; echo code=$?",
        Some("hello\n"),
    );
    let out = r.stdout.replace('\r', "");
    assert!(out.contains("23 78\n"), "{out}{}", r.stderr);
    assert!(out.contains("got:hello\n"), "{out}{}", r.stderr);
    assert!(out.contains("code=0\n"), "{out}{}", r.stderr);
    // A client that goes hangs its exec's terminal up: the command left behind gets SIGHUP.
    let env = format!(
        "DOCKER_HOST=unix://{} DOCKER_CONFIG={}",
        h.socket().display(),
        h.dir.path().join("docker-config").display()
    );
    let r = h.sh(&format!(
        "export {env}; \
         script -qec 'docker exec -it tt sleep 123' /dev/null </dev/null >/dev/null 2>&1 & s=$!; \
         for i in $(seq 100); do docker exec tt ps -eo args | grep -q '^sleep 123' && break; sleep 0.1; done; \
         docker exec tt ps -eo args | grep -c '^sleep 123'; kill -KILL $s; \
         for i in $(seq 100); do docker exec tt ps -eo args | grep -q '^sleep 123' || break; sleep 0.1; done; \
         docker exec tt ps -eo args | grep -c '^sleep 123'"
    ));
    assert_eq!(r.stdout, "1\n0\n", "{}", r.stderr);
    // ferry's own exec -t: the terminal relayed to the caller's, with the caller's size.
    let r = h.ferry(&["exec", "-t", "tt", "sh", "-c", "tty; exit 6"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stdout.starts_with("/dev/pts/"), "{}", r.stdout);
    let ferry = format!(
        "FERRY_HOST=unix://{} {} exec -it tt stty size",
        h.socket().display(),
        common::ferry_bin()
    );
    let r = on_a_terminal(&h, 11, 33, &ferry, None);
    assert!(r.stdout.contains("11 33"), "{}{}", r.stdout, r.stderr);
    assert_eq!(
        h.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])
            .lines()
            .count(),
        2
    );
    h.docker_ok(&["rm", "-f", "tt", "plain"]);
}

#[test]
fn logs_carry_the_times_lines_were_captured() {
    let h = Host::new();
    h.docker_ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "host",
        "sh",
        "-c",
        "echo first; sleep 1.5; echo second >&2; sleep 300",
    ]);
    let stamped = || h.docker(&["logs", "-t", "slow"]).stdout;
    assert!(
        eventually(10, || stamped().lines().count() == 2),
        "{}",
        stamped()
    );
    let out = stamped();
    let lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(
        lines.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        ["first", "second"],
        "{out}"
    );
    let t = |s: &str| ferry_types::time::Timestamp::parse(s).unwrap_or_else(|| panic!("{s}"));
    let (t1, t2) = (t(lines[0].0), t(lines[1].0));
    // RFC 3339 with nanoseconds, as Docker prints them, and the time each line came.
    assert_eq!(
        lines[0].0.len(),
        "2026-01-01T00:00:00.000000000Z".len(),
        "{out}"
    );
    assert!(t2.secs() - t1.secs() >= 1, "{out}");
    // The times stay: a second look sees the same ones.
    assert_eq!(stamped(), out);
    // --since and --until take them.
    assert_eq!(
        h.docker_ok(&["logs", "--since", lines[1].0, "slow"]),
        "second"
    );
    assert_eq!(
        h.docker_ok(&["logs", "--until", lines[0].0, "slow"]),
        "first"
    );
    h.docker_ok(&["rm", "-f", "slow"]);
}

#[test]
fn events_tell_container_and_network_lives() {
    let h = Host::new();
    let out = h.dir.path().join("events");
    let all = h.dir.path().join("events-net");
    let sock = h.socket().display().to_string();
    let conf = h.dir.path().join("docker-config").display().to_string();
    let listen = |filters: &str, file: &std::path::Path| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec docker events {filters} --format '{{{{.Type}}}} {{{{.Action}}}} {{{{.Actor.Attributes.name}}}}' > {}",
                file.display()
            ))
            .env("DOCKER_HOST", format!("unix://{sock}"))
            .env("DOCKER_CONFIG", &conf)
            .spawn()
            .unwrap()
    };
    let mut a = listen("", &out);
    let mut b = listen("--filter type=network --filter event=connect", &all);
    // The listeners are there once their requests have reached the daemon.
    std::thread::sleep(std::time::Duration::from_millis(500));
    h.docker_ok(&["network", "create", "e1"]);
    h.docker_ok(&[
        "run",
        "--rm",
        "--name",
        "brief",
        "--network",
        "e1",
        "host",
        "true",
    ]);
    h.docker_ok(&["network", "rm", "e1"]);
    let want = [
        "network create e1",
        "container create brief",
        "network connect e1",
        "container start brief",
        "network disconnect e1",
        "container die brief",
        "container destroy brief",
        "network destroy e1",
    ];
    let read = |f: &std::path::Path| std::fs::read_to_string(f).unwrap_or_default();
    assert!(
        eventually(10, || read(&out).lines().count() >= want.len()),
        "{}",
        read(&out)
    );
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();
    let got = read(&out);
    let mut lines: Vec<&str> = got.lines().collect();
    // An exit is recorded with its endpoints gone in the same write or just before it.
    lines.sort_by_key(|l| want.iter().position(|w| w == l));
    assert_eq!(lines, want, "{got}");
    assert_eq!(read(&all), "network connect e1\n");
    let r = h.docker(&["events", "--filter", "colour=red", "--until", "0"]);
    assert_ne!(r.code, 0);
}

#[test]
fn docker_py_drives_networks_and_containers() {
    let h = Host::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/docker_py/flow.py");
    let r = h.sh(&format!(
        "DOCKER_HOST=unix://{} python3 {script}",
        h.socket().display()
    ));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("ok\n"), "{}", r.stdout);
    assert_eq!(h.docker_ok(&["ps", "-aq"]), "");
    assert_eq!(
        h.docker_ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone"
    );
}

/// docker-py making what a Compose project makes (Compose v2 itself is not in Debian 12):
/// two networks, one internal, three labelled containers with aliases and static addresses;
/// names resolve on shared networks only; `docker ps` finds them by the project's label, and
/// the project comes down by label.
#[test]
fn docker_py_compose_project_up_and_down() {
    let h = Host::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/docker_py/compose.py");
    let py = |stage: &str| {
        let r = h.sh(&format!(
            "DOCKER_HOST=unix://{} python3 {script} {stage}",
            h.socket().display()
        ));
        assert_eq!(r.code, 0, "{stage}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.ends_with("ok\n"), "{stage}: {}", r.stdout);
    };
    py("up");
    let names = h.docker_ok(&[
        "ps",
        "--filter",
        "label=com.docker.compose.project=shop",
        "--format",
        "{{.Names}} {{.Label \"com.docker.compose.service\"}}",
    ]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["shop-api-1 api", "shop-db-1 db", "shop-web-1 web"]);
    assert_eq!(
        h.docker_ok(&[
            "ps",
            "--filter",
            "label=com.docker.compose.service=api",
            "--format",
            "{{.Networks}}"
        ])
        .split(',')
        .collect::<std::collections::BTreeSet<_>>(),
        ["shop_backend", "shop_frontend"].into()
    );
    assert_eq!(
        h.docker_ok(&[
            "network",
            "ls",
            "--filter",
            "label=com.docker.compose.network=backend",
            "--format",
            "{{.Name}} {{.Internal}}"
        ]),
        "shop_backend true"
    );
    py("down");
    assert_eq!(h.docker_ok(&["ps", "-aq"]), "");
    assert_eq!(
        h.docker_ok(&["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone"
    );
}

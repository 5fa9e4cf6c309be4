//! Swarm mode across hosts: real daemons in host namespaces on one underlay, each manager
//! running its own etcd member (mutual TLS, certificates from the swarm's CA). Leases are
//! 2 s (etcd's shortest), so a dead node is Down within 3 s.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod common;
use common::{eventually, Host, Underlay};

const TTL: u64 = 2;

/// `node ls` as (id, hostname, status, availability, manager status), `*` kept on the ID.
fn node_ls(h: &Host) -> Vec<Vec<String>> {
    let out = h.ok(&["node", "ls"]);
    out.lines()
        .skip(1)
        .map(|l| {
            // Columns are separated by two spaces or more; MANAGER STATUS may be empty.
            l.split("  ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The `node ls` row of `id` on `h`.
fn row(h: &Host, id: &str) -> Vec<String> {
    node_ls(h)
        .into_iter()
        .find(|r| r[0].trim_end_matches(" *") == id)
        .unwrap_or_else(|| panic!("node {id} not listed: {}", h.ok(&["node", "ls"])))
}

fn node_id(h: &Host) -> String {
    let info = h.ok(&["info"]);
    info.lines()
        .find_map(|l| l.trim().strip_prefix("NodeID: "))
        .unwrap_or_else(|| panic!("no NodeID in info: {info}"))
        .to_string()
}

fn init(h: &Host, i: usize) -> String {
    let started = std::time::Instant::now();
    let out = h.ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &Underlay::addr(i),
        "--lease-ttl",
        &TTL.to_string(),
    ]);
    assert!(out.contains("ferry swarm join --token SWMTKN-1-"), "{out}");
    eprintln!("swarm: init took {:?}", started.elapsed());
    node_id(h)
}

fn token(h: &Host, role: &str) -> String {
    h.ok(&["swarm", "join-token", "-q", role])
}

fn join(h: &Host, i: usize, token: &str) -> String {
    let started = std::time::Instant::now();
    h.ok(&[
        "swarm",
        "join",
        "--advertise-addr",
        &Underlay::addr(i),
        "--token",
        token,
        &format!("{}:2377", Underlay::addr(0)),
    ]);
    eprintln!("swarm: join took {:?}", started.elapsed());
    node_id(h)
}

#[test]
fn workers_and_managers_join_and_every_node_lists_them() {
    let u = Underlay::new(3);
    let (a, b, c) = (&u.hosts[0], &u.hosts[1], &u.hosts[2]);
    let ida = init(a, 0);
    let idb = join(b, 1, &token(a, "worker"));
    let idc = join(c, 2, &token(a, "manager"));
    for (h, me) in [(a, &ida), (b, &idb), (c, &idc)] {
        let rows = node_ls(h);
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(
            row(h, me)[0],
            format!("{me} *"),
            "`*` marks the node itself"
        );
        let ra = row(h, &ida);
        assert_eq!(&ra[2..], ["Ready", "Active", "Leader"], "{ra:?}");
        let rb = row(h, &idb);
        assert_eq!(
            &rb[2..],
            ["Ready", "Active"],
            "a worker has no manager status: {rb:?}"
        );
        let rc = row(h, &idc);
        assert_eq!(&rc[2..], ["Ready", "Active", "Reachable"], "{rc:?}");
    }
    // B joined before C was a manager, and follows the managers' etcd members.
    assert!(
        eventually(10, || b
            .ok(&["info"])
            .contains("https://198.51.100.12:2379")),
        "B does not use C's etcd member: {}",
        b.ok(&["info"])
    );
    // info says who is who and where etcd is.
    let info = c.ok(&["info"]);
    assert!(info.contains("Is Manager: true"), "{info}");
    assert!(info.contains("Managers: 2"), "{info}");
    assert!(info.contains("https://198.51.100.10:2379"), "{info}");
    assert!(info.contains("https://198.51.100.12:2379"), "{info}");
    // Node updates from any manager are seen everywhere.
    c.ok(&[
        "node",
        "update",
        "--availability",
        "drain",
        "--label-add",
        "zone=b",
        &idb,
    ]);
    assert_eq!(row(b, &idb)[3], "Drain");
    let inspect = a.ok(&["node", "inspect", &idb]);
    assert!(inspect.contains("\"zone\": \"b\""), "{inspect}");
    a.ok(&["node", "update", "--label-rm", "zone", &idb]);
    // Workers cannot change the swarm.
    let e = b.fails(&["node", "update", "--availability", "active", &idb]);
    assert!(e.contains("not a swarm manager"), "{e}");
    // Promoted, the worker runs an etcd member and a join endpoint; demoted, it stops them.
    a.ok(&["node", "promote", &idb]);
    assert!(
        eventually(40, || row(a, &idb).get(4).map(String::as_str)
            == Some("Reachable")),
        "B did not become a manager: {}",
        b.daemon_log()
    );
    assert!(eventually(5, || b.ok(&["info"]).contains("Managers: 3")));
    assert!(b.data_root().join("swarm/etcd.pid").exists());
    a.ok(&["node", "demote", &idb]);
    assert!(
        eventually(40, || row(a, &idb).len() == 4
            && !b.ok(&["info"]).contains("Is Manager: true")),
        "B is still a manager: {}",
        b.daemon_log()
    );
    // The worker leaves: it stays listed, Down, until removed.
    b.ok(&["swarm", "leave"]);
    assert!(b.ok(&["info"]).contains("Swarm: inactive"));
    assert_eq!(row(a, &idb)[2], "Down");
    a.ok(&["node", "rm", &idb]);
    assert_eq!(node_ls(a).len(), 2);
    // A manager that is not the last one leaves without --force; the last one needs it.
    c.ok(&["swarm", "leave"]);
    let e = a.fails(&["swarm", "leave"]);
    assert!(
        e.contains("last manager"),
        "{e}\nC: {}\nA: {}",
        c.daemon_log(),
        a.daemon_log()
    );
    a.ok(&["swarm", "leave", "--force"]);
    assert!(a.ok(&["info"]).contains("Swarm: inactive"));
}

#[test]
fn bad_tokens_and_unreachable_managers_are_refused_with_nothing_made() {
    let u = Underlay::new(2);
    let (a, b) = (&u.hosts[0], &u.hosts[1]);
    init(a, 0);
    let old = token(a, "worker");
    let rotated = a.ok(&["swarm", "join-token", "--rotate", "worker"]);
    assert!(
        rotated.contains("Successfully rotated worker join token"),
        "{rotated}"
    );
    let new = token(a, "worker");
    assert_ne!(old, new);
    let manager = format!("{}:2377", Underlay::addr(0));
    let attempt = |t: &str, m: &str| {
        b.fails(&[
            "swarm",
            "join",
            "--advertise-addr",
            &Underlay::addr(1),
            "--token",
            t,
            m,
        ])
    };
    let e = attempt(&old, &manager);
    assert!(e.contains("not one of this swarm's current tokens"), "{e}");
    // Another CA digest: the joiner refuses the manager before it sends its secret.
    let mut parts: Vec<String> = new.split('-').map(String::from).collect();
    let digest = parts[2].clone();
    let flipped = if digest.starts_with('0') { "1" } else { "0" };
    parts[2] = format!("{flipped}{}", &digest[1..]);
    let e = attempt(&parts.join("-"), &manager);
    assert!(e.contains("not the swarm the token is for"), "{e}");
    let e = attempt(
        &new,
        &format!("{}:2377", Underlay::addr(1) /* nobody listens */),
    );
    assert!(e.contains("cannot reach the manager"), "{e}");
    let e = attempt("SWMTKN-1-nonsense", &manager);
    assert!(e.contains("invalid join token"), "{e}");
    assert!(b.ok(&["info"]).contains("Swarm: inactive"));
    assert!(
        !b.data_root().join("swarm").exists(),
        "a refused join leaves no files"
    );
    // The current token works, once.
    join(b, 1, &new);
    let e = attempt(&new, &manager);
    assert!(e.contains("already part of a swarm"), "{e}");
}

#[test]
fn a_dead_node_is_down_within_its_ttl_and_a_restart_re_attaches() {
    let mut u = Underlay::new(2);
    let ida = init(&u.hosts[0], 0);
    let t = token(&u.hosts[0], "worker");
    let idb = join(&u.hosts[1], 1, &t);
    assert_eq!(row(&u.hosts[0], &idb)[2], "Ready");
    u.hosts[1].stop_daemon(true);
    let killed = std::time::Instant::now();
    assert!(
        eventually(TTL + 3, || row(&u.hosts[0], &idb)[2] == "Down"),
        "B is not Down"
    );
    let took = killed.elapsed();
    eprintln!("swarm: a killed node was Down after {took:?} (lease TTL {TTL} s)");
    assert!(
        took <= std::time::Duration::from_secs(TTL + 1),
        "Down after {took:?}, more than TTL + 1 s"
    );
    // The restarted daemon re-attaches from its saved membership.
    u.hosts[1].start_daemon();
    assert!(
        eventually(10, || row(&u.hosts[0], &idb)[2] == "Ready"),
        "B did not come back: {}",
        u.hosts[1].daemon_log()
    );
    assert_eq!(node_id(&u.hosts[1]), idb);
    // The manager restarts too: its etcd member comes back with it.
    u.hosts[0].stop_daemon(false);
    u.hosts[0].start_daemon();
    assert!(
        eventually(20, || {
            let r = u.hosts[0].ferry(&["node", "ls"]);
            r.code == 0 && r.stdout.contains(&format!("{ida} *"))
        }),
        "A did not re-attach: {}",
        u.hosts[0].daemon_log()
    );
    assert!(eventually(10, || row(&u.hosts[1], &ida)[2] == "Ready"));
    // With etcd out of reach at start, the daemon serves local networking and keeps trying.
    u.hosts[0].stop_daemon(true);
    u.hosts[1].stop_daemon(true);
    u.hosts[1].start_daemon();
    let b = &u.hosts[1];
    assert!(b.ok(&["info"]).contains("Swarm: pending"));
    b.ok(&["network", "create", "--subnet", "10.63.0.0/24", "local"]);
    b.sleeper("s1", &["--network", "local"]);
    assert!(
        eventually(10, || b
            .daemon_log()
            .contains("cannot reach the swarm's etcd")),
        "no log line says why: {}",
        b.daemon_log()
    );
    u.hosts[0].start_daemon();
    assert!(
        eventually(30, || u.hosts[1].ok(&["info"]).contains("Swarm: active")),
        "B did not attach once etcd was back: {}",
        u.hosts[1].daemon_log()
    );
}

#[test]
fn with_three_managers_the_loss_of_one_leaves_the_swarm_working() {
    let mut u = Underlay::new(3);
    let ida = init(&u.hosts[0], 0);
    let t = token(&u.hosts[0], "manager");
    let idb = join(&u.hosts[1], 1, &t);
    let idc = join(&u.hosts[2], 2, &t);
    assert_eq!(node_ls(&u.hosts[2]).len(), 3);
    // etcd dies under a live daemon: the supervisor starts it again.
    let pidfile = u.hosts[1].data_root().join("swarm/etcd.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(
        eventually(10, || std::fs::read_to_string(&pidfile)
            .map(|p| p.trim() != pid.to_string())
            .unwrap_or(false)),
        "etcd was not restarted"
    );
    // A whole manager goes (its etcd member with it).
    u.hosts[2].stop_daemon(true);
    assert!(
        eventually(TTL + 3, || row(&u.hosts[0], &idc)[2] == "Down"),
        "C is not Down"
    );
    assert_eq!(row(&u.hosts[0], &idc)[4], "Unreachable");
    // The two left keep a quorum: writes go through on either.
    u.hosts[1].ok(&["node", "update", "--label-add", "k=v", &ida]);
    u.hosts[0].ok(&["node", "update", "--availability", "pause", &idb]);
    assert_eq!(row(&u.hosts[1], &idb)[3], "Pause");
    // Demoted while down, C's member is removed at once (it would count against the quorum
    // for ever otherwise); when C comes back it is a worker.
    u.hosts[0].ok(&["node", "demote", &idc]);
    assert_eq!(row(&u.hosts[1], &idc).len(), 4, "C has no manager status");
    u.hosts[1].ok(&["node", "update", "--label-add", "after=demote", &ida]);
    u.hosts[2].start_daemon();
    assert!(
        eventually(20, || row(&u.hosts[0], &idc)[2] == "Ready"),
        "C did not come back: {}",
        u.hosts[2].daemon_log()
    );
    assert!(
        eventually(20, || u.hosts[2]
            .ok(&["info"])
            .contains("Is Manager: false")),
        "C is still a manager: {}",
        u.hosts[2].daemon_log()
    );
    // Its etcd member stops once it has seen its new role (a loaded machine takes a while).
    assert!(
        eventually(30, || !u.hosts[2]
            .data_root()
            .join("swarm/etcd.pid")
            .exists()),
        "the demoted node still runs its etcd member: {}",
        u.hosts[2].daemon_log()
    );
}

#[test]
fn a_swarm_on_an_etcd_the_user_runs() {
    let u = Underlay::new(2);
    let (a, b) = (&u.hosts[0], &u.hosts[1]);
    // The user's etcd, on host A's underlay address (plain HTTP: no TLS files to give).
    let url = format!("http://{}:2479", Underlay::addr(0));
    let dir = a.dir.path().join("user-etcd");
    a.spawn(&format!(
        "etcd --name user --data-dir {} --listen-client-urls {url} --advertise-client-urls {url} \
         --listen-peer-urls http://127.0.0.1:2480 --initial-advertise-peer-urls http://127.0.0.1:2480 \
         --initial-cluster user=http://127.0.0.1:2480 > {}.log 2>&1",
        dir.display(),
        dir.display()
    ));
    assert!(
        eventually(20, || a.sh(&format!("curl -sf {url}/health")).code == 0),
        "the user's etcd did not start"
    );
    let ida = a.ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &Underlay::addr(0),
        "--lease-ttl",
        "2",
        "--external-etcd",
        &url,
    ]);
    assert!(ida.contains("ferry swarm join --token"), "{ida}");
    assert!(
        !a.data_root().join("swarm/etcd").exists(),
        "no member of ferry's own"
    );
    let idb = join(b, 1, &token(a, "worker"));
    assert_eq!(node_ls(b).len(), 2);
    assert_eq!(row(a, &idb)[2], "Ready");
    assert!(b.ok(&["info"]).contains(&url));
    // A second swarm cannot be made in the same etcd.
    b.ok(&["swarm", "leave"]);
    let e = b.fails(&[
        "swarm",
        "init",
        "--advertise-addr",
        &Underlay::addr(1),
        "--external-etcd",
        &url,
    ]);
    assert!(e.contains("holds a swarm already"), "{e}");
    assert!(b.ok(&["info"]).contains("Swarm: inactive"));
}

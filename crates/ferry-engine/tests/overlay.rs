//! Two nodes of a swarm in one test: each controller runs in a network namespace of its own
//! (a "host" on an underlay bridge the test makes), and both share one cluster store. An
//! overlay network made on one node is known on the other; sandboxes on the two nodes reach
//! each other over VXLAN by address and by name; a removed sandbox is withdrawn from the other
//! node's kernel and resolver; the data plane goes with a node's last endpoint.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_engine::cluster::ClusterLink;
use ferry_engine::config::{DaemonConfig, FirewallMode};
use ferry_engine::controller::StartOptions;
use ferry_engine::Controller;
use ferry_store::{MemoryStore, Store};
use ferry_types::api::{NetworkCreateRequest, NetworkRequest, SandboxCreateRequest};
use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce(Arc<Controller>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Named network namespaces of the test's own, removed at the end.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn sh(cmd: &str) -> (bool, String) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn must(cmd: &str) -> String {
    let (ok, out) = sh(cmd);
    assert!(ok, "{cmd}: {out}");
    out
}

/// One node: a thread in the host's namespace, holding a runtime and a controller.
struct Node {
    jobs: mpsc::Sender<(Job, mpsc::Sender<()>)>,
    /// The session lease the node's records hang off.
    lease: i64,
    node_id: String,
    addr: String,
    _dir: tempfile::TempDir,
}

/// What a node's membership says.
fn membership(store: Arc<MemoryStore>, node_id: &str, addr: &str, lease: i64) -> Arc<ClusterLink> {
    Arc::new(ClusterLink {
        store,
        node_id: node_id.into(),
        lease,
        advertise_addr: addr.parse().unwrap(),
        data_path_port: 4789,
        default_addr_pools: vec!["10.30.0.0/16".parse().unwrap()],
        default_pool_mask_len: 24,
    })
}

impl Node {
    fn start(netns: &str, store: Arc<MemoryStore>, node_id: &str, addr: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DaemonConfig::with_roots(dir.path().join("data"), dir.path().join("run"));
        cfg.firewall = FirewallMode::None;
        cfg.ip_forward = false;
        cfg.init = false;
        let (jobs, rx) = mpsc::channel::<(Job, mpsc::Sender<()>)>();
        let (ready_tx, ready) = mpsc::channel();
        let ns = format!("/run/netns/{netns}");
        let (id, at) = (node_id.to_string(), addr.to_string());
        std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let ctl = rt.block_on(async {
                let options = StartOptions {
                    drivers: None,
                    cgroups: false,
                };
                let ctl = Controller::start_with(cfg, Arc::new(MemoryStore::new()), options)
                    .await
                    .unwrap();
                let lease = store.grant_lease(Duration::from_secs(600)).await.unwrap();
                ctl.attach_cluster(membership(store, &id, &at, lease))
                    .await
                    .unwrap();
                (ctl, lease)
            });
            let (ctl, lease) = ctl;
            ready_tx.send(lease).unwrap();
            while let Ok((job, done)) = rx.recv() {
                rt.block_on(job(ctl.clone()));
                let _ = done.send(());
            }
        });
        let lease = ready.recv().unwrap();
        Node {
            jobs,
            lease,
            node_id: node_id.into(),
            addr: addr.into(),
            _dir: dir,
        }
    }

    /// Runs `f` with the node's controller, on the node's runtime.
    fn on<F, Fut>(&self, f: F)
    where
        F: FnOnce(Arc<Controller>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (done, wait) = mpsc::channel();
        let job: Job = Box::new(move |ctl| Box::pin(f(ctl)));
        self.jobs.send((job, done)).unwrap();
        wait.recv().expect("the node's job panicked");
    }

    /// The network namespace of a running sandbox.
    fn netns_of(&self, name: &str) -> String {
        let (tx, rx) = mpsc::channel();
        let name = name.to_string();
        self.on(move |ctl| async move {
            let v = ctl.inspect_sandbox(&name).await.unwrap();
            tx.send(v.sandbox.state.pid.unwrap()).unwrap();
        });
        format!("/proc/{}/ns/net", rx.recv().unwrap())
    }

    /// A sandbox's address on a network.
    fn ip_of(&self, name: &str) -> String {
        let (tx, rx) = mpsc::channel();
        let name = name.to_string();
        self.on(move |ctl| async move {
            let v = ctl.inspect_sandbox(&name).await.unwrap();
            let ep = v.sandbox.endpoints.first().unwrap().clone();
            tx.send(ep.ipv4.unwrap().addr().to_string()).unwrap();
        });
        rx.recv().unwrap()
    }

    fn run(&self, name: &str, network: &str) {
        let (name, network) = (name.to_string(), network.to_string());
        self.on(move |ctl| async move {
            ctl.create_sandbox(SandboxCreateRequest {
                name: name.clone(),
                cmd: vec!["sleep".into(), "600".into()],
                networks: vec![NetworkRequest {
                    name: network,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .unwrap();
            ctl.start_sandbox(&name).await.unwrap();
        });
    }
}

/// Waits until `cmd` succeeds, up to 10 s; returns its last output.
fn eventually(cmd: &str) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = sh(cmd);
        if ok {
            return out;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{cmd}: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sandboxes_on_two_nodes_reach_each_other_over_an_overlay() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it makes network namespaces, bridges and VXLAN devices"
    );
    let tag = format!("{:x}", std::process::id());
    let (u, a, b) = (
        format!("fovu{tag}"),
        format!("fova{tag}"),
        format!("fovb{tag}"),
    );
    let _ns = Namespaces(vec![u.clone(), a.clone(), b.clone()]);
    for n in [&u, &a, &b] {
        must(&format!("ip netns add {n}"));
    }
    must(&format!(
        "ip -n {u} link add ul type bridge && ip -n {u} link set ul up"
    ));
    for (i, h) in [(10, &a), (11, &b)] {
        must(&format!(
            "ip -n {u} link add u{i} type veth peer name ul0 netns {h} && ip -n {u} link set u{i} master ul up && \
             ip -n {h} addr add 198.51.100.{i}/24 dev ul0 && ip -n {h} link set ul0 up && ip -n {h} link set lo up"
        ));
    }
    let cluster = Arc::new(MemoryStore::new());
    let na = Node::start(&a, cluster.clone(), "node-a", "198.51.100.10");
    let nb = Node::start(&b, cluster.clone(), "node-b", "198.51.100.11");

    // Made on A, known on B.
    na.on(|ctl| async move {
        ctl.create_network(NetworkCreateRequest {
            name: "ov".into(),
            driver: "overlay".into(),
            attachable: true,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let start = Instant::now();
    loop {
        let (tx, rx) = mpsc::channel();
        nb.on(move |ctl| async move {
            tx.send(ctl.inspect_network("ov").await.is_ok()).unwrap();
        });
        if rx.recv().unwrap() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "B never saw ov");
        std::thread::sleep(Duration::from_millis(20));
    }

    na.run("web", "ov");
    nb.run("client", "ov");
    let (web_ip, client_ip) = (na.ip_of("web"), nb.ip_of("client"));
    assert_ne!(web_ip, client_ip, "one address, two endpoints");
    assert!(
        web_ip.starts_with("10.30."),
        "from the swarm's pool: {web_ip}"
    );
    let (web_ns, client_ns) = (na.netns_of("web"), nb.netns_of("client"));

    // By address, both ways, and by name through each node's resolver.
    eventually(&format!("nsenter --net={client_ns} ping -c1 -W1 {web_ip}"));
    eventually(&format!("nsenter --net={web_ns} ping -c1 -W1 {client_ip}"));
    let answer = eventually(&format!(
        "nsenter --net={client_ns} dig +short +time=1 +tries=1 @127.0.0.11 web | grep -x {web_ip}"
    ));
    assert_eq!(answer.trim(), web_ip);
    eventually(&format!(
        "nsenter --net={web_ns} dig +short +time=1 +tries=1 @127.0.0.11 client.ov | grep -x {client_ip}"
    ));

    // The MTU is the underlay's less VXLAN's 50 bytes.
    let link = must(&format!("nsenter --net={web_ns} ip -o link show eth0"));
    assert!(link.contains(" mtu 1450 "), "{link}");
    // A don't-fragment sweep: the largest payload crosses, one byte more does not (bulk TCP
    // would not notice a wrong MTU on veths).
    must(&format!(
        "nsenter --net={client_ns} ping -c1 -W2 -M do -s 1422 {web_ip}"
    ));
    let (ok, _) = sh(&format!(
        "nsenter --net={client_ns} ping -c1 -W1 -M do -s 1423 {web_ip}"
    ));
    assert!(!ok, "a packet over the overlay's MTU went through");

    // The sandbox's way out is the gateway bridge; the overlay gives it no default route.
    let route = must(&format!("nsenter --net={web_ns} ip route show default"));
    assert!(route.contains("dev eth1"), "{route}");
    let (tx, rx) = mpsc::channel();
    na.on(move |ctl| async move {
        let v = ctl.inspect_sandbox("web").await.unwrap();
        tx.send(
            v.networks
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    });
    assert_eq!(rx.recv().unwrap(), ["ov", "ferry_gwbridge"]);

    // B's session ends (its lease expired): its endpoints leave A's kernel and resolver;
    // a new session publishes them again.
    let store = cluster.clone();
    let lease_b = nb.lease;
    na.on(move |_| async move { store.revoke_lease(lease_b).await.unwrap() });
    eventually(&format!(
        "! nsenter --net={web_ns} dig +short +time=1 +tries=1 @127.0.0.11 client | grep -q ."
    ));
    eventually(&format!("! ip -n {a} neigh show | grep -q '^{client_ip} '"));
    let (store, id, addr) = (cluster.clone(), nb.node_id.clone(), nb.addr.clone());
    nb.on(move |ctl| async move {
        let lease = store.grant_lease(Duration::from_secs(600)).await.unwrap();
        ctl.attach_cluster(membership(store, &id, &addr, lease))
            .await
            .unwrap();
    });
    eventually(&format!(
        "nsenter --net={client_ns} ping -c1 -W1 {web_ip} && nsenter --net={web_ns} dig +short +time=1 +tries=1 @127.0.0.11 client | grep -x {client_ip}"
    ));

    // Entries the cluster does not have (written while the daemon was away) go when the node
    // lists the cluster's records again; the live ones stay.
    let vx = must(&format!("ip -n {a} -o link show type vxlan"));
    let vx = vx
        .split(':')
        .nth(1)
        .unwrap()
        .trim()
        .split('@')
        .next()
        .unwrap()
        .to_string();
    must(&format!(
        "ip netns exec {a} bridge fdb replace 02:42:0a:1e:63:63 dev {vx} dst 198.51.100.99 self permanent && \
         ip -n {a} neigh replace 10.30.99.99 lladdr 02:42:0a:1e:63:63 dev {vx} nud permanent"
    ));
    let (store, id, addr, lease) = (
        cluster.clone(),
        na.node_id.clone(),
        na.addr.clone(),
        na.lease,
    );
    na.on(move |ctl| async move {
        ctl.attach_cluster(membership(store, &id, &addr, lease))
            .await
            .unwrap();
    });
    eventually(&format!("! ip -n {a} neigh show | grep -q 10.30.99.99"));
    eventually(&format!(
        "! ip netns exec {a} bridge fdb show dev {vx} | grep 198.51.100.99"
    ));
    eventually(&format!("nsenter --net={web_ns} ping -c1 -W1 {client_ip}"));

    // Removed on B: withdrawn from A's kernel and resolver.
    nb.on(|ctl| async move { ctl.remove_sandbox("client", true).await.unwrap() });
    eventually(&format!(
        "! nsenter --net={web_ns} dig +short +time=1 +tries=1 @127.0.0.11 client | grep -q ."
    ));
    eventually(&format!("! ip -n {a} neigh show | grep -q '^{client_ip} '"));
    // B's data plane went with its last endpoint.
    let links = must(&format!("ip -n {b} -o link show"));
    assert!(
        !links.contains("fx-") && !links.contains("fo-"),
        "B keeps a data plane without endpoints: {links}"
    );
    // A network in use on another node is not removed.
    let (tx, rx) = mpsc::channel();
    nb.on(move |ctl| async move {
        let e = ctl.remove_network("ov").await.unwrap_err();
        tx.send(e.message).unwrap();
    });
    let refusal = rx.recv().unwrap();
    assert!(refusal.contains("other nodes"), "{refusal}");
    na.on(|ctl| async move {
        ctl.remove_sandbox("web", true).await.unwrap();
        ctl.remove_network("ov").await.unwrap();
    });
    let start = Instant::now();
    loop {
        let (tx, rx) = mpsc::channel();
        nb.on(move |ctl| async move {
            tx.send(ctl.inspect_network("ov").await.is_err()).unwrap();
        });
        if rx.recv().unwrap() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "B still has ov");
        std::thread::sleep(Duration::from_millis(20));
    }
}

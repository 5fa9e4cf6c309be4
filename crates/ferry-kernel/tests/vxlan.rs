//! The overlay's data plane against the real kernel: two "hosts" (network namespaces on an
//! underlay bridge), each with a bridge and a VXLAN device made by ferry-kernel, and a
//! "sandbox" on each. The static forwarding and neighbour entries alone carry traffic (no
//! learning, no flooding); an entry removed stops it; replace semantics fix a MAC pointed at
//! the wrong host; and a don't-fragment sweep finds the overlay's MTU (TCP bulk would not).
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_kernel::netlink::{Netlink, VethSpec, VxlanSpec};
use ferry_kernel::netns;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(ns: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["sh", "-c", cmd])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Bed {
    _dir: tempfile::TempDir,
    under: PathBuf,
    hosts: Vec<PathBuf>,
    boxes: Vec<PathBuf>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        for p in self.boxes.iter().chain(&self.hosts).chain([&self.under]) {
            for pid in netns::pids_in(p) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            let _ = netns::remove(p);
        }
    }
}

const VNI: u32 = 42;
const PORT: u16 = 4789;

fn vtep(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 50, 1 + i as u8)
}

fn overlay_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 2 + i as u8)
}

fn mac(i: usize) -> [u8; 6] {
    let ip = overlay_ip(i).octets();
    [0x02, 0x42, ip[0], ip[1], ip[2], ip[3]]
}

/// Builds the underlay with `ip` (the test's scaffolding) and each host's overlay pieces
/// with ferry-kernel.
async fn bed() -> (Bed, Vec<u32>) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root: it makes network namespaces"
    );
    let dir = tempfile::tempdir().unwrap();
    let under = dir.path().join("underlay");
    netns::create_mounted(&under).unwrap();
    assert!(
        sh(
            &under,
            "ip link set lo up && ip link add ul type bridge && ip link set ul up"
        )
        .0
    );
    let mut hosts = Vec::new();
    let mut boxes = Vec::new();
    let mut vxlans = Vec::new();
    for i in 0..2 {
        let host = dir.path().join(format!("host{i}"));
        let sandbox = dir.path().join(format!("box{i}"));
        netns::create_mounted(&host).unwrap();
        netns::create_mounted(&sandbox).unwrap();
        let (ok, out) = sh(
            &under,
            &format!(
                "ip link add u{i} type veth peer name eth0 netns {h} && ip link set u{i} master ul up",
                h = host.display()
            ),
        );
        assert!(ok, "{out}");
        let (ok, out) = sh(
            &host,
            &format!(
                "ip link set lo up && ip addr add {}/24 dev eth0 && ip link set eth0 up",
                vtep(i)
            ),
        );
        assert!(ok, "{out}");
        assert!(sh(&sandbox, "ip link set lo up").0);
        let nl = Netlink::connect_in(&host).unwrap();
        let underlay = nl.link("eth0").await.unwrap().unwrap().index;
        let br = nl
            .create_bridge("br0", 1450, [2, 0, 0, 0, 0, 1 + i as u8])
            .await
            .unwrap();
        let vx = nl
            .create_vxlan(&VxlanSpec {
                name: "vx42",
                vni: VNI,
                port: PORT,
                local: vtep(i),
                underlay_index: underlay,
                mtu: None,
            })
            .await
            .unwrap();
        nl.set_controller(vx, br).await.unwrap();
        nl.set_up(vx).await.unwrap();
        nl.create_veth(&VethSpec {
            host_name: "vb",
            peer_name: "eth0",
            peer_mac: mac(i),
            mtu: 1450,
            bridge_index: br,
            peer_netns: &sandbox,
        })
        .await
        .unwrap();
        let (ok, out) = sh(
            &sandbox,
            &format!(
                "ip addr add {}/24 dev eth0 && ip link set eth0 up",
                overlay_ip(i)
            ),
        );
        assert!(ok, "{out}");
        hosts.push(host);
        boxes.push(sandbox);
        vxlans.push(vx);
    }
    (
        Bed {
            _dir: dir,
            under,
            hosts,
            boxes,
        },
        vxlans,
    )
}

/// One don't-fragment ping, retried a few times: a loaded machine may lose the first.
fn ping(from: &Path, to: Ipv4Addr, payload: usize) -> bool {
    (0..3).any(|_| sh(from, &format!("ping -c1 -W2 -M do -s {payload} {to}")).0)
}

#[tokio::test(flavor = "current_thread")]
async fn static_entries_alone_carry_traffic_across_hosts() {
    let (bed, vx) = bed().await;
    let nl: Vec<Netlink> = bed
        .hosts
        .iter()
        .map(|h| Netlink::connect_in(h).unwrap())
        .collect();
    // The device takes the underlay's MTU less the VXLAN header.
    let (_, out) = sh(&bed.hosts[0], "ip -d link show vx42");
    assert!(out.contains("mtu 1450"), "{out}");
    assert!(out.contains("nolearning") && out.contains("proxy"), "{out}");
    assert!(out.contains("dstport 4789"), "{out}");

    // Nothing programmed: no way across.
    assert!(!ping(&bed.boxes[0], overlay_ip(1), 56));

    // Each host learns the other's sandbox from the records alone. A MAC first pointed at
    // the wrong host is fixed by replacing its entry.
    nl[0].fdb_replace(vx[0], mac(1), vtep(0)).await.unwrap();
    for (h, other) in [(0usize, 1usize), (1, 0)] {
        nl[h]
            .fdb_replace(vx[h], mac(other), vtep(other))
            .await
            .unwrap();
        nl[h]
            .neigh_replace(vx[h], IpAddr::V4(overlay_ip(other)), mac(other))
            .await
            .unwrap();
        // Writing the same entries again is fine.
        nl[h]
            .fdb_replace(vx[h], mac(other), vtep(other))
            .await
            .unwrap();
    }
    // What the device holds can be read back, as a restart compares it with the records.
    // Entries written by other tools count too.
    let (ok, out) = sh(
        &bed.hosts[0],
        "bridge fdb replace 02:42:0a:00:63:63 dev vx42 self permanent dst 192.168.50.99",
    );
    assert!(ok, "{out}");
    let entries = nl[0].vxlan_entries(vx[0]).await.unwrap();
    let stray = (
        [0x02, 0x42, 0x0a, 0, 0x63, 0x63],
        "192.168.50.99".parse().unwrap(),
    );
    assert!(entries.fdb.contains(&stray), "{entries:?}");
    nl[0].fdb_delete(vx[0], stray.0, stray.1).await.unwrap();
    let entries = nl[0].vxlan_entries(vx[0]).await.unwrap();
    assert_eq!(entries.fdb, vec![(mac(1), vtep(1))], "{entries:?}");
    assert_eq!(
        entries.neighbours,
        vec![(IpAddr::V4(overlay_ip(1)), mac(1))],
        "{entries:?}"
    );
    assert!(ping(&bed.boxes[0], overlay_ip(1), 56), "box0 to box1");
    assert!(ping(&bed.boxes[1], overlay_ip(0), 56), "box1 to box0");
    // No flood entry was needed, and none learnt.
    let (_, fdb) = sh(&bed.hosts[0], "bridge fdb show dev vx42");
    assert!(!fdb.contains("00:00:00:00:00:00"), "{fdb}");

    // The overlay's MTU, found with don't-fragment pings: payload MTU-28 passes, MTU-27 not.
    assert!(ping(&bed.boxes[0], overlay_ip(1), 1450 - 28));
    assert!(!ping(&bed.boxes[0], overlay_ip(1), 1450 - 27));

    // Withdrawn, the remote endpoint is unreachable again; withdrawing twice is fine.
    nl[0].fdb_delete(vx[0], mac(1), vtep(1)).await.unwrap();
    nl[0]
        .neigh_delete(vx[0], IpAddr::V4(overlay_ip(1)))
        .await
        .unwrap();
    nl[0].fdb_delete(vx[0], mac(1), vtep(1)).await.unwrap();
    nl[0]
        .neigh_delete(vx[0], IpAddr::V4(overlay_ip(1)))
        .await
        .unwrap();
    // The bridge may still remember box1's MAC on the vxlan port for a while; what matters is
    // that the VXLAN device has nowhere to send it.
    let (_, out) = sh(&bed.hosts[0], "bridge fdb show dev vx42 self");
    assert!(
        !out.contains(&format!("dst {}", vtep(1))),
        "forwarding entry gone: {out}"
    );
    let (_, neigh) = sh(&bed.hosts[0], "ip neigh show dev vx42");
    assert!(!neigh.contains(&overlay_ip(1).to_string()), "{neigh}");
    drop(bed);
}

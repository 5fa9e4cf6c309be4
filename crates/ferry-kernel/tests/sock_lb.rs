//! The connect-time load balancer against the real kernel: the verifier accepts the program,
//! and a connect to a VIP in the map reaches one of its backends, spread over all of them,
//! while other addresses are untouched. Traffic stays on loopback.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use ferry_kernel::sock_lb::{cgroup2_mount, enter_cgroup, SockLb};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

/// Listeners on 127.0.0.1 that answer each connection with their own name.
fn backends(names: &[&'static str]) -> Vec<u16> {
    names
        .iter()
        .map(|&name| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let mut s = s;
                    let _ = s.write_all(name.as_bytes());
                }
            });
            port
        })
        .collect()
}

fn ask(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn connects_to_a_vip_reach_its_backends() {
    // As the daemon does: the host's hierarchy, or one mounted here when there is none.
    let own_mount = std::env::temp_dir().join(format!("ferry-test-cgroup2-{}", std::process::id()));
    let mount = cgroup2_mount()
        .unwrap_or_else(|| ferry_kernel::sock_lb::mount_cgroup2(&own_mount).unwrap());
    let cg = mount.join(format!("ferry-test-sock-lb-{}", std::process::id()));
    enter_cgroup(&cg).unwrap();
    let lb = SockLb::attach(&cg).unwrap();

    let ports = backends(&["a", "b"]);
    let vip = Ipv4Addr::new(127, 77, 0, 1);
    let slots: Vec<(Ipv4Addr, u16)> = ports.iter().map(|p| (Ipv4Addr::LOCALHOST, *p)).collect();
    lb.set(vip, 80, libc::IPPROTO_TCP as u8, &slots).unwrap();

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..200 {
        *seen.entry(ask("127.77.0.1:80").unwrap()).or_default() += 1;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.values().all(|n| *n > 50), "{seen:?}");

    // Another port of the VIP, and other addresses, are not rewritten.
    assert!(ask("127.77.0.1:81").is_err());
    assert_eq!(ask(&format!("127.0.0.1:{}", ports[0])).unwrap(), "a");

    // Port 0: every port of the VIP, the client's port kept.
    lb.set(vip, 0, 0, &[(Ipv4Addr::LOCALHOST, 0)]).unwrap();
    assert_eq!(ask(&format!("127.77.0.1:{}", ports[1])).unwrap(), "b");

    // Without backends, connects go where they were aimed.
    lb.set(vip, 80, libc::IPPROTO_TCP as u8, &[]).unwrap();
    lb.remove(vip, 0, 0).unwrap();
    assert!(ask("127.77.0.1:80").is_err());

    drop(lb);
    std::fs::write(mount.join("cgroup.procs"), std::process::id().to_string()).unwrap();
    std::fs::remove_dir(&cg).unwrap();
    if mount == own_mount {
        let _ = nix::mount::umount(&own_mount);
        let _ = std::fs::remove_dir(&own_mount);
    }
}

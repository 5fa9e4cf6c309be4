//! Capabilities against the real kernel: a forked child puts a set in place as a sandbox's
//! process does, then reads its own /proc/self/status.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod child;

use ferry_kernel::caps::{self, CapSet};
use std::os::fd::RawFd;

const CAP_NET_ADMIN: u32 = 12;

/// Child-safe: copies /proc/self/status to `fd`.
fn dump_status(fd: RawFd) {
    let mut buf = [0u8; 8192];
    // SAFETY: a NUL-terminated path, reads into buf, writes what was read.
    unsafe {
        let f = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
        let n = libc::read(f, buf.as_mut_ptr() as *mut libc::c_void, buf.len());
        if n > 0 {
            libc::write(fd, buf.as_ptr() as *const libc::c_void, n as usize);
        }
        libc::close(f);
    }
}

/// Child-safe: puts CAP_NET_ADMIN in the inheritable and ambient sets, which a sandbox's
/// process must not keep.
fn raise_ambient() -> i64 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [[0u32; 3]; 2];
    // SAFETY: version-3 header and two data entries.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut h, data.as_mut_ptr()) < 0 {
            return -child::errno();
        }
        data[0][2] |= 1 << CAP_NET_ADMIN;
        if libc::syscall(libc::SYS_capset, &mut h, data.as_ptr()) < 0 {
            return -child::errno();
        }
        child::result(libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            CAP_NET_ADMIN as libc::c_ulong,
            0,
            0,
        ) as i64)
    }
}

/// The capability lines of a status dump: (CapInh, CapPrm, CapEff, CapBnd, CapAmb).
fn sets(status: &str) -> [u64; 5] {
    let get = |key: &str| {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {status}"));
        u64::from_str_radix(line.trim(), 16).unwrap()
    };
    [
        get("CapInh:"),
        get("CapPrm:"),
        get("CapEff:"),
        get("CapBnd:"),
        get("CapAmb:"),
    ]
}

/// Splits the child's report: its numbers (8 bytes each, `count` of them), then the status.
fn report(bytes: &[u8], count: usize) -> (Vec<i64>, [u64; 5]) {
    let (nums, status) = bytes.split_at(count * 8);
    (child::values(nums), sets(&String::from_utf8_lossy(status)))
}

#[test]
fn a_root_process_keeps_exactly_its_set() {
    assert!(child::root(), "this test needs root");
    let last = caps::last_cap().unwrap();
    let keep = CapSet::resolve(
        &["NET_ADMIN".into()],
        &["SETPCAP".into(), "MKNOD".into()],
        false,
    )
    .unwrap();
    let (out, ended) = child::run(
        |_| {},
        |fd| {
            let raised = raise_ambient();
            let applied = match caps::apply(keep, last) {
                Ok(()) => 0,
                Err(e) => -i64::from(e),
            };
            child::put(fd, &[raised, applied]);
            dump_status(fd);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    let (nums, [inh, prm, eff, bnd, amb]) = report(&out, 2);
    assert_eq!(nums, vec![0, 0], "raise ambient, apply");
    assert_eq!(eff, keep.0, "CapEff");
    assert_eq!(prm, keep.0, "CapPrm");
    assert_eq!(bnd, keep.0, "CapBnd");
    assert_eq!(inh, 0, "CapInh");
    assert_eq!(amb, 0, "CapAmb");
}

#[test]
fn docker_default_set_as_docker_shows_it() {
    assert!(child::root(), "this test needs root");
    let last = caps::last_cap().unwrap();
    assert!(last >= 39, "kernel's cap_last_cap {last}");
    let (out, ended) = child::run(
        |_| {},
        |fd| {
            let applied =
                caps::apply(CapSet::docker_default(), last).map_or_else(|e| -i64::from(e), |_| 0);
            child::put(fd, &[applied]);
            dump_status(fd);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    let (nums, [inh, prm, eff, bnd, amb]) = report(&out, 1);
    assert_eq!(nums, vec![0]);
    assert_eq!(
        [inh, prm, eff, bnd, amb],
        [0, 0xa80425fb, 0xa80425fb, 0xa80425fb, 0]
    );
}

/// A non-root user: the bounding set first (while CAP_SETPCAP is there), then setuid, which
/// clears the permitted and effective sets, even when the kept set has no CAP_SETUID.
#[test]
fn a_non_root_user_gets_the_bounding_set_only() {
    assert!(child::root(), "this test needs root");
    let last = caps::last_cap().unwrap();
    let keep = CapSet::docker_default().without(7).without(6); // no SETUID, SETGID
    let (out, ended) = child::run(
        |_| {},
        |fd| {
            let raised = raise_ambient();
            let bounded = caps::bound(keep, last).map_or_else(|e| -i64::from(e), |_| 0);
            // SAFETY: plain system calls.
            let (groups, gid, uid) = unsafe {
                (
                    child::result(libc::setgroups(0, std::ptr::null()) as i64),
                    child::result(libc::setgid(1000) as i64),
                    child::result(libc::setuid(1000) as i64),
                )
            };
            // Raising the set again is refused: permitted is empty now.
            let again = caps::restrict(keep, last).map_or_else(|e| -i64::from(e), |_| 0);
            child::put(fd, &[raised, bounded, groups, gid, uid, again]);
            dump_status(fd);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    let (nums, [inh, prm, eff, bnd, amb]) = report(&out, 6);
    assert_eq!(nums, vec![0, 0, 0, 0, 0, -i64::from(libc::EPERM)]);
    assert_eq!(
        [inh, prm, eff, amb],
        [0; 4],
        "CapInh, CapPrm, CapEff, CapAmb"
    );
    assert_eq!(bnd, keep.0, "CapBnd");
}

//! The device filter against the real kernel: attached to a cgroup, it lets a process below
//! it open /dev/null but not a block device node or a character one outside Docker's list
//! (kmsg) that it created itself, while the same nodes open from outside; attaching again replaces the program rather than adding one.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod child;

use ferry_kernel::devices::DeviceFilter;
use ferry_kernel::sock_lb::{cgroup2_mount, mount_cgroup2};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Child-safe: `mknod` then `open` for reading, as -errno or 0.
fn make_and_open(path: &CString, mode: libc::mode_t, major: u32, minor: u32) -> [i64; 2] {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    unsafe {
        let made =
            child::result(
                libc::mknod(path.as_ptr(), mode | 0o600, libc::makedev(major, minor)) as i64,
            );
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
        let opened = child::result(fd as i64).min(0);
        if fd >= 0 {
            libc::close(fd);
        }
        [made, opened]
    }
}

/// Opens `path` for reading: 0 or -errno.
fn open(path: &CString) -> i64 {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
        if fd >= 0 {
            libc::close(fd);
        }
        child::result(fd as i64).min(0)
    }
}

struct Nodes {
    null: CString,
    kmsg: CString,
    block: CString,
    dev_null: CString,
}

impl Nodes {
    fn new(dir: &Path) -> Nodes {
        Nodes {
            null: cpath(&dir.join("null")),
            kmsg: cpath(&dir.join("kmsg")),
            block: cpath(&dir.join("loop0")),
            dev_null: c"/dev/null".to_owned(),
        }
    }

    fn remove(&self) {
        for p in [&self.null, &self.kmsg, &self.block] {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::unlink(p.as_ptr()) };
        }
    }
}

/// In a child moved into `cgroup`: /dev/null, then mknod and open of null (1:3), kmsg (1:11)
/// and loop0 (block 7:0).
fn in_cgroup(cgroup: &Path, nodes: &Nodes) -> Vec<i64> {
    let procs = cgroup.join("cgroup.procs");
    let (out, ended) = child::run(
        |pid| std::fs::write(&procs, pid.to_string()).unwrap(),
        |fd| {
            let null = make_and_open(&nodes.null, libc::S_IFCHR, 1, 3);
            let kmsg = make_and_open(&nodes.kmsg, libc::S_IFCHR, 1, 11);
            let block = make_and_open(&nodes.block, libc::S_IFBLK, 7, 0);
            let r = [
                open(&nodes.dev_null),
                null[0],
                null[1],
                kmsg[0],
                kmsg[1],
                block[0],
                block[1],
            ];
            child::put(fd, &r);
        },
    );
    assert_eq!(ended, child::Ended::Exited(0));
    child::values(&out)
}

const EPERM: i64 = -(libc::EPERM as i64);

/// The test's cgroups, node directory and (when the host has none) cgroup2 mount, removed
/// when the test ends, also when it fails.
struct Scratch {
    own_mount: PathBuf,
    mount: PathBuf,
    cg: PathBuf,
    inner: PathBuf,
    dir: PathBuf,
    nodes: Nodes,
}

impl Scratch {
    fn new() -> Scratch {
        let pid = std::process::id();
        let own_mount = std::env::temp_dir().join(format!("ferry-test-devices-cgroup2-{pid}"));
        let mount = cgroup2_mount().unwrap_or_else(|| mount_cgroup2(&own_mount).unwrap());
        let cg = mount.join(format!("ferry-test-devices-{pid}"));
        let inner = cg.join("sandbox");
        std::fs::create_dir_all(&inner).unwrap();
        let dir = std::env::temp_dir().join(format!("ferry-test-devices-{pid}"));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes = Nodes::new(&dir);
        Scratch {
            own_mount,
            mount,
            cg,
            inner,
            dir,
            nodes,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.nodes.remove();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_dir(&self.inner);
        let _ = std::fs::remove_dir(&self.cg);
        if self.mount == self.own_mount {
            let _ = nix::mount::umount(&self.own_mount);
            let _ = std::fs::remove_dir(&self.own_mount);
        }
    }
}

#[test]
fn only_docker_s_devices_open_below_the_filter() {
    assert!(child::root(), "this test needs root");
    let s = Scratch::new();
    let (cg, inner, nodes) = (&s.cg, &s.inner, &s.nodes);

    // Without the filter every node is made and opens (or fails for want of the device,
    // ENXIO, but never EPERM).
    let before = in_cgroup(inner, nodes);
    assert_eq!(&before[..4], &[0, 0, 0, 0], "/dev/null, null, mknod kmsg");
    assert_ne!(before[4], EPERM, "open kmsg");
    assert_eq!(before[5], 0, "mknod loop0");
    assert_ne!(before[6], EPERM, "open loop0");
    nodes.remove();

    let filter = DeviceFilter::default();
    filter.attach(cg).unwrap();
    // A daemon restart attaches again: one program, not two.
    filter.attach(cg).unwrap();
    assert_eq!(DeviceFilter::attached(cg).unwrap().len(), 1);
    assert!(DeviceFilter::attached(inner).unwrap().is_empty());

    let confined = in_cgroup(inner, nodes);
    assert_eq!(
        confined,
        vec![0, 0, 0, 0, EPERM, 0, EPERM],
        "/dev/null; mknod and open of null, kmsg, loop0"
    );
    // The nodes the confined child made open from outside the cgroup.
    assert_ne!(open(&nodes.kmsg), EPERM);
    assert_ne!(open(&nodes.block), EPERM);
    nodes.remove();

    DeviceFilter::detach(cg).unwrap();
    assert!(DeviceFilter::attached(cg).unwrap().is_empty());
    DeviceFilter::detach(cg).unwrap();
    let after = in_cgroup(inner, nodes);
    assert_ne!(after[4], EPERM, "kmsg opens again");
    assert_ne!(after[6], EPERM, "loop0 opens again");
}

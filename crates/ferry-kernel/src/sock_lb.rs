//! Connect-time load balancing: a `cgroup/connect4` program rewrites `connect()` to a service
//! VIP into a connect to one of its replicas, before a packet exists. The connection then
//! runs straight between client and replica, as if the client had asked for the replica:
//! no DNAT, no hairpin through the host, no masquerading, nothing per packet.
//!
//! It is only a fast path. The nftables maps stay the source of truth: a process outside the
//! cgroup, a connect before the map is filled, or a daemon that is down gets the same replica
//! choice through the host. The link to the cgroup is held by a descriptor, so a daemon that
//! dies takes its program with it and nothing is left attached.
//!
//! Map: key `(vip, port, protocol)` (8 bytes: address and port in network order, the protocol,
//! a zero), value [`SLOTS`] slots of `(address, port)` (8 bytes each; port 0 keeps the
//! client's port). A connect looks up its own port, then port 0 (a VIP balancing all of its
//! ports), picks a slot at random and rewrites the address (and the port, when the slot
//! has one).

use crate::bpf::{self, reg::*, Insn, Size};
use crate::{KernelError, Result};
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Slots per key: a power of two, so the random draw is a mask.
pub const SLOTS: usize = 64;
const KEY_SIZE: u32 = 8;
const VALUE_SIZE: u32 = (SLOTS * 8) as u32;
const MAX_ENTRIES: u32 = 65_536;

// Offsets in `struct bpf_sock_addr`.
const USER_IP4: i16 = 4;
const USER_PORT: i16 = 24;
const PROTOCOL: i16 = 36;

/// The program, for the map `map_fd`.
fn program(map_fd: std::os::fd::RawFd) -> Vec<Insn> {
    let lookup = |v: &mut Vec<Insn>| {
        v.extend(bpf::ld_map_fd(R1, map_fd));
        v.push(bpf::mov(R2, R10));
        v.push(bpf::add_imm(R2, -8));
        v.push(bpf::call(bpf::HELPER_MAP_LOOKUP_ELEM));
    };
    let mut v = vec![
        bpf::mov(R6, R1),
        bpf::ldx(Size::W, R2, R6, USER_IP4),
        bpf::ldx(Size::W, R3, R6, USER_PORT),
        bpf::ldx(Size::W, R4, R6, PROTOCOL),
        bpf::stx(Size::W, R10, -8, R2),
        bpf::stx(Size::H, R10, -4, R3),
        bpf::stx(Size::B, R10, -2, R4),
        bpf::st(Size::B, R10, -1, 0),
    ];
    lookup(&mut v);
    // Found: skip the second lookup (its 2 stores and the 5 instructions of `lookup`).
    v.push(bpf::jeq_imm(R0, 0, 1));
    v.push(bpf::ja(7));
    // Not found: the VIP's every-port entry (port 0, protocol 0).
    v.push(bpf::st(Size::H, R10, -4, 0));
    v.push(bpf::st(Size::B, R10, -2, 0));
    lookup(&mut v);
    // Still nothing: allow as is.
    let jump_at = v.len();
    v.push(bpf::jeq_imm(R0, 0, 0)); // patched below
    v.push(bpf::mov(R7, R0));
    v.push(bpf::call(bpf::HELPER_GET_PRANDOM_U32));
    v.push(bpf::and_imm(R0, (SLOTS - 1) as i32));
    v.push(bpf::lsh_imm(R0, 3));
    v.push(bpf::add(R7, R0));
    v.push(bpf::ldx(Size::W, R2, R7, 0));
    let empty_at = v.len();
    v.push(bpf::jeq_imm(R2, 0, 0)); // patched below: an empty slot (no replica) → allow
    v.push(bpf::ldx(Size::W, R3, R7, 4));
    v.push(bpf::stx(Size::W, R6, USER_IP4, R2));
    let same_port_at = v.len();
    v.push(bpf::jeq_imm(R3, 0, 0)); // patched below: port 0 keeps the client's
    v.push(bpf::stx(Size::W, R6, USER_PORT, R3));
    let allow = v.len();
    v.push(bpf::mov_imm(R0, 1));
    v.push(bpf::exit());
    for at in [jump_at, empty_at, same_port_at] {
        let off = (allow - at - 1) as i16;
        v[at].0[2..4].copy_from_slice(&off.to_le_bytes());
    }
    v
}

/// The map key of a VIP port (`port` 0 and `proto` 0: all of the VIP's ports).
pub fn key(vip: Ipv4Addr, port: u16, proto: u8) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&vip.octets());
    k[4..6].copy_from_slice(&port.to_be_bytes());
    k[6] = proto;
    k
}

/// The map value: `slots` (at most [`SLOTS`]; fewer repeat from the start), each an address
/// and a port (0: keep the client's).
pub fn value(slots: &[(Ipv4Addr, u16)]) -> Vec<u8> {
    let mut v = vec![0u8; VALUE_SIZE as usize];
    if slots.is_empty() {
        return v;
    }
    for i in 0..SLOTS {
        let (addr, port) = slots[i % slots.len()];
        let at = i * 8;
        v[at..at + 4].copy_from_slice(&addr.octets());
        v[at + 4..at + 6].copy_from_slice(&port.to_be_bytes());
    }
    v
}

/// The program, linked to a cgroup, and its map.
#[derive(Debug)]
pub struct SockLb {
    map: bpf::HashMap,
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl SockLb {
    /// Loads the program and links it to the cgroup directory `cgroup` (cgroup v2); it then
    /// applies to every process in that cgroup and below.
    pub fn attach(cgroup: &Path) -> Result<Self> {
        let map = bpf::HashMap::create("ferry_vips", KEY_SIZE, VALUE_SIZE, MAX_ENTRIES)?;
        let prog = bpf::load_program(
            "ferry_connect4",
            bpf::PROG_TYPE_CGROUP_SOCK_ADDR,
            bpf::ATTACH_CGROUP_INET4_CONNECT,
            &program(map.raw_fd()),
        )?;
        let dir = std::fs::File::open(cgroup)
            .map_err(|e| KernelError::io(format!("open cgroup {}", cgroup.display()), e))?;
        let link = bpf::link_cgroup(&prog, &OwnedFd::from(dir), bpf::ATTACH_CGROUP_INET4_CONNECT)?;
        Ok(SockLb {
            map,
            _prog: prog,
            _link: link,
        })
    }

    /// Sets the replicas of a VIP port (`port` 0, `proto` 0: all its ports); no replicas
    /// removes the entry, so connects fall through to the host's rules, which refuse them.
    pub fn set(
        &self,
        vip: Ipv4Addr,
        port: u16,
        proto: u8,
        slots: &[(Ipv4Addr, u16)],
    ) -> Result<()> {
        let k = key(vip, port, proto);
        if slots.is_empty() {
            self.map.delete(&k)
        } else {
            self.map.set(&k, &value(slots))
        }
    }

    /// Removes a VIP port.
    pub fn remove(&self, vip: Ipv4Addr, port: u16, proto: u8) -> Result<()> {
        self.map.delete(&key(vip, port, proto))
    }
}

/// The mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup` or, on hybrid systems,
/// `/sys/fs/cgroup/unified`), from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        pre.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// Mounts the cgroup v2 hierarchy at `dir`, for a daemon whose mount namespace has none
/// (`ip netns exec` remounts `/sys` without it). The same hierarchy may be mounted any
/// number of times; this mount lives and dies with the daemon's mount namespace.
pub fn mount_cgroup2(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| KernelError::io(format!("create {}", dir.display()), e))?;
    nix::mount::mount(
        Some("cgroup2"),
        dir,
        Some("cgroup2"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| KernelError::io(format!("mount cgroup2 on {}", dir.display()), e.into()))?;
    Ok(dir.to_path_buf())
}

/// Creates the cgroup `dir` (if needed) and moves the calling process, with all its threads,
/// into it; processes it starts afterwards are born there.
pub fn enter_cgroup(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| KernelError::io(format!("create cgroup {}", dir.display()), e))?;
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| KernelError::io(format!("join cgroup {}", dir.display()), e))
}

/// The cgroup v2 group of a process (`self` or a PID), relative to the hierarchy's root.
pub fn cgroup_of(pid: &str) -> Result<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| KernelError::io(format!("read the cgroup of process {pid}"), e))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|rel| PathBuf::from(rel.trim_start_matches('/')))
        .unwrap_or_default())
}

/// Moves the calling process into the cgroup v2 group of process `pid`, so that what it
/// starts runs as that process's own children would (`ferry exec` uses it).
pub fn join_cgroup_of(pid: u32) -> Result<()> {
    let mount = cgroup2_mount().ok_or_else(|| {
        KernelError::io(
            "find the cgroup v2 hierarchy",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    let dir = mount.join(cgroup_of(&pid.to_string())?);
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| KernelError::io(format!("join cgroup {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_in_network_order() {
        assert_eq!(
            key(Ipv4Addr::new(10, 0, 0, 2), 80, 6),
            [10, 0, 0, 2, 0, 80, 6, 0]
        );
        let v = value(&[
            (Ipv4Addr::new(10, 0, 0, 3), 8080),
            (Ipv4Addr::new(10, 0, 0, 4), 0),
        ]);
        assert_eq!(v.len(), SLOTS * 8);
        assert_eq!(&v[..8], &[10, 0, 0, 3, 0x1f, 0x90, 0, 0]);
        assert_eq!(&v[8..16], &[10, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(&v[16..24], &v[..8]);
        assert!(value(&[]).iter().all(|b| *b == 0));
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program(3);
        for (i, insn) in p.iter().enumerate() {
            let code = insn.0[0];
            if code == 0x15 || code == 0x05 {
                let off = i16::from_le_bytes([insn.0[2], insn.0[3]]) as isize;
                let target = i as isize + 1 + off;
                assert!(
                    target > i as isize && (target as usize) < p.len(),
                    "insn {i}"
                );
            }
        }
        assert_eq!(p.last().map(|i| i.0[0]), Some(0x95));
    }
}

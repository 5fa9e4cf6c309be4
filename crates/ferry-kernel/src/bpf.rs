//! The few `bpf(2)` commands ferry needs (create a hash map, update and delete its elements,
//! load a program, link or attach it to a cgroup, detach it, list what is attached), over the
//! raw system call, and an assembler for the
//! handful of instructions its one program uses. No BPF toolchain or object files: the program
//! is small enough to be written out here and checked by the kernel's verifier at load.

use crate::{KernelError, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `BPF_MAP_TYPE_HASH`.
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`.
pub const PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;
/// `BPF_CGROUP_INET4_CONNECT`.
pub const ATTACH_CGROUP_INET4_CONNECT: u32 = 10;
/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE`.
pub const ATTACH_CGROUP_DEVICE: u32 = 6;

/// The attribute union is 128 bytes in every kernel ferry supports; unused fields stay zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn bytes(&mut self, off: usize, v: &[u8]) -> &mut Self {
        self.0[off..off + v.len()].copy_from_slice(v);
        self
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a valid, fully initialised 128-byte buffer the kernel reads (and, for
    // PROG_LOAD, writes the log through a pointer inside it that outlives the call).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            std::mem::size_of::<Attr>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A map's or program's name as the kernel takes it: at most 15 bytes and a NUL.
fn object_name(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    n
}

fn fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// A BPF hash map.
#[derive(Debug)]
pub struct HashMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl HashMap {
    /// Creates a hash map of `max_entries` entries with fixed key and value sizes.
    pub fn create(name: &str, key_size: u32, value_size: u32, max_entries: u32) -> Result<Self> {
        let mut a = Attr::new();
        let n = object_name(name);
        a.u32(0, MAP_TYPE_HASH)
            .u32(4, key_size)
            .u32(8, value_size)
            .u32(12, max_entries)
            .bytes(28, &n);
        let r = bpf(BPF_MAP_CREATE, &mut a)
            .map_err(|e| KernelError::io(format!("create BPF map {name}"), e))?;
        Ok(HashMap {
            fd: fd(r),
            key_size: key_size as usize,
            value_size: value_size as usize,
        })
    }

    /// The map's descriptor, for a program's `ld_imm64`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sets `key` to `value` (sizes must match the map's).
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.len() != self.key_size || value.len() != self.value_size {
            return Err(KernelError::io(
                "update BPF map",
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
        let mut a = Attr::new();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u64(8, key.as_ptr() as u64)
            .u64(16, value.as_ptr() as u64);
        bpf(BPF_MAP_UPDATE_ELEM, &mut a)
            .map(|_| ())
            .map_err(|e| KernelError::io("update BPF map", e))
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut a = Attr::new();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u64(8, key.as_ptr() as u64);
        match bpf(BPF_MAP_DELETE_ELEM, &mut a) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(KernelError::io("delete from BPF map", e)),
        }
    }
}

/// Loads a program; the verifier's log is in the error when it refuses it.
pub fn load_program(
    name: &str,
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
) -> Result<OwnedFd> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.0).collect();
    let license = CString::new("Apache-2.0").unwrap_or_default();
    let mut log = vec![0u8; 64 * 1024];
    let n = object_name(name);
    let mut a = Attr::new();
    a.u32(0, prog_type)
        .u32(4, insns.len() as u32)
        .u64(8, code.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64)
        .bytes(48, &n)
        .u32(68, expected_attach_type);
    match bpf(BPF_PROG_LOAD, &mut a) {
        Ok(r) => Ok(fd(r)),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let verifier = String::from_utf8_lossy(&log[..end]);
            Err(KernelError::io(
                format!("load BPF program {name} (verifier: {})", verifier.trim()),
                e,
            ))
        }
    }
}

/// Links a program to a cgroup (given as an open directory); the link, and the attachment,
/// last until the returned descriptor is closed, so a crashed daemon leaves nothing behind.
pub fn link_cgroup(prog: &OwnedFd, cgroup: &OwnedFd, attach_type: u32) -> Result<OwnedFd> {
    let mut a = Attr::new();
    a.u32(0, prog.as_raw_fd() as u32)
        .u32(4, cgroup.as_raw_fd() as u32)
        .u32(8, attach_type);
    bpf(BPF_LINK_CREATE, &mut a)
        .map(fd)
        .map_err(|e| KernelError::io("link BPF program to cgroup", e))
}

/// Attaches a program to a cgroup with `BPF_PROG_ATTACH` and `flags` (`BPF_F_*`). Unlike a
/// link, the attachment belongs to the cgroup: it stays when every descriptor is closed and
/// the daemon is gone, until it is detached or the cgroup removed. Without
/// `BPF_F_ALLOW_MULTI`, a second attach replaces the program rather than adding one.
pub fn attach_cgroup(prog: &OwnedFd, cgroup: &OwnedFd, attach_type: u32, flags: u32) -> Result<()> {
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, attach_type)
        .u32(12, flags);
    bpf(BPF_PROG_ATTACH, &mut a)
        .map(|_| ())
        .map_err(|e| KernelError::io("attach BPF program to cgroup", e))
}

/// Detaches the program attached (without `BPF_F_ALLOW_MULTI`) to a cgroup; returns false
/// when there was none.
pub fn detach_cgroup(cgroup: &OwnedFd, attach_type: u32) -> Result<bool> {
    let mut a = Attr::new();
    // No program descriptor: the one program attached, whichever it is.
    a.u32(0, cgroup.as_raw_fd() as u32).u32(8, attach_type);
    match bpf(BPF_PROG_DETACH, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(KernelError::io("detach BPF program from cgroup", e)),
    }
}

/// The IDs of the programs attached directly to a cgroup (not inherited from its parents).
pub fn query_cgroup(cgroup: &OwnedFd, attach_type: u32) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, attach_type)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a).map_err(|e| KernelError::io("list BPF programs of cgroup", e))?;
    let count = u32::from_ne_bytes([a.0[24], a.0[25], a.0[26], a.0[27]]) as usize;
    ids.truncate(count.min(64));
    Ok(ids)
}

/// One instruction, as the kernel reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn(pub [u8; 8]);

/// Registers.
pub mod reg {
    /// Return value, helper results.
    pub const R0: u8 = 0;
    /// First argument; the context at entry.
    pub const R1: u8 = 1;
    /// Second argument.
    pub const R2: u8 = 2;
    /// Third argument.
    pub const R3: u8 = 3;
    /// Fourth argument.
    pub const R4: u8 = 4;
    /// Fifth argument.
    pub const R5: u8 = 5;
    /// Callee-saved.
    pub const R6: u8 = 6;
    /// Callee-saved.
    pub const R7: u8 = 7;
    /// Frame pointer (read only).
    pub const R10: u8 = 10;
}

/// Access sizes.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
        }
    }
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (src << 4) | (dst & 0x0f);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    Insn(b)
}

/// `dst = *(size *)(src + off)`.
pub fn ldx(size: Size, dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61 | size.bits(), dst, src, off, 0)
}
/// `*(size *)(dst + off) = src`.
pub fn stx(size: Size, dst: u8, off: i16, src: u8) -> Insn {
    insn(0x63 | size.bits(), dst, src, off, 0)
}
/// `*(size *)(dst + off) = imm`.
pub fn st(size: Size, dst: u8, off: i16, imm: i32) -> Insn {
    insn(0x62 | size.bits(), dst, 0, off, imm)
}
/// `dst = src` (64 bits).
pub fn mov(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0)
}
/// `dst = imm` (64 bits).
pub fn mov_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}
/// `dst += imm`.
pub fn add_imm(dst: u8, imm: i32) -> Insn {
    insn(0x07, dst, 0, 0, imm)
}
/// `dst += src`.
pub fn add(dst: u8, src: u8) -> Insn {
    insn(0x0f, dst, src, 0, 0)
}
/// `dst &= imm`.
pub fn and_imm(dst: u8, imm: i32) -> Insn {
    insn(0x57, dst, 0, 0, imm)
}
/// `dst >>= imm` (logical).
pub fn rsh_imm(dst: u8, imm: i32) -> Insn {
    insn(0x77, dst, 0, 0, imm)
}
/// `dst <<= imm`.
pub fn lsh_imm(dst: u8, imm: i32) -> Insn {
    insn(0x67, dst, 0, 0, imm)
}
/// `if dst == imm goto +off`.
pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x15, dst, 0, off, imm)
}
/// `if dst != imm goto +off`.
pub fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x55, dst, 0, off, imm)
}
/// `goto +off`.
pub fn ja(off: i16) -> Insn {
    insn(0x05, 0, 0, off, 0)
}
/// Calls helper number `helper`.
pub fn call(helper: i32) -> Insn {
    insn(0x85, 0, 0, 0, helper)
}
/// Returns r0.
pub fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}
/// `dst = map` (two instructions: a 64-bit load of the map's descriptor).
pub fn ld_map_fd(dst: u8, map_fd: RawFd) -> [Insn; 2] {
    [insn(0x18, dst, 1, 0, map_fd), insn(0, 0, 0, 0, 0)]
}

/// `bpf_map_lookup_elem`.
pub const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
/// `bpf_get_prandom_u32`.
pub const HELPER_GET_PRANDOM_U32: i32 = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_kernel_reads() {
        // r2 = *(u32 *)(r6 + 4)
        assert_eq!(ldx(Size::W, 2, 6, 4).0, [0x61, 0x62, 4, 0, 0, 0, 0, 0]);
        // *(u16 *)(r10 - 4) = r3
        assert_eq!(
            stx(Size::H, 10, -4, 3).0,
            [0x6b, 0x3a, 0xfc, 0xff, 0, 0, 0, 0]
        );
        // *(u8 *)(r10 - 1) = 0
        assert_eq!(
            st(Size::B, 10, -1, 0).0,
            [0x72, 0x0a, 0xff, 0xff, 0, 0, 0, 0]
        );
        // if r0 == 0 goto +5
        assert_eq!(jeq_imm(0, 0, 5).0, [0x15, 0, 5, 0, 0, 0, 0, 0]);
        // ld_imm64 r1, map fd 7: src register 1 (BPF_PSEUDO_MAP_FD)
        assert_eq!(ld_map_fd(1, 7)[0].0, [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(exit().0, [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }
}

//! The device filter of sandboxes: which device nodes their processes may create and open.
//!
//! Docker confines devices with the device cgroup; on cgroup v2 that is a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, which the kernel asks on every `mknod` and every
//! open of a device node by a process of the cgroup or below. Without it, a sandbox holding
//! `CAP_MKNOD` (in Docker's default set) could create a node for the host's disk and read or
//! write it.
//!
//! [`DeviceFilter::default`] is what runc (under Docker) allows: creating any character or
//! block node, and reading and writing only `/dev/null`, `zero`, `full`, `random`,
//! `urandom`, `tty`, `console`, `ptmx`, the pseudo-terminals (136:*) and `/dev/net/tun`.
//! Everything else is refused with EPERM.
//!
//! The program is attached with `BPF_PROG_ATTACH`, not a link: it belongs to the cgroup and
//! stays attached when the daemon exits, because sandboxes outlive the daemon and must stay
//! confined. It is attached without `BPF_F_ALLOW_MULTI` or `BPF_F_ALLOW_OVERRIDE`, so
//! attaching again (a daemon restart) replaces the program instead of adding a copy, and no
//! cgroup below can attach a device program of its own. A process of the cgroup itself is
//! confined too, so it is attached to the cgroup that holds the sandboxes, not to the
//! daemon's.

use crate::bpf::{self, reg::*, Insn, Size};
use crate::{KernelError, Result};
use std::os::fd::OwnedFd;
use std::path::Path;

/// A kind of device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A block device (`BPF_DEVCG_DEV_BLOCK`).
    Block = 1,
    /// A character device (`BPF_DEVCG_DEV_CHAR`).
    Char = 2,
}

/// What is done with a device: a set of `BPF_DEVCG_ACC_*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(pub u32);

impl Access {
    /// Creating the node (`mknod`).
    pub const MKNOD: Access = Access(1);
    /// Opening it for reading.
    pub const READ: Access = Access(2);
    /// Opening it for writing.
    pub const WRITE: Access = Access(4);
    /// All three (`rwm`).
    pub const ALL: Access = Access(7);

    /// Whether every access in `other` is in `self`.
    pub fn covers(self, other: Access) -> bool {
        other.0 & !self.0 == 0
    }
}

/// One allow rule; `None` matches any. Numbers are below 2^31 (Linux's majors have 12 bits,
/// its minors 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Block or character (`None`: both).
    pub kind: Option<Kind>,
    /// Major number.
    pub major: Option<u32>,
    /// Minor number.
    pub minor: Option<u32>,
    /// What it allows.
    pub access: Access,
}

const fn char_dev(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        kind: Some(Kind::Char),
        major: Some(major),
        minor,
        access: Access::ALL,
    }
}

/// runc's built-in rules plus Docker's `/dev/console` (runc's `AllowedDevices` and moby's
/// `oci.DefaultLinuxSpec`).
const DEFAULT_RULES: [Rule; 12] = [
    Rule {
        kind: Some(Kind::Char),
        major: None,
        minor: None,
        access: Access::MKNOD,
    },
    Rule {
        kind: Some(Kind::Block),
        major: None,
        minor: None,
        access: Access::MKNOD,
    },
    char_dev(1, Some(3)),    // null
    char_dev(1, Some(5)),    // zero
    char_dev(1, Some(7)),    // full
    char_dev(1, Some(8)),    // random
    char_dev(1, Some(9)),    // urandom
    char_dev(5, Some(0)),    // tty
    char_dev(5, Some(1)),    // console
    char_dev(5, Some(2)),    // ptmx
    char_dev(136, None),     // pts/*
    char_dev(10, Some(200)), // net/tun
];

/// Which devices a sandbox may use: the rules allow, everything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    /// The allow rules.
    pub rules: Vec<Rule>,
}

impl Default for DeviceFilter {
    fn default() -> Self {
        DeviceFilter {
            rules: DEFAULT_RULES.to_vec(),
        }
    }
}

// Offsets in `struct bpf_cgroup_dev_ctx`.
const ACCESS_TYPE: i16 = 0;
const MAJOR: i16 = 4;
const MINOR: i16 = 8;

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    std::fs::File::open(dir)
        .map(OwnedFd::from)
        .map_err(|e| KernelError::io(format!("open cgroup {}", dir.display()), e))
}

impl DeviceFilter {
    /// Whether the filter lets a process do `access` on device `kind` `major`:`minor`
    /// (what the program answers, for tests and for explaining a refusal).
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: Access) -> bool {
        self.rules.iter().any(|r| {
            r.kind.is_none_or(|k| k == kind)
                && r.major.is_none_or(|m| m == major)
                && r.minor.is_none_or(|m| m == minor)
                && r.access.covers(access)
        })
    }

    /// The program: r2 = access, r3 = kind, r4 = major, r5 = minor, then one block per
    /// rule that returns 1 (allow) when every field matches and skips to the next rule
    /// otherwise; 0 (refuse) at the end.
    pub fn program(&self) -> Vec<Insn> {
        let mut v = vec![
            bpf::ldx(Size::W, R2, R1, ACCESS_TYPE),
            bpf::mov(R3, R2),
            bpf::and_imm(R3, 0xffff),
            bpf::rsh_imm(R2, 16),
            bpf::ldx(Size::W, R4, R1, MAJOR),
            bpf::ldx(Size::W, R5, R1, MINOR),
        ];
        for r in &self.rules {
            // Jumps to the next rule are patched once the block's length is known.
            let mut block: Vec<Insn> = Vec::new();
            let mut skips = Vec::new();
            if let Some(k) = r.kind {
                skips.push(block.len());
                block.push(bpf::jne_imm(R3, k as i32, 0));
            }
            if r.access != Access::ALL {
                // Every access asked for must be in the rule's: asked & !allowed == 0.
                block.push(bpf::mov(R6, R2));
                block.push(bpf::and_imm(R6, (!r.access.0 & Access::ALL.0) as i32));
                skips.push(block.len());
                block.push(bpf::jne_imm(R6, 0, 0));
            }
            for (reg, value) in [(R4, r.major), (R5, r.minor)] {
                if let Some(n) = value {
                    skips.push(block.len());
                    block.push(bpf::jne_imm(reg, n as i32, 0));
                }
            }
            block.push(bpf::mov_imm(R0, 1));
            block.push(bpf::exit());
            let end = block.len();
            for at in skips {
                let off = (end - at - 1) as i16;
                block[at].0[2..4].copy_from_slice(&off.to_le_bytes());
            }
            v.extend(block);
        }
        v.push(bpf::mov_imm(R0, 0));
        v.push(bpf::exit());
        v
    }

    /// Loads the program and attaches it to the cgroup v2 directory `cgroup_dir`, replacing
    /// the device program attached there before (by an earlier run of the daemon). It then
    /// confines every process in the cgroup and below, and stays after the daemon exits.
    pub fn attach(&self, cgroup_dir: &Path) -> Result<()> {
        let context = format!(
            "attach the device filter to cgroup {}",
            cgroup_dir.display()
        );
        let prog = bpf::load_program(
            "ferry_devices",
            bpf::PROG_TYPE_CGROUP_DEVICE,
            0,
            &self.program(),
        )
        .map_err(|e| e.context(&context))?;
        let dir = open_dir(cgroup_dir).map_err(|e| e.context(&context))?;
        bpf::attach_cgroup(&prog, &dir, bpf::ATTACH_CGROUP_DEVICE, 0)
            .map_err(|e| e.context(&context))
    }

    /// Detaches the device program of `cgroup_dir`; nothing attached is not an error.
    pub fn detach(cgroup_dir: &Path) -> Result<()> {
        let context = format!(
            "detach the device filter from cgroup {}",
            cgroup_dir.display()
        );
        let dir = open_dir(cgroup_dir).map_err(|e| e.context(&context))?;
        bpf::detach_cgroup(&dir, bpf::ATTACH_CGROUP_DEVICE)
            .map(|_| ())
            .map_err(|e| e.context(&context))
    }

    /// The IDs of the device programs attached to `cgroup_dir` itself.
    pub fn attached(cgroup_dir: &Path) -> Result<Vec<u32>> {
        let context = format!(
            "list the device programs of cgroup {}",
            cgroup_dir.display()
        );
        let dir = open_dir(cgroup_dir).map_err(|e| e.context(&context))?;
        bpf::query_cgroup(&dir, bpf::ATTACH_CGROUP_DEVICE).map_err(|e| e.context(&context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one request: an interpreter of the few eBPF instructions it
    /// uses, so the program is checked against [`DeviceFilter::allows`] without a kernel.
    fn run(prog: &[Insn], kind: u32, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let b = prog[pc].0;
            let (dst, src) = ((b[1] & 0x0f) as usize, (b[1] >> 4) as usize);
            let off = i16::from_le_bytes([b[2], b[3]]);
            let imm = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            let mut next = pc + 1;
            match b[0] {
                0x61 => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[off as usize / 4]);
                }
                0xbf => r[dst] = r[src],
                0xb7 => r[dst] = imm as i64 as u64,
                0x57 => r[dst] &= imm as i64 as u64,
                0x77 => r[dst] >>= imm,
                0x55 | 0x15 | 0x05 => {
                    let taken = match b[0] {
                        0x55 => r[dst] != imm as i64 as u64,
                        0x15 => r[dst] == imm as i64 as u64,
                        _ => true,
                    };
                    assert!(off >= 0, "backward jump at {pc}");
                    if taken {
                        next = pc + 1 + off as usize;
                    }
                }
                0x95 => return r[0],
                other => panic!("instruction {other:#x} at {pc}"),
            }
            assert!(next < prog.len(), "jump out of the program at {pc}");
            pc = next;
        }
    }

    #[test]
    fn the_program_answers_as_the_rules() {
        let f = DeviceFilter::default();
        let p = f.program();
        let majors = [0, 1, 4, 5, 7, 8, 10, 136, 137, 254];
        let minors = [0, 1, 2, 3, 5, 7, 8, 9, 11, 200, 229];
        for (kind, k) in [(Kind::Block, 1), (Kind::Char, 2)] {
            for major in majors {
                for minor in minors {
                    for access in 1..=7 {
                        let want = f.allows(kind, major, minor, Access(access));
                        let got = run(&p, k, major, minor, access);
                        assert_eq!(got, want as u64, "{kind:?} {major}:{minor} access {access}");
                    }
                }
            }
        }
    }

    #[test]
    fn docker_s_devices_only() {
        let f = DeviceFilter::default();
        let rw = Access(Access::READ.0 | Access::WRITE.0);
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (136, 4),
            (10, 200),
        ] {
            assert!(f.allows(Kind::Char, major, minor, rw), "{major}:{minor}");
            assert!(
                !f.allows(Kind::Block, major, minor, Access::READ),
                "block {major}:{minor}"
            );
        }
        // mem, kmsg, fuse, a disk, loop0.
        for (kind, major, minor) in [
            (Kind::Char, 1, 1),
            (Kind::Char, 1, 11),
            (Kind::Char, 10, 229),
            (Kind::Block, 254, 0),
            (Kind::Block, 7, 0),
        ] {
            assert!(
                !f.allows(kind, major, minor, Access::READ),
                "{major}:{minor}"
            );
            assert!(
                !f.allows(kind, major, minor, Access::WRITE),
                "{major}:{minor}"
            );
            assert!(
                f.allows(kind, major, minor, Access::MKNOD),
                "{major}:{minor}"
            );
        }
    }

    #[test]
    fn wider_rules_compile_too() {
        let f = DeviceFilter {
            rules: vec![
                Rule {
                    kind: None,
                    major: Some(7),
                    minor: None,
                    access: Access::READ,
                },
                Rule {
                    kind: Some(Kind::Block),
                    major: Some(8),
                    minor: Some(0),
                    access: Access(Access::READ.0 | Access::MKNOD.0),
                },
            ],
        };
        let p = f.program();
        for kind in [1, 2] {
            for major in [7, 8, 9] {
                for access in 1..=7 {
                    let k = if kind == 1 { Kind::Block } else { Kind::Char };
                    assert_eq!(
                        run(&p, kind, major, 0, access),
                        f.allows(k, major, 0, Access(access)) as u64
                    );
                }
            }
        }
        assert_eq!(DeviceFilter { rules: vec![] }.program().len(), 8);
    }
}

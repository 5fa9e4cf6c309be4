//! A classic BPF interpreter for the instructions the compiler emits, run on a
//! `seccomp_data` the test chooses: the filters are checked exactly, without a kernel. It
//! also checks what the kernel's loader checks (jumps inside the program, aligned loads
//! inside `seccomp_data`, a return at the end of every path).

use libc::sock_filter;

/// A system call as seccomp sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub nr: u32,
    pub arch: u32,
    pub args: [u64; 6],
}

impl Call {
    /// An x86_64 call.
    pub fn x86_64(nr: u32, args: &[u64]) -> Call {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        Call {
            nr,
            arch: super::cbpf::AUDIT_ARCH_X86_64,
            args: a,
        }
    }

    fn word(&self, off: u32) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        data[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let o = off as usize;
        u32::from_ne_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]])
    }
}

/// Runs `prog` on `call`; returns the filter's value. Panics on anything the kernel would
/// refuse to load.
pub fn run(prog: &[sock_filter], call: &Call) -> u32 {
    assert!(!prog.is_empty() && prog.len() <= super::cbpf::MAX_INSNS);
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = prog[pc];
        let next = |off: u32| {
            let t = pc + 1 + off as usize;
            assert!(t < prog.len(), "jump out of the program at {pc}");
            t
        };
        pc = match i.code {
            0x20 => {
                assert!(
                    i.k.is_multiple_of(4) && i.k < 64,
                    "load at {} of {}",
                    pc,
                    i.k
                );
                a = call.word(i.k);
                pc + 1
            }
            0x54 => {
                a &= i.k;
                pc + 1
            }
            0x05 => next(i.k),
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    _ => a & i.k != 0,
                };
                next(u32::from(if taken { i.jt } else { i.jf }))
            }
            0x06 => return i.k,
            other => panic!("instruction {other:#x} at {pc}"),
        };
        assert!(pc < prog.len(), "ran off the end");
    }
}

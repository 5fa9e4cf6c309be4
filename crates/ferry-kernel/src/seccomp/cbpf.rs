//! The rule table compiled to classic BPF, the program seccomp runs on every system call.
//!
//! Layout:
//! 1. the architecture must be `AUDIT_ARCH_X86_64`, and the number must not have the x32 bit
//!    (bit 30); anything else (an i386 call through `int 0x80`, an x32 call) kills the
//!    process, since the rules only speak of x86_64 numbers;
//! 2. a binary search over the numbers that have rules (about nine comparisons for Docker's
//!    profile instead of hundreds), down to leaves of a few numbers compared in turn;
//! 3. each number's block: its rules with conditions, each a run of 32-bit comparisons
//!    (a 64-bit argument is compared as its high and low halves) ending in the rule's
//!    return, then the return of its rule without conditions or the default.
//!
//! Classic BPF jumps only forward, and a conditional jump by at most 255. Every piece is
//! built as a self-contained run of instructions ending in returns; a conditional jump only
//! ever crosses a few instructions of its own condition or rule, and the long ones (over a
//! subtree, over a long block) use `ja`, whose offset has 32 bits.

use super::profile::Op;
use super::rules::{Cond, Rules, Table, Verdict};
use super::SeccompError;
use libc::sock_filter;

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// `AUDIT_ARCH_X86_64`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// The bit x32 system call numbers carry.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}
const fn arg_hi(i: u8) -> u32 {
    20 + 8 * i as u32
}

// Opcodes.
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05;
const JMP_JEQ: u16 = 0x15;
const JMP_JGT: u16 = 0x25;
const JMP_JGE: u16 = 0x35;
const JMP_JSET: u16 = 0x45;
const ALU_AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

/// How many numbers a leaf of the search compares in turn.
const LEAF: usize = 4;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn ret(v: Verdict) -> sock_filter {
    stmt(RET_K, v.ret())
}

fn ld(off: u32) -> sock_filter {
    stmt(LD_W_ABS, off)
}

/// A jump target inside one rule: the next condition (pass) or the next rule (fail).
#[derive(Clone, Copy)]
enum To {
    /// Skip this many instructions (within the condition).
    Skip(u8),
    /// The rule failed.
    Fail,
}

struct Pending {
    insn: sock_filter,
    jt: Option<To>,
    jf: Option<To>,
}

fn plain(insn: sock_filter) -> Pending {
    Pending {
        insn,
        jt: None,
        jf: None,
    }
}

fn cmp(code: u16, k: u32, jt: To, jf: To) -> Pending {
    Pending {
        insn: jump(code, k, 0, 0),
        jt: Some(jt),
        jf: Some(jf),
    }
}

const NEXT: To = To::Skip(0);

/// One condition; falls through when it holds, jumps to `Fail` when not.
fn condition(c: &Cond, out: &mut Vec<Pending>) {
    let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    let (lo_at, hi_at) = (arg_lo(c.index), arg_hi(c.index));
    match c.op {
        Op::Eq => out.extend([
            plain(ld(hi_at)),
            cmp(JMP_JEQ, hi, NEXT, To::Fail),
            plain(ld(lo_at)),
            cmp(JMP_JEQ, lo, NEXT, To::Fail),
        ]),
        Op::Ne => out.extend([
            plain(ld(hi_at)),
            cmp(JMP_JEQ, hi, NEXT, To::Skip(2)),
            plain(ld(lo_at)),
            cmp(JMP_JEQ, lo, To::Fail, NEXT),
        ]),
        Op::Gt | Op::Ge => out.extend([
            plain(ld(hi_at)),
            cmp(JMP_JGT, hi, To::Skip(3), NEXT),
            cmp(JMP_JEQ, hi, NEXT, To::Fail),
            plain(ld(lo_at)),
            cmp(
                if c.op == Op::Gt { JMP_JGT } else { JMP_JGE },
                lo,
                NEXT,
                To::Fail,
            ),
        ]),
        Op::Lt | Op::Le => out.extend([
            plain(ld(hi_at)),
            cmp(JMP_JGT, hi, To::Fail, NEXT),
            cmp(JMP_JEQ, hi, NEXT, To::Skip(2)),
            plain(ld(lo_at)),
            cmp(
                if c.op == Op::Lt { JMP_JGE } else { JMP_JGT },
                lo,
                To::Fail,
                NEXT,
            ),
        ]),
        Op::MaskedEq => {
            let (dhi, dlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            out.extend([
                plain(ld(hi_at)),
                plain(stmt(ALU_AND_K, hi)),
                cmp(JMP_JEQ, dhi, NEXT, To::Fail),
                plain(ld(lo_at)),
                plain(stmt(ALU_AND_K, lo)),
                cmp(JMP_JEQ, dlo, NEXT, To::Fail),
            ])
        }
    }
}

fn offset(at: usize, target: usize) -> Result<u8, SeccompError> {
    u8::try_from(target - at - 1).map_err(|_| SeccompError::Internal("conditional jump too long"))
}

/// One rule with conditions: its comparisons and its return; a failed comparison jumps
/// to the end, where the next rule starts.
fn rule(conds: &[Cond], v: Verdict, out: &mut Vec<sock_filter>) -> Result<(), SeccompError> {
    let mut pending = Vec::new();
    for c in conds {
        condition(c, &mut pending);
    }
    pending.push(plain(ret(v)));
    let end = pending.len();
    for (at, p) in pending.iter().enumerate() {
        let resolve = |t: Option<To>| match t {
            None => Ok(0),
            Some(To::Skip(n)) => Ok(n),
            Some(To::Fail) => offset(at, end),
        };
        let mut insn = p.insn;
        insn.jt = resolve(p.jt)?;
        insn.jf = resolve(p.jf)?;
        out.push(insn);
    }
    Ok(())
}

/// The block of one system call; every path ends in a return.
fn block(rules: &Rules, default: Verdict) -> Result<Vec<sock_filter>, SeccompError> {
    let mut out = Vec::new();
    for (conds, v) in &rules.when {
        rule(conds, *v, &mut out)?;
    }
    out.push(ret(rules.otherwise.unwrap_or(default)));
    Ok(out)
}

/// `ja` over `n` instructions.
fn ja(n: usize) -> Result<sock_filter, SeccompError> {
    let k = u32::try_from(n).map_err(|_| SeccompError::Internal("program too long"))?;
    Ok(stmt(JMP_JA, k))
}

/// The search over `entries` (sorted by number), with the number in A.
fn search(
    entries: &[(u32, Vec<sock_filter>)],
    default: Verdict,
) -> Result<Vec<sock_filter>, SeccompError> {
    let mut out = Vec::new();
    if entries.len() <= LEAF {
        for (nr, code) in entries {
            match u8::try_from(code.len()) {
                Ok(n) => out.push(jump(JMP_JEQ, *nr, 0, n)),
                Err(_) => {
                    out.push(jump(JMP_JEQ, *nr, 1, 0));
                    out.push(ja(code.len())?);
                }
            }
            out.extend_from_slice(code);
        }
        out.push(ret(default));
        return Ok(out);
    }
    let mid = entries.len() / 2;
    let low = search(&entries[..mid], default)?;
    let high = search(&entries[mid..], default)?;
    let split = entries[mid].0;
    match u8::try_from(low.len()) {
        Ok(n) => out.push(jump(JMP_JGE, split, n, 0)),
        Err(_) => {
            out.push(jump(JMP_JGE, split, 0, 1));
            out.push(ja(low.len())?);
        }
    }
    out.extend(low);
    out.extend(high);
    Ok(out)
}

/// The program for `table`.
pub fn generate(table: &Table) -> Result<Vec<sock_filter>, SeccompError> {
    let bad_arch = ret(Verdict::KillProcess);
    let mut out = vec![
        ld(OFF_ARCH),
        jump(JMP_JEQ, AUDIT_ARCH_X86_64, 1, 0),
        bad_arch,
        ld(OFF_NR),
        jump(JMP_JSET, X32_SYSCALL_BIT, 0, 1),
        bad_arch,
    ];
    let mut entries = Vec::with_capacity(table.syscalls.len());
    for (nr, rules) in &table.syscalls {
        // A number whose only outcome is the default needs no block.
        if rules.when.is_empty() && rules.otherwise.is_none_or(|v| v == table.default) {
            continue;
        }
        entries.push((*nr, block(rules, table.default)?));
    }
    out.extend(search(&entries, table.default)?);
    if out.len() > MAX_INSNS {
        return Err(SeccompError::TooLong { len: out.len() });
    }
    Ok(out)
}

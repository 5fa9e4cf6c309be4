//! Starting the child without copying the daemon: `clone3` with `CLONE_VM | CLONE_VFORK`, as
//! `posix_spawn` does. A fork copies the page tables of the daemon's whole address space, and
//! afterwards every page the daemon writes takes a fault until the child has exec'd; in a
//! start that was the largest single cost after the firewall. With `CLONE_VM` the child runs
//! on a stack of its own in the daemon's memory, and the calling thread is suspended until the
//! child has exec'd or exited (`CLONE_VFORK`), so the plan it reads stays in place.
//!
//! The child may touch nothing the daemon's other threads use: `child::run` only makes system
//! calls on prepared data (no allocation, no locks), which a forked child of a threaded
//! process needed already. Signals are blocked across the clone and the child resets every
//! handler to its default before it unblocks them, so no daemon handler runs in it.

use super::child::{self, ChildPlan};
use super::mounts::Step;

/// The child's stack: `child::run` and the mount steps need a few KiB.
const STACK_SIZE: usize = 256 * 1024;

/// What the child's entry point gets.
struct Entry<'a> {
    plan: &'a ChildPlan,
    steps: &'a [Step],
    pipe: i32,
}

extern "C" fn child_entry(entry: *const Entry<'_>) -> ! {
    // SAFETY: the parent keeps `entry` alive, and is suspended, until this child has exec'd
    // or exited (CLONE_VFORK).
    unsafe {
        let e = &*entry;
        child::run(e.plan, e.steps, e.pipe)
    }
}

/// Clones a child that runs `child::run(plan, steps, pipe)` and returns its PID (or -1 with
/// `errno` set), once it has exec'd or exited. `None` where this way of cloning is not
/// available (the caller forks instead).
pub(super) fn clone(
    args: &mut libc::clone_args,
    plan: &ChildPlan,
    steps: &[Step],
    pipe: i32,
) -> Option<libc::c_long> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: an anonymous private mapping, unmapped below once the child no longer runs.
        let stack = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if stack == libc::MAP_FAILED {
            return None;
        }
        let entry = Entry { plan, steps, pipe };
        args.flags |= (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        args.stack = stack as u64;
        args.stack_size = STACK_SIZE as u64;
        // No daemon handler may run in the child before it has reset them all.
        // SAFETY: plain signal mask calls on sets made here.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        }
        // SAFETY: see `clone3_on_stack`; `entry` outlives the child's use of it (CLONE_VFORK).
        let r = unsafe { clone3_on_stack(args, child_entry, &entry) };
        let errno = std::io::Error::last_os_error();
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::munmap(stack, STACK_SIZE);
        }
        if r < 0 {
            args.flags &= !((libc::CLONE_VM | libc::CLONE_VFORK) as u64);
            args.stack = 0;
            args.stack_size = 0;
            match errno.raw_os_error() {
                // A kernel that refuses this combination: the caller forks.
                Some(libc::EINVAL) | Some(libc::ENOSYS) => return None,
                // Restore errno for the caller's error.
                Some(e) => unsafe { *libc::__errno_location() = e },
                None => {}
            }
        }
        Some(r)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (args, plan, steps, pipe);
        None
    }
}

/// `clone3(args)`; the child calls `entry(arg)` on the stack `args` gives and never returns.
///
/// # Safety
/// `args` must have `CLONE_VM` with a valid stack whose top is 16-byte aligned; `entry` must
/// not return, and must touch only what stays valid while the child runs.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_on_stack(
    args: &mut libc::clone_args,
    entry: extern "C" fn(*const Entry<'_>) -> !,
    arg: *const Entry<'_>,
) -> libc::c_long {
    let ret: libc::c_long;
    // The child returns from `syscall` with 0 in rax on the new stack, where it can only call
    // onwards: the parent's frame is not there.
    std::arch::asm!(
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "xor ebp, ebp",
        "mov rdi, r12",
        "call r13",
        "ud2",
        "2:",
        inlateout("rax") libc::SYS_clone3 => ret,
        in("rdi") args as *mut libc::clone_args,
        in("rsi") std::mem::size_of::<libc::clone_args>(),
        in("r12") arg,
        in("r13") entry,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    if ret < 0 {
        *libc::__errno_location() = (-ret) as i32;
        return -1;
    }
    ret
}

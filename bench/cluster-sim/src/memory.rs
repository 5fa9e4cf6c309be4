//! What the nodes cost in memory: the process's resident set, and the heap the process holds
//! when the binary counts its allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Bytes live on the heap, when [`Counting`] is the global allocator.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Whether [`Counting`] has served an allocation (it is then the global allocator).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting live bytes; install it with `#[global_allocator]`.
pub struct Counting;

// SAFETY: every call is passed on to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            COUNTING.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            COUNTING.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

/// Bytes live on the heap now, if the allocations are counted.
pub fn live_heap() -> Option<u64> {
    COUNTING
        .load(Ordering::Relaxed)
        .then(|| u64::try_from(LIVE.load(Ordering::Relaxed)).unwrap_or(0))
}

/// The resident set of a process (this one for `None`), in bytes.
pub fn rss(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    vm_rss(&std::fs::read_to_string(path).ok()?)
}

/// The CPU time a process (this one for `None`) has used, user and system together.
pub fn cpu_time(pid: Option<u32>) -> Option<std::time::Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let ticks = stat_ticks(&std::fs::read_to_string(path).ok()?)?;
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_sec = u64::try_from(per_sec).ok().filter(|t| *t > 0)?;
    Some(std::time::Duration::from_millis(ticks * 1000 / per_sec))
}

/// utime + stime of a `/proc/PID/stat` line, in clock ticks (the fields after the command
/// name, which may hold spaces, so counting starts after its closing parenthesis).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        assert_eq!(vm_rss("Name:\tx\nVmRSS:\t  1234 kB\n"), Some(1234 * 1024));
        assert_eq!(vm_rss("Name:\tx\n"), None);
        assert!(rss(None).is_some_and(|b| b > 0));
    }

    #[test]
    fn reads_cpu_ticks() {
        let line = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(stat_ticks(line), Some(10));
        assert!(cpu_time(None).is_some());
    }
}

//! libnftables, called in-process: the library the `nft` binary is built on, loaded at run time
//! (`libnftables.so.1`, installed with nftables). Parsing and committing a script in-process
//! saves the ~2 ms of starting an `nft` process for each operation. When the library cannot be
//! loaded, callers fall back to the binary.
//!
//! A context opens its netlink socket in the network namespace of the thread that creates it.
//! The daemon's own namespace keeps one context for the life of the process: closing a
//! context's socket costs milliseconds (the kernel releases the socket's nf_tables state under
//! its locks), and its ruleset cache is reused. Other namespaces (a sandbox's) get a context
//! per call, freed at once, which holds no namespace alive.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, OnceLock};

type NewFn = unsafe extern "C" fn(u32) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type CtxFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type GetBufFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int; // (ctx, filename)
type DryRunFn = unsafe extern "C" fn(*mut c_void, bool);

/// The library's entry points (the handle is never closed: they stay valid for the process).
struct Lib {
    ctx_new: NewFn,
    ctx_free: FreeFn,
    buffer_output: CtxFn,
    buffer_error: CtxFn,
    error_buffer: GetBufFn,
    run_file: RunFn,
    set_dry_run: DryRunFn,
}

static LIB: OnceLock<Option<Lib>> = OnceLock::new();
/// libnftables keeps some state outside its contexts; calls are serialised to be safe. The
/// lock also guards the context kept for the process's own namespace.
static CALLS: Mutex<Kept> = Mutex::new(Kept(None));

/// The context of the process's own network namespace, with that namespace's identity.
struct Kept(Option<((u64, u64), *mut c_void)>);

// SAFETY: the context is only used under the CALLS lock, by one thread at a time, and
// libnftables contexts are not tied to the thread that made them (only to its namespace).
unsafe impl Send for Kept {}

/// The process's own network namespace (its first thread's), read once.
fn own_namespace() -> Option<(u64, u64)> {
    static OWN: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    *OWN.get_or_init(|| crate::netns::identity(std::path::Path::new("/proc/self/ns/net")))
}

fn symbol(handle: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: handle came from dlopen and is never closed; name is NUL-terminated.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

fn load() -> Option<Lib> {
    // SAFETY: dlopen with a constant, NUL-terminated name.
    let handle = unsafe { libc::dlopen(c"libnftables.so.1".as_ptr(), libc::RTLD_NOW) };
    if handle.is_null() {
        tracing::debug!("libnftables.so.1 not loadable; the nft binary is used instead");
        return None;
    }
    // SAFETY: each symbol is transmuted to the signature libnftables(3) documents for it.
    let lib = unsafe {
        Lib {
            ctx_new: std::mem::transmute::<*mut c_void, NewFn>(symbol(handle, c"nft_ctx_new")?),
            ctx_free: std::mem::transmute::<*mut c_void, FreeFn>(symbol(handle, c"nft_ctx_free")?),
            buffer_output: std::mem::transmute::<*mut c_void, CtxFn>(symbol(
                handle,
                c"nft_ctx_buffer_output",
            )?),
            buffer_error: std::mem::transmute::<*mut c_void, CtxFn>(symbol(
                handle,
                c"nft_ctx_buffer_error",
            )?),
            error_buffer: std::mem::transmute::<*mut c_void, GetBufFn>(symbol(
                handle,
                c"nft_ctx_get_error_buffer",
            )?),
            run_file: std::mem::transmute::<*mut c_void, RunFn>(symbol(
                handle,
                c"nft_run_cmd_from_filename",
            )?),
            set_dry_run: std::mem::transmute::<*mut c_void, DryRunFn>(symbol(
                handle,
                c"nft_ctx_set_dry_run",
            )?),
        }
    };
    tracing::debug!("using libnftables in-process");
    Some(lib)
}

/// Whether the library loads.
pub(crate) fn loadable() -> bool {
    LIB.get_or_init(load).is_some()
}

/// The outcome of running a script in-process.
pub(crate) enum Run {
    /// The library is not available: use the binary.
    Unavailable,
    /// The script was applied (or, in a dry run, accepted).
    Applied,
    /// libnftables refused it, with its error text.
    Failed(String),
}

/// An anonymous in-memory file holding `script`.
fn script_file(script: &str) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: constant, NUL-terminated name; the returned descriptor is owned by the File.
    let fd = unsafe { libc::memfd_create(c"ferry-nft".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.write_all(script.as_bytes())?;
    Ok(f)
}

/// Runs `script` as one transaction through libnftables (a dry run with `check`).
pub(crate) fn run(script: &str, check: bool) -> Run {
    let Some(lib) = LIB.get_or_init(load) else {
        return Run::Unavailable;
    };
    let mut kept = CALLS.lock().unwrap_or_else(|p| p.into_inner());
    // libnftables waits on its socket with select(): a descriptor number at or above 1024
    // would abort the process. Long-lived descriptors live above 1024 (fds.rs), so low
    // numbers are normally free; when they are not, the binary is used instead.
    if crate::fds::lowest_free().is_none_or(|n| n >= 1000) {
        tracing::debug!("no low descriptor free: nft binary used for this transaction");
        return Run::Unavailable;
    }
    // The script goes in through a memory file rather than nft_run_cmd_from_buffer: errors
    // then name the file and the line (libnftables 1.0.6 shows the buffer's first line for an
    // error on any line of a buffer).
    let file = match script_file(script) {
        Ok(f) => f,
        Err(e) => return Run::Failed(format!("cannot stage the script in memory: {e}")),
    };
    let Ok(path) = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
        return Run::Failed("bad script path".into());
    };
    // The process's own namespace keeps its context; any other gets one for this call.
    let here = crate::netns::identity(std::path::Path::new("/proc/thread-self/ns/net"));
    let own = here.is_some() && here == own_namespace();
    // SAFETY: a context is used by one thread at a time (under CALLS); the error buffer is
    // copied before a context is freed; a kept context was made in the namespace `here`.
    unsafe {
        let reuse = match kept.0 {
            Some((id, ctx)) if own && Some(id) == here => Some(ctx),
            _ => None,
        };
        let ctx = match reuse {
            Some(ctx) => ctx,
            None => {
                let ctx = (lib.ctx_new)(0);
                if ctx.is_null() {
                    return Run::Unavailable;
                }
                (lib.buffer_output)(ctx);
                (lib.buffer_error)(ctx);
                ctx
            }
        };
        (lib.set_dry_run)(ctx, check);
        let rc = (lib.run_file)(ctx, path.as_ptr());
        // Reading the buffer rewinds it: the next run's errors start afresh.
        let err = {
            let p = (lib.error_buffer)(ctx);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().trim().to_string()
            }
        };
        match (own, here) {
            (true, Some(id)) => {
                if let Some((_, old)) = kept.0.replace((id, ctx)) {
                    if old != ctx {
                        (lib.ctx_free)(old);
                    }
                }
            }
            _ => (lib.ctx_free)(ctx),
        }
        if rc == 0 {
            Run::Applied
        } else {
            Run::Failed(err)
        }
    }
}

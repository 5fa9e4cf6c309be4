//! libnftables, called in-process: the library the `nft` binary is built on, loaded at run time
//! (`libnftables.so.1`, installed with nftables). Parsing and committing a script in-process
//! saves the ~2 ms of starting an `nft` process for each operation. When the library cannot be
//! loaded, callers fall back to the binary.
//!
//! A context opens its netlink socket in the network namespace of the thread that creates it,
//! so each call makes its own context on the calling thread: the namespace rule is the same as
//! for the binary.

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
/// libnftables keeps some state outside its contexts; calls are serialised to be safe.
static CALLS: Mutex<()> = Mutex::new(());

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
    let _guard = CALLS.lock().unwrap_or_else(|p| p.into_inner());
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
    // SAFETY: the context is created, used and freed here on one thread; the error buffer
    // is copied before the context is freed.
    unsafe {
        let ctx = (lib.ctx_new)(0);
        if ctx.is_null() {
            return Run::Unavailable;
        }
        (lib.buffer_output)(ctx);
        (lib.buffer_error)(ctx);
        if check {
            (lib.set_dry_run)(ctx, true);
        }
        let rc = (lib.run_file)(ctx, path.as_ptr());
        let err = {
            let p = (lib.error_buffer)(ctx);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().trim().to_string()
            }
        };
        (lib.ctx_free)(ctx);
        if rc == 0 {
            Run::Applied
        } else {
            Run::Failed(err)
        }
    }
}

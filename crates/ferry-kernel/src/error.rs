//! Errors of kernel operations, each naming the operation that failed.

/// A failed kernel operation.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A netlink request failed.
    #[error("{op}: {message}")]
    Netlink {
        /// What was being done.
        op: String,
        /// The kernel's answer.
        message: String,
        /// The errno, when the kernel gave one.
        errno: Option<i32>,
    },
}

impl KernelError {
    /// An I/O error with context.
    pub fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        KernelError::Io {
            op: op.into(),
            source,
        }
    }

    /// An errno-style error with context.
    pub fn errno(op: impl Into<String>, e: nix::errno::Errno) -> Self {
        KernelError::Io {
            op: op.into(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }
    }

    /// The errno behind the error, if known.
    pub fn raw_errno(&self) -> Option<i32> {
        match self {
            KernelError::Io { source, .. } => source.raw_os_error(),
            KernelError::Netlink { errno, .. } => *errno,
        }
    }
}

/// Result of a kernel operation.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

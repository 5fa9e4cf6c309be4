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
    /// The kernel cannot make links of this kind: the module is not built or not loadable.
    #[error("{op}: this kernel has no {kind} support (the {module} module is not built in nor loadable); use a kernel with CONFIG_{config}, or another driver")]
    LinkKindUnsupported {
        /// What was being done.
        op: String,
        /// The link kind (`ipvlan`, `vlan`, ...).
        kind: String,
        /// The kernel module that provides it.
        module: String,
        /// Its kernel config option, without `CONFIG_`.
        config: String,
    },
    /// A program ferry runs (nft, ...) is not installed.
    #[error("{tool} not found (searched {searched}): {hint}")]
    ToolMissing {
        /// The program's name.
        tool: String,
        /// Where it was looked for.
        searched: String,
        /// What the user can do about it.
        hint: String,
    },
    /// `nft` rejected a ruleset or a command.
    #[error("{op}: nft failed: {message}{}", nft_line(.line))]
    Nft {
        /// What was being done.
        op: String,
        /// nft's error output, trimmed.
        message: String,
        /// The script line nft complained about (1-based number, text), when it named one.
        line: Option<(usize, String)>,
    },
}

fn nft_line(line: &Option<(usize, String)>) -> String {
    match line {
        Some((n, text)) => format!(" (script line {n}: {})", text.trim()),
        None => String::new(),
    }
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

    /// The same error with `outer` put in front of what was being done.
    pub fn context(self, outer: &str) -> Self {
        match self {
            KernelError::Io { op, source } => KernelError::Io {
                op: format!("{outer}: {op}"),
                source,
            },
            KernelError::Netlink { op, message, errno } => KernelError::Netlink {
                op: format!("{outer}: {op}"),
                message,
                errno,
            },
            KernelError::Nft { op, message, line } => KernelError::Nft {
                op: format!("{outer}: {op}"),
                message,
                line,
            },
            KernelError::LinkKindUnsupported {
                op,
                kind,
                module,
                config,
            } => KernelError::LinkKindUnsupported {
                op: format!("{outer}: {op}"),
                kind,
                module,
                config,
            },
            // Its message already says what is missing and what to do.
            e @ KernelError::ToolMissing { .. } => e,
        }
    }

    /// The errno behind the error, if known.
    pub fn raw_errno(&self) -> Option<i32> {
        match self {
            KernelError::Io { source, .. } => source.raw_os_error(),
            KernelError::Netlink { errno, .. } => *errno,
            KernelError::LinkKindUnsupported { .. } => Some(libc::EOPNOTSUPP),
            KernelError::ToolMissing { .. } | KernelError::Nft { .. } => None,
        }
    }
}

/// Result of a kernel operation.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

//! What can go wrong joining, running and leaving a swarm, each with the kind of API error it
//! becomes.

use ferry_types::{ErrorKind, FerryError};

/// Failures of swarm operations.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// Bad input from the user.
    #[error("{0}")]
    Invalid(String),
    /// The operation needs this node to be in a swarm.
    #[error(
        "this node is not part of a swarm: run `ferry swarm init` or `ferry swarm join` first"
    )]
    NotMember,
    /// The node is in a swarm already.
    #[error("this node is already part of a swarm: run `ferry swarm leave` first")]
    AlreadyMember,
    /// The operation needs a manager.
    #[error("this node is not a swarm manager: worker nodes cannot change the swarm; run this on a manager")]
    NotManager,
    /// The cluster refused (a bad token, a CA that does not match).
    #[error("{0}")]
    Refused(String),
    /// Something the operation needs cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The state does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// No such node.
    #[error("{0}")]
    NotFound(String),
    /// The cluster store failed.
    #[error("the swarm's store: {0}")]
    Store(#[from] ferry_store::StoreError),
    /// A certificate, key or token problem.
    #[error("{0}")]
    Pki(#[from] ferry_pki::PkiError),
    /// A file or process of this node.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl SwarmError {
    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SwarmError {
        let what = what.into();
        move |source| SwarmError::Io { what, source }
    }

    /// The API's kind of error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SwarmError::Invalid(_) | SwarmError::Pki(_) => ErrorKind::InvalidInput,
            SwarmError::NotMember | SwarmError::NotManager | SwarmError::Unavailable(_) => {
                ErrorKind::Unavailable
            }
            SwarmError::Refused(_) => ErrorKind::Forbidden,
            SwarmError::AlreadyMember | SwarmError::Conflict(_) => ErrorKind::Conflict,
            SwarmError::NotFound(_) => ErrorKind::NotFound,
            SwarmError::Store(ferry_store::StoreError::Conflict { .. }) => ErrorKind::Conflict,
            SwarmError::Store(_) => ErrorKind::Unavailable,
            SwarmError::Io { .. } | SwarmError::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<SwarmError> for FerryError {
    fn from(e: SwarmError) -> Self {
        FerryError::new(e.kind(), e.to_string())
    }
}

/// A result of a swarm operation.
pub type Result<T, E = SwarmError> = std::result::Result<T, E>;

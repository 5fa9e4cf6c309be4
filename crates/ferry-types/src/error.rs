//! The one error type that crosses the API: a message for the user and a kind that maps to an
//! HTTP status, as Docker's API does (400, 403, 404, 408, 409, 413, 500).

use std::fmt;

/// What went wrong, in the terms an API client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// The request is malformed or its values are invalid (HTTP 400).
    InvalidInput,
    /// The request is valid but not allowed in this state, e.g. connecting to `host` (HTTP 403).
    Forbidden,
    /// A named object does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with existing objects: a taken name or address, a network in use (HTTP 409).
    Conflict,
    /// The client took too long to send its request (HTTP 408).
    Timeout,
    /// The request body is larger than the API accepts (HTTP 413).
    TooLarge,
    /// The daemon or the kernel failed (HTTP 500).
    Internal,
    /// The node cannot do it in its present role or state, e.g. swarm commands on a node
    /// that is not a manager, or a cluster store out of reach (HTTP 503).
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status Docker's API uses for this kind of error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidInput => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Timeout => 408,
            ErrorKind::TooLarge => 413,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The kind an HTTP status stands for (used by the client).
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => ErrorKind::InvalidInput,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            408 => ErrorKind::Timeout,
            413 => ErrorKind::TooLarge,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error with a message meant for a person: what failed, why, and what to do.
#[derive(Debug, Clone)]
pub struct FerryError {
    /// How the API reports it.
    pub kind: ErrorKind,
    /// The message shown to the user.
    pub message: String,
    /// What caused it (a kernel or store error), kept for the log: the message already says
    /// it in brief for the user.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl FerryError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }
    /// Invalid input (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// Not allowed (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// Unknown object (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// Conflict with existing state (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// Request body too large (413).
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }
    /// Request not received in time (408).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// Something the request needs is not there yet (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// Daemon or kernel failure (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The same error with `context: ` put before its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
            source: self.source,
        }
    }
}

impl FerryError {
    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// The message followed by every cause, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(e) = next {
            let text = e.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }
}

/// Two errors are the same when they say the same (their causes are for the log).
impl PartialEq for FerryError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for FerryError {}

impl std::error::Error for FerryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for FerryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result with a [`FerryError`].
pub type Result<T, E = FerryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Errno;
    impl fmt::Display for Errno {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Device or resource busy (os error 16)")
        }
    }
    impl std::error::Error for Errno {}

    #[test]
    fn the_cause_reaches_the_log_and_the_user_reads_the_message() {
        let e = FerryError::internal("create bridge fr-1").with_source(Errno);
        assert_eq!(e.to_string(), "create bridge fr-1");
        assert_eq!(
            e.chain(),
            "create bridge fr-1: Device or resource busy (os error 16)"
        );
        let e = e.context("network n");
        assert!(
            std::error::Error::source(&e).is_some(),
            "context keeps the cause"
        );
        // A cause the message already says is not said twice.
        let e = FerryError::internal("x: Device or resource busy (os error 16)").with_source(Errno);
        assert_eq!(e.chain(), "x: Device or resource busy (os error 16)");
        assert_eq!(
            e,
            FerryError::internal("x: Device or resource busy (os error 16)")
        );
    }
}

//! What can go wrong in a call: the daemon cannot be reached, it refused the request (its
//! message and HTTP status kept), or the conversation broke.

use ferry_types::ErrorKind;
use std::path::PathBuf;

/// Failures of a [`Client`](crate::Client) call.
///
/// The daemon's refusals display as the daemon's own message, which already says what, why
/// and what to do; the other variants carry their cause as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon's socket cannot be reached: most often, no daemon runs.
    #[error(
        "cannot connect to the ferry daemon at unix://{} (is it running? start it with `ferry daemon`)",
        socket.display()
    )]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// No such object, or no such route (HTTP 404).
    #[error("{message}")]
    NotFound {
        /// The daemon's message.
        message: String,
    },
    /// The request conflicts with what exists: a taken name or address, an object in use
    /// (HTTP 409).
    #[error("{message}")]
    Conflict {
        /// The daemon's message.
        message: String,
    },
    /// The daemon refused the request as it stands: invalid values (400), not allowed in
    /// this state (403), too large (413) or too slow (408).
    #[error("{message}")]
    Invalid {
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The daemon failed (HTTP 500), or answered with a status the API does not use.
    #[error("{message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The connection broke, or HTTP failed on it.
    #[error("talking to the ferry daemon")]
    Transport {
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The request could not be made (a body that is not JSON, a path that is not a URI).
    #[error("cannot make the request {what}")]
    Request {
        /// The request, `METHOD PATH`.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The daemon's reply is not what the API promises.
    #[error("bad reply to {what}")]
    Decode {
        /// The request, `METHOD PATH`.
        what: String,
        /// Why the reply could not be read.
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The error for a reply with a failure `status` and `body`: the daemon's
    /// `{"message": ...}` (the body as text if it is not that JSON).
    pub(crate) fn from_reply(status: u16, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<ferry_types::api::ErrorBody>(body)
            .map(|b| b.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        match status {
            404 => ClientError::NotFound { message },
            409 => ClientError::Conflict { message },
            400..=499 => ClientError::Invalid { status, message },
            _ => ClientError::Server { status, message },
        }
    }

    /// The HTTP status of a reply the daemon refused; `None` when there was no such reply.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::NotFound { .. } => Some(404),
            ClientError::Conflict { .. } => Some(409),
            ClientError::Invalid { status, .. } | ClientError::Server { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// What the daemon's refusal means, in the API's terms; `None` when there was no reply.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.status().map(ErrorKind::from_http_status)
    }

    /// The daemon's message, when it refused the request.
    pub fn message(&self) -> Option<&str> {
        match self {
            ClientError::NotFound { message }
            | ClientError::Conflict { message }
            | ClientError::Invalid { message, .. }
            | ClientError::Server { message, .. } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_variants_with_the_daemons_message() {
        let body = br#"{"message":"network appnet not found"}"#;
        let e = ClientError::from_reply(404, body);
        assert!(matches!(&e, ClientError::NotFound { .. }), "{e:?}");
        assert_eq!(e.to_string(), "network appnet not found");
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.kind(), Some(ErrorKind::NotFound));

        let e = ClientError::from_reply(409, body);
        assert!(matches!(e, ClientError::Conflict { .. }));
        for status in [400, 403, 408, 413] {
            let e = ClientError::from_reply(status, body);
            assert!(matches!(e, ClientError::Invalid { .. }), "{status}");
            assert_eq!(e.status(), Some(status));
        }
        let e = ClientError::from_reply(500, body);
        assert!(matches!(e, ClientError::Server { status: 500, .. }));
        assert_eq!(e.message(), Some("network appnet not found"));
    }

    #[test]
    fn a_body_that_is_not_json_is_the_message() {
        let e = ClientError::from_reply(502, b"bad gateway");
        assert_eq!(e.to_string(), "bad gateway");
        assert_eq!(e.kind(), Some(ErrorKind::Internal));
    }

    #[test]
    fn connect_keeps_the_os_error_as_its_source() {
        let e = ClientError::Connect {
            socket: "/run/ferry/ferry.sock".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(e
            .to_string()
            .starts_with("cannot connect to the ferry daemon at unix:///run/ferry/ferry.sock"));
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("entity not found"));
        assert_eq!(e.status(), None);
    }
}

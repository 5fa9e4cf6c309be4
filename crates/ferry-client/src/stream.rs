//! Replies read as they arrive: a sandbox's output, and the exit status a wait delivers when
//! the process ends.

use crate::transport::{decode, read_all};
use crate::uri::Uri;
use crate::{ClientError, Result};
use bytes::Bytes;
use ferry_types::api::WaitResponse;
use ferry_types::logs::ServiceLogEvent;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Method;

/// A sandbox's output, streamed by the daemon (to the end of the log, or, when followed,
/// until the process ends).
#[derive(Debug)]
pub struct LogStream {
    body: Incoming,
}

impl LogStream {
    pub(crate) fn new(body: Incoming) -> Self {
        LogStream { body }
    }

    /// The next piece of output as it arrives, or `None` at the end. Pieces are cut anywhere,
    /// not at line ends.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|source| ClientError::Transport { source })?;
            if let Ok(data) = frame.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The rest of the output, to its end.
    pub async fn read_to_end(self) -> Result<Bytes> {
        read_all(self.body).await
    }
}

/// A service's output ([`Client::service_logs`](crate::Client::service_logs)): one event
/// a line of the reply.
#[derive(Debug)]
pub struct ServiceLogStream {
    body: Incoming,
    what: String,
    partial: Vec<u8>,
    ended: bool,
}

impl ServiceLogStream {
    pub(crate) fn new(body: Incoming, what: String) -> Self {
        ServiceLogStream {
            body,
            what,
            partial: Vec::new(),
            ended: false,
        }
    }

    /// The next line of a replica (or report of a node), or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<ServiceLogEvent>> {
        loop {
            if let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                let json: Vec<u8> = self.partial.drain(..=end).collect();
                return serde_json::from_slice(&json).map(Some).map_err(|source| {
                    ClientError::Decode {
                        what: self.what.clone(),
                        source,
                    }
                });
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(frame) => {
                    let frame = frame.map_err(|source| ClientError::Transport { source })?;
                    if let Ok(data) = frame.into_data() {
                        self.partial.extend_from_slice(&data);
                    }
                }
                None => self.ended = true,
            }
        }
    }
}

/// A wait the daemon has registered: [`Waiter::exit`] returns when its condition is met.
///
/// The daemon answers a wait at once and sends the status when the process ends, so a wait
/// opened before `start` cannot miss a process that exits at once.
#[derive(Debug)]
pub struct Waiter {
    body: Incoming,
    uri: Uri,
}

impl Waiter {
    pub(crate) fn new(body: Incoming, uri: Uri) -> Self {
        Waiter { body, uri }
    }

    /// Waits for the exit and returns its status (with an error when the daemon could not
    /// know it).
    pub async fn exit(self) -> Result<WaitResponse> {
        let bytes = read_all(self.body).await?;
        decode(&Method::POST, &self.uri, &bytes)
    }
}

//! The API client: HTTP/1.1 over the daemon's unix socket, one connection per request.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;

/// Failures of an API call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon is not reachable.
    #[error("cannot connect to the ferry daemon at unix://{socket}: {reason}; is it running? (start it with `ferry daemon`)")]
    NoDaemon {
        /// The socket tried.
        socket: String,
        /// The OS's reason.
        reason: String,
    },
    /// The daemon answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The conversation broke.
    #[error("talking to the ferry daemon: {0}")]
    Transport(String),
}

/// A client of one daemon socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for the socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// Sends a request and returns the status and the body stream.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Incoming), ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| ClientError::NoDaemon {
                socket: self.socket.display().to_string(),
                reason: e.to_string(),
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let has_body = body.is_some();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "ferry");
        if has_body {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok((resp.status(), resp.into_body()))
    }

    /// Sends a request and reads the whole reply; error statuses become [`ClientError::Api`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let (status, body) = self.send(method, path, body).await?;
        let bytes = read_all(body).await?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(api_error(status, &bytes))
        }
    }

    /// Sends a bodiless request whose reply is read as it arrives (logs, wait); an error
    /// status becomes [`ClientError::Api`].
    pub async fn stream(&self, method: Method, path: &str) -> Result<Incoming, ClientError> {
        let (status, body) = self.send(method, path, None).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(api_error(status, &read_all(body).await?))
        }
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let b = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&b)
            .map_err(|e| ClientError::Transport(format!("bad reply to {path}: {e}")))
    }

    /// POST a JSON body and decode a JSON reply.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Transport(e.to_string()))?;
        let b = self.call(Method::POST, path, Some(body)).await?;
        serde_json::from_slice(&b)
            .map_err(|e| ClientError::Transport(format!("bad reply to {path}: {e}")))
    }

    /// POST with an optional JSON body, ignoring the reply body.
    pub async fn post_empty<B: Serialize>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        let body = match body {
            Some(b) => {
                Some(serde_json::to_vec(b).map_err(|e| ClientError::Transport(e.to_string()))?)
            }
            None => None,
        };
        self.call(Method::POST, path, body).await.map(|_| ())
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, path, None).await.map(|_| ())
    }
}

async fn read_all(body: Incoming) -> Result<Bytes, ClientError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?
        .to_bytes())
}

/// The daemon's `{"message": ...}` error body as an error (plain text if it is not JSON).
fn api_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ferry_types::api::ErrorBody>(bytes)
        .map(|b| b.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

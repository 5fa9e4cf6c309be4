//! The transport: HTTP/1.1 over the daemon's unix socket, one connection per request, JSON
//! bodies, and failure replies turned into [`ClientError`]s.

use crate::uri::Uri;
use crate::{ClientError, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A client of one ferry daemon, reached at its unix socket.
///
/// Cloning is cheap; every call opens its own connection, so a clone may be moved into
/// another task and used at the same time. Calls need a tokio runtime.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

/// A reply whose status says success, with its body still to be read.
pub(crate) struct Reply {
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Incoming,
}

impl Client {
    /// A client of the daemon whose API socket is `socket`. Nothing is connected until the
    /// first call.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends a request; a failure status becomes its [`ClientError`] (the body read for the
    /// daemon's message), success is returned with the body unread.
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: &Uri,
        body: Option<Vec<u8>>,
    ) -> Result<Reply> {
        let what = || format!("{method} {}", uri.as_str());
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri.as_str())
            .header(hyper::header::HOST, "ferry");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Request {
                what: what(),
                source: Box::new(e),
            })?;
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                socket: self.socket.clone(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Transport { source })?;
        // The connection is driven beside the request; its errors reach the request too.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|source| ClientError::Transport { source })?;
        let status = resp.status();
        let (parts, body) = resp.into_parts();
        if status.is_success() {
            Ok(Reply {
                headers: parts.headers,
                body,
            })
        } else {
            Err(ClientError::from_reply(
                status.as_u16(),
                &read_all(body).await?,
            ))
        }
    }

    /// Sends a request and reads the whole reply.
    async fn call(&self, method: Method, uri: &Uri, body: Option<Vec<u8>>) -> Result<Bytes> {
        read_all(self.send(method, uri, body).await?.body).await
    }

    /// `GET`, the reply decoded from JSON.
    pub(crate) async fn get<T: DeserializeOwned>(&self, uri: Uri) -> Result<T> {
        let bytes = self.call(Method::GET, &uri, None).await?;
        decode(&Method::GET, &uri, &bytes)
    }

    /// `POST` with a JSON body, the reply decoded from JSON.
    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        uri: Uri,
        body: &B,
    ) -> Result<T> {
        let body = encode(&Method::POST, &uri, body)?;
        let bytes = self.call(Method::POST, &uri, Some(body)).await?;
        decode(&Method::POST, &uri, &bytes)
    }

    /// `POST` with a JSON body, or none; the reply's body is not read as JSON.
    pub(crate) async fn post_unit<B: Serialize>(&self, uri: Uri, body: Option<&B>) -> Result<()> {
        let body = body.map(|b| encode(&Method::POST, &uri, b)).transpose()?;
        self.call(Method::POST, &uri, body).await.map(drop)
    }

    /// `DELETE`.
    pub(crate) async fn delete(&self, uri: Uri) -> Result<()> {
        self.call(Method::DELETE, &uri, None).await.map(drop)
    }
}

/// Reads a whole body.
pub(crate) async fn read_all(body: Incoming) -> Result<Bytes> {
    Ok(body
        .collect()
        .await
        .map_err(|source| ClientError::Transport { source })?
        .to_bytes())
}

/// A request body as JSON.
fn encode<B: Serialize>(method: &Method, uri: &Uri, body: &B) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| ClientError::Request {
        what: format!("{method} {}", uri.as_str()),
        source: Box::new(e),
    })
}

/// A reply body from JSON.
pub(crate) fn decode<T: DeserializeOwned>(method: &Method, uri: &Uri, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| ClientError::Decode {
        what: format!("{method} {}", uri.as_str()),
        source,
    })
}

//! A client of dockerd's own Engine API on its unix socket: what the plugin reads there is
//! what dockerd never sends a network driver (containers' names and aliases).

use crate::error::PluginError;
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::path::PathBuf;

/// dockerd at its API socket; every call opens its own connection.
#[derive(Debug, Clone)]
pub struct Dockerd {
    socket: PathBuf,
}

fn unreachable(what: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::Dockerd(format!("{what}: {e}"))
}

impl Dockerd {
    /// dockerd at `socket` (`/var/run/docker.sock` by default).
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// `GET path`: the reply's body when its status says success.
    async fn get(&self, path: &str) -> Result<Incoming, PluginError> {
        let req = Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(path, e))?;
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| unreachable(&self.socket.display().to_string(), e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(path, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(path, e))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.into_body().collect().await.map(|b| b.to_bytes());
            let text = body
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(PluginError::Dockerd(format!(
                "GET {path}: {status}: {}",
                text.trim()
            )));
        }
        Ok(resp.into_body())
    }

    /// `GET path` read whole as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, PluginError> {
        let body = self
            .get(path)
            .await?
            .collect()
            .await
            .map_err(|e| unreachable(path, e))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| unreachable(path, e))
    }

    /// `GET /events?filters=...`: dockerd's events as they happen.
    pub async fn events(&self, filters: &Value) -> Result<Events, PluginError> {
        let q = percent_encode(&filters.to_string());
        Ok(Events {
            body: self.get(&format!("/events?filters={q}")).await?,
            buf: Vec::new(),
        })
    }
}

/// dockerd's event stream: one JSON object a line.
pub struct Events {
    body: Incoming,
    buf: Vec<u8>,
}

impl Events {
    /// The next event, or `None` when dockerd ends the stream.
    pub async fn next(&mut self) -> Result<Option<Value>, PluginError> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line)
                    .map(Some)
                    .map_err(|e| unreachable("an event", e));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(unreachable("events", e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            percent_encode(r#"{"type":["network"]}"#),
            "%7B%22type%22%3A%5B%22network%22%5D%7D"
        );
    }
}

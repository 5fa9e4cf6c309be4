//! A joining node's side of the join protocol: fetch the CA without trusting anyone, check it
//! against the token's digest and check that the manager's certificate is one the CA issued;
//! then send the token and a CSR on a connection that trusts only that CA.

use crate::join_proto::{CaReply, ErrorReply, JoinReply, JoinRequest, CA_PATH, JOIN_PATH};
use crate::{Result, SwarmError};
use ferry_pki::JoinToken;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a manager may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a manager may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Joins through the manager at `manager`: returns the CA (checked against the token) and the
/// manager's reply.
pub async fn join(manager: SocketAddr, token: &JoinToken, req: &JoinRequest) -> Result<JoinReply> {
    let (noting, noted) = crate::tls::noting_client()?;
    let (status, body) = call(manager, noting, "GET", CA_PATH, None).await?;
    if status != 200 {
        return Err(SwarmError::Unavailable(format!(
            "the manager at {manager} did not give its CA (HTTP {status}): {}",
            message(&body)
        )));
    }
    let ca: CaReply = serde_json::from_slice(&body).map_err(|e| {
        SwarmError::Unavailable(format!("the manager at {manager} answered nonsense: {e}"))
    })?;
    token.verify_ca(&ca.ca_cert).map_err(|e| {
        SwarmError::Refused(format!(
            "the manager at {manager} is not the swarm the token is for: {e}; check the token \
             and the manager's address"
        ))
    })?;
    let shown = noted
        .cert_pem()
        .ok_or_else(|| SwarmError::Internal("the manager's certificate was not seen".into()))?;
    ferry_pki::verify_node_cert(&shown, &ca.ca_cert, SystemTime::now()).map_err(|e| {
        SwarmError::Refused(format!(
            "the manager at {manager} presented a certificate the swarm's CA did not issue: {e}"
        ))
    })?;
    let pinned = crate::tls::pinned_client(&ca.ca_cert)?;
    let body = serde_json::to_vec(req).map_err(|e| SwarmError::Internal(e.to_string()))?;
    let (status, answer) = call(manager, pinned, "POST", JOIN_PATH, Some(body)).await?;
    if status != 200 {
        let text = message(&answer);
        return Err(match status {
            403 => SwarmError::Refused(text),
            409 => SwarmError::Conflict(text),
            400 => SwarmError::Invalid(text),
            _ => SwarmError::Unavailable(format!("the manager at {manager} refused: {text}")),
        });
    }
    let reply: JoinReply = serde_json::from_slice(&answer).map_err(|e| {
        SwarmError::Unavailable(format!("the manager at {manager} answered nonsense: {e}"))
    })?;
    if reply.ca_cert != ca.ca_cert {
        return Err(SwarmError::Refused(format!(
            "the manager at {manager} changed its CA during the join"
        )));
    }
    Ok(reply)
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorReply>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

/// One HTTPS request on a fresh connection.
async fn call(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, Vec<u8>)> {
    let unreachable =
        |e: String| SwarmError::Unavailable(format!("cannot reach the manager at {addr}: {e}"));
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let exchange = async {
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .map_err(|e| unreachable(format!("TLS: {e}")))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| SwarmError::Internal(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {ANSWER_TIMEOUT:?}")))?
}

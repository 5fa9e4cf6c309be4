//! The client side of the node endpoint ([`crate::node_server`]): reads another node's
//! replicas' output of a service, presenting this node's certificate.

use crate::{Result, SwarmError};
use ferry_types::logs::{ServiceLogEvent, ServiceLogLine, ServiceLogOptions};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a node may take to accept a connection and answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a followed node may stay silent before the connection is probed (TCP keepalive),
/// so that a node that vanished is reported rather than waited for for ever.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);

/// Sends the node at `addr`'s lines of service `service_id` to `tx`, each completed by
/// `fill`, until the node's stream ends or `tx` closes. A node that cannot be reached, or
/// whose stream breaks, is an error (the lines sent before it stay sent).
pub async fn stream_logs(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    service_id: &str,
    options: ServiceLogOptions,
    tx: &mpsc::Sender<ServiceLogEvent>,
    fill: impl Fn(&mut ServiceLogLine),
) -> Result<()> {
    let unreachable = |e: String| SwarmError::Unavailable(format!("{addr}: {e}"));
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    keepalive(&tcp);
    let path = format!(
        "{}?{}",
        crate::node_server::logs_path(service_id),
        options.to_query()
    );
    let answer = async {
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
            .method("GET")
            .uri(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .map_err(|e| SwarmError::Internal(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))
    };
    let resp = tokio::time::timeout(CONNECT_TIMEOUT, answer)
        .await
        .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))??;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
        let text = body
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        return Err(unreachable(format!("refused (HTTP {status}): {text}")));
    }
    let mut body = resp.into_body();
    let mut partial = Vec::new();
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => return Ok(()),
            f = body.frame() => f,
        };
        let Some(frame) = frame else {
            return Ok(());
        };
        let frame = frame.map_err(|e| unreachable(format!("the stream broke: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        partial.extend_from_slice(&data);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let json: Vec<u8> = partial.drain(..=end).collect();
            let mut line: ServiceLogLine = serde_json::from_slice(&json)
                .map_err(|e| unreachable(format!("answered nonsense: {e}")))?;
            fill(&mut line);
            if tx.send(ServiceLogEvent::Line(line)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Probes an idle connection after [`KEEPALIVE_IDLE`], every 2 s, 3 times: a followed node
/// that vanished (no FIN, no RST) ends its stream in about 16 s.
fn keepalive(tcp: &tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let idle = libc::c_int::try_from(KEEPALIVE_IDLE.as_secs()).unwrap_or(10);
    for (level, name, value) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 2),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ] {
        // SAFETY: a valid socket descriptor and an int option of the size given.
        unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                level,
                name,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

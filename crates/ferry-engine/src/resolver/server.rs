//! The resolver's sockets and tasks: per sandbox, a UDP socket and a TCP listener on
//! 127.0.0.11:53 in its namespace; queries answered from the directory or forwarded upstream.

use super::Directory;
use crate::drivers::kernel_err;
use ferry_dns::respond::Transport;
use ferry_dns::wire::{self, Rcode};
use ferry_dns::{respond, Outcome};
use ferry_types::FerryError;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The address sandboxes send their queries to.
pub const LISTEN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// How long one upstream server gets before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP client may take to send a query (or stay idle between queries).
const TCP_IDLE: Duration = Duration::from_secs(5);
/// Queries being forwarded at once, daemon-wide; beyond that a query gets SERVFAIL at once.
const MAX_FORWARDS: usize = 1024;
/// TCP connections served at once per sandbox; beyond that new ones wait to be accepted.
const MAX_TCP_PER_SANDBOX: usize = 64;

/// The embedded resolver.
pub struct Resolver {
    dir: RwLock<Directory>,
    tasks: Mutex<HashMap<String, Vec<JoinHandle<()>>>>,
    rotation: AtomicUsize,
    forwards: Arc<Semaphore>,
}

/// What one sandbox's listeners need.
struct Ctx {
    resolver: Arc<Resolver>,
    sandbox: String,
    upstreams: Arc<Vec<SocketAddr>>,
}

impl Resolver {
    /// A resolver with no names and no listeners.
    pub fn new() -> Arc<Self> {
        Arc::new(Resolver {
            dir: RwLock::new(Directory::default()),
            tasks: Mutex::new(HashMap::new()),
            rotation: AtomicUsize::new(0),
            forwards: Arc::new(Semaphore::new(MAX_FORWARDS)),
        })
    }

    /// Changes the names (a short write lock; queries read concurrently otherwise).
    pub fn update(&self, f: impl FnOnce(&mut Directory)) {
        let mut d = self.dir.write().unwrap_or_else(|p| p.into_inner());
        f(&mut d);
    }

    /// Opens 127.0.0.11:53 (UDP and TCP) inside the namespace at `netns` and serves the
    /// sandbox's queries there, forwarding what is not local to `upstreams`.
    pub fn serve(
        self: &Arc<Self>,
        sandbox: &str,
        netns: &Path,
        upstreams: Vec<IpAddr>,
    ) -> Result<(), FerryError> {
        self.stop(sandbox);
        let (udp, tcp) = ferry_kernel::netns::run_in(netns, || {
            let addr = SocketAddr::from((LISTEN, 53));
            let udp = std::net::UdpSocket::bind(addr)
                .map_err(|e| ferry_kernel::KernelError::io("bind 127.0.0.11:53/udp", e))?;
            let tcp = std::net::TcpListener::bind(addr)
                .map_err(|e| ferry_kernel::KernelError::io("bind 127.0.0.11:53/tcp", e))?;
            for r in [udp.set_nonblocking(true), tcp.set_nonblocking(true)] {
                r.map_err(|e| ferry_kernel::KernelError::io("set non-blocking", e))?;
            }
            Ok((udp, tcp))
        })
        .map_err(kernel_err)
        .map_err(|e| e.context("embedded DNS"))?;
        let udp = Arc::new(
            UdpSocket::from_std(udp).map_err(|e| FerryError::internal(format!("dns udp: {e}")))?,
        );
        let tcp = TcpListener::from_std(tcp)
            .map_err(|e| FerryError::internal(format!("dns tcp: {e}")))?;
        let ctx = Arc::new(Ctx {
            resolver: self.clone(),
            sandbox: sandbox.to_string(),
            upstreams: Arc::new(
                upstreams
                    .into_iter()
                    .map(|a| SocketAddr::new(a, 53))
                    .collect(),
            ),
        });
        let handles = vec![
            tokio::spawn(serve_udp(ctx.clone(), udp)),
            tokio::spawn(serve_tcp(ctx, tcp)),
        ];
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sandbox.to_string(), handles);
        Ok(())
    }

    /// Stops serving a sandbox (its sockets close with its tasks).
    pub fn stop(&self, sandbox: &str) {
        if let Some(hs) = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sandbox)
        {
            for h in hs {
                h.abort();
            }
        }
    }

    /// Answers locally, or returns the query to forward.
    fn answer(&self, sandbox: &str, packet: &[u8], t: Transport, out: &mut Vec<u8>) -> Outcome {
        let rot = self.rotation.fetch_add(1, Ordering::Relaxed);
        let d = self.dir.read().unwrap_or_else(|p| p.into_inner());
        respond(packet, &d.view(sandbox), t, rot, out)
    }
}

async fn serve_udp(ctx: Arc<Ctx>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65535];
    let mut out = Vec::with_capacity(512);
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "dns udp receive");
                continue;
            }
        };
        match ctx
            .resolver
            .answer(&ctx.sandbox, &buf[..n], Transport::Udp, &mut out)
        {
            Outcome::Reply => {
                let _ = sock.send_to(&out, peer).await;
            }
            Outcome::Drop => {}
            Outcome::Forward(_) => {
                let packet = buf[..n].to_vec();
                match ctx.resolver.forwards.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (ctx, sock) = (ctx.clone(), sock.clone());
                        tokio::spawn(async move {
                            let reply = forward(&ctx.upstreams, &packet).await;
                            let _ = sock.send_to(&reply, peer).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        wire::header_reply(&packet, Rcode::ServFail, &mut out);
                        let _ = sock.send_to(&out, peer).await;
                    }
                }
            }
        }
    }
}

async fn serve_tcp(ctx: Arc<Ctx>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_PER_SANDBOX));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // Every read has a deadline: a client that sends nothing, or a byte a second,
            // holds one slot for at most TCP_IDLE and never delays anyone else.
            let _ = tokio::time::timeout(TCP_IDLE * 4, serve_conn(&ctx, stream)).await;
            drop(permit);
        });
    }
}

async fn serve_conn(ctx: &Ctx, mut s: TcpStream) -> std::io::Result<()> {
    let mut out = Vec::new();
    loop {
        let mut len = [0u8; 2];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut len)).await??;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut msg)).await??;
        let reply = match ctx
            .resolver
            .answer(&ctx.sandbox, &msg, Transport::Tcp, &mut out)
        {
            Outcome::Reply => std::mem::take(&mut out),
            Outcome::Drop => continue,
            Outcome::Forward(_) => forward(&ctx.upstreams, &msg).await,
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        tokio::time::timeout(TCP_IDLE, s.write_all(&framed)).await??;
    }
}

/// Sends a query to each upstream in turn until one answers with something other than
/// SERVFAIL or REFUSED; SERVFAIL when none does.
async fn forward(upstreams: &[SocketAddr], packet: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(sock) = UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.connect(up).await.is_err() || sock.send(packet).await.is_err() {
            continue;
        }
        let got = tokio::time::timeout(UPSTREAM_TIMEOUT, async {
            loop {
                let n = sock.recv(&mut buf).await?;
                // Only the answer to this query (same ID) counts.
                if n >= wire::HEADER_LEN && buf[..2] == packet[..2] {
                    return Ok::<usize, std::io::Error>(n);
                }
            }
        })
        .await;
        if let Ok(Ok(n)) = got {
            let rcode = buf[3] & 0x0F;
            if rcode != Rcode::ServFail as u8 && rcode != Rcode::Refused as u8 {
                return buf[..n].to_vec();
            }
        }
    }
    let mut out = Vec::new();
    if packet.len() >= wire::HEADER_LEN {
        wire::header_reply(packet, Rcode::ServFail, &mut out);
    }
    out
}

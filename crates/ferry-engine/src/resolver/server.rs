//! The resolver's sockets and tasks: per sandbox, a UDP socket and a TCP listener on
//! 127.0.0.11:53 in its namespace; queries answered from the directory or forwarded upstream.

use super::limits::{Bounds, Limits, Over};
use super::Directory;
use crate::drivers::kernel_err;
use ferry_dns::respond::{reply_limit, Transport};
use ferry_dns::wire::{self, Rcode};
use ferry_dns::{respond, Cache, Outcome, Query};
use ferry_types::FerryError;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
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
/// At most one warning per sandbox in this many seconds about queries refused for being over
/// a forwarding bound.
const WARN_EVERY: u64 = 10;
/// TCP connections served at once per sandbox; beyond that new ones wait to be accepted.
const MAX_TCP_PER_SANDBOX: usize = 64;
/// Upstream replies kept, daemon-wide.
const CACHE_ENTRIES: usize = 4096;

/// The embedded resolver.
pub struct Resolver {
    dir: RwLock<Directory>,
    tasks: Mutex<HashMap<String, Vec<JoinHandle<()>>>>,
    rotation: AtomicUsize,
    /// Forwards in flight, bounded daemon-wide, per sandbox and per upstream server; a query
    /// beyond a sandbox's or the daemon's bound gets SERVFAIL at once.
    limits: Arc<Limits>,
    cache: Mutex<Cache>,
    clock: Instant,
}

/// What one sandbox's listeners need.
struct Ctx {
    resolver: Arc<Resolver>,
    sandbox: Arc<str>,
    upstreams: Arc<Vec<SocketAddr>>,
    /// Identifies the upstream list in the cache: sandboxes with other `--dns` servers do
    /// not share replies.
    scope: u64,
    /// When a refused forward was last logged (resolver clock, seconds, plus one).
    warned: AtomicU64,
}

impl Resolver {
    /// A resolver with no names and no listeners.
    pub fn new() -> Arc<Self> {
        Arc::new(Resolver {
            dir: RwLock::new(Directory::default()),
            tasks: Mutex::new(HashMap::new()),
            rotation: AtomicUsize::new(0),
            limits: Limits::new(Bounds::DEFAULT),
            cache: Mutex::new(Cache::new(CACHE_ENTRIES)),
            clock: Instant::now(),
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
        .map_err(|e| match &e {
            // A program of the sandbox holds port 53 there (possible when a running sandbox is
            // connected to its first network with names).
            ferry_kernel::KernelError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                FerryError::conflict(
                    "embedded DNS: 127.0.0.11:53 is in use in the sandbox's network namespace \
                     (a program there listens on port 53); stop it or bind it to another \
                     address, then try again",
                )
            }
            _ => kernel_err(e).context("embedded DNS"),
        })?;
        let udp = Arc::new(
            UdpSocket::from_std(udp).map_err(|e| FerryError::internal(format!("dns udp: {e}")))?,
        );
        let tcp = TcpListener::from_std(tcp)
            .map_err(|e| FerryError::internal(format!("dns tcp: {e}")))?;
        let upstreams: Vec<SocketAddr> = upstreams
            .into_iter()
            .map(|a| SocketAddr::new(a, 53))
            .collect();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        upstreams.hash(&mut h);
        let ctx = Arc::new(Ctx {
            resolver: self.clone(),
            sandbox: sandbox.into(),
            upstreams: Arc::new(upstreams),
            scope: h.finish(),
            warned: AtomicU64::new(0),
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

    fn now(&self) -> u64 {
        self.clock.elapsed().as_secs()
    }

    /// A fresh cached reply to a query that would be forwarded.
    fn cached(&self, ctx: &Ctx, q: &Query, packet: &[u8], t: Transport, out: &mut Vec<u8>) -> bool {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.lookup(ctx.scope, q, packet, self.now(), reply_limit(q, t), out)
    }

    /// A slot to forward one of the sandbox's queries; when a bound is reached, logs it (at
    /// most every `WARN_EVERY` seconds per sandbox) and returns None.
    fn admit(&self, ctx: &Ctx) -> Option<super::limits::ForwardPermit> {
        match self.limits.admit(&ctx.sandbox) {
            Ok(p) => Some(p),
            Err(over) => {
                let now = self.now() + 1;
                let last = ctx.warned.load(Ordering::Relaxed);
                if (last == 0 || now >= last + WARN_EVERY)
                    && ctx
                        .warned
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    let (total, mine) = self.limits.in_flight(&ctx.sandbox);
                    match over {
                        Over::Sandbox => tracing::warn!(
                            sandbox = %ctx.sandbox,
                            in_flight = mine,
                            "embedded DNS: the sandbox has its share of queries being forwarded; \
                             more get SERVFAIL until some are answered or time out"
                        ),
                        Over::Total => tracing::warn!(
                            sandbox = %ctx.sandbox,
                            in_flight = total,
                            "embedded DNS: the daemon's bound on queries being forwarded is reached; \
                             more get SERVFAIL until some are answered or time out"
                        ),
                    }
                }
                None
            }
        }
    }

    /// Forwards a query and keeps the reply when it may be cached.
    async fn forward(&self, ctx: &Ctx, q: &Query, packet: &[u8], t: Transport) -> Vec<u8> {
        let reply = forward(&self.limits, &ctx.upstreams, q, packet, t).await;
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.insert(ctx.scope, q, &reply, self.now());
        reply
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
            Outcome::Forward(q) => {
                if ctx
                    .resolver
                    .cached(&ctx, &q, &buf[..n], Transport::Udp, &mut out)
                {
                    let _ = sock.send_to(&out, peer).await;
                    continue;
                }
                let packet = buf[..n].to_vec();
                match ctx.resolver.admit(&ctx) {
                    Some(permit) => {
                        let (ctx, sock) = (ctx.clone(), sock.clone());
                        tokio::spawn(async move {
                            let reply = ctx
                                .resolver
                                .forward(&ctx, &q, &packet, Transport::Udp)
                                .await;
                            let _ = sock.send_to(&reply, peer).await;
                            drop(permit);
                        });
                    }
                    None => {
                        let lim = reply_limit(&q, Transport::Udp);
                        wire::error_reply(&q, &packet, Rcode::ServFail, lim, &mut out);
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
            Outcome::Forward(q) => {
                if ctx.resolver.cached(ctx, &q, &msg, Transport::Tcp, &mut out) {
                    std::mem::take(&mut out)
                } else if let Some(_permit) = ctx.resolver.admit(ctx) {
                    ctx.resolver.forward(ctx, &q, &msg, Transport::Tcp).await
                } else {
                    wire::error_reply(&q, &msg, Rcode::ServFail, 65535, &mut out);
                    std::mem::take(&mut out)
                }
            }
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        tokio::time::timeout(TCP_IDLE, s.write_all(&framed)).await??;
    }
}

/// Sends a query to each upstream in turn until one answers with something other than
/// SERVFAIL or REFUSED; SERVFAIL when none does. A server with its share of exchanges in
/// flight is skipped. A truncated UDP reply is asked again over TCP when the client came over
/// TCP (a UDP client gets the TC bit and retries over TCP).
async fn forward(
    limits: &Arc<Limits>,
    upstreams: &[SocketAddr],
    q: &Query,
    packet: &[u8],
    t: Transport,
) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    for up in upstreams {
        let Some(_slot) = limits.upstream(*up) else {
            tracing::debug!(upstream = %up, "embedded DNS: upstream busy, skipped");
            continue;
        };
        let reply = match forward_udp(*up, packet, &mut buf).await {
            Some(n) if buf[2] & 0x02 != 0 && t == Transport::Tcp => {
                match forward_tcp(*up, packet).await {
                    Some(r) => r,
                    None => buf[..n].to_vec(),
                }
            }
            Some(n) => buf[..n].to_vec(),
            None => continue,
        };
        let rcode = reply[3] & 0x0F;
        if rcode != Rcode::ServFail as u8 && rcode != Rcode::Refused as u8 {
            return reply;
        }
    }
    let mut out = Vec::new();
    wire::error_reply(q, packet, Rcode::ServFail, reply_limit(q, t), &mut out);
    out
}

/// One UDP exchange with an upstream: the reply's length in `buf`, or None on timeout.
async fn forward_udp(up: SocketAddr, packet: &[u8], buf: &mut [u8]) -> Option<usize> {
    let bind: SocketAddr = if up.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(up).await.ok()?;
    sock.send(packet).await.ok()?;
    tokio::time::timeout(UPSTREAM_TIMEOUT, async {
        loop {
            let n = sock.recv(buf).await.ok()?;
            // Only the answer to this query (same ID, a response) counts.
            if n >= wire::HEADER_LEN && buf[..2] == packet[..2] && buf[2] & 0x80 != 0 {
                return Some(n);
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// One TCP exchange with an upstream, within the upstream timeout.
async fn forward_tcp(up: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    tokio::time::timeout(UPSTREAM_TIMEOUT, async {
        let mut s = TcpStream::connect(up).await.ok()?;
        let mut framed = Vec::with_capacity(packet.len() + 2);
        framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        framed.extend_from_slice(packet);
        s.write_all(&framed).await.ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.ok()?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut reply).await.ok()?;
        (reply.len() >= wire::HEADER_LEN && reply[..2] == packet[..2]).then_some(reply)
    })
    .await
    .ok()
    .flatten()
}

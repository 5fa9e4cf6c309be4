//! Host port reservations: ferry holds a socket bound to every published host port, so no host
//! process can take the port later, and a port some host process already holds is detected
//! when the container starts rather than when traffic silently goes elsewhere.
//!
//! A reservation is bound but never listens (TCP, SCTP) or reads (UDP): published traffic is
//! DNATed before it could reach the socket, and a TCP connection that is not DNATed (for
//! example one from the host to a published address without hairpin rules) is refused at once
//! instead of hanging on an accept queue nobody serves.
//!
//! Like every socket, a reservation belongs to the network namespace of the thread that made it.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The transport protocol of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketProto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (one-to-one style socket).
    Sctp,
}

impl SocketProto {
    /// The lower-case name Docker uses in port specs (`tcp`, `udp`, `sctp`).
    pub fn name(self) -> &'static str {
        match self {
            SocketProto::Tcp => "tcp",
            SocketProto::Udp => "udp",
            SocketProto::Sctp => "sctp",
        }
    }

    fn sock_type(self) -> libc::c_int {
        match self {
            SocketProto::Tcp | SocketProto::Sctp => libc::SOCK_STREAM,
            SocketProto::Udp => libc::SOCK_DGRAM,
        }
    }

    fn ipproto(self) -> libc::c_int {
        match self {
            SocketProto::Tcp => libc::IPPROTO_TCP,
            SocketProto::Udp => libc::IPPROTO_UDP,
            SocketProto::Sctp => libc::IPPROTO_SCTP,
        }
    }
}

impl fmt::Display for SocketProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A held host port. Dropping it closes the socket and releases the port.
#[derive(Debug)]
pub struct PortReservation {
    fd: OwnedFd,
    proto: SocketProto,
    addr: SocketAddr,
}

impl PortReservation {
    /// The protocol held.
    pub fn proto(&self) -> SocketProto {
        self.proto
    }

    /// The address and port held (the port the kernel chose when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl AsFd for PortReservation {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Why a host port could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Another socket already holds the port.
    #[error(
        "host port {port}/{proto} on {ip} is already in use{}; {}",
        holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default(),
        if holder.is_some() { "stop it or publish another host port" }
        else { "stop the program that holds it or publish another host port" }
    )]
    InUse {
        /// The protocol.
        proto: SocketProto,
        /// The host address.
        ip: IpAddr,
        /// The host port.
        port: u16,
        /// The process holding it (`pid N (comm)`), when it could be found.
        holder: Option<String>,
    },
    /// The address family, protocol or address is not available on this host (IPv6 disabled,
    /// the sctp module absent, an address no interface has). Callers may skip the reservation.
    #[error(
        "cannot reserve host port {port}/{proto} on {ip}: {source}; the host lacks this address \
         family, protocol or address (IPv6 disabled, sctp module not loaded, or the address is \
         on no interface)"
    )]
    Unsupported {
        /// The protocol.
        proto: SocketProto,
        /// The host address.
        ip: IpAddr,
        /// The host port.
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other failure.
    #[error("reserve host port {port}/{proto} on {ip}: {op}: {source}")]
    Io {
        /// The protocol.
        proto: SocketProto,
        /// The host address.
        ip: IpAddr,
        /// The host port.
        port: u16,
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Holds `ip:port` for `proto` in the calling thread's network namespace.
///
/// The socket has no SO_REUSEADDR or SO_REUSEPORT, so no other socket can bind the port even
/// with those options. IPv6 sockets are IPV6_V6ONLY, so `[::]:P` and `0.0.0.0:P` are separate
/// reservations.
pub fn reserve(proto: SocketProto, ip: IpAddr, port: u16) -> Result<PortReservation, ReserveError> {
    let fail = |op: &'static str, source: io::Error| classify(proto, ip, port, op, source);
    let family = match ip {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            family,
            proto.sock_type() | libc::SOCK_CLOEXEC,
            proto.ipproto(),
        )
    };
    if raw < 0 {
        return Err(fail("create socket", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = crate::fds::move_high(unsafe { OwnedFd::from_raw_fd(raw) });
    if ip.is_ipv6() {
        set_int_opt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
            .map_err(|e| fail("set IPV6_V6ONLY", e))?;
    }
    if proto == SocketProto::Udp {
        // Datagrams are DNATed before they could land here; the kernel rounds 1 up to its
        // minimum buffer, so a stray datagram costs almost nothing.
        set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 1)
            .map_err(|e| fail("set SO_RCVBUF", e))?;
    }
    let (storage, len) = sockaddr(SocketAddr::new(ip, port));
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for this family.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
        )
    };
    if rc < 0 {
        return Err(fail("bind", io::Error::last_os_error()));
    }
    let addr = local_addr(&fd).map_err(|e| fail("read the bound address", e))?;
    tracing::debug!(%proto, %addr, "reserved host port");
    Ok(PortReservation { fd, proto, addr })
}

fn classify(
    proto: SocketProto,
    ip: IpAddr,
    port: u16,
    op: &'static str,
    source: io::Error,
) -> ReserveError {
    match source.raw_os_error() {
        Some(libc::EADDRINUSE) => ReserveError::InUse {
            proto,
            ip,
            port,
            holder: holder(proto, ip, port),
        },
        Some(
            libc::EAFNOSUPPORT
            | libc::EPROTONOSUPPORT
            | libc::ESOCKTNOSUPPORT
            | libc::EADDRNOTAVAIL,
        ) => ReserveError::Unsupported {
            proto,
            ip,
            port,
            source,
        },
        _ => ReserveError::Io {
            proto,
            ip,
            port,
            op,
            source,
        },
    }
}

fn set_int_opt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage (and sockaddr_in/in6).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn local_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    // SAFETY: getsockname writes at most `len` bytes into the zeroed storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family checked).
            let sin = unsafe { &*(&storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family checked).
            let sin6 = unsafe { &*(&storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        other => Err(io::Error::other(format!(
            "unexpected address family {other}"
        ))),
    }
}

/// A socket as one line of `/proc/net/{tcp,tcp6,udp,udp6}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcSocket {
    ip: IpAddr,
    port: u16,
    inode: u64,
}

/// Decodes `0100007F:1F90` (v4) or 32 hex digits plus port (v6). The kernel prints each 32-bit
/// word of the address as a host-order number, so the word's native bytes are the address
/// bytes; the port is a plain host-order number.
fn parse_hex_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(w, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses one socket line of `/proc/net/{tcp,tcp6,udp,udp6}`; `None` for the header or a
/// line that does not parse.
fn parse_proc_net_line(line: &str) -> Option<ProcSocket> {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    let f: Vec<&str> = line.split_whitespace().collect();
    if !f.first()?.ends_with(':') {
        return None;
    }
    let (ip, port) = parse_hex_addr(f.get(1)?)?;
    let inode = f.get(9)?.parse().ok()?;
    Some(ProcSocket { ip, port, inode })
}

/// Parses one line of `/proc/net/sctp/eps`: port, inode and local addresses.
fn parse_sctp_eps_line(line: &str) -> Option<(u16, u64, Vec<IpAddr>)> {
    // ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS...
    let f: Vec<&str> = line.split_whitespace().collect();
    let port = f.get(5)?.parse().ok()?;
    let inode = f.get(7)?.parse().ok()?;
    let addrs = f
        .get(8..)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.trim_start_matches('*').parse().ok())
        .collect();
    Some((port, inode, addrs))
}

/// Folds an IPv4-mapped IPv6 address to IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether a socket bound to `theirs` keeps ours (bound to `ours`, IPv6 ones V6ONLY) from
/// binding the same port.
fn conflicts(ours: IpAddr, theirs: IpAddr) -> bool {
    let (ours, theirs) = (canonical(ours), canonical(theirs));
    match (ours, theirs) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            ours.is_unspecified() || theirs.is_unspecified() || ours == theirs
        }
        // /proc does not show V6ONLY, so a `[::]` socket may be dual-stack and hold v4 too.
        (IpAddr::V4(_), IpAddr::V6(t)) => t.is_unspecified(),
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

/// Which process holds `ip:port` for `proto` in the calling thread's network namespace, as
/// `pid N (comm)`. Looks for a socket on that port whose address conflicts (the same address,
/// or a wildcard on either side), then for the process that has it open.
///
/// A TCP socket that is bound but neither listening nor connected (such as another
/// reservation) does not appear in `/proc/net/tcp`, so its holder is not found.
pub fn holder(proto: SocketProto, ip: IpAddr, port: u16) -> Option<String> {
    // thread-self, not /proc/net (the main thread's namespace): the caller may be a helper
    // thread inside another namespace.
    let base = "/proc/thread-self/net";
    let mut found: Vec<(bool, u64)> = Vec::new();
    match proto {
        SocketProto::Tcp | SocketProto::Udp => {
            for file in [proto.name(), &format!("{}6", proto.name())] {
                let Ok(text) = std::fs::read_to_string(format!("{base}/{file}")) else {
                    continue;
                };
                found.extend(
                    text.lines()
                        .filter_map(parse_proc_net_line)
                        .filter(|s| s.port == port && s.inode != 0 && conflicts(ip, s.ip))
                        .map(|s| (canonical(s.ip) == canonical(ip), s.inode)),
                );
            }
        }
        SocketProto::Sctp => {
            if let Ok(text) = std::fs::read_to_string(format!("{base}/sctp/eps")) {
                found.extend(
                    text.lines()
                        .filter_map(parse_sctp_eps_line)
                        .filter(|(p, inode, addrs)| {
                            *p == port
                                && *inode != 0
                                && (addrs.is_empty() || addrs.iter().any(|a| conflicts(ip, *a)))
                        })
                        .map(|(_, inode, addrs)| (addrs.contains(&ip), inode)),
                );
            }
        }
    }
    // Exact address matches first: they are the likeliest culprits.
    found.sort_by_key(|(exact, _)| !exact);
    let inodes: Vec<u64> = found.into_iter().map(|(_, inode)| inode).collect();
    if inodes.is_empty() {
        return None;
    }
    let owners = socket_owners(&inodes);
    inodes.iter().find_map(|i| owners.get(i)).map(|pid| {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("pid {pid} ({})", comm.trim())
    })
}

/// Maps each socket inode in `inodes` to a process that has it open, scanning `/proc/*/fd`.
fn socket_owners(inodes: &[u64]) -> std::collections::HashMap<u64, u32> {
    let wanted: std::collections::HashMap<String, u64> = inodes
        .iter()
        .map(|i| (format!("socket:[{i}]"), *i))
        .collect();
    let mut owners = std::collections::HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return owners;
    };
    let pids = procs
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()));
    for pid in pids {
        // Processes come and go, and some fd tables are unreadable: skip those.
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.filter_map(|e| e.ok()) {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if let Some(inode) = target.to_str().and_then(|t| wanted.get(t)) {
                    owners.entry(*inode).or_insert(pid);
                }
            }
        }
        if owners.len() == wanted.len() {
            break;
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::time::Duration;

    const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const ANY6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

    /// The kernel's text for an address: each 32-bit word as a host-order hex number.
    fn encode(ip: IpAddr) -> String {
        let bytes: Vec<u8> = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        bytes
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn decodes_little_endian_kernel_text() {
        assert_eq!(
            parse_hex_addr("0100007F:1F90"),
            Some(("127.0.0.1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_hex_addr("0A00A8C0:0050"),
            Some(("192.168.0.10".parse().unwrap(), 80))
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:0035"),
            Some(("::1".parse().unwrap(), 53))
        );
        assert_eq!(
            parse_hex_addr("0000000000000000FFFF00000100007F:1F90"),
            Some(("::ffff:127.0.0.1".parse().unwrap(), 8080))
        );
        assert_eq!(
            parse_hex_addr("B80D0120000000000000000001000000:01BB"),
            Some(("2001:db8::1".parse().unwrap(), 443))
        );
    }

    #[test]
    fn decodes_what_encode_produces() {
        for ip in ["10.1.2.3", "::", "fe80::1:2:3:4", "2001:db8:aa:bb::ff"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(
                parse_hex_addr(&format!("{}:FFFF", encode(ip))),
                Some((ip, 65535))
            );
        }
        assert_eq!(parse_hex_addr("0100007F"), None);
        assert_eq!(parse_hex_addr("0100007:1F90"), None);
        assert_eq!(parse_hex_addr("0100007G:1F90"), None);
    }

    #[test]
    fn parses_proc_net_lines() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                      retrnsmt   uid  timeout inode";
        assert_eq!(parse_proc_net_line(header), None);
        let tcp = format!(
            "   0: {}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        \
             0 817065 1 0000000000000000 100 0 0 10 0",
            encode("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_proc_net_line(&tcp),
            Some(ProcSocket {
                ip: "127.0.0.1".parse().unwrap(),
                port: 8080,
                inode: 817065
            })
        );
        let udp6 = format!(
            " 1234: {}:0035 00000000000000000000000000000000:0000 07 00000000:00000000 \
             00:00000000 00000000     0        0 4242 2 0000000000000000 0",
            encode(ANY6)
        );
        assert_eq!(
            parse_proc_net_line(&udp6),
            Some(ProcSocket {
                ip: ANY6,
                port: 53,
                inode: 4242
            })
        );
    }

    #[test]
    fn parses_sctp_eps_lines() {
        let line = "ffff88017ad0a000 ffff8801f7c6c800 2   10  29   5000      0 23853 \
                    10.0.0.1 fe80::1 ";
        assert_eq!(
            parse_sctp_eps_line(line),
            Some((
                5000,
                23853,
                vec!["10.0.0.1".parse().unwrap(), "fe80::1".parse().unwrap()]
            ))
        );
        assert_eq!(
            parse_sctp_eps_line(" ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS"),
            None
        );
    }

    #[test]
    fn conflict_rules() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        assert!(conflicts(ANY4, ip("127.0.0.1")));
        assert!(conflicts(ip("10.0.0.1"), ANY4));
        assert!(conflicts(ip("10.0.0.1"), ip("10.0.0.1")));
        assert!(!conflicts(ip("10.0.0.1"), ip("10.0.0.2")));
        assert!(conflicts(ip("10.0.0.1"), ANY6), "[::] may be dual-stack");
        assert!(conflicts(ip("10.0.0.1"), ip("::ffff:10.0.0.1")));
        assert!(!conflicts(ANY6, ANY4), "ours is V6ONLY");
        assert!(conflicts(ANY6, ip("::1")));
        assert!(!conflicts(ip("::1"), ip("::2")));
    }

    #[test]
    fn in_use_message() {
        let e = ReserveError::InUse {
            proto: SocketProto::Tcp,
            ip: ANY4,
            port: 8080,
            holder: Some("pid 1234 (nginx)".into()),
        };
        assert_eq!(
            e.to_string(),
            "host port 8080/tcp on 0.0.0.0 is already in use by pid 1234 (nginx); stop it or \
             publish another host port"
        );
        let e = ReserveError::InUse {
            proto: SocketProto::Udp,
            ip: ANY6,
            port: 53,
            holder: None,
        };
        assert_eq!(
            e.to_string(),
            "host port 53/udp on :: is already in use; stop the program that holds it or \
             publish another host port"
        );
    }

    fn our_pid_prefix() -> String {
        format!("pid {} (", std::process::id())
    }

    #[test]
    fn tcp_reservation_in_a_fresh_netns() {
        crate::testns::in_fresh_netns(|| {
            const P: u16 = 18080;
            let r = reserve(SocketProto::Tcp, ANY4, P).expect("reserve");
            assert_eq!(r.addr(), SocketAddr::new(ANY4, P));
            // std sets SO_REUSEADDR on listeners; the reservation still wins.
            let e = TcpListener::bind((Ipv4Addr::UNSPECIFIED, P)).expect_err("bind must fail");
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
            assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, P)).is_err());
            match reserve(SocketProto::Tcp, ANY4, P) {
                Err(ReserveError::InUse { port, .. }) => assert_eq!(port, P),
                other => panic!("expected InUse, got {other:?}"),
            }

            // Not listening: a connection is refused at once rather than left hanging.
            let e = TcpStream::connect_timeout(
                &SocketAddr::new(Ipv4Addr::LOCALHOST.into(), P),
                Duration::from_secs(3),
            )
            .expect_err("connect must fail");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");

            drop(r);
            let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, P)).expect("port free after drop");
            match reserve(SocketProto::Tcp, ANY4, P) {
                Err(e @ ReserveError::InUse { .. }) => {
                    let ReserveError::InUse { holder, .. } = &e else {
                        unreachable!()
                    };
                    let h = holder.clone().expect("holder found");
                    assert!(h.starts_with(&our_pid_prefix()), "{h}");
                    assert!(e.to_string().contains(&h), "{e}");
                }
                other => panic!("expected InUse, got {other:?}"),
            }
            // A specific address conflicts with the wildcard listener too.
            assert!(matches!(
                reserve(SocketProto::Tcp, Ipv4Addr::LOCALHOST.into(), P),
                Err(ReserveError::InUse {
                    holder: Some(_),
                    ..
                })
            ));
            drop(l);

            // Port 0: the kernel picks one, and addr() reports it.
            let r = reserve(SocketProto::Tcp, Ipv4Addr::LOCALHOST.into(), 0).expect("port 0");
            assert_ne!(r.addr().port(), 0);
        });
    }

    #[test]
    fn udp_reservation_in_a_fresh_netns() {
        crate::testns::in_fresh_netns(|| {
            const P: u16 = 15353;
            let r = reserve(SocketProto::Udp, ANY4, P).expect("reserve");
            let e = UdpSocket::bind((Ipv4Addr::LOCALHOST, P)).expect_err("bind must fail");
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
            match reserve(SocketProto::Udp, ANY4, P) {
                // Bound UDP sockets are listed in /proc/net/udp, so the holder is found.
                Err(ReserveError::InUse {
                    holder: Some(h), ..
                }) => assert!(h.starts_with(&our_pid_prefix()), "{h}"),
                other => panic!("expected InUse with a holder, got {other:?}"),
            }
            drop(r);
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, P)).expect("port free after drop");
            match reserve(SocketProto::Udp, ANY4, P) {
                Err(ReserveError::InUse {
                    holder: Some(h), ..
                }) => assert!(h.starts_with(&our_pid_prefix()), "{h}"),
                other => panic!("expected InUse with a holder, got {other:?}"),
            }
            drop(s);
            reserve(SocketProto::Udp, ANY4, P).expect("free again");
        });
    }

    #[test]
    fn ipv6_and_ipv4_reservations_coexist() {
        crate::testns::in_fresh_netns(|| {
            const P: u16 = 18443;
            for proto in [SocketProto::Tcp, SocketProto::Udp] {
                let v4 = reserve(proto, ANY4, P).expect("reserve v4");
                let v6 = match reserve(proto, ANY6, P) {
                    Ok(r) => r,
                    Err(e) => panic!("reserve [::]:{P}/{proto}: {e}"),
                };
                assert_eq!(v6.addr(), SocketAddr::new(ANY6, P));
                assert!(matches!(
                    reserve(proto, "::1".parse().unwrap(), P),
                    Err(ReserveError::InUse { .. })
                ));
                drop((v4, v6));
            }
        });
    }

    #[test]
    fn sctp_is_reserved_or_unsupported() {
        crate::testns::in_fresh_netns(|| match reserve(SocketProto::Sctp, ANY4, 19000) {
            Ok(r) => {
                assert!(matches!(
                    reserve(SocketProto::Sctp, ANY4, 19000),
                    Err(ReserveError::InUse { .. })
                ));
                drop(r);
            }
            // A kernel without SCTP answers with the typed error, which is what is checked.
            Err(ReserveError::Unsupported { .. }) => {}
            Err(e) => panic!("sctp: {e}"),
        });
    }
}

//! Flushing stale UDP conntrack entries. A UDP "connection" keeps its first NAT decision for as
//! long as datagrams keep flowing, so when a published port moves to a new backend the old
//! entry would keep sending traffic to the old one. Deleting the entries makes the next
//! datagram go through DNAT again.
//!
//! Talks ctnetlink directly (NETLINK_NETFILTER): one `IPCTNL_MSG_CT_GET` dump of the table,
//! then one `IPCTNL_MSG_CT_DELETE` per matching entry. Like any socket, the netlink socket
//! belongs to the calling thread's network namespace, so these functions act on that
//! namespace's table.

use crate::error::{KernelError, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, Nla, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use std::net::IpAddr;

/// `CTA_ID`: the entry's id; sent back with a delete so a newer entry that reuses the tuple
/// is never removed by mistake.
const CTA_ID: u16 = 12;
/// `CTA_ZONE`: the entry's zone; a delete looks the tuple up in this zone (default 0).
const CTA_ZONE: u16 = 18;
const ENOENT: i32 = 2;

/// Deletes every conntrack entry (IPv4 and IPv6) whose original direction is UDP to
/// destination port `port`, in the calling thread's network namespace. Returns how many were
/// deleted.
pub fn flush_udp_dport(port: u16) -> Result<usize> {
    flush(NetfilterProtoFamily::Unspec, &Filter { addr: None, port })
}

/// Deletes every conntrack entry whose original direction is UDP to `addr:port`, in the
/// calling thread's network namespace. Returns how many were deleted.
pub fn flush_udp_to(addr: IpAddr, port: u16) -> Result<usize> {
    let family = match addr {
        IpAddr::V4(_) => NetfilterProtoFamily::IPv4,
        IpAddr::V6(_) => NetfilterProtoFamily::IPv6,
    };
    flush(
        family,
        &Filter {
            addr: Some(addr),
            port,
        },
    )
}

/// Which entries to delete: UDP, original destination port, and optionally address.
#[derive(Debug, Clone, Copy)]
struct Filter {
    addr: Option<IpAddr>,
    port: u16,
}

fn flush(family: NetfilterProtoFamily, filter: &Filter) -> Result<usize> {
    let op = match filter.addr {
        Some(a) => format!(
            "flush UDP conntrack entries to {}",
            std::net::SocketAddr::new(a, filter.port)
        ),
        None => format!("flush UDP conntrack entries to port {}", filter.port),
    };
    let mut conn = Conn::open().map_err(|e| e.context(&op))?;
    // Matches are picked while the dump streams in, so a large table is never held in memory.
    // Deleting waits for the end of the dump: a socket serves one request at a time.
    let mut pending = Vec::new();
    conn.dump(family, |entry_family, attrs| {
        if let Some(req) = delete_request(&attrs, filter) {
            pending.push((entry_family, req));
        }
    })
    .map_err(|e| e.context(&op))?;
    let mut deleted = 0;
    for (entry_family, req) in pending {
        if conn.delete(entry_family, req).map_err(|e| e.context(&op))? {
            deleted += 1;
        }
    }
    tracing::debug!(%op, deleted, "flushed conntrack entries");
    Ok(deleted)
}

/// The attributes of a delete request for a dumped entry, when the entry matches `filter`:
/// its original tuple, plus its zone and id when the kernel sent them.
fn delete_request(
    attrs: &[ConntrackAttribute],
    filter: &Filter,
) -> Option<Vec<ConntrackAttribute>> {
    let orig = attrs.iter().find_map(|a| match a {
        ConntrackAttribute::CtaTupleOrig(t) => Some(t),
        _ => None,
    })?;
    let mut proto = None;
    let mut dport = None;
    let mut dst = None;
    for t in orig {
        match t {
            Tuple::Proto(p) => {
                for p in p {
                    match p {
                        ProtoTuple::Protocol(v) => proto = Some(*v),
                        ProtoTuple::DestinationPort(v) => dport = Some(*v),
                        _ => {}
                    }
                }
            }
            Tuple::Ip(ips) => {
                for ip in ips {
                    if let IPTuple::DestinationAddress(a) = ip {
                        dst = Some(*a);
                    }
                }
            }
            _ => {}
        }
    }
    let matches = proto == Some(Protocol::Udp)
        && dport == Some(filter.port)
        && filter.addr.is_none_or(|a| dst == Some(a));
    if !matches {
        return None;
    }
    let mut req = vec![ConntrackAttribute::CtaTupleOrig(orig.clone())];
    req.extend(
        attrs
            .iter()
            .filter(|a| match a {
                ConntrackAttribute::Other(n) => matches!(n.kind(), CTA_ZONE | CTA_ID),
                _ => false,
            })
            .cloned(),
    );
    Some(req)
}

/// A synchronous ctnetlink socket in the calling thread's namespace.
struct Conn {
    sock: Socket,
    seq: u32,
}

impl Conn {
    fn open() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER)
            .map_err(|e| KernelError::io("open a netfilter netlink socket", e))?;
        sock.bind_auto()
            .map_err(|e| KernelError::io("bind the netfilter netlink socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| KernelError::io("connect the netfilter netlink socket", e))?;
        Ok(Self { sock, seq: 0 })
    }

    fn send(
        &mut self,
        family: NetfilterProtoFamily,
        msg: ConntrackMessage,
        flags: u16,
    ) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(NetfilterMessage::new(
                // version 0 (NFNETLINK_V0), resource id 0: what ctnetlink expects.
                NetfilterHeader::new(family, 0, 0),
                msg,
            )),
        );
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock
            .send(&buf, 0)
            .map_err(|e| KernelError::io("send a conntrack request", e))?;
        Ok(self.seq)
    }

    /// Reads the replies to request `seq`, handing each conntrack message to `each`, until the
    /// dump ends (`NLMSG_DONE`) or the request is acknowledged.
    fn replies(
        &mut self,
        seq: u32,
        op: &str,
        mut each: impl FnMut(NetfilterProtoFamily, Vec<ConntrackAttribute>),
    ) -> Result<()> {
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| KernelError::io(format!("{op}: receive"), e))?;
            let mut off = 0;
            while off + 4 <= buf.len() {
                let chunk = &buf[off..];
                let len = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
                if len < 16 || len > chunk.len() {
                    return Err(KernelError::Netlink {
                        op: op.to_string(),
                        message: format!("malformed netlink message of length {len}"),
                        errno: None,
                    });
                }
                // Netlink messages start on 4-byte boundaries.
                off += (len + 3) & !3;
                let msg = match NetlinkMessage::<NetfilterMessage>::deserialize(&chunk[..len]) {
                    Ok(m) => m,
                    Err(e) => {
                        // One entry the crate cannot decode must not stop the flush.
                        tracing::warn!(error = %e, "skipping an undecodable conntrack message");
                        continue;
                    }
                };
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(()),
                        Some(code) => {
                            return Err(KernelError::Netlink {
                                op: op.to_string(),
                                message: e.to_io().to_string(),
                                errno: Some(code.get().abs()),
                            })
                        }
                    },
                    NetlinkPayload::InnerMessage(NetfilterMessage {
                        header,
                        inner: NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)),
                        ..
                    }) => each(header.family, attrs),
                    _ => {}
                }
            }
        }
    }

    /// Dumps the table (of one family, or all with `Unspec`), handing each entry to `each`.
    fn dump(
        &mut self,
        family: NetfilterProtoFamily,
        each: impl FnMut(NetfilterProtoFamily, Vec<ConntrackAttribute>),
    ) -> Result<()> {
        let op = "dump the conntrack table (is the nf_conntrack_netlink module available?)";
        let seq = self.send(
            family,
            ConntrackMessage::Get(vec![]),
            NLM_F_REQUEST | NLM_F_DUMP,
        )?;
        self.replies(seq, op, each)
    }

    /// Deletes one entry; `false` when it was already gone (expired, or replaced by a newer
    /// entry with another id).
    fn delete(
        &mut self,
        family: NetfilterProtoFamily,
        attrs: Vec<ConntrackAttribute>,
    ) -> Result<bool> {
        let seq = self.send(
            family,
            ConntrackMessage::Delete(attrs),
            NLM_F_REQUEST | NLM_F_ACK,
        )?;
        match self.replies(seq, "delete a conntrack entry", |_, _| {}) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_errno() == Some(ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::DefaultNla;

    fn entry(proto: Protocol, dst: &str, dport: u16) -> Vec<ConntrackAttribute> {
        vec![
            ConntrackAttribute::CtaTupleOrig(vec![
                Tuple::Ip(vec![
                    IPTuple::SourceAddress("10.0.0.9".parse().unwrap()),
                    IPTuple::DestinationAddress(dst.parse().unwrap()),
                ]),
                Tuple::Proto(vec![
                    ProtoTuple::Protocol(proto),
                    ProtoTuple::SourcePort(40000),
                    ProtoTuple::DestinationPort(dport),
                ]),
            ]),
            ConntrackAttribute::CtaTimeout(30),
            ConntrackAttribute::Other(DefaultNla::new(CTA_ID, vec![0, 0, 0, 7])),
            ConntrackAttribute::Other(DefaultNla::new(CTA_ZONE, vec![0, 3])),
            ConntrackAttribute::Other(DefaultNla::new(11, vec![0, 0, 0, 1])),
        ]
    }

    #[test]
    fn matches_udp_by_port_and_address() {
        let by_port = Filter {
            addr: None,
            port: 53,
        };
        let by_addr = Filter {
            addr: Some("10.0.0.2".parse().unwrap()),
            port: 53,
        };
        let e = entry(Protocol::Udp, "10.0.0.2", 53);
        assert!(delete_request(&e, &by_port).is_some());
        assert!(delete_request(&e, &by_addr).is_some());
        assert!(delete_request(&entry(Protocol::Udp, "10.0.0.3", 53), &by_addr).is_none());
        assert!(delete_request(&entry(Protocol::Udp, "10.0.0.3", 53), &by_port).is_some());
        assert!(delete_request(&entry(Protocol::Tcp, "10.0.0.2", 53), &by_port).is_none());
        assert!(delete_request(&entry(Protocol::Udp, "10.0.0.2", 54), &by_port).is_none());
        assert!(delete_request(&[ConntrackAttribute::CtaTimeout(1)], &by_port).is_none());
    }

    #[test]
    fn delete_request_keeps_tuple_zone_and_id_only() {
        let e = entry(Protocol::Udp, "10.0.0.2", 53);
        let req = delete_request(
            &e,
            &Filter {
                addr: None,
                port: 53,
            },
        )
        .expect("matches");
        assert_eq!(req.len(), 3);
        assert_eq!(req[0], e[0]);
        assert_eq!(req[1], e[2]);
        assert_eq!(req[2], e[3]);
    }

    /// How many UDP entries to destination port `port` `conntrack -L` lists (both families).
    fn listed(port: u16) -> usize {
        let out = std::process::Command::new("conntrack")
            .args(["-L", "-p", "udp", "--orig-port-dst", &port.to_string()])
            .output()
            .expect("run conntrack -L");
        assert!(out.status.success(), "conntrack -L: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .count()
    }

    #[test]
    fn flushes_udp_entries_in_a_fresh_netns() {
        use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
        crate::testns::in_fresh_netns(|| {
            let cli = std::process::Command::new("conntrack")
                .arg("--version")
                .output();
            assert!(
                crate::nft::available() && cli.is_ok_and(|o| o.status.success()),
                "this test needs nft and the conntrack CLI (packages nftables, conntrack)"
            );
            // A namespace tracks connections only once some rule needs conntrack.
            crate::nft::apply(
                "table inet ferryct {\n\
                 \tchain out { type filter hook output priority 0; ct state new counter; }\n\
                 }\n",
            )
            .expect("enable conntrack");
            const P: u16 = 15300;
            const OTHER: u16 = 15301;
            let tx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind sender");
            let rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, P)).expect("bind receiver");
            let rx_other = UdpSocket::bind((Ipv4Addr::LOCALHOST, OTHER)).expect("bind other");
            tx.send_to(b"a", rx.local_addr().unwrap()).expect("send");
            tx.send_to(b"b", rx_other.local_addr().unwrap())
                .expect("send");
            let mut expected = 1;
            // IPv6 entries are flushed too, when the namespace has IPv6.
            if let (Ok(tx6), Ok(rx6)) = (
                UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)),
                UdpSocket::bind((Ipv6Addr::LOCALHOST, P)),
            ) {
                tx6.send_to(b"c", rx6.local_addr().unwrap())
                    .expect("send v6");
                expected += 1;
            }
            assert_eq!(listed(P), expected);
            assert_eq!(listed(OTHER), 1);

            assert_eq!(flush_udp_dport(P).expect("flush"), expected);
            assert_eq!(listed(P), 0);
            assert_eq!(listed(OTHER), 1, "other ports are kept");
            assert_eq!(flush_udp_dport(P).expect("flush again"), 0);

            assert_eq!(
                flush_udp_to("127.0.0.2".parse().unwrap(), OTHER).expect("flush"),
                0
            );
            assert_eq!(
                flush_udp_to(Ipv4Addr::LOCALHOST.into(), OTHER).expect("flush"),
                1
            );
            assert_eq!(listed(OTHER), 0);
        });
    }
}

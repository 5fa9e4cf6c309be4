//! Answering one query: local names are answered at once, everything else is handed back to
//! the caller to forward upstream (or refused when the sandbox may not reach upstreams).

use crate::wire::{self, ParseError, Query, Rcode, Reply};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TTL of local answers (Docker's embedded DNS uses 600 s too).
pub const LOCAL_TTL: u32 = 600;

/// What the resolver knows, as seen from one sandbox: only the names on its networks.
pub trait Names {
    /// Appends the addresses of `name` (lower-case, no trailing dot) and returns true, or
    /// returns false when the name is not known on the sandbox's networks.
    fn addresses(&self, name: &str, v4: &mut Vec<Ipv4Addr>, v6: &mut Vec<Ipv6Addr>) -> bool;
    /// The name of a local address, for PTR queries.
    fn name_of(&self, addr: IpAddr) -> Option<String>;
    /// Whether names that are not local may be forwarded to the host's upstream servers
    /// (false for a sandbox only on internal networks).
    fn may_forward(&self) -> bool;
}

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: replies are limited to 512 bytes, or the EDNS size (at most 1232).
    Udp,
    /// TCP: replies up to 65535 bytes.
    Tcp,
}

/// What to do with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send the reply written into the output buffer.
    Reply,
    /// Forward the packet upstream as it is; the parsed query tells what it asks.
    Forward(Query),
    /// Send nothing (a response, or too short to answer).
    Drop,
}

/// The largest reply a client may get for `q` over `t`.
pub fn reply_limit(q: &Query, t: Transport) -> usize {
    match t {
        Transport::Tcp => 65535,
        Transport::Udp => match q.edns {
            Some(e) => usize::from(e.udp_size.clamp(512, wire::MAX_UDP)),
            None => wire::CLASSIC_UDP,
        },
    }
}

/// The address a reverse name stands for (`2.0.17.172.in-addr.arpa`, or the 32 nibbles of
/// an `ip6.arpa` name).
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest
            .split('.')
            .map(|p| p.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        if parts.len() != 4 {
            return None;
        }
        return Some(IpAddr::V4(Ipv4Addr::new(
            parts[3], parts[2], parts[1], parts[0],
        )));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|n| match n.as_bytes() {
            [c] => (*c as char).to_digit(16).map(|d| d as u8),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        // rchunks from the end: the last two nibbles written are the first byte.
        b[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::V6(Ipv6Addr::from(b)))
}

/// Answers `packet` into `out`, or says to forward or drop it. `rotate` shuffles the order of
/// several addresses (pass a different value per query, e.g. a counter), so clients spread
/// over the sandboxes sharing a name.
pub fn respond(
    packet: &[u8],
    names: &dyn Names,
    transport: Transport,
    rotate: usize,
    out: &mut Vec<u8>,
) -> Outcome {
    let q = match wire::parse_query(packet) {
        Ok(q) => q,
        Err(ParseError::NotAQuery) => return Outcome::Drop,
        Err(_) if wire::is_query_header(packet) => {
            wire::header_reply(packet, Rcode::FormErr, out);
            return Outcome::Reply;
        }
        Err(_) => return Outcome::Drop,
    };
    let lim = reply_limit(&q, transport);
    let edns = q.edns.is_some();
    let finish = |rcode: Rcode, out: &mut Vec<u8>| {
        Reply::start(out, &q, packet, rcode, rcode != Rcode::Refused, lim).finish(edns);
        Outcome::Reply
    };
    if q.opcode != 0 {
        return finish(Rcode::NotImp, out);
    }
    if q.qclass == wire::CLASS_IN {
        if q.qtype == wire::TYPE_PTR {
            if let Some(target) = reverse_address(&q.name).and_then(|a| names.name_of(a)) {
                let mut rdata = Vec::with_capacity(target.len() + 2);
                wire::encode_name(&target, &mut rdata);
                let mut r = Reply::start(out, &q, packet, Rcode::NoError, true, lim);
                r.answer(wire::TYPE_PTR, LOCAL_TTL, &rdata, edns);
                r.finish(edns);
                return Outcome::Reply;
            }
        } else {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            if names.addresses(&q.name, &mut v4, &mut v6) {
                let mut r = Reply::start(out, &q, packet, Rcode::NoError, true, lim);
                // A name that exists with no record of the asked type is an empty NOERROR
                // (NODATA), never NXDOMAIN and never a forward.
                match q.qtype {
                    wire::TYPE_A => {
                        let n = v4.len().max(1);
                        for i in 0..v4.len() {
                            r.answer(
                                wire::TYPE_A,
                                LOCAL_TTL,
                                &v4[(i + rotate) % n].octets(),
                                edns,
                            );
                        }
                    }
                    wire::TYPE_AAAA => {
                        let n = v6.len().max(1);
                        for i in 0..v6.len() {
                            r.answer(
                                wire::TYPE_AAAA,
                                LOCAL_TTL,
                                &v6[(i + rotate) % n].octets(),
                                edns,
                            );
                        }
                    }
                    _ => {}
                }
                r.finish(edns);
                return Outcome::Reply;
            }
        }
    }
    if names.may_forward() {
        Outcome::Forward(q)
    } else if q.qclass == wire::CLASS_IN {
        finish(Rcode::NxDomain, out)
    } else {
        finish(Rcode::Refused, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::query;
    use crate::wire::{TYPE_A, TYPE_AAAA, TYPE_PTR};
    use std::collections::HashMap;

    struct Fixed {
        map: HashMap<&'static str, Vec<IpAddr>>,
        forward: bool,
    }

    impl Names for Fixed {
        fn addresses(&self, name: &str, v4: &mut Vec<Ipv4Addr>, v6: &mut Vec<Ipv6Addr>) -> bool {
            let Some(addrs) = self.map.get(name) else {
                return false;
            };
            for a in addrs {
                match a {
                    IpAddr::V4(a) => v4.push(*a),
                    IpAddr::V6(a) => v6.push(*a),
                }
            }
            true
        }
        fn name_of(&self, addr: IpAddr) -> Option<String> {
            self.map
                .iter()
                .find(|(_, v)| v.contains(&addr))
                .map(|(k, _)| k.to_string())
        }
        fn may_forward(&self) -> bool {
            self.forward
        }
    }

    fn names(forward: bool) -> Fixed {
        let mut map = HashMap::new();
        map.insert("web", vec!["172.18.0.2".parse().unwrap()]);
        map.insert(
            "db",
            vec!["172.18.0.3".parse().unwrap(), "fd00::3".parse().unwrap()],
        );
        map.insert(
            "pool",
            (2..=60)
                .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
                .collect(),
        );
        Fixed { map, forward }
    }

    fn ask(p: &[u8], n: &Fixed, t: Transport) -> (Outcome, Vec<u8>) {
        let mut out = Vec::new();
        let o = respond(p, n, t, 0, &mut out);
        (o, out)
    }

    fn rcode(r: &[u8]) -> u8 {
        r[3] & 0x0F
    }
    fn ancount(r: &[u8]) -> u16 {
        u16::from_be_bytes([r[6], r[7]])
    }

    #[test]
    fn answers_local_a_and_aaaa() {
        let n = names(true);
        let (o, r) = ask(&query(9, "web", TYPE_A, None), &n, Transport::Udp);
        assert_eq!(o, Outcome::Reply);
        assert_eq!(&r[..2], &[0, 9]);
        assert_eq!(r[2] & 0x84, 0x84, "QR and AA");
        assert_eq!((rcode(&r), ancount(&r)), (0, 1));
        assert_eq!(&r[r.len() - 4..], &[172, 18, 0, 2]);
        let (_, r) = ask(&query(9, "DB", TYPE_AAAA, None), &n, Transport::Udp);
        assert_eq!(ancount(&r), 1);
        assert_eq!(
            &r[r.len() - 16..],
            &"fd00::3".parse::<Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn other_family_is_an_empty_noerror() {
        let (o, r) = ask(
            &query(1, "web", TYPE_AAAA, None),
            &names(true),
            Transport::Udp,
        );
        assert_eq!(o, Outcome::Reply);
        assert_eq!((rcode(&r), ancount(&r)), (0, 0));
    }

    #[test]
    fn unknown_names_are_forwarded_or_nxdomain_when_internal() {
        let p = query(1, "example.com", TYPE_A, None);
        assert!(
            matches!(ask(&p, &names(true), Transport::Udp).0, Outcome::Forward(q) if q.name == "example.com")
        );
        let (o, r) = ask(&p, &names(false), Transport::Udp);
        assert_eq!(o, Outcome::Reply);
        assert_eq!(rcode(&r), 3);
    }

    #[test]
    fn ptr_for_local_addresses() {
        let (o, r) = ask(
            &query(1, "2.0.18.172.in-addr.arpa", TYPE_PTR, None),
            &names(true),
            Transport::Udp,
        );
        assert_eq!(o, Outcome::Reply);
        assert_eq!(ancount(&r), 1);
        assert!(r.ends_with(&[3, b'w', b'e', b'b', 0]));
        assert_eq!(
            reverse_address(
                "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"
            ),
            Some("fd00::3".parse().unwrap())
        );
        assert_eq!(reverse_address("1.2.3.in-addr.arpa"), None);
    }

    #[test]
    fn udp_truncates_with_tc_and_tcp_does_not() {
        let n = names(true);
        let (_, r) = ask(&query(1, "pool", TYPE_A, None), &n, Transport::Udp);
        assert!(r.len() <= 512);
        assert_eq!(r[2] & 0x02, 0x02, "TC set");
        let (_, r) = ask(&query(1, "pool", TYPE_A, Some(4096)), &n, Transport::Udp);
        assert!(r.len() <= 1232);
        assert_eq!(ancount(&r), 59, "all fit in the EDNS size");
        assert_eq!(u16::from_be_bytes([r[10], r[11]]), 1, "OPT echoed");
        let (_, r) = ask(&query(1, "pool", TYPE_A, None), &n, Transport::Tcp);
        assert_eq!((ancount(&r), r[2] & 0x02), (59, 0));
    }

    #[test]
    fn rotation_spreads_the_first_address() {
        let n = names(true);
        let firsts: std::collections::HashSet<Vec<u8>> = (0..5)
            .map(|i| {
                let mut out = Vec::new();
                respond(
                    &query(1, "pool", TYPE_A, Some(1232)),
                    &n,
                    Transport::Udp,
                    i,
                    &mut out,
                );
                let q_end = 12 + 6 + 4;
                out[q_end + 12..q_end + 16].to_vec()
            })
            .collect();
        assert_eq!(firsts.len(), 5);
    }

    #[test]
    fn malformed_queries_get_formerr_and_responses_are_dropped() {
        let mut p = query(5, "web", TYPE_A, None);
        p[5] = 0;
        let (o, r) = ask(&p, &names(true), Transport::Udp);
        assert_eq!((o, rcode(&r), &r[..2]), (Outcome::Reply, 1, &[0u8, 5][..]));
        p[2] |= 0x80;
        assert_eq!(ask(&p, &names(true), Transport::Udp).0, Outcome::Drop);
        assert_eq!(
            ask(&[1, 2, 3], &names(true), Transport::Udp).0,
            Outcome::Drop
        );
    }

    proptest::proptest! {
        #[test]
        fn random_packets_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut out = Vec::new();
            let _ = respond(&bytes, &names(true), Transport::Udp, 0, &mut out);
            proptest::prop_assert!(out.len() <= 65535);
        }

        #[test]
        fn mutated_queries_never_panic(pos in 0usize..40, byte in proptest::num::u8::ANY) {
            let mut p = query(3, "db", TYPE_AAAA, Some(1232));
            if pos < p.len() { p[pos] = byte; }
            let mut out = Vec::new();
            let _ = respond(&p, &names(true), Transport::Udp, 0, &mut out);
        }
    }
}

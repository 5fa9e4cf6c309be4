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
///
/// Never forwarded: malformed queries (FORMERR, with an OPT record when the OPT records are
/// at fault), EDNS versions above 0 (BADVERS), opcodes other than QUERY (NOTIMP), zone
/// transfers (AXFR, IXFR: REFUSED), and ANY (RFC 8482: the addresses of a local name, else a
/// single synthesized `HINFO "RFC8482" ""`), so no client can turn ferry into an amplifier.
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
        Err(e) if e.is_opt_fault() => {
            wire::opt_formerr_reply(packet, out);
            return Outcome::Reply;
        }
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
    if q.edns.is_some_and(|e| e.version > 0) {
        // RFC 6891 6.1.3: BADVERS, with an OPT record of the version ferry implements (0).
        let mut r = Reply::start(out, &q, packet, Rcode::NoError, false, lim);
        r.set_extended_rcode(wire::RCODE_BADVERS);
        r.finish(true);
        return Outcome::Reply;
    }
    if q.opcode != 0 {
        return finish(Rcode::NotImp, out);
    }
    match q.qtype {
        wire::TYPE_AXFR | wire::TYPE_IXFR => return finish(Rcode::Refused, out),
        wire::TYPE_ANY => {
            if let Some(o) = answer_any(&q, packet, names, lim, rotate, out) {
                return o;
            }
        }
        _ if q.qclass != wire::CLASS_IN => {}
        wire::TYPE_PTR => {
            if let Some(target) = reverse_address(&q.name).and_then(|a| names.name_of(a)) {
                let mut rdata = Vec::with_capacity(target.len() + 2);
                wire::encode_name(&target, &mut rdata);
                let mut r = Reply::start(out, &q, packet, Rcode::NoError, true, lim);
                r.answer(wire::TYPE_PTR, LOCAL_TTL, &rdata, edns);
                r.finish(edns);
                return Outcome::Reply;
            }
        }
        qtype => {
            let (mut v4, mut v6) = (Vec::new(), Vec::new());
            if names.addresses(&q.name, &mut v4, &mut v6) {
                let mut r = Reply::start(out, &q, packet, Rcode::NoError, true, lim);
                // A name that exists with no record of the asked type is an empty NOERROR
                // (NODATA), never NXDOMAIN and never a forward.
                match qtype {
                    wire::TYPE_A => push_v4(&mut r, &v4, rotate, edns),
                    wire::TYPE_AAAA => push_v6(&mut r, &v6, rotate, edns),
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

/// The TTL of the synthesized HINFO answer to ANY.
pub const ANY_TTL: u32 = LOCAL_TTL;

/// ANY (RFC 8482), never forwarded: a local name gets its addresses (its A and AAAA sets);
/// another name, when the sandbox may reach upstreams, one synthesized `HINFO "RFC8482" ""`.
/// Another class is REFUSED. None when the caller's usual answer applies (NXDOMAIN for a
/// sandbox that cannot forward).
fn answer_any(
    q: &Query,
    packet: &[u8],
    names: &dyn Names,
    lim: usize,
    rotate: usize,
    out: &mut Vec<u8>,
) -> Option<Outcome> {
    let edns = q.edns.is_some();
    if q.qclass != wire::CLASS_IN {
        Reply::start(out, q, packet, Rcode::Refused, false, lim).finish(edns);
        return Some(Outcome::Reply);
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    if names.addresses(&q.name, &mut v4, &mut v6) {
        let mut r = Reply::start(out, q, packet, Rcode::NoError, true, lim);
        push_v4(&mut r, &v4, rotate, edns);
        push_v6(&mut r, &v6, rotate, edns);
        r.finish(edns);
        return Some(Outcome::Reply);
    }
    if !names.may_forward() {
        return None;
    }
    // Two character-strings: CPU "RFC8482", OS "".
    let mut r = Reply::start(out, q, packet, Rcode::NoError, false, lim);
    r.answer(wire::TYPE_HINFO, ANY_TTL, b"\x07RFC8482\x00", edns);
    r.finish(edns);
    Some(Outcome::Reply)
}

/// Adds the A records, rotated by `rotate`.
fn push_v4(r: &mut Reply<'_>, v4: &[Ipv4Addr], rotate: usize, edns: bool) {
    for i in 0..v4.len() {
        r.answer(
            wire::TYPE_A,
            LOCAL_TTL,
            &v4[(i + rotate) % v4.len()].octets(),
            edns,
        );
    }
}

/// Adds the AAAA records, rotated by `rotate`.
fn push_v6(r: &mut Reply<'_>, v6: &[Ipv6Addr], rotate: usize, edns: bool) {
    for i in 0..v6.len() {
        r.answer(
            wire::TYPE_AAAA,
            LOCAL_TTL,
            &v6[(i + rotate) % v6.len()].octets(),
            edns,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::{add_opt, query};
    use crate::wire::{TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_AXFR, TYPE_HINFO, TYPE_IXFR, TYPE_PTR};
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

    /// The record type of the first answer (after a question of `qlen` bytes).
    fn first_answer_type(r: &[u8], qlen: usize) -> u16 {
        let at = 12 + qlen + 2;
        u16::from_be_bytes([r[at], r[at + 1]])
    }

    #[test]
    fn edns_versions_above_0_get_badvers() {
        for name in ["web", "example.com"] {
            let mut p = query(4, name, TYPE_A, None);
            add_opt(&mut p, 1);
            let (o, r) = ask(&p, &names(true), Transport::Udp);
            assert_eq!(o, Outcome::Reply, "{name}: never forwarded");
            assert_eq!((rcode(&r), ancount(&r)), (0, 0), "lower bits of 16 are 0");
            assert_eq!(u16::from_be_bytes([r[10], r[11]]), 1, "an OPT record");
            let opt = &r[r.len() - 11..];
            assert_eq!(&opt[..3], &[0, 0, 41]);
            assert_eq!(
                (opt[5], opt[6]),
                (1, 0),
                "extended rcode 16 >> 4, version 0"
            );
        }
        // Version 0 is answered as usual.
        let mut p = query(4, "web", TYPE_A, None);
        add_opt(&mut p, 0);
        let (_, r) = ask(&p, &names(true), Transport::Udp);
        assert_eq!((rcode(&r), ancount(&r), r[r.len() - 6]), (0, 1, 0));
    }

    #[test]
    fn several_or_misplaced_opt_records_get_formerr_with_opt() {
        let mut p = query(6, "example.com", TYPE_A, Some(1232));
        add_opt(&mut p, 0);
        let (o, r) = ask(&p, &names(true), Transport::Udp);
        assert_eq!(o, Outcome::Reply, "not forwarded");
        assert_eq!((rcode(&r), &r[..2]), (1, &[0u8, 6][..]));
        assert_eq!((r[5], r[11]), (1, 1), "question and OPT");
        let mut p = query(6, "web", TYPE_A, None);
        add_opt(&mut p, 0);
        (p[7], p[11]) = (1, 0);
        let (_, r) = ask(&p, &names(true), Transport::Tcp);
        assert_eq!((rcode(&r), r[11]), (1, 1));
    }

    #[test]
    fn any_is_answered_minimally_and_never_forwarded() {
        let n = names(true);
        // A local name: its addresses, both families.
        let (o, r) = ask(&query(1, "db", TYPE_ANY, None), &n, Transport::Udp);
        assert_eq!(o, Outcome::Reply);
        assert_eq!((rcode(&r), ancount(&r)), (0, 2));
        assert_eq!(first_answer_type(&r, 4 + 4), TYPE_A);
        assert!(r.ends_with(&"fd00::3".parse::<Ipv6Addr>().unwrap().octets()));
        // Another name: one HINFO "RFC8482" "" (RFC 8482 4.2), not authoritative.
        let (o, r) = ask(&query(1, "example.com", TYPE_ANY, None), &n, Transport::Tcp);
        assert_eq!(o, Outcome::Reply);
        assert_eq!((rcode(&r), ancount(&r), r[2] & 0x04), (0, 1, 0));
        assert_eq!(first_answer_type(&r, 13 + 4), TYPE_HINFO);
        assert!(r.ends_with(b"\x00\x09\x07RFC8482\x00"), "{r:?}");
        // With EDNS the OPT record follows the answer.
        let (_, r) = ask(
            &query(1, "example.com", TYPE_ANY, Some(1232)),
            &n,
            Transport::Udp,
        );
        assert_eq!((ancount(&r), r[11]), (1, 1));
        // No way out: NXDOMAIN, as for any other type; another class: REFUSED.
        let (_, r) = ask(
            &query(1, "example.com", TYPE_ANY, None),
            &names(false),
            Transport::Udp,
        );
        assert_eq!(rcode(&r), 3);
        let mut p = query(1, "example.com", TYPE_ANY, None);
        let class_at = p.len() - 1;
        p[class_at] = 3; // CHAOS
        let (o, r) = ask(&p, &n, Transport::Udp);
        assert_eq!((o, rcode(&r)), (Outcome::Reply, 5));
    }

    #[test]
    fn zone_transfers_are_refused() {
        for qtype in [TYPE_AXFR, TYPE_IXFR] {
            for name in ["web", "appnet", "example.com"] {
                let (o, r) = ask(&query(2, name, qtype, None), &names(true), Transport::Tcp);
                assert_eq!(o, Outcome::Reply, "{name} {qtype}: never forwarded");
                assert_eq!((rcode(&r), ancount(&r)), (5, 0), "{name} {qtype}");
            }
        }
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

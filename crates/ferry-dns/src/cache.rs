//! A small cache of upstream replies, honouring their TTLs: positive answers live as long as
//! their shortest record, negative ones (NXDOMAIN, NODATA) as long as their SOA says
//! (RFC 2308), and a reply served from the cache has its TTLs counted down, its ID and the
//! client's spelling of the question put back. Time is passed in, so the cache is pure.

use crate::wire::{self, Query, HEADER_LEN, TYPE_OPT};
use std::collections::{HashMap, VecDeque};

/// Record type SOA.
const TYPE_SOA: u16 = 6;
/// The longest a reply is kept, whatever its TTL says (a day, as common resolvers cap it).
pub const MAX_TTL: u32 = 86_400;
/// The longest a negative reply is kept.
pub const MAX_NEGATIVE_TTL: u32 = 300;

/// What identifies a cached reply: the question, and what changes the reply's shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// Which set of upstream servers answered (sandboxes may have different `--dns`).
    scope: u64,
    name: String,
    qtype: u16,
    qclass: u16,
    /// A client without EDNS must not get an OPT record back; DNSSEC OK changes the records.
    edns: bool,
    dnssec_ok: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    reply: Vec<u8>,
    /// Offsets of the TTL field of every record but OPT.
    ttl_offsets: Vec<usize>,
    stored_at: u64,
    ttl: u32,
}

/// Cached upstream replies, at most `capacity` of them (the oldest goes first).
#[derive(Debug)]
pub struct Cache {
    entries: HashMap<Key, Entry>,
    order: VecDeque<Key>,
    capacity: usize,
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    p.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    p.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Skips a possibly compressed name; the offset after it.
fn skip_name(p: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *p.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + len as usize,
            0xC0..=0xFF => return p.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// How long a reply may be cached and where its TTLs are, or None when it must not be cached
/// (not an answer to `q`, truncated, a server failure, or unreadable).
fn cacheable(q: &Query, reply: &[u8]) -> Option<(u32, Vec<usize>)> {
    if reply.len() < HEADER_LEN || reply[2] & 0x80 == 0 || reply[2] & 0x02 != 0 {
        return None;
    }
    let rcode = reply[3] & 0x0F;
    if rcode != 0 && rcode != 3 {
        return None;
    }
    if u16_at(reply, 4)? != 1 {
        return None;
    }
    // The question must be the one asked (names compared without case).
    let echoed = wire::parse_question(reply).ok()?;
    if echoed.0 != q.name || echoed.1 != q.qtype || echoed.2 != q.qclass {
        return None;
    }
    let (ancount, nscount, arcount) = (u16_at(reply, 6)?, u16_at(reply, 8)?, u16_at(reply, 10)?);
    let mut at = echoed.3;
    let mut offsets = Vec::new();
    let mut min_answer: Option<u32> = None;
    let mut soa: Option<u32> = None;
    for i in 0..u32::from(ancount) + u32::from(nscount) + u32::from(arcount) {
        at = skip_name(reply, at)?;
        let rtype = u16_at(reply, at)?;
        let ttl = u32_at(reply, at + 4)?;
        let rdlen = usize::from(u16_at(reply, at + 8)?);
        let rdata_end = at + 10 + rdlen;
        if reply.len() < rdata_end {
            return None;
        }
        if rtype != TYPE_OPT {
            offsets.push(at + 4);
        }
        if i < u32::from(ancount) {
            min_answer = Some(min_answer.map_or(ttl, |m| m.min(ttl)));
        } else if i < u32::from(ancount) + u32::from(nscount) && rtype == TYPE_SOA && rdlen >= 20 {
            // SOA MINIMUM is the last field of its data.
            let minimum = u32_at(reply, rdata_end - 4)?;
            soa = Some(ttl.min(minimum));
        }
        at = rdata_end;
    }
    let ttl = match (rcode, min_answer) {
        (0, Some(t)) => t.min(MAX_TTL),
        // NXDOMAIN, or NOERROR with no answer (NODATA): negative caching needs an SOA.
        _ => soa?.min(MAX_NEGATIVE_TTL),
    };
    (ttl > 0).then_some((ttl, offsets))
}

impl Cache {
    /// An empty cache holding at most `capacity` replies.
    pub fn new(capacity: usize) -> Self {
        Cache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many replies are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(scope: u64, q: &Query) -> Key {
        Key {
            scope,
            name: q.name.clone(),
            qtype: q.qtype,
            qclass: q.qclass,
            edns: q.edns.is_some(),
            dnssec_ok: q.edns.is_some_and(|e| e.dnssec_ok),
        }
    }

    /// Keeps `reply`, the upstream's answer to `q`, if it may be cached. `now` is in seconds
    /// on a monotonic clock.
    pub fn insert(&mut self, scope: u64, q: &Query, reply: &[u8], now: u64) {
        let Some((ttl, ttl_offsets)) = cacheable(q, reply) else {
            return;
        };
        let key = Self::key(scope, q);
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.entries.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(key.clone());
        }
        self.entries.insert(
            key,
            Entry {
                reply: reply.to_vec(),
                ttl_offsets,
                stored_at: now,
                ttl,
            },
        );
    }

    /// Writes the cached reply to `q` (whose packet is `packet`) into `out`, with TTLs counted
    /// down, the query's ID and its spelling of the name; false when nothing fresh is cached
    /// or the reply would not fit in `limit` bytes.
    pub fn lookup(
        &mut self,
        scope: u64,
        q: &Query,
        packet: &[u8],
        now: u64,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let key = Self::key(scope, q);
        let Some(e) = self.entries.get(&key) else {
            return false;
        };
        let age = now.saturating_sub(e.stored_at);
        if age >= u64::from(e.ttl) {
            // Expired: gone from the order too, so a name asked again and again never
            // leaves stale places behind (rare: once per TTL at most, a scan of `capacity`).
            self.entries.remove(&key);
            if let Some(i) = self.order.iter().position(|k| *k == key) {
                self.order.remove(i);
            }
            return false;
        }
        if e.reply.len() > limit {
            return false;
        }
        out.clear();
        out.extend_from_slice(&e.reply);
        out[..2].copy_from_slice(&packet[..2]);
        // The question as the client spelled it (some stubs randomise the case, DNS 0x20);
        // same length, since it compares equal without case.
        let qlen = q.question_end - HEADER_LEN;
        if out.len() >= HEADER_LEN + qlen {
            out[HEADER_LEN..HEADER_LEN + qlen].copy_from_slice(&packet[HEADER_LEN..q.question_end]);
        }
        // The RD flag echoes the query's.
        out[2] = (out[2] & !0x01) | (packet[2] & 0x01);
        let age = age as u32;
        for &at in &e.ttl_offsets {
            if let Some(t) = u32_at(out, at) {
                out[at..at + 4].copy_from_slice(&t.saturating_sub(age).to_be_bytes());
            }
        }
        true
    }

    /// Drops expired replies and their places in the eviction order.
    pub fn purge(&mut self, now: u64) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.stored_at) < u64::from(e.ttl));
        let entries = &self.entries;
        self.order.retain(|k| entries.contains_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::query;
    use crate::wire::{parse_query, TYPE_A, TYPE_AAAA};

    /// An upstream's reply to `q`: answers `(ttl, addr)`, optionally an SOA in authority.
    fn reply(q: &[u8], rcode: u8, answers: &[(u32, [u8; 4])], soa: Option<(u32, u32)>) -> Vec<u8> {
        let parsed = parse_query(q).unwrap();
        let mut r = q[..parsed.question_end].to_vec();
        r[2] |= 0x80;
        r[3] = 0x80 | rcode;
        r[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        r[8..10].copy_from_slice(&u16::from(soa.is_some()).to_be_bytes());
        r[10..12].copy_from_slice(&[0, 0]);
        for (ttl, a) in answers {
            r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
            r.extend_from_slice(&ttl.to_be_bytes());
            r.extend_from_slice(&[0, 4]);
            r.extend_from_slice(a);
        }
        if let Some((ttl, minimum)) = soa {
            r.extend_from_slice(&[0xC0, 0x0C, 0, 6, 0, 1]);
            r.extend_from_slice(&ttl.to_be_bytes());
            let mut rdata = vec![0xC0, 0x0C, 0xC0, 0x0C];
            for v in [1u32, 2, 3, 4, minimum] {
                rdata.extend_from_slice(&v.to_be_bytes());
            }
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
        }
        r
    }

    fn ttl_of_first_answer(r: &[u8], q: &Query) -> u32 {
        u32_at(r, q.question_end + 6).unwrap()
    }

    #[test]
    fn answers_live_as_long_as_their_shortest_ttl_and_count_down() {
        let mut c = Cache::new(16);
        let p = query(1, "example.test", TYPE_A, None);
        let q = parse_query(&p).unwrap();
        c.insert(
            0,
            &q,
            &reply(&p, 0, &[(60, [192, 0, 2, 1]), (30, [192, 0, 2, 2])], None),
            100,
        );
        let mut out = Vec::new();
        // A later query, another ID, the name in another case.
        let p2 = query(9, "EXAMPLE.test", TYPE_A, None);
        let q2 = parse_query(&p2).unwrap();
        assert!(c.lookup(0, &q2, &p2, 110, 512, &mut out));
        assert_eq!(&out[..2], &[0, 9], "the new query's ID");
        assert_eq!(&out[12..24], &p2[12..24], "the client's spelling");
        assert_eq!(ttl_of_first_answer(&out, &q2), 50);
        assert!(
            !c.lookup(0, &q2, &p2, 130, 512, &mut out),
            "30 s is the shortest TTL"
        );
        assert!(c.is_empty());
    }

    #[test]
    fn keys_separate_scopes_types_and_edns() {
        let mut c = Cache::new(16);
        let p = query(1, "example.test", TYPE_A, None);
        let q = parse_query(&p).unwrap();
        c.insert(7, &q, &reply(&p, 0, &[(60, [192, 0, 2, 1])], None), 0);
        let mut out = Vec::new();
        assert!(!c.lookup(8, &q, &p, 1, 512, &mut out), "other upstreams");
        let p6 = query(1, "example.test", TYPE_AAAA, None);
        assert!(!c.lookup(7, &parse_query(&p6).unwrap(), &p6, 1, 512, &mut out));
        let pe = query(1, "example.test", TYPE_A, Some(1232));
        assert!(!c.lookup(7, &parse_query(&pe).unwrap(), &pe, 1, 1232, &mut out));
        assert!(c.lookup(7, &q, &p, 1, 512, &mut out));
        assert!(
            !c.lookup(7, &q, &p, 1, 20, &mut out),
            "does not fit the client's limit"
        );
    }

    #[test]
    fn negative_answers_need_an_soa_and_are_capped() {
        let mut c = Cache::new(16);
        let p = query(1, "nope.test", TYPE_A, None);
        let q = parse_query(&p).unwrap();
        c.insert(0, &q, &reply(&p, 3, &[], None), 0);
        assert!(c.is_empty(), "NXDOMAIN without SOA: not cached");
        c.insert(0, &q, &reply(&p, 3, &[], Some((3600, 900))), 0);
        let mut out = Vec::new();
        assert!(c.lookup(0, &q, &p, 299, 512, &mut out));
        assert_eq!(out[3] & 0x0F, 3);
        assert!(!c.lookup(0, &q, &p, 300, 512, &mut out), "capped at 300 s");
    }

    #[test]
    fn failures_truncation_zero_ttls_and_strangers_are_not_cached() {
        let mut c = Cache::new(16);
        let p = query(1, "example.test", TYPE_A, None);
        let q = parse_query(&p).unwrap();
        c.insert(0, &q, &reply(&p, 2, &[(60, [1, 2, 3, 4])], None), 0);
        let mut tc = reply(&p, 0, &[(60, [1, 2, 3, 4])], None);
        tc[2] |= 0x02;
        c.insert(0, &q, &tc, 0);
        c.insert(0, &q, &reply(&p, 0, &[(0, [1, 2, 3, 4])], None), 0);
        let other = query(1, "other.test", TYPE_A, None);
        c.insert(0, &q, &reply(&other, 0, &[(60, [1, 2, 3, 4])], None), 0);
        let mut cut = reply(&p, 0, &[(60, [1, 2, 3, 4])], None);
        cut.truncate(cut.len() - 2);
        c.insert(0, &q, &cut, 0);
        assert!(c.is_empty());
    }

    #[test]
    fn the_oldest_goes_when_full() {
        let mut c = Cache::new(2);
        let mut out = Vec::new();
        let names = ["a.test", "b.test", "c.test"];
        for (i, n) in names.iter().enumerate() {
            let p = query(1, n, TYPE_A, None);
            c.insert(
                0,
                &parse_query(&p).unwrap(),
                &reply(&p, 0, &[(60, [1, 2, 3, i as u8])], None),
                0,
            );
        }
        assert_eq!(c.len(), 2);
        let first = query(1, "a.test", TYPE_A, None);
        assert!(!c.lookup(0, &parse_query(&first).unwrap(), &first, 1, 512, &mut out));
        c.purge(1000);
        assert!(c.is_empty());
    }

    #[test]
    fn a_name_that_keeps_expiring_leaves_no_places_behind() {
        let mut c = Cache::new(8);
        let mut out = Vec::new();
        let p = query(1, "short.test", TYPE_A, None);
        let q = parse_query(&p).unwrap();
        for round in 0..100u64 {
            c.insert(0, &q, &reply(&p, 0, &[(1, [1, 2, 3, 4])], None), round * 2);
            assert!(!c.lookup(0, &q, &p, round * 2 + 1, 512, &mut out));
        }
        assert!(c.order.is_empty(), "{} stale places", c.order.len());
    }
}

//! The DNS wire format, as far as a stub resolver's queries and ferry's answers need it:
//! parsing one query (RFC 1035 header and question, RFC 6891 OPT record) and writing a reply.

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type PTR.
pub const TYPE_PTR: u16 = 12;
/// Record type HINFO (the synthesized answer to ANY, RFC 8482).
pub const TYPE_HINFO: u16 = 13;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Record type OPT (EDNS).
pub const TYPE_OPT: u16 = 41;
/// Query type IXFR (incremental zone transfer).
pub const TYPE_IXFR: u16 = 251;
/// Query type AXFR (zone transfer).
pub const TYPE_AXFR: u16 = 252;
/// Query type ANY (`*`).
pub const TYPE_ANY: u16 = 255;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Largest UDP reply without EDNS.
pub const CLASSIC_UDP: usize = 512;
/// The extended response code BADVERS (RFC 6891): the query's EDNS version is not
/// implemented. Its upper eight bits travel in the OPT record, the lower four in the header.
pub const RCODE_BADVERS: u16 = 16;
/// Largest UDP reply ferry sends even when a client offers more (the DNS flag day 2020 value,
/// safe from IP fragmentation).
pub const MAX_UDP: u16 = 1232;

/// Response codes ferry sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// No error.
    NoError = 0,
    /// The query could not be parsed.
    FormErr = 1,
    /// No upstream server answered.
    ServFail = 2,
    /// The name does not exist.
    NxDomain = 3,
    /// The opcode is not supported.
    NotImp = 4,
    /// The query is refused.
    Refused = 5,
}

/// Why a packet is not a query ferry can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than a header, or a field runs past the end.
    #[error("packet truncated")]
    Truncated,
    /// The QR bit is set: it is a response, not a query.
    #[error("not a query")]
    NotAQuery,
    /// Not exactly one question.
    #[error("{0} questions; exactly one is supported")]
    QuestionCount(u16),
    /// A name with a compression pointer in the question, an over-long label or name.
    #[error("malformed name")]
    BadName,
    /// More than one OPT record (RFC 6891 6.1.1).
    #[error("more than one OPT record")]
    SeveralOpt,
    /// An OPT record in the answer or authority section.
    #[error("OPT record outside the additional section")]
    MisplacedOpt,
}

impl ParseError {
    /// True when the question was read and the fault is in the query's OPT record, so the
    /// FORMERR reply can echo the question and carry an OPT record (RFC 6891 7).
    pub fn is_opt_fault(&self) -> bool {
        matches!(self, ParseError::SeveralOpt | ParseError::MisplacedOpt)
    }
}

/// EDNS parameters of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The client's UDP payload size.
    pub udp_size: u16,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The EDNS version; ferry implements version 0 and answers others with BADVERS.
    pub version: u8,
}

/// One parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Transaction ID.
    pub id: u16,
    /// Opcode (0 is QUERY).
    pub opcode: u8,
    /// Recursion desired.
    pub recursion_desired: bool,
    /// The name asked for: lower-case, labels joined by '.', no trailing dot. Bytes outside
    /// printable ASCII (and '.' or '\' inside a label) are written `\DDD`, so such a name can
    /// never equal a sandbox's name.
    pub name: String,
    /// Record type asked for.
    pub qtype: u16,
    /// Class asked for.
    pub qclass: u16,
    /// Where the question ends in the packet: bytes `HEADER_LEN..question_end` are the
    /// question, echoed in the reply.
    pub question_end: usize,
    /// EDNS, when the query carries an OPT record.
    pub edns: Option<Edns>,
}

fn u16_at(p: &[u8], at: usize) -> Result<u16, ParseError> {
    match p.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(ParseError::Truncated),
    }
}

/// Reads an uncompressed name at `at`; returns it and the offset after it.
fn read_name(p: &[u8], mut at: usize) -> Result<(String, usize), ParseError> {
    let mut name = String::new();
    let mut wire_len = 0usize;
    loop {
        let len = *p.get(at).ok_or(ParseError::Truncated)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            // Compression pointers (0xC0) and the reserved label types.
            return Err(ParseError::BadName);
        }
        wire_len += len + 1;
        if wire_len > 254 {
            return Err(ParseError::BadName);
        }
        let label = p.get(at..at + len).ok_or(ParseError::Truncated)?;
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            match b {
                b'.' | b'\\' => name.push_str(&format!("\\{b:03}")),
                b'!'..=b'~' => name.push(b.to_ascii_lowercase() as char),
                _ => name.push_str(&format!("\\{b:03}")),
            }
        }
        at += len;
    }
    Ok((name, at))
}

/// Skips a possibly compressed name in a resource record; returns the offset after it.
fn skip_name(p: &[u8], mut at: usize) -> Result<usize, ParseError> {
    loop {
        let len = *p.get(at).ok_or(ParseError::Truncated)?;
        match len {
            0 => return Ok(at + 1),
            1..=63 => at += 1 + len as usize,
            0xC0..=0xFF => return Ok(at + 2),
            _ => return Err(ParseError::BadName),
        }
    }
}

/// True when the packet's header says it is a query (QR clear); such a packet deserves a
/// FORMERR reply even when the rest cannot be read.
pub fn is_query_header(p: &[u8]) -> bool {
    p.len() >= HEADER_LEN && p[2] & 0x80 == 0
}

/// Reads the first question of a packet (query or reply): its name (as in [`Query::name`]),
/// type, class, and the offset after it.
pub fn parse_question(p: &[u8]) -> Result<(String, u16, u16, usize), ParseError> {
    let (name, at) = read_name(p, HEADER_LEN)?;
    let qtype = u16_at(p, at)?;
    let qclass = u16_at(p, at + 2)?;
    Ok((name, qtype, qclass, at + 4))
}

/// Parses a query.
pub fn parse_query(p: &[u8]) -> Result<Query, ParseError> {
    if p.len() < HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if p[2] & 0x80 != 0 {
        return Err(ParseError::NotAQuery);
    }
    let id = u16_at(p, 0)?;
    let opcode = (p[2] >> 3) & 0x0F;
    let recursion_desired = p[2] & 0x01 != 0;
    let qdcount = u16_at(p, 4)?;
    if qdcount != 1 {
        return Err(ParseError::QuestionCount(qdcount));
    }
    let ancount = u16_at(p, 6)?;
    let nscount = u16_at(p, 8)?;
    let arcount = u16_at(p, 10)?;
    let (name, qtype, qclass, question_end) = parse_question(p)?;
    // Records after the question: only an OPT in the additional section matters; an OPT
    // anywhere else, or a second one, makes the query malformed. The count is bounded by the
    // packet's length, since every record takes at least 11 bytes.
    let mut at = question_end;
    let mut edns = None;
    let total = u32::from(ancount) + u32::from(nscount) + u32::from(arcount);
    for i in 0..total {
        at = skip_name(p, at)?;
        let rtype = u16_at(p, at)?;
        let class = u16_at(p, at + 2)?;
        // For OPT the TTL field is extended rcode, version, then the flags (DO first).
        let ttl_hi = u16_at(p, at + 4)?;
        let ttl_lo = u16_at(p, at + 6)?;
        let rdlen = u16_at(p, at + 8)? as usize;
        at += 10;
        if p.len() < at + rdlen {
            return Err(ParseError::Truncated);
        }
        at += rdlen;
        if rtype != TYPE_OPT {
            continue;
        }
        if i < u32::from(ancount) + u32::from(nscount) {
            return Err(ParseError::MisplacedOpt);
        }
        if edns.is_some() {
            return Err(ParseError::SeveralOpt);
        }
        edns = Some(Edns {
            udp_size: class,
            dnssec_ok: ttl_lo & 0x8000 != 0,
            version: ttl_hi as u8,
        });
    }
    Ok(Query {
        id,
        opcode,
        recursion_desired,
        name,
        qtype,
        qclass,
        question_end,
        edns,
    })
}

/// Writes a reply to `q` (whose packet is `packet`) into `out`.
pub struct Reply<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
    answers: u16,
    truncated: bool,
    /// The upper eight bits of an extended response code, sent in the OPT record.
    ext_rcode: u8,
}

impl<'a> Reply<'a> {
    /// Starts a reply: header and echoed question. `limit` is the largest reply allowed (the
    /// UDP size, or 65535 over TCP).
    pub fn start(
        out: &'a mut Vec<u8>,
        q: &Query,
        packet: &[u8],
        rcode: Rcode,
        authoritative: bool,
        limit: usize,
    ) -> Self {
        out.clear();
        out.extend_from_slice(&q.id.to_be_bytes());
        let mut b2 = 0x80 | (q.opcode << 3);
        if authoritative {
            b2 |= 0x04;
        }
        if q.recursion_desired {
            b2 |= 0x01;
        }
        out.push(b2);
        out.push(0x80 | rcode as u8); // RA: ferry recurses (by forwarding)
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&packet[HEADER_LEN..q.question_end]);
        Reply {
            out,
            limit,
            answers: 0,
            truncated: false,
            ext_rcode: 0,
        }
    }

    /// Sets an extended response code (such as [`RCODE_BADVERS`]): its lower four bits go in
    /// the header, the upper eight in the OPT record, so the reply must end with EDNS.
    pub fn set_extended_rcode(&mut self, rcode: u16) {
        self.out[3] = (self.out[3] & 0xF0) | (rcode & 0x0F) as u8;
        self.ext_rcode = (rcode >> 4) as u8;
    }

    /// Room left for records, keeping space for the OPT record when one will be added.
    fn fits(&self, len: usize, opt: bool) -> bool {
        self.out.len() + len + if opt { 11 } else { 0 } <= self.limit
    }

    /// Adds an answer for the question's name (a compression pointer to it) with `rdata`;
    /// sets the TC bit instead when it does not fit.
    pub fn answer(&mut self, rtype: u16, ttl: u32, rdata: &[u8], opt: bool) {
        if self.truncated || !self.fits(12 + rdata.len(), opt) {
            self.truncated = true;
            return;
        }
        self.out.extend_from_slice(&[0xC0, 0x0C]);
        self.out.extend_from_slice(&rtype.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.out
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.out.extend_from_slice(rdata);
        self.answers += 1;
    }

    /// Ends the reply: counts, TC bit, and the OPT record when the query had EDNS.
    pub fn finish(self, edns: bool) {
        self.out[6..8].copy_from_slice(&self.answers.to_be_bytes());
        if self.truncated {
            self.out[2] |= 0x02;
        }
        if edns {
            push_opt(self.out, self.ext_rcode);
        }
    }
}

/// Appends ferry's OPT record (root owner, UDP size [`MAX_UDP`], version 0, no flags, no
/// options) with the upper bits `ext_rcode` of the response code, and counts it in ARCOUNT.
fn push_opt(out: &mut Vec<u8>, ext_rcode: u8) {
    let size = MAX_UDP.to_be_bytes();
    out.extend_from_slice(&[0, 0, 41, size[0], size[1], ext_rcode, 0, 0, 0, 0, 0]);
    let arcount = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
}

/// A name in wire form (for PTR targets): `web.appnet` → `3web6appnet0`.
pub fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let b = label.as_bytes();
        let len = b.len().min(63);
        out.push(len as u8);
        out.extend_from_slice(&b[..len]);
    }
    out.push(0);
}

/// A header-only reply (FORMERR for a query whose question cannot be read).
pub fn header_reply(packet: &[u8], rcode: Rcode, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&packet[..2]);
    out.push(0x80 | (packet[2] & 0x78) | (packet[2] & 0x01));
    out.push(0x80 | rcode as u8);
    out.extend_from_slice(&[0; 8]);
}

/// A reply to `q` with no records and `rcode` (SERVFAIL when no upstream answers or the
/// sandbox has its share of forwards in flight). The question is echoed, since stub resolvers
/// such as glibc's drop a reply whose question does not match theirs and wait out their
/// timeout instead of moving on.
pub fn error_reply(q: &Query, packet: &[u8], rcode: Rcode, limit: usize, out: &mut Vec<u8>) {
    Reply::start(out, q, packet, rcode, false, limit).finish(q.edns.is_some());
}

/// FORMERR for a query whose OPT records are at fault ([`ParseError::is_opt_fault`]): the
/// question echoed when it can be read, and an OPT record, as RFC 6891 section 7 asks.
pub fn opt_formerr_reply(packet: &[u8], out: &mut Vec<u8>) {
    header_reply(packet, Rcode::FormErr, out);
    if let Ok((_, _, _, end)) = parse_question(packet) {
        out[5] = 1;
        out.extend_from_slice(&packet[HEADER_LEN..end]);
    }
    push_opt(out, 0);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as a stub resolver sends it.
    pub fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
        encode_name(name, &mut p);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some(size) = edns {
            p.extend_from_slice(&[0, 0, 41]);
            p.extend_from_slice(&size.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
        }
        p
    }

    /// Appends an OPT record of EDNS `version` to `p` (counted in ARCOUNT).
    pub fn add_opt(p: &mut Vec<u8>, version: u8) {
        p.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, version, 0, 0, 0, 0]);
        let ar = u16::from_be_bytes([p[10], p[11]]) + 1;
        p[10..12].copy_from_slice(&ar.to_be_bytes());
    }

    #[test]
    fn reads_the_edns_version() {
        let mut p = query(1, "a", TYPE_A, None);
        add_opt(&mut p, 1);
        assert_eq!(parse_query(&p).unwrap().edns.map(|e| e.version), Some(1));
    }

    #[test]
    fn several_or_misplaced_opt_records_are_malformed() {
        let mut p = query(1, "a", TYPE_A, Some(1232));
        add_opt(&mut p, 0);
        assert_eq!(parse_query(&p), Err(ParseError::SeveralOpt));
        // The same OPT record counted as an answer, then as an authority record.
        for count_at in [7, 9] {
            let mut p = query(1, "a", TYPE_A, None);
            add_opt(&mut p, 0);
            p[11] = 0;
            p[count_at] = 1;
            assert_eq!(parse_query(&p), Err(ParseError::MisplacedOpt), "{count_at}");
        }
        // The FORMERR reply echoes the question and carries an OPT record.
        let mut out = Vec::new();
        opt_formerr_reply(&p, &mut out);
        assert_eq!(out[3] & 0x0F, Rcode::FormErr as u8);
        assert_eq!((out[5], out[11]), (1, 1), "one question, one OPT");
        assert_eq!(&out[12..18], &p[12..18], "question echoed");
        assert_eq!(&out[out.len() - 11..out.len() - 8], &[0, 0, 41]);
    }

    #[test]
    fn error_replies_echo_the_question() {
        let p = query(9, "example.com", TYPE_A, Some(1232));
        let q = parse_query(&p).unwrap();
        let mut out = Vec::new();
        error_reply(&q, &p, Rcode::ServFail, 512, &mut out);
        assert_eq!(&out[..2], &[0, 9]);
        assert_eq!(out[3] & 0x0F, Rcode::ServFail as u8);
        assert_eq!(
            (out[5], out[7], out[11]),
            (1, 0, 1),
            "question, no answer, OPT"
        );
        assert_eq!(&out[12..q.question_end], &p[12..q.question_end]);
    }

    #[test]
    fn parses_a_query_with_edns() {
        let p = query(7, "Web.AppNet", TYPE_AAAA, Some(4096));
        let q = parse_query(&p).unwrap();
        assert_eq!(q.id, 7);
        assert_eq!(q.name, "web.appnet");
        assert_eq!(q.qtype, TYPE_AAAA);
        assert!(q.recursion_desired);
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 4096,
                dnssec_ok: true,
                version: 0,
            })
        );
        assert_eq!(q.question_end, p.len() - 11);
    }

    #[test]
    fn rejects_what_is_not_one_readable_question() {
        assert_eq!(parse_query(&[0; 5]), Err(ParseError::Truncated));
        let mut p = query(1, "a", TYPE_A, None);
        p[2] |= 0x80;
        assert_eq!(parse_query(&p), Err(ParseError::NotAQuery));
        let mut p = query(1, "a", TYPE_A, None);
        p[5] = 2;
        assert_eq!(parse_query(&p), Err(ParseError::QuestionCount(2)));
        let mut p = query(1, "a", TYPE_A, None);
        p[12] = 0xC0;
        assert_eq!(parse_query(&p), Err(ParseError::BadName));
        let p = query(1, "abc", TYPE_A, None);
        assert_eq!(parse_query(&p[..p.len() - 3]), Err(ParseError::Truncated));
        let mut p = query(1, "abc", TYPE_A, Some(1232));
        p.truncate(p.len() - 2);
        assert_eq!(parse_query(&p), Err(ParseError::Truncated));
    }

    #[test]
    fn odd_bytes_in_labels_are_escaped() {
        let mut p = query(1, "xy", TYPE_A, None);
        p[13] = b'.';
        assert_eq!(parse_query(&p).unwrap().name, "\\046y");
    }
}

//! Set elements added and deleted with nf_tables' own netlink messages (`NFT_MSG_NEWSETELEM`,
//! `NFT_MSG_DELSETELEM`), all in one batch: one transaction, as an nft script of `add element`
//! and `delete element` lines is. libnftables, before every script, fetches and parses every
//! table, chain and set of the namespace into a cache (four 128 KiB hash tables per table),
//! which was most of what a connect spent in the firewall; the keys here come ready-made
//! (`ferry_firewall::BinaryElement`), so nothing needs to be looked up first.
//!
//! The kernel applies the batch or none of it, and answers each element message with an
//! acknowledgement or its error. The socket is kept for the daemon's own namespace, as the
//! libnftables context is.

use crate::error::{KernelError, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

/// One element to add or delete.
#[derive(Debug, Clone, Copy)]
pub struct ElementChange<'a> {
    /// Add it (`NLM_F_CREATE`: an element already there is no error), or delete it.
    pub add: bool,
    /// The table's family (`NFPROTO_*`).
    pub family: u8,
    /// The table.
    pub table: &'a str,
    /// The set.
    pub set: &'a str,
    /// The key, in nf_tables' binary form.
    pub key: &'a [u8],
}

/// `NFPROTO_INET`.
pub const FAMILY_INET: u8 = 1;
/// `NFPROTO_BRIDGE`.
pub const FAMILY_BRIDGE: u8 = 7;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;

/// A batch being written: netlink messages back to back.
struct Batch {
    buf: Vec<u8>,
}

impl Batch {
    /// Starts a message; returns where its header is (its length is set by `end`).
    fn begin(&mut self, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big-endian).
        self.buf.push(family);
        self.buf.push(0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        at
    }

    fn end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Opens a nested attribute; close it with `end_attr`.
    fn nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end_attr(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn string(&mut self, kind: u16, s: &str) {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.attr(kind, &b);
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// The messages of one transaction, their sequence numbers from `seq` on: the batch's
/// begin, one message per element, its end.
fn encode(changes: &[ElementChange<'_>], seq: u32) -> Vec<u8> {
    let mut b = Batch { buf: Vec::new() };
    let request = libc::NLM_F_REQUEST as u16;
    let at = b.begin(
        NFNL_MSG_BATCH_BEGIN,
        request,
        seq,
        libc::AF_UNSPEC as u8,
        NFNL_SUBSYS_NFTABLES,
    );
    b.end(at);
    for (i, c) in changes.iter().enumerate() {
        let (kind, flags) = if c.add {
            (NFT_MSG_NEWSETELEM, libc::NLM_F_CREATE as u16)
        } else {
            (NFT_MSG_DELSETELEM, 0)
        };
        let at = b.begin(
            (NFNL_SUBSYS_NFTABLES << 8) | kind,
            request | flags | libc::NLM_F_ACK as u16,
            seq.wrapping_add(1 + i as u32),
            c.family,
            0,
        );
        b.string(NFTA_SET_ELEM_LIST_TABLE, c.table);
        b.string(NFTA_SET_ELEM_LIST_SET, c.set);
        let list = b.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        let elem = b.nest(NFTA_LIST_ELEM);
        let key = b.nest(NFTA_SET_ELEM_KEY);
        b.attr(NFTA_DATA_VALUE, c.key);
        b.end_attr(key);
        b.end_attr(elem);
        b.end_attr(list);
        b.end(at);
    }
    let at = b.begin(
        NFNL_MSG_BATCH_END,
        request,
        seq.wrapping_add(1 + changes.len() as u32),
        libc::AF_UNSPEC as u8,
        NFNL_SUBSYS_NFTABLES,
    );
    b.end(at);
    b.buf
}

/// The kernel's answers in `buf`: (sequence number, error) of each `NLMSG_ERROR` message
/// (error 0 is an acknowledgement).
fn answers(buf: &[u8]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let word = |o: usize| [buf[o], buf[o + 1], buf[o + 2], buf[o + 3]];
        let len = u32::from_ne_bytes(word(at)) as usize;
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = u32::from_ne_bytes(word(at + 8));
        if len < 16 || at + len > buf.len() {
            break;
        }
        if kind == NLMSG_ERROR && len >= 20 {
            out.push((seq, i32::from_ne_bytes(word(at + 16))));
        }
        at += len.div_ceil(4) * 4;
    }
    out
}

/// The socket, kept for the namespace it was opened in, and the next sequence number.
struct Kept {
    netns: (u64, u64),
    fd: OwnedFd,
    next: u32,
}

static SOCKET: Mutex<Option<Kept>> = Mutex::new(None);

fn open() -> Result<OwnedFd> {
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(KernelError::io(
            "open an nf_tables socket",
            std::io::Error::last_os_error(),
        ));
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // A kernel that never answers must not hang an operation.
    let tv = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
    }
    Ok(fd)
}

/// Applies `changes` as one transaction in the calling thread's network namespace. On an
/// error nothing changed; the error names the first element the kernel refused.
pub fn apply(changes: &[ElementChange<'_>]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let here = crate::netns::identity(std::path::Path::new("/proc/thread-self/ns/net"))
        .ok_or_else(|| {
            KernelError::io(
                "nf_tables elements",
                std::io::Error::other("cannot identify this thread's network namespace"),
            )
        })?;
    let mut kept = SOCKET.lock().unwrap_or_else(|p| p.into_inner());
    if kept.as_ref().is_none_or(|k| k.netns != here) {
        *kept = Some(Kept {
            netns: here,
            fd: open()?,
            next: 1,
        });
    }
    let Some(Kept { fd, next, .. }) = kept.as_mut() else {
        return Err(KernelError::io(
            "nf_tables elements",
            std::io::Error::other("no socket"),
        ));
    };
    let seq = *next;
    *next = next.wrapping_add(changes.len() as u32 + 2);
    let msg = encode(changes, seq);
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            0,
            &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        let e = std::io::Error::last_os_error();
        *kept = None;
        return Err(KernelError::io("send nf_tables elements", e));
    }
    // Every element message is answered; the batch's begin only on a batch-wide failure.
    let first = seq.wrapping_add(1);
    let mut pending = changes.len();
    let mut failure: Option<(usize, i32)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    while pending > 0 {
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // Answers may still come: the next transaction must not read them as its own.
            *kept = None;
            return Err(KernelError::io("read nf_tables answers", e));
        }
        for (s, err) in answers(&buf[..n as usize]) {
            if s == seq {
                *kept = None;
                return Err(KernelError::io(
                    "nf_tables transaction",
                    std::io::Error::from_raw_os_error(-err),
                ));
            }
            let i = s.wrapping_sub(first) as usize;
            if i >= changes.len() {
                continue;
            }
            pending -= 1;
            if err != 0 && failure.is_none_or(|(j, _)| i < j) {
                failure = Some((i, -err));
            }
        }
    }
    match failure {
        None => Ok(()),
        Some((i, errno)) => {
            let c = &changes[i];
            Err(KernelError::io(
                format!(
                    "{} element of {} {}",
                    if c.add { "add" } else { "delete" },
                    c.table,
                    c.set
                ),
                std::io::Error::from_raw_os_error(errno),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_begin_elements_end() {
        let key = [10u8, 0, 0, 2];
        let c = ElementChange {
            add: true,
            family: FAMILY_INET,
            table: "ferry",
            set: "masq4",
            key: &key,
        };
        let buf = encode(&[c, ElementChange { add: false, ..c }], 7);
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < buf.len() {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            let seq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap());
            kinds.push((kind, seq));
            assert_eq!(len % 4, 0);
            at += len;
        }
        assert_eq!(
            kinds,
            vec![(0x10, 7), (0xa0c, 8), (0xa0e, 9), (0x11, 10)],
            "begin, add, delete, end"
        );
        // The key ends the first element message (after table and set names).
        let second = u32::from_ne_bytes(buf[20..24].try_into().unwrap()) as usize + 20;
        assert_eq!(&buf[second - 4..second], &key);
    }

    #[test]
    fn answers_are_read_by_sequence() {
        let mut buf = Vec::new();
        for (seq, err) in [(8u32, 0i32), (9, -2)] {
            buf.extend_from_slice(&36u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            buf.extend_from_slice(&0u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&err.to_ne_bytes());
            buf.extend_from_slice(&[0u8; 16]);
        }
        assert_eq!(answers(&buf), vec![(8, 0), (9, -2)]);
    }
}

//! The invariants the fuzzer (`fuzz/`) checks on arbitrary packets, and the corpus test
//! replays: no input panics the query handler or the forward cache, every reply has a header
//! and the query's ID, and a UDP reply fits the largest UDP size ferry sends.

use crate::respond::{respond, Transport};
use crate::{Cache, Names, Outcome};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A fixed set of names: `web` with many addresses (so replies truncate), `db` with none.
struct Fixed;

impl Names for Fixed {
    fn addresses(&self, name: &str, v4: &mut Vec<Ipv4Addr>, v6: &mut Vec<Ipv6Addr>) -> bool {
        match name {
            "web" | "web.appnet" => {
                v4.extend((2..120).map(|i| Ipv4Addr::new(10, 0, 0, i)));
                v6.push(Ipv6Addr::LOCALHOST);
                true
            }
            "db" => true,
            _ => false,
        }
    }
    fn name_of(&self, addr: IpAddr) -> Option<String> {
        (addr == IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))).then(|| "web.appnet".to_string())
    }
    fn may_forward(&self) -> bool {
        true
    }
}

/// Runs one packet through the handler over UDP and TCP, and through the cache as an
/// upstream's reply to the query it parses as; panics when an invariant breaks.
pub fn check_packet(data: &[u8]) {
    let mut out = Vec::new();
    for t in [Transport::Udp, Transport::Tcp] {
        match respond(data, &Fixed, t, data.len(), &mut out) {
            Outcome::Reply => {
                assert!(out.len() >= crate::wire::HEADER_LEN, "a reply has a header");
                assert_eq!(&out[..2], &data[..2], "a reply carries the query's ID");
                if t == Transport::Udp {
                    assert!(
                        out.len() <= usize::from(crate::wire::MAX_UDP),
                        "a UDP reply fits the largest UDP size"
                    );
                }
            }
            Outcome::Forward(q) => {
                let mut c = Cache::new(4);
                c.insert(1, &q, data, 0);
                if c.lookup(1, &q, data, 1, 65535, &mut out) {
                    assert_eq!(out.len(), data.len(), "a cached reply keeps its length");
                }
            }
            Outcome::Drop => {}
        }
    }
}

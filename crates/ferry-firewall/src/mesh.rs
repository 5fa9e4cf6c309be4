//! The routing mesh's netdev table: on the host's link into the ingress overlay, the replies
//! of a connection another node sent here (marked by `mesh_mark` with that node's address)
//! get that node's link MAC as their destination, so they go back through the node the client
//! called. The routing rule that sends marked packets out of the link takes them to a
//! placeholder gateway; this table puts the real next hop in, then clears the mark, which
//! the VXLAN device would otherwise carry into the route lookup of the encapsulated packet
//! (and the rule would send it back into the overlay). One element per node.

use std::fmt::Write;
use std::net::Ipv4Addr;

/// The netdev table's name.
pub const MESH_TABLE: &str = "ferry_mesh";

/// One node on the mesh: its address there (the mark its connections carry) and its link's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MeshNode {
    /// Its address on the ingress network.
    pub addr: Ipv4Addr,
    /// Its host link's MAC.
    pub mac: [u8; 6],
}

fn mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The mark a node's connections carry: its address's four bytes as `ct mark set @ll,64,32`
/// copies them from its MAC, that is as they are on the wire, read in this host's byte order.
pub fn mark_of(addr: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

fn element(n: &MeshNode) -> String {
    format!("{:#010x} : {}", mark_of(n.addr), mac(n.mac))
}

/// The table bound to `link` (made again from scratch), with the nodes' entries.
pub fn mesh_table(link: &str, nodes: &[MeshNode]) -> String {
    let mut out = format!(
        "table netdev {MESH_TABLE}\ndelete table netdev {MESH_TABLE}\ntable netdev {MESH_TABLE} {{\n\tmap entry_macs {{ type mark : ether_addr; }}\n\tchain egress {{\n\t\ttype filter hook egress device \"{link}\" priority filter; policy accept;\n\t\tmeta mark != 0 ether daddr set meta mark map @entry_macs\n\t\tmeta mark != 0 meta mark set 0\n\t}}\n}}\n"
    );
    for n in nodes {
        let _ = writeln!(
            out,
            "add element netdev {MESH_TABLE} entry_macs {{ {} }}",
            element(n)
        );
    }
    out
}

/// The changes of the nodes' entries (a changed MAC is removed, then added).
pub fn mesh_entries(add: &[MeshNode], remove: &[MeshNode]) -> String {
    let mut out = String::new();
    for n in remove {
        let e = element(n);
        let _ = writeln!(out, "add element netdev {MESH_TABLE} entry_macs {{ {e} }}");
        let _ = writeln!(
            out,
            "delete element netdev {MESH_TABLE} entry_macs {{ {e} }}"
        );
    }
    for n in add {
        let _ = writeln!(
            out,
            "add element netdev {MESH_TABLE} entry_macs {{ {} }}",
            element(n)
        );
    }
    out
}

/// Removes the table (present or not).
pub fn remove_mesh_table() -> String {
    format!("table netdev {MESH_TABLE}\ndelete table netdev {MESH_TABLE}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_binds_the_link_and_maps_marks_to_macs() {
        let n = MeshNode {
            addr: "10.0.0.5".parse().unwrap(),
            mac: [2, 0x42, 10, 0, 0, 5],
        };
        let t = mesh_table("fh-0123456789ab", &[n]);
        assert!(t.contains("device \"fh-0123456789ab\""), "{t}");
        assert!(
            t.contains(&format!(
                "entry_macs {{ {:#010x} : 02:42:0a:00:00:05 }}",
                mark_of(n.addr)
            )),
            "{t}"
        );
        let c = mesh_entries(&[], &[n]);
        assert!(
            c.contains("delete element netdev ferry_mesh entry_macs"),
            "{c}"
        );
    }
}

//! The fixed shape of ferry's two tables. Nothing in here changes when networks, sandboxes,
//! ports or services come and go: those are elements of the sets and maps declared here,
//! service backends included (one element per slot, no chain per service).

/// Name of ferry's tables (`inet ferry` and `bridge ferry`).
pub const TABLE: &str = "ferry";

/// Slots per load-balanced port. A new connection to a service hashes its client address and
/// port (`jhash ip saddr . th sport mod LB_SLOTS`, seeded at random by the kernel) and jumps to
/// that slot's chain, which looks the port up in the slot's maps (`lb4_N`, `vipall4_N`,
/// `mesh4_N`), whose element names its backend; slot `i` goes to backend `i % n` of the `n`
/// backends in sorted order (see [`crate::Changes::set_vip_backends`]).
///
/// - Why a hash of the client and not `numgen random`: a client that reuses a source port
///   reaches the same replica again. With a random draw, a reused port could land on another
///   replica, conntrack forgot the old mapping, and masqueraded clients (hairpin, loopback)
///   then hit the server's TIME_WAIT socket of a different connection on that replica: its
///   PAWS check refused the SYN, and the client paid a reset and a retransmitted SYN. Under
///   connection churn that cut a VIP's rate to a few hundred connections a second.
/// - Why a chain and maps per slot rather than the slot in one map's key: a named map keyed
///   by a hash can only be declared with `typeof ... jhash ...` (a hash is an integer of no
///   named type), and nft 1.0.6 (Debian 12) segfaults when it lists such a map, so an
///   administrator's `nft list ruleset` would be cut short. Every set and map is declared
///   with `type`; the hash only selects a chain, through an anonymous verdict map.
/// - Balance: each backend gets ⌊64/n⌋ or ⌈64/n⌉ slots, so its share is within 1/64 (1.6
///   points) of 1/n: 34.4/32.8/32.8 % for three backends, below the noise of random choice
///   over a few hundred connections.
/// - Scale: at most 64 backends per port are balanced; past that the extra ones get no slot
///   (no traffic). More than 64 replicas of one service on one network of one host is not a
///   case for a single-host engine.
/// - Cost: a port holds 64 elements in the kernel, and a change of its backends rewrites at
///   most 64 of them (three script lines each), about 200 lines; 128 slots would halve the
///   error and double both, for a gain nobody could measure.
pub const LB_SLOTS: u32 = 64;

/// Set and map names, shared by the ruleset and the element changes so they cannot drift.
pub(crate) mod names {
    /// inet: every ferry bridge.
    pub const BRIDGES: &str = "bridges";
    /// inet: the host's own links on the routing mesh's overlay (`ingress`).
    pub const MESH_LINKS: &str = "mesh_links";
    /// inet: the host's own links on overlays whose service VIPs it balances (its
    /// load-balancer address there).
    pub const LB_LINKS: &str = "lb_links";
    /// inet: bridges of `--internal` networks.
    pub const INTERNAL: &str = "internal";
    /// inet: `bridge . bridge`, traffic that stays on one bridge (seen here with br_netfilter).
    pub const BRIDGE_PAIRS: &str = "bridge_pairs";
    /// inet: sandbox addresses whose traffic is masqueraded when it leaves the host.
    pub const MASQ4: &str = "masq4";
    /// inet: the IPv6 ones.
    pub const MASQ6: &str = "masq6";
    /// inet: `bridge . sandbox address`, to masquerade hairpin traffic to a published port
    /// or a service VIP.
    pub const MEMBERS4: &str = "members4";
    /// inet: the IPv6 ones.
    pub const MEMBERS6: &str = "members6";
    /// inet: `host address . proto . port : sandbox address . port`.
    pub const PORTS4: &str = "ports4";
    /// inet: `proto . port : sandbox address . port`, on every local address.
    pub const PORTS4_ANY: &str = "ports4_any";
    /// inet: the IPv6 ones.
    pub const PORTS6: &str = "ports6";
    /// inet: the IPv6 ones, on every local address.
    pub const PORTS6_ANY: &str = "ports6_any";
    /// inet: service virtual IPs (each a /32 on its network's bridge, or the host's overlay link).
    pub const VIPS4: &str = "vips4";
    /// inet, one map per slot (`lb4_N`): `VIP . proto . port : backend address . port`.
    pub const LB4: &str = "lb4";
    /// inet, one map per slot (`vipall4_N`): `VIP : backend address`, every port of a VIP
    /// (the port is kept).
    pub const VIPALL4: &str = "vipall4";
    /// inet, one map per slot (`mesh4_N`): `proto . published port : backend address .
    /// port`, the routing mesh.
    pub const MESH4: &str = "mesh4";
    /// inet: chain `vip_slot_N` looks a VIP's port up in slot N's `lb4_N` and `vipall4_N`.
    pub const VIP_SLOT: &str = "vip_slot";
    /// inet: chain `mesh_slot_N` looks a routing-mesh port up in slot N's `mesh4_N`.
    pub const MESH_SLOT: &str = "mesh_slot";

    /// The name of slot `slot`'s map or chain of the kind `prefix`.
    pub fn slot(prefix: &str, slot: usize) -> String {
        format!("{prefix}_{slot}")
    }
    /// bridge: host ends of sandbox veths.
    pub const PORTS: &str = "ports";
    /// bridge: `port . MAC` of each sandbox interface.
    pub const MACS: &str = "macs";
    /// bridge: `port . MAC . IPv4 address`.
    pub const ADDRS4: &str = "addrs4";
    /// bridge: `port . MAC . IPv6 address`.
    pub const ADDRS6: &str = "addrs6";
    /// bridge: ports of networks with inter-container communication off.
    pub const ISOLATED: &str = "isolated";
}

/// The whole ruleset, replacing ferry's tables (and only them) in one transaction: each table
/// is first added (so the delete cannot fail), deleted, then declared anew without elements.
pub fn ruleset() -> String {
    let inet = INET
        .replace("@SLOT_MAPS@", &slot_maps())
        .replace("@VIP_DISPATCH@", &dispatch(names::VIP_SLOT))
        .replace("@MESH_DISPATCH@", &dispatch(names::MESH_SLOT))
        .replace("@SLOT_CHAINS@", &slot_chains());
    format!(
        "add table inet {TABLE}\ndelete table inet {TABLE}\n{inet}add table bridge {TABLE}\ndelete table bridge {TABLE}\n{BRIDGE}"
    )
}

/// The maps of every slot, with the same `type` in each slot.
fn slot_maps() -> String {
    let mut out = String::new();
    for (kind, ty) in [
        (
            names::LB4,
            "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
        ),
        (names::VIPALL4, "ipv4_addr : ipv4_addr"),
        (
            names::MESH4,
            "inet_proto . inet_service : ipv4_addr . inet_service",
        ),
    ] {
        for i in 0..LB_SLOTS as usize {
            out.push_str(&format!(
                "\tmap {} {{ type {ty}; }}\n",
                names::slot(kind, i)
            ));
        }
    }
    out
}

/// The hash of a new connection's client address and port picks one of the `prefix` chains.
/// An anonymous verdict map: a named one would need a `typeof` key (see [`LB_SLOTS`]).
fn dispatch(prefix: &str) -> String {
    let slots: Vec<String> = (0..LB_SLOTS as usize)
        .map(|i| format!("{i} : jump {}", names::slot(prefix, i)))
        .collect();
    format!(
        "jhash ip saddr . th sport mod {LB_SLOTS} vmap {{ {} }}",
        slots.join(", ")
    )
}

/// One chain per slot for VIPs (the given ports first, then every port of the VIP) and one
/// per slot for the routing mesh. A port without an element in the slot's map returns
/// untranslated.
fn slot_chains() -> String {
    let mut out = String::new();
    for i in 0..LB_SLOTS as usize {
        out.push_str(&format!(
            "\tchain {} {{\n\t\tdnat ip to ip daddr . meta l4proto . th dport map @{}\n\t\tdnat ip to ip daddr map @{}\n\t}}\n",
            names::slot(names::VIP_SLOT, i),
            names::slot(names::LB4, i),
            names::slot(names::VIPALL4, i),
        ));
    }
    for i in 0..LB_SLOTS as usize {
        out.push_str(&format!(
            "\tchain {} {{\n\t\tdnat ip to meta l4proto . th dport map @{}\n\t}}\n",
            names::slot(names::MESH_SLOT, i),
            names::slot(names::MESH4, i),
        ));
    }
    out
}

/// Routing, NAT and isolation between networks (IPv4 and IPv6 in one table).
const INET: &str = r#"table inet ferry {
	set bridges { type ifname; }
	set internal { type ifname; }
	set mesh_links { type ifname; }
	set lb_links { type ifname; }
	set bridge_pairs { type ifname . ifname; }
	set masq4 { type ipv4_addr; }
	set masq6 { type ipv6_addr; }
	set members4 { type ifname . ipv4_addr; }
	set members6 { type ifname . ipv6_addr; }
	map ports4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
	map ports4_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
	map ports6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
	map ports6_any { type inet_proto . inet_service : ipv6_addr . inet_service; }
	# Services, IPv4 only (as Docker's): every VIP port and every routing-mesh port holds
	# one element in each of LB_SLOTS slots, one per value of the client's hash, each naming
	# a backend. A VIP balances either given ports (lb4_N, which may change the port) or all
	# of its ports (vipall4_N: as Docker's VIPs, VIP:P goes to a replica's P), the given
	# ports first. A map per slot, all declared with `type`, so nft 1.0.6 can list them.
	set vips4 { type ipv4_addr; }
@SLOT_MAPS@
	# Bridges get route_localnet so the host can reach ports published on 127.0.0.1; that
	# must not let sandboxes reach the host's loopback services through their gateway.
	chain raw_prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname @bridges ip daddr 127.0.0.0/8 drop
	}

	# Published ports, for traffic from other hosts and from sandboxes. A packet that arrives
	# from outside for 127.0.0.0/8 is never translated, so loopback-published ports stay local.
	# Service VIPs come before the published ports: a VIP is a local address (a /32 on its
	# bridge), so `fib daddr type local` would take it too. A VIP port with no backend misses
	# the map and returns untranslated: delivered locally, it is refused in `input`, never
	# sent to a published port or accepted by a host socket bound to the wildcard address.
	chain nat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 127.0.0.0/8 return
		ip daddr @vips4 @VIP_DISPATCH@
		ip daddr @vips4 return
		fib daddr type local jump published
	}

	# Published ports, for the host's own traffic (127.0.0.1 included): no userland proxy.
	# IPv6 has no route_localnet: a reply to ::1 arriving on a bridge is dropped by the
	# kernel, so ::1 is left untranslated and meets ferry's reserving socket, which refuses
	# the connection at once (clients then try 127.0.0.1) instead of letting it hang.
	# Service VIPs likewise, before the published ports.
	chain nat_output {
		type nat hook output priority -100; policy accept;
		ip6 daddr ::1 return
		ip daddr @vips4 @VIP_DISPATCH@
		ip daddr @vips4 return
		fib daddr type local jump published
	}

	# The routing mesh (a service's port published on every host address) comes after the
	# sandbox ports: a host port in both would go to the sandbox, so the daemon reserves a
	# mesh port as it does a sandbox's. A mesh port without backends misses and meets that
	# reserving socket, as an unmapped published port does.
	chain published {
		meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @ports4
		meta nfproto ipv4 dnat ip to meta l4proto . th dport map @ports4_any
		meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6
		meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @ports6_any
		meta nfproto ipv4 @MESH_DISPATCH@
	}

	# The slots: what a VIP's or the routing mesh's port translates to, for the clients
	# whose hash is N.
@SLOT_CHAINS@
	# The routing mesh, on the node that runs the replica: a connection another node sent
	# through the host's mesh link is marked with that node's address on the mesh (the low
	# four bytes of its link's MAC, which ferry makes from that address), and the replies
	# carry the mark, so that a routing rule sends them back to that node (through the
	# `ferry_mesh` netdev table, which sets their destination MAC), where conntrack gives them
	# the address the client called. The replica sees the client's own address.
	chain mesh_mark {
		type filter hook prerouting priority mangle; policy accept;
		iifname @mesh_links ct state new ct mark set @ll,64,32
		ct direction reply ct mark != 0 meta mark set ct mark
	}

	# A new connection reaching a VIP untranslated is for a port with no backend (or none
	# at all): refuse it at once (RST, or ICMP port unreachable) rather than let a host socket
	# on the wildcard address take it or let it hang. Replies to the host's own translated
	# connections (source VIP) are established and pass; ping is answered.
	# The host's load-balancer address on an overlay exists for the VIPs' translated
	# connections and their replies only: sandboxes on the overlay open nothing on the host
	# through it.
	chain input {
		type filter hook input priority filter; policy accept;
		ip daddr @vips4 ct state new meta l4proto tcp reject with tcp reset
		ip daddr @vips4 ct state new meta l4proto != icmp reject with icmp port-unreachable
		iifname @lb_links ct state new meta l4proto tcp reject with tcp reset
		iifname @lb_links ct state new meta l4proto != icmp reject with icmp port-unreachable
	}

	# Isolation: nothing is routed into or out of an internal network, and nothing is routed
	# into any network but replies and published ports.
	# Service traffic to a VIP is translated to a backend on the VIP's own bridge, so it
	# leaves by the bridge it came in on and `bridge_pairs` accepts it first, internal
	# networks included. The same traffic from anywhere else (another network, another host)
	# is dropped in `into_bridge`: a VIP serves its own network, like the backends' addresses.
	# The host's link on an overlay whose VIPs it balances is policed as a bridge, and nothing
	# that enters from it is routed anywhere but back into it: the host is no router between
	# an overlay and anything else.
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname . oifname @bridge_pairs accept
		iifname @lb_links drop
		iifname @internal drop
		oifname @internal drop
		oifname @bridges jump into_bridge
	}

	chain into_bridge {
		ct state established,related accept
		ct original ip daddr @vips4 drop
		ct status dnat accept
		drop
	}

	# The swarm's routing mesh: a connection to a published port that goes to a replica on
	# the ingress overlay leaves through the host's link there with the client's own address
	# (the replica's node sends the replies back, see mesh_mark); only the host's own and its
	# sandboxes' connections are masqueraded, as hairpin traffic is.
	# Hairpin (a sandbox reaching a published port or a service VIP of its own bridge, the
	# backend on that bridge too) and loopback clients are masqueraded so replies come back
	# through the host, where conntrack turns the source back into the VIP; without it (and
	# without br_netfilter) the backend would answer the client directly, from an address the
	# client never called. Egress is masqueraded when it leaves the host, not when it crosses
	# to another ferry bridge.
	# On an overlay, a VIP's translated connections leave with the host's load-balancer
	# address there: every node holds the VIP, so a replica on another node must answer this
	# node's own address for the replies to come back through its conntrack.
	chain nat_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat oifname . ip saddr @members4 masquerade
		ct status dnat oifname . ip6 saddr @members6 masquerade
		ct status dnat oifname @bridges ip saddr 127.0.0.0/8 masquerade
		ct status dnat oifname @mesh_links fib saddr type local masquerade
		ct status dnat oifname @mesh_links ip saddr @masq4 masquerade
		ct status dnat oifname @lb_links masquerade
		oifname != @bridges ip saddr @masq4 masquerade
		oifname != @bridges ip6 saddr @masq6 masquerade
	}
}
"#;

/// Anti-spoofing and inter-container isolation, where frames cross a bridge.
const BRIDGE: &str = r#"table bridge ferry {
	set ports { type ifname; }
	set macs { type ifname . ether_addr; }
	set addrs4 { type ifname . ether_addr . ipv4_addr; }
	set addrs6 { type ifname . ether_addr . ipv6_addr; }
	set isolated { type ifname; }

	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		iifname @ports jump from_sandbox
	}

	# A sandbox sends only from its own MAC and addresses; link-local IPv6 and the
	# unspecified address (duplicate address detection, ARP probes) are its own by nature.
	chain from_sandbox {
		iifname . ether saddr != @macs drop
		arp saddr ip 0.0.0.0 accept
		iifname . arp saddr ether . arp saddr ip @addrs4 accept
		iifname . ether saddr . ip saddr @addrs4 accept
		ip6 saddr fe80::/10 accept
		ip6 saddr :: accept
		iifname . ether saddr . ip6 saddr @addrs6 accept
		drop
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname @isolated oifname @isolated drop
	}
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hash draws one of the slots `Changes` fills, and every slot has its chain and maps.
    #[test]
    fn ruleset_draws_lb_slots() {
        let r = ruleset();
        let draw = format!("jhash ip saddr . th sport mod {LB_SLOTS} vmap");
        assert_eq!(r.matches("jhash ip saddr . th sport mod ").count(), 3);
        assert_eq!(r.matches(&draw).count(), 3);
        let last = LB_SLOTS as usize - 1;
        for name in [
            names::slot(names::LB4, last),
            names::slot(names::VIPALL4, last),
            names::slot(names::MESH4, last),
        ] {
            assert!(r.contains(&format!("map {name} {{ type ")), "{name}");
            assert!(r.contains(&format!(" map @{name}\n")), "{name}");
        }
        assert!(r.contains(&format!("{last} : jump vip_slot_{last} }}")));
        assert!(r.contains(&format!("{last} : jump mesh_slot_{last} }}")));
        assert!(!r.contains(&format!("vip_slot_{LB_SLOTS}")));
    }

    /// nft 1.0.6 cannot list a set declared with a `typeof` hash (it segfaults).
    #[test]
    fn every_set_and_map_has_a_type() {
        let r = ruleset();
        for line in r
            .lines()
            .filter(|l| l.trim_start().starts_with("set ") || l.trim_start().starts_with("map "))
        {
            assert!(line.contains("{ type "), "{line}");
        }
        assert!(!r.contains("typeof"));
    }
}

//! Element changes: what a network, an endpoint, a published port or a service adds to
//! ferry's sets and maps. One operation's changes render as one nft script, applied as one
//! transaction.
//!
//! What the kernel does with the lines (checked with nft 1.0.6 on Linux 6.18), which the
//! scripts rely on:
//! - `add element` of an element already there, same value: nothing, no error.
//! - `add element` of a key already there with another value: the transaction fails
//!   (`EEXIST`); a map value is never overwritten in place.
//! - `delete element` of a missing key: the transaction fails (`ENOENT`).
//! - `delete element` matches the key only; the value written after it is not compared.
//! - `delete` then `add` of one key in one transaction replaces its value.
//!
//! So a removal adds the element first (a no-op when present, harmless when gone), and a map
//! element whose value changes is removed that way, then added with its new value.

use crate::binary::BinaryElement;
use crate::objects::{BridgeNet, BridgePort};
use crate::ruleset::{names, LB_SLOTS, TABLE};
use ferry_types::ports::{Proto, PublishedPort};
use std::net::{IpAddr, Ipv4Addr};

/// Which of ferry's tables an element lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Inet,
    Bridge,
}

impl Family {
    fn as_str(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// One element of a set or map.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    family: Family,
    set: String,
    value: String,
}

impl Element {
    fn inet(set: impl Into<String>, value: String) -> Self {
        Element {
            family: Family::Inet,
            set: set.into(),
            value,
        }
    }
    fn bridge(set: impl Into<String>, value: String) -> Self {
        Element {
            family: Family::Bridge,
            set: set.into(),
            value,
        }
    }
    fn line(&self, verb: &str) -> String {
        format!(
            "{verb} element {} {TABLE} {} {{ {} }}\n",
            self.family.as_str(),
            self.set,
            self.value
        )
    }
}

/// Quotes an interface name for nft (names are validated elsewhere: no quotes in them).
fn ifname(name: &str) -> String {
    format!("\"{name}\"")
}

/// The elements a network owns.
fn network_elements(net: &BridgeNet) -> Vec<Element> {
    let name = ifname(&net.name);
    let mut out = vec![
        Element::inet(names::BRIDGES, name.clone()),
        Element::inet(names::BRIDGE_PAIRS, format!("{name} . {name}")),
    ];
    if net.internal {
        out.push(Element::inet(names::INTERNAL, name));
    }
    out
}

/// The elements an endpoint of `net` owns.
fn endpoint_elements(net: &BridgeNet, ep: &BridgePort) -> Vec<Element> {
    let bridge = ifname(&net.name);
    let port = ifname(&ep.port);
    let mac = ep.mac.to_ascii_lowercase();
    let masquerade = net.masquerade && !net.internal;
    let mut out = vec![
        Element::bridge(names::PORTS, port.clone()),
        Element::bridge(names::MACS, format!("{port} . {mac}")),
    ];
    if !net.icc {
        out.push(Element::bridge(names::ISOLATED, port.clone()));
    }
    for ip in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        let (members, masq, addrs) = match ip {
            IpAddr::V4(_) => (names::MEMBERS4, names::MASQ4, names::ADDRS4),
            IpAddr::V6(_) => (names::MEMBERS6, names::MASQ6, names::ADDRS6),
        };
        out.push(Element::bridge(addrs, format!("{port} . {mac} . {ip}")));
        out.push(Element::inet(members, format!("{bridge} . {ip}")));
        if masquerade {
            out.push(Element::inet(masq, ip.to_string()));
        }
    }
    out
}

/// The elements of the host's link on the mesh's overlay: a bridge (policed as one) whose
/// traffic to itself is routed (another node's mesh connection to a replica here), and a mesh
/// link.
fn mesh_link_elements(name: &str) -> Vec<Element> {
    let link = ifname(name);
    vec![
        Element::inet(names::BRIDGES, link.clone()),
        Element::inet(names::BRIDGE_PAIRS, format!("{link} . {link}")),
        Element::inet(names::MESH_LINKS, link),
    ]
}

/// The elements of the host's link on an overlay whose VIPs it balances: a bridge (policed as
/// one) whose translated traffic to itself is routed, and a load-balancer link.
fn lb_link_elements(name: &str) -> Vec<Element> {
    let link = ifname(name);
    vec![
        Element::inet(names::BRIDGES, link.clone()),
        Element::inet(names::BRIDGE_PAIRS, format!("{link} . {link}")),
        Element::inet(names::LB_LINKS, link),
    ]
}

/// The element a published port owns.
fn port_element(p: &PublishedPort) -> Element {
    let proto = p.container.proto.as_str();
    let target = format!("{} . {}", p.target, p.container.port);
    let (set, value) = match p.host_ip {
        IpAddr::V4(a) if a.is_unspecified() => (
            names::PORTS4_ANY,
            format!("{proto} . {} : {target}", p.host_port),
        ),
        IpAddr::V6(a) if a.is_unspecified() => (
            names::PORTS6_ANY,
            format!("{proto} . {} : {target}", p.host_port),
        ),
        IpAddr::V4(a) => (
            names::PORTS4,
            format!("{a} . {proto} . {} : {target}", p.host_port),
        ),
        IpAddr::V6(a) => (
            names::PORTS6,
            format!("{a} . {proto} . {} : {target}", p.host_port),
        ),
    };
    Element::inet(set, value)
}

/// One load-balanced port of a service, as [`full`] rebuilds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbEntry {
    /// The service's virtual IP on one network (the port is served there), or `None` for
    /// the routing mesh (the port is published on every host address).
    pub vip: Option<Ipv4Addr>,
    /// The protocol.
    pub proto: Proto,
    /// The VIP's port (0: every port, kept as it is), or the published port.
    pub port: u16,
    /// The live replicas: address and target port, in any order.
    pub backends: Vec<(Ipv4Addr, u16)>,
}

/// The backend of every slot, `LB_SLOTS` long (empty without backends): slot `i` goes to
/// `backends[i % n]` over the backends sorted and deduplicated, so the table depends only on
/// the set of backends, never on the order the caller lists them in, and a caller that
/// remembers the backends it applied can compute the slots it applied.
fn lb_slots(backends: &[(Ipv4Addr, u16)]) -> Vec<(Ipv4Addr, u16)> {
    let mut sorted = backends.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..LB_SLOTS as usize)
        .map(|i| sorted[i % sorted.len()])
        .collect()
}

/// The element changes of one operation, rendered as one nft script.
#[derive(Debug, Clone)]
pub struct Changes {
    script: String,
    /// The same changes in the kernel's form, while every one has one.
    binary: Option<Vec<BinaryElement>>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self {
            script: String::new(),
            binary: Some(Vec::new()),
        }
    }

    fn push(&mut self, e: &Element, add: bool) {
        self.script
            .push_str(&e.line(if add { "add" } else { "delete" }));
        let encoded = crate::binary::key(&e.value).map(|key| BinaryElement {
            add,
            bridge: e.family == Family::Bridge,
            set: e.set.clone(),
            key,
        });
        match (self.binary.as_mut(), encoded) {
            (Some(list), Some(b)) => list.push(b),
            _ => self.binary = None,
        }
    }

    fn add(&mut self, elements: impl IntoIterator<Item = Element>) {
        for e in elements {
            self.push(&e, true);
        }
    }

    /// Removes elements. Each is added first (a no-op when present) so that removing an
    /// element that is already gone cannot fail the whole transaction.
    fn remove(&mut self, elements: impl IntoIterator<Item = Element>) {
        for e in elements {
            self.push(&e, true);
            self.push(&e, false);
        }
    }

    /// A network's bridge joins the sets.
    pub fn add_network(&mut self, net: &BridgeNet) -> &mut Self {
        self.add(network_elements(net));
        self
    }
    /// A network's bridge leaves the sets.
    pub fn remove_network(&mut self, net: &BridgeNet) -> &mut Self {
        self.remove(network_elements(net));
        self
    }
    /// An endpoint's port, MAC and addresses join the sets.
    pub fn add_endpoint(&mut self, net: &BridgeNet, ep: &BridgePort) -> &mut Self {
        self.add(endpoint_elements(net, ep));
        self
    }
    /// An endpoint's port, MAC and addresses leave the sets.
    pub fn remove_endpoint(&mut self, net: &BridgeNet, ep: &BridgePort) -> &mut Self {
        self.remove(endpoint_elements(net, ep));
        self
    }
    /// A published port is mapped.
    pub fn add_port(&mut self, p: &PublishedPort) -> &mut Self {
        self.add([port_element(p)]);
        self
    }
    /// A published port is unmapped.
    pub fn remove_port(&mut self, p: &PublishedPort) -> &mut Self {
        self.remove([port_element(p)]);
        self
    }
    /// The host's link on the routing mesh's overlay: policed as a bridge (only translated
    /// connections and replies are routed into it), and the mesh's connections that leave
    /// through it are masqueraded to the host's address there.
    pub fn add_mesh_link(&mut self, name: &str) -> &mut Self {
        self.add(mesh_link_elements(name));
        self
    }
    /// The host's link on the mesh's overlay is gone.
    pub fn remove_mesh_link(&mut self, name: &str) -> &mut Self {
        self.remove(mesh_link_elements(name));
        self
    }
    /// The host's link on an overlay whose service VIPs it balances (the nftables path): the
    /// VIPs' translated connections that leave through it are masqueraded to the host's
    /// load-balancer address there, and nothing entering from it opens a connection to the
    /// host or is routed elsewhere.
    pub fn add_lb_link(&mut self, name: &str) -> &mut Self {
        self.add(lb_link_elements(name));
        self
    }
    /// The host's load-balancer link on an overlay is gone.
    pub fn remove_lb_link(&mut self, name: &str) -> &mut Self {
        self.remove(lb_link_elements(name));
        self
    }
    /// A service VIP (a /32 the daemon puts on its network's bridge, or on the host's link on an
    /// overlay) is served: connections
    /// to it are translated through its ports' slots, or refused when a port has none.
    pub fn add_vip(&mut self, vip: Ipv4Addr) -> &mut Self {
        self.add([Element::inet(names::VIPS4, vip.to_string())]);
        self
    }
    /// A service VIP is no longer served. Its ports' slots should go in the same transaction
    /// (`set_vip_backends(.., &[])`); left alone they are dead elements, never looked up.
    pub fn remove_vip(&mut self, vip: Ipv4Addr) -> &mut Self {
        self.remove([Element::inet(names::VIPS4, vip.to_string())]);
        self
    }
    /// The backends of `vip`'s `proto` `port` change from `old` (what was applied, in any
    /// order; empty when the port is new) to `new` (empty to stop serving it). Only the slots
    /// whose backend changes are written, each removed with its old value and added with its
    /// new one, so the transaction cannot fail when `old` is what was applied (nor when
    /// elements of `old` are already gone). Existing connections keep their backend:
    /// conntrack holds the translation, the map is read for new connections only.
    pub fn set_vip_backends(
        &mut self,
        vip: Ipv4Addr,
        proto: Proto,
        port: u16,
        old: &[(Ipv4Addr, u16)],
        new: &[(Ipv4Addr, u16)],
    ) -> &mut Self {
        if port == 0 {
            // Every port of the VIP: backends by address, the destination port kept.
            let key = vip.to_string();
            self.set_backends(names::VIPALL4, &key, old, new, false);
            return self;
        }
        let key = format!("{vip} . {} . {port}", proto.as_str());
        self.set_backends(names::LB4, &key, old, new, true);
        self
    }
    /// The backends of the routing mesh's `proto` `published_port` (on every host address)
    /// change from `old` to `new`, as in [`Changes::set_vip_backends`].
    pub fn set_mesh_backends(
        &mut self,
        proto: Proto,
        published_port: u16,
        old: &[(Ipv4Addr, u16)],
        new: &[(Ipv4Addr, u16)],
    ) -> &mut Self {
        let key = format!("{} . {published_port}", proto.as_str());
        self.set_backends(names::MESH4, &key, old, new, true);
        self
    }
    fn set_backends(
        &mut self,
        map: &'static str,
        key: &str,
        old: &[(Ipv4Addr, u16)],
        new: &[(Ipv4Addr, u16)],
        with_port: bool,
    ) {
        let (old, new) = (lb_slots(old), lb_slots(new));
        let element = |slot: usize, (addr, port): (Ipv4Addr, u16)| {
            let value = if with_port {
                format!("{key} : {addr} . {port}")
            } else {
                format!("{key} : {addr}")
            };
            Element::inet(names::slot(map, slot), value)
        };
        for slot in 0..LB_SLOTS as usize {
            let (o, n) = (old.get(slot).copied(), new.get(slot).copied());
            if o == n {
                continue;
            }
            if let Some(o) = o {
                self.remove([element(slot, o)]);
            }
            if let Some(n) = n {
                self.add([element(slot, n)]);
            }
        }
    }
    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.script.is_empty()
    }
    /// The nft script.
    pub fn render(&self) -> &str {
        &self.script
    }
    /// The same changes as set elements in the kernel's form, in order, or `None` when one
    /// of them has no such form (a map element): then only the script says them.
    pub fn binary(&self) -> Option<&[BinaryElement]> {
        self.binary.as_deref()
    }
}

/// The whole ruleset with every element the given state owns: what the daemon applies on
/// start, replacing ferry's tables (and whatever was left in them) in one transaction.
/// `vips` are the service VIPs served; `lb` the load-balanced ports, of those VIPs or of the
/// routing mesh.
pub fn full<'a>(
    networks: impl IntoIterator<Item = &'a BridgeNet>,
    endpoints: impl IntoIterator<Item = (&'a BridgeNet, &'a BridgePort)>,
    ports: impl IntoIterator<Item = &'a PublishedPort>,
    vips: impl IntoIterator<Item = Ipv4Addr>,
    lb: impl IntoIterator<Item = &'a LbEntry>,
) -> String {
    let mut c = Changes::new();
    for n in networks {
        c.add_network(n);
    }
    for (n, e) in endpoints {
        c.add_endpoint(n, e);
    }
    for p in ports {
        c.add_port(p);
    }
    for v in vips {
        c.add_vip(v);
    }
    for e in lb {
        match e.vip {
            Some(vip) => c.set_vip_backends(vip, e.proto, e.port, &[], &e.backends),
            None => c.set_mesh_backends(e.proto, e.port, &[], &e.backends),
        };
    }
    format!("{}{}", crate::ruleset::ruleset(), c.render())
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_changes_have_a_binary_form_and_map_changes_do_not() {
        let net = BridgeNet {
            name: "fr-1".into(),
            internal: false,
            icc: true,
            masquerade: true,
        };
        let ep = BridgePort {
            port: "vf1".into(),
            mac: "02:42:AC:11:00:02".into(),
            ipv4: Some("172.17.0.2".parse().unwrap()),
            ipv6: Some("fd00::2".parse().unwrap()),
        };
        let mut c = Changes::new();
        c.add_network(&net).remove_endpoint(&net, &ep);
        let b = c.binary().unwrap();
        assert_eq!(b.len(), c.render().lines().count());
        assert!(b[0].add && !b[0].bridge && b[0].set == "bridges");
        let last = b.last().unwrap();
        assert!(!last.add);
        assert_eq!(
            last.key,
            vec![0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        c.set_vip_backends(
            "10.0.0.100".parse().unwrap(),
            Proto::Tcp,
            80,
            &[],
            &[("10.0.0.2".parse().unwrap(), 80)],
        );
        assert!(c.binary().is_none());
        assert!(Changes::default().binary().unwrap().is_empty());
    }

    use super::*;

    fn backends(n: u8) -> Vec<(Ipv4Addr, u16)> {
        (0..n)
            .map(|i| (Ipv4Addr::new(10, 0, 0, 10 + i), 8080))
            .collect()
    }

    /// Every backend gets ⌊SLOTS/n⌋ or ⌈SLOTS/n⌉ slots: its share is within one slot of 1/n.
    #[test]
    fn slots_balance_within_one_slot() {
        for n in 1..=LB_SLOTS as u8 {
            let b = backends(n);
            let slots = lb_slots(&b);
            assert_eq!(slots.len(), LB_SLOTS as usize);
            for backend in &b {
                let got = slots.iter().filter(|s| *s == backend).count() as u32;
                assert!(
                    got == LB_SLOTS / n as u32 || got == LB_SLOTS.div_ceil(n as u32),
                    "{n} backends: {backend:?} has {got} slots"
                );
            }
        }
        assert!(lb_slots(&[]).is_empty());
        // Past LB_SLOTS backends, the extra ones get no slot rather than unbalancing the rest.
        let many = backends(LB_SLOTS as u8 + 3);
        assert!(lb_slots(&many)
            .iter()
            .all(|s| many[..LB_SLOTS as usize].contains(s)));
    }

    /// The slots depend on the set of backends only: order and duplicates do not matter.
    #[test]
    fn slots_are_deterministic() {
        let b = backends(5);
        let mut shuffled = vec![b[3], b[0], b[4], b[1], b[2], b[0]];
        assert_eq!(lb_slots(&b), lb_slots(&shuffled));
        shuffled.reverse();
        assert_eq!(lb_slots(&b), lb_slots(&shuffled));
        // The same address on another port is another backend.
        let mut other_port = b.clone();
        other_port.push((b[0].0, 9090));
        assert_ne!(lb_slots(&b), lb_slots(&other_port));
    }

    fn lines(c: &Changes, verb: &str) -> usize {
        c.render()
            .lines()
            .filter(|l| l.starts_with(&format!("{verb} ")))
            .count()
    }

    /// Only the slots whose backend changes are written, three lines each (add the old value,
    /// delete, add the new one); nothing at all when the backends are the same.
    #[test]
    fn backend_changes_write_only_changed_slots() {
        let vip = Ipv4Addr::new(10, 0, 0, 100);
        let b = backends(4);
        let mut same = Changes::new();
        let reordered = [b[2], b[0], b[1]];
        same.set_vip_backends(vip, Proto::Tcp, 80, &b[..3], &reordered);
        assert!(same.is_empty());

        for (from, to) in [(3, 2), (2, 4), (1, 2), (4, 3), (2, 1)] {
            let (old, new) = (lb_slots(&b[..from]), lb_slots(&b[..to]));
            let changed = (0..LB_SLOTS as usize).filter(|&i| old[i] != new[i]).count();
            let mut c = Changes::new();
            c.set_vip_backends(vip, Proto::Tcp, 80, &b[..from], &b[..to]);
            assert_eq!(lines(&c, "delete"), changed, "{from} -> {to}");
            assert_eq!(lines(&c, "add"), 2 * changed, "{from} -> {to}");
            assert!(
                changed < LB_SLOTS as usize,
                "{from} -> {to} keeps some slots"
            );
        }

        // From nothing: one add per slot. To nothing: an add and a delete per slot.
        let mut up = Changes::new();
        up.set_mesh_backends(Proto::Udp, 53, &[], &b[..2]);
        assert_eq!(lines(&up, "add"), LB_SLOTS as usize);
        assert_eq!(lines(&up, "delete"), 0);
        let mut down = Changes::new();
        down.set_mesh_backends(Proto::Udp, 53, &b[..2], &[]);
        assert_eq!(lines(&down, "add"), LB_SLOTS as usize);
        assert_eq!(lines(&down, "delete"), LB_SLOTS as usize);
    }

    /// Without services, `full` is what it was before them (the engine's call until it has
    /// services passes empty iterators, as here).
    #[test]
    fn full_without_services_adds_no_service_element() {
        let text = full([], [], [], std::iter::empty(), std::iter::empty());
        assert_eq!(text, crate::ruleset::ruleset());
    }

    /// A changed slot is removed with its old value, then added with its new one.
    #[test]
    fn changed_slot_is_replaced_in_order() {
        let vip = Ipv4Addr::new(10, 0, 0, 100);
        let (a, b) = (
            (Ipv4Addr::new(10, 0, 0, 2), 80),
            (Ipv4Addr::new(10, 0, 0, 3), 80),
        );
        let mut c = Changes::new();
        c.set_vip_backends(vip, Proto::Tcp, 80, &[a], &[a, b]);
        let first: Vec<_> = c.render().lines().take(3).collect();
        assert_eq!(
            first,
            [
                "add element inet ferry lb4_1 { 10.0.0.100 . tcp . 80 : 10.0.0.2 . 80 }",
                "delete element inet ferry lb4_1 { 10.0.0.100 . tcp . 80 : 10.0.0.2 . 80 }",
                "add element inet ferry lb4_1 { 10.0.0.100 . tcp . 80 : 10.0.0.3 . 80 }",
            ]
        );
    }
}

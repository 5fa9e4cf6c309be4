//! Element changes: what a network, an endpoint or a published port adds to ferry's sets and
//! maps. One operation's changes render as one nft script, applied as one transaction.

use crate::ruleset::{names, TABLE};
use ferry_types::ports::PublishedPort;
use ferry_types::{Endpoint, Network};
use std::net::IpAddr;

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
    set: &'static str,
    value: String,
}

impl Element {
    fn inet(set: &'static str, value: String) -> Self {
        Element {
            family: Family::Inet,
            set,
            value,
        }
    }
    fn bridge(set: &'static str, value: String) -> Self {
        Element {
            family: Family::Bridge,
            set,
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
fn network_elements(net: &Network) -> Vec<Element> {
    let Some(br) = &net.bridge else {
        return Vec::new();
    };
    let name = ifname(&br.name);
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
fn endpoint_elements(net: &Network, ep: &Endpoint) -> Vec<Element> {
    let Some(br) = &net.bridge else {
        return Vec::new();
    };
    if ep.host_ifname.is_empty() {
        return Vec::new();
    }
    let bridge = ifname(&br.name);
    let port = ifname(&ep.host_ifname);
    let mac = ep.mac.to_ascii_lowercase();
    let masquerade = br.masquerade && !net.internal;
    let mut out = vec![
        Element::bridge(names::PORTS, port.clone()),
        Element::bridge(names::MACS, format!("{port} . {mac}")),
    ];
    if !br.icc {
        out.push(Element::bridge(names::ISOLATED, port.clone()));
    }
    for addr in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        let ip = addr.addr();
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

/// The element changes of one operation, rendered as one nft script.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    script: String,
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, elements: impl IntoIterator<Item = Element>) {
        for e in elements {
            self.script.push_str(&e.line("add"));
        }
    }

    /// Removes elements. Each is added first (a no-op when present) so that removing an
    /// element that is already gone cannot fail the whole transaction.
    fn remove(&mut self, elements: impl IntoIterator<Item = Element>) {
        for e in elements {
            self.script.push_str(&e.line("add"));
            self.script.push_str(&e.line("delete"));
        }
    }

    /// A network's bridge joins the sets.
    pub fn add_network(&mut self, net: &Network) -> &mut Self {
        self.add(network_elements(net));
        self
    }
    /// A network's bridge leaves the sets.
    pub fn remove_network(&mut self, net: &Network) -> &mut Self {
        self.remove(network_elements(net));
        self
    }
    /// An endpoint's port, MAC and addresses join the sets.
    pub fn add_endpoint(&mut self, net: &Network, ep: &Endpoint) -> &mut Self {
        self.add(endpoint_elements(net, ep));
        self
    }
    /// An endpoint's port, MAC and addresses leave the sets.
    pub fn remove_endpoint(&mut self, net: &Network, ep: &Endpoint) -> &mut Self {
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
    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.script.is_empty()
    }
    /// The nft script.
    pub fn render(&self) -> &str {
        &self.script
    }
}

/// The whole ruleset with every element the given state owns: what the daemon applies on
/// start, replacing ferry's tables (and whatever was left in them) in one transaction.
pub fn full<'a>(
    networks: impl IntoIterator<Item = &'a Network>,
    endpoints: impl IntoIterator<Item = (&'a Network, &'a Endpoint)>,
    ports: impl IntoIterator<Item = &'a PublishedPort>,
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
    format!("{}{}", crate::ruleset::ruleset(), c.render())
}

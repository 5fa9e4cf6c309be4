//! Who is called what on which network: the names the embedded resolver answers, kept apart
//! from the controller's state so that a query never waits for an operation in progress.
//! Pure: the controller updates it as endpoints come and go.

use ferry_dns::Names;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One name on one network: which sandbox holds it, at which addresses.
#[derive(Debug, Clone)]
struct Holder {
    sandbox: String,
    addrs: Vec<IpAddr>,
}

/// The names of one network.
#[derive(Debug, Default)]
struct NetworkNames {
    /// Lower-case name (and `name.network`) → holders.
    names: HashMap<String, Vec<Holder>>,
    /// Address → (sandbox ID, the name PTR queries get).
    reverse: HashMap<IpAddr, (String, String)>,
    internal: bool,
}

/// What a sandbox is known as on a network, and where it is reachable there.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The sandbox's ID.
    pub sandbox: String,
    /// Its name, aliases, short ID and host name (any case).
    pub names: Vec<String>,
    /// Its addresses on the network.
    pub addrs: Vec<IpAddr>,
}

/// Every network's names, and which networks each sandbox may ask about.
#[derive(Debug, Default)]
pub struct Directory {
    networks: HashMap<String, NetworkNames>,
    /// Network name → ID, for `name.network` lookups.
    network_names: HashMap<String, String>,
    /// Sandbox ID → the networks it is on (in order).
    scopes: HashMap<String, Vec<String>>,
}

impl Directory {
    /// Records a network (its name qualifies names as `name.network`).
    pub fn add_network(&mut self, id: &str, name: &str, internal: bool) {
        let n = self.networks.entry(id.to_string()).or_default();
        n.internal = internal;
        self.network_names
            .insert(name.to_ascii_lowercase(), id.to_string());
    }

    /// Forgets a network.
    pub fn remove_network(&mut self, id: &str) {
        self.networks.remove(id);
        self.network_names.retain(|_, v| v != id);
    }

    /// Makes a sandbox's names resolvable on a network, and the network's names resolvable
    /// for the sandbox.
    pub fn add_entry(&mut self, network: &str, network_name: &str, e: &Entry) {
        let Some(n) = self.networks.get_mut(network) else {
            return;
        };
        let qualified = network_name.to_ascii_lowercase();
        for name in &e.names {
            let name = name.to_ascii_lowercase();
            for key in [format!("{name}.{qualified}"), name] {
                let holders = n.names.entry(key).or_default();
                holders.retain(|h| h.sandbox != e.sandbox);
                holders.push(Holder {
                    sandbox: e.sandbox.clone(),
                    addrs: e.addrs.clone(),
                });
            }
        }
        if let Some(primary) = e.names.first() {
            for a in &e.addrs {
                let name = format!("{primary}.{network_name}").to_ascii_lowercase();
                n.reverse.insert(*a, (e.sandbox.clone(), name));
            }
        }
        let scope = self.scopes.entry(e.sandbox.clone()).or_default();
        if !scope.iter().any(|s| s == network) {
            scope.push(network.to_string());
        }
    }

    /// Removes a sandbox's names from a network, at once.
    pub fn remove_entry(&mut self, network: &str, sandbox: &str) {
        if let Some(n) = self.networks.get_mut(network) {
            n.names.retain(|_, holders| {
                holders.retain(|h| h.sandbox != sandbox);
                !holders.is_empty()
            });
            n.reverse.retain(|_, (sb, _)| sb != sandbox);
        }
        if let Some(scope) = self.scopes.get_mut(sandbox) {
            scope.retain(|s| s != network);
            if scope.is_empty() {
                self.scopes.remove(sandbox);
            }
        }
    }

    /// True when the sandbox is on at least one network with names.
    pub fn has_scope(&self, sandbox: &str) -> bool {
        self.scopes.contains_key(sandbox)
    }

    /// The resolver's view from one sandbox.
    pub fn view<'a>(&'a self, sandbox: &str) -> View<'a> {
        View {
            dir: self,
            scope: self.scopes.get(sandbox).map(Vec::as_slice).unwrap_or(&[]),
        }
    }
}

/// The names one sandbox may resolve: those of its own networks.
pub struct View<'a> {
    dir: &'a Directory,
    scope: &'a [String],
}

impl Names for View<'_> {
    fn addresses(&self, name: &str, v4: &mut Vec<Ipv4Addr>, v6: &mut Vec<Ipv6Addr>) -> bool {
        let mut found = false;
        for net in self.scope {
            let Some(n) = self.dir.networks.get(net) else {
                continue;
            };
            if let Some(holders) = n.names.get(name) {
                found = true;
                for a in holders.iter().flat_map(|h| &h.addrs) {
                    match a {
                        IpAddr::V4(a) if !v4.contains(a) => v4.push(*a),
                        IpAddr::V6(a) if !v6.contains(a) => v6.push(*a),
                        _ => {}
                    }
                }
            }
        }
        found
    }

    fn name_of(&self, addr: IpAddr) -> Option<String> {
        self.scope
            .iter()
            .filter_map(|net| self.dir.networks.get(net))
            .find_map(|n| n.reverse.get(&addr).map(|(_, name)| name.clone()))
    }

    fn may_forward(&self) -> bool {
        // A sandbox on internal networks only has no way out, and its resolver none either.
        self.scope
            .iter()
            .filter_map(|net| self.dir.networks.get(net))
            .any(|n| !n.internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sb: &str, names: &[&str], addr: &str) -> Entry {
        Entry {
            sandbox: sb.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            addrs: vec![addr.parse().unwrap()],
        }
    }

    fn lookup(d: &Directory, from: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        d.view(from).addresses(name, &mut v4, &mut v6).then_some(v4)
    }

    #[test]
    fn names_are_scoped_to_shared_networks() {
        let mut d = Directory::default();
        d.add_network("n1", "front", false);
        d.add_network("n2", "back", false);
        d.add_entry("n1", "front", &entry("a", &["web", "www"], "10.1.0.2"));
        d.add_entry("n2", "back", &entry("b", &["db"], "10.2.0.2"));
        d.add_entry("n1", "front", &entry("c", &["cli"], "10.1.0.3"));
        assert_eq!(
            lookup(&d, "c", "web"),
            Some(vec!["10.1.0.2".parse().unwrap()])
        );
        assert_eq!(
            lookup(&d, "c", "WWW".to_ascii_lowercase().as_str()).map(|v| v.len()),
            Some(1)
        );
        assert_eq!(lookup(&d, "c", "web.front").map(|v| v.len()), Some(1));
        assert_eq!(lookup(&d, "c", "db"), None, "not on back");
        assert_eq!(
            d.view("c").name_of("10.1.0.2".parse().unwrap()).as_deref(),
            Some("web.front")
        );
        // Connecting c to back makes db resolvable at once; removing it, not.
        d.add_entry("n2", "back", &entry("c", &["cli"], "10.2.0.3"));
        assert!(lookup(&d, "c", "db").is_some());
        d.remove_entry("n2", "b");
        assert_eq!(lookup(&d, "c", "db"), None);
    }

    #[test]
    fn a_network_without_names_lets_its_sandboxes_forward_and_nothing_more() {
        let mut d = Directory::default();
        d.add_network("b", "bridge", false);
        d.add_network("n", "app", false);
        d.add_entry("n", "app", &entry("peer", &["peer"], "10.0.0.2"));
        d.add_entry("n", "app", &entry("s", &["s"], "10.0.0.3"));
        let nameless = Entry {
            sandbox: "s".into(),
            names: Vec::new(),
            addrs: Vec::new(),
        };
        d.add_entry("b", "bridge", &nameless);
        d.remove_entry("n", "s");
        assert!(
            d.view("s").may_forward(),
            "the default bridge leads outside"
        );
        assert_eq!(lookup(&d, "s", "peer"), None);
        assert_eq!(lookup(&d, "peer", "s"), None, "no names on the bridge");
        d.remove_entry("b", "s");
        assert!(!d.view("s").may_forward(), "no network, no way out");
        assert!(!d.has_scope("s"));
    }

    #[test]
    fn a_shared_alias_gives_every_address_and_internal_scopes_do_not_forward() {
        let mut d = Directory::default();
        d.add_network("n", "app", true);
        d.add_entry("n", "app", &entry("a", &["a", "svc"], "10.0.0.2"));
        d.add_entry("n", "app", &entry("b", &["b", "svc"], "10.0.0.3"));
        assert_eq!(lookup(&d, "a", "svc").map(|v| v.len()), Some(2));
        assert!(!d.view("a").may_forward());
        d.add_network("m", "out", false);
        d.add_entry("m", "out", &entry("a", &["a"], "10.9.0.2"));
        assert!(d.view("a").may_forward());
        d.remove_entry("n", "a");
        assert_eq!(lookup(&d, "b", "svc").map(|v| v.len()), Some(1));
    }
}

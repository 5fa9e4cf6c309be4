//! Published and exposed ports: Docker's `-p`, `--expose` and `PortBindings` syntax, parsed
//! into ferry's model. Pure: reserving host ports and programming the kernel happen elsewhere.

use crate::error::{FerryError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// The name as Docker and nft spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// Parses `tcp`, `udp` or `sctp` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(FerryError::invalid(format!(
                "invalid protocol {s:?}: use tcp, udp or sctp"
            ))),
        }
    }
}

/// A sandbox port: number and protocol (Docker's `80/tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortKey {
    /// Port number inside the sandbox.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl PortKey {
    /// Parses `80`, `80/tcp`, `53/udp` (tcp when no protocol is given).
    pub fn parse(s: &str) -> Result<Self> {
        let (port, proto) = split_proto(s)?;
        Ok(PortKey {
            port: parse_port(port, "container port")?,
            proto,
        })
    }
}

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for a single port).
    pub end: u16,
}

impl PortRange {
    /// A range of one port.
    pub fn single(port: u16) -> Self {
        PortRange {
            start: port,
            end: port,
        }
    }
    /// Number of ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }
    /// Never true: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One wish to publish a sandbox port, as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// The sandbox port.
    pub container: PortKey,
    /// The host address to publish on; every address of the host when `None`.
    pub host_ip: Option<IpAddr>,
    /// Host ports to choose from; an ephemeral port when `None`.
    pub host_ports: Option<PortRange>,
}

/// A port published while its sandbox runs: traffic to `host_ip:host_port` goes to
/// `target:container.port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The sandbox port.
    pub container: PortKey,
    /// The host address (`0.0.0.0` or `::` for every address of that family).
    pub host_ip: IpAddr,
    /// The host port.
    pub host_port: u16,
    /// The sandbox's address that traffic is sent to.
    pub target: IpAddr,
}

/// One host binding in Docker's `PortBindings` (`{"HostIp": "", "HostPort": "8080"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostBinding {
    /// Host address; empty for every address.
    #[serde(default)]
    pub host_ip: String,
    /// Host port or range; empty or `0` for an ephemeral port.
    #[serde(default)]
    pub host_port: String,
}

/// Docker's `PortBindings`: sandbox port (`80/tcp`) to host bindings.
pub type PortBindings = BTreeMap<String, Vec<HostBinding>>;

fn split_proto(s: &str) -> Result<(&str, Proto)> {
    match s.rsplit_once('/') {
        Some((p, proto)) => Ok((p, Proto::parse(proto)?)),
        None => Ok((s, Proto::Tcp)),
    }
}

fn parse_port(s: &str, what: &str) -> Result<u16> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(FerryError::invalid(format!(
            "invalid {what} {s:?}: give a number from 1 to 65535"
        ))),
    }
}

fn parse_range(s: &str, what: &str) -> Result<PortRange> {
    let range = match s.split_once('-') {
        Some((a, b)) => PortRange {
            start: parse_port(a, what)?,
            end: parse_port(b, what)?,
        },
        None => PortRange::single(parse_port(s, what)?),
    };
    if range.start > range.end {
        return Err(FerryError::invalid(format!(
            "invalid {what} range {s:?}: the first port is above the last"
        )));
    }
    Ok(range)
}

fn parse_host_ip(s: &str) -> Result<Option<IpAddr>> {
    let s = s.trim();
    let bare = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if bare.is_empty() {
        return Ok(None);
    }
    bare.parse::<IpAddr>().map(Some).map_err(|_| {
        FerryError::invalid(format!(
            "invalid host address {s:?} in a port binding: give an IPv4 address or a bracketed IPv6 address such as [::1]"
        ))
    })
}

/// Parses a host port field: empty or `0` means an ephemeral port.
fn parse_host_ports(s: &str) -> Result<Option<PortRange>> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    parse_range(s, "host port").map(Some)
}

/// Parses one `-p` value: `[hostIP:][hostPort[-end]:]containerPort[-end][/proto]`, with IPv6
/// host addresses in brackets (`[::1]:8080:80`). A container range expands to one request per
/// port, each paired with the same offset in the host range when one is given.
pub fn parse_publish(spec: &str) -> Result<Vec<PortRequest>> {
    let ctx = |e: FerryError| e.context(format!("port specification {spec:?}"));
    let (rest, proto) = split_proto(spec).map_err(ctx)?;
    // The address may hold colons itself; the last two fields are always the ports.
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.len() {
        1 => ("", "", parts[0]),
        2 => ("", parts[0], parts[1]),
        n => {
            let ip_len = rest.len() - parts[n - 2].len() - parts[n - 1].len() - 2;
            (&rest[..ip_len], parts[n - 2], parts[n - 1])
        }
    };
    if parts.len() >= 3 && ip.trim().is_empty() {
        return Err(ctx(FerryError::invalid(
            "the host address before the first ':' is empty; leave it out or give one",
        )));
    }
    let host_ip = parse_host_ip(ip).map_err(ctx)?;
    let containers = parse_range(container, "container port").map_err(ctx)?;
    let hosts = parse_host_ports(host).map_err(ctx)?;
    if let Some(h) = hosts {
        if containers.len() > 1 && h.len() != containers.len() {
            return Err(ctx(FerryError::invalid(format!(
                "the host range {h} and the container range {containers} differ in size"
            ))));
        }
    }
    Ok((containers.start..=containers.end)
        .map(|port| {
            let offset = port - containers.start;
            let host_ports = match hosts {
                Some(h) if containers.len() > 1 => Some(PortRange::single(h.start + offset)),
                other => other,
            };
            PortRequest {
                container: PortKey { port, proto },
                host_ip,
                host_ports,
            }
        })
        .collect())
}

/// Parses one `--expose` value: `80`, `80/udp` or a range `8000-8010/tcp`.
pub fn parse_expose(spec: &str) -> Result<Vec<PortKey>> {
    let ctx = |e: FerryError| e.context(format!("--expose {spec:?}"));
    let (ports, proto) = split_proto(spec).map_err(ctx)?;
    let range = parse_range(ports, "port").map_err(ctx)?;
    Ok((range.start..=range.end)
        .map(|port| PortKey { port, proto })
        .collect())
}

/// Turns parsed requests into Docker's `PortBindings` map (what the CLI sends).
pub fn to_bindings(requests: &[PortRequest]) -> PortBindings {
    let mut out = PortBindings::new();
    for r in requests {
        out.entry(r.container.to_string())
            .or_default()
            .push(HostBinding {
                host_ip: match r.host_ip {
                    Some(IpAddr::V6(a)) => a.to_string(),
                    Some(a) => a.to_string(),
                    None => String::new(),
                },
                host_port: r.host_ports.map(|p| p.to_string()).unwrap_or_default(),
            });
    }
    out
}

/// Parses Docker's `PortBindings` map (what the API receives) into requests.
pub fn from_bindings(bindings: &PortBindings) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    for (key, hosts) in bindings {
        let container = PortKey::parse(key).map_err(|e| e.context("PortBindings"))?;
        let hosts: &[HostBinding] = if hosts.is_empty() {
            &[HostBinding {
                host_ip: String::new(),
                host_port: String::new(),
            }]
        } else {
            hosts
        };
        for h in hosts {
            let ctx = |e: FerryError| e.context(format!("PortBindings {key}"));
            out.push(PortRequest {
                container,
                host_ip: parse_host_ip(&h.host_ip).map_err(ctx)?,
                host_ports: parse_host_ports(&h.host_port).map_err(ctx)?,
            });
        }
    }
    Ok(out)
}

/// Parses Docker's `ExposedPorts` keys.
pub fn from_exposed<'a>(keys: impl IntoIterator<Item = &'a String>) -> Result<Vec<PortKey>> {
    keys.into_iter()
        .map(|k| PortKey::parse(k).map_err(|e| e.context("ExposedPorts")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortRequest {
        let mut v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v.remove(0)
    }

    fn key(port: u16, proto: Proto) -> PortKey {
        PortKey { port, proto }
    }

    #[test]
    fn parses_docker_forms() {
        let r = one("80");
        assert_eq!(r.container, key(80, Proto::Tcp));
        assert_eq!((r.host_ip, r.host_ports), (None, None));

        let r = one("8080:80");
        assert_eq!(r.host_ports, Some(PortRange::single(8080)));

        let r = one("127.0.0.1:8080:80/udp");
        assert_eq!(r.container, key(80, Proto::Udp));
        assert_eq!(r.host_ip, Some("127.0.0.1".parse().unwrap()));

        let r = one("127.0.0.1::80");
        assert_eq!(r.host_ports, None);

        let r = one("[::1]:8080:80");
        assert_eq!(r.host_ip, Some("::1".parse().unwrap()));
        let r = one("::1:8080:80");
        assert_eq!(r.host_ip, Some("::1".parse().unwrap()));

        let r = one("0:80/sctp");
        assert_eq!((r.container.proto, r.host_ports), (Proto::Sctp, None));

        let r = one("8000-8010:80");
        assert_eq!(
            r.host_ports,
            Some(PortRange {
                start: 8000,
                end: 8010
            })
        );
    }

    #[test]
    fn container_ranges_expand() {
        let v = parse_publish("9000-9002:80-82/udp").unwrap();
        let got: Vec<_> = v
            .iter()
            .map(|r| (r.container.port, r.host_ports.unwrap().start))
            .collect();
        assert_eq!(got, vec![(80, 9000), (81, 9001), (82, 9002)]);
        assert!(v.iter().all(|r| r.container.proto == Proto::Udp));

        let v = parse_publish("80-81").unwrap();
        assert!(v.iter().all(|r| r.host_ports.is_none()));
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn rejects_bad_specs_with_reasons() {
        for (spec, why) in [
            ("", "1 to 65535"),
            ("0", "1 to 65535"),
            ("70000", "1 to 65535"),
            ("8080:80/icmp", "tcp, udp or sctp"),
            ("90-80", "above the last"),
            ("8000-8001:80-82", "differ in size"),
            ("1.2.3:8080:80", "invalid host address"),
            (":8080:80", "is empty"),
            ("abc:80", "host port"),
        ] {
            let e = parse_publish(spec).unwrap_err();
            assert!(e.message.contains(why), "{spec}: {e}");
            assert!(e.message.contains("port specification"), "{spec}: {e}");
        }
    }

    #[test]
    fn bindings_round_trip() {
        let mut reqs = parse_publish("127.0.0.1:8080:80").unwrap();
        reqs.extend(parse_publish("[::1]::53/udp").unwrap());
        reqs.extend(parse_publish("8000-8005:443").unwrap());
        let map = to_bindings(&reqs);
        assert_eq!(map["80/tcp"][0].host_ip, "127.0.0.1");
        assert_eq!(map["53/udp"][0].host_ip, "::1");
        assert_eq!(map["443/tcp"][0].host_port, "8000-8005");
        let mut back = from_bindings(&map).unwrap();
        back.sort_by_key(|r| r.container);
        reqs.sort_by_key(|r| r.container);
        assert_eq!(back, reqs);
    }

    #[test]
    fn empty_binding_list_publishes_on_an_ephemeral_port() {
        let mut map = PortBindings::new();
        map.insert("80/tcp".into(), vec![]);
        let v = from_bindings(&map).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].host_ports, None);
        map.insert("80/xyz".into(), vec![]);
        assert!(from_bindings(&map).is_err());
    }

    #[test]
    fn expose_parses_ranges() {
        assert_eq!(parse_expose("53/udp").unwrap(), vec![key(53, Proto::Udp)]);
        assert_eq!(parse_expose("80-81").unwrap().len(), 2);
        assert!(parse_expose("x").is_err());
    }
}

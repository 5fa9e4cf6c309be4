//! Addresses given on the command line: the listen address, a manager's address, and the
//! advertise address when none is given.

use crate::{Result, SwarmError};
use std::net::{IpAddr, SocketAddr};

/// The join endpoint's default port (Docker's swarm port).
pub const DEFAULT_PORT: u16 = 2377;

/// Parses `ADDR[:PORT]` (IPv6 in brackets with a port), the port defaulting to 2377.
pub fn parse_socket(s: &str, what: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(SwarmError::Invalid(format!(
        "invalid {what} {s:?}: give an IP address, optionally with a port (ADDR:PORT)"
    )))
}

/// The listen address, `0.0.0.0:2377` unless given.
pub fn listen(s: &str) -> Result<SocketAddr> {
    if s.is_empty() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)));
    }
    parse_socket(s, "listen address")
}

/// The advertise address: the one given, else a specific listen address, else the source
/// address of the route towards `toward` (the manager, or a public address at init).
pub fn advertise(given: &str, listen: SocketAddr, toward: Option<IpAddr>) -> Result<IpAddr> {
    if !given.is_empty() {
        // Docker accepts ADDR[:PORT]; the port is the listen port's business here.
        return parse_socket(given, "advertise address").map(|a| a.ip());
    }
    if !listen.ip().is_unspecified() {
        return Ok(listen.ip());
    }
    let target = toward.unwrap_or(IpAddr::from([192, 0, 2, 1]));
    route_source(target).ok_or_else(|| {
        SwarmError::Invalid(
            "cannot choose an address to advertise: this host has no route to pick one from; \
             give --advertise-addr"
                .into(),
        )
    })
}

/// The source address the kernel would use towards `target` (a UDP connect sends nothing).
fn route_source(target: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(target, 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_swarm_port_unless_given() {
        assert_eq!(listen("").unwrap().to_string(), "0.0.0.0:2377");
        assert_eq!(
            parse_socket("192.0.2.1", "x").unwrap().to_string(),
            "192.0.2.1:2377"
        );
        assert_eq!(
            parse_socket("192.0.2.1:4000", "x").unwrap().to_string(),
            "192.0.2.1:4000"
        );
        assert_eq!(
            parse_socket("[2001:db8::1]", "x").unwrap().to_string(),
            "[2001:db8::1]:2377"
        );
        assert!(parse_socket("manager.example", "manager address")
            .unwrap_err()
            .to_string()
            .contains("invalid manager address"));
    }

    #[test]
    fn a_given_or_specific_address_is_advertised() {
        let any = listen("").unwrap();
        assert_eq!(
            advertise("192.0.2.7", any, None).unwrap().to_string(),
            "192.0.2.7"
        );
        let specific = listen("192.0.2.8:2377").unwrap();
        assert_eq!(
            advertise("", specific, None).unwrap().to_string(),
            "192.0.2.8"
        );
    }
}

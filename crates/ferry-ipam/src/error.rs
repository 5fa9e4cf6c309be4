//! The errors of address management, worded for the person at the command line.

use std::net::IpAddr;

use ipnet::IpNet;

/// Why a subnet or an address could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Every subnet of every pool of the family overlaps something already there.
    #[error(
        "no free {family} subnet left in the default address pools: every pool overlaps an existing \
         network or a host route; remove unused networks (ferry network prune), pass --subnet, or add \
         pools with \"default-address-pools\" in daemon.json"
    )]
    PoolsExhausted {
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
    },

    /// Every address of the dynamic range is allocated or reserved.
    #[error(
        "no free address left in {range} of network subnet {subnet}; remove sandboxes from the \
         network or use a larger --subnet/--ip-range"
    )]
    SubnetExhausted {
        /// The network's subnet.
        subnet: IpNet,
        /// The range dynamic addresses come from.
        range: IpNet,
    },

    /// The address lies outside the network's subnet (or is of the other family).
    #[error("address {ip} is not in subnet {subnet}; pick an address inside the subnet")]
    OutOfSubnet {
        /// The address asked for.
        ip: IpAddr,
        /// The network's subnet.
        subnet: IpNet,
    },

    /// The address is already held by another sandbox.
    #[error(
        "address {ip} is already in use in subnet {subnet}; pick another address or disconnect the \
         sandbox that holds it"
    )]
    InUse {
        /// The address asked for.
        ip: IpAddr,
        /// The network's subnet.
        subnet: IpNet,
    },

    /// The address is set aside and never given to a sandbox.
    #[error("address {ip} in subnet {subnet} is reserved as {what}; pick another address")]
    Reserved {
        /// The address asked for.
        ip: IpAddr,
        /// The network's subnet.
        subnet: IpNet,
        /// What holds it, e.g. "the gateway" or "auxiliary address 'router'".
        what: String,
    },

    /// The --ip-range does not lie inside the --subnet.
    #[error(
        "IP range {range} is not inside subnet {subnet}; pass an --ip-range that lies within the \
         --subnet"
    )]
    RangeNotInSubnet {
        /// The range given.
        range: IpNet,
        /// The network's subnet.
        subnet: IpNet,
    },

    /// A pool of "default-address-pools" cannot be split as asked.
    #[error(
        "invalid address pool {base} with size /{size}: {why}; fix \"default-address-pools\" in \
         daemon.json"
    )]
    InvalidPool {
        /// The pool's base network.
        base: IpNet,
        /// The prefix length the pool is split into.
        size: u8,
        /// What is wrong with it.
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_and_what_to_do() {
        let e = IpamError::PoolsExhausted { family: "IPv4" };
        let s = e.to_string();
        assert!(s.starts_with("no free IPv4 subnet left in the default address pools"));
        assert!(s.contains("ferry network prune"));
        assert!(s.contains("\"default-address-pools\" in daemon.json"));

        let subnet: IpNet = "10.0.0.0/24".parse().expect("net");
        let range: IpNet = "10.0.0.128/25".parse().expect("net");
        let s = IpamError::SubnetExhausted { subnet, range }.to_string();
        assert_eq!(
            s,
            "no free address left in 10.0.0.128/25 of network subnet 10.0.0.0/24; remove \
             sandboxes from the network or use a larger --subnet/--ip-range"
        );

        let ip = "10.0.1.1".parse().expect("ip");
        let s = IpamError::OutOfSubnet { ip, subnet }.to_string();
        assert!(s.starts_with("address 10.0.1.1 is not in subnet 10.0.0.0/24"));

        let s = IpamError::Reserved {
            ip,
            subnet,
            what: "the gateway".into(),
        }
        .to_string();
        assert!(s.contains("reserved as the gateway"));
    }
}

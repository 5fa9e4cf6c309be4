//! ADD's request to the daemon: the caller's container, namespace and interface, with the
//! static addresses, MAC, aliases and ports the runtime asked for.

use crate::config::NetConf;
use crate::env::CniEnv;
use crate::error::CniError;
use ferry_types::api::NetworkAttachRequest;
use ferry_types::ports::{HostBinding, PortBindings, Proto};
use std::net::IpAddr;

/// The label ferry's record of a CNI container carries: the CNI network's name. GC collects
/// only what carries it, never what others attached.
pub const NETWORK_LABEL: &str = "io.ferry.cni.network";

/// The attach request for an ADD.
pub fn attach_request(conf: &NetConf, env: &CniEnv) -> Result<NetworkAttachRequest, CniError> {
    let rc = &conf.runtime_config;
    // runtimeConfig `ips` is the convention; podman passes `--network NET:ip=` in CNI_ARGS.
    let ips = if rc.ips.is_empty() {
        &env.args.ips
    } else {
        &rc.ips
    };
    let (mut v4, mut v6) = (None, None);
    for ip in ips {
        let bare = ip.split_once('/').map_or(ip.as_str(), |(a, _)| a);
        let addr: IpAddr = bare
            .parse()
            .map_err(|_| CniError::config(format!("static address {ip:?} is not an IP address")))?;
        let slot = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
        if slot.replace(addr.to_string()).is_some() {
            return Err(CniError::config(format!(
                "more than one static IPv{} address in {ips:?}: a ferry endpoint has one of each",
                if addr.is_ipv4() { 4 } else { 6 }
            )));
        }
    }
    let mac = rc.mac.clone().or_else(|| env.args.mac.clone());
    Ok(NetworkAttachRequest {
        netns: env.netns.clone(),
        id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        aliases: rc.aliases.for_network(&conf.name),
        ipv4_address: v4.unwrap_or_default(),
        ipv6_address: v6.unwrap_or_default(),
        mac_address: mac.unwrap_or_default(),
        port_bindings: port_bindings(conf)?,
        caller_holds_ports: !conf.hold_ports,
        labels: [(NETWORK_LABEL.to_string(), conf.name.clone())].into(),
    })
}

/// `portMappings` as Docker's `PortBindings`, which ferry publishes.
fn port_bindings(conf: &NetConf) -> Result<PortBindings, CniError> {
    let mut out = PortBindings::new();
    for m in &conf.runtime_config.port_mappings {
        let proto = if m.protocol.is_empty() {
            Proto::Tcp
        } else {
            Proto::parse(&m.protocol).map_err(|e| CniError::config(e.to_string()))?
        };
        if m.container_port == 0 {
            return Err(CniError::config(format!(
                "port mapping {m:?} has no containerPort"
            )));
        }
        out.entry(format!("{}/{}", m.container_port, proto.as_str()))
            .or_default()
            .push(HostBinding {
                host_ip: m.host_ip.clone(),
                host_port: if m.host_port == 0 {
                    String::new()
                } else {
                    m.host_port.to_string()
                },
            });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{CniArgs, Command};

    fn env(args: &str) -> CniEnv {
        CniEnv {
            command: Command::Add,
            container_id: "c1".into(),
            netns: "/run/netns/x".into(),
            ifname: "eth0".into(),
            args: CniArgs::parse(args).unwrap(),
        }
    }

    #[test]
    fn podmans_call_becomes_an_attach() {
        let conf = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"net","type":"ferry","runtimeConfig":{"aliases":{"net":["web"]},"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp"}]}}"#).unwrap();
        let r = attach_request(
            &conf,
            &env("IgnoreUnknown=1;MAC=02:42:0a:4d:00:32;IP=10.77.0.50"),
        )
        .unwrap();
        assert_eq!(r.id, "c1");
        assert_eq!(r.netns, "/run/netns/x");
        assert_eq!(r.ifname, "eth0");
        assert_eq!(r.aliases, vec!["web"]);
        assert_eq!(r.ipv4_address, "10.77.0.50");
        assert_eq!(r.mac_address, "02:42:0a:4d:00:32");
        assert_eq!(r.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(r.port_bindings["53/udp"][0].host_port, "5353");
        assert_eq!(r.labels[NETWORK_LABEL], "net");
        assert!(r.caller_holds_ports);
    }

    #[test]
    fn runtime_config_ips_win_and_split_by_family() {
        let conf = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"ips":["10.2.2.42/24","fd00::5/64"],"mac":"c2:11:22:33:44:55"}}"#).unwrap();
        let r = attach_request(&conf, &env("IP=10.9.9.9;MAC=02:00:00:00:00:01")).unwrap();
        assert_eq!(
            (r.ipv4_address.as_str(), r.ipv6_address.as_str()),
            ("10.2.2.42", "fd00::5")
        );
        assert_eq!(r.mac_address, "c2:11:22:33:44:55");
    }

    #[test]
    fn bad_addresses_and_ports_are_invalid_config() {
        for body in [
            r#"{"name":"n","runtimeConfig":{"ips":["nope"]}}"#,
            r#"{"name":"n","runtimeConfig":{"ips":["10.0.0.1","10.0.0.2"]}}"#,
            r#"{"name":"n","runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":2,"protocol":"icmp"}]}}"#,
            r#"{"name":"n","runtimeConfig":{"portMappings":[{"hostPort":1}]}}"#,
        ] {
            let conf = NetConf::parse(body.as_bytes()).unwrap();
            assert_eq!(
                attach_request(&conf, &env("")).unwrap_err().code,
                7,
                "{body}"
            );
        }
    }
}

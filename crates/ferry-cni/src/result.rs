//! The ADD result: the container's interface, its addresses and routes, and ferry's resolver,
//! shaped for the request's version.

use crate::version::Shape;
use ferry_types::api::AttachResponse;
use serde_json::{json, Map, Value};

/// The result of an ADD that made `resp` in `netns`, in `version`'s shape.
pub fn add_result(version: &str, shape: Shape, netns: &str, resp: &AttachResponse) -> Value {
    let mut ips = Vec::new();
    let mut routes = Vec::new();
    for (addr, gw, family, default) in [
        (&resp.ipv4_address, &resp.gateway, "4", "0.0.0.0/0"),
        (&resp.ipv6_address, &resp.ipv6_gateway, "6", "::/0"),
    ] {
        if addr.is_empty() {
            continue;
        }
        let mut ip = Map::new();
        if shape == Shape::Legacy {
            ip.insert("version".into(), json!(family));
        }
        ip.insert("address".into(), json!(addr));
        if !gw.is_empty() {
            ip.insert("gateway".into(), json!(gw));
            routes.push(json!({"dst": default, "gw": gw}));
        }
        ip.insert("interface".into(), json!(0));
        ips.push(Value::Object(ip));
    }
    let mut out = Map::new();
    out.insert("cniVersion".into(), json!(version));
    out.insert(
        "interfaces".into(),
        json!([{"name": resp.ifname, "mac": resp.mac_address, "sandbox": netns}]),
    );
    out.insert("ips".into(), Value::Array(ips));
    if !routes.is_empty() {
        out.insert("routes".into(), Value::Array(routes));
    }
    let dns = if resp.dns_server.is_empty() {
        json!({})
    } else {
        json!({"nameservers": [resp.dns_server]})
    };
    out.insert("dns".into(), dns);
    Value::Object(out)
}

/// The addresses (with prefix length) a previous result gave, for CHECK to compare.
pub fn prev_addresses(prev: &Value) -> Vec<String> {
    prev.get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.get("address").and_then(Value::as_str))
        .map(String::from)
        .collect()
}

/// VERSION's reply: the versions ferry speaks, in the request's version.
pub fn version_result(version: &str) -> Value {
    json!({"cniVersion": version, "supportedVersions": crate::version::SUPPORTED})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp() -> AttachResponse {
        AttachResponse {
            sandbox_id: "ab".into(),
            ifname: "eth0".into(),
            mac_address: "02:42:0a:4d:00:32".into(),
            ipv4_address: "10.77.0.50/24".into(),
            ipv6_address: "fd00:77::32/64".into(),
            gateway: "10.77.0.1".into(),
            ipv6_gateway: "fd00:77::1".into(),
            dns_server: "127.0.0.11".into(),
        }
    }

    #[test]
    fn a_1x_result() {
        let r = add_result("1.0.0", Shape::Current, "/run/netns/x", &resp());
        assert_eq!(
            r,
            json!({
                "cniVersion": "1.0.0",
                "interfaces": [{"name": "eth0", "mac": "02:42:0a:4d:00:32", "sandbox": "/run/netns/x"}],
                "ips": [
                    {"address": "10.77.0.50/24", "gateway": "10.77.0.1", "interface": 0},
                    {"address": "fd00:77::32/64", "gateway": "fd00:77::1", "interface": 0}
                ],
                "routes": [{"dst": "0.0.0.0/0", "gw": "10.77.0.1"}, {"dst": "::/0", "gw": "fd00:77::1"}],
                "dns": {"nameservers": ["127.0.0.11"]}
            })
        );
    }

    #[test]
    fn a_04_result_names_ip_versions() {
        let r = add_result("0.4.0", Shape::Legacy, "/n", &resp());
        assert_eq!(r["cniVersion"], "0.4.0");
        assert_eq!(r["ips"][0]["version"], "4");
        assert_eq!(r["ips"][1]["version"], "6");
    }

    #[test]
    fn no_gateway_no_route_no_resolver_no_nameserver() {
        let mut a = resp();
        a.ipv6_address.clear();
        a.gateway.clear();
        a.dns_server.clear();
        let r = add_result("1.1.0", Shape::Current, "/n", &a);
        assert_eq!(
            r["ips"],
            json!([{"address": "10.77.0.50/24", "interface": 0}])
        );
        assert!(r.get("routes").is_none());
        assert_eq!(r["dns"], json!({}));
        assert_eq!(prev_addresses(&r), vec!["10.77.0.50/24"]);
    }

    #[test]
    fn version_lists_every_version() {
        assert_eq!(
            version_result("1.0.0"),
            json!({"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]})
        );
    }
}

//! CHECK and GC decisions, apart from the calls that feed them: whether an attachment is
//! still what ADD made, and which attachments GC removes.

use crate::config::GcAttachment;
use crate::error::{CniError, DAEMON_FAILED, UNKNOWN_CONTAINER};
use crate::request::NETWORK_LABEL;
use ferry_types::api::Attachment;

/// Checks the container's attachment against the call and ADD's result. `present` says
/// whether the interface is in the namespace now.
pub fn check_attachment(
    attachment: Option<&Attachment>,
    id: &str,
    same_netns: bool,
    ifname: &str,
    present: bool,
    prev_addresses: &[String],
) -> Result<(), CniError> {
    let Some(a) = attachment else {
        return Err(CniError::new(
            UNKNOWN_CONTAINER,
            "container not attached",
            format!("ferry has no attachment of {id} on this network"),
        ));
    };
    let fail = |details: String| Err(CniError::new(DAEMON_FAILED, "check failed", details));
    if !a.netns_live || !same_netns {
        return fail(format!(
            "the network namespace {} attached for {id} is gone or is another one",
            a.netns
        ));
    }
    if a.ifname != ifname {
        return fail(format!("{id} is attached as {}, not {ifname}", a.ifname));
    }
    if !present {
        return fail(format!(
            "interface {ifname} of {id} is missing from its namespace"
        ));
    }
    for addr in prev_addresses {
        if *addr != a.ipv4_address && *addr != a.ipv6_address {
            return fail(format!(
                "{id} has no address {addr} (ferry holds {:?} and {:?})",
                a.ipv4_address, a.ipv6_address
            ));
        }
    }
    Ok(())
}

/// The IDs of the attachments GC removes: those this CNI network made (by their label) that
/// the runtime no longer lists.
pub fn gc_victims(network: &str, attached: &[Attachment], valid: &[GcAttachment]) -> Vec<String> {
    attached
        .iter()
        .filter(|a| a.labels.get(NETWORK_LABEL).map(String::as_str) == Some(network))
        .filter(|a| {
            !valid
                .iter()
                .any(|v| v.container_id == a.id && (v.ifname.is_empty() || v.ifname == a.ifname))
        })
        .map(|a| a.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(id: &str, net: &str) -> Attachment {
        Attachment {
            id: id.into(),
            netns: "/run/netns/x".into(),
            netns_live: true,
            ifname: "eth0".into(),
            ipv4_address: "10.0.0.2/24".into(),
            labels: [(NETWORK_LABEL.to_string(), net.to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_attachment_passes() {
        let a = att("c", "n");
        check_attachment(Some(&a), "c", true, "eth0", true, &["10.0.0.2/24".into()]).unwrap();
    }

    #[test]
    fn every_difference_is_reported() {
        let a = att("c", "n");
        assert_eq!(
            check_attachment(None, "c", true, "eth0", true, &[])
                .unwrap_err()
                .code,
            3
        );
        let mut dead = a.clone();
        dead.netns_live = false;
        for (att, same_ns, ifname, present, prev) in [
            (&dead, true, "eth0", true, vec![]),
            (&a, false, "eth0", true, vec![]),
            (&a, true, "eth1", true, vec![]),
            (&a, true, "eth0", false, vec![]),
            (&a, true, "eth0", true, vec!["10.0.0.3/24".to_string()]),
        ] {
            let e = check_attachment(Some(att), "c", same_ns, ifname, present, &prev).unwrap_err();
            assert_eq!(e.code, 101, "{e}");
        }
    }

    #[test]
    fn gc_removes_only_its_own_unlisted() {
        let attached = [att("keep", "n"), att("gone", "n"), att("other-net", "m"), {
            let mut a = att("manual", "n");
            a.labels.clear();
            a
        }];
        let valid = [GcAttachment {
            container_id: "keep".into(),
            ifname: "eth0".into(),
        }];
        assert_eq!(gc_victims("n", &attached, &valid), vec!["gone"]);
        // Listed with another interface: not the same attachment.
        let valid = [GcAttachment {
            container_id: "keep".into(),
            ifname: "eth9".into(),
        }];
        assert_eq!(gc_victims("n", &attached, &valid), vec!["keep", "gone"]);
    }
}

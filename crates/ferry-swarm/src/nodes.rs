//! `node ls` and `node inspect`: a node's record joined with whether it holds a session
//! (Ready/Down) and, for managers, whether its etcd member leads or can be reached.

use crate::records::NodeRecord;
use ferry_types::swarm::{ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus, NodeVersion};

/// The API's view of a node.
pub fn view(
    rec: &NodeRecord,
    revision: u64,
    live: bool,
    leader_member: Option<u64>,
    self_id: &str,
) -> Node {
    let manager_status = (rec.role == ferry_pki::Role::Manager).then(|| ManagerStatus {
        leader: live && rec.etcd_member.is_some() && rec.etcd_member == leader_member,
        reachability: if live && rec.etcd_member.is_some() {
            "reachable".into()
        } else {
            "unreachable".into()
        },
        addr: rec.etcd_client_url.clone().unwrap_or_default(),
    });
    Node {
        id: rec.id.clone(),
        version: NodeVersion { index: revision },
        created_at: rec.created_at.clone(),
        spec: NodeSpec {
            role: rec.role.to_string(),
            availability: rec.availability.as_str().into(),
            labels: rec.labels.clone(),
        },
        description: NodeDescription {
            hostname: rec.hostname.clone(),
        },
        status: NodeStatus {
            state: if live { "ready" } else { "down" }.into(),
            addr: rec.addr.clone(),
        },
        manager_status,
        is_self: rec.id == self_id,
    }
}

/// The node `query` names: an exact ID, else an exact hostname, else an unambiguous ID prefix.
pub fn resolve<'a>(nodes: &'a [NodeRecord], query: &str) -> Result<&'a NodeRecord, String> {
    if let Some(n) = nodes.iter().find(|n| n.id == query) {
        return Ok(n);
    }
    let by_name: Vec<_> = nodes.iter().filter(|n| n.hostname == query).collect();
    if by_name.len() == 1 {
        return Ok(by_name[0]);
    }
    let by_prefix: Vec<_> = nodes.iter().filter(|n| n.id.starts_with(query)).collect();
    match (by_prefix.len(), by_name.len()) {
        (1, _) => Ok(by_prefix[0]),
        (0, 0) => Err(format!("no such node: {query}")),
        _ => Err(format!("node {query} is ambiguous: give more of its ID")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Availability;
    use ferry_pki::Role;

    fn rec(id: &str, role: Role, member: Option<u64>) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            hostname: format!("host-{id}"),
            role,
            availability: Availability::Active,
            labels: Default::default(),
            addr: "192.0.2.1".into(),
            created_at: String::new(),
            etcd_member: member,
            etcd_client_url: member.map(|_| "https://192.0.2.1:2379".into()),
        }
    }

    #[test]
    fn status_comes_from_the_session_and_leadership_from_etcd() {
        let m = rec("a1", Role::Manager, Some(7));
        let v = view(&m, 3, true, Some(7), "a1");
        assert_eq!(v.status.state, "ready");
        let ms = v.manager_status.unwrap();
        assert!(ms.leader);
        assert_eq!(ms.reachability, "reachable");
        assert!(v.is_self);
        let v = view(&m, 3, false, Some(7), "b1");
        assert_eq!(v.status.state, "down");
        let ms = v.manager_status.unwrap();
        assert!(!ms.leader, "a down manager does not lead");
        assert_eq!(ms.reachability, "unreachable");
        assert!(!v.is_self);
        let w = view(&rec("b1", Role::Worker, None), 1, true, Some(7), "a1");
        assert!(w.manager_status.is_none());
        assert_eq!(w.spec.role, "worker");
    }

    #[test]
    fn nodes_are_found_by_id_hostname_or_prefix() {
        let nodes = vec![
            rec("abc1", Role::Worker, None),
            rec("abd2", Role::Worker, None),
        ];
        assert_eq!(resolve(&nodes, "abc1").unwrap().id, "abc1");
        assert_eq!(resolve(&nodes, "host-abd2").unwrap().id, "abd2");
        assert_eq!(resolve(&nodes, "abc").unwrap().id, "abc1");
        assert!(resolve(&nodes, "ab").unwrap_err().contains("ambiguous"));
        assert!(resolve(&nodes, "zz").unwrap_err().contains("no such node"));
    }
}

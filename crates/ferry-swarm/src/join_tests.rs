//! The join protocol end to end on loopback, with the cluster record in a memory store: the
//! CA pinned by the token's digest, a rotated token refused, the CSR signed for the role the
//! token admits.

use crate::etcd_ops::EtcdAccess;
use crate::join_proto::JoinRequest;
use crate::join_server::{JoinServer, JoinService};
use crate::local::Files;
use crate::records::{ClusterRecord, CLUSTER_KEY};
use crate::SwarmError;
use ferry_pki::{ClusterCa, JoinToken, JoinTokens, NodeCertPolicy, NodeKey, Role, Validity};
use ferry_store::{MemoryStore, Op, Store, Table};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

struct Bed {
    _dir: tempfile::TempDir,
    server: JoinServer,
    store: Arc<dyn Store>,
    record: ClusterRecord,
    ca: ClusterCa,
}

fn validity() -> Validity {
    Validity::new(
        SystemTime::now() - Duration::from_secs(60),
        Duration::from_secs(3600),
    )
}

async fn bed() -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::new(dir.path());
    let ca = ClusterCa::generate(Validity::new(
        SystemTime::now() - Duration::from_secs(60),
        ferry_pki::DEFAULT_CA_LIFETIME,
    ))
    .unwrap();
    let tokens = JoinTokens::generate(ca.digest()).unwrap();
    let key = NodeKey::generate().unwrap();
    let csr = key
        .csr("manager1", &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let cert = ca
        .sign(
            &csr,
            &NodeCertPolicy {
                node_id: "manager1",
                role: Role::Manager,
                validity: validity(),
            },
        )
        .unwrap();
    files
        .write(&files.ca_cert(), ca.cert_pem().as_bytes(), 0o644)
        .unwrap();
    files
        .write(&files.node_key(), key.key_pem().as_bytes(), 0o600)
        .unwrap();
    files
        .write(&files.node_cert(), cert.as_bytes(), 0o644)
        .unwrap();
    let record = ClusterRecord {
        id: "c1".into(),
        created_at: String::new(),
        ca_cert: ca.cert_pem().into(),
        ca_key: ca.key_pem(),
        worker_token: tokens.get(Role::Worker).to_string(),
        manager_token: tokens.get(Role::Manager).to_string(),
        data_path_port: 4789,
        default_addr_pools: vec!["10.0.0.0/8".into()],
        subnet_size: 24,
        lease_ttl: 10,
        external_etcd: false,
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .apply_ops(vec![
            Op::put_json(Table::Swarm, CLUSTER_KEY, &record).unwrap()
        ])
        .await
        .unwrap();
    let server = JoinServer::start(
        "127.0.0.1:0".parse().unwrap(),
        JoinService {
            store: store.clone(),
            access: EtcdAccess {
                endpoints: vec!["https://127.0.0.1:2379".into()],
                tls: None,
            },
            files,
        },
    )
    .await
    .unwrap();
    Bed {
        _dir: dir,
        server,
        store,
        record,
        ca,
    }
}

async fn join(b: &Bed, token: &str) -> (NodeKey, Result<crate::join_proto::JoinReply, SwarmError>) {
    let key = NodeKey::generate().unwrap();
    let req = JoinRequest {
        token: token.into(),
        node_id: "joiner1".into(),
        csr: key.csr("joiner1", &["127.0.0.2".parse().unwrap()]).unwrap(),
    };
    let t = JoinToken::parse(token).unwrap();
    let r = crate::join_client::join(b.server.addr(), &t, &req).await;
    (key, r)
}

#[tokio::test]
async fn a_token_admits_its_role_and_the_key_stays_with_the_joiner() {
    let b = bed().await;
    for (token, role) in [
        (&b.record.worker_token, Role::Worker),
        (&b.record.manager_token, Role::Manager),
    ] {
        let (key, reply) = join(&b, token).await;
        let reply = reply.unwrap();
        assert_eq!(reply.role, role.to_string());
        assert_eq!(reply.ca_cert, b.ca.cert_pem());
        let info = key
            .accept_cert(&reply.node_cert, &reply.ca_cert, SystemTime::now())
            .unwrap();
        assert_eq!((info.node_id.as_str(), info.role), ("joiner1", role));
    }
}

#[tokio::test]
async fn another_swarm_s_digest_is_refused_before_the_secret_is_sent() {
    let b = bed().await;
    let other = ClusterCa::generate(validity()).unwrap();
    let secret = b.record.worker_token.rsplit('-').next().unwrap();
    let digest = JoinToken::generate(other.digest()).unwrap().to_string();
    let parts: Vec<&str> = digest.split('-').collect();
    let forged = format!("SWMTKN-1-{}-{secret}", parts[2]);
    match join(&b, &forged).await.1 {
        Err(SwarmError::Refused(m)) => assert!(m.contains("not the swarm the token is for"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rotated_token_admits_no_one() {
    let b = bed().await;
    let old = b.record.worker_token.clone();
    let mut rotated = b.record.clone();
    rotated.worker_token = JoinToken::generate(b.ca.digest()).unwrap().to_string();
    b.store
        .apply_ops(vec![
            Op::put_json(Table::Swarm, CLUSTER_KEY, &rotated).unwrap()
        ])
        .await
        .unwrap();
    match join(&b, &old).await.1 {
        Err(SwarmError::Refused(m)) => {
            assert!(m.contains("not one of this swarm's current tokens"), "{m}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(join(&b, &rotated.worker_token).await.1.is_ok());
}

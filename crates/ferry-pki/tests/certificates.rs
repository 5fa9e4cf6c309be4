//! The CA, node keys, CSRs and signing, end to end, with the results parsed back independently.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_pki::{
    verify_node_cert, ClusterCa, NodeCertPolicy, NodeKey, PkiError, Role, Validity, CA_COMMON_NAME,
    DEFAULT_CA_LIFETIME, DEFAULT_NODE_CERT_LIFETIME,
};
use x509_parser::extensions::GeneralName;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn t0() -> SystemTime {
    // A fixed time: the crate never reads the clock, and the tests need not either.
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn new_ca() -> ClusterCa {
    ClusterCa::generate(Validity::new(t0(), DEFAULT_CA_LIFETIME)).unwrap()
}

fn ips() -> Vec<IpAddr> {
    vec![
        "192.0.2.10".parse().unwrap(),
        "2001:db8::10".parse().unwrap(),
    ]
}

fn policy(node_id: &str) -> NodeCertPolicy<'_> {
    NodeCertPolicy {
        node_id,
        role: Role::Manager,
        validity: Validity::new(t0(), DEFAULT_NODE_CERT_LIFETIME),
    }
}

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

#[test]
fn ca_is_a_self_signed_p256_ca() {
    let ca = new_ca();
    let der = der(ca.cert_pem());
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(cert.is_ca());
    assert_eq!(cert.subject(), cert.issuer());
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), CA_COMMON_NAME);
    cert.verify_signature(None).unwrap();
    assert!(cert.key_usage().unwrap().unwrap().value.key_cert_sign());
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc.path_len_constraint, Some(0));
    // ecdsa-with-SHA256
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );
    assert_eq!(
        cert.validity().not_before.timestamp(),
        1_800_000_000,
        "the caller's time is used"
    );
}

#[test]
fn ca_round_trips_through_pem_and_still_signs() {
    let ca = new_ca();
    let again = ClusterCa::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(ca.digest(), again.digest());
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("node-a", &ips()).unwrap();
    let cert = again.sign(&csr, &policy("node-a")).unwrap();
    key.accept_cert(&cert, ca.cert_pem(), t0() + DAY).unwrap();
}

#[test]
fn ca_refuses_mismatched_key_non_ca_and_bad_pem() {
    let a = new_ca();
    let b = new_ca();
    assert!(matches!(
        ClusterCa::from_pem(a.cert_pem(), &b.key_pem()),
        Err(PkiError::KeyDoesNotMatchCertificate)
    ));

    let key = NodeKey::generate().unwrap();
    let node_cert = a
        .sign(&key.csr("node-a", &ips()).unwrap(), &policy("node-a"))
        .unwrap();
    assert!(matches!(
        ClusterCa::from_pem(&node_cert, &key.key_pem()),
        Err(PkiError::NotACa)
    ));

    let err = ClusterCa::from_pem("not pem", &a.key_pem()).unwrap_err();
    assert!(
        matches!(
            err,
            PkiError::InvalidPem {
                what: "CA certificate",
                ..
            }
        ),
        "{err}"
    );
    let bundle = format!("{}{}", a.cert_pem(), b.cert_pem());
    let err = ClusterCa::from_pem(&bundle, &a.key_pem()).unwrap_err();
    assert!(err.to_string().contains("more than one"), "{err}");
    let err = ClusterCa::from_pem(a.cert_pem(), "junk").unwrap_err();
    assert!(
        matches!(err, PkiError::InvalidPem { what: "CA key", .. }),
        "{err}"
    );
    assert!(!format!("{a:?}").contains("PRIVATE"));
}

#[test]
fn signed_node_certificate_is_issued_by_the_ca_with_the_right_fields() {
    let ca = new_ca();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("q8xw3k2mz1node", &ips()).unwrap();
    let cert_pem = ca.sign(&csr, &policy("q8xw3k2mz1node")).unwrap();

    // Parsed back independently of the crate's own checks.
    let ca_der = der(ca.cert_pem());
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let cert_der = der(&cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    assert_eq!(cert.issuer(), ca_cert.subject());
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    assert!(cert.verify_signature(None).is_err(), "not self-signed");
    assert!(!cert.is_ca());
    let subject = cert.subject();
    assert_eq!(
        subject.iter_common_name().next().unwrap().as_str().unwrap(),
        "q8xw3k2mz1node"
    );
    assert_eq!(
        subject
            .iter_organizational_unit()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "swarm-manager"
    );
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.any);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("dns:{d}"),
            GeneralName::IPAddress(b) => format!("ip:{}", b.len()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(sans, ["dns:q8xw3k2mz1node", "ip:4", "ip:16"]);
    assert_eq!(
        cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
        DEFAULT_NODE_CERT_LIFETIME.as_secs() as i64
    );
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        x509_parser::pem::parse_x509_pem(key.public_key_pem().as_bytes())
            .map(|(_, p)| {
                let (_, spki) =
                    <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<
                        '_,
                        x509_parser::error::X509Error,
                    >>::from_der(&p.contents)
                    .unwrap();
                spki.subject_public_key.data.to_vec()
            })
            .unwrap()
    );

    // And through the crate's own verification.
    let info = key
        .accept_cert(&cert_pem, ca.cert_pem(), t0() + DAY)
        .unwrap();
    assert_eq!(info.node_id, "q8xw3k2mz1node");
    assert_eq!(info.role, Role::Manager);
    assert_eq!(info.ips, ips());
    assert_eq!(info.not_before, t0());
    assert_eq!(info.not_after, t0() + DEFAULT_NODE_CERT_LIFETIME);
}

#[test]
fn verification_refuses_another_ca_another_key_and_wrong_times() {
    let ca = new_ca();
    let other = new_ca();
    let key = NodeKey::generate().unwrap();
    let cert = ca
        .sign(&key.csr("node-a", &ips()).unwrap(), &policy("node-a"))
        .unwrap();
    let err = verify_node_cert(&cert, other.cert_pem(), t0() + DAY).unwrap_err();
    assert!(matches!(err, PkiError::CertNotIssuedByCa { .. }), "{err}");

    let stranger = NodeKey::generate().unwrap();
    assert!(matches!(
        stranger.accept_cert(&cert, ca.cert_pem(), t0() + DAY),
        Err(PkiError::CertKeyMismatch)
    ));

    let err = verify_node_cert(&cert, ca.cert_pem(), t0() - DAY).unwrap_err();
    assert!(err.to_string().contains("not yet valid"), "{err}");
    let later = t0() + DEFAULT_NODE_CERT_LIFETIME + DAY;
    let err = verify_node_cert(&cert, ca.cert_pem(), later).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    // A CA certificate is not a node certificate.
    let err = verify_node_cert(ca.cert_pem(), ca.cert_pem(), t0() + DAY).unwrap_err();
    assert!(matches!(err, PkiError::NotANodeCert { .. }), "{err}");
}

#[test]
fn sign_refuses_a_csr_for_another_node() {
    let ca = new_ca();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("node-a", &ips()).unwrap();
    let err = ca.sign(&csr, &policy("node-b")).unwrap_err();
    assert!(
        matches!(&err, PkiError::CsrNodeIdMismatch { requested, expected }
            if requested == "node-a" && expected == "node-b"),
        "{err}"
    );
    assert!(matches!(
        ca.sign(&csr, &policy("Node-A")),
        Err(PkiError::InvalidNodeId { .. })
    ));
}

/// A CSR built by hand with rcgen, asking for whatever names it likes.
fn crafted_csr(cn: &str, sans: Vec<rcgen::SanType>) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn sign_refuses_names_a_node_may_not_have() {
    use rcgen::SanType;
    let ca = new_ca();
    let ip = SanType::IpAddress("192.0.2.10".parse().unwrap());
    let dns = |s: &str| SanType::DnsName(s.try_into().unwrap());

    let csr = crafted_csr(
        "node-a",
        vec![dns("node-a"), dns("etcd.example"), ip.clone()],
    );
    let err = ca.sign(&csr, &policy("node-a")).unwrap_err();
    assert!(matches!(err, PkiError::CsrNodeIdMismatch { .. }), "{err}");

    let uri = SanType::URI("spiffe://x/y".try_into().unwrap());
    let csr = crafted_csr("node-a", vec![dns("node-a"), uri, ip.clone()]);
    let err = ca.sign(&csr, &policy("node-a")).unwrap_err();
    assert!(matches!(err, PkiError::CsrUnexpectedName { .. }), "{err}");

    let csr = crafted_csr("node-a", vec![dns("node-a")]);
    assert!(matches!(
        ca.sign(&csr, &policy("node-a")),
        Err(PkiError::NoAddress)
    ));

    let any = SanType::IpAddress("0.0.0.0".parse().unwrap());
    let csr = crafted_csr("node-a", vec![dns("node-a"), any]);
    assert!(matches!(
        ca.sign(&csr, &policy("node-a")),
        Err(PkiError::CsrBadAddress { .. })
    ));

    let csr = crafted_csr("node-a", vec![dns("node-a"), ip.clone(), ip]);
    assert!(matches!(
        ca.sign(&csr, &policy("node-a")),
        Err(PkiError::CsrBadAddress { .. })
    ));
}

#[test]
fn sign_refuses_a_tampered_or_garbled_csr() {
    let ca = new_ca();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("node-a", &ips()).unwrap();
    // Change one base64 character in the middle of the body: the signature no longer matches
    // (or the DER no longer parses).
    let mut lines: Vec<String> = csr.lines().map(str::to_string).collect();
    let line = &mut lines[3];
    let c = line.as_bytes()[10];
    let swapped = if c == b'A' { 'B' } else { 'A' };
    line.replace_range(10..11, &swapped.to_string());
    let tampered = lines.join("\n");
    let err = ca.sign(&tampered, &policy("node-a")).unwrap_err();
    assert!(matches!(err, PkiError::InvalidCsr { .. }), "{err}");

    let err = ca.sign("garbage", &policy("node-a")).unwrap_err();
    assert!(matches!(err, PkiError::InvalidCsr { .. }), "{err}");
}

#[test]
fn node_certificate_may_not_outlive_the_ca() {
    let ca = ClusterCa::generate(Validity::new(t0(), 30 * DAY)).unwrap();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("node-a", &ips()).unwrap();
    let long = NodeCertPolicy {
        validity: Validity::new(t0(), 31 * DAY),
        ..policy("node-a")
    };
    assert!(matches!(
        ca.sign(&csr, &long),
        Err(PkiError::CertOutlivesCa)
    ));
    let short = NodeCertPolicy {
        validity: Validity::new(t0(), 30 * DAY),
        ..policy("node-a")
    };
    ca.sign(&csr, &short).unwrap();
    let empty = NodeCertPolicy {
        validity: Validity::new(t0(), Duration::ZERO),
        ..policy("node-a")
    };
    assert!(matches!(
        ca.sign(&csr, &empty),
        Err(PkiError::InvalidValidity { .. })
    ));
}

#[test]
fn each_signature_gets_its_own_serial_and_worker_role_is_recorded() {
    let ca = new_ca();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr("node-a", &ips()).unwrap();
    let worker = NodeCertPolicy {
        role: Role::Worker,
        ..policy("node-a")
    };
    let a = ca.sign(&csr, &worker).unwrap();
    let b = ca.sign(&csr, &worker).unwrap();
    let (da, db) = (der(&a), der(&b));
    let (_, ca_) = x509_parser::parse_x509_certificate(&da).unwrap();
    let (_, cb) = x509_parser::parse_x509_certificate(&db).unwrap();
    assert_ne!(ca_.raw_serial(), cb.raw_serial());
    let info = verify_node_cert(&a, ca.cert_pem(), t0() + DAY).unwrap();
    assert_eq!(info.role, Role::Worker);
}

#[test]
fn what_the_csr_asks_for_beyond_names_is_ignored() {
    use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, IsCa, SanType};
    let ca = new_ca();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "node-a");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName("node-a".try_into().unwrap()),
        SanType::IpAddress("192.0.2.10".parse().unwrap()),
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();

    let cert_pem = ca.sign(&csr, &policy("node-a")).unwrap();
    let cert_der = der(&cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    assert!(!cert.is_ca());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.code_signing);
}

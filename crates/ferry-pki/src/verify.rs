//! Checking a node certificate against the cluster CA, as a node does with the certificate a
//! manager returns and as peers may do with each other's.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::{pem, NodeKey, PkiError, Role};

/// What a verified node certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertInfo {
    /// The node ID (subject common name and DNS name).
    pub node_id: String,
    /// The role written in the subject's organizational unit.
    pub role: Role,
    /// The IP addresses it names.
    pub ips: Vec<IpAddr>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Verifies that `cert_pem` is a node certificate signed by the CA in `ca_cert_pem` and valid
/// at `now`, and returns what it certifies.
pub fn verify_node_cert(
    cert_pem: &str,
    ca_cert_pem: &str,
    now: SystemTime,
) -> Result<NodeCertInfo, PkiError> {
    let ca_der = pem::certificate_der(ca_cert_pem, "CA certificate")?;
    let cert_der = pem::certificate_der(cert_pem, "node certificate")?;
    let ca = parse(&ca_der, "CA certificate")?;
    let cert = parse(&cert_der, "node certificate")?;
    if !ca.is_ca() {
        return Err(PkiError::NotACa);
    }
    if cert.issuer() != ca.subject() {
        return Err(PkiError::CertNotIssuedByCa {
            reason: format!(
                "its issuer is {:?}, the CA is {:?}",
                cert.issuer().to_string(),
                ca.subject().to_string()
            ),
        });
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|e| PkiError::CertNotIssuedByCa {
            reason: format!("the CA's key did not sign it ({e})"),
        })?;
    check_time(&cert, now)?;
    describe(&cert)
}

impl NodeKey {
    /// Checks the certificate a manager returned for this node: issued by the CA in
    /// `ca_cert_pem`, valid at `now`, and certifying this node's own key.
    pub fn accept_cert(
        &self,
        cert_pem: &str,
        ca_cert_pem: &str,
        now: SystemTime,
    ) -> Result<NodeCertInfo, PkiError> {
        let info = verify_node_cert(cert_pem, ca_cert_pem, now)?;
        let der = pem::certificate_der(cert_pem, "node certificate")?;
        let cert = parse(&der, "node certificate")?;
        if cert.public_key().subject_public_key.data.as_ref() != self.public_key_raw() {
            return Err(PkiError::CertKeyMismatch);
        }
        Ok(info)
    }
}

fn parse<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| PkiError::InvalidPem {
            what,
            reason: e.to_string(),
        })
}

fn check_time(cert: &X509Certificate<'_>, now: SystemTime) -> Result<(), PkiError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => i64::MIN,
    };
    let state = if now < not_before {
        "not yet valid"
    } else if now > not_after {
        "expired"
    } else {
        return Ok(());
    };
    Err(PkiError::CertNotValidNow {
        state,
        not_before,
        not_after,
    })
}

/// Reads the node fields, refusing a certificate that is not shaped as [`crate::ClusterCa::sign`]
/// makes them.
fn describe(cert: &X509Certificate<'_>) -> Result<NodeCertInfo, PkiError> {
    let bad = |reason: &str| PkiError::NotANodeCert {
        reason: reason.to_string(),
    };
    if cert.is_ca() {
        return Err(bad("it is a CA certificate"));
    }
    let node_id = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| bad("it has no common name"))?
        .to_string();
    let role = match cert
        .subject()
        .iter_organizational_unit()
        .next()
        .and_then(|ou| ou.as_str().ok())
    {
        Some(r) if r == Role::Worker.as_str() => Role::Worker,
        Some(r) if r == Role::Manager.as_str() => Role::Manager,
        _ => return Err(bad("its organizational unit names no role")),
    };
    let eku = cert
        .extended_key_usage()
        .map_err(|e| bad(&format!("its extended key usage is malformed ({e})")))?
        .ok_or_else(|| bad("it has no extended key usage"))?;
    if !(eku.value.server_auth && eku.value.client_auth) {
        return Err(bad("it is not valid for both TLS server and client use"));
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| {
            bad(&format!(
                "its subject alternative names are malformed ({e})"
            ))
        })?
        .ok_or_else(|| bad("it has no subject alternative names"))?;
    let mut has_id = false;
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) if *d == node_id => has_id = true,
            GeneralName::IPAddress(b) => match b.len() {
                4 => ips.push(IpAddr::from(
                    <[u8; 4]>::try_from(*b).map_err(|_| bad("bad IPv4 address"))?,
                )),
                16 => ips.push(IpAddr::from(
                    <[u8; 16]>::try_from(*b).map_err(|_| bad("bad IPv6 address"))?,
                )),
                _ => return Err(bad("it names an IP address of invalid length")),
            },
            _ => {
                return Err(bad(
                    "it names something other than its node ID and addresses",
                ))
            }
        }
    }
    if !has_id {
        return Err(bad("its node ID is not among its DNS names"));
    }
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    Ok(NodeCertInfo {
        node_id,
        role,
        ips,
        not_before: at(cert.validity().not_before.timestamp()),
        not_after: at(cert.validity().not_after.timestamp()),
    })
}

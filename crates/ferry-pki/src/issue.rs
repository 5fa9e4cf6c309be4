//! The CA signing a node's CSR: the CA, not the CSR, decides what the certificate says.

use std::collections::HashSet;
use std::net::IpAddr;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SanType,
};

use crate::{validate_node_id, ClusterCa, PkiError, Role, Validity};

/// What the CA puts in a node certificate, decided by the manager that admits the node.
#[derive(Debug, Clone)]
pub struct NodeCertPolicy<'a> {
    /// The node ID the manager assigned; the CSR must ask for exactly this ID.
    pub node_id: &'a str,
    /// The role the node joined with (from the token it presented).
    pub role: Role,
    /// When the certificate is valid; it must end before the CA's own validity does.
    pub validity: Validity,
}

impl ClusterCa {
    /// Signs a node's PEM CSR and returns the node certificate as PEM.
    ///
    /// The CSR contributes only its public key (its signature proves the node holds the private
    /// key), its node ID (which must be `policy.node_id`) and its IP addresses. Everything else
    /// is set here: subject `CN=<node id>, OU=<role>`, subject alternative names (the node ID as a
    /// DNS name and the IPs), not a CA, key usage digitalSignature, extended key usages
    /// serverAuth and clientAuth, a random serial number and `policy.validity`.
    pub fn sign(&self, csr_pem: &str, policy: &NodeCertPolicy<'_>) -> Result<String, PkiError> {
        validate_node_id(policy.node_id)?;
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            PkiError::InvalidCsr {
                reason: e.to_string(),
            }
        })?;
        if csr.public_key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::InvalidCsr {
                reason: "its key is not an ECDSA P-256 key".to_string(),
            });
        }
        check_requested_id(&csr.params, policy.node_id)?;
        let ips = requested_ips(&csr.params, policy.node_id)?;

        let (not_before, not_after) = policy.validity.dates()?;
        if policy.validity.unix_bounds()?.1 > self.not_after {
            return Err(PkiError::CertOutlivesCa);
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, policy.node_id);
        dn.push(DnType::OrganizationalUnitName, policy.role.as_str());
        params.distinguished_name = dn;
        let dns = policy
            .node_id
            .try_into()
            .map_err(|source| PkiError::Crypto {
                what: "the node certificate's DNS name",
                source,
            })?;
        params.subject_alt_names.push(SanType::DnsName(dns));
        params
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(crate::ca::serial_number()?);
        params.not_before = not_before;
        params.not_after = not_after;

        let issuer = Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key)
            .map_err(|source| PkiError::Crypto {
                what: "the CA issuer",
                source,
            })?;
        let to_sign = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        };
        let cert = to_sign
            .signed_by(&issuer)
            .map_err(|source| PkiError::Crypto {
                what: "the node certificate",
                source,
            })?;
        Ok(cert.pem())
    }
}

/// The CSR's common name must be the expected node ID.
fn check_requested_id(params: &CertificateParams, expected: &str) -> Result<(), PkiError> {
    let requested = match params.distinguished_name.get(&DnType::CommonName) {
        Some(value) => dn_text(value),
        None => String::new(),
    };
    if requested != expected {
        return Err(PkiError::CsrNodeIdMismatch {
            requested,
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// A distinguished-name value as text, for comparison and messages.
fn dn_text(value: &DnValue) -> String {
    match value {
        DnValue::Utf8String(s) => s.clone(),
        DnValue::PrintableString(s) => s.as_str().to_string(),
        DnValue::Ia5String(s) => s.as_str().to_string(),
        DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => format!("{value:?}"),
    }
}

/// The CSR's IP addresses, after checking that its other names are only the node ID.
fn requested_ips(params: &CertificateParams, node_id: &str) -> Result<Vec<IpAddr>, PkiError> {
    let mut ips = Vec::new();
    let mut seen = HashSet::new();
    for san in &params.subject_alt_names {
        match san {
            SanType::DnsName(name) if name.as_str() == node_id => {}
            SanType::DnsName(name) => {
                return Err(PkiError::CsrNodeIdMismatch {
                    requested: name.as_str().to_string(),
                    expected: node_id.to_string(),
                })
            }
            SanType::IpAddress(ip) => {
                if ip.is_unspecified() || !seen.insert(*ip) {
                    return Err(PkiError::CsrBadAddress { ip: *ip });
                }
                ips.push(*ip);
            }
            other => {
                return Err(PkiError::CsrUnexpectedName {
                    name: format!("{other:?}"),
                })
            }
        }
    }
    if ips.is_empty() {
        return Err(PkiError::NoAddress);
    }
    Ok(ips)
}

//! A node's own key and its certificate signing request; the key never leaves the node.

use std::fmt;
use std::net::IpAddr;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use crate::PkiError;

/// Longest node ID: one DNS label.
const MAX_NODE_ID_LEN: usize = 63;

/// Checks that `id` can be a node ID: one DNS label of lowercase letters, digits and `-`,
/// neither starting nor ending with `-` (it is written as a DNS name in the certificate).
pub fn validate_node_id(id: &str) -> Result<(), PkiError> {
    let bad = |reason| PkiError::InvalidNodeId {
        id: id.to_string(),
        reason,
    };
    if id.is_empty() {
        return Err(bad("it is empty"));
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Err(bad("it is longer than 63 characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("only lowercase letters, digits and '-' are allowed"));
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(bad("it must not start or end with '-'"));
    }
    Ok(())
}

/// A new random node ID in Docker's form: 25 base36 digits from 128 random bits.
pub fn new_node_id() -> Result<String, PkiError> {
    let bits = crate::random::bytes::<16>("a node ID")?;
    Ok(crate::base36::encode(&bits, 25))
}

/// A node's private key (ECDSA P-256). It is generated on the node and only its CSR is sent
/// to a manager.
pub struct NodeKey {
    key: KeyPair,
}

impl NodeKey {
    /// Generates a new P-256 key.
    pub fn generate() -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            PkiError::Crypto {
                what: "the node key",
                source,
            }
        })?;
        Ok(Self { key })
    }

    /// Loads a key saved with [`NodeKey::key_pem`].
    pub fn from_pem(key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::InvalidPem {
            what: "node key",
            reason: e.to_string(),
        })?;
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::InvalidPem {
                what: "node key",
                reason: "it is not an ECDSA P-256 key".to_string(),
            });
        }
        Ok(Self { key })
    }

    /// The private key as PKCS#8 PEM, to store on this node only (mode 0600).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The raw public key bytes (the SubjectPublicKeyInfo's key), to match a certificate.
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.key.public_key_raw()
    }

    /// A PEM certificate signing request for `node_id` with `ips` (at least the advertise
    /// address) as subject alternative names, signed with this key.
    pub fn csr(&self, node_id: &str, ips: &[IpAddr]) -> Result<String, PkiError> {
        validate_node_id(node_id)?;
        if ips.is_empty() {
            return Err(PkiError::NoAddress);
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        let dns = node_id.try_into().map_err(|source| PkiError::Crypto {
            what: "the CSR's DNS name",
            source,
        })?;
        params.subject_alt_names.push(SanType::DnsName(dns));
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let csr = params
            .serialize_request(&self.key)
            .map_err(|source| PkiError::Crypto {
                what: "the certificate signing request",
                source,
            })?;
        csr.pem().map_err(|source| PkiError::Crypto {
            what: "the certificate signing request PEM",
            source,
        })
    }
}

/// Never prints the private key.
impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        assert!(validate_node_id("q8xw3k2mz1abcdefghijklmno").is_ok());
        assert!(validate_node_id("node-1").is_ok());
        for bad in ["", "-a", "a-", "Node1", "a.b", "a b", &"a".repeat(64)] {
            let err = validate_node_id(bad).unwrap_err();
            assert!(matches!(err, PkiError::InvalidNodeId { .. }), "{bad:?}");
        }
    }

    #[test]
    fn new_node_ids_are_valid_and_distinct() {
        let a = new_node_id().unwrap();
        let b = new_node_id().unwrap();
        assert_eq!(a.len(), 25);
        assert_ne!(a, b);
        validate_node_id(&a).unwrap();
    }

    #[test]
    fn key_round_trips_through_pem() {
        let k = NodeKey::generate().unwrap();
        let again = NodeKey::from_pem(&k.key_pem()).unwrap();
        assert_eq!(k.public_key_raw(), again.public_key_raw());
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }

    #[test]
    fn csr_needs_an_address_and_a_valid_id() {
        let k = NodeKey::generate().unwrap();
        assert!(matches!(k.csr("n1", &[]), Err(PkiError::NoAddress)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(matches!(
            k.csr("N1", &[ip]),
            Err(PkiError::InvalidNodeId { .. })
        ));
        assert!(k.csr("n1", &[ip]).unwrap().contains("CERTIFICATE REQUEST"));
    }
}

//! The cluster CA: its key and self-signed certificate, created once at `swarm init`.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber,
};

use crate::{pem, random, CaDigest, PkiError, Validity};

/// The common name of every ferry cluster CA certificate.
pub const CA_COMMON_NAME: &str = "ferry-cluster-ca";

/// The cluster's certificate authority: an ECDSA P-256 key and its self-signed certificate.
/// It signs node certificates ([`ClusterCa::sign`]).
pub struct ClusterCa {
    pub(crate) cert_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key: KeyPair,
    /// Unix seconds after which the CA is no longer valid.
    pub(crate) not_after: i64,
}

impl ClusterCa {
    /// Generates a new CA key and self-signed certificate valid for `validity`.
    pub fn generate(validity: Validity) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            PkiError::Crypto {
                what: "the CA key",
                source,
            }
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, CA_COMMON_NAME);
        params.distinguished_name = dn;
        // Path length 0: the CA signs node certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(serial_number()?);
        (params.not_before, params.not_after) = validity.dates()?;
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Crypto {
                what: "the CA certificate",
                source,
            })?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key,
            not_after: validity.unix_bounds()?.1,
        })
    }

    /// Loads a CA from its certificate and key PEM, checking that the certificate is a CA
    /// certificate and that the key is its key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = pem::certificate_der(cert_pem, "CA certificate")?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::InvalidPem {
            what: "CA key",
            reason: e.to_string(),
        })?;
        let (_, x509) =
            x509_parser::parse_x509_certificate(&cert_der).map_err(|e| PkiError::InvalidPem {
                what: "CA certificate",
                reason: e.to_string(),
            })?;
        if !x509.is_ca() {
            return Err(PkiError::NotACa);
        }
        if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::KeyDoesNotMatchCertificate);
        }
        let not_after = x509.validity().not_after.timestamp();
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            cert_der,
            key,
            not_after,
        })
    }

    /// The CA certificate as PEM; public, given to every node.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key as PKCS#8 PEM; secret, kept by managers only.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The digest join tokens pin.
    pub fn digest(&self) -> CaDigest {
        CaDigest::of_der(&self.cert_der)
    }
}

/// Never prints the private key.
impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("digest", &self.digest())
            .finish_non_exhaustive()
    }
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets).
pub(crate) fn serial_number() -> Result<SerialNumber, PkiError> {
    let mut bytes = random::bytes::<16>("a certificate serial number")?;
    // Clear the top bit so the DER INTEGER stays positive, and set the next so it is never 0.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

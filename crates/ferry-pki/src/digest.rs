//! The CA digest that join tokens pin: SHA-256 of the CA certificate's DER.

use std::fmt;

use crate::{pem, PkiError};

/// SHA-256 of a CA certificate's DER encoding. A joining node compares it with the digest in
/// its token before trusting the CA a manager presents.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaDigest(pub(crate) [u8; 32]);

impl CaDigest {
    /// The digest of a certificate given as DER.
    pub fn of_der(der: &[u8]) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// The digest of the single certificate in `cert_pem`. Hashing the DER rather than the PEM
    /// text makes it independent of line endings and PEM headers.
    pub fn of_pem(cert_pem: &str) -> Result<Self, PkiError> {
        Ok(Self::of_der(&pem::certificate_der(
            cert_pem,
            "CA certificate",
        )?))
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lowercase hex, as `sha256:<hex>` digests are usually shown.
impl fmt::Display for CaDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CaDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaDigest(sha256:{self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_known_input() {
        // sha256("") = e3b0c442...
        let d = CaDigest::of_der(b"");
        assert!(d
            .to_string()
            .starts_with("e3b0c44298fc1c149afbf4c8996fb924"));
        assert_eq!(d.to_string().len(), 64);
    }
}

//! Reading one certificate out of PEM text, strictly.

use crate::PkiError;

/// The DER of the single `CERTIFICATE` block in `pem`; `what` names it in errors.
pub(crate) fn certificate_der(pem: &str, what: &'static str) -> Result<Vec<u8>, PkiError> {
    let invalid = |reason: String| PkiError::InvalidPem { what, reason };
    let (rest, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| invalid(format!("no PEM block found ({e})")))?;
    if block.label != "CERTIFICATE" {
        return Err(invalid(format!(
            "expected a CERTIFICATE block, found {:?}",
            block.label
        )));
    }
    // A bundle would make "the" CA ambiguous, and its digest would not be the token's.
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(
            "it holds more than one block; give exactly one certificate".to_string(),
        ));
    }
    x509_parser::parse_x509_certificate(&block.contents)
        .map_err(|e| invalid(format!("the certificate cannot be parsed ({e})")))?;
    Ok(block.contents)
}

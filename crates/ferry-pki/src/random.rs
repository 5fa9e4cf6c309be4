//! Random bytes from the operating system, for secrets and serial numbers.

use ring::rand::{SecureRandom, SystemRandom};

use crate::PkiError;

/// `N` random bytes from the system's CSPRNG; `what` names them in the error.
pub(crate) fn bytes<const N: usize>(what: &'static str) -> Result<[u8; N], PkiError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| PkiError::Random { what })?;
    Ok(out)
}

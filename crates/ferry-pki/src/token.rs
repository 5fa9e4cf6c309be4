//! Join tokens in Docker's form `SWMTKN-1-<CA digest>-<secret>`: the digest pins the cluster CA
//! for the joining node, the secret admits it with a role.

use std::fmt;
use std::str::FromStr;

use subtle::ConstantTimeEq;

use crate::base36::{self, DecodeError};
use crate::{random, CaDigest, PkiError, Role};

/// Every token starts with this.
const PREFIX: &str = "SWMTKN";
/// The only token version.
const VERSION: &str = "1";
/// Base36 digits of a SHA-256 digest, zero-padded (Docker's `base36DigestLen`).
pub const DIGEST_LEN: usize = 50;
/// Base36 digits of a 128-bit secret, zero-padded (Docker's `maxGeneratedSecretLength`).
pub const SECRET_LEN: usize = 25;

/// The secret part of a join token: 128 random bits. Compared in constant time; never printed
/// by `Debug`.
#[derive(Clone)]
pub struct JoinSecret([u8; 16]);

impl JoinSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, PkiError> {
        Ok(Self(random::bytes::<16>("a join token secret")?))
    }
}

/// Constant time, so a guesser learns nothing from how long a refusal takes.
impl PartialEq for JoinSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for JoinSecret {}

impl fmt::Debug for JoinSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinSecret(..)")
    }
}

/// A join token: the digest of the cluster CA and a secret. `Display` writes the token text;
/// `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    digest: CaDigest,
    secret: JoinSecret,
}

impl JoinToken {
    /// A new token for the CA with `digest`, with a fresh random secret.
    pub fn generate(digest: CaDigest) -> Result<Self, PkiError> {
        Ok(Self {
            digest,
            secret: JoinSecret::generate()?,
        })
    }

    /// Parses a token, strictly: `SWMTKN-1-` then 50 and 25 lowercase base36 digits separated
    /// by `-`, with no surrounding whitespace (the caller trims what a user typed).
    pub fn parse(text: &str) -> Result<Self, PkiError> {
        let parts: Vec<&str> = text.split('-').collect();
        if parts[0] != PREFIX {
            return Err(PkiError::TokenPrefix {
                found: text.chars().take(PREFIX.len() + 1).collect(),
            });
        }
        if parts.len() != 4 {
            return Err(PkiError::TokenParts { found: parts.len() });
        }
        if parts[1] != VERSION {
            return Err(PkiError::TokenVersion {
                found: parts[1].to_string(),
            });
        }
        let (digest, secret) = (parts[2], parts[3]);
        if digest.chars().count() != DIGEST_LEN {
            return Err(PkiError::TokenDigestLength {
                found: digest.chars().count(),
                expected: DIGEST_LEN,
            });
        }
        let digest = base36::decode::<32>(digest).map_err(|e| match e {
            DecodeError::Character { ch, position } => {
                PkiError::TokenDigestCharacter { ch, position }
            }
            DecodeError::Overflow => PkiError::TokenDigestOverflow,
        })?;
        if secret.chars().count() != SECRET_LEN {
            return Err(PkiError::TokenSecretLength {
                found: secret.chars().count(),
                expected: SECRET_LEN,
            });
        }
        let secret = base36::decode::<16>(secret).map_err(|e| match e {
            DecodeError::Character { ch, position } => {
                PkiError::TokenSecretCharacter { ch, position }
            }
            DecodeError::Overflow => PkiError::TokenSecretOverflow,
        })?;
        Ok(Self {
            digest: CaDigest(digest),
            secret: JoinSecret(secret),
        })
    }

    /// The CA digest this token pins.
    pub fn ca_digest(&self) -> CaDigest {
        self.digest
    }

    /// The token's secret.
    pub fn secret(&self) -> &JoinSecret {
        &self.secret
    }

    /// Checks that `ca_cert_pem`, the CA certificate a manager presented, is the CA this token
    /// pins. A joining node calls this before trusting anything the manager says.
    pub fn verify_ca(&self, ca_cert_pem: &str) -> Result<(), PkiError> {
        verify_ca(self, ca_cert_pem)
    }
}

/// Checks that `ca_cert_pem` is the CA `token` pins; see [`JoinToken::verify_ca`].
pub fn verify_ca(token: &JoinToken, ca_cert_pem: &str) -> Result<(), PkiError> {
    let actual = CaDigest::of_pem(ca_cert_pem)?;
    if actual != token.digest {
        return Err(PkiError::CaDigestMismatch {
            pinned: token.digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}-{VERSION}-{}-{}",
            base36::encode(&self.digest.0, DIGEST_LEN),
            base36::encode(&self.secret.0, SECRET_LEN)
        )
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_digest", &self.digest)
            .field("secret", &self.secret)
            .finish()
    }
}

impl FromStr for JoinToken {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The cluster's current worker and manager tokens, which a manager keeps to admit joiners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTokens {
    worker: JoinToken,
    manager: JoinToken,
}

impl JoinTokens {
    /// Fresh tokens for both roles, with different secrets, pinning the CA with `digest`.
    pub fn generate(digest: CaDigest) -> Result<Self, PkiError> {
        Ok(Self {
            worker: JoinToken::generate(digest)?,
            manager: JoinToken::generate(digest)?,
        })
    }

    /// The tokens kept from an earlier [`JoinTokens::generate`] (e.g. read back from the
    /// cluster store).
    pub fn from_parts(worker: JoinToken, manager: JoinToken) -> Self {
        Self { worker, manager }
    }

    /// The current token for `role`.
    pub fn get(&self, role: Role) -> &JoinToken {
        match role {
            Role::Worker => &self.worker,
            Role::Manager => &self.manager,
        }
    }

    /// Replaces the token for `role` with a fresh secret; the old token then admits no one.
    pub fn rotate(&mut self, role: Role) -> Result<(), PkiError> {
        let digest = self.get(role).digest;
        let fresh = JoinToken::generate(digest)?;
        match role {
            Role::Worker => self.worker = fresh,
            Role::Manager => self.manager = fresh,
        }
        Ok(())
    }

    /// The role a presented token admits, or `None` if it matches neither current token. Both
    /// secrets are compared in constant time, and both always, so timing reveals nothing.
    pub fn role_of(&self, presented: &JoinToken) -> Option<Role> {
        let digest_ok = presented.digest == self.worker.digest;
        let is_worker = presented.secret == self.worker.secret;
        let is_manager = presented.secret == self.manager.secret;
        match (digest_ok, is_worker, is_manager) {
            (true, true, _) => Some(Role::Worker),
            (true, false, true) => Some(Role::Manager),
            _ => None,
        }
    }
}

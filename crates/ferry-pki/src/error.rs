//! Every way the cluster PKI can refuse its input, each with a message that says what is wrong.

use std::net::IpAddr;

/// An error from the cluster PKI: a bad key, certificate, CSR or join token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The system's random number generator failed.
    #[error("the system random number generator failed while generating {what}")]
    Random {
        /// What was being generated.
        what: &'static str,
    },

    /// A key, certificate or CSR could not be built or signed.
    #[error("could not create {what}: {source}")]
    Crypto {
        /// What was being created.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// A PEM input could not be read as what it should hold.
    #[error("the {what} PEM is not valid: {reason}")]
    InvalidPem {
        /// What the PEM should hold ("CA certificate", "CA key", ...).
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// The CA key does not belong to the CA certificate.
    #[error(
        "the CA key does not match the CA certificate's public key: \
         the two files come from different CAs; load the key that was generated with this certificate"
    )]
    KeyDoesNotMatchCertificate,

    /// The certificate given as the cluster CA is not a CA certificate.
    #[error("the certificate given as the cluster CA is not a CA certificate (no basicConstraints CA:TRUE)")]
    NotACa,

    /// A node ID is not usable as a DNS name in a certificate.
    #[error("invalid node ID {id:?}: {reason}")]
    InvalidNodeId {
        /// The ID as given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A node certificate request named no address.
    #[error("a node certificate needs at least one address (the node's advertise address)")]
    NoAddress,

    /// A certificate request (CSR) could not be parsed or its signature is wrong.
    #[error("the certificate signing request is not valid: {reason}")]
    InvalidCsr {
        /// Why it was refused.
        reason: String,
    },

    /// The CSR asks for another node ID than the one the CA is issuing for.
    #[error(
        "the certificate signing request is for node {requested:?}, but this certificate is being \
         issued for node {expected:?}"
    )]
    CsrNodeIdMismatch {
        /// The node ID the CSR names.
        requested: String,
        /// The node ID the caller expects.
        expected: String,
    },

    /// The CSR asks for a subject alternative name a node may not have.
    #[error(
        "the certificate signing request asks for the name {name}; a node certificate may only name \
         its node ID (as a DNS name) and its IP addresses"
    )]
    CsrUnexpectedName {
        /// The refused name, as text.
        name: String,
    },

    /// The CSR asks for an IP address twice, or for an unspecified address.
    #[error(
        "the certificate signing request asks for the address {ip}, which cannot identify a node"
    )]
    CsrBadAddress {
        /// The refused address.
        ip: IpAddr,
    },

    /// A validity period is empty or out of range.
    #[error("invalid validity period: {reason}")]
    InvalidValidity {
        /// Why it was refused.
        reason: &'static str,
    },

    /// A node certificate would stay valid after the CA that signs it expires.
    #[error(
        "the node certificate would expire after the cluster CA does; issue it with a shorter \
         lifetime or rotate the CA"
    )]
    CertOutlivesCa,

    /// A certificate was not signed by the cluster CA.
    #[error("the certificate was not issued by this cluster's CA: {reason}")]
    CertNotIssuedByCa {
        /// Why it was refused.
        reason: String,
    },

    /// A certificate is not a well-formed ferry node certificate.
    #[error("the certificate is not a ferry node certificate: {reason}")]
    NotANodeCert {
        /// What is missing or wrong.
        reason: String,
    },

    /// A node certificate certifies another key than the node's own.
    #[error(
        "the certificate is for another key than this node's: it was issued for a different \
         certificate signing request"
    )]
    CertKeyMismatch,

    /// A certificate is not valid at the given time.
    #[error("the certificate is {state} at the given time (valid from Unix time {not_before} to {not_after}); check the clocks of the nodes")]
    CertNotValidNow {
        /// "not yet valid" or "expired".
        state: &'static str,
        /// Start of validity, Unix seconds.
        not_before: i64,
        /// End of validity, Unix seconds.
        not_after: i64,
    },

    /// The token does not start with `SWMTKN-`.
    #[error("the join token does not start with \"SWMTKN-\" (it starts with {found:?}); copy the whole token printed by `ferry swarm join-token`")]
    TokenPrefix {
        /// The first characters of what was given.
        found: String,
    },

    /// The token's version is not 1.
    #[error("the join token has version {found:?}; this ferry only understands version 1 (\"SWMTKN-1-...\")")]
    TokenVersion {
        /// The version field as given.
        found: String,
    },

    /// The token does not have four dash-separated parts.
    #[error("the join token has {found} dash-separated parts; expected 4: SWMTKN-1-<CA digest>-<secret>")]
    TokenParts {
        /// How many parts were found.
        found: usize,
    },

    /// The token's CA digest has the wrong length.
    #[error("the join token's CA digest has {found} characters; expected {expected}")]
    TokenDigestLength {
        /// Its length.
        found: usize,
        /// The length it must have.
        expected: usize,
    },

    /// The token's CA digest holds a character that is not base36.
    #[error(
        "the join token's CA digest has {ch:?} as character {}; only 0-9 and a-z are allowed",
        .position + 1
    )]
    TokenDigestCharacter {
        /// The character.
        ch: char,
        /// Its position in the digest, from 0 (the message counts from 1).
        position: usize,
    },

    /// The token's CA digest is a number larger than any SHA-256 digest.
    #[error(
        "the join token's CA digest is larger than a SHA-256 digest can be; the token is corrupted"
    )]
    TokenDigestOverflow,

    /// The token's secret has the wrong length.
    #[error("the join token's secret has {found} characters; expected {expected}")]
    TokenSecretLength {
        /// Its length.
        found: usize,
        /// The length it must have.
        expected: usize,
    },

    /// The token's secret holds a character that is not base36.
    #[error(
        "the join token's secret has {ch:?} as character {}; only 0-9 and a-z are allowed",
        .position + 1
    )]
    TokenSecretCharacter {
        /// The character.
        ch: char,
        /// Its position in the secret, from 0 (the message counts from 1).
        position: usize,
    },

    /// The token's secret is a number larger than 128 bits.
    #[error("the join token's secret is larger than 128 bits; the token is corrupted")]
    TokenSecretOverflow,

    /// The CA presented by a manager is not the one the token pins.
    #[error(
        "the manager's CA certificate (sha256:{actual}) is not the CA this join token pins \
         (sha256:{pinned}): the token belongs to another cluster, its CA was rotated, or the \
         connection is being intercepted; refusing to join. Get a current token with \
         `ferry swarm join-token worker|manager` on a manager of the cluster you mean to join"
    )]
    CaDigestMismatch {
        /// The digest pinned by the token, in hex.
        pinned: String,
        /// The digest of the CA certificate presented, in hex.
        actual: String,
    },
}

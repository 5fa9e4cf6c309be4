//! ferry's cluster security core: the cluster CA, node certificates and join tokens.
//!
//! A cluster has one CA ([`ClusterCa`], ECDSA P-256), created by the first manager. A node that
//! joins generates its own key ([`NodeKey`]) and sends only a certificate signing request
//! ([`NodeKey::csr`]); a manager checks the node's join token ([`JoinTokens::role_of`]) and has the
//! CA sign the request ([`ClusterCa::sign`]) into a certificate valid for both TLS client and
//! server use, naming the node ID and its addresses. Before trusting a manager, the joining node
//! checks the CA the manager presents against the digest its token pins ([`verify_ca`]).
//!
//! Tokens have Docker's form `SWMTKN-1-<CA digest>-<secret>`: the SHA-256 of the CA
//! certificate's DER in base36 (50 digits) and a 128-bit secret in base36 (25 digits), one
//! secret per role.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ferry_pki::*;
//!
//! # fn main() -> Result<(), PkiError> {
//! let now = SystemTime::now();
//! // The first manager, at `swarm init`:
//! let ca = ClusterCa::generate(Validity::new(now, DEFAULT_CA_LIFETIME))?;
//! let tokens = JoinTokens::generate(ca.digest())?;
//! let printed = tokens.get(Role::Worker).to_string(); // SWMTKN-1-...
//!
//! // The joining node: it pins the CA the manager presents, then sends only a CSR.
//! let token = JoinToken::parse(&printed)?;
//! verify_ca(&token, ca.cert_pem())?;
//! let node_id = new_node_id()?;
//! let key = NodeKey::generate()?;
//! let csr = key.csr(&node_id, &["192.0.2.10".parse().unwrap()])?;
//!
//! // The manager admits the token's role and signs.
//! let role = tokens.role_of(&token).expect("a current token"); // None: refuse the join
//! let policy = NodeCertPolicy {
//!     node_id: &node_id,
//!     role,
//!     validity: Validity::new(now - Duration::from_secs(60), DEFAULT_NODE_CERT_LIFETIME),
//! };
//! let cert = ca.sign(&csr, &policy)?;
//!
//! // The node checks what it got back.
//! let info = key.accept_cert(&cert, ca.cert_pem(), now)?;
//! assert_eq!(info.role, Role::Worker);
//! # Ok(())
//! # }
//! ```
//!
//! The crate does no I/O and never reads the clock: keys, certificates and tokens go in and out
//! as text, and times are given by the caller. It only asks the system for random bytes.

mod base36;
mod ca;
mod digest;
mod error;
mod issue;
mod node;
mod pem;
mod random;
mod role;
mod token;
mod validity;
mod verify;

pub use ca::{ClusterCa, CA_COMMON_NAME};
pub use digest::CaDigest;
pub use error::PkiError;
pub use issue::NodeCertPolicy;
pub use node::{new_node_id, validate_node_id, NodeKey};
pub use role::Role;
pub use token::{verify_ca, JoinSecret, JoinToken, JoinTokens, DIGEST_LEN, SECRET_LEN};
pub use validity::{Validity, DEFAULT_CA_LIFETIME, DEFAULT_NODE_CERT_LIFETIME};
pub use verify::{verify_node_cert, NodeCertInfo};

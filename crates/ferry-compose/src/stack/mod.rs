//! Compose files as swarm stacks (`ferry stack deploy`), with Docker's semantics: read with
//! [`LoadOptions::stack`](crate::LoadOptions), a file's networks are overlay networks
//! `STACK_NET` (the default network `STACK_default`), its services swarm services
//! `STACK_SERVICE`, every one labelled `com.docker.stack.namespace=STACK`; `external: true`
//! networks are used as they are. Keys a swarm cannot honour are ignored with Docker's
//! warnings ("Ignoring unsupported options: build") or refused as Docker refuses them
//! ([`keys`]); `deploy.mode`, `placement`, `update_config` and `endpoint_mode` are honoured
//! (`deploy.rs`).
//!
//! [`request`] turns the project into the API's create requests; [`patch`] compares a
//! service as `service inspect` shows it with the request the file makes now, so a second
//! deploy changes only what changed.

pub(crate) mod deploy;
pub(crate) mod keys;
pub mod patch;
pub mod request;

pub use patch::{patch, Change};
pub use request::{network_requests, service_name, service_requests, NAMESPACE, TEMPLATE_HASH};

#[cfg(test)]
mod tests;

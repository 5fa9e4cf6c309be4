//! ferry's Docker network and IPAM plugin: a legacy (socket) plugin that dockerd discovers at
//! `/run/docker/plugins/ferry.sock`. It speaks libnetwork's remote driver protocol and the
//! remote IPAM protocol and turns each call into the ferry daemon's API (networks, and
//! endpoints in namespaces ferry did not make: `attach`/`detach`). The daemon owns all state;
//! this front end keeps only what lives between two calls of one container's start. It also
//! reads dockerd's own API for what dockerd never sends a driver: containers' names.

pub mod dockerd;
pub mod error;
pub mod handover;
pub mod ipam;
pub mod names;
pub mod plugin;
pub mod protocol;
pub mod server;

pub use plugin::Plugin;
pub use server::serve;

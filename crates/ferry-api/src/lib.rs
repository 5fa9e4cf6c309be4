//! ferry's HTTP+JSON API on a unix socket: the server (routes in Docker Engine API shape, with
//! or without a `/v1.NN` prefix) and its Docker face (`docker`: Docker's filters in, Docker's
//! JSON out). Its client is the `ferry-client` crate.

pub mod docker;
mod docker_routes;
pub mod server;
pub mod swarm;
mod task_routes;

/// The Docker Engine API version ferry's routes follow.
pub const API_VERSION: &str = "1.50";
/// The oldest Docker Engine API version accepted.
pub const MIN_API_VERSION: &str = "1.24";

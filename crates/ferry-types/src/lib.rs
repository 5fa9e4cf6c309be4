//! The ferry model: networks, endpoints and sandboxes, the API's request and response bodies
//! (in Docker's JSON shape where Docker has one), and the pure validation of user input.
//!
//! Nothing here does I/O; every other crate builds on these types.

pub mod api;
pub mod docker;
pub mod error;
pub mod ids;
pub mod logs;
pub mod mac;
pub mod model;
pub mod nullable;
pub mod placement;
pub mod ports;
pub mod security;
pub mod service;
pub mod swarm;
pub mod time;
pub mod validate;

pub use error::{ErrorKind, FerryError};
pub use ids::{EndpointId, NetworkId, SandboxId};
pub use mac::MacAddr;
pub use model::*;

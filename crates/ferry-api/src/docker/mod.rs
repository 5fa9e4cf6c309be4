//! The Docker Engine API face of the server: Docker's `filters` query turned into the engine's
//! typed filters, and the engine's views rendered in Docker's JSON shapes.

pub mod filters;
pub mod services;
pub mod system;
pub mod views;

//! The Docker Engine API face of the server: version negotiation, Docker's request bodies
//! turned into the engine's typed requests (`filters`, `create`, `exec`, what IMAGE means),
//! and the engine's views and errors rendered in Docker's JSON shapes, words and streams.

pub mod create;
pub mod errors;
pub mod events;
pub mod exec;
pub mod filters;
pub mod image;
pub mod negotiation;
pub mod service_logs;
pub mod services;
pub mod stream;
pub mod system;
pub mod tasks;
pub mod top;
pub mod views;

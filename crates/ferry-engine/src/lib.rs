//! ferry's engine: the controller that owns all state (networks, sandboxes, endpoints),
//! validates and allocates, records desired state in the store, and drives the kernel through
//! the drivers. Every front end (CLI, Docker API clients) goes through it. It answers in
//! ferry's own model (`views`) and takes typed filters (`filters`); front ends render those
//! in their own shapes, such as Docker's JSON.

pub mod cgroups;
pub mod cluster;
pub mod config;
pub mod connect_lb;
pub mod controller;
pub mod crash_point;
pub mod driver;
pub mod drivers;
pub mod filters;
pub mod firewall;
pub mod ports;
pub mod resolver;
pub mod sandbox;
pub mod state;
pub mod views;

pub use config::{DaemonConfig, DaemonJson, FirewallMode};
pub use controller::Controller;

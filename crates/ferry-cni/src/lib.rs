//! ferry's CNI plugin (`type: "ferry"`): podman's CNI backend, containerd and Kubernetes
//! exec it to put a container's network namespace on a ferry network.
//!
//! The plugin holds no state. ADD asks the daemon to attach the namespace as an external
//! sandbox (`POST /networks/{id}/attach`), so the container gets what ferry's own sandboxes
//! get: an address, names on the network's resolver, firewall and anti-spoofing, published
//! ports. DEL detaches it, CHECK compares ferry's record with ADD's result, GC detaches what
//! the runtime no longer lists, STATUS asks whether the daemon answers.
//!
//! Parsing and result shaping are pure (`env`, `config`, `request`, `result`, `check`,
//! `version`, `error`); `plugin` makes the calls; `process` reads the process's environment
//! and stdin and prints. The executable is the `ferry` package's `ferry-cni`, installed as
//! `ferry` in a CNI plugin directory.

pub mod check;
pub mod config;
pub mod env;
pub mod error;
pub mod plugin;
mod process;
pub mod request;
pub mod result;
pub mod version;

pub use error::CniError;
pub use process::main;

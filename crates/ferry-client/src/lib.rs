//! A typed client of the ferry daemon's HTTP API, spoken over the daemon's unix socket.
//!
//! Each API operation is one method of [`Client`], grouped by object: networks
//! (`networks.rs`), sandboxes (`sandboxes.rs`), services (`services.rs`) and the daemon itself
//! (`system.rs`). Requests and replies are the types of `ferry-types`; names given to a method
//! are percent-encoded into the path, so no name can change which route is asked for.
//! Failures are a [`ClientError`] that keeps the daemon's message and HTTP status.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_client::ClientError> {
//! let client = ferry_client::Client::new("/run/ferry/ferry.sock");
//! for network in client.network_list(&ferry_client::Filters::new()).await? {
//!     println!("{}", network.name);
//! }
//! # Ok(())
//! # }
//! ```

mod error;
mod filters;
mod networks;
mod sandboxes;
mod services;
mod stream;
mod swarm;
mod system;
mod transport;
mod uri;

pub use bytes::Bytes;
pub use error::ClientError;
pub use filters::Filters;
pub use sandboxes::{LogsOptions, WaitCondition};
pub use stream::{LogStream, ServiceLogStream, Waiter};
pub use transport::Client;

/// The result of a [`Client`] call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

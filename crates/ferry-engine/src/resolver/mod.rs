//! The embedded resolver: one server in the daemon, answering at 127.0.0.11:53 (UDP and TCP)
//! inside every sandbox on a user-defined network. Sockets are opened on a helper thread that
//! joined the sandbox's namespace and then served from the daemon's runtime; forwarding is
//! dialled from the daemon's own (host) namespace, so loopback upstreams such as 127.0.0.53
//! work.

pub mod directory;
pub mod limits;
mod server;

pub use directory::{Directory, Entry};
pub use server::{Resolver, LISTEN};

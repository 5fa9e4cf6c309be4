//! What the engine answers about its objects: the model's own types, with the data only the
//! whole state can add (a network's members, the networks a sandbox names, how many replicas
//! of a service run). Front ends render these in their own shapes.

mod network;
mod sandbox;
mod service;
mod system;

pub use network::{MemberView, NetworkRef, NetworkView};
pub use sandbox::SandboxView;
pub use service::{DesiredState, ServiceState, Task};
pub use system::SystemInfo;

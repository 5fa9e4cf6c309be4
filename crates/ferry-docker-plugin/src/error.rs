//! What a call can fail with; dockerd shows the message as the plugin's error.

/// A failed plugin call.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The request was malformed or asks for what ferry does not do.
    #[error("{0}")]
    Invalid(String),
    /// The ferry daemon refused or failed.
    #[error("ferry: {0}")]
    Daemon(#[from] ferry_client::ClientError),
    /// dockerd's own API could not be read.
    #[error("dockerd: {0}")]
    Dockerd(String),
    /// A kernel operation failed.
    #[error("{0}")]
    Kernel(#[from] ferry_kernel::KernelError),
}

impl PluginError {
    /// An invalid request, with its message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
}

/// The body of a failed call: the network driver protocol reads `Err`, the IPAM protocol
/// reads `Error`; both carry the message.
pub fn error_body(e: &PluginError) -> serde_json::Value {
    let msg = e.to_string();
    serde_json::json!({ "Err": msg, "Error": msg })
}

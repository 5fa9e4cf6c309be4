//! How to reach an etcd cluster: its endpoints, the key prefix ferry owns, and TLS.

use std::path::PathBuf;

/// Where the etcd store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs of the cluster's members, e.g. `http://127.0.0.1:2379` (`https://` with TLS).
    pub endpoints: Vec<String>,
    /// The key prefix under which every record lives, e.g. `/ferry/v1`; a table is the prefix
    /// `<prefix>/<table>/`.
    pub prefix: String,
    /// TLS settings; `None` talks plain gRPC.
    pub tls: Option<EtcdTls>,
}

impl EtcdConfig {
    /// The prefix ferry uses unless told otherwise.
    pub const DEFAULT_PREFIX: &'static str = "/ferry/v1";

    /// Plain connections to `endpoints`, under [`EtcdConfig::DEFAULT_PREFIX`].
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        EtcdConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: Self::DEFAULT_PREFIX.to_string(),
            tls: None,
        }
    }

    /// The same cluster under another key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The same cluster over TLS.
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// TLS to etcd: whom to trust, and who ferry is. Files are PEM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA that signed the servers' certificates (`None`: the system's roots are not
    /// consulted, so this is needed unless the servers' CA is built in).
    pub ca: Option<PathBuf>,
    /// ferry's client certificate, when the cluster authenticates clients by certificate.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key; given exactly when `cert` is.
    pub key: Option<PathBuf>,
    /// The name to expect in the servers' certificates, when it is not the endpoint's host.
    pub domain: Option<String>,
}

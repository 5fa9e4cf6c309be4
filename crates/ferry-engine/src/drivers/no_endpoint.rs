//! The `host` and `null` drivers: each has one network, made by the daemon (`host`: a sandbox
//! uses the host's own network namespace; `none`: a namespace of its own with loopback only),
//! without endpoints, so there is nothing to make, join or sweep.

use crate::driver::{Capability, JoinInfo, NetworkDriver, Owned, SandboxNs, Scope, Stack};
use ferry_types::{Endpoint, FerryError, Network};
use std::path::Path;

/// A driver whose network has no endpoints.
pub struct NoEndpointDriver {
    name: &'static str,
    stack: Stack,
}

impl NoEndpointDriver {
    /// The `host` driver.
    pub fn host() -> Self {
        NoEndpointDriver {
            name: "host",
            stack: Stack::Host,
        }
    }

    /// The `null` driver.
    pub fn null() -> Self {
        NoEndpointDriver {
            name: "null",
            stack: Stack::Loopback,
        }
    }
}

/// The settings of a network with no driver settings: it takes no options.
fn no_options(driver: &str, net: &Network) -> Result<serde_json::Value, FerryError> {
    match net.options.keys().next() {
        Some(k) => Err(FerryError::invalid(format!(
            "the {driver} driver takes no options, and {k:?} was given"
        ))),
        None => Ok(serde_json::Value::Null),
    }
}

/// The refusal of an endpoint on a network that has none.
fn no_endpoints(net: &Network) -> FerryError {
    FerryError::forbidden(format!(
        "sandboxes cannot be connected to the {} network; start them with --network {} instead",
        net.name, net.name
    ))
}

#[async_trait::async_trait]
impl NetworkDriver for NoEndpointDriver {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capability(&self) -> Capability {
        Capability {
            scope: Scope::Local,
            stack: self.stack,
            singleton: true,
            host_gateway: false,
            routes_out: false,
        }
    }

    async fn configure(
        &self,
        net: &mut Network,
        _others: &[&Network],
    ) -> Result<serde_json::Value, FerryError> {
        no_options(self.name(), net)
    }

    async fn create_network(&self, _net: &Network) -> Result<(), FerryError> {
        Ok(())
    }

    async fn delete_network(&self, _net: &Network) -> Result<(), FerryError> {
        Ok(())
    }

    async fn join(
        &self,
        net: &Network,
        _ep: &Endpoint,
        _ns: &SandboxNs<'_>,
    ) -> Result<JoinInfo, FerryError> {
        Err(no_endpoints(net))
    }

    async fn leave(
        &self,
        _net: &Network,
        _ep: &Endpoint,
        _netns: Option<&Path>,
    ) -> Result<(), FerryError> {
        Ok(())
    }

    async fn endpoint_present(
        &self,
        _net: &Network,
        _ep: &Endpoint,
        _netns: &Path,
    ) -> Result<bool, FerryError> {
        Ok(true)
    }

    async fn sweep(&self, _owned: &Owned<'_>) -> Result<(), FerryError> {
        Ok(())
    }
}

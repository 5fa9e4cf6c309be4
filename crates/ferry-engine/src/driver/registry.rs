//! The registry: a driver name to a driver.

use super::NetworkDriver;
use ferry_types::{FerryError, Network};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The drivers the daemon has, by name.
#[derive(Clone, Default)]
pub struct Drivers {
    by_name: BTreeMap<&'static str, Arc<dyn NetworkDriver>>,
}

impl Drivers {
    /// No drivers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a driver under its name (a later one of the same name replaces it).
    pub fn register(&mut self, driver: Arc<dyn NetworkDriver>) -> &mut Self {
        self.by_name.insert(driver.name(), driver);
        self
    }

    /// The driver of that name.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn NetworkDriver>, FerryError> {
        self.by_name.get(name).ok_or_else(|| {
            FerryError::invalid(format!(
                "unknown network driver {name:?}: ferry has {}",
                self.creatable().join(", ")
            ))
        })
    }

    /// The driver of a network. A record naming a driver this daemon lacks is an internal
    /// error: it was made by a daemon that had it.
    pub fn of(&self, net: &Network) -> Result<&Arc<dyn NetworkDriver>, FerryError> {
        self.by_name.get(net.driver.as_str()).ok_or_else(|| {
            FerryError::internal(format!(
                "network {} uses the {} driver, which this daemon does not have",
                net.name, net.driver
            ))
        })
    }

    /// Every driver.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn NetworkDriver>> {
        self.by_name.values()
    }

    /// Names of the drivers a user can create networks with.
    pub fn creatable(&self) -> Vec<&'static str> {
        self.by_name
            .values()
            .filter(|d| !d.capability().singleton)
            .map(|d| d.name())
            .collect()
    }
}

//! inventory-poll configuration, read once at cold start.

use waybill::config::{ConfigError, Env};

/// Settings of the inventory-poll function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// WMS warehouses to poll (identifiers as the WMS knows them).
    pub warehouses: Vec<String>,
}

impl Config {
    /// Reads the configuration.
    ///
    /// # Errors
    /// `ConfigError` when no warehouse is configured.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let warehouses = env.list("LOGIWA_WAREHOUSES");
        if warehouses.is_empty() {
            return Err(ConfigError::Missing {
                key: "LOGIWA_WAREHOUSES".into(),
            });
        }
        Ok(Self { warehouses })
    }
}

//! Builds the wms-webhook app from configuration and AWS clients (used by main.rs and the local stack).

use waybill::config::{ConfigError, Env};
use waybill::wiring::{self, Aws};

use crate::{App, Config, Ports};

/// Builds the app.
///
/// # Errors
/// `ConfigError` naming the first missing or invalid variable.
pub fn build(env: &Env, aws: &Aws) -> Result<App, ConfigError> {
    Ok(App {
        config: Config::from_env(env)?,
        ports: Ports {
            idempotency: wiring::state(aws, env)?,
            queue: wiring::queue(aws),
            secrets: wiring::secrets(aws, env)?,
            parsers: std::sync::Arc::new(waybill::adapters::inbound_parsers()),
        },
    })
}

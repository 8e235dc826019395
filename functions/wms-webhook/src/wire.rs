//! Builds the wms-webhook app from configuration and AWS clients (used by main.rs and the local stack).

use waybill::config::{ConfigError, Env};
use waybill::wiring::{self, Aws};

use crate::sweep::SweepPorts;
use crate::{App, Config, Ports};

/// Builds the app.
///
/// # Errors
/// `ConfigError` naming the first missing or invalid variable.
pub fn build(env: &Env, aws: &Aws) -> Result<App, ConfigError> {
    let state = wiring::state(aws, env)?;
    let secrets = wiring::secrets(aws, env)?;
    Ok(App {
        config: Config::from_env(env)?,
        ports: Ports {
            idempotency: state.clone(),
            queue: wiring::queue(aws),
            secrets: secrets.clone(),
            parsers: std::sync::Arc::new(waybill::adapters::inbound_parsers()),
            sweep: Some(SweepPorts {
                wms: wiring::wms_connectors(env, secrets, state.clone())?,
                xref: state.clone(),
                order_state: state.clone(),
                watermarks: state,
            }),
        },
    })
}

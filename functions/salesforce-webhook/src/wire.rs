//! Builds the salesforce-webhook app from configuration and AWS clients (used by main.rs and the local stack).

use waybill::config::{ConfigError, Env};
use waybill::wiring::{self, Aws};

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
            salesforce: wiring::salesforce(env, secrets.clone())?,
            wms: wiring::one_wms(
                env,
                "ORDER_WMS",
                &*wiring::wms_connectors(env, secrets.clone(), state.clone())?,
            )?,
            secrets,
            xref: state.clone(),
            order_state: state.clone(),
            mappings: wiring::mappings(state, env)?,
            parser: waybill::adapters::order_source_parser(),
        },
    })
}

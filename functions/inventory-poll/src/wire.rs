//! Builds the inventory-poll app from configuration and AWS clients (used by main.rs and the local stack).

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
            wms: wiring::one_wms(
                env,
                "INVENTORY_WMS",
                &*wiring::wms_connectors(env, secrets.clone(), state.clone())?,
            )?,
            salesforce: wiring::salesforce(env, secrets)?,
            positions: state.clone(),
            watermarks: state.clone(),
            mappings: wiring::mappings(state, env)?,
        },
    })
}

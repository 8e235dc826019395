//! wms-webhook configuration, read once at cold start.

use std::net::IpAddr;
use std::time::Duration;

use waybill::config::{keys, ConfigError, Env};

/// Settings of the wms-webhook function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Queue the route publishes fulfillment events to.
    pub fulfillment_events_queue_url: String,
    /// Secret holding the per-environment token Logiwa must present (Logiwa signs nothing).
    pub token_secret_id: String,
    /// Allowed source IPs (empty = any). Logiwa documents fixed webhook IPs.
    pub allowed_ips: Vec<IpAddr>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// How long an event key is remembered.
    pub dedup_window: Duration,
    /// The scheduled order sweep.
    pub sweep: crate::sweep::SweepConfig,
}

impl Config {
    /// Reads the configuration.
    ///
    /// # Errors
    /// `ConfigError` naming the first missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let allowed_ips = env
            .list("LOGIWA_ALLOWED_IPS")
            .iter()
            .map(|s| {
                s.parse::<IpAddr>().map_err(|e| ConfigError::Invalid {
                    key: "LOGIWA_ALLOWED_IPS".into(),
                    reason: format!("'{s}': {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            fulfillment_events_queue_url: env.required("FULFILLMENT_EVENTS_QUEUE_URL")?,
            token_secret_id: env.required("LOGIWA_WEBHOOK_TOKEN_SECRET_ARN")?,
            allowed_ips,
            max_body_bytes: env.parse_or(keys::MAX_BODY_BYTES, 262_144)?,
            dedup_window: env.seconds_or(keys::IDEMPOTENCY_TTL_SECONDS, 7 * 86_400)?,
            sweep: crate::sweep::SweepConfig {
                overlap: env.seconds_or("ORDER_SWEEP_OVERLAP_SECONDS", 300)?,
                first_lookback: env.seconds_or("ORDER_SWEEP_FIRST_LOOKBACK_SECONDS", 3600)?,
                grace: env.seconds_or("ORDER_SWEEP_GRACE_SECONDS", 120)?,
                concurrency: env.parse_or("ORDER_SWEEP_CONCURRENCY", 8)?,
            },
        })
    }
}

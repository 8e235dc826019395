//! shipment-writeback configuration, read once at cold start.

use waybill::config::{keys, ConfigError, Env};

/// Settings of the shipment-writeback function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DLQ of the fulfillment-events queue.
    pub dlq_url: String,
    /// That queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// FulfillmentOrder status once everything has shipped (None = leave it).
    pub status_on_shipped: Option<String>,
    /// WMS reads done at once per batch.
    pub concurrency: usize,
}

impl Config {
    /// Reads the configuration.
    ///
    /// # Errors
    /// `ConfigError` naming the first missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            dlq_url: env.required(keys::DLQ_URL)?,
            max_receive_count: env.parse_or(keys::MAX_RECEIVE_COUNT, 5)?,
            status_on_shipped: env.optional("FULFILLMENT_ORDER_STATUS_ON_SHIPPED"),
            concurrency: env.parse_or(keys::BATCH_CONCURRENCY, 5)?,
        })
    }
}

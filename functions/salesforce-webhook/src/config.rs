//! salesforce-webhook configuration, read once at cold start.

use std::time::Duration;

use waybill::config::{keys, ConfigError, Env};

/// Settings of the salesforce-webhook function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Queue the ingest route publishes order notifications to.
    pub orders_queue_url: String,
    /// DLQ of that queue (the consumer parks records there).
    pub dlq_url: String,
    /// The orders queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    /// Secret holding the HMAC key Salesforce signs callouts with.
    pub webhook_secret_id: String,
    /// Allowed clock skew for signed callouts.
    pub signature_tolerance: Duration,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// How long an event id is remembered (Salesforce retries outbound deliveries for up to 24 h).
    pub event_dedup_window: Duration,
    /// FulfillmentOrder statuses that may be sent to the WMS.
    pub submittable_statuses: Vec<String>,
    /// Status to set on the FulfillmentOrder once the WMS has it (None = leave it).
    pub status_on_submit: Option<String>,
    /// Records processed at once per SQS batch.
    pub concurrency: usize,
}

impl Config {
    /// Reads the configuration.
    ///
    /// # Errors
    /// `ConfigError` naming the first missing or invalid variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let statuses = env.list("SUBMITTABLE_STATUSES");
        Ok(Self {
            orders_queue_url: env.required("ORDERS_QUEUE_URL")?,
            dlq_url: env.required(keys::DLQ_URL)?,
            max_receive_count: env.parse_or(keys::MAX_RECEIVE_COUNT, 5)?,
            webhook_secret_id: env.required("WEBHOOK_SECRET_ARN")?,
            signature_tolerance: env.seconds_or("SIGNATURE_TOLERANCE_SECONDS", 300)?,
            max_body_bytes: env.parse_or(keys::MAX_BODY_BYTES, 262_144)?,
            event_dedup_window: env.seconds_or(keys::IDEMPOTENCY_TTL_SECONDS, 86_400)?,
            submittable_statuses: if statuses.is_empty() {
                vec!["Allocated".to_owned(), "Assigned".to_owned()]
            } else {
                statuses
            },
            status_on_submit: env.optional("FULFILLMENT_ORDER_STATUS_ON_SUBMIT"),
            concurrency: env.parse_or(keys::BATCH_CONCURRENCY, 5)?,
        })
    }
}

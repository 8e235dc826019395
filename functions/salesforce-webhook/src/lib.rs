//! salesforce-webhook: receives Salesforce FulfillmentOrder notifications over HTTP (signed, deduplicated,
//! enqueued) and, from the same binary, consumes the orders queue to create each order in the WMS once.

pub mod config;
mod consume;
mod ingest;
pub mod wire;

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use waybill::error::InvocationError;
use waybill::invocation::Invocation;
use waybill::mapping::CachedMappings;
use waybill::ports::{
    IdempotencyStore, OrderSourceParser, OrderStateStore, QueuePublisher, SalesforceApi, SecretProvider, WmsConnector,
    XrefStore,
};

pub use config::Config;
pub use consume::ConsumeError;

/// The function's name: idempotency keys, parked-record attributes and logs use it.
pub const FUNCTION: &str = "salesforce-webhook";

/// The ports this function drives.
#[derive(Clone)]
pub struct Ports {
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Queue publisher (orders queue and DLQ).
    pub queue: Arc<dyn QueuePublisher>,
    /// Secrets.
    pub secrets: Arc<dyn SecretProvider>,
    /// Salesforce.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The WMS.
    pub wms: Arc<dyn WmsConnector>,
    /// Cross-references.
    pub xref: Arc<dyn XrefStore>,
    /// Per-order state items.
    pub order_state: Arc<dyn OrderStateStore>,
    /// Mapping tables.
    pub mappings: Arc<CachedMappings>,
    /// Reads the source's inbound forms (Salesforce: Flow callouts and forwarded platform events).
    pub parser: Arc<dyn OrderSourceParser>,
}

/// The function: configuration plus ports, built once per cold start.
#[derive(Clone)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// Ports.
    pub ports: Ports,
}

impl App {
    /// Handles one invocation: an HTTP API request or an SQS batch.
    ///
    /// # Errors
    /// `InvocationError` only for events of an unknown shape; HTTP problems become HTTP answers and
    /// record problems become batch-item failures or parked records.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        let (payload, ctx) = event.into_parts();
        waybill::deadline::scope(ctx.deadline, self.dispatch(payload, ctx.deadline)).await
    }

    async fn dispatch(&self, payload: Value, deadline_ms: u64) -> Result<Value, InvocationError> {
        match Invocation::classify(payload)? {
            Invocation::Http(req) => {
                let resp = ingest::handle(self, &req).await;
                serde_json::to_value(resp).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            Invocation::Sqs(batch) => {
                let report = consume::handle(self, batch, deadline_ms).await;
                serde_json::to_value(report.response()).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            Invocation::Other(_) => Err(InvocationError::new(
                "UNSUPPORTED_EVENT",
                "salesforce-webhook takes HTTP API v2 requests and SQS batches only",
            )),
        }
    }
}

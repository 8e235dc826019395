//! shipment-writeback: consumes fulfillment events, reads the shipment truth from the WMS, and writes
//! Shipments, ShipmentItems and the FulfillmentOrder status to Salesforce in as few calls as the API allows.
//!
//! Per SQS batch: WMS reads per record (bounded concurrency), then ONE order-graph query, ONE Shipment
//! upsert and ONE ShipmentItem upsert (sObject Collections, ≤200 records per call), then ONE status
//! update. Every per-record Salesforce failure maps back to the message that produced it. Upserts are
//! keyed on external ids, so a retried batch (after a 5xx, even one where Salesforce had committed)
//! updates instead of duplicating.
//!
//! Every order of the batch is written under its lease (shared with the orders consumer), so two
//! parallel batches about one order cannot both create its Shipments or interleave status writes; the
//! status is written only when the lifecycle moves it forward from what Salesforce shows now.

pub mod config;
mod leasing;
pub mod records;
mod resolve;
mod round;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{info, warn};
use waybill::batch::{self, BatchOptions, BatchReport, Record};
use waybill::domain::{SalesforceId, ValidationError};
use waybill::error::{chain, Classified, FailureClass, InvocationError};
use waybill::invocation::Invocation;
use waybill::lease::Leases;
use waybill::mapping::{CachedMappings, MappingError};
use waybill::messages::MessageError;
use waybill::ports::{
    ApiFieldError, IdempotencyStore, OrderStateStore, QueuePublisher, SalesforceApi, SalesforceError, StoreError,
    WmsConnector, WmsError, XrefStore,
};

pub use config::Config;

/// The function's name.
pub const FUNCTION: &str = "shipment-writeback";

/// The source-system name on order state items.
pub(crate) const SOURCE_SYSTEM: &str = waybill::order_state::SALESFORCE_SOURCE;

/// How long a record waits for another invocation's lease on its order before it is retried later.
pub(crate) const LEASE_PATIENCE: Duration = Duration::from_secs(3);

/// The ports this function drives.
#[derive(Clone)]
pub struct Ports {
    /// Queue publisher (DLQ parking).
    pub queue: Arc<dyn QueuePublisher>,
    /// Salesforce.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The WMS connectors, by system: each event is read back from the system it names.
    pub wms: Arc<waybill::registry::Registry<dyn WmsConnector>>,
    /// Cross-references.
    pub xref: Arc<dyn XrefStore>,
    /// Order leases (idempotency records in the state table).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Per-order state items.
    pub order_state: Arc<dyn OrderStateStore>,
    /// Mapping tables.
    pub mappings: Arc<CachedMappings>,
}

/// The function.
#[derive(Clone)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// Ports.
    pub ports: Ports,
}

/// Why a fulfillment event could not be written back.
#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    /// Not a fulfillment event.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The event names a WMS no connector is configured for.
    #[error("event is for {0}, but this deployment has no connector for it (it serves {1})")]
    WrongSystem(String, String),
    /// No Salesforce record is linked to the WMS order (yet): retried, then parked.
    #[error("no Salesforce record is linked to {system} order {wms_id}")]
    NotLinked {
        /// WMS.
        system: &'static str,
        /// WMS order id.
        wms_id: String,
    },
    /// The linked record is gone from Salesforce or unreadable.
    #[error("FulfillmentOrder {0} not found in Salesforce")]
    OrderNotFound(SalesforceId),
    /// The linked record cannot be read into an order.
    #[error("FulfillmentOrder {id} is invalid: {source}")]
    OrderInvalid {
        /// Record.
        id: SalesforceId,
        /// Why.
        #[source]
        source: ValidationError,
    },
    /// A shipped value has no mapping back.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The WMS failed.
    #[error(transparent)]
    Wms(#[from] WmsError),
    /// Salesforce failed for the whole call.
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    /// Salesforce rejected this record.
    #[error("salesforce rejected the record: {}", .0.iter().map(|e| format!("{} {} {:?}", e.code, e.message, e.fields)).collect::<Vec<_>>().join("; "))]
    RecordRejected(Vec<ApiFieldError>),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another invocation holds this order's lease: retried later.
    #[error("FulfillmentOrder {0} is being written by another invocation")]
    Busy(SalesforceId),
}

impl Classified for WritebackError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Message(e) => e.class(),
            Self::WrongSystem(..) | Self::OrderNotFound(_) | Self::OrderInvalid { .. } => FailureClass::Permanent,
            // The link is written right after the WMS order is created; a shipment event racing it
            // resolves on retry. If it never appears, the record is parked after maxReceiveCount.
            Self::NotLinked { .. } | Self::Busy(_) => FailureClass::Transient,
            Self::Mapping(e) => e.class(),
            Self::Wms(e) => e.class(),
            Self::Salesforce(e) => e.class(),
            Self::RecordRejected(errs) => {
                // Row locks and transient server states are worth another try; validation is not.
                if errs
                    .iter()
                    .any(|e| matches!(e.code.as_str(), "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE"))
                {
                    FailureClass::Transient
                } else {
                    FailureClass::Permanent
                }
            }
            Self::Store(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Message(e) => e.code(),
            Self::WrongSystem(..) => "WRONG_WMS",
            Self::NotLinked { .. } => "XREF_MISSING",
            Self::OrderNotFound(_) => "ORDER_NOT_FOUND",
            Self::OrderInvalid { .. } => "ORDER_INVALID",
            Self::Mapping(e) => e.code(),
            Self::Wms(e) => e.code(),
            Self::Salesforce(e) => e.code(),
            Self::RecordRejected(_) => "SALESFORCE_RECORD_REJECTED",
            Self::Store(e) => e.code(),
            Self::Busy(_) => "ORDER_BUSY",
        }
    }
}

impl App {
    /// Handles one invocation (an SQS batch).
    ///
    /// # Errors
    /// `InvocationError` for events that are not SQS batches.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        match Invocation::classify(event.payload)? {
            Invocation::Sqs(batch) => {
                let deadline_ms = event.context.deadline;
                let report = waybill::deadline::scope(deadline_ms, self.handle_batch(batch, deadline_ms)).await;
                serde_json::to_value(report.response()).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            _ => Err(InvocationError::new(
                "UNSUPPORTED_EVENT",
                "shipment-writeback takes SQS batches only",
            )),
        }
    }

    /// Processes one SQS batch; `deadline_ms` is the invocation deadline (epoch ms, 0 = unknown), which
    /// bounds the order leases.
    pub async fn handle_batch(&self, event: SqsEvent, deadline_ms: u64) -> BatchReport {
        let opts = BatchOptions {
            function: FUNCTION,
            concurrency: self.config.concurrency,
            dlq_url: Some(self.config.dlq_url.clone()),
            max_receive_count: self.config.max_receive_count,
        };
        batch::batched(event, &opts, self.ports.queue.as_ref(), |records| {
            self.write_back(records, deadline_ms)
        })
        .await
    }

    async fn write_back(&self, records: Vec<Record>, deadline_ms: u64) -> HashMap<String, Result<(), WritebackError>> {
        let mut results: HashMap<String, Result<(), WritebackError>> = HashMap::new();
        let leases = Leases::new(self.ports.idempotency.as_ref());
        let mut held = Vec::new();
        let started = std::time::Instant::now();
        // 1. Resolve each event to its WMS order and its Salesforce record, and acknowledge the events
        // about a WMS version a write-back already read (a sweep's, queued behind the webhook's).
        let linked = self.resolve_all(records, &mut results).await;
        let linked = self.skip_written(linked, &mut results).await;
        let resolved_ms = started.elapsed().as_millis();
        // 1a. Everything below reads and writes these orders under their leases. Orders whose lease is
        // free are written at once; the others wait for theirs (up to LEASE_PATIENCE) while that first
        // round runs, and are written in a second round. Waiting before writing anything made one
        // busy order hold up its whole batch for the full patience.
        let (free, waiting) = self
            .take_free_leases(linked, deadline_ms, &leases, &mut held, &mut results)
            .await;
        let (first_round, waited) = (free.len(), waiting.len());
        let leased_ms = started.elapsed().as_millis();
        let mut late_results = HashMap::new();
        let mut late_held = Vec::new();
        let ((), late) = tokio::join!(
            self.write_orders(free, &mut results),
            self.lease_orders(waiting, deadline_ms, &leases, &mut late_held, &mut late_results),
        );
        let first_round_ms = started.elapsed().as_millis();
        let second_round = late.len();
        if !late.is_empty() {
            self.write_orders(late, &mut late_results).await;
        }
        // Where a slow batch spent its time, for the operator reading the log.
        info!(
            first_round,
            waited,
            second_round,
            resolved_ms,
            leased_ms,
            first_round_ms,
            total_ms = started.elapsed().as_millis(),
            "write-back rounds"
        );
        results.extend(late_results);
        held.extend(late_held);
        for lease in held {
            if let Err(e) = leases.release(lease).await {
                warn!(error.message = %chain(&e), "could not release an order lease; it lapses at the deadline");
            }
        }
        results
    }
}

/// A record whose order's lease could not be read or written: the store is down, retry later.
pub(crate) fn lease_unavailable(reason: &str) -> WritebackError {
    WritebackError::Store(StoreError::Unavailable(reason.to_owned().into()))
}

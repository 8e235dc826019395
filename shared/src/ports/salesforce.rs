//! Salesforce: the order source and write-back target, its records and errors.

use std::collections::HashMap;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::secrets::SecretError;
use crate::domain::{Address, InventoryPosition, Order, SalesforceId};
use crate::error::{BoxError, Classified, FailureClass};

/// One field-level error from Salesforce (`{message, errorCode, fields}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFieldError {
    /// Salesforce error code (`REQUIRED_FIELD_MISSING`, `INVALID_FIELD`, …) or WMS code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Fields involved.
    pub fields: Vec<String>,
}

/// The result of writing one record in a bulk call.
pub type RecordOutcome = Result<SalesforceId, Vec<ApiFieldError>>;

/// Errors for a whole Salesforce call.
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    /// Credentials were refused (OAuth `invalid_client`/`invalid_grant`, or 401 after a fresh token).
    #[error("salesforce refused our credentials: {0}")]
    Unauthorized(String),
    /// `REQUEST_LIMIT_EXCEEDED` or 429: back off.
    #[error("salesforce API limit reached: {0}")]
    RateLimited(String),
    /// 5xx, timeouts, `UNABLE_TO_LOCK_ROW`: retry.
    #[error("salesforce unavailable: {0}")]
    Unavailable(String),
    /// The request was rejected as a whole (400 with error bodies).
    #[error("salesforce rejected the request: {}", .0.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<ApiFieldError>),
    /// The record does not exist (or is not visible to the integration user).
    #[error("salesforce record not found: {0}")]
    NotFound(String),
    /// Network failure before any answer.
    #[error("could not reach salesforce")]
    Transport(#[source] BoxError),
    /// The answer did not have the documented shape.
    #[error("unexpected salesforce response: {0}")]
    Decode(String),
    /// Our credentials secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Classified for SalesforceError {
    fn class(&self) -> FailureClass {
        match self {
            Self::RateLimited(_) | Self::Unavailable(_) | Self::Transport(_) => FailureClass::Transient,
            Self::Secret(e) => e.class(),
            Self::Unauthorized(_) | Self::Rejected(_) | Self::NotFound(_) | Self::Decode(_) => FailureClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "SALESFORCE_UNAUTHORIZED",
            Self::RateLimited(_) => "SALESFORCE_RATE_LIMITED",
            Self::Unavailable(_) => "SALESFORCE_UNAVAILABLE",
            Self::Rejected(_) => "SALESFORCE_REJECTED",
            Self::NotFound(_) => "SALESFORCE_NOT_FOUND",
            Self::Transport(_) => "SALESFORCE_TRANSPORT",
            Self::Decode(_) => "SALESFORCE_DECODE",
            Self::Secret(e) => e.code(),
        }
    }
}

impl SalesforceError {
    /// An owned copy with the same class and code, for fanning one whole-call failure out to every
    /// record it covered (sources that cannot be cloned are flattened into the message).
    #[must_use]
    pub fn for_each_record(&self) -> Self {
        match self {
            Self::Unauthorized(m) => Self::Unauthorized(m.clone()),
            Self::RateLimited(m) => Self::RateLimited(m.clone()),
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
            Self::Rejected(v) => Self::Rejected(v.clone()),
            Self::NotFound(m) => Self::NotFound(m.clone()),
            Self::Decode(m) => Self::Decode(m.clone()),
            Self::Transport(_) => Self::Unavailable(crate::error::chain(self)),
            Self::Secret(e) => match e {
                SecretError::Unavailable(_) => Self::Unavailable(crate::error::chain(self)),
                SecretError::NotFound { id } => Self::Secret(SecretError::NotFound { id: id.clone() }),
                SecretError::Malformed { id, reason } => Self::Secret(SecretError::Malformed {
                    id: id.clone(),
                    reason: reason.clone(),
                }),
            },
        }
    }
}

/// One order read from Salesforce: the canonical order, or why the record could not be turned into one.
pub type OrderRead = Result<Order, crate::domain::ValidationError>;

/// A Shipment (and its items) to write to Salesforce, already in Salesforce terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    /// External id value (`<system>:<order code>:<shipment key>:<tracking>`), so a retry updates instead of duplicating.
    pub external_key: String,
    /// The FulfillmentOrder it fulfils.
    pub fulfillment_order_id: SalesforceId,
    /// OrderSummary, when known.
    pub order_summary_id: Option<SalesforceId>,
    /// OrderDeliveryMethod, when known.
    pub delivery_method_id: Option<SalesforceId>,
    /// Carrier name for `Provider`.
    pub provider: Option<String>,
    /// Tracking number.
    pub tracking_number: Option<String>,
    /// Tracking URL.
    pub tracking_url: Option<String>,
    /// Ship-to name (required by Salesforce).
    pub ship_to: Address,
    /// Ship date.
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    /// Items.
    pub items: Vec<ShipmentItemRecord>,
}

/// One ShipmentItem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentItemRecord {
    /// External id value.
    pub external_key: String,
    /// The FulfillmentOrderLineItem shipped.
    pub line_id: SalesforceId,
    /// Product2.
    pub product_id: Option<SalesforceId>,
    /// OrderItemSummary.
    pub order_item_summary_id: Option<SalesforceId>,
    /// Quantity in the Salesforce unit.
    pub quantity: Decimal,
}

/// A status change for an order record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The record.
    pub record_id: SalesforceId,
    /// New status value.
    pub status: String,
}

/// An inventory position in Salesforce terms, for an upsert by external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRecord {
    /// External id value: `<location>#<sku>`.
    pub key: String,
    /// The position (Salesforce SKU and location naming).
    pub position: InventoryPosition,
}

/// Salesforce capabilities waybill needs. One adapter per Salesforce product (SOM first).
#[async_trait]
pub trait SalesforceApi: Send + Sync {
    /// How this product's order status values map onto the lifecycle, and what to write per stage.
    fn order_statuses(&self) -> &crate::lifecycle::StatusTable;

    /// Reads the current order graphs (header, lines, delivery method, location) for these records, in as
    /// few calls as the API allows. Records that do not exist are absent from the map.
    ///
    /// # Errors
    /// Whole-call `SalesforceError`s; per-record conversion problems are in the map as `Err`.
    async fn fetch_orders(&self, ids: &[SalesforceId]) -> Result<HashMap<SalesforceId, OrderRead>, SalesforceError>;

    /// Sets order statuses, one outcome per update in input order.
    ///
    /// # Errors
    /// Whole-call `SalesforceError`s.
    async fn update_status(&self, updates: &[StatusUpdate]) -> Result<Vec<RecordOutcome>, SalesforceError>;

    /// Upserts Shipments and their items by external id; one outcome per shipment in input order
    /// (an item failure fails its shipment).
    ///
    /// # Errors
    /// Whole-call `SalesforceError`s.
    async fn write_shipments(&self, shipments: &[ShipmentRecord]) -> Result<Vec<RecordOutcome>, SalesforceError>;

    /// Upserts inventory positions by external id; one outcome per record in input order.
    ///
    /// # Errors
    /// Whole-call `SalesforceError`s.
    async fn upsert_inventory(&self, records: &[InventoryRecord]) -> Result<Vec<RecordOutcome>, SalesforceError>;
}

//! Queue message schemas: the envelope every waybill message uses, and the payloads per message type.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{CorrelationId, EventId, SalesforceId, SourceSystem, WmsOrderId, WmsSystem};

/// Message type of [`OrderNotification`].
pub const ORDER_NOTIFICATION: &str = "order.notification";
/// Message type of [`FulfillmentEvent`].
pub const FULFILLMENT_EVENT: &str = "fulfillment.event";

/// A message to send, with the attributes every waybill message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// JSON body.
    pub body: String,
    /// Correlation id (attribute `correlation_id`).
    pub correlation_id: CorrelationId,
    /// Message type (attribute `message_type`), e.g. `order.notification`.
    pub message_type: String,
    /// Schema version (attribute `schema_version`).
    pub schema_version: u32,
    /// Further string attributes (parking reasons and the like).
    pub attributes: Vec<(String, String)>,
}

/// The body of every message: type and version travel inside the body too, so a message redriven from a
/// DLQ (where attributes may be edited) is still self-describing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Message type, e.g. `order.notification`.
    pub message_type: String,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// Correlation id of the exchange.
    pub correlation_id: CorrelationId,
    /// Payload.
    pub data: T,
}

/// A typed message payload.
pub trait MessagePayload: Serialize + for<'de> Deserialize<'de> {
    /// Message type.
    const TYPE: &'static str;
    /// Current schema version.
    const VERSION: u32;
}

impl<T: MessagePayload> Envelope<T> {
    /// Wraps a payload.
    pub fn new(correlation_id: CorrelationId, data: T) -> Self {
        Self {
            message_type: T::TYPE.to_owned(),
            schema_version: T::VERSION,
            correlation_id,
            data,
        }
    }

    /// Serialises into a queue message with the standard attributes.
    ///
    /// # Errors
    /// Only if the payload cannot be serialised (never for the types in this module).
    pub fn to_outbound(&self) -> Result<OutboundMessage, serde_json::Error> {
        Ok(OutboundMessage {
            body: serde_json::to_string(self)?,
            correlation_id: self.correlation_id.clone(),
            message_type: self.message_type.clone(),
            schema_version: self.schema_version,
            attributes: Vec::new(),
        })
    }

    /// Parses a body and checks its type and version.
    ///
    /// # Errors
    /// `MessageError` naming what is wrong (malformed JSON, other type, unsupported version).
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        let head: Head = serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))?;
        if head.message_type != T::TYPE {
            return Err(MessageError::WrongType {
                expected: T::TYPE,
                found: head.message_type,
            });
        }
        if head.schema_version > T::VERSION {
            return Err(MessageError::UnsupportedVersion {
                found: head.schema_version,
                supported: T::VERSION,
            });
        }
        serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    message_type: String,
    schema_version: u32,
}

/// Why a queue message could not be read. Always permanent: the same bytes will fail again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, or missing fields.
    #[error("malformed message body: {0}")]
    Malformed(String),
    /// A message of another type landed on this queue.
    #[error("expected message type {expected}, found {found}")]
    WrongType {
        /// Expected.
        expected: &'static str,
        /// Found.
        found: String,
    },
    /// Written by a newer producer than this consumer understands.
    #[error("schema version {found} is newer than supported {supported}")]
    UnsupportedVersion {
        /// Found.
        found: u32,
        /// Supported.
        supported: u32,
    },
}

impl crate::error::Classified for MessageError {
    fn class(&self) -> crate::error::FailureClass {
        crate::error::FailureClass::Permanent
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "MESSAGE_MALFORMED",
            Self::WrongType { .. } => "MESSAGE_WRONG_TYPE",
            Self::UnsupportedVersion { .. } => "MESSAGE_UNSUPPORTED_VERSION",
        }
    }
}

/// "This Salesforce record changed": produced by the salesforce-webhook ingest, consumed by its queue consumer.
/// Carries no order data on purpose: the consumer reads the current record graph, so stale or repeated
/// notifications are harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNotification {
    /// The source's event id (dedup key at ingest).
    pub event_id: EventId,
    /// Source product.
    pub source: SourceSystem,
    /// sObject type, e.g. `FulfillmentOrder`.
    pub object: String,
    /// The record.
    pub record_id: SalesforceId,
    /// When we received it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl MessagePayload for OrderNotification {
    const TYPE: &'static str = ORDER_NOTIFICATION;
    const VERSION: u32 = 1;
}

/// "Something happened to a WMS order": produced by wms-webhook, consumed by shipment-writeback.
/// Like the order notification, it only points at the order; the consumer reads the WMS's current truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEvent {
    /// Which WMS.
    pub system: WmsSystem,
    /// What changed, in the core's own terms (the vendor's `topic` below is kept for logs and replay).
    /// Messages queued before this field existed read as `order`, which is always safe: every consumer
    /// re-reads the whole order.
    #[serde(default)]
    pub object: ChangedObject,
    /// Vendor topic, e.g. `wms/shipmentorder/shipment`.
    pub topic: String,
    /// Deduplication key for this event (vendor event id, or a hash of the body when the vendor has none).
    pub event_key: String,
    /// WMS order code (= our source order number).
    pub order_code: String,
    /// WMS order id, when the event carries it.
    pub wms_order_id: Option<WmsOrderId>,
    /// WMS status name at the time of the event, when given.
    pub status: Option<String>,
    /// When we received it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The WMS's own stamp of the order version the event is about, when known (the sweep's events):
    /// a write-back that already read that version has nothing left to do for it.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub wms_changed_at: Option<OffsetDateTime>,
}

/// The kind of object a change notification is about, whatever the system calls it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangedObject {
    /// The order itself (a status change).
    #[default]
    Order,
    /// A shipment (packages, tracking) of the order.
    Shipment,
    /// A stock position.
    Inventory,
    /// A return of (part of) the order.
    Return,
}

impl MessagePayload for FulfillmentEvent {
    const TYPE: &'static str = FULFILLMENT_EVENT;
    const VERSION: u32 = 1;
}

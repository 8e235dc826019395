//! Inbound forms: one delivery as a parser sees it, and the canonical notification it becomes.

use time::OffsetDateTime;

use crate::domain::WmsSystem;

/// One inbound HTTP delivery (a webhook, a push) as the system's parser sees it.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// Raw body.
    pub body: &'a [u8],
    /// Headers (names are case-insensitive).
    pub headers: &'a http::HeaderMap,
    /// Query string parameters, first value per name.
    pub query: &'a [(String, String)],
}

impl InboundRequest<'_> {
    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter's first value.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The one canonical change notification an inbound form becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNotification {
    /// The queue message: names its source system, the object (topic) and the order, and carries the
    /// deduplication key (`event_key`).
    pub event: crate::messages::FulfillmentEvent,
    /// What must not change under `event.event_key` (e.g. the canonical body hash).
    pub payload_hash: String,
}

/// Why an inbound delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// A kind of event this system's parser does not handle (answered 422).
    #[error("unsupported {what}: {message}")]
    Unsupported {
        /// The field that names it (e.g. `topic`).
        what: String,
        /// Detail.
        message: String,
    },
    /// The body is not the form at all, e.g. not JSON (answered 400 `MALFORMED_JSON`, field `body`).
    #[error("body: {message}")]
    Malformed {
        /// Detail (never the body).
        message: String,
    },
    /// A field is missing or invalid (answered 400 naming the field).
    #[error("{field}: {message}")]
    Invalid {
        /// The failing field as the vendor spells it (`body` for the whole body).
        field: String,
        /// Detail (never the value).
        message: String,
    },
}

/// Turns one system's inbound form into a canonical change notification. One per system, in its adapter.
pub trait InboundParser: Send + Sync {
    /// The system whose deliveries this parser reads.
    fn system(&self) -> WmsSystem;

    /// Parses one delivery received at `received_at`.
    ///
    /// # Errors
    /// `Unsupported` for a kind of event the system sends but waybill does not handle; `Invalid` naming
    /// the field otherwise.
    fn parse(&self, req: &InboundRequest<'_>, received_at: OffsetDateTime) -> Result<ChangeNotification, InboundError>;
}

/// Turns one inbound form of an order source (a Salesforce Flow callout, a forwarded platform event) into
/// one canonical order notification. One per source product, in its adapter.
pub trait OrderSourceParser: Send + Sync {
    /// Parses one authenticated delivery received at `received_at`.
    ///
    /// # Errors
    /// `Malformed` for a body that is not the form at all, `Invalid` naming the field, `Unsupported`
    /// (`what: object`) for an object this source does not send orders for.
    fn parse(
        &self,
        body: &[u8],
        received_at: OffsetDateTime,
    ) -> Result<crate::messages::OrderNotification, InboundError>;
}

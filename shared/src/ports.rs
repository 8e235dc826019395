//! Ports: the capabilities handlers depend on, as object-safe async traits with documented errors.
//!
//! Style: `#[async_trait]` traits used as `&dyn Port` / `Arc<dyn Port>`. We chose dynamic dispatch
//! over generics because the local stack and tests wire different adapters (moto-backed AWS,
//! in-memory fakes, several WMS connectors) at run time, and handler signatures stay readable.
//! Every port has one production adapter in `adapters/` and an in-memory fake in `fakes`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{
    Address, CorrelationId, CurrencyCode, InventoryPosition, LocationCode, Order, SalesforceId, Shipment, Sku,
    UnitOfMeasure, WmsOrderId,
};
use crate::error::{BoxError, Classified, FailureClass};

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

/// `<function>#<business key>`, e.g. `salesforce-webhook#event#8f1c…`. Never the SQS messageId alone:
/// a producer that resends gets a new messageId.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Builds a key from the function name and the business key.
    ///
    /// # Errors
    /// `ValidationError` when either part is empty or the key exceeds 1 KiB (DynamoDB key limit headroom).
    pub fn new(function: &str, business_key: &str) -> Result<Self, crate::domain::ValidationError> {
        if function.is_empty() || business_key.trim().is_empty() {
            return Err(crate::domain::ValidationError::new(
                "idempotency_key",
                "must not be empty",
            ));
        }
        let key = format!("{function}#{business_key}");
        if key.len() > 1024 {
            return Err(crate::domain::ValidationError::new(
                "idempotency_key",
                "must be at most 1024 bytes",
            ));
        }
        Ok(Self(key))
    }

    /// The full key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a caller asks the store when it wants to run an idempotent operation.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The key.
    pub key: IdempotencyKey,
    /// Hash of the payload subset that must not change under the same key (stored in `validation`).
    pub payload_hash: String,
    /// Now, in epoch milliseconds (injected so tests control the clock).
    pub now_ms: i64,
    /// How long a COMPLETED record counts (`expiration` = now + this, in seconds).
    pub expires_after: Duration,
    /// When the INPROGRESS lock lapses, in epoch ms: the invocation deadline, so a timed-out
    /// invocation does not block retries for the whole window.
    pub lock_until_ms: i64,
    /// This request's own mark (random), stored in the lock it writes. The SDK retries a write whose
    /// answer was lost; a retry that finds its own mark on the lock knows its first attempt took it,
    /// instead of taking itself for another invocation holding it.
    pub token: u64,
}

/// The outcome of taking the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// We hold the lock: run the operation, then `complete` or `release`.
    Execute,
    /// Someone already completed it; here is their stored result.
    Completed(Option<String>),
    /// Someone else holds a live lock: retry later (the batch helper reports the record as failed).
    InProgress,
}

/// Idempotency persistence errors.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The same key arrived with a different payload: a key collision or a producer bug. Permanent.
    #[error("idempotency key {key} was reused with a different payload")]
    PayloadMismatch {
        /// The key.
        key: String,
    },
    /// The lock put failed but the record is expired or vanished before we could read it.
    /// The caller retries the whole begin step (at most twice, as Powertools does).
    #[error("idempotency record {key} is in an inconsistent state")]
    Inconsistent {
        /// The key.
        key: String,
    },
    /// The store could not be reached or refused the call.
    #[error("idempotency store failed")]
    Store(#[source] BoxError),
}

impl Classified for IdempotencyError {
    fn class(&self) -> FailureClass {
        match self {
            Self::PayloadMismatch { .. } => FailureClass::Permanent,
            Self::Inconsistent { .. } | Self::Store(_) => FailureClass::Transient,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::PayloadMismatch { .. } => "IDEMPOTENCY_PAYLOAD_MISMATCH",
            Self::Inconsistent { .. } => "IDEMPOTENCY_INCONSISTENT",
            Self::Store(_) => "IDEMPOTENCY_STORE_UNAVAILABLE",
        }
    }
}

/// Powertools-compatible idempotency records (see `adapters::dynamodb` for the exact protocol).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes the INPROGRESS lock, or reports the existing record.
    ///
    /// # Errors
    /// - `PayloadMismatch` when an existing record's `validation` hash differs from `payload_hash`.
    /// - `Inconsistent` when the record is expired/lapsed or vanished between put and read (retry).
    /// - `Store` on any persistence failure.
    async fn begin(&self, req: &LockRequest) -> Result<Begin, IdempotencyError>;

    /// Marks the operation COMPLETED with its result and renews `expiration`.
    ///
    /// # Errors
    /// `Store` on any persistence failure (the operation already ran; the caller logs and moves on).
    async fn complete(&self, req: &LockRequest, data: &str) -> Result<(), IdempotencyError>;

    /// Deletes the record after a failed operation, so the next attempt starts fresh.
    ///
    /// # Errors
    /// `Store` on any persistence failure (the lock then lapses at `lock_until_ms`).
    async fn release(&self, key: &IdempotencyKey) -> Result<(), IdempotencyError>;

    /// Whether `begin` could take the lock now, found with a read instead of a write: waiters poll a
    /// held lock with this (a consistent read costs a fifth of the failed conditional write it replaces)
    /// and call `begin` only once it looks free. `true` is a hint, never a promise: `begin` decides.
    ///
    /// # Errors
    /// `Store` on any persistence failure.
    async fn looks_free(&self, req: &LockRequest) -> Result<bool, IdempotencyError>;
}

// ---------------------------------------------------------------------------------------------
// Cross-references, watermarks, inventory snapshots, mapping tables
// ---------------------------------------------------------------------------------------------

/// Which WMS an id belongs to: an open name (`logiwa`, `linnworks`, …) that each adapter declares for
/// itself with [`WmsSystem::named`], so adding a WMS adds no variant here. Cheap to copy; names are
/// lower-case ASCII letters, digits and `-`, at most 32 characters (they go into keys and routes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WmsSystem(&'static str);

/// Distinct names [`WmsSystem::parse`] keeps: a deployment has a handful of systems, so more than this
/// is a malformed message, not a new WMS (and interning stays bounded).
const MAX_SYSTEMS: usize = 64;

impl WmsSystem {
    /// A system name known at compile time (an adapter's constant). An invalid name fails the build.
    pub const fn named(name: &'static str) -> Self {
        assert!(
            valid_system_name(name),
            "WMS system names are 1 to 32 of a-z, 0-9 and -"
        );
        Self(name)
    }

    /// A system name read at run time (a queued message, a route).
    ///
    /// # Errors
    /// `ValidationError` on field `system` for a malformed name, or past the bound on distinct names.
    pub fn parse(name: &str) -> Result<Self, crate::domain::ValidationError> {
        static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        if !valid_system_name(name) {
            return Err(crate::domain::ValidationError::new(
                "system",
                "a WMS system name is 1 to 32 lower-case letters, digits or '-'",
            ));
        }
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = seen.iter().find(|k| **k == name) {
            return Ok(Self(known));
        }
        if seen.len() >= MAX_SYSTEMS {
            return Err(crate::domain::ValidationError::new(
                "system",
                format!("more than {MAX_SYSTEMS} distinct WMS system names"),
            ));
        }
        // Leaked once per distinct name, bounded above.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        seen.push(name);
        Ok(Self(name))
    }

    /// Lower-case name used in keys, routes and logs.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

const fn valid_system_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 32 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl std::fmt::Debug for WmsSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Display for WmsSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for WmsSystem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for WmsSystem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&name).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A WMS order as we know it: system, id and code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WmsRef {
    /// Which WMS.
    pub system: WmsSystem,
    /// The WMS's id.
    pub id: WmsOrderId,
    /// The order code we created it with (= the source order number).
    pub code: String,
}

/// Errors from the state stores (cross-references, watermarks, snapshots, mapping tables).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A cross-reference already links this id to a different counterpart. Permanent: needs a person.
    #[error("{key} is already linked to {existing}")]
    Conflict {
        /// The key that conflicts.
        key: String,
        /// What it is linked to now.
        existing: String,
    },
    /// A stored item could not be decoded (schema drift or manual edit).
    #[error("stored item {key} is malformed: {reason}")]
    Malformed {
        /// The item key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The store could not be reached or refused the call.
    #[error("state store failed")]
    Unavailable(#[source] BoxError),
}

impl Classified for StoreError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Conflict { .. } | Self::Malformed { .. } => FailureClass::Permanent,
            Self::Unavailable(_) => FailureClass::Transient,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "XREF_CONFLICT",
            Self::Malformed { .. } => "STATE_MALFORMED",
            Self::Unavailable(_) => "STATE_STORE_UNAVAILABLE",
        }
    }
}

/// Salesforce id ↔ WMS id links.
#[async_trait]
pub trait XrefStore: Send + Sync {
    /// Links both directions in one transaction. Linking the same pair again is a no-op.
    ///
    /// # Errors
    /// `Conflict` when either side is already linked to something else; `Unavailable` otherwise.
    async fn link(&self, salesforce: &SalesforceId, wms: &WmsRef) -> Result<(), StoreError>;

    /// The WMS order linked to a Salesforce record, if any.
    ///
    /// # Errors
    /// `Malformed` or `Unavailable`.
    async fn wms_for(&self, salesforce: &SalesforceId, system: WmsSystem) -> Result<Option<WmsRef>, StoreError>;

    /// The Salesforce record linked to a WMS order id, if any.
    ///
    /// # Errors
    /// `Malformed` or `Unavailable`.
    async fn salesforce_for(&self, system: WmsSystem, wms_id: &WmsOrderId) -> Result<Option<SalesforceId>, StoreError>;
}

/// Result of asking a watermark to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// It moved forward to the new value.
    Moved,
    /// It already stood at or past the new value; nothing changed.
    NotForward {
        /// Where it stands.
        current: OffsetDateTime,
    },
}

/// Delta watermarks that only move forward.
#[async_trait]
pub trait WatermarkStore: Send + Sync {
    /// The current watermark of a stream (e.g. `inventory#logiwa#WH1`).
    ///
    /// # Errors
    /// `Malformed` or `Unavailable`.
    async fn get(&self, stream: &str) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Moves the watermark to `to` only if that is later than the stored value (conditional write).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn advance(&self, stream: &str, to: OffsetDateTime) -> Result<Advance, StoreError>;
}

/// The WMS-side identity a position was read under: its WMS SKU and WMS warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WmsPositionId {
    /// SKU in WMS naming.
    pub sku: Sku,
    /// Warehouse in WMS naming.
    pub location: LocationCode,
}

/// What the snapshot remembers about one position Salesforce accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPosition {
    /// What was sent, as `<hash>|<unit>` (quantities and unit; see inventory-poll).
    pub fingerprint: String,
    /// Where it came from in the WMS, so "has it vanished?" is asked of the WMS listing itself, not of
    /// what happened to map this time. `None` for snapshot items saved before this was recorded.
    pub wms: Option<WmsPositionId>,
}

/// The last inventory positions accepted by Salesforce, so only changes are sent.
#[async_trait]
pub trait PositionStore: Send + Sync {
    /// Every position of a scope (e.g. `logiwa#WH1`), keyed by position key (`<location>#<sku>`,
    /// Salesforce naming). Items saved before the WMS identity was recorded load with `wms: None`.
    ///
    /// # Errors
    /// `Malformed` when an item cannot be decoded; `Unavailable` otherwise.
    async fn load(&self, scope: &str) -> Result<HashMap<String, SentPosition>, StoreError>;

    /// Records positions Salesforce accepted (the last entry wins when a key repeats).
    ///
    /// # Errors
    /// `Unavailable` (the next poll then resends those positions, which is harmless: upserts).
    async fn save(&self, scope: &str, entries: &[(String, SentPosition)]) -> Result<(), StoreError>;
}

/// Where the mapping tables (SKU, unit, warehouse, carrier) live.
#[async_trait]
pub trait MappingSource: Send + Sync {
    /// Loads every table of one WMS: each WMS has its own SKUs, units, warehouses and carrier codes, so
    /// the tables are kept per system.
    ///
    /// # Errors
    /// `Malformed` when an entry cannot be parsed; `Unavailable` otherwise.
    async fn load(&self, system: WmsSystem) -> Result<crate::mapping::MappingTables, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Per-order state
// ---------------------------------------------------------------------------------------------

/// One stage an order reached, when, and who said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEntry {
    /// The stage.
    pub stage: crate::lifecycle::Stage,
    /// When the reporting system says it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The system that reported it (`salesforce`, `logiwa`, …).
    pub source: String,
}

/// An observation the transition function refused (older, backwards, or after a terminal stage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredObservation {
    /// The stage reported.
    pub stage: crate::lifecycle::Stage,
    /// When it was reported to have happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who reported it.
    pub source: String,
    /// Why it was ignored (`backwards`, `stale`, `terminal`).
    pub reason: String,
}

/// The last failure of an order's processing, for "where is order X and why".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// Stable error code (`MAPPING_MISSING`, …).
    pub code: String,
    /// The reason, with its cause chain.
    pub reason: String,
    /// Transient or permanent.
    pub class: crate::error::FailureClass,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The one item per order: its lifecycle stage with history, the ids in both systems, the last error.
/// Written only through [`crate::order_state`] with versioned conditional writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// Source system (`salesforce`).
    pub source_system: String,
    /// The source record id.
    pub source_id: String,
    /// Optimistic-concurrency version: 1 for the first write, +1 on every write.
    pub version: u64,
    /// Where the order stands (None until a stage is known).
    pub stage: Option<StageEntry>,
    /// Every stage applied, in order.
    #[serde(default)]
    pub history: Vec<StageEntry>,
    /// The order in the WMS, once created or found.
    #[serde(default)]
    pub wms: Option<WmsRef>,
    /// The last error, cleared when the order moves forward.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// The last observation that was refused.
    #[serde(default)]
    pub last_ignored: Option<IgnoredObservation>,
    /// How many observations were refused in all.
    #[serde(default)]
    pub ignored_count: u64,
    /// When the last successful write-back began reading the WMS: every WMS change received before it
    /// is already in Salesforce.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub wms_read_at: Option<OffsetDateTime>,
    /// The WMS's own change stamp (its clock) of the newest order version a successful write-back read:
    /// a listed change stamped no later than this is already in Salesforce.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub wms_changed_seen: Option<OffsetDateTime>,
    /// Last write.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl OrderState {
    /// True when the order is in the WMS and has moved past `stage`: work whose only remaining effect
    /// is `stage` (the orders consumer's status on submit, for a duplicate notification) is superseded,
    /// since the lifecycle never goes back to it.
    pub fn past(&self, stage: crate::lifecycle::Stage) -> bool {
        self.wms.is_some() && self.stage.as_ref().is_some_and(|s| s.stage.rank() > stage.rank())
    }

    /// True when a successful write-back read a version of the order at least as new as a WMS change
    /// stamped `changed_at` (both stamps are the WMS's, so no clock skew enters).
    pub fn wms_change_written(&self, changed_at: OffsetDateTime) -> bool {
        self.wms_changed_seen.is_some_and(|seen| seen >= changed_at)
    }

    /// A new, unsaved state (version 0: the first save writes version 1).
    pub fn new(source_system: &str, source_id: &str, now: OffsetDateTime) -> Self {
        Self {
            source_system: source_system.to_owned(),
            source_id: source_id.to_owned(),
            version: 0,
            stage: None,
            history: Vec::new(),
            wms: None,
            last_error: None,
            last_ignored: None,
            ignored_count: 0,
            wms_read_at: None,
            wms_changed_seen: None,
            updated_at: now,
        }
    }
}

/// What a versioned save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written; the stored version is now the state's `version`.
    Written,
    /// Someone else wrote first (the stored version is not `version - 1`): reload and decide again.
    Conflict,
}

/// The per-order state items.
#[async_trait]
pub trait OrderStateStore: Send + Sync {
    /// The state of an order, if any (strongly consistent).
    ///
    /// # Errors
    /// `Malformed` when the item cannot be decoded; `Unavailable` otherwise.
    async fn load(&self, source_system: &str, source_id: &str) -> Result<Option<OrderState>, StoreError>;

    /// Writes `state` if the stored item is at `state.version - 1` (absent when `state.version` is 1).
    ///
    /// # Errors
    /// `Unavailable`; a lost race is `Ok(Saved::Conflict)`, not an error.
    async fn save(&self, state: &OrderState) -> Result<Saved, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Shared rate limits
// ---------------------------------------------------------------------------------------------

/// A vendor rate limit shared by every execution environment of every function: a vendor's plan limits
/// the account (Logiwa Basic: 2 requests/s for the whole account), not one process.
#[async_trait]
pub trait RateGate: Send + Sync {
    /// Reserves the next send slot of `bucket` (slots are `interval` apart across everyone sharing the
    /// store) no earlier than `lead` from now, and returns when it is (now + `lead`, for an idle bucket).
    /// `lead` is how long the caller expects the reservation to take: a slot that has passed before the
    /// caller learns of it cannot be used. It is `reserve_many` of one.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached or stays contended.
    async fn reserve(&self, bucket: &str, interval: Duration, lead: Duration) -> Result<OffsetDateTime, StoreError> {
        let slots = self
            .reserve_many(bucket, interval, lead, std::num::NonZeroU32::MIN)
            .await?;
        slots.into_iter().next().ok_or_else(|| StoreError::Malformed {
            key: bucket.to_owned(),
            reason: "no slot reserved".into(),
        })
    }

    /// Reserves `count` slots of `bucket` for callers of one process that asked at the same moment, and
    /// returns them in order, each `interval` after the one before (consecutive slots of the bucket, taken
    /// in one round trip where the store can).
    ///
    /// # Errors
    /// As `reserve`; no slot is returned when the reservation fails.
    async fn reserve_many(
        &self,
        bucket: &str,
        interval: Duration,
        lead: Duration,
        count: std::num::NonZeroU32,
    ) -> Result<Vec<OffsetDateTime>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Inbound forms
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

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

/// One message the queue refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    /// Index into the slice passed to `publish`.
    pub index: usize,
    /// The queue's error code.
    pub code: String,
    /// Its message.
    pub message: String,
    /// True when the queue blames the sender (do not retry as is).
    pub sender_fault: bool,
}

/// Queue errors for a whole call.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the call.
    #[error("queue unavailable")]
    Unavailable(#[source] BoxError),
    /// A message is larger than the queue accepts (256 KiB for SQS).
    #[error("message {index} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Index of the message.
        index: usize,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl Classified for QueueError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Unavailable(_) => FailureClass::Transient,
            Self::TooLarge { .. } => FailureClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "QUEUE_UNAVAILABLE",
            Self::TooLarge { .. } => "MESSAGE_TOO_LARGE",
        }
    }
}

/// Sends messages to a queue.
#[async_trait]
pub trait QueuePublisher: Send + Sync {
    /// Sends all messages (in batches of at most 10) and returns the ones the queue refused.
    ///
    /// # Errors
    /// `TooLarge` before sending anything if a message is over the limit; `Unavailable` when a call fails as a whole.
    async fn publish(&self, queue_url: &str, messages: &[OutboundMessage]) -> Result<Vec<PublishFailure>, QueueError>;
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// Secret errors.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No such secret, or no permission to read it. Permanent: fix the configuration.
    #[error("secret {id} not found or not readable")]
    NotFound {
        /// The secret id/ARN.
        id: String,
    },
    /// The secret exists but its value is not what the reader expects.
    #[error("secret {id} is malformed: {reason}")]
    Malformed {
        /// The secret id/ARN.
        id: String,
        /// What is wrong (never the value).
        reason: String,
    },
    /// Secrets Manager could not be reached.
    #[error("secret store unavailable")]
    Unavailable(#[source] BoxError),
}

impl Classified for SecretError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Unavailable(_) => FailureClass::Transient,
            _ => FailureClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "SECRET_NOT_FOUND",
            Self::Malformed { .. } => "SECRET_MALFORMED",
            Self::Unavailable(_) => "SECRET_STORE_UNAVAILABLE",
        }
    }
}

/// Reads secrets.
#[async_trait]
pub trait SecretProvider: Send + Sync {
    /// The secret's string value.
    ///
    /// # Errors
    /// `NotFound`, `Malformed` (binary-only secret), or `Unavailable`.
    async fn secret(&self, id: &str) -> Result<SecretString, SecretError>;
}

/// Reads a JSON secret into `T`.
///
/// # Errors
/// The provider's errors, or `Malformed` when the value is not the expected JSON (the value is never echoed).
pub async fn secret_json<T: serde::de::DeserializeOwned>(
    provider: &dyn SecretProvider,
    id: &str,
) -> Result<T, SecretError> {
    use secrecy::ExposeSecret;
    let raw = provider.secret(id).await?;
    serde_json::from_str(raw.expose_secret()).map_err(|e| SecretError::Malformed {
        id: id.to_owned(),
        // serde's message names the missing/wrong field but not the value.
        reason: format!(
            "not the expected JSON: {}",
            e.to_string().split(" at line").next().unwrap_or("invalid")
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Salesforce
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// WMS
// ---------------------------------------------------------------------------------------------

/// A line as the WMS will receive it (after SKU and unit mapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WmsOrderLine {
    /// Source line id, for our own records.
    pub source_line_id: SalesforceId,
    /// WMS SKU.
    pub sku: Sku,
    /// WMS unit (Logiwa `packType`).
    pub unit: UnitOfMeasure,
    /// Whole quantity in the WMS unit.
    pub quantity: i32,
    /// Unit price in the order currency.
    pub unit_price: Decimal,
    /// Unit tax.
    pub unit_tax: Decimal,
    /// Description.
    pub description: Option<String>,
}

/// An order mapped into one WMS's codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WmsOrderRequest {
    /// The order code (= source order number). The WMS's duplicate key.
    pub code: String,
    /// Source record id, sent as the client reference.
    pub source_record_id: SalesforceId,
    /// WMS warehouse identifier.
    pub warehouse: LocationCode,
    /// Currency.
    pub currency: CurrencyCode,
    /// Order date.
    #[serde(with = "time::serde::rfc3339")]
    pub ordered_at: OffsetDateTime,
    /// Customer / account name.
    pub customer_name: Option<String>,
    /// Ship-to.
    pub ship_to: Address,
    /// Bill-to (None = same as ship-to).
    pub bill_to: Option<Address>,
    /// WMS carrier identifier, if mapped.
    pub carrier: Option<String>,
    /// WMS shipping option (service) identifier, if mapped.
    pub service: Option<String>,
    /// Lines.
    pub lines: Vec<WmsOrderLine>,
}

/// Errors from a WMS.
#[derive(Debug, thiserror::Error)]
pub enum WmsError {
    /// Credentials refused.
    #[error("{system} refused our credentials: {message}")]
    Unauthorized {
        /// WMS.
        system: &'static str,
        /// Vendor message.
        message: String,
    },
    /// The WMS rejected the request (validation). Permanent until the data or mapping is fixed.
    #[error("{system} rejected the request: {}", .errors.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
    Rejected {
        /// WMS.
        system: &'static str,
        /// Vendor errors, with the failing fields.
        errors: Vec<ApiFieldError>,
    },
    /// Not found.
    #[error("{system}: {what} not found")]
    NotFound {
        /// WMS.
        system: &'static str,
        /// What.
        what: String,
    },
    /// Throttled (429): back off.
    #[error("{system} rate limit reached")]
    RateLimited {
        /// WMS.
        system: &'static str,
        /// Suggested wait, when the vendor gives one.
        retry_after: Option<Duration>,
    },
    /// 5xx or timeout.
    #[error("{system} unavailable: {message}")]
    Unavailable {
        /// WMS.
        system: &'static str,
        /// Detail.
        message: String,
    },
    /// Network failure before any answer.
    #[error("could not reach {system}")]
    Transport {
        /// WMS.
        system: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The answer did not have the documented shape.
    #[error("unexpected {system} response: {message}")]
    Decode {
        /// WMS.
        system: &'static str,
        /// Detail.
        message: String,
    },
    /// Our credentials secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Classified for WmsError {
    fn class(&self) -> FailureClass {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Transport { .. } => FailureClass::Transient,
            Self::Secret(e) => e.class(),
            Self::Unauthorized { .. } | Self::Rejected { .. } | Self::NotFound { .. } | Self::Decode { .. } => {
                FailureClass::Permanent
            }
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "WMS_UNAUTHORIZED",
            Self::Rejected { .. } => "WMS_REJECTED",
            Self::NotFound { .. } => "WMS_NOT_FOUND",
            Self::RateLimited { .. } => "WMS_RATE_LIMITED",
            Self::Unavailable { .. } => "WMS_UNAVAILABLE",
            Self::Transport { .. } => "WMS_TRANSPORT",
            Self::Decode { .. } => "WMS_DECODE",
            Self::Secret(e) => e.code(),
        }
    }
}

impl WmsError {
    /// An owned copy with the same class and code, for fanning one failure out to every record it covered.
    #[must_use]
    pub fn for_each_record(&self) -> Self {
        match self {
            Self::Unauthorized { system, message } => Self::Unauthorized {
                system,
                message: message.clone(),
            },
            Self::Rejected { system, errors } => Self::Rejected {
                system,
                errors: errors.clone(),
            },
            Self::NotFound { system, what } => Self::NotFound {
                system,
                what: what.clone(),
            },
            Self::RateLimited { system, retry_after } => Self::RateLimited {
                system,
                retry_after: *retry_after,
            },
            Self::Unavailable { system, message } => Self::Unavailable {
                system,
                message: message.clone(),
            },
            Self::Transport { system, .. } => Self::Unavailable {
                system,
                message: crate::error::chain(self),
            },
            Self::Decode { system, message } => Self::Decode {
                system,
                message: message.clone(),
            },
            Self::Secret(e) => match e {
                SecretError::NotFound { id } => Self::Secret(SecretError::NotFound { id: id.clone() }),
                SecretError::Malformed { id, reason } => Self::Secret(SecretError::Malformed {
                    id: id.clone(),
                    reason: reason.clone(),
                }),
                SecretError::Unavailable(_) => Self::Unavailable {
                    system: "secrets",
                    message: crate::error::chain(self),
                },
            },
        }
    }
}

/// A warehouse system. One adapter per WMS (Logiwa first; Linnworks and OrderFlow fit the same shape).
#[async_trait]
pub trait WmsConnector: Send + Sync {
    /// Which WMS this is.
    fn system(&self) -> WmsSystem;

    /// How this WMS's order status values map onto the lifecycle.
    fn order_statuses(&self) -> &crate::lifecycle::StatusTable;

    /// Finds an order by the code we created it with (the duplicate check before creating).
    ///
    /// # Errors
    /// Any `WmsError` except `NotFound` (absence is `Ok(None)`).
    async fn find_order(&self, code: &str) -> Result<Option<WmsRef>, WmsError>;

    /// Creates an order.
    ///
    /// # Errors
    /// `Rejected` with the vendor's field errors; transient variants for retry.
    async fn create_order(&self, order: &WmsOrderRequest) -> Result<WmsRef, WmsError>;

    /// Reads what has shipped for an order: one `Shipment` per shipment event/split, with packages and
    /// tracking, and the WMS's own change stamp of the order version it read.
    ///
    /// # Errors
    /// `NotFound` when the order does not exist; transient variants for retry.
    async fn shipments(&self, order: &WmsRef) -> Result<OrderShipments, WmsError>;

    /// The orders this WMS changed during `window`, from its order listing (the poll that catches the
    /// webhooks it gave up on). `Ok(None)` means this WMS cannot list orders by change time.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn order_changes(&self, _window: &ChangeWindow) -> Result<Option<OrderChanges>, WmsError> {
        Ok(None)
    }

    /// Reads current stock for one warehouse, aggregated per SKU (WMS naming), and says whether the
    /// listing is complete: only a complete listing proves a SKU gone by leaving it out.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory(&self, warehouse: &LocationCode) -> Result<InventoryListing, WmsError>;

    /// Reads current stock of one SKU in one warehouse (WMS naming). A complete listing without a
    /// position is the WMS positively reporting the SKU gone from that warehouse.
    ///
    /// The default reads the whole warehouse and keeps the SKU; connectors with a SKU filter override it.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory_of(&self, warehouse: &LocationCode, sku: &Sku) -> Result<InventoryListing, WmsError> {
        let listing = self.inventory(warehouse).await?;
        Ok(InventoryListing {
            positions: listing.positions.into_iter().filter(|p| &p.sku == sku).collect(),
            completeness: listing.completeness,
        })
    }

    /// The SKUs whose stock moved in a warehouse during `window`, from the WMS's transaction feed.
    /// `Ok(None)` means this WMS has no such feed and every poll must list the warehouse in full.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory_changes(
        &self,
        _warehouse: &LocationCode,
        _window: &ChangeWindow,
    ) -> Result<Option<InventoryChanges>, WmsError> {
        Ok(None)
    }
}

/// Whether a paged WMS read can be trusted to be whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Every page was read, the rows add up to the total the WMS announced, and no page contradicted
    /// another.
    Complete,
    /// Something did not add up (a short or empty page before the total, a total that changed between
    /// pages, rows seen twice, a row that could not be attributed). Absence proves nothing.
    Incomplete {
        /// What did not add up, for logs and the poll report (no payload data).
        reason: String,
    },
}

impl Completeness {
    /// True for `Complete`.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete)
    }
}

/// One read of a warehouse's (or one SKU's) stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryListing {
    /// Per-SKU positions in WMS naming, sorted by SKU.
    pub positions: Vec<InventoryPosition>,
    /// Whether the read was whole.
    pub completeness: Completeness,
}

/// The span of stock transactions one poll asks the WMS for, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    /// Start (the last accepted watermark minus the overlap).
    pub from: OffsetDateTime,
    /// End (the poll's start).
    pub to: OffsetDateTime,
}

impl ChangeWindow {
    /// The window a change read makes after a watermark: `[min(mark, now) − overlap, now]`. The
    /// watermark is the start of the last read whose changes were all handed on; the overlap re-reads
    /// changes recorded after that read but stamped before it (two changes sharing a timestamp, one
    /// visible and one not yet). A watermark ahead of the clock (another host's clock, a manual edit)
    /// must not produce an empty window, hence the `min`.
    pub fn after(mark: OffsetDateTime, now: OffsetDateTime, overlap: Duration) -> Self {
        let overlap = time::Duration::try_from(overlap).unwrap_or(time::Duration::MAX);
        let start = mark.min(now);
        Self {
            from: start.checked_sub(overlap).unwrap_or(start),
            to: now,
        }
    }

    /// Whether a transaction stamped `at` belongs to the window. Connectors whose feed filters at a
    /// coarser grain (e.g. whole days) read a wider range and keep the rows this accepts.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from <= at && at <= self.to
    }
}

/// One read of an order's shipments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderShipments {
    /// One per shipment event/split, oldest first.
    pub shipments: Vec<Shipment>,
    /// The WMS's own last-change stamp of the order as read (its clock, not ours), when it gives one:
    /// a later listing row stamped no later than this was already seen by this read.
    pub changed_at: Option<OffsetDateTime>,
}

/// What a WMS's order listing reported for one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChanges {
    /// Orders with a change stamped inside the window, one entry per order.
    pub orders: Vec<ChangedOrder>,
    /// Whether the listing was read whole. An incomplete listing may have missed orders.
    pub completeness: Completeness,
    /// Rows that did not read as orders (skipped; none of them can be one waybill created).
    pub unreadable: usize,
}

/// One order a WMS changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedOrder {
    /// The order.
    pub order: WmsRef,
    /// The WMS's stamp of the change (its clock).
    pub changed_at: OffsetDateTime,
    /// The WMS status name now, when given.
    pub status: Option<String>,
    /// Whether anything of it has shipped (only then is there something to write back).
    pub shipped: bool,
}

/// What a WMS's transaction feed reported for one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryChanges {
    /// WMS SKUs with at least one stock transaction in the window, sorted and without repeats.
    pub skus: Vec<Sku>,
    /// Transactions in the window (after the connector's own filtering).
    pub transactions: usize,
    /// Whether the feed was read whole. An incomplete feed may have missed SKUs.
    pub completeness: Completeness,
}

#[cfg(test)]
mod tests {
    use super::WmsSystem;

    #[test]
    fn a_system_name_read_at_run_time_equals_the_adapters_constant_and_round_trips_through_json() {
        const LW: WmsSystem = WmsSystem::named("logiwa");
        let parsed = WmsSystem::parse("logiwa").expect("valid");
        assert_eq!(parsed, LW);
        let json = serde_json::to_string(&LW).expect("json");
        assert_eq!(json, "\"logiwa\"");
        assert_eq!(serde_json::from_str::<WmsSystem>(&json).expect("back"), LW);
    }

    #[test]
    fn a_malformed_system_name_is_refused_naming_the_field() {
        for bad in ["", "Logiwa", "lo giwa", "logiwa#1", &"x".repeat(33)] {
            let err = WmsSystem::parse(bad).expect_err(bad);
            assert_eq!(err.field, "system");
        }
        assert!(serde_json::from_str::<WmsSystem>("\"LOGIWA\"").is_err());
    }
}

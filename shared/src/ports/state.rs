//! The state stores: cross-references, watermarks, inventory snapshots and the mapping-table source.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::WmsSystem;
use crate::domain::{LocationCode, SalesforceId, Sku, WmsOrderId};
use crate::error::{BoxError, Classified, FailureClass};

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
    async fn load(&self, system: WmsSystem) -> Result<crate::domain::MappingTables, StoreError>;
}

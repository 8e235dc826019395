//! The one item per order: its lifecycle stage with history, the ids in both systems, the last error.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::state::{StoreError, WmsRef};

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

//! inventory-poll: on a schedule, reads stock per warehouse from the WMS — in full on the first run and
//! periodically, otherwise only the SKUs the WMS's change feed names since the watermark — compares it
//! with the positions Salesforce last accepted, sends only the changes (upsert by external id), and
//! advances the warehouse's watermark only once Salesforce has accepted every change.
//!
//! What may be zeroed is decided on the WMS's own listing, never on what happened to map: a position is
//! zeroed only when a whole listing leaves its WMS SKU out, or a whole read of that SKU comes back empty.
//! Positions that fail mapping are reported (`MAPPING_MISSING`, table, value) and left alone, and a guard
//! stops a warehouse's poll that would zero or orphan more than a configured share of its positions.

pub mod config;
pub mod metrics;
pub mod window;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{error, info, info_span, warn, Instrument};
use waybill::domain::{InventoryPosition, LocationCode, Quantity, Sku};
use waybill::error::{chain, Classified, InvocationError};
use waybill::mapping::{CachedMappings, MappingError, MappingTables};
use waybill::ports::{
    Completeness, InventoryRecord, PositionStore, SalesforceApi, SentPosition, WatermarkStore, WmsConnector,
    WmsPositionId,
};

pub use config::Config;
use window::Plan;

/// The function's name.
pub const FUNCTION: &str = "inventory-poll";

/// At most this many distinct mapping problems are listed per warehouse in the report (all are counted).
const MAX_REPORTED_ISSUES: usize = 100;

/// The ports this function drives.
#[derive(Clone)]
pub struct Ports {
    /// The WMS.
    pub wms: Arc<dyn WmsConnector>,
    /// Salesforce.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// Last accepted positions.
    pub positions: Arc<dyn PositionStore>,
    /// Watermarks.
    pub watermarks: Arc<dyn WatermarkStore>,
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

/// Optional input: an operator's manual run.
#[derive(Debug, Default, Deserialize)]
struct PollInput {
    /// Poll only these warehouses.
    #[serde(default)]
    warehouses: Option<Vec<String>>,
    /// Send even what the guard would stop (after checking that the mass zeroing is real).
    #[serde(default, rename = "overrideGuard")]
    override_guard: bool,
}

/// Options of one poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOptions {
    /// Send even when the guard trips (the trip is still reported, marked overridden).
    pub override_guard: bool,
}

/// Which read a warehouse's poll made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReadMode {
    /// The whole warehouse was listed.
    Full,
    /// The change feed was read and only the SKUs it named were re-read.
    Changes,
}

/// One distinct reason positions could not be mapped, with how many positions it hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingIssue {
    /// Stable code: `MAPPING_MISSING` or `MAPPING_INVALID`.
    pub code: String,
    /// The table that has no entry (`sku`, `unit`, `warehouse`), when one is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The unmapped value (a WMS SKU, unit or warehouse), or the invalid field.
    pub value: String,
    /// Positions it hit this poll.
    pub positions: usize,
}

/// Why the guard stopped (or would have stopped) a warehouse's poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardTrip {
    /// Positions Salesforce holds with stock that this poll would set to zero.
    pub would_zero: usize,
    /// Positions Salesforce holds with stock whose WMS SKU is still listed but no longer maps: they
    /// would stop being updated.
    pub would_drop: usize,
    /// Positions Salesforce holds with stock for the warehouse (the base of the share).
    pub positions: usize,
    /// (would_zero + would_drop) / positions.
    #[serde(with = "rust_decimal::serde::float")]
    pub share: Decimal,
    /// The configured limit (`INVENTORY_MAX_ZERO_SHARE`).
    #[serde(with = "rust_decimal::serde::float")]
    pub max_share: Decimal,
    /// True when the invocation asked to send anyway (`overrideGuard`) and the changes were sent.
    pub overridden: bool,
}

/// What one warehouse's poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseReport {
    /// WMS warehouse.
    pub warehouse: String,
    /// Full listing or change feed (absent when the warehouse failed before reading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReadMode>,
    /// Why the warehouse was listed in full: `firstRun`, `periodic`, `behind`, `noChangeFeed`,
    /// `changeFeedIncomplete`, `tooManyChanges`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_reason: Option<String>,
    /// Change-feed transactions in the window (change mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<usize>,
    /// Positions read from the WMS.
    pub read: usize,
    /// Positions that differ from what Salesforce last accepted (including ones that went to zero).
    pub changed: usize,
    /// Of those, positions going to zero on hand.
    pub zeroed: usize,
    /// Accepted by Salesforce.
    pub accepted: usize,
    /// Rejected by Salesforce (resent on the next poll).
    pub rejected: usize,
    /// Positions skipped because a SKU, unit or location has no mapping: neither sent nor zeroed.
    pub unmapped: usize,
    /// The distinct mapping problems behind `unmapped`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping_errors: Vec<MappingIssue>,
    /// Positions Salesforce holds whose WMS SKU is listed but no longer maps: left as they are.
    pub dropped: usize,
    /// SKUs the feed named whose re-read was not whole: not sent, and the watermark holds for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete_skus: Vec<String>,
    /// Set when the guard tripped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_tripped: Option<GuardTrip>,
    /// Whether the watermark moved.
    pub watermark_advanced: bool,
    /// Set when the warehouse could not be polled at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's stable code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// What a poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    /// Per warehouse.
    pub warehouses: Vec<WarehouseReport>,
}

/// Which WMS SKUs a read speaks for: a SKU it covers but does not list is gone.
#[derive(Debug)]
enum Coverage {
    /// A whole listing of the warehouse.
    All,
    /// Whole reads of these SKUs only.
    Only(BTreeSet<Sku>),
}

impl Coverage {
    fn covers(&self, sku: &Sku) -> bool {
        match self {
            Self::All => true,
            Self::Only(skus) => skus.contains(sku),
        }
    }
}

/// The outcome of the WMS side of one poll.
#[derive(Debug)]
struct Read {
    mode: ReadMode,
    full_reason: Option<String>,
    transactions: Option<usize>,
    /// Positions from whole reads only (WMS naming).
    positions: Vec<InventoryPosition>,
    coverage: Coverage,
    /// SKUs whose re-read was not whole, with why.
    incomplete: Vec<(Sku, String)>,
}

/// A position about to be sent, with what the snapshot will remember once Salesforce accepts it.
#[derive(Debug)]
struct Outgoing {
    record: InventoryRecord,
    sent: SentPosition,
}

impl App {
    /// Handles one scheduled invocation.
    ///
    /// # Errors
    /// `InvocationError` when any warehouse could not be polled, after all the others were, so the
    /// scheduler's retry policy (and then its DLQ) sees the failure. Retrying is cheap: warehouses that
    /// succeeded have no changes left to send.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        let input: PollInput = serde_json::from_value(event.payload).unwrap_or_default();
        let warehouses = input.warehouses.unwrap_or_else(|| self.config.warehouses.clone());
        let options = PollOptions {
            override_guard: input.override_guard,
        };
        let report = waybill::deadline::scope(
            event.context.deadline,
            self.poll_with(&warehouses, OffsetDateTime::now_utc(), options),
        )
        .await;
        if let Some(failed) = report.warehouses.iter().find(|w| w.error.is_some()) {
            return Err(InvocationError::new(
                "INVENTORY_POLL_FAILED",
                format!(
                    "warehouse {}: {}",
                    failed.warehouse,
                    failed.error.as_deref().unwrap_or("")
                ),
            ));
        }
        serde_json::to_value(report).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
    }

    /// Polls warehouses one after another with default options.
    pub async fn poll(&self, warehouses: &[String], started_at: OffsetDateTime) -> PollReport {
        self.poll_with(warehouses, started_at, PollOptions::default()).await
    }

    /// Polls warehouses one after another (WMS rate limits are per account; parallel polls would only queue).
    pub async fn poll_with(
        &self,
        warehouses: &[String],
        started_at: OffsetDateTime,
        options: PollOptions,
    ) -> PollReport {
        let mut report = PollReport::default();
        for wh in warehouses {
            let span = info_span!("warehouse", warehouse = %wh);
            let r = async {
                match self.poll_one(wh, started_at, options).await {
                    Ok(r) => r,
                    Err(e) => {
                        error!(error.code = e.code(), error.message = %chain(e.as_ref()), "warehouse poll failed");
                        WarehouseReport {
                            warehouse: wh.clone(),
                            error: Some(chain(e.as_ref())),
                            error_code: Some(e.code().to_owned()),
                            ..WarehouseReport::default()
                        }
                    }
                }
            }
            .instrument(span)
            .await;
            report.warehouses.push(r);
        }
        report
    }

    fn window_settings(&self) -> window::Settings {
        window::Settings {
            overlap: self.config.changes_overlap,
            full_scan_every: self.config.full_scan_every,
        }
    }

    async fn poll_one(
        &self,
        warehouse: &str,
        started_at: OffsetDateTime,
        options: PollOptions,
    ) -> Result<WarehouseReport, Box<PollError>> {
        let mut r = WarehouseReport {
            warehouse: warehouse.to_owned(),
            ..WarehouseReport::default()
        };
        let store = |e| Box::new(PollError::Store(e));
        let code = LocationCode::parse(warehouse).map_err(|e| Box::new(PollError::Config(e.to_string())))?;
        let scope = format!("{}#{}", self.ports.wms.system().as_str(), warehouse);
        let stream = format!("inventory#{scope}");
        let full_stream = format!("inventory-full#{scope}");
        let tables = self.ports.mappings.get(self.ports.wms.system()).await.map_err(store)?;

        let mark = self.ports.watermarks.get(&stream).await.map_err(store)?;
        let last_full = self.ports.watermarks.get(&full_stream).await.map_err(store)?;
        let plan = window::plan(mark, last_full, started_at, &self.window_settings());
        let read = self.read(&code, plan).await?;
        r.mode = Some(read.mode);
        r.full_reason.clone_from(&read.full_reason);
        r.transactions = read.transactions;
        r.read = read.positions.len();
        r.incomplete_skus = read.incomplete.iter().map(|(s, _)| s.to_string()).collect();

        let previous = self.ports.positions.load(&scope).await.map_err(store)?;

        // Map what the WMS listed into Salesforce naming; remember every WMS SKU listed, mapped or not.
        let mut current: BTreeMap<String, Outgoing> = BTreeMap::new();
        let mut listed: BTreeSet<Sku> = BTreeSet::new();
        let mut unmapped: BTreeSet<Sku> = BTreeSet::new();
        let mut issues: BTreeMap<(String, Option<String>, String), usize> = BTreeMap::new();
        for p in &read.positions {
            listed.insert(p.sku.clone());
            match to_salesforce(p, &tables) {
                Ok(record) => {
                    let sent = SentPosition {
                        fingerprint: fingerprint(&record.position),
                        wms: Some(WmsPositionId {
                            sku: p.sku.clone(),
                            location: code.clone(),
                        }),
                    };
                    if current.contains_key(&record.key) {
                        warn!(position.key = %record.key, wms_sku = %p.sku, "two WMS SKUs map to one position; the later one wins");
                    }
                    current.insert(record.key.clone(), Outgoing { record, sent });
                }
                Err(e) => {
                    r.unmapped += 1;
                    unmapped.insert(p.sku.clone());
                    let (table, value) = match &e {
                        MappingError::Missing { table, value, .. } => (Some((*table).to_owned()), value.clone()),
                        MappingError::Invalid(v) => (None, v.field.clone()),
                    };
                    warn!(
                        wms_sku = %p.sku,
                        error.code = e.code(),
                        mapping.table = table.as_deref().unwrap_or(""),
                        mapping.value = %value,
                        "position not sent: no mapping"
                    );
                    *issues.entry((e.code().to_owned(), table, value)).or_default() += 1;
                }
            }
        }
        r.mapping_errors = issues
            .into_iter()
            .take(MAX_REPORTED_ISSUES)
            .map(|((code, table, value), positions)| MappingIssue {
                code,
                table,
                value,
                positions,
            })
            .collect();

        // What Salesforce holds that this read did not produce: gone (zero it), orphaned by a lost mapping
        // (leave it, count it), or simply not read this time (leave it).
        let mut zeros: Vec<Outgoing> = Vec::new();
        let mut dropped = 0usize;
        let mut dropped_with_stock = 0usize;
        for (key, sent) in &previous {
            if current.contains_key(key) {
                continue;
            }
            let wms = sent.wms.clone().or_else(|| legacy_identity(key, &code, &tables));
            let Some(wms) = wms else {
                // An old snapshot item whose WMS SKU cannot be worked out: never zero on a guess.
                continue;
            };
            if listed.contains(&wms.sku) {
                if unmapped.contains(&wms.sku) {
                    dropped += 1;
                    dropped_with_stock += usize::from(!is_zero_fingerprint(&sent.fingerprint));
                    warn!(position.key = %key, wms_sku = %wms.sku, "position kept as it is: its WMS SKU no longer maps");
                }
                continue;
            }
            if !read.coverage.covers(&wms.sku) {
                continue;
            }
            if let Some(record) = zero_record(key, &sent.fingerprint, started_at) {
                let fingerprint = fingerprint(&record.position);
                if fingerprint != sent.fingerprint {
                    zeros.push(Outgoing {
                        record,
                        sent: SentPosition {
                            fingerprint,
                            wms: Some(wms),
                        },
                    });
                }
            }
        }
        r.dropped = dropped;

        // Changed positions are sent; unchanged ones whose snapshot item lacks (or has another) WMS identity
        // are re-saved without a Salesforce call, which migrates old items as the warehouse is read.
        let mut outgoing: Vec<Outgoing> = Vec::new();
        let mut relabel: Vec<(String, SentPosition)> = Vec::new();
        for (key, o) in current {
            match previous.get(&key) {
                Some(p) if p.fingerprint == o.sent.fingerprint => {
                    if p.wms != o.sent.wms {
                        relabel.push((key, o.sent));
                    }
                }
                _ => outgoing.push(o),
            }
        }
        outgoing.extend(zeros);
        let would_zero = outgoing
            .iter()
            .filter(|o| o.record.position.on_hand.value().is_zero())
            .filter(|o| {
                previous
                    .get(&o.record.key)
                    .is_some_and(|p| !is_zero_fingerprint(&p.fingerprint))
            })
            .count();
        r.changed = outgoing.len();
        r.zeroed = outgoing
            .iter()
            .filter(|o| o.record.position.on_hand.value().is_zero())
            .count();

        // The guard's base is what Salesforce holds with stock: positions already at zero cannot be
        // lost again, and counting them would dilute the share of real stock a poll is about to wipe.
        let with_stock = previous
            .values()
            .filter(|p| !is_zero_fingerprint(&p.fingerprint))
            .count();
        if let Some(mut trip) = self.guard(would_zero, dropped_with_stock, with_stock) {
            warn!(
                guard.would_zero = trip.would_zero,
                guard.would_drop = trip.would_drop,
                guard.positions = trip.positions,
                guard.share = %trip.share,
                guard.max_share = %trip.max_share,
                guard.overridden = options.override_guard,
                "inventory guard tripped: the poll would zero or orphan too many positions"
            );
            if !options.override_guard {
                metrics::emit(&metrics::guard_tripped(
                    &self.config.environment,
                    warehouse,
                    &trip,
                    started_at,
                ));
                r.guard_tripped = Some(trip);
                info!(
                    changed = r.changed,
                    "nothing sent for this warehouse; the watermark holds"
                );
                return Ok(r);
            }
            trip.overridden = true;
            r.guard_tripped = Some(trip);
        }

        let mut save = relabel;
        if !outgoing.is_empty() {
            let records: Vec<InventoryRecord> = outgoing.iter().map(|o| o.record.clone()).collect();
            let outcomes = self
                .ports
                .salesforce
                .upsert_inventory(&records)
                .await
                .map_err(|e| Box::new(PollError::Salesforce(e)))?;
            for (o, outcome) in outgoing.into_iter().zip(outcomes) {
                match outcome {
                    Ok(_) => {
                        r.accepted += 1;
                        save.push((o.record.key, o.sent));
                    }
                    Err(errors) => {
                        r.rejected += 1;
                        warn!(position.key = %o.record.key, errors = ?errors.iter().map(|e| &e.code).collect::<Vec<_>>(), "position rejected by salesforce");
                    }
                }
            }
        }
        if !save.is_empty() {
            self.ports.positions.save(&scope, &save).await.map_err(store)?;
        }

        // Advance only when everything read was whole and everything changed was accepted: a rejected
        // position, or a SKU whose re-read did not add up, keeps the watermark where it was, so the next
        // feed read covers those changes again (and dashboards show the warehouse as behind).
        if r.rejected == 0 && read.incomplete.is_empty() {
            let to = window::next_watermark(started_at);
            let moved = self.ports.watermarks.advance(&stream, to).await.map_err(store)?;
            r.watermark_advanced = matches!(moved, waybill::ports::Advance::Moved);
            if read.mode == ReadMode::Full {
                self.ports.watermarks.advance(&full_stream, to).await.map_err(store)?;
            }
        } else {
            for (sku, reason) in &read.incomplete {
                warn!(wms_sku = %sku, reason = %reason, "re-read of a changed SKU did not add up; not sent");
            }
        }
        info!(
            mode = ?read.mode,
            full_reason = read.full_reason.as_deref().unwrap_or(""),
            transactions = read.transactions.unwrap_or(0),
            read = r.read,
            changed = r.changed,
            zeroed = r.zeroed,
            accepted = r.accepted,
            rejected = r.rejected,
            unmapped = r.unmapped,
            dropped = r.dropped,
            incomplete_skus = read.incomplete.len(),
            watermark_advanced = r.watermark_advanced,
            "warehouse polled"
        );
        Ok(r)
    }

    /// The guard: `Some` when zeroing plus orphaning would exceed the configured share of the positions
    /// Salesforce holds with stock. An empty snapshot (first run) has nothing to lose.
    fn guard(&self, would_zero: usize, would_drop: usize, positions: usize) -> Option<GuardTrip> {
        if positions == 0 {
            return None;
        }
        let hit = Decimal::from(would_zero + would_drop);
        let base = Decimal::from(positions);
        if hit <= self.config.max_zero_share * base {
            return None;
        }
        Some(GuardTrip {
            would_zero,
            would_drop,
            positions,
            share: (hit / base).round_dp(4),
            max_share: self.config.max_zero_share,
            overridden: false,
        })
    }

    /// Reads the WMS side as planned, falling back to a full listing when the feed cannot be used.
    async fn read(&self, warehouse: &LocationCode, plan: Plan) -> Result<Read, Box<PollError>> {
        let wms = self.ports.wms.as_ref();
        let wms_err = |e| Box::new(PollError::Wms(e));
        let window = match plan {
            Plan::Full(reason) => return self.read_full(warehouse, reason.as_str()).await,
            Plan::Changes(window) => window,
        };
        let Some(changes) = wms.inventory_changes(warehouse, &window).await.map_err(wms_err)? else {
            return self.read_full(warehouse, "noChangeFeed").await;
        };
        if let Completeness::Incomplete { reason } = &changes.completeness {
            warn!(reason = %reason, "change feed did not add up; listing the warehouse in full");
            return self.read_full(warehouse, "changeFeedIncomplete").await;
        }
        if changes.skus.len() > self.config.changes_max_skus {
            info!(
                skus = changes.skus.len(),
                limit = self.config.changes_max_skus,
                "many SKUs changed; listing the warehouse in full"
            );
            return self.read_full(warehouse, "tooManyChanges").await;
        }
        let mut positions = Vec::new();
        let mut covered = BTreeSet::new();
        let mut incomplete = Vec::new();
        for sku in changes.skus {
            let listing = wms.inventory_of(warehouse, &sku).await.map_err(wms_err)?;
            match listing.completeness {
                Completeness::Complete => {
                    positions.extend(listing.positions.into_iter().filter(|p| p.sku == sku));
                    covered.insert(sku);
                }
                Completeness::Incomplete { reason } => incomplete.push((sku, reason)),
            }
        }
        Ok(Read {
            mode: ReadMode::Changes,
            full_reason: None,
            transactions: Some(changes.transactions),
            positions,
            coverage: Coverage::Only(covered),
            incomplete,
        })
    }

    /// A full listing. One that does not add up fails the warehouse: its per-SKU sums may be short
    /// (a SKU's rows can sit on the missing page), so not even the positions it did return are sent.
    async fn read_full(&self, warehouse: &LocationCode, reason: &str) -> Result<Read, Box<PollError>> {
        let listing = self
            .ports
            .wms
            .inventory(warehouse)
            .await
            .map_err(|e| Box::new(PollError::Wms(e)))?;
        if let Completeness::Incomplete { reason } = listing.completeness {
            return Err(Box::new(PollError::ListingIncomplete { reason }));
        }
        Ok(Read {
            mode: ReadMode::Full,
            full_reason: Some(reason.to_owned()),
            transactions: None,
            positions: listing.positions,
            coverage: Coverage::All,
            incomplete: Vec::new(),
        })
    }
}

/// Why a warehouse could not be polled.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The full listing did not add up (a short or empty page against its total, a total that moved).
    /// Nothing was sent; the next poll lists again.
    #[error("the warehouse listing is not whole: {reason}")]
    ListingIncomplete {
        /// What did not add up.
        reason: String,
    },
    /// WMS failure.
    #[error(transparent)]
    Wms(waybill::ports::WmsError),
    /// Salesforce failure.
    #[error(transparent)]
    Salesforce(waybill::ports::SalesforceError),
    /// State store failure.
    #[error(transparent)]
    Store(waybill::ports::StoreError),
}

impl Classified for PollError {
    fn class(&self) -> waybill::error::FailureClass {
        match self {
            Self::Config(_) => waybill::error::FailureClass::Permanent,
            Self::ListingIncomplete { .. } => waybill::error::FailureClass::Transient,
            Self::Wms(e) => e.class(),
            Self::Salesforce(e) => e.class(),
            Self::Store(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "CONFIG_INVALID",
            Self::ListingIncomplete { .. } => "INVENTORY_LISTING_INCOMPLETE",
            Self::Wms(e) => e.code(),
            Self::Salesforce(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

/// Position key = Salesforce location + SKU; also the external id value in Salesforce.
fn position_key(location: &str, sku: &str) -> String {
    format!("{location}#{sku}")
}

/// Maps a WMS position (WMS SKU, unit, warehouse) into Salesforce naming and units.
fn to_salesforce(p: &InventoryPosition, tables: &MappingTables) -> Result<InventoryRecord, MappingError> {
    let sku = tables.source_sku(&p.sku)?;
    let location = tables.source_location(&p.location)?;
    let (unit, factor) = tables.source_unit(p.on_hand.unit())?;
    let conv = |q: &Quantity| Quantity::new((q.value() / factor).round_dp(4), unit.clone());
    let position = InventoryPosition {
        sku: sku.clone(),
        location: location.clone(),
        on_hand: conv(&p.on_hand)?,
        available: conv(&p.available)?,
        as_of: p.as_of,
    };
    Ok(InventoryRecord {
        key: position_key(location.as_str(), sku.as_str()),
        position,
    })
}

/// The WMS side of a snapshot item saved before identities were recorded, worked out from the SKU table —
/// only when the mapping leads back to the same Salesforce SKU (a table can map both ways differently).
fn legacy_identity(key: &str, warehouse: &LocationCode, tables: &MappingTables) -> Option<WmsPositionId> {
    let (_, sf_sku) = key.split_once('#')?;
    let sf_sku = Sku::parse(sf_sku).ok()?;
    let wms_sku = tables.wms_sku(&sf_sku).ok()?;
    (tables.source_sku(&wms_sku).ok()? == sf_sku).then(|| WmsPositionId {
        sku: wms_sku,
        location: warehouse.clone(),
    })
}

/// What makes a position "changed": quantities and unit, not the as-of time. Stored as
/// `<hash>|<unit>` so a position that disappears can be zeroed in the unit Salesforce last saw.
fn fingerprint(p: &InventoryPosition) -> String {
    fingerprint_of(p.on_hand.value(), p.available.value(), p.on_hand.unit().as_str())
}

fn fingerprint_of(on_hand: Decimal, available: Decimal, unit: &str) -> String {
    let raw = format!("{}|{}|{}", on_hand.normalize(), available.normalize(), unit);
    format!("{}|{}", hex::encode(&Sha256::digest(raw.as_bytes())[..12]), unit)
}

/// Whether a stored fingerprint is that of a zero position (so sending zero again is no new zeroing).
fn is_zero_fingerprint(fp: &str) -> bool {
    fp.split_once('|')
        .is_some_and(|(_, unit)| fingerprint_of(Decimal::ZERO, Decimal::ZERO, unit) == fp)
}

/// A zero position for a key Salesforce still holds but the WMS reports gone.
fn zero_record(key: &str, previous_fingerprint: &str, as_of: OffsetDateTime) -> Option<InventoryRecord> {
    let (location, sku) = key.split_once('#')?;
    let unit = waybill::domain::UnitOfMeasure::parse(previous_fingerprint.split_once('|')?.1).ok()?;
    let zero = Quantity::new(Decimal::ZERO, unit).ok()?;
    Some(InventoryRecord {
        key: key.to_owned(),
        position: InventoryPosition {
            sku: Sku::parse(sku).ok()?,
            location: LocationCode::parse(location).ok()?,
            on_hand: zero.clone(),
            available: zero,
            as_of,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_fingerprint_is_recognised_in_its_unit_only() {
        assert!(is_zero_fingerprint(&fingerprint_of(
            Decimal::ZERO,
            Decimal::ZERO,
            "Each"
        )));
        assert!(!is_zero_fingerprint(&fingerprint_of(
            Decimal::ONE,
            Decimal::ZERO,
            "Each"
        )));
        assert!(!is_zero_fingerprint("garbage"));
    }

    #[test]
    fn the_fingerprint_format_is_unchanged_so_existing_snapshots_still_compare_equal() {
        // Same hash input and layout as before the change feed: `<12-byte hex>|<unit>`.
        let fp = fingerprint_of(Decimal::from(40), Decimal::from(40), "Each");
        let raw = "40|40|Each";
        let expected = format!("{}|Each", hex::encode(&Sha256::digest(raw.as_bytes())[..12]));
        assert_eq!(fp, expected);
    }

    #[test]
    fn an_old_snapshot_item_gets_a_wms_identity_only_when_the_mapping_leads_back_to_it() {
        let wh = LocationCode::parse("W").expect("wh");
        let mut tables = MappingTables::default();
        tables.sku.passthrough = true;
        assert_eq!(
            legacy_identity("WH1#SKU-1", &wh, &tables).map(|i| i.sku.to_string()),
            Some("SKU-1".into())
        );
        // SKU-1 → W-9 one way, but W-9 comes back as A-0 (the smallest source wins): no guess.
        tables.sku.entries.insert(
            "SKU-1".into(),
            waybill::mapping::Target {
                value: "W-9".into(),
                factor: None,
                service: None,
            },
        );
        tables.sku.entries.insert(
            "A-0".into(),
            waybill::mapping::Target {
                value: "W-9".into(),
                factor: None,
                service: None,
            },
        );
        assert_eq!(legacy_identity("WH1#SKU-1", &wh, &tables), None);
        assert_eq!(legacy_identity("no-separator", &wh, &tables), None);
    }
}

//! inventory-poll: on a schedule, reads stock per warehouse from the WMS, compares it with the positions
//! Salesforce last accepted, sends only the changes (upsert by external id), and advances the warehouse's
//! watermark only once Salesforce has accepted every change.

pub mod config;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{error, info, info_span, warn, Instrument};
use waybill::domain::{InventoryPosition, LocationCode, Quantity};
use waybill::error::{chain, Classified, InvocationError};
use waybill::mapping::{CachedMappings, MappingTables};
use waybill::ports::{InventoryRecord, PositionStore, SalesforceApi, WatermarkStore, WmsConnector};

pub use config::Config;

/// The function's name.
pub const FUNCTION: &str = "inventory-poll";

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

/// Optional input: poll only these warehouses (an operator's manual run).
#[derive(Debug, Default, Deserialize)]
struct PollInput {
    #[serde(default)]
    warehouses: Option<Vec<String>>,
}

/// What one warehouse's poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseReport {
    /// WMS warehouse.
    pub warehouse: String,
    /// Positions read from the WMS.
    pub read: usize,
    /// Positions that differ from what Salesforce last accepted (including ones that went to zero).
    pub changed: usize,
    /// Accepted by Salesforce.
    pub accepted: usize,
    /// Rejected by Salesforce (resent on the next poll).
    pub rejected: usize,
    /// Skipped because a SKU, unit or location has no mapping.
    pub unmapped: usize,
    /// Whether the watermark moved.
    pub watermark_advanced: bool,
    /// Set when the warehouse could not be polled at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    /// Per warehouse.
    pub warehouses: Vec<WarehouseReport>,
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
        let report = waybill::deadline::scope(
            event.context.deadline,
            self.poll(&warehouses, OffsetDateTime::now_utc()),
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

    /// Polls warehouses one after another (WMS rate limits are per account; parallel polls would only queue).
    pub async fn poll(&self, warehouses: &[String], started_at: OffsetDateTime) -> PollReport {
        let mut report = PollReport::default();
        for wh in warehouses {
            let span = info_span!("warehouse", warehouse = %wh);
            let r = async {
                match self.poll_one(wh, started_at).await {
                    Ok(r) => r,
                    Err(e) => {
                        error!(error.code = e.code(), error.message = %chain(e.as_ref()), "warehouse poll failed");
                        WarehouseReport {
                            warehouse: wh.clone(),
                            error: Some(chain(e.as_ref())),
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

    async fn poll_one(&self, warehouse: &str, started_at: OffsetDateTime) -> Result<WarehouseReport, Box<PollError>> {
        let mut r = WarehouseReport {
            warehouse: warehouse.to_owned(),
            ..WarehouseReport::default()
        };
        let wms = self.ports.wms.as_ref();
        let code = LocationCode::parse(warehouse).map_err(|e| Box::new(PollError::Config(e.to_string())))?;
        let scope = format!("{}#{}", wms.system().as_str(), warehouse);
        let tables = self
            .ports
            .mappings
            .get()
            .await
            .map_err(|e| Box::new(PollError::Store(e)))?;

        let positions = wms
            .inventory(&code)
            .await
            .map_err(|e| Box::new(PollError::Wms(e)))?
            .positions;
        r.read = positions.len();
        let previous: std::collections::HashMap<String, String> = self
            .ports
            .positions
            .load(&scope)
            .await
            .map_err(|e| Box::new(PollError::Store(e)))?
            .into_iter()
            .map(|(k, p)| (k, p.fingerprint))
            .collect();

        // Map to Salesforce naming and fingerprint each position.
        let mut current: BTreeMap<String, (InventoryRecord, String)> = BTreeMap::new();
        for p in positions {
            match to_salesforce(&p, &tables) {
                Ok(rec) => {
                    let fp = fingerprint(&rec.position);
                    current.insert(rec.key.clone(), (rec, fp));
                }
                Err(e) => {
                    r.unmapped += 1;
                    warn!(sku = %p.sku, error.message = %e, "position skipped: no mapping");
                }
            }
        }
        // A position Salesforce has but the WMS no longer lists has gone to zero.
        for (key, old_fp) in &previous {
            if current.contains_key(key) {
                continue;
            }
            if let Some(rec) = zero_record(key, old_fp, started_at) {
                let fp = fingerprint(&rec.position);
                if &fp != old_fp {
                    current.insert(key.clone(), (rec, fp));
                }
            }
        }

        let changed: Vec<(InventoryRecord, String)> = current
            .into_values()
            .filter(|(rec, fp)| previous.get(&rec.key) != Some(fp))
            .collect();
        r.changed = changed.len();
        if !changed.is_empty() {
            let records: Vec<InventoryRecord> = changed.iter().map(|(rec, _)| rec.clone()).collect();
            let outcomes = self
                .ports
                .salesforce
                .upsert_inventory(&records)
                .await
                .map_err(|e| Box::new(PollError::Salesforce(e)))?;
            let mut accepted = Vec::new();
            for ((rec, fp), outcome) in changed.iter().zip(outcomes) {
                match outcome {
                    Ok(_) => accepted.push((
                        rec.key.clone(),
                        waybill::ports::SentPosition {
                            fingerprint: fp.clone(),
                            wms: None,
                        },
                    )),
                    Err(errors) => {
                        r.rejected += 1;
                        warn!(key = %rec.key, errors = ?errors.iter().map(|e| &e.code).collect::<Vec<_>>(), "position rejected by salesforce");
                    }
                }
            }
            r.accepted = accepted.len();
            self.ports
                .positions
                .save(&scope, &accepted)
                .await
                .map_err(|e| Box::new(PollError::Store(e)))?;
        }
        // Advance only when everything changed was accepted: a rejected position keeps the warehouse's
        // watermark where it was, so dashboards show the warehouse as behind until it goes through.
        if r.rejected == 0 {
            let stream = format!("inventory#{scope}");
            let moved = self
                .ports
                .watermarks
                .advance(&stream, started_at)
                .await
                .map_err(|e| Box::new(PollError::Store(e)))?;
            r.watermark_advanced = matches!(moved, waybill::ports::Advance::Moved);
        }
        info!(
            read = r.read,
            changed = r.changed,
            accepted = r.accepted,
            rejected = r.rejected,
            unmapped = r.unmapped,
            "warehouse polled"
        );
        Ok(r)
    }
}

/// Why a warehouse could not be polled.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Bad configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
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
            Self::Wms(e) => e.class(),
            Self::Salesforce(e) => e.class(),
            Self::Store(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "CONFIG_INVALID",
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
fn to_salesforce(
    p: &InventoryPosition,
    tables: &MappingTables,
) -> Result<InventoryRecord, waybill::mapping::MappingError> {
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

/// What makes a position "changed": quantities and unit, not the as-of time. Stored as
/// `<hash>|<unit>` so a position that disappears can be zeroed in the unit Salesforce last saw.
fn fingerprint(p: &InventoryPosition) -> String {
    let raw = format!(
        "{}|{}|{}",
        p.on_hand.value().normalize(),
        p.available.value().normalize(),
        p.on_hand.unit()
    );
    format!(
        "{}|{}",
        hex::encode(&Sha256::digest(raw.as_bytes())[..12]),
        p.on_hand.unit()
    )
}

/// A zero position for a key Salesforce still holds but the WMS no longer lists.
fn zero_record(key: &str, previous_fingerprint: &str, as_of: OffsetDateTime) -> Option<InventoryRecord> {
    let (location, sku) = key.split_once('#')?;
    let unit = waybill::domain::UnitOfMeasure::parse(previous_fingerprint.split_once('|')?.1).ok()?;
    let zero = Quantity::new(Decimal::ZERO, unit).ok()?;
    Some(InventoryRecord {
        key: key.to_owned(),
        position: InventoryPosition {
            sku: waybill::domain::Sku::parse(sku).ok()?,
            location: LocationCode::parse(location).ok()?,
            on_hand: zero.clone(),
            available: zero,
            as_of,
        },
    })
}

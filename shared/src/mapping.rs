//! Mapping tables (SKU, unit of measure, warehouse, carrier/service) and the order mapping that applies them.
//!
//! Tables are data, not code: operators edit them in the state table (`pk = map#<table>`) without a deploy.
//! A table either rejects unmapped values (the record is parked with `MAPPING_MISSING` and the value) or,
//! when marked `passthrough`, lets them through unchanged (typical for SKUs that are identical on both sides).

use rust_decimal::Decimal;

use crate::domain::{LocationCode, Order, Sku, UnitOfMeasure, ValidationError};
pub use crate::domain::{MappingTables, Table, TableName, Target};
use crate::error::{Classified, FailureClass};
use crate::ports::{WmsOrderLine, WmsOrderRequest};

impl Table {
    fn forward(&self, source: &str) -> Option<Target> {
        match self.entries.get(source) {
            Some(t) => Some(t.clone()),
            None if self.passthrough => Some(Target {
                value: source.to_owned(),
                factor: None,
                service: None,
            }),
            None => None,
        }
    }

    fn reverse(&self, target: &str) -> Option<String> {
        self.entries
            .iter()
            .filter(|(_, t)| t.value == target)
            .map(|(s, _)| s.clone())
            // Deterministic when several sources map to one target: the smallest wins.
            .min()
            .or_else(|| self.passthrough.then(|| target.to_owned()))
    }
}

/// A value could not be mapped. Permanent: fix the table, then redrive the parked record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// No entry and the table is not passthrough.
    #[error("no {table} mapping for '{value}' (field {field})")]
    Missing {
        /// Table.
        table: &'static str,
        /// The unmapped value.
        value: String,
        /// Where it came from.
        field: String,
    },
    /// The mapped value is not valid on the other side (e.g. 2.5 units for a WMS that only takes whole units).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl Classified for MappingError {
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "MAPPING_MISSING",
            Self::Invalid(_) => "MAPPING_INVALID",
        }
    }
}

impl MappingTables {
    /// The table by name.
    pub fn table(&self, name: TableName) -> &Table {
        match name {
            TableName::Sku => &self.sku,
            TableName::Unit => &self.unit,
            TableName::Warehouse => &self.warehouse,
            TableName::Carrier => &self.carrier,
        }
    }

    /// Mutable table by name (used by loaders).
    pub fn table_mut(&mut self, name: TableName) -> &mut Table {
        match name {
            TableName::Sku => &mut self.sku,
            TableName::Unit => &mut self.unit,
            TableName::Warehouse => &mut self.warehouse,
            TableName::Carrier => &mut self.carrier,
        }
    }

    fn require(&self, name: TableName, value: &str, field: String) -> Result<Target, MappingError> {
        self.table(name).forward(value).ok_or_else(|| MappingError::Missing {
            table: name.as_str(),
            value: value.to_owned(),
            field,
        })
    }

    /// WMS SKU → source SKU (for shipments and inventory coming back).
    ///
    /// # Errors
    /// `Missing` when no entry maps to it and the table is not passthrough.
    pub fn source_sku(&self, wms_sku: &Sku) -> Result<Sku, MappingError> {
        let s = self
            .sku
            .reverse(wms_sku.as_str())
            .ok_or_else(|| MappingError::Missing {
                table: "sku",
                value: wms_sku.to_string(),
                field: "sku".into(),
            })?;
        Ok(Sku::parse(&s)?)
    }

    /// WMS warehouse → source location (for inventory coming back).
    ///
    /// # Errors
    /// `Missing` when no entry maps to it and the table is not passthrough.
    pub fn source_location(&self, wms_warehouse: &LocationCode) -> Result<LocationCode, MappingError> {
        let s = self
            .warehouse
            .reverse(wms_warehouse.as_str())
            .ok_or_else(|| MappingError::Missing {
                table: "warehouse",
                value: wms_warehouse.to_string(),
                field: "warehouse".into(),
            })?;
        Ok(LocationCode::parse(&s)?)
    }

    /// Source unit for a WMS unit, with the factor to divide WMS quantities by.
    ///
    /// # Errors
    /// `Missing` when no entry maps to it and the table is not passthrough.
    pub fn source_unit(&self, wms_unit: &UnitOfMeasure) -> Result<(UnitOfMeasure, Decimal), MappingError> {
        // Several source units may map to one WMS unit (Each → Unit, Case → Unit ×12): coming back,
        // the unit with factor 1 is the faithful one.
        let identity = self
            .unit
            .entries
            .iter()
            .filter(|(_, t)| t.value == wms_unit.as_str() && t.factor.is_none_or(|f| f == Decimal::ONE))
            .map(|(s, _)| s.clone())
            .min();
        let source = identity
            .or_else(|| self.unit.reverse(wms_unit.as_str()))
            .ok_or_else(|| MappingError::Missing {
                table: "unit",
                value: wms_unit.to_string(),
                field: "unit".into(),
            })?;
        let factor = self
            .unit
            .entries
            .get(&source)
            .and_then(|t| t.factor)
            .unwrap_or(Decimal::ONE);
        Ok((UnitOfMeasure::parse(&source)?, factor))
    }

    /// Source SKU → WMS SKU (the direction orders go). Inventory uses it to work out which WMS SKU an old
    /// snapshot entry came from when the entry predates the recorded WMS identity.
    ///
    /// # Errors
    /// `Missing` when the table has no entry and is not passthrough; `Invalid` when the target is no SKU.
    pub fn wms_sku(&self, source_sku: &Sku) -> Result<Sku, MappingError> {
        let target = self.require(TableName::Sku, source_sku.as_str(), "sku".into())?;
        Ok(Sku::parse(&target.value)?)
    }

    /// Maps a canonical order into one WMS's codes.
    ///
    /// # Errors
    /// `Missing` naming the table, value and field of the first unmapped value; `Invalid` when a mapped
    /// quantity is not a whole number of WMS units.
    pub fn map_order(&self, order: &Order) -> Result<WmsOrderRequest, MappingError> {
        order.validate()?;
        let warehouse = self.require(
            TableName::Warehouse,
            order.fulfilled_from.as_str(),
            "fulfilled_from".into(),
        )?;
        // The carrier table is keyed on the delivery method; carrier+service is the fallback key,
        // so one table serves SOM (methods) and Sales Cloud/B2C (carrier and service strings).
        let method_key = order.service_level.method.as_str();
        let combo_key = format!(
            "{}|{}",
            order
                .service_level
                .carrier
                .as_ref()
                .map(|c| c.as_str())
                .unwrap_or_default(),
            order.service_level.service.as_deref().unwrap_or_default()
        );
        let carrier = self
            .carrier
            .entries
            .get(method_key)
            .or_else(|| self.carrier.entries.get(&combo_key))
            .cloned()
            .or_else(|| {
                self.carrier.passthrough.then(|| Target {
                    value: method_key.to_owned(),
                    factor: None,
                    service: None,
                })
            })
            .ok_or_else(|| MappingError::Missing {
                table: "carrier",
                value: method_key.to_owned(),
                field: "service_level.method".into(),
            })?;

        let mut lines = Vec::new();
        for (i, line) in order
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == crate::domain::LineKind::Product)
        {
            let sku = self.require(TableName::Sku, line.sku.as_str(), format!("lines[{i}].sku"))?;
            let unit = self.require(
                TableName::Unit,
                line.quantity.unit().as_str(),
                format!("lines[{i}].unit"),
            )?;
            let wms_unit = UnitOfMeasure::parse(&unit.value).map_err(|e| e.within(format!("lines[{i}]")))?;
            let factor = unit.factor.unwrap_or(Decimal::ONE);
            let qty = line
                .quantity
                .convert(factor, wms_unit.clone())
                .map_err(|e| e.within(format!("lines[{i}]")))?;
            let whole = qty.whole().map_err(|e| e.within(format!("lines[{i}]")))?;
            // Prices are per source unit; keep the order total intact when the unit changes.
            let per_unit = |v: Decimal| (v / factor).round_dp(4);
            lines.push(WmsOrderLine {
                source_line_id: line.line_id.clone(),
                sku: Sku::parse(&sku.value).map_err(|e| e.within(format!("lines[{i}]")))?,
                unit: wms_unit,
                quantity: whole,
                unit_price: per_unit(line.unit_price),
                unit_tax: per_unit(line.unit_tax),
                description: line.description.clone(),
            });
        }

        Ok(WmsOrderRequest {
            code: order.source.number.clone(),
            source_record_id: order.source.record_id.clone(),
            warehouse: LocationCode::parse(&warehouse.value).map_err(|e| e.within("warehouse"))?,
            currency: order.currency,
            ordered_at: order.ordered_at,
            customer_name: order.account_name.clone(),
            ship_to: order.ship_to.clone(),
            bill_to: order.bill_to.clone(),
            carrier: Some(carrier.value).filter(|v| !v.is_empty()),
            service: carrier.service,
            lines,
        })
    }
}

/// Mapping tables loaded from a `MappingSource` and kept for a TTL, so a warm function reads them once
/// a minute instead of once per record, and an operator's edit takes effect without a deploy.
pub struct CachedMappings {
    source: std::sync::Arc<dyn crate::ports::MappingSource>,
    ttl: std::time::Duration,
    cached: tokio::sync::RwLock<
        std::collections::HashMap<crate::ports::WmsSystem, (std::time::Instant, std::sync::Arc<MappingTables>)>,
    >,
}

impl std::fmt::Debug for CachedMappings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedMappings")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CachedMappings {
    /// A cache over `source`.
    pub fn new(source: std::sync::Arc<dyn crate::ports::MappingSource>, ttl: std::time::Duration) -> Self {
        Self {
            source,
            ttl,
            cached: tokio::sync::RwLock::new(std::collections::HashMap::new()),
        }
    }

    /// The current tables of one WMS.
    ///
    /// # Errors
    /// The source's `StoreError` when the cache is empty or stale and the reload fails.
    pub async fn get(
        &self,
        system: crate::ports::WmsSystem,
    ) -> Result<std::sync::Arc<MappingTables>, crate::ports::StoreError> {
        if let Some((at, tables)) = self.cached.read().await.get(&system) {
            if at.elapsed() < self.ttl {
                return Ok(tables.clone());
            }
        }
        let mut guard = self.cached.write().await;
        if let Some((at, tables)) = guard.get(&system) {
            if at.elapsed() < self.ttl {
                return Ok(tables.clone());
            }
        }
        let tables = std::sync::Arc::new(self.source.load(system).await?);
        guard.insert(system, (std::time::Instant::now(), tables.clone()));
        Ok(tables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn target(v: &str) -> Target {
        Target {
            value: v.into(),
            factor: None,
            service: None,
        }
    }

    fn tables() -> MappingTables {
        let mut t = MappingTables::default();
        t.sku.entries.insert("SF-TEE".into(), target("TEE-001"));
        t.unit.entries.insert("Each".into(), target("Unit"));
        t.unit.entries.insert(
            "Case".into(),
            Target {
                value: "Unit".into(),
                factor: Some(Decimal::from(12)),
                service: None,
            },
        );
        t.warehouse.entries.insert("LOC-EAST".into(), target("Main Warehouse"));
        t.carrier.entries.insert(
            "Ground".into(),
            Target {
                value: "UPS".into(),
                factor: None,
                service: Some("UPS Ground".into()),
            },
        );
        t
    }

    fn order(unit: &str, qty: &str) -> Order {
        crate::testing::sample_order(vec![crate::testing::sample_line(1, "SF-TEE", qty, unit)])
    }

    #[test]
    fn an_order_is_mapped_to_wms_codes_through_every_table() {
        let req = tables().map_order(&order("Each", "3")).expect("mapped");
        assert_eq!(req.code, "FO-0000001");
        assert_eq!(req.warehouse.as_str(), "Main Warehouse");
        assert_eq!(req.carrier.as_deref(), Some("UPS"));
        assert_eq!(req.service.as_deref(), Some("UPS Ground"));
        assert_eq!(req.lines[0].sku.as_str(), "TEE-001");
        assert_eq!(req.lines[0].unit.as_str(), "Unit");
        assert_eq!(req.lines[0].quantity, 3);
    }

    #[test]
    fn a_case_is_converted_to_eaches_and_the_unit_price_is_divided() {
        let req = tables().map_order(&order("Case", "2")).expect("mapped");
        assert_eq!(req.lines[0].quantity, 24);
        assert_eq!(req.lines[0].unit_price, Decimal::from(2));
    }

    #[test]
    fn an_unmapped_warehouse_names_the_table_the_value_and_the_field() {
        let mut t = tables();
        t.warehouse.entries.clear();
        let err = t.map_order(&order("Each", "1")).expect_err("unmapped");
        assert_eq!(
            err,
            MappingError::Missing {
                table: "warehouse",
                value: "LOC-EAST".into(),
                field: "fulfilled_from".into()
            }
        );
        assert_eq!(err.code(), "MAPPING_MISSING");
    }

    #[test]
    fn an_unmapped_sku_passes_through_only_when_the_table_says_so() {
        let mut t = tables();
        t.sku.entries.clear();
        assert!(matches!(
            t.map_order(&order("Each", "1")),
            Err(MappingError::Missing { table: "sku", .. })
        ));
        t.sku.passthrough = true;
        assert_eq!(
            t.map_order(&order("Each", "1")).expect("passthrough").lines[0]
                .sku
                .as_str(),
            "SF-TEE"
        );
    }

    #[test]
    fn a_fractional_wms_quantity_is_rejected_with_the_line_path() {
        let err = tables().map_order(&order("Each", "1.5")).expect_err("fraction");
        let MappingError::Invalid(v) = err else {
            panic!("expected Invalid, got {err:?}")
        };
        assert_eq!(v.field, "lines[0].quantity");
    }

    #[test]
    fn wms_values_map_back_to_source_values_for_inventory_and_shipments() {
        let t = tables();
        assert_eq!(
            t.source_sku(&Sku::parse("TEE-001").expect("s")).expect("back").as_str(),
            "SF-TEE"
        );
        assert_eq!(
            t.source_location(&LocationCode::parse("Main Warehouse").expect("l"))
                .expect("back")
                .as_str(),
            "LOC-EAST"
        );
        assert!(t.source_sku(&Sku::parse("UNKNOWN").expect("s")).is_err());
    }
}

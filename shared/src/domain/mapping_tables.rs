//! The mapping tables as data (SKU, unit of measure, warehouse, carrier/service): what operators edit in
//! the state table. The rules that apply them are in `crate::mapping`.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The four tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableName {
    /// Salesforce SKU → WMS SKU.
    Sku,
    /// Salesforce unit → WMS unit (with a conversion factor).
    Unit,
    /// Salesforce location → WMS warehouse.
    Warehouse,
    /// Salesforce delivery method → WMS carrier and service.
    Carrier,
}

impl TableName {
    /// All tables.
    pub const ALL: [TableName; 4] = [Self::Sku, Self::Unit, Self::Warehouse, Self::Carrier];

    /// Lower-case name used in keys and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Unit => "unit",
            Self::Warehouse => "warehouse",
            Self::Carrier => "carrier",
        }
    }
}

/// One mapping entry's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The WMS-side value (SKU, unit, warehouse identifier, carrier identifier).
    pub value: String,
    /// Unit table: how many WMS units one source unit is (e.g. CASE → EA = 12). Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Decimal>,
    /// Carrier table: the WMS service / shipping option identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// One table: entries plus the unmapped-value policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Let unmapped values through unchanged instead of rejecting them.
    #[serde(default)]
    pub passthrough: bool,
    /// Source value → target.
    #[serde(default)]
    pub entries: HashMap<String, Target>,
}

/// All mapping tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingTables {
    /// SKU table.
    #[serde(default)]
    pub sku: Table,
    /// Unit table.
    #[serde(default)]
    pub unit: Table,
    /// Warehouse table.
    #[serde(default)]
    pub warehouse: Table,
    /// Carrier table.
    #[serde(default)]
    pub carrier: Table,
}

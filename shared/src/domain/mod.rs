//! Canonical domain: validated newtypes and the system-neutral Order, Shipment, InventoryPosition and FulfillmentException.
//!
//! Every adapter converts vendor shapes into these types at the boundary ("parse, don't validate"),
//! so the handlers never see an unchecked SKU, quantity or id.

mod ids;
mod mapping_tables;
mod order;
mod quantity;
mod shipment;
mod system;

pub(crate) use ids::bounded_string;
pub use ids::{CorrelationId, EventId, SalesforceId, WmsOrderId};
pub use mapping_tables::{MappingTables, Table, TableName, Target};
pub use order::{Address, LineKind, Order, OrderLine, OrderSource, ServiceLevel, SourceSystem};
pub use quantity::{CurrencyCode, Quantity, UnitOfMeasure};
pub use shipment::{
    ExceptionKind, ExceptionLine, FulfillmentException, InventoryPosition, Package, ReasonCode, Shipment, ShippedLine,
};
pub use system::WmsSystem;

use std::fmt;

/// A value failed validation. Names the field so an HTTP answer or a parked record can say exactly what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the failing field, e.g. `lines[2].sku`.
    pub field: String,
    /// What is wrong with it, in words an operator can act on.
    pub message: String,
}

impl ValidationError {
    /// A validation error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field path, e.g. `sku` inside line 2 becomes `lines[2].sku`.
    #[must_use]
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

/// Shared rule for free-text identifiers: trimmed, non-empty, bounded, no control characters.
pub(crate) fn validate_text<'a>(field: &str, raw: &'a str, max: usize) -> Result<&'a str, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(ValidationError::new(field, format!("must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(s)
}

bounded_string!(
    /// A stock-keeping unit. Case is significant: Logiwa's LQL string matches are case-sensitive.
    Sku,
    "sku",
    100
);

bounded_string!(
    /// A warehouse or location code (Salesforce Location external reference, Logiwa warehouse code, bin code).
    LocationCode,
    "location",
    255
);

bounded_string!(
    /// A carrier or shipping-service code on either side of the carrier/service mapping table.
    CarrierCode,
    "carrier",
    255
);

bounded_string!(
    /// A parcel tracking number.
    TrackingNumber,
    "tracking_number",
    255
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sku_is_trimmed_and_keeps_its_case() {
        let sku = Sku::parse("  Tee-Blue-M ").expect("valid");
        assert_eq!(sku.as_str(), "Tee-Blue-M");
    }

    #[test]
    fn an_empty_or_control_character_sku_is_rejected_with_its_field_name() {
        assert_eq!(Sku::parse("   ").expect_err("empty").field, "sku");
        assert!(Sku::parse("AB\u{0007}C").is_err());
        assert!(Sku::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn a_validation_error_inside_a_line_names_the_full_path() {
        let err = ValidationError::new("sku", "must not be empty").within("lines[2]");
        assert_eq!(err.to_string(), "lines[2].sku: must not be empty");
    }
}

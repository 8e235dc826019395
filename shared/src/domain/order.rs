//! The canonical order: what every order source (SOM FulfillmentOrder, Sales Cloud Order, B2C order) is read into.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CarrierCode, CurrencyCode, LocationCode, Quantity, SalesforceId, Sku, ValidationError};

/// Which Salesforce product an order came from. Decides which adapter reads and writes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSystem {
    /// Salesforce Order Management: the unit of work is a FulfillmentOrder.
    SalesforceOrderManagement,
    /// Sales Cloud: the unit of work is an Order.
    SalesCloud,
    /// B2C Commerce: the unit of work is an exported order (`order_no`).
    B2cCommerce,
}

/// Identity of the order in its source system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSource {
    /// Source product.
    pub system: SourceSystem,
    /// The source record id (a FulfillmentOrder id for SOM).
    pub record_id: SalesforceId,
    /// The human-facing number the WMS order is keyed on (FulfillmentOrderNumber); becomes the WMS order `code`.
    pub number: String,
    /// Other ids worth carrying across (OrderSummaryId, OrderId, AccountId…), by Salesforce field name.
    pub external_ids: Vec<(String, String)>,
}

/// A postal address with contact details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Recipient name.
    pub name: String,
    /// Company, when the address is commercial.
    pub company: Option<String>,
    /// Street lines (Salesforce keeps them in one field separated by newlines).
    pub street: Vec<String>,
    /// City.
    pub city: String,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country (ISO code or name, as the source holds it).
    pub country: String,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

impl Address {
    /// Checks the fields every WMS needs to ship.
    ///
    /// # Errors
    /// `ValidationError` naming the first missing field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "recipient name is required"));
        }
        if self.street.iter().all(|l| l.trim().is_empty()) {
            return Err(ValidationError::new("street", "at least one street line is required"));
        }
        if self.city.trim().is_empty() {
            return Err(ValidationError::new("city", "city is required"));
        }
        if self.country.trim().is_empty() {
            return Err(ValidationError::new("country", "country is required"));
        }
        Ok(())
    }
}

/// How the order should travel, as the source names it (mapped to WMS codes by the carrier table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLevel {
    /// Carrier as named in the source (OrderDeliveryMethod.Carrier).
    pub carrier: Option<CarrierCode>,
    /// Class of service (OrderDeliveryMethod.ClassOfService).
    pub service: Option<String>,
    /// Delivery method reference (OrderDeliveryMethod.ReferenceNumber or Name), the key the carrier table matches first.
    pub method: String,
}

/// Whether a line is goods to pick or a charge that only travels for invoicing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A product to pick and ship.
    Product,
    /// Delivery charge, fee or other non-stock line.
    Charge,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Source line id (FulfillmentOrderLineItem id); shipped quantities come back against it.
    pub line_id: SalesforceId,
    /// Product or charge.
    pub kind: LineKind,
    /// Source SKU (Product2.StockKeepingUnit).
    pub sku: Sku,
    /// Description for pick lists.
    pub description: Option<String>,
    /// Quantity in the source unit.
    pub quantity: Quantity,
    /// Unit price, in the order currency.
    pub unit_price: Decimal,
    /// Tax per unit, in the order currency.
    pub unit_tax: Decimal,
    /// Source product id, written back on shipment items.
    pub product_id: Option<SalesforceId>,
    /// Source order item summary id, written back on shipment items.
    pub order_item_summary_id: Option<SalesforceId>,
}

/// The canonical order handed to a WMS connector (after mapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Where it came from.
    pub source: OrderSource,
    /// Current status in the source (e.g. FulfillmentOrder.Status).
    pub status: String,
    /// Customer account name, if any.
    pub account_name: Option<String>,
    /// Ship-to.
    pub ship_to: Address,
    /// Bill-to, when different from ship-to.
    pub bill_to: Option<Address>,
    /// Requested service level.
    pub service_level: ServiceLevel,
    /// The source location (warehouse) it is fulfilled from.
    pub fulfilled_from: LocationCode,
    /// Order currency.
    pub currency: CurrencyCode,
    /// When the order was placed or the fulfillment order was created.
    #[serde(with = "time::serde::rfc3339")]
    pub ordered_at: OffsetDateTime,
    /// Lines, in source order.
    pub lines: Vec<OrderLine>,
}

impl Order {
    /// Lines that are goods to ship (charges travel only for invoicing and are not sent to the WMS).
    pub fn product_lines(&self) -> impl Iterator<Item = &OrderLine> {
        self.lines.iter().filter(|l| l.kind == LineKind::Product)
    }

    /// Checks the order is shippable.
    ///
    /// # Errors
    /// `ValidationError` with a dotted field path (`ship_to.city`, `lines`, …).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.source.number.trim().is_empty() {
            return Err(ValidationError::new("number", "order number is required"));
        }
        self.ship_to.validate().map_err(|e| e.within("ship_to"))?;
        if self.product_lines().next().is_none() {
            return Err(ValidationError::new("lines", "order has no product lines to ship"));
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.kind == LineKind::Product && line.quantity.value().is_zero() {
                return Err(ValidationError::new("quantity", "must be greater than zero").within(format!("lines[{i}]")));
            }
        }
        Ok(())
    }
}

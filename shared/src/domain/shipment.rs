//! Fulfilment truth coming back from the WMS: shipments with packages, inventory positions, and exceptions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CarrierCode, LocationCode, Quantity, Sku, TrackingNumber, WmsOrderId};

/// Quantity shipped of one SKU, against the source line when the WMS echoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippedLine {
    /// WMS SKU as shipped (mapped back to the source SKU by the SKU table).
    pub sku: Sku,
    /// Quantity shipped, in the WMS unit.
    pub quantity: Quantity,
}

/// One parcel: one tracking number and what is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Carrier tracking number.
    pub tracking_number: TrackingNumber,
    /// Public tracking URL, when the WMS has one.
    pub tracking_url: Option<String>,
    /// Contents. Empty when the WMS does not say which lines went in which parcel.
    pub lines: Vec<ShippedLine>,
}

/// A shipment of (part of) one WMS order. Split shipments are several `Shipment`s for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// WMS order id.
    pub wms_order_id: WmsOrderId,
    /// WMS order code (= the source order number we created it with).
    pub order_code: String,
    /// Stable key of this shipment within the order (so a re-delivered event updates, never duplicates).
    pub shipment_key: String,
    /// Carrier as the WMS names it.
    pub carrier: Option<CarrierCode>,
    /// Service as the WMS names it.
    pub service: Option<String>,
    /// When it left the warehouse.
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    /// Parcels.
    pub packages: Vec<Package>,
    /// Total shipped per SKU across all parcels in this shipment.
    pub lines: Vec<ShippedLine>,
    /// True when the WMS says the whole order is now shipped.
    pub order_complete: bool,
}

/// What one SKU's stock looks like at one location at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryPosition {
    /// SKU (source or WMS naming, depending on which side of the mapping it is on).
    pub sku: Sku,
    /// Location (warehouse) code.
    pub location: LocationCode,
    /// Physically on hand.
    pub on_hand: Quantity,
    /// Available to sell (on hand less allocated, damaged, held).
    pub available: Quantity,
    /// When the WMS computed it.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
}

/// Which kind of fulfilment exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// Shipped less than ordered; the rest may follow.
    Partial,
    /// Not enough stock; the rest is back-ordered.
    Backorder,
    /// Lines or the whole order were cancelled in the WMS.
    Cancellation,
    /// Goods came back.
    Return,
}

/// A reason code as the WMS gives it, normalised through the reason table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCode {
    /// Code (e.g. Logiwa `cancelReasonName`, Linnworks `ReasonTag`).
    pub code: String,
    /// Free-text description, when given.
    pub description: Option<String>,
}

/// One line affected by an exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionLine {
    /// WMS SKU.
    pub sku: Sku,
    /// Quantity affected.
    pub quantity: Quantity,
}

/// A partial, backorder, cancellation or return reported by the WMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentException {
    /// WMS order id.
    pub wms_order_id: WmsOrderId,
    /// WMS order code.
    pub order_code: String,
    /// Kind.
    pub kind: ExceptionKind,
    /// Why.
    pub reason: ReasonCode,
    /// Affected lines (empty = whole order).
    pub lines: Vec<ExceptionLine>,
}

//! Logiwa entities the simulator keeps, and their JSON renderings using the field names of the
//! Open API v3.1 schemas (wms-apis.md §1 [SW]; schema names cited per function).

use crate::common::timefmt::{logiwa_datetime, logiwa_datetime_ticks};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Shipment order statuses. Only `10 Pending` (list example) and the names `Ready to Pick`,
/// `Picking Started`, `Ready to Pack`, `Shipped` (patch rules) come from the spec; the other ids
/// and names are ASSUMPTIONS (wms-apis.md §1: "full enum not found").
pub const STATUSES: &[(i32, &str)] = &[
    (10, "Pending"),
    (20, "Ready to Pick"),
    (30, "Picking Started"),
    (40, "Ready to Pack"),
    (45, "Partially Shipped"),
    (50, "Shipped"),
    (90, "Cancelled"),
];
pub const STATUS_PENDING: i32 = 10;
pub const STATUS_PARTIALLY_SHIPPED: i32 = 45;
pub const STATUS_SHIPPED: i32 = 50;
pub const STATUS_CANCELLED: i32 = 90;

pub fn status_name(id: i32) -> &'static str {
    STATUSES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
        .unwrap_or("Unknown")
}

/// A status as webhooks name it: PascalCase without spaces (wms-apis.md §1.6 [WG]: `Open` →
/// `ReadyToPick`), so "Ready to Pick" → `ReadyToPick`, "Partially Shipped" → `PartiallyShipped`. Only
/// `ReadyToPick` is confirmed; the rest follow the same rule (ASSUMPTION). The guide's `Open` may be the
/// webhook name of status 10, which the REST list example calls "Pending"; that is not confirmed either,
/// so the sim derives `Pending` like every other name.
pub fn webhook_status_name(id: i32) -> String {
    status_name(id)
        .split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Resolves a status given by id or by name (case-insensitive).
pub fn status_lookup(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(id) = s.parse::<i32>() {
        return STATUSES.iter().find(|(i, _)| *i == id).map(|(i, _)| *i);
    }
    STATUSES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(s))
        .map(|(i, _)| *i)
}

/// wms-apis.md §1 [SW]: webhook topics a subscription may name.
pub const TOPICS: &[&str] = &[
    "wms/shipmentorder/statuschange",
    "wms/shipmentorder/create",
    "wms/shipmentorder/update",
    "wms/shipmentorder/shipment",
    "wms/product/create",
    "wms/product/update",
    "wms/purchaseorder/statuschange",
    "wms/inventory/transaction",
    "wms/inventory/available",
    "wms/location/create",
    "wms/location/update",
    "wms/mobilecart/create",
    "wms/mobilecart/update",
];
pub const TOPIC_CREATE: &str = "wms/shipmentorder/create";
pub const TOPIC_STATUS: &str = "wms/shipmentorder/statuschange";
pub const TOPIC_SHIPMENT: &str = "wms/shipmentorder/shipment";

/// wms-apis.md §1 [SW]: `currencyId` enum 0..=17 (0 None, 1 USD, 2 EUR, 3 CAD, 4 GBP, ...).
pub const CURRENCY_MAX: i64 = 17;

pub fn currency_code(id: i32) -> &'static str {
    const CODES: [&str; 18] = [
        "", "USD", "EUR", "CAD", "GBP", "INR", "TRY", "SGD", "PKR", "PHP", "THB", "AUD", "IDR", "MYR", "NGN", "XOF",
        "MXN", "MAD",
    ];
    usize::try_from(id)
        .ok()
        .and_then(|i| CODES.get(i))
        .copied()
        .unwrap_or("")
}

/// Pack types the tenant knows (`/v3.1/Helper/packtypes` in the real API).
pub const KNOWN_PACK_TYPES: &[&str] = &["Unit", "Each", "EA", "Case", "Box", "Pack", "Pallet"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warehouse {
    pub identifier: Uuid,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub identifier: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub identifier: Uuid,
    pub client_identifier: Uuid,
    pub sku: String,
    pub name: String,
    pub pack_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InventoryRow {
    pub identifier: Uuid,
    pub client_identifier: Uuid,
    pub warehouse_identifier: Uuid,
    pub sku: String,
    pub location_code: String,
    pub location_identifier: Uuid,
    pub license_plate_number: Option<String>,
    pub lot_batch_number: Option<String>,
    pub expiry_date: Option<OffsetDateTime>,
    pub pack_type: String,
    pub total: i64,
    pub available: i64,
    pub allocated: i64,
    pub status_id: i32,
    pub status_name: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct OrderLine {
    pub identifier: Uuid,
    pub sku: String,
    pub product_identifier: Uuid,
    pub product_name: String,
    pub pack_type: String,
    pub quantity: i32,
    pub shipped: i32,
    pub cancelled: i32,
    pub unit_price: f64,
    pub lot_batch_number: Option<String>,
}

impl OrderLine {
    pub fn open(&self) -> i32 {
        (self.quantity - self.shipped - self.cancelled).max(0)
    }
}

/// One shipped package (carrier label).
#[derive(Debug, Clone)]
pub struct Package {
    pub identifier: Uuid,
    pub tracking_number: String,
    pub master_tracking_number: String,
    pub carrier_name: String,
    pub shipping_option_name: String,
    pub label_url: String,
    pub lp_number: String,
    pub weight: f64,
    /// (sku, pack type, quantity)
    pub lines: Vec<(String, String, i32)>,
    pub shipped_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct ShipmentOrder {
    pub identifier: Uuid,
    pub code: String,
    pub client_identifier: Uuid,
    pub warehouse_identifier: Uuid,
    pub status_id: i32,
    pub order_type: String,
    pub order_date: OffsetDateTime,
    pub currency_id: i32,
    pub expected_shipment_date: Option<OffsetDateTime>,
    pub expected_delivery_date: Option<OffsetDateTime>,
    pub customer: Value,
    pub shipment_address: Value,
    pub billing_address: Value,
    pub requested_carrier: Option<String>,
    pub requested_shipping_option: Option<String>,
    pub carrier_name: Option<String>,
    pub shipping_option_name: Option<String>,
    pub tracking_numbers: Vec<String>,
    pub actual_shipment_date: Option<OffsetDateTime>,
    pub is_partial: bool,
    pub channel_order_number: Option<String>,
    pub client_reference_code: Option<String>,
    pub note: Option<String>,
    pub lines: Vec<OrderLine>,
    pub packages: Vec<Package>,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub identifier: Uuid,
    pub topic: String,
    pub address: String,
    pub client_identifier: Option<Uuid>,
    pub ignore_client: bool,
    #[serde(skip)]
    pub created: Option<OffsetDateTime>,
}

/// One webhook event sent (or being sent) to one subscription.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub transaction_identifier: Uuid,
    pub subscription_identifier: Uuid,
    pub topic: String,
    pub address: String,
    pub request_date: Option<String>,
    pub response_date: Option<String>,
    pub http_last_hook_status: Option<u16>,
    pub try_count: u32,
    pub delivered: bool,
    /// The POSTed body, kept for admin inspection (never logged).
    pub body: Value,
}

/// Names the renderers need for ids.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub client: String,
    pub warehouse_code: String,
    /// The client's integer internal id: `ClientId` in `statuschange` bodies (wms-apis.md §1.6 [WG]:
    /// "an integer internal id, not the client GUID"). The sim numbers clients from
    /// [`CLIENT_ID_BASE`] in creation order (ASSUMPTION: how Logiwa assigns them is not documented).
    pub client_id: i64,
}

/// First internal client id the sim hands out.
pub const CLIENT_ID_BASE: i64 = 10_001;

fn dt(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(logiwa_datetime(t))).unwrap_or(Value::Null)
}

fn s(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

fn addr(o: &ShipmentOrder, key: &str) -> Value {
    o.shipment_address.get(key).cloned().unwrap_or(Value::Null)
}

/// SW:ShipmentOrderLineSummaryForSOGatewayQueryResponse (subset).
fn product_line(l: &OrderLine) -> Value {
    json!({
        "identifier": l.identifier,
        "productSKU": l.sku,
        "productName": l.product_name,
        "productIdentifier": l.product_identifier,
        "quantity": l.quantity,
        "uomQuantity": l.quantity,
        "packType": l.pack_type,
        "lotBatchNumber": l.lot_batch_number,
        "allocatedUOMQuantity": l.quantity - l.cancelled,
        "pickedUOMQuantity": l.shipped,
        "packedUOMQuantity": l.shipped,
        "shippedUOMQuantity": l.shipped,
        "cancelledUOMQuantity": l.cancelled,
        "unitPrice": l.unit_price,
    })
}

/// SW:ShipmentOrderShipmentInfoResponseModel: one row per shipped line per package.
pub fn shipment_info(o: &ShipmentOrder, packages: &[Package]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in packages {
        for (sku, pack_type, qty) in &p.lines {
            let name = o
                .lines
                .iter()
                .find(|l| &l.sku == sku)
                .map(|l| l.product_name.clone())
                .unwrap_or_default();
            out.push(json!({
                "productSku": sku,
                "productName": name,
                "shipmentDate": logiwa_datetime(p.shipped_at),
                "packQuantity": qty,
                "uomQuantity": qty,
                "packTypeName": pack_type,
                "licensePlateNumber": p.lp_number,
                "trackingNumber": p.tracking_number,
                "shippingOptionName": p.shipping_option_name,
                "isBackOrder": false,
                "createdDateTime": logiwa_datetime(p.shipped_at),
                "updatedDateTime": logiwa_datetime(p.shipped_at),
            }));
        }
    }
    out
}

/// SW:ShipmentOrderGatewayQueryResponse (subset; `GET /v3.1/ShipmentOrder/{id}`).
pub fn order_json(o: &ShipmentOrder, n: &Names) -> Value {
    let total_price: f64 = o.lines.iter().map(|l| l.unit_price * f64::from(l.quantity)).sum();
    json!({
        "identifier": o.identifier,
        "code": o.code,
        "clientIdentifier": o.client_identifier,
        "clientDisplayName": n.client,
        "warehouseIdentifier": o.warehouse_identifier,
        "warehouseCode": n.warehouse_code,
        "currencyId": o.currency_id,
        "customerFirstName": o.customer.get("firstName").cloned().unwrap_or(Value::Null),
        "customerLastName": o.customer.get("lastName").cloned().unwrap_or(Value::Null),
        "customerEmail": o.customer.get("email").cloned().unwrap_or(Value::Null),
        "shipmentOrderStatusId": o.status_id,
        "shipmentOrderStatusName": status_name(o.status_id),
        "shipmentOrderTypeName": o.order_type,
        "shipmentOrderDate": logiwa_datetime(o.order_date),
        "expectedShipmentDate": dt(o.expected_shipment_date),
        "expectedDeliveryDate": dt(o.expected_delivery_date),
        "channelOrderNumber": s(&o.channel_order_number),
        "clientReferenceCode": s(&o.client_reference_code),
        "note": s(&o.note),
        "masterShipmentOrderCode": Value::Null,
        "isBackOrder": false,
        "isPartial": o.is_partial,
        "carrierName": s(&o.carrier_name),
        "shippingOptionName": s(&o.shipping_option_name),
        "requestedCarrier": s(&o.requested_carrier),
        "requestedShippingOption": s(&o.requested_shipping_option),
        "trackingNumbers": o.tracking_numbers,
        "currentTrackingNumber": o.tracking_numbers.last(),
        "totalShippingCost": if o.packages.is_empty() { Value::Null } else { json!(0.0) },
        "hasLabel": !o.packages.is_empty(),
        "actualPickupDate": dt(o.actual_shipment_date),
        "actualShipmentDate": dt(o.actual_shipment_date),
        "shipmentCountryCode": addr(o, "country"),
        "shipmentStateOrRegionName": addr(o, "state"),
        "shipmentAddressLine1": addr(o, "addressLine1"),
        "shipmentAddressLine2": addr(o, "addressLine2"),
        "shipmentCity": addr(o, "city"),
        "shipmentPostalCode": addr(o, "postalCode"),
        "shipmentPhoneNumber": addr(o, "phoneNumber"),
        "shipmentAddressTypeName": addr(o, "type"),
        "totalPrice": total_price,
        "cancelReasonName": Value::Null,
        "updatedDateTime": logiwa_datetime(o.updated),
        "products": o.lines.iter().map(product_line).collect::<Vec<_>>(),
    })
}

/// SW:ShipmentOrderListGatewayQueryResponse (subset; list rows add creation time, totals and
/// per-package `shipmentInfo`).
pub fn order_list_json(o: &ShipmentOrder, n: &Names) -> Value {
    let mut v = order_json(o, n);
    if let Value::Object(m) = &mut v {
        m.insert("createdDateTime".into(), Value::String(logiwa_datetime(o.created)));
        m.insert(
            "totalQuantity".into(),
            json!(o.lines.iter().map(|l| l.quantity).sum::<i32>()),
        );
        m.insert("currencyCode".into(), json!(currency_code(o.currency_id)));
        m.insert("shipmentDateTime".into(), dt(o.actual_shipment_date));
        m.insert("shipmentInfo".into(), Value::Array(shipment_info(o, &o.packages)));
    }
    v
}

/// Carrier label row (ASSUMPTION: schema not read, see README).
pub fn label_json(o: &ShipmentOrder, p: &Package) -> Value {
    json!({
        "identifier": p.identifier,
        "shipmentOrderIdentifier": o.identifier,
        "shipmentOrderCode": o.code,
        "trackingNumber": p.tracking_number,
        "masterTrackingNumber": p.master_tracking_number,
        "carrierName": p.carrier_name,
        "shippingOptionName": p.shipping_option_name,
        "labelUrl": p.label_url,
        "lpNumber": p.lp_number,
        "weight": p.weight,
        "weightUnitName": "lb",
        "createdDateTime": logiwa_datetime(p.shipped_at),
    })
}

/// SW:OpenAPIListInventoryWithLocationResponse (subset).
pub fn inventory_json(r: &InventoryRow, n: &Names, product: Option<&Product>) -> Value {
    json!({
        "identifier": r.identifier,
        "createdDateTime": logiwa_datetime(r.created),
        "updatedDateTime": logiwa_datetime(r.updated),
        "warehouseIdentifier": r.warehouse_identifier,
        "warehouseCode": n.warehouse_code,
        "warehouseLocationIdentifier": r.location_identifier,
        "warehouseLocationCode": r.location_code,
        "clientIdentifier": r.client_identifier,
        "clientDisplayName": n.client,
        "productIdentifier": product.map(|p| p.identifier),
        "productSku": r.sku,
        "productName": product.map(|p| p.name.clone()),
        "productIsActive": true,
        "uomPackTypeName": r.pack_type,
        "packTypeName": r.pack_type,
        "totalQuantity": r.total,
        "availableQuantity": r.available,
        "freeQuantity": r.available,
        "freeUOMQuantity": r.available,
        "allocatedQuantity": r.allocated,
        "allocatedUOMQuantity": r.allocated,
        "uomQuantity": 1,
        "inventoryStatusId": r.status_id,
        "inventoryStatusName": r.status_name,
        "licensePlateNumber": r.license_plate_number,
        "lotBatchNumber": r.lot_batch_number,
        "expiryDate": dt(r.expiry_date),
    })
}

/// `wms/shipmentorder/statuschange` body (wms-apis.md §1.6 [WG]): exactly five PascalCase keys, no
/// envelope, `ClientId` an integer and status names PascalCase without spaces. `previous` is None when
/// there was no earlier status (the `wms/shipmentorder/create` body, which reuses this shape: that body
/// is not documented, ASSUMPTION), sent as an explicit null like every absent value in the guide.
pub fn status_event(o: &ShipmentOrder, previous: Option<i32>, n: &Names) -> Value {
    json!({
        "Identifier": o.identifier,
        "Code": o.code,
        "PreviousStatus": previous.map(webhook_status_name),
        "CurrentStatus": webhook_status_name(o.status_id),
        "ClientId": n.client_id,
    })
}

/// One `ShipmentPackageList[]` entry (wms-apis.md §1.6 [WG]) with its `ProductList[]`. Keys the guide's
/// example shows beyond §1.6's list (`CarrierPackageTypeCode`, `CarrierPackageTypeIdentifier`, `OtherCost`,
/// `InsuranceValue`, `CurrencyCode`, `ProductionDate`) are sent too, as null, like the example.
fn shipment_package(o: &ShipmentOrder, p: &Package) -> Value {
    let products: Vec<Value> = p
        .lines
        .iter()
        .map(|(sku, pack_type, qty)| {
            let line = o.lines.iter().find(|l| &l.sku == sku);
            json!({
                "ProductIdentifier": line.map(|l| l.product_identifier),
                "Sku": sku,
                "Name": line.map(|l| l.product_name.clone()),
                "ExpiryDate": Value::Null,
                "ProductionDate": Value::Null,
                "LotBatchNumber": line.and_then(|l| l.lot_batch_number.clone()),
                "PackQuantity": qty,
                "PackTypeName": pack_type,
            })
        })
        .collect();
    json!({
        "CarrierPackageCode": Value::Null,
        "CarrierPackageTypeCode": Value::Null,
        "CarrierPackageTypeIdentifier": Value::Null,
        "TrackingNumber": p.tracking_number,
        "Carrier": p.carrier_name,
        // The sim has one carrier setup per carrier, named after it (ASSUMPTION).
        "CarrierSetup": p.carrier_name,
        "CarrierSetupShippingOption": p.shipping_option_name,
        // The guide's example: TotalCost 0 with every other cost null; the sim rates nothing.
        "TotalCost": 0,
        "ShippingCost": Value::Null,
        "OtherCost": Value::Null,
        "InsuranceValue": Value::Null,
        "Weight": p.weight,
        "WeightUnit": "lb",
        "CurrencyCode": Value::Null,
        "Height": Value::Null,
        "Length": Value::Null,
        "Width": Value::Null,
        "DimensionUnit": Value::Null,
        // §1.6 [WG]: 3 fractional digits here, unlike `ShipmentDate`.
        "LabelCreatedDateTime": logiwa_datetime(p.shipped_at),
        "LabelUpdatedDateTime": Value::Null,
        "ProductList": products,
    })
}

/// `wms/shipmentorder/shipment` body (wms-apis.md §1.6 [WG]): PascalCase, no envelope, explicit nulls,
/// one `ShipmentPackageList` entry per package of **this** ship call. The body carries no status.
///
/// Where the guide is silent the sim picks the strictest plausible reading (ASSUMPTION, see README):
/// - `OrderCarrierTrackingNumbers` (one string; separator undocumented) lists **every** tracking number
///   of the order so far, earlier shipments included, joined by `,` with no space: a client that reads
///   it as "this event's packages" is wrong, and must take those from `ShipmentPackageList`.
/// - `MasterTrackingNumber` is the first package of this event's.
/// - `ShipmentTypeName` equals `ShipmentOrderTypeName`, as in the guide's only example.
pub fn shipment_event(o: &ShipmentOrder, n: &Names, new_packages: &[Package]) -> Value {
    let shipped_at = new_packages
        .first()
        .map(|p| p.shipped_at)
        .or(o.actual_shipment_date)
        .unwrap_or(o.updated);
    json!({
        "ShipmentOrderIdentifier": o.identifier,
        "ShipmentOrderCode": o.code,
        "WarehouseCode": n.warehouse_code,
        "WarehouseIdentifier": o.warehouse_identifier,
        "ClientIdentifier": o.client_identifier,
        "ChannelOrderNumber": s(&o.channel_order_number),
        "ClientDisplayName": n.client,
        "ShipmentTypeName": o.order_type,
        "ShipmentOrderTypeName": o.order_type,
        "ShipmentDate": logiwa_datetime_ticks(shipped_at),
        "MasterTrackingNumber": new_packages.first().map(|p| p.master_tracking_number.clone()),
        "OrderCarrierTrackingNumbers": if o.tracking_numbers.is_empty() {
            Value::Null
        } else {
            Value::String(o.tracking_numbers.join(","))
        },
        "ShipmentPackageList": new_packages.iter().map(|p| shipment_package(o, p)).collect::<Vec<_>>(),
    })
}

/// Stock transaction kinds the simulator records. The spec filters `TransactionType.in` by a number
/// and returns `transactionTypeDefinition` as text, but lists neither the ids nor the names: both are
/// ASSUMPTIONS (see README, "Transaction history").
pub const TRANSACTION_TYPES: &[(i32, &str)] = &[
    (1, "Receive"),
    (2, "Adjustment"),
    (3, "Shipment"),
    (4, "Inventory Removal"),
];
pub const TX_RECEIVE: i32 = 1;
pub const TX_ADJUSTMENT: i32 = 2;
pub const TX_SHIPMENT: i32 = 3;
pub const TX_REMOVAL: i32 = 4;

pub fn transaction_type_name(id: i32) -> &'static str {
    TRANSACTION_TYPES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
        .unwrap_or("Unknown")
}

/// One stock movement, as `Report/TransactionHistory` lists it. Every change the simulator makes to
/// an inventory row (seed or admin receipt, admin adjustment or removal, the ship action) records one.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// `transactionDetailHistoryId`: increasing per tenant.
    pub id: i64,
    pub action_identifier: Uuid,
    pub type_id: i32,
    pub at: OffsetDateTime,
    pub client_identifier: Uuid,
    pub warehouse_identifier: Uuid,
    pub sku: String,
    pub pack_type: String,
    /// Where stock left (shipments, negative adjustments, removals).
    pub from_location: Option<String>,
    /// Where stock arrived (receipts, positive adjustments).
    pub to_location: Option<String>,
    /// Units moved (always positive; the direction is given by from/to).
    pub quantity: i64,
    pub shipment_order_code: Option<String>,
    pub inventory_identifier: Uuid,
    pub note: Option<String>,
}

impl Transaction {
    /// A transaction with every field empty; `LwData::record` numbers it.
    pub fn blank() -> Self {
        Self {
            id: 0,
            action_identifier: Uuid::nil(),
            type_id: 0,
            at: OffsetDateTime::UNIX_EPOCH,
            client_identifier: Uuid::nil(),
            warehouse_identifier: Uuid::nil(),
            sku: String::new(),
            pack_type: String::new(),
            from_location: None,
            to_location: None,
            quantity: 0,
            shipment_order_code: None,
            inventory_identifier: Uuid::nil(),
            note: None,
        }
    }
}

/// SW:TransactionHistoryListGatewayQueryResponse (subset: the identity, time, product, location,
/// quantity and reference fields; lot, LP and user fields are null).
pub fn transaction_json(t: &Transaction, n: &Names, product: Option<&Product>) -> Value {
    let from = t.from_location.is_some();
    let to = t.to_location.is_some();
    json!({
        "transactionDetailHistoryId": t.id,
        "actionIdentifier": t.action_identifier,
        "transactionTypeDefinition": transaction_type_name(t.type_id),
        "transactionDateTime": logiwa_datetime(t.at),
        "transactionUser": "sim@waybill.test",
        "purchaseOrderCode": Value::Null,
        "shipmentOrderCode": s(&t.shipment_order_code),
        "shipmentOrderTypeName": if t.shipment_order_code.is_some() { json!("Shipment Order") } else { Value::Null },
        "fromClientDisplayName": n.client,
        "fromWarehouseCode": n.warehouse_code,
        "warehouseIdentifier": t.warehouse_identifier,
        "productSKU": t.sku,
        "productName": product.map(|p| p.name.clone()),
        "fromLocationCode": s(&t.from_location),
        "fromPackTypeDescription": if from { json!(t.pack_type) } else { Value::Null },
        "fromPackQuantity": if from { json!(t.quantity) } else { Value::Null },
        "fromUOMQuantity": if from { json!(t.quantity) } else { Value::Null },
        "fromInventoryIdentifier": if from { json!(t.inventory_identifier) } else { Value::Null },
        "toClientDisplayName": n.client,
        "toWarehouseCode": n.warehouse_code,
        "toLocationCode": s(&t.to_location),
        "toPackTypeDescription": if to { json!(t.pack_type) } else { Value::Null },
        "toPackQuantity": if to { json!(t.quantity) } else { Value::Null },
        "toUOMQuantity": if to { json!(t.quantity) } else { Value::Null },
        "toInventoryIdentifier": if to { json!(t.inventory_identifier) } else { Value::Null },
        "actionUOMQuantity": t.quantity,
        "actionPackQuantity": t.quantity,
        "note": s(&t.note),
        "adjustmentReasonName": if t.type_id == TX_ADJUSTMENT || t.type_id == TX_REMOVAL { s(&t.note) } else { Value::Null },
        "uomPackTypeName": t.pack_type,
        "fromLotNumber": Value::Null,
        "toLotNumber": Value::Null,
        "workOrderCode": Value::Null,
    })
}

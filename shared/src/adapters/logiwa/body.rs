//! Pure conversions for the Logiwa adapter: the `ShipmentOrderCreateApiRequest` body, list rows → canonical
//! `Shipment`s, inventory rows → per-SKU positions, transaction-history rows → changed SKUs, the paging
//! checks that decide whether a listing is whole, and field names out of `OpenAPIExceptionMessage`s
//! (wms-apis.md §1 "Create an order", "Shipments", "Inventory", "Rate limits and errors").

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::domain::{
    Address, CarrierCode, CurrencyCode, InventoryPosition, LocationCode, Package, Quantity, Shipment, ShippedLine, Sku,
    TrackingNumber, UnitOfMeasure, WmsOrderId,
};
use crate::ports::{ApiFieldError, ChangeWindow, Completeness, WmsOrderRequest};

/// wms-apis.md §1: `currencyId` enum (0 None, 1 USD, … 17 MAD).
const CURRENCIES: [&str; 17] = [
    "USD", "EUR", "CAD", "GBP", "INR", "TRY", "SGD", "PKR", "PHP", "THB", "AUD", "IDR", "MYR", "NGN", "XOF", "MXN",
    "MAD",
];

/// Logiwa's `currencyId` for an ISO code, or None when Logiwa has no such currency.
pub(crate) fn currency_id(code: CurrencyCode) -> Option<u32> {
    CURRENCIES
        .iter()
        .position(|c| *c == code.as_str())
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// How the tenant's client is named on create and in filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientRef {
    /// `clientIdentifier` (UUID); also usable as the `ClientIdentifier.eq` filter.
    Identifier(Uuid),
    /// `client` (display name); no list filter exists for it.
    Name(String),
    /// Not configured (single-client tenants); Logiwa will say if it needs one.
    Unset,
}

impl ClientRef {
    /// The `ClientIdentifier.eq` filter value, when we have an identifier.
    pub(crate) fn filter(&self) -> Option<String> {
        match self {
            Self::Identifier(id) => Some(id.to_string()),
            _ => None,
        }
    }
}

fn number(d: Decimal) -> Value {
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// "Ann Marie Example" → ("Ann", Some("Marie Example")); one word → (word, None).
fn split_name(name: &str) -> (String, Option<String>) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, last)) if !last.trim().is_empty() => (first.to_owned(), Some(last.trim().to_owned())),
        _ => (name.to_owned(), None),
    }
}

fn insert_opt(m: &mut Map<String, Value>, key: &str, v: Option<&str>) {
    if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
        m.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

/// `shipmentAddress` / `billingAddress` (wms-apis.md §1 [SW][KB]).
fn address(a: &Address) -> Value {
    let (first, last) = split_name(&a.name);
    let mut m = Map::new();
    m.insert("firstName".into(), Value::String(first));
    insert_opt(&mut m, "lastName", last.as_deref());
    insert_opt(&mut m, "email", a.email.as_deref());
    // The spec's enum is Commercial | Residential; a company name is the only signal we have.
    let kind = if a.company.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        "Commercial"
    } else {
        "Residential"
    };
    m.insert("type".into(), Value::String(kind.into()));
    insert_opt(&mut m, "country", Some(&a.country));
    insert_opt(&mut m, "state", a.state.as_deref());
    insert_opt(&mut m, "addressLine1", a.street.first().map(String::as_str));
    let rest = a
        .street
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    insert_opt(&mut m, "addressLine2", Some(&rest));
    insert_opt(&mut m, "city", Some(&a.city));
    insert_opt(&mut m, "postalCode", a.postal_code.as_deref());
    insert_opt(&mut m, "phoneNumber", a.phone.as_deref());
    Value::Object(m)
}

/// Builds the `ShipmentOrderCreateApiRequest` (wms-apis.md §1 "Create an order").
///
/// # Errors
/// An `ApiFieldError` naming `currency` when Logiwa's enum has no such currency: sending a default would
/// create an order in the wrong currency.
pub(crate) fn create_body(
    req: &WmsOrderRequest,
    client: &ClientRef,
    shipment_order_type: &str,
) -> Result<Value, ApiFieldError> {
    let currency = currency_id(req.currency).ok_or_else(|| ApiFieldError {
        code: "UNSUPPORTED_CURRENCY".into(),
        message: format!("Logiwa has no currencyId for {}", req.currency),
        fields: vec!["currency".into()],
    })?;
    let mut m = Map::new();
    m.insert("code".into(), Value::String(req.code.clone()));
    m.insert("currencyId".into(), json!(currency));
    m.insert(
        "shipmentOrderDate".into(),
        Value::String(req.ordered_at.format(&Rfc3339).unwrap_or_default()),
    );
    m.insert(
        "shipmentOrderType".into(),
        Value::String(shipment_order_type.to_owned()),
    );
    match Uuid::parse_str(req.warehouse.as_str()) {
        Ok(id) => m.insert("warehouseIdentifier".into(), Value::String(id.to_string())),
        Err(_) => m.insert("warehouse".into(), Value::String(req.warehouse.to_string())),
    };
    match client {
        ClientRef::Identifier(id) => {
            m.insert("clientIdentifier".into(), Value::String(id.to_string()));
        }
        ClientRef::Name(name) => {
            m.insert("client".into(), Value::String(name.clone()));
        }
        ClientRef::Unset => {}
    }
    let customer_name = req
        .customer_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&req.ship_to.name);
    let (first, last) = split_name(customer_name);
    let mut customer = Map::new();
    customer.insert("firstName".into(), Value::String(first));
    insert_opt(&mut customer, "lastName", last.as_deref());
    insert_opt(&mut customer, "email", req.ship_to.email.as_deref());
    m.insert("customer".into(), Value::Object(customer));
    m.insert("shipmentAddress".into(), address(&req.ship_to));
    match &req.bill_to {
        Some(b) => {
            m.insert("useSameAddress".into(), Value::Bool(false));
            m.insert("billingAddress".into(), address(b));
        }
        None => {
            m.insert("useSameAddress".into(), Value::Bool(true));
        }
    }
    // Our record id and order number travel as references so a person can find the order from either side.
    m.insert(
        "clientReferenceCode".into(),
        Value::String(req.source_record_id.to_string()),
    );
    m.insert("channelOrderNumber".into(), Value::String(req.code.clone()));
    // Carrier/service: identifiers go in the identifier fields; names go in `shippingOptionDetails`
    // (`carrierName`/`shippingOptionName`, as the order read-back's requestedCarrier/ShippingOption show).
    let mut details = Map::new();
    if let Some(c) = req.carrier.as_deref().filter(|c| !c.trim().is_empty()) {
        match Uuid::parse_str(c) {
            Ok(id) => m.insert("carrierSetupIdentifier".into(), Value::String(id.to_string())),
            Err(_) => details.insert("carrierName".into(), Value::String(c.to_owned())),
        };
    }
    if let Some(s) = req.service.as_deref().filter(|s| !s.trim().is_empty()) {
        match Uuid::parse_str(s) {
            Ok(id) => m.insert("shippingOptionIdentifier".into(), Value::String(id.to_string())),
            Err(_) => details.insert("shippingOptionName".into(), Value::String(s.to_owned())),
        };
    }
    if !details.is_empty() {
        m.insert("shippingOptionDetails".into(), Value::Object(details));
    }
    let lines: Vec<Value> = req
        .lines
        .iter()
        .map(|l| {
            json!({
                "sku": l.sku.as_str(),
                "packType": l.unit.as_str(),
                "packQuantity": l.quantity,
                "unitPrice": number(l.unit_price),
                "unitTax": number(l.unit_tax),
            })
        })
        .collect();
    m.insert("shipmentOrderLineList".into(), Value::Array(lines));
    Ok(Value::Object(m))
}

/// Field paths named in an `OpenAPIExceptionMessage` (`{"message"}`; several problems may be joined):
/// `shipmentOrderLineList[0].sku: …`, `… Path: $.currencyId`, `The Code field is required.`,
/// `The field Note must be …`.
pub(crate) fn fields_in_message(message: &str) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    let words: Vec<&str> = message.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(path) = w.strip_prefix("$.") {
            out.insert(path.trim_end_matches(['.', ',']).to_owned());
        } else if let Some(path) = w.strip_suffix(':') {
            if path.contains('[') || path.contains('.') {
                out.insert(path.to_owned());
            }
        } else if *w == "The" && words.get(i + 2) == Some(&"field") {
            out.insert(lower_camel(words[i + 1]));
        } else if *w == "The" && words.get(i + 1) == Some(&"field") {
            if let Some(name) = words.get(i + 2) {
                out.insert(lower_camel(name));
            }
        }
    }
    out.into_iter().filter(|f| !f.is_empty()).collect()
}

fn lower_camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Parses the .NET timestamps Logiwa sends: RFC 3339 (`…000Z`) or offset-less (read as UTC).
pub(crate) fn parse_logiwa_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    PrimitiveDateTime::parse(s, &naive)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn decimal(v: Option<&Value>) -> Option<Decimal> {
    match v? {
        Value::Number(n) => {
            let s = n.to_string();
            Decimal::from_str(&s).or_else(|_| Decimal::from_scientific(&s)).ok()
        }
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// `ShipmentOrderListGatewayQueryResponse` subset (wms-apis.md §1 "Shipments").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderRow {
    pub identifier: String,
    pub code: String,
    #[serde(default)]
    pub shipment_order_status_name: Option<String>,
    #[serde(default)]
    pub carrier_name: Option<String>,
    #[serde(default)]
    pub shipping_option_name: Option<String>,
    #[serde(default)]
    pub tracking_numbers: Option<Vec<String>>,
    #[serde(default)]
    pub actual_shipment_date: Option<String>,
    #[serde(default)]
    pub products: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    pub shipment_info: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    pub updated_date_time: Option<String>,
}

impl OrderRow {
    /// The row's `updatedDateTime`: Logiwa's stamp of the order's last change.
    pub(crate) fn changed_at(&self) -> Option<OffsetDateTime> {
        self.updated_date_time.as_deref().and_then(parse_logiwa_datetime)
    }

    /// Whether `updatedDateTime` names its offset. The spec does not say in which zone an offset-less
    /// stamp is; it is read as UTC, which may be hours off.
    pub(crate) fn changed_at_has_offset(&self) -> bool {
        self.updated_date_time
            .as_deref()
            .is_some_and(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).is_ok())
    }
}

fn s<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why a row could not be read.
pub(crate) type RowError = String;

fn shipped_line(sku: &str, qty: Decimal, unit: &str) -> Result<ShippedLine, RowError> {
    let sku = Sku::parse(sku).map_err(|e| e.to_string())?;
    let unit = UnitOfMeasure::parse(unit).map_err(|e| e.to_string())?;
    Ok(ShippedLine {
        sku,
        quantity: Quantity::new(qty, unit).map_err(|e| e.to_string())?,
    })
}

/// Sums quantities per (SKU, unit), keeping first-seen order out of it (sorted) so re-reads compare equal.
fn totals(lines: impl IntoIterator<Item = (String, String, Decimal)>) -> Result<Vec<ShippedLine>, RowError> {
    let mut sums: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for (sku, unit, q) in lines {
        *sums.entry((sku, unit)).or_insert(Decimal::ZERO) += q;
    }
    sums.into_iter()
        .map(|((sku, unit), q)| shipped_line(&sku, q, &unit))
        .collect()
}

/// Stable key of one shipment: a hash of its sorted tracking numbers, so re-reading the order yields the
/// same key and the Salesforce upsert updates instead of duplicating.
pub(crate) fn shipment_key(tracking: &BTreeSet<String>) -> String {
    let joined = tracking.iter().cloned().collect::<Vec<_>>().join(",");
    hex::encode(Sha256::digest(joined.as_bytes()))[..16].to_owned()
}

/// Whether the order is fully shipped: Logiwa says "Shipped", or every line is shipped or cancelled.
fn complete(row: &OrderRow) -> bool {
    if row
        .shipment_order_status_name
        .as_deref()
        .is_some_and(|n| n.trim().eq_ignore_ascii_case("Shipped"))
    {
        return true;
    }
    let products = row.products.as_deref().unwrap_or_default();
    !products.is_empty()
        && products
            .iter()
            .any(|p| decimal(p.get("shippedUOMQuantity")).is_some_and(|q| q > Decimal::ZERO))
        && products.iter().all(|p| {
            let ordered = decimal(p.get("quantity")).unwrap_or(Decimal::ZERO);
            let done = decimal(p.get("shippedUOMQuantity")).unwrap_or(Decimal::ZERO)
                + decimal(p.get("cancelledUOMQuantity")).unwrap_or(Decimal::ZERO);
            done >= ordered
        })
}

/// Turns an order list row into shipments.
///
/// `shipmentInfo` has one row per shipped line per package, with the package's tracking number and ship
/// date; rows that share a ship date are one shipment event, so a split order gives one `Shipment` per
/// date. Without `shipmentInfo` (nothing per package), one `Shipment` carries every tracking number and the
/// cumulative shipped quantities.
pub(crate) fn shipments_from_row(row: &OrderRow) -> Result<Vec<Shipment>, RowError> {
    let wms_order_id = WmsOrderId::parse(&row.identifier).map_err(|e| e.to_string())?;
    let carrier = row.carrier_name.as_deref().and_then(|c| CarrierCode::parse(c).ok());
    let order_complete = complete(row);
    let info = row.shipment_info.as_deref().unwrap_or_default();

    if info.is_empty() {
        // `trackingNumbers` lists packages in the order they shipped and only grows: keep that order, so
        // the first package (which carries the contents-less lines downstream) stays first.
        let mut tracking: Vec<String> = Vec::new();
        for t in row.tracking_numbers.iter().flatten().map(|t| t.trim()) {
            if !t.is_empty() && !tracking.iter().any(|x| x == t) {
                tracking.push(t.to_owned());
            }
        }
        let lines = totals(row.products.iter().flatten().filter_map(|p| {
            let q = decimal(p.get("shippedUOMQuantity")).filter(|q| *q > Decimal::ZERO)?;
            Some((
                s(p, "productSKU")?.to_owned(),
                s(p, "packType").unwrap_or("Unit").to_owned(),
                q,
            ))
        }))?;
        if tracking.is_empty() && lines.is_empty() {
            return Ok(Vec::new());
        }
        let packages = tracking
            .iter()
            .map(|t| {
                Ok(Package {
                    tracking_number: TrackingNumber::parse(t).map_err(|e| e.to_string())?,
                    tracking_url: None,
                    lines: vec![],
                })
            })
            .collect::<Result<Vec<_>, RowError>>()?;
        return Ok(vec![Shipment {
            wms_order_id,
            order_code: row.code.clone(),
            shipment_key: shipment_key(&tracking.iter().cloned().collect()),
            carrier,
            service: row.shipping_option_name.clone(),
            shipped_at: row.actual_shipment_date.as_deref().and_then(parse_logiwa_datetime),
            packages,
            lines,
            order_complete,
        }]);
    }

    // Group rows by ship date (one event), then by package (tracking number, else license plate).
    type Packages<'a> = BTreeMap<String, Vec<&'a Map<String, Value>>>;
    let mut events: BTreeMap<String, Packages<'_>> = BTreeMap::new();
    for r in info {
        let date = s(r, "shipmentDate").unwrap_or_default().to_owned();
        let package = s(r, "trackingNumber")
            .or_else(|| s(r, "licensePlateNumber"))
            .unwrap_or_default()
            .to_owned();
        events.entry(date).or_default().entry(package).or_default().push(r);
    }
    let mut out = Vec::with_capacity(events.len());
    for (date, packages) in events {
        let mut tracking = BTreeSet::new();
        let mut pkgs = Vec::new();
        let mut all_lines = Vec::new();
        let mut service = None;
        for (key, rows) in packages {
            let contents: Vec<(String, String, Decimal)> = rows
                .iter()
                .filter_map(|r| {
                    let q = decimal(r.get("packQuantity")).or_else(|| decimal(r.get("uomQuantity")))?;
                    Some((
                        s(r, "productSku")?.to_owned(),
                        s(r, "packTypeName").unwrap_or("Unit").to_owned(),
                        q,
                    ))
                })
                .collect();
            service = service.or_else(|| rows.iter().find_map(|r| s(r, "shippingOptionName").map(str::to_owned)));
            all_lines.extend(contents.iter().cloned());
            if key.is_empty() {
                continue;
            }
            tracking.insert(key.clone());
            pkgs.push(Package {
                tracking_number: TrackingNumber::parse(&key).map_err(|e| e.to_string())?,
                tracking_url: None,
                lines: totals(contents)?,
            });
        }
        out.push(Shipment {
            wms_order_id: wms_order_id.clone(),
            order_code: row.code.clone(),
            shipment_key: shipment_key(&tracking),
            carrier: carrier.clone(),
            service: service.or_else(|| row.shipping_option_name.clone()),
            shipped_at: parse_logiwa_datetime(&date),
            packages: pkgs,
            lines: totals(all_lines)?,
            order_complete,
        });
    }
    out.sort_by(|a, b| {
        a.shipped_at
            .cmp(&b.shipped_at)
            .then_with(|| a.shipment_key.cmp(&b.shipment_key))
    });
    Ok(out)
}

/// Per-SKU running total while paging inventory rows.
#[derive(Debug, Default)]
pub(crate) struct InventoryTotals {
    per_sku: BTreeMap<String, SkuTotal>,
    seen: BTreeSet<String>,
}

#[derive(Debug)]
struct SkuTotal {
    unit: String,
    on_hand: Decimal,
    available: Decimal,
    as_of: Option<OffsetDateTime>,
}

impl InventoryTotals {
    /// Adds one `OpenAPIListInventoryWithLocationResponse` row. Returns false when the row was already
    /// counted (same `identifier`), which also guards against a paging scheme that overlaps.
    pub(crate) fn add(&mut self, row: &Map<String, Value>) -> bool {
        if let Some(id) = s(row, "identifier") {
            if !self.seen.insert(id.to_owned()) {
                return false;
            }
        }
        let Some(sku) = s(row, "productSku") else {
            tracing::warn!(system = "logiwa", "inventory row without productSku skipped");
            return true;
        };
        let unit = s(row, "uomPackTypeName")
            .or_else(|| s(row, "packTypeName"))
            .unwrap_or("Unit");
        let updated = s(row, "updatedDateTime")
            .or_else(|| s(row, "createdDateTime"))
            .and_then(parse_logiwa_datetime);
        let t = self.per_sku.entry(sku.to_owned()).or_insert_with(|| SkuTotal {
            unit: unit.to_owned(),
            on_hand: Decimal::ZERO,
            available: Decimal::ZERO,
            as_of: None,
        });
        if t.unit != unit {
            tracing::warn!(
                system = "logiwa",
                sku,
                "inventory rows of one SKU in different units; first unit kept"
            );
        }
        t.on_hand += decimal(row.get("totalQuantity")).unwrap_or(Decimal::ZERO);
        t.available += decimal(row.get("availableQuantity")).unwrap_or(Decimal::ZERO);
        t.as_of = t.as_of.max(updated);
        true
    }

    /// Positions per SKU, sorted by SKU. Negative sums (over-allocation) are floored at zero.
    pub(crate) fn positions(
        self,
        location: &LocationCode,
        now: OffsetDateTime,
    ) -> Result<Vec<InventoryPosition>, RowError> {
        self.per_sku
            .into_iter()
            .map(|(sku, t)| {
                let unit = UnitOfMeasure::parse(&t.unit).map_err(|e| e.to_string())?;
                let q =
                    |v: Decimal| Quantity::new(v.max(Decimal::ZERO), unit.clone()).map_err(|e| format!("{sku}: {e}"));
                Ok(InventoryPosition {
                    sku: Sku::parse(&sku).map_err(|e| e.to_string())?,
                    location: location.clone(),
                    on_hand: q(t.on_hand)?,
                    available: q(t.available)?,
                    as_of: t.as_of.unwrap_or(now),
                })
            })
            .collect()
    }
}

/// How a paged list behaves while we read it, which decides what "whole" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Rows change and disappear (stock per location): the total must not move between pages and no
    /// row may show up twice, or rows shifted between pages and some were skipped.
    Snapshot,
    /// Rows are only ever added (transaction history): an insertion pushes later rows one place on,
    /// so it can repeat a row across a page boundary but never skip one. The total may grow; it must
    /// never shrink, since only a removal can make us skip.
    AppendOnly,
    /// Rows are added and change in place (orders by update day; the sort order is undocumented): the
    /// total may grow but not shrink, and a repeated row means one moved, which may have pushed an
    /// unread row back across the boundary, so it makes the read incomplete.
    Changing,
}

/// More pages than this in one read means paging is not ending (e.g. `i` read as a row offset).
const MAX_PAGES: usize = 1000;

/// Follows one paged read and decides whether it was whole (wms-apis.md §1: paging is
/// `/i/{startIndex}/s/{pageSize}`, answers are `{data, totalCount}`; `totalCount` is a non-nullable
/// int32 in every `…ListListingResponse` schema).
#[derive(Debug)]
pub(crate) struct Paging {
    kind: ListKind,
    size: usize,
    pages: usize,
    read: u64,
    total: Option<u64>,
    problem: Option<String>,
}

impl Paging {
    pub(crate) fn new(kind: ListKind, size: usize) -> Self {
        Self {
            kind,
            size,
            pages: 0,
            read: 0,
            total: None,
            problem: None,
        }
    }

    /// Marks the read incomplete (e.g. a row that cannot be attributed); the first reason is kept.
    pub(crate) fn fail(&mut self, reason: String) {
        self.problem.get_or_insert(reason);
    }

    /// Records one page: `rows` as answered, `total` its `totalCount` (`None` when absent),
    /// `repeated` how many of its rows were already seen, `no_content` for a 204 answer (the spec's
    /// "successful, no content" for a GET). Returns whether to read the next page.
    pub(crate) fn page(&mut self, rows: usize, total: Option<u64>, repeated: usize, no_content: bool) -> bool {
        let index = self.pages;
        self.pages += 1;
        if self.problem.is_some() {
            return false;
        }
        let total = match (total, no_content) {
            (Some(t), _) => t,
            // An empty first page says there is nothing; a later one is only as good as the last total.
            (None, true) if index == 0 => 0,
            (None, true) => self.total.unwrap_or(0),
            (None, false) => {
                self.fail(format!("page {index} has no totalCount"));
                return false;
            }
        };
        if let Some(before) = self.total {
            let moved = match self.kind {
                ListKind::Snapshot => total != before,
                ListKind::AppendOnly | ListKind::Changing => total < before,
            };
            if moved {
                self.fail(format!("totalCount went from {before} to {total} between pages"));
                return false;
            }
        }
        self.total = Some(total);
        if repeated > 0 && matches!(self.kind, ListKind::Snapshot | ListKind::Changing) {
            self.fail(format!(
                "page {index} repeats {repeated} rows already read (the list shifted)"
            ));
            return false;
        }
        self.read += rows as u64;
        if self.read > total {
            self.fail(format!("{} rows read but totalCount is {total}", self.read));
            return false;
        }
        if rows < self.size {
            if self.read < total {
                self.fail(format!(
                    "page {index} has {rows} rows, but totalCount is {total} and only {} were read",
                    self.read
                ));
            }
            return false;
        }
        if self.read == total {
            return false;
        }
        if self.pages >= MAX_PAGES {
            self.fail(format!("paging did not end after {MAX_PAGES} pages"));
            return false;
        }
        true
    }

    /// The verdict.
    pub(crate) fn finish(self) -> Completeness {
        match self.problem {
            None => Completeness::Complete,
            Some(reason) => Completeness::Incomplete { reason },
        }
    }
}

/// One `TransactionHistoryListGatewayQueryResponse` row, as far as change detection needs it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TransactionRow {
    #[serde(default)]
    pub transaction_detail_history_id: Option<i64>,
    #[serde(default)]
    pub action_identifier: Option<String>,
    #[serde(default, rename = "productSKU")]
    pub product_sku: Option<String>,
    #[serde(default)]
    pub transaction_date_time: Option<String>,
    #[serde(default)]
    pub from_warehouse_code: Option<String>,
    #[serde(default)]
    pub to_warehouse_code: Option<String>,
}

impl TransactionRow {
    /// A key that is the same each time the row is read (for spotting repeats across pages).
    pub(crate) fn key(&self) -> Option<String> {
        self.transaction_detail_history_id
            .map(|id| id.to_string())
            .or_else(|| self.action_identifier.clone())
    }

    /// When it happened; `None` when absent or unreadable.
    pub(crate) fn at(&self) -> Option<OffsetDateTime> {
        self.transaction_date_time.as_deref().and_then(parse_logiwa_datetime)
    }

    /// Whether it touched the warehouse with this code (either side of a move).
    pub(crate) fn touches(&self, warehouse_code: &str) -> bool {
        [&self.from_warehouse_code, &self.to_warehouse_code]
            .iter()
            .any(|c| c.as_deref().map(str::trim) == Some(warehouse_code))
    }
}

/// The `….bt` value of a date filter (`TransactionDate`, `UpdatedDateTime`) for a window. Filter dates
/// are whole days (`YYYY-MM-DD`; wms-apis.md §1 "Inventory" and "Rate limits and errors", [SW]), and
/// the spec does not say in which time zone a tenant's days run: widening by a day on each side covers
/// every offset from −12 h to +14 h. The caller then keeps only the rows whose own time stamp the window
/// contains.
pub(crate) fn filter_dates(window: &ChangeWindow) -> String {
    let day = format_description!("[year]-[month]-[day]");
    let utc = |t: OffsetDateTime| t.to_offset(time::UtcOffset::UTC).date();
    let from = utc(window.from).previous_day().unwrap_or(time::Date::MIN);
    let to = utc(window.to).next_day().unwrap_or(time::Date::MAX);
    format!(
        "{},{}",
        from.format(&day).unwrap_or_default(),
        to.format(&day).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SalesforceId;
    use crate::ports::WmsOrderLine;

    fn request() -> WmsOrderRequest {
        WmsOrderRequest {
            code: "FO-0000001".into(),
            source_record_id: SalesforceId::parse("0a3000000000001").expect("id"),
            warehouse: LocationCode::parse("WH1").expect("wh"),
            currency: CurrencyCode::parse("USD").expect("usd"),
            ordered_at: time::macros::datetime!(2026-11-20 10:00 UTC),
            customer_name: None,
            ship_to: Address {
                name: "Ann Example".into(),
                company: None,
                street: vec!["1 Main St".into(), "Apt 4".into()],
                city: "Springfield".into(),
                state: Some("IL".into()),
                postal_code: Some("62701".into()),
                country: "US".into(),
                phone: Some("555-0100".into()),
                email: Some("ann@example.com".into()),
            },
            bill_to: None,
            carrier: Some("UPS".into()),
            service: Some("Ground".into()),
            lines: vec![WmsOrderLine {
                source_line_id: SalesforceId::parse("0a4000000000001").expect("id"),
                sku: Sku::parse("SKU-1").expect("sku"),
                unit: UnitOfMeasure::parse("Unit").expect("unit"),
                quantity: 2,
                unit_price: Decimal::from(10),
                unit_tax: Decimal::from_str("0.8").expect("dec"),
                description: None,
            }],
        }
    }

    #[test]
    fn an_order_request_becomes_the_documented_create_body() {
        // Given a mapped order and a client configured by name
        let req = request();
        // When the create body is built
        let body = create_body(&req, &ClientRef::Name("Waybill Demo".into()), "Shipment Order").expect("body");
        // Then it equals the fixture field for field
        let expected: Value = serde_json::from_str(include_str!("fixtures/create_request.json")).expect("fixture");
        assert_eq!(body, expected);
    }

    #[test]
    fn a_uuid_warehouse_and_client_go_in_the_identifier_fields() {
        let mut req = request();
        let wh = Uuid::new_v4();
        req.warehouse = LocationCode::parse(&wh.to_string()).expect("wh");
        let client = Uuid::new_v4();
        let body = create_body(&req, &ClientRef::Identifier(client), "Shipment Order").expect("body");
        assert_eq!(body["warehouseIdentifier"], json!(wh.to_string()));
        assert_eq!(body["clientIdentifier"], json!(client.to_string()));
        assert!(body.get("warehouse").is_none() && body.get("client").is_none());
    }

    #[test]
    fn an_unsupported_currency_is_rejected_naming_the_field() {
        let mut req = request();
        req.currency = CurrencyCode::parse("JPY").expect("jpy");
        let err = create_body(&req, &ClientRef::Unset, "Shipment Order").expect_err("no JPY in Logiwa");
        assert_eq!(err.fields, vec!["currency".to_owned()]);
        assert_eq!(currency_id(CurrencyCode::parse("GBP").expect("gbp")), Some(4));
        assert_eq!(currency_id(CurrencyCode::parse("MAD").expect("mad")), Some(17));
    }

    #[test]
    fn field_paths_are_read_out_of_logiwa_messages() {
        assert_eq!(
            fields_in_message("shipmentOrderLineList[0].sku: Product not found. Sku: NOPE"),
            vec!["shipmentOrderLineList[0].sku".to_owned()]
        );
        assert_eq!(
            fields_in_message(
                "The Code field is required. The JSON value could not be converted to System.Int32. Path: $.currencyId"
            ),
            vec!["code".to_owned(), "currencyId".to_owned()]
        );
        assert_eq!(
            fields_in_message("The field Note must be a string with a maximum length of '500'."),
            vec!["note".to_owned()]
        );
        assert!(fields_in_message("Shipment order code already exists. Code: X").is_empty());
    }

    fn row(info: Value) -> OrderRow {
        serde_json::from_value(json!({
            "identifier": "7c0e0000-0000-4000-8000-000000000001", "code": "FO-0000001",
            "shipmentOrderStatusName": "Partially Shipped", "carrierName": "UPS", "shippingOptionName": "Ground",
            "trackingNumbers": ["1Z1", "1Z2", "1Z3"],
            "products": [
                {"productSKU": "SKU-1", "packType": "Unit", "quantity": 3, "shippedUOMQuantity": 3, "cancelledUOMQuantity": 0},
                {"productSKU": "SKU-2", "packType": "Unit", "quantity": 2, "shippedUOMQuantity": 1, "cancelledUOMQuantity": 0}
            ],
            "shipmentInfo": info
        }))
        .expect("row")
    }

    #[test]
    fn packages_shipped_at_different_times_become_separate_shipments() {
        // Given two ship events: two packages on day one, one on day two
        let r = row(json!([
            {"productSku": "SKU-1", "packTypeName": "Unit", "packQuantity": 2, "trackingNumber": "1Z1", "shipmentDate": "2026-11-23T01:00:00.000Z"},
            {"productSku": "SKU-2", "packTypeName": "Unit", "packQuantity": 1, "trackingNumber": "1Z2", "shipmentDate": "2026-11-23T01:00:00.000Z"},
            {"productSku": "SKU-1", "packTypeName": "Unit", "packQuantity": 1, "trackingNumber": "1Z3", "shipmentDate": "2026-11-24T09:00:00.000Z"}
        ]));
        // When converted
        let shipments = shipments_from_row(&r).expect("converts");
        // Then there are two shipments in date order, with their packages and per-SKU totals
        assert_eq!(shipments.len(), 2);
        assert_eq!(shipments[0].packages.len(), 2);
        assert_eq!(shipments[0].lines.len(), 2);
        assert_eq!(shipments[1].packages[0].tracking_number.as_str(), "1Z3");
        assert_eq!(shipments[1].lines[0].quantity.value(), Decimal::ONE);
        assert!(!shipments[0].order_complete);
        assert_ne!(shipments[0].shipment_key, shipments[1].shipment_key);
        // And the keys are stable across re-reads
        assert_eq!(
            shipments_from_row(&r).expect("again")[0].shipment_key,
            shipments[0].shipment_key
        );
    }

    #[test]
    fn without_package_rows_one_shipment_carries_every_tracking_number() {
        let r = row(json!([]));
        let shipments = shipments_from_row(&r).expect("converts");
        assert_eq!(shipments.len(), 1);
        assert_eq!(shipments[0].packages.len(), 3);
        assert_eq!(shipments[0].lines.len(), 2);
    }

    #[test]
    fn inventory_rows_are_summed_per_sku_and_counted_once() {
        let mut t = InventoryTotals::default();
        let r = |id: &str, sku: &str, total: i64, avail: i64, at: &str| {
            json!({"identifier": id, "productSku": sku, "uomPackTypeName": "Unit", "totalQuantity": total,
                   "availableQuantity": avail, "updatedDateTime": at})
            .as_object()
            .cloned()
            .expect("object")
        };
        assert!(t.add(&r("a", "SKU-1", 10, 8, "2026-11-23T01:00:00.000Z")));
        assert!(t.add(&r("b", "SKU-1", 5, 5, "2026-11-23T02:00:00.000Z")));
        assert!(!t.add(&r("b", "SKU-1", 5, 5, "2026-11-23T02:00:00.000Z")));
        assert!(t.add(&r("c", "SKU-2", 1, 0, "2026-11-22T01:00:00.000Z")));
        let loc = LocationCode::parse("WH1").expect("loc");
        let p = t.positions(&loc, OffsetDateTime::now_utc()).expect("positions");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].on_hand.value(), Decimal::from(15));
        assert_eq!(p[0].available.value(), Decimal::from(13));
        assert_eq!(p[0].as_of, time::macros::datetime!(2026-11-23 02:00 UTC));
    }

    #[test]
    fn a_read_that_ends_on_its_total_is_complete() {
        let mut p = Paging::new(ListKind::Snapshot, 2);
        assert!(p.page(2, Some(3), 0, false));
        assert!(!p.page(1, Some(3), 0, false));
        assert_eq!(p.finish(), Completeness::Complete);
        let mut exact = Paging::new(ListKind::Snapshot, 2);
        assert!(exact.page(2, Some(4), 0, false));
        assert!(
            !exact.page(2, Some(4), 0, false),
            "stops at the total without an empty page"
        );
        assert_eq!(exact.finish(), Completeness::Complete);
    }

    #[test]
    fn a_short_or_empty_page_before_the_total_is_incomplete() {
        let mut short = Paging::new(ListKind::Snapshot, 200);
        assert!(!short.page(1, Some(3), 0, false));
        assert!(!short.finish().is_complete());
        let mut empty = Paging::new(ListKind::Snapshot, 2);
        assert!(empty.page(2, Some(5), 0, false));
        assert!(!empty.page(0, Some(5), 0, false));
        assert!(matches!(empty.finish(), Completeness::Incomplete { reason } if reason.contains("page 1 has 0 rows")));
        let mut late_204 = Paging::new(ListKind::Snapshot, 2);
        assert!(late_204.page(2, Some(3), 0, false));
        assert!(!late_204.page(0, None, 0, true));
        assert!(!late_204.finish().is_complete());
    }

    #[test]
    fn an_empty_first_page_with_no_content_is_a_complete_empty_list() {
        let mut p = Paging::new(ListKind::Snapshot, 200);
        assert!(!p.page(0, None, 0, true));
        assert_eq!(p.finish(), Completeness::Complete);
        let mut missing_total = Paging::new(ListKind::Snapshot, 200);
        assert!(!missing_total.page(0, None, 0, false));
        assert!(!missing_total.finish().is_complete());
    }

    #[test]
    fn a_snapshot_whose_total_moves_or_rows_repeat_is_incomplete_but_a_growing_log_is_not() {
        let mut moved = Paging::new(ListKind::Snapshot, 2);
        assert!(moved.page(2, Some(5), 0, false));
        assert!(!moved.page(2, Some(4), 0, false));
        assert!(!moved.finish().is_complete());
        let mut repeated = Paging::new(ListKind::Snapshot, 2);
        assert!(repeated.page(2, Some(5), 0, false));
        assert!(!repeated.page(2, Some(5), 1, false));
        assert!(!repeated.finish().is_complete());
        // A log that grew by one while we read: one row repeats, nothing is skipped.
        let mut log = Paging::new(ListKind::AppendOnly, 2);
        assert!(log.page(2, Some(3), 0, false));
        assert!(!log.page(2, Some(4), 1, false));
        assert_eq!(log.finish(), Completeness::Complete);
        let mut shrunk = Paging::new(ListKind::AppendOnly, 2);
        assert!(shrunk.page(2, Some(4), 0, false));
        assert!(!shrunk.page(1, Some(3), 0, false));
        assert!(!shrunk.finish().is_complete());
    }

    #[test]
    fn an_order_listing_may_grow_while_read_but_a_repeated_or_vanished_row_makes_it_incomplete() {
        // Orders created while we read: the total grows, no row repeats, nothing was skipped.
        let mut grown = Paging::new(ListKind::Changing, 2);
        assert!(grown.page(2, Some(3), 0, false));
        assert!(!grown.page(2, Some(4), 0, false));
        assert_eq!(grown.finish(), Completeness::Complete);
        // An order that moved behind the reader shows up again, and may have pushed one unread row
        // back across the page boundary: unlike a log, that is not whole.
        let mut moved = Paging::new(ListKind::Changing, 2);
        assert!(moved.page(2, Some(4), 0, false));
        assert!(!moved.page(2, Some(4), 1, false));
        assert!(!moved.finish().is_complete());
        let mut shrunk = Paging::new(ListKind::Changing, 2);
        assert!(shrunk.page(2, Some(4), 0, false));
        assert!(!shrunk.page(1, Some(3), 0, false));
        assert!(!shrunk.finish().is_complete());
    }

    #[test]
    fn transaction_rows_carry_their_sku_time_and_warehouse() {
        let row: TransactionRow = serde_json::from_value(json!({
            "transactionDetailHistoryId": 7, "productSKU": "SKU-1",
            "transactionDateTime": "2026-11-23T10:00:00.123Z", "fromWarehouseCode": "WH1", "toWarehouseCode": null
        }))
        .expect("row");
        assert_eq!(row.key().as_deref(), Some("7"));
        assert_eq!(row.at(), Some(time::macros::datetime!(2026-11-23 10:00:00.123 UTC)));
        assert!(row.touches("WH1") && !row.touches("WH2"));
    }

    #[test]
    fn the_transaction_date_range_is_whole_days_widened_by_one_on_each_side() {
        let w = ChangeWindow {
            from: time::macros::datetime!(2026-11-23 23:58 UTC),
            to: time::macros::datetime!(2026-11-24 00:03 UTC),
        };
        assert_eq!(filter_dates(&w), "2026-11-22,2026-11-25");
    }

    proptest::proptest! {
        /// Whatever time zone the tenant's days run in, every instant of the window falls on a day the
        /// filter asks for, so filtering on the row's own time afterwards loses nothing.
        #[test]
        fn the_date_range_covers_the_window_in_any_tenant_time_zone(
            from_s in 0i64..4_000_000_000,
            len_s in 0i64..(3 * 86_400),
            at_s in 0i64..(3 * 86_400),
            offset_min in (-12i64 * 60)..=(14 * 60),
        ) {
            let from = OffsetDateTime::from_unix_timestamp(from_s).expect("in range");
            let window = ChangeWindow { from, to: from + time::Duration::seconds(len_s) };
            let at = from + time::Duration::seconds(at_s.min(len_s));
            let value = filter_dates(&window);
            let (a, b) = value.split_once(',').expect("two dates");
            let day = format_description!("[year]-[month]-[day]");
            let (a, b) = (time::Date::parse(a, &day).expect("date"), time::Date::parse(b, &day).expect("date"));
            let offset = time::UtcOffset::from_whole_seconds(i32::try_from(offset_min * 60).expect("fits")).expect("offset");
            let local_day = at.to_offset(offset).date();
            proptest::prop_assert!(a <= local_day && local_day <= b, "{value} misses {local_day} at {offset}");
        }
    }
}

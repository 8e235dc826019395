//! Pure conversions for the Salesforce adapter: the FulfillmentOrder SOQL, SOQL record → canonical `Order`,
//! write bodies for Shipment/ShipmentItem/inventory, and Collections results (salesforce-api.md §2, §5).

use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use super::profile::{ItemObject, ShipmentObject};
use crate::domain::{
    Address, CarrierCode, CurrencyCode, LineKind, LocationCode, Order, OrderLine, OrderSource, Quantity, SalesforceId,
    ServiceLevel, Sku, SourceSystem, UnitOfMeasure, ValidationError,
};
use crate::ports::{ApiFieldError, InventoryRecord, RecordOutcome, ShipmentItemRecord, ShipmentRecord};

/// Fields read from FulfillmentOrder and its parents (salesforce-api.md §5 [82][89]; Location and Product2
/// fields as the simulator schema has them). Not read on purpose:
/// `AccountId`/`Account.Name` and `OrderSummary.OrderNumber` (not in the notes' field lists) and `OrderId`
/// (in the notes, but absent from the simulator schema, so the query would fail there).
/// `CurrencyIsoCode` exists only in multi-currency orgs; it is configurable for that reason.
const FO_FIELDS: &[&str] = &[
    "Id",
    "FulfillmentOrderNumber",
    "Status",
    "Type",
    "OrderSummaryId",
    "CreatedDate",
    "FulfilledToName",
    "FulfilledToStreet",
    "FulfilledToCity",
    "FulfilledToState",
    "FulfilledToPostalCode",
    "FulfilledToCountry",
    "FulfilledToPhone",
    "FulfilledToEmailAddress",
    "DeliveryMethodId",
    "DeliveryMethod.Name",
    "DeliveryMethod.Carrier",
    "DeliveryMethod.ClassOfService",
    "DeliveryMethod.ReferenceNumber",
    "FulfilledFromLocationId",
    "FulfilledFromLocation.Name",
    "FulfilledFromLocation.ExternalReference",
];

/// FulfillmentOrderLineItem fields (salesforce-api.md §5 [83]). `UnitPrice`, `TotalTaxAmount` and
/// `Description` are not in the notes' list but are in the simulator schema; without them the WMS order
/// would carry no prices (customs paperwork needs them).
const FOLI_FIELDS: &[&str] = &[
    "Id",
    "Product2Id",
    "Product2.StockKeepingUnit",
    "Product2.Name",
    "Product2.QuantityUnitOfMeasure",
    "OrderItemSummaryId",
    "Quantity",
    "UnitPrice",
    "TotalTaxAmount",
    "Type",
    "TypeCode",
    "Description",
];

/// The unit when Product2 has no `QuantityUnitOfMeasure`.
const DEFAULT_UNIT: &str = "Each";

/// Builds the one query that reads up to 200 FulfillmentOrder graphs (SOQL via `GET query`, §2 [32]).
/// Ids are validated `SalesforceId`s (ASCII alphanumerics), so quoting them needs no escaping.
pub(crate) fn fulfillment_order_soql(ids: &[SalesforceId], currency_field: Option<&str>) -> String {
    let mut fields: Vec<&str> = FO_FIELDS.to_vec();
    if let Some(c) = currency_field {
        fields.push(c);
    }
    let id_list = ids
        .iter()
        .map(|id| format!("'{}'", id.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "SELECT {}, (SELECT {} FROM FulfillmentOrderLineItems) FROM FulfillmentOrder WHERE Id IN ({id_list})",
        fields.join(", "),
        FOLI_FIELDS.join(", ")
    )
}

/// How conversion reads options that depend on the org.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderReadOptions {
    /// Field holding the currency (`CurrencyIsoCode`), or None in single-currency orgs.
    pub currency_field: Option<String>,
    /// Currency used when the record has none (single-currency orgs).
    pub default_currency: Option<CurrencyCode>,
}

fn field<'a>(rec: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = rec;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A text field, trimmed; None when null, absent or blank.
fn text(rec: &Value, path: &str) -> Option<String> {
    field(rec, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn required_text(rec: &Value, path: &str) -> Result<String, ValidationError> {
    text(rec, path).ok_or_else(|| ValidationError::new(path, "is required but empty"))
}

fn decimal(rec: &Value, path: &str) -> Result<Option<Decimal>, ValidationError> {
    match field(rec, path) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let s = n.to_string();
            Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .map(Some)
                .map_err(|_| ValidationError::new(path, format!("is not a decimal number: {s}")))
        }
        Some(other) => Err(ValidationError::new(path, format!("must be a number, got {other}"))),
    }
}

fn optional_id(rec: &Value, path: &str) -> Result<Option<SalesforceId>, ValidationError> {
    text(rec, path)
        .map(|s| SalesforceId::parse(&s).map_err(|e| ValidationError::new(path, e.message)))
        .transpose()
}

/// Parses Salesforce datetimes: `2026-11-23T01:02:03.000+0000` (REST form, offset without colon) or RFC 3339.
pub(crate) fn parse_sf_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(s, &fmt).ok()
}

/// Salesforce keeps street lines in one field separated by newlines.
fn street_lines(raw: Option<String>) -> Vec<String> {
    raw.map(|s| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Converts one FulfillmentOrder record (with its parent paths and line subquery) into the canonical order.
///
/// # Errors
/// `ValidationError` naming the Salesforce field (e.g. `FulfilledToName`,
/// `FulfillmentOrderLineItems[1].Product2.StockKeepingUnit`) that prevents the conversion.
pub(crate) fn order_from_record(rec: &Value, opts: &OrderReadOptions) -> Result<Order, ValidationError> {
    let record_id =
        SalesforceId::parse(&required_text(rec, "Id")?).map_err(|e| ValidationError::new("Id", e.message))?;
    let number = required_text(rec, "FulfillmentOrderNumber")?;
    let status = required_text(rec, "Status")?;

    let ship_to = Address {
        name: required_text(rec, "FulfilledToName")?,
        company: None,
        street: street_lines(text(rec, "FulfilledToStreet")),
        city: text(rec, "FulfilledToCity").unwrap_or_default(),
        state: text(rec, "FulfilledToState"),
        postal_code: text(rec, "FulfilledToPostalCode"),
        country: text(rec, "FulfilledToCountry").unwrap_or_default(),
        phone: text(rec, "FulfilledToPhone"),
        email: text(rec, "FulfilledToEmailAddress"),
    };

    let location = text(rec, "FulfilledFromLocation.ExternalReference")
        .or_else(|| text(rec, "FulfilledFromLocation.Name"))
        .ok_or_else(|| {
            ValidationError::new(
                "FulfilledFromLocationId",
                "no fulfilment location (ExternalReference or Name)",
            )
        })?;
    let fulfilled_from = LocationCode::parse(&location)
        .map_err(|e| ValidationError::new("FulfilledFromLocation.ExternalReference", e.message))?;

    let method = text(rec, "DeliveryMethod.ReferenceNumber")
        .or_else(|| text(rec, "DeliveryMethod.Name"))
        .ok_or_else(|| ValidationError::new("DeliveryMethodId", "no delivery method (ReferenceNumber or Name)"))?;
    let carrier = text(rec, "DeliveryMethod.Carrier")
        .map(|c| CarrierCode::parse(&c).map_err(|e| ValidationError::new("DeliveryMethod.Carrier", e.message)))
        .transpose()?;
    let service_level = ServiceLevel {
        carrier,
        service: text(rec, "DeliveryMethod.ClassOfService"),
        method,
    };

    let currency = match opts
        .currency_field
        .as_deref()
        .and_then(|f| text(rec, f).map(|v| (f, v)))
    {
        Some((f, v)) => CurrencyCode::parse(&v).map_err(|e| ValidationError::new(f, e.message))?,
        None => opts.default_currency.ok_or_else(|| {
            ValidationError::new(
                opts.currency_field.as_deref().unwrap_or("currency"),
                "no currency and no default configured",
            )
        })?,
    };

    let created = required_text(rec, "CreatedDate")?;
    let ordered_at = parse_sf_datetime(&created)
        .ok_or_else(|| ValidationError::new("CreatedDate", format!("is not a Salesforce datetime: {created}")))?;

    let mut external_ids = Vec::new();
    for f in ["OrderSummaryId", "DeliveryMethodId", "FulfilledFromLocationId"] {
        if let Some(v) = text(rec, f) {
            external_ids.push((f.to_owned(), v));
        }
    }

    // A child relationship with no rows comes back as null (§2 [32]).
    let line_records = match field(rec, "FulfillmentOrderLineItems") {
        None => Vec::new(),
        Some(rel) => rel
            .get("records")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ValidationError::new("FulfillmentOrderLineItems", "has no records array"))?,
    };
    let lines = line_records
        .iter()
        .enumerate()
        .map(|(i, l)| line_from_record(l).map_err(|e| e.within(format!("FulfillmentOrderLineItems[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Order {
        source: OrderSource {
            system: SourceSystem::SalesforceOrderManagement,
            record_id,
            number,
            external_ids,
        },
        status,
        account_name: None,
        ship_to,
        bill_to: None,
        service_level,
        fulfilled_from,
        currency,
        ordered_at,
        lines,
    })
}

fn line_from_record(rec: &Value) -> Result<OrderLine, ValidationError> {
    let line_id = SalesforceId::parse(&required_text(rec, "Id")?).map_err(|e| ValidationError::new("Id", e.message))?;
    // §5 [83]: TypeCode is Product or Charge.
    let kind = match text(rec, "TypeCode").as_deref() {
        Some(c) if c.eq_ignore_ascii_case("Product") => LineKind::Product,
        Some(c) if c.eq_ignore_ascii_case("Charge") => LineKind::Charge,
        Some(other) => {
            return Err(ValidationError::new(
                "TypeCode",
                format!("unknown line type code '{other}'"),
            ))
        }
        None => return Err(ValidationError::new("TypeCode", "is required but empty")),
    };
    // Goods need a SKU to pick; a charge line (delivery charge, fee) only travels for invoicing, so it
    // falls back to its product name or type.
    let sku_raw = match kind {
        LineKind::Product => required_text(rec, "Product2.StockKeepingUnit")?,
        LineKind::Charge => text(rec, "Product2.StockKeepingUnit")
            .or_else(|| text(rec, "Product2.Name"))
            .or_else(|| text(rec, "Type"))
            .unwrap_or_else(|| "CHARGE".to_owned()),
    };
    let sku = Sku::parse(&sku_raw).map_err(|e| ValidationError::new("Product2.StockKeepingUnit", e.message))?;
    let unit_raw = text(rec, "Product2.QuantityUnitOfMeasure").unwrap_or_else(|| DEFAULT_UNIT.to_owned());
    let unit = UnitOfMeasure::parse(&unit_raw)
        .map_err(|e| ValidationError::new("Product2.QuantityUnitOfMeasure", e.message))?;
    let qty = decimal(rec, "Quantity")?.ok_or_else(|| ValidationError::new("Quantity", "is required but empty"))?;
    let quantity = Quantity::new(qty, unit).map_err(|e| ValidationError::new("Quantity", e.message))?;
    let unit_price = decimal(rec, "UnitPrice")?.unwrap_or(Decimal::ZERO);
    let total_tax = decimal(rec, "TotalTaxAmount")?.unwrap_or(Decimal::ZERO);
    // TotalTaxAmount is per line; the canonical line carries tax per unit.
    let unit_tax = if qty.is_zero() {
        Decimal::ZERO
    } else {
        (total_tax / qty).round_dp(4)
    };
    Ok(OrderLine {
        line_id,
        kind,
        sku,
        description: text(rec, "Description").or_else(|| text(rec, "Product2.Name")),
        quantity,
        unit_price,
        unit_tax,
        product_id: optional_id(rec, "Product2Id")?,
        order_item_summary_id: optional_id(rec, "OrderItemSummaryId")?,
    })
}

/// JSON number from a decimal (Salesforce takes doubles for Quantity and currency fields).
pub(crate) fn number(d: Decimal) -> Value {
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    // Omitted rather than null: on the update path of an upsert, null would blank a value someone set.
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

/// A shipment record for a Collections upsert in the profile's object and fields (SOM: Shipment, §5
/// [84]; external id in the body, as Collections upsert needs).
pub(crate) fn shipment_body(s: &ShipmentRecord, ext_field: &str, p: &ShipmentObject) -> Value {
    let mut m = Map::new();
    m.insert("attributes".into(), json!({"type": p.object}));
    m.insert(ext_field.to_owned(), Value::String(s.external_key.clone()));
    m.insert(p.order_field.clone(), Value::String(s.fulfillment_order_id.to_string()));
    let mut opt = |field: &Option<String>, value: Option<String>| {
        if let Some(f) = field {
            put(&mut m, f, value);
        }
    };
    opt(
        &p.order_summary_field,
        s.order_summary_id.as_ref().map(ToString::to_string),
    );
    opt(
        &p.delivery_method_field,
        s.delivery_method_id.as_ref().map(ToString::to_string),
    );
    opt(&p.provider_field, s.provider.clone());
    opt(&p.tracking_number_field, s.tracking_number.clone());
    opt(&p.tracking_url_field, s.tracking_url.clone());
    if let Some(a) = &p.ship_to {
        m.insert(a.name.clone(), Value::String(s.ship_to.name.clone()));
        let street = s.ship_to.street.join("\n");
        put(&mut m, &a.street, Some(street).filter(|v| !v.is_empty()));
        put(&mut m, &a.city, Some(s.ship_to.city.clone()).filter(|v| !v.is_empty()));
        put(&mut m, &a.state, s.ship_to.state.clone());
        put(&mut m, &a.postal_code, s.ship_to.postal_code.clone());
        put(
            &mut m,
            &a.country,
            Some(s.ship_to.country.clone()).filter(|v| !v.is_empty()),
        );
    }
    if let Some(fixed) = &p.status {
        m.insert(fixed.field.clone(), Value::String(fixed.value.clone()));
    }
    if let Some(f) = &p.total_quantity_field {
        let total: Decimal = s.items.iter().map(|i| i.quantity).sum();
        m.insert(f.clone(), number(total));
    }
    Value::Object(m)
}

/// A shipment item record in the profile's object and fields (SOM: ShipmentItem, §5 [85]). A parent
/// lookup that is settable on create only (SOM's master-detail `ShipmentId`) is sent only when the item
/// is (or may be) new: the caller passes `None` otherwise.
pub(crate) fn shipment_item_body(
    item: &ShipmentItemRecord,
    shipment_id: Option<&SalesforceId>,
    ext_field: &str,
    p: &ItemObject,
) -> Value {
    let mut m = Map::new();
    m.insert("attributes".into(), json!({"type": p.object}));
    m.insert(ext_field.to_owned(), Value::String(item.external_key.clone()));
    put(&mut m, &p.parent_field, shipment_id.map(ToString::to_string));
    m.insert(p.line_field.clone(), Value::String(item.line_id.to_string()));
    if let Some(f) = &p.product_field {
        put(&mut m, f, item.product_id.as_ref().map(ToString::to_string));
    }
    if let Some(f) = &p.order_item_summary_field {
        put(&mut m, f, item.order_item_summary_id.as_ref().map(ToString::to_string));
    }
    m.insert(p.quantity_field.clone(), number(item.quantity));
    Value::Object(m)
}

/// Field names of the inventory custom object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryFields {
    /// SKU (default `Sku__c`).
    pub sku: String,
    /// Location (default `Location__c`).
    pub location: String,
    /// On hand (default `On_Hand__c`).
    pub on_hand: String,
    /// Available (default `Available__c`).
    pub available: String,
    /// Unit (default `Unit__c`).
    pub unit: String,
    /// As-of datetime (default `As_Of__c`).
    pub as_of: String,
}

impl Default for InventoryFields {
    fn default() -> Self {
        Self {
            sku: "Sku__c".into(),
            location: "Location__c".into(),
            on_hand: "On_Hand__c".into(),
            available: "Available__c".into(),
            unit: "Unit__c".into(),
            as_of: "As_Of__c".into(),
        }
    }
}

/// An inventory record for a Collections upsert.
pub(crate) fn inventory_body(r: &InventoryRecord, object: &str, ext_field: &str, f: &InventoryFields) -> Value {
    let p = &r.position;
    let mut m = Map::new();
    m.insert("attributes".into(), json!({"type": object}));
    m.insert(ext_field.to_owned(), Value::String(r.key.clone()));
    m.insert(f.sku.clone(), Value::String(p.sku.to_string()));
    m.insert(f.location.clone(), Value::String(p.location.to_string()));
    m.insert(f.on_hand.clone(), number(p.on_hand.value()));
    m.insert(f.available.clone(), number(p.available.value()));
    m.insert(f.unit.clone(), Value::String(p.on_hand.unit().to_string()));
    let as_of = p.as_of.format(&Rfc3339).unwrap_or_default();
    m.insert(f.as_of.clone(), Value::String(as_of));
    Value::Object(m)
}

/// One Collections result (`SaveResult`/`UpsertResult`, §2 [22][23]).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CollectionResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<RecordError>,
    /// Upserts only (v46+): whether the record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

/// A per-record error. Collections use `statusCode`; whole-request error bodies use `errorCode` (§2 [34]).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RecordError {
    #[serde(alias = "errorCode", alias = "statusCode")]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

impl From<RecordError> for ApiFieldError {
    fn from(e: RecordError) -> Self {
        Self {
            code: e.code.unwrap_or_else(|| "UNKNOWN".into()),
            message: e.message,
            fields: e.fields.unwrap_or_default(),
        }
    }
}

impl CollectionResult {
    /// The outcome for the port: the record id, or the errors.
    pub(crate) fn outcome(self) -> RecordOutcome {
        if self.success {
            match self.id.as_deref().map(SalesforceId::parse) {
                Some(Ok(id)) => Ok(id),
                _ => Err(vec![ApiFieldError {
                    code: "INVALID_ID".into(),
                    message: format!("success without a valid id: {:?}", self.id),
                    fields: vec![],
                }]),
            }
        } else if self.errors.is_empty() {
            Err(vec![ApiFieldError {
                code: "UNKNOWN".into(),
                message: "failed without an error".into(),
                fields: vec![],
            }])
        } else {
            Err(self.errors.into_iter().map(ApiFieldError::from).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("fixtures/fulfillment_order.json")).expect("fixture parses")
    }

    fn opts() -> OrderReadOptions {
        OrderReadOptions {
            currency_field: Some("CurrencyIsoCode".into()),
            default_currency: None,
        }
    }

    fn shipment() -> ShipmentRecord {
        let id = |v: &str| SalesforceId::parse(v).expect("id");
        ShipmentRecord {
            external_key: "logiwa:FO-1:pkg:1Z1".into(),
            fulfillment_order_id: id("0a3000000000001"),
            order_summary_id: Some(id("1Os000000000001")),
            delivery_method_id: None,
            provider: Some("UPS".into()),
            tracking_number: Some("1Z1".into()),
            tracking_url: None,
            ship_to: crate::domain::Address {
                name: "Ada".into(),
                street: vec!["1 Main St".into()],
                city: "Springfield".into(),
                country: "US".into(),
                ..crate::domain::Address::default()
            },
            shipped_at: None,
            items: vec![ShipmentItemRecord {
                external_key: "logiwa:FO-1:pkg:1Z1:line:0a4000000000001".into(),
                line_id: id("0a4000000000001"),
                product_id: Some(id("01t000000000001")),
                order_item_summary_id: None,
                quantity: Decimal::from(2),
            }],
        }
    }

    #[test]
    fn the_order_management_profile_writes_shipments_and_items_in_som_fields() {
        let p = super::super::profile::WriteProfile::order_management();
        let body = shipment_body(&shipment(), "Ext__c", &p.shipment);
        assert_eq!(body["attributes"]["type"], "Shipment");
        assert_eq!(body["FulfillmentOrderId"], shipment().fulfillment_order_id.to_string());
        assert_eq!(
            body["OrderSummaryId"],
            shipment().order_summary_id.expect("set").to_string()
        );
        assert_eq!(body["TrackingNumber"], "1Z1");
        assert_eq!(body["ShipToName"], "Ada");
        assert_eq!(body["Status"], "Shipped");
        assert_eq!(body["TotalItemsQuantity"].as_f64(), Some(2.0));
        // Absent values are left out, never sent as null (an upsert's update would blank them)
        assert!(body.get("DeliveryMethodId").is_none() && body.get("TrackingUrl").is_none());
        let parent = SalesforceId::parse("0OA000000000001").expect("id");
        let item = shipment_item_body(&shipment().items[0], Some(&parent), "Ext__c", &p.item);
        assert_eq!(item["attributes"]["type"], "ShipmentItem");
        assert_eq!(item["ShipmentId"], parent.to_string());
        assert_eq!(
            item["FulfillmentOrderLineItemId"],
            shipment().items[0].line_id.to_string()
        );
        assert_eq!(item["Quantity"].as_f64(), Some(2.0));
    }

    #[test]
    fn another_profile_writes_its_own_objects_and_fields_and_none_of_soms() {
        let p = super::super::profile::WriteProfile::parse(
            r#"{"order":{"object":"Order","status_field":"Status"},
                "shipment":{"object":"Parcel__c","order_field":"Order__c","tracking_number_field":"Tracking__c"},
                "item":{"object":"Parcel_Line__c","parent_field":"Parcel__c","parent_create_only":false,
                        "line_field":"Order_Product__c","quantity_field":"Qty__c"}}"#,
        )
        .expect("profile");
        let body = shipment_body(&shipment(), "Ext__c", &p.shipment);
        let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert_eq!(body["attributes"]["type"], "Parcel__c");
        assert_eq!(body["Order__c"], shipment().fulfillment_order_id.to_string());
        assert_eq!(body["Tracking__c"], "1Z1");
        assert_eq!(body["Ext__c"], "logiwa:FO-1:pkg:1Z1");
        let item = shipment_item_body(&shipment().items[0], None, "Ext__c", &p.item);
        let keys: Vec<&str> = item.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert_eq!(item["attributes"]["type"], "Parcel_Line__c");
        assert_eq!(item["Order_Product__c"], shipment().items[0].line_id.to_string());
        assert_eq!(item["Qty__c"].as_f64(), Some(2.0));
    }

    #[test]
    fn a_fulfillment_order_record_becomes_the_canonical_order() {
        // Given a FulfillmentOrder graph as the query returns it
        let rec = fixture();
        // When it is converted
        let order = order_from_record(&rec, &opts()).expect("converts");
        // Then header, address, service level and lines carry the record's values
        assert_eq!(order.source.record_id.as_str(), "0a3000000000001AAA");
        assert_eq!(order.source.number, "FO-0000001");
        assert_eq!(order.status, "Allocated");
        assert_eq!(order.ship_to.name, "Ann Example");
        assert_eq!(order.ship_to.street, vec!["1 Main St".to_owned(), "Apt 4".to_owned()]);
        assert_eq!(order.ship_to.city, "Springfield");
        assert_eq!(order.ship_to.email.as_deref(), Some("ann@example.com"));
        assert_eq!(order.fulfilled_from.as_str(), "WH1");
        assert_eq!(order.service_level.method, "UPS-GND");
        assert_eq!(order.service_level.carrier.as_ref().map(|c| c.as_str()), Some("UPS"));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.ordered_at, time::macros::datetime!(2026-11-20 10:00 UTC));
        assert_eq!(order.lines.len(), 2);
        let l0 = &order.lines[0];
        assert_eq!(l0.kind, LineKind::Product);
        assert_eq!(l0.sku.as_str(), "SKU-1");
        assert_eq!(l0.quantity.value(), Decimal::from(2));
        assert_eq!(l0.quantity.unit().as_str(), "Each");
        assert_eq!(l0.unit_price, Decimal::from(10));
        assert_eq!(l0.unit_tax, Decimal::from_str("0.8").expect("dec"));
        assert_eq!(order.lines[1].kind, LineKind::Charge);
        assert_eq!(order.lines[1].sku.as_str(), "Shipping");
        assert!(order.source.external_ids.iter().any(|(k, _)| k == "OrderSummaryId"));
    }

    #[test]
    fn a_missing_location_reference_falls_back_to_the_location_name() {
        let mut rec = fixture();
        rec["FulfilledFromLocation"]["ExternalReference"] = Value::Null;
        rec["DeliveryMethod"]["ReferenceNumber"] = Value::Null;
        let order = order_from_record(&rec, &opts()).expect("converts");
        assert_eq!(order.fulfilled_from.as_str(), "Main Warehouse");
        assert_eq!(order.service_level.method, "UPS Ground");
    }

    #[test]
    fn a_missing_ship_to_name_is_an_error_naming_the_field() {
        let mut rec = fixture();
        rec["FulfilledToName"] = Value::Null;
        let err = order_from_record(&rec, &opts()).expect_err("must fail");
        assert_eq!(err.field, "FulfilledToName");
    }

    #[test]
    fn a_product_line_without_a_sku_is_an_error_naming_the_line() {
        let mut rec = fixture();
        rec["FulfillmentOrderLineItems"]["records"][0]["Product2"]["StockKeepingUnit"] = Value::Null;
        let err = order_from_record(&rec, &opts()).expect_err("must fail");
        assert_eq!(err.field, "FulfillmentOrderLineItems[0].Product2.StockKeepingUnit");
    }

    #[test]
    fn a_single_currency_org_uses_the_configured_default() {
        let mut rec = fixture();
        rec.as_object_mut().expect("object").remove("CurrencyIsoCode");
        let err = order_from_record(&rec, &opts()).expect_err("no currency");
        assert_eq!(err.field, "CurrencyIsoCode");
        let o = OrderReadOptions {
            currency_field: None,
            default_currency: Some(CurrencyCode::parse("GBP").expect("gbp")),
        };
        assert_eq!(order_from_record(&rec, &o).expect("converts").currency.as_str(), "GBP");
    }

    #[test]
    fn an_order_without_lines_converts_with_no_lines() {
        let mut rec = fixture();
        rec["FulfillmentOrderLineItems"] = Value::Null;
        assert!(order_from_record(&rec, &opts()).expect("converts").lines.is_empty());
    }

    #[test]
    fn the_query_lists_every_id_and_the_line_subquery() {
        let ids = [
            SalesforceId::parse("0a3000000000001").expect("id"),
            SalesforceId::parse("0a3000000000002").expect("id"),
        ];
        let q = fulfillment_order_soql(&ids, Some("CurrencyIsoCode"));
        assert!(
            q.ends_with("WHERE Id IN ('0a3000000000001AAA','0a3000000000002AAA')"),
            "{q}"
        );
        assert!(q.contains("(SELECT Id, Product2Id, Product2.StockKeepingUnit"), "{q}");
        assert!(q.contains("CurrencyIsoCode"), "{q}");
    }

    #[test]
    fn salesforce_datetimes_parse_in_both_spellings() {
        let a = parse_sf_datetime("2026-11-23T01:02:03.000+0000").expect("sf form");
        let b = parse_sf_datetime("2026-11-23T01:02:03Z").expect("rfc3339");
        assert_eq!(a, b);
    }

    #[test]
    fn collection_errors_keep_code_and_fields() {
        let r: CollectionResult = serde_json::from_value(json!({"success": false, "errors": [
            {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [ShipToName]", "fields": ["ShipToName"]}
        ]}))
        .expect("parses");
        let errs = r.outcome().expect_err("failed");
        assert_eq!(errs[0].code, "REQUIRED_FIELD_MISSING");
        assert_eq!(errs[0].fields, vec!["ShipToName".to_owned()]);
    }
}

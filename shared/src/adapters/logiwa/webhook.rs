//! Inbound Logiwa webhooks: parses `wms/shipmentorder/shipment` and `wms/shipmentorder/statuschange` bodies
//! into a `FulfillmentEvent` that only points at the order, with a deduplication key over the whole body.
//!
//! Shapes (wms-apis.md §1.6 "Webhook bodies", source [WG] = Logiwa's "Shipment Inventory Webhook Guide"):
//! keys are **PascalCase**, there is **no envelope** and nulls are sent explicitly.
//! - `statuschange`: exactly `Identifier` (order GUID), `Code`, `PreviousStatus`, `CurrentStatus` and
//!   `ClientId` (an integer internal id, not the client GUID).
//! - `shipment`: order-level `ShipmentOrderIdentifier`, `ShipmentOrderCode`, `ShipmentDate`,
//!   `MasterTrackingNumber`, `OrderCarrierTrackingNumbers` (one string, separator undocumented), … and the
//!   packages of the event in `ShipmentPackageList[]` (`TrackingNumber`, `ProductList[]`, …).
//!
//! The camelCase shape we assumed before §1.6 existed (built from the spec's `ShipmentOrderListGatewayQueryResponse`
//! names: `identifier`, `code`, `shipmentOrderStatusName`, `shipmentInfo[]`, optionally in a
//! `{topic, data}` envelope) is still read, so a tenant or a test that sends it keeps working.
//!
//! The body is a hint, not the truth: Logiwa advises polling alongside webhooks and delivery order across
//! topics is not guaranteed, so the consumer re-reads the order. Parsing is therefore strict only about
//! what identifies the order and about the type of every field we read.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::body::parse_logiwa_datetime;
use crate::domain::WmsOrderId;
use crate::messages::{ChangedObject, FulfillmentEvent};
use crate::ports::{ChangeNotification, InboundError, InboundParser, InboundRequest, WmsSystem};

/// Topic of a shipment (packages left the warehouse).
pub const TOPIC_SHIPMENT: &str = "wms/shipmentorder/shipment";
/// Topic of a status change.
pub const TOPIC_STATUS_CHANGE: &str = "wms/shipmentorder/statuschange";

/// The topics we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `wms/shipmentorder/shipment`.
    Shipment,
    /// `wms/shipmentorder/statuschange`.
    StatusChange,
}

impl Topic {
    /// The Logiwa topic string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shipment => TOPIC_SHIPMENT,
            Self::StatusChange => TOPIC_STATUS_CHANGE,
        }
    }

    /// Parses a topic as Logiwa names it (case-insensitive, leading slash ignored).
    ///
    /// # Errors
    /// `UnsupportedTopic` for any other topic, Logiwa's own included (`wms/product/create`, …).
    pub fn parse(raw: &str) -> Result<Self, WebhookParseError> {
        let t = raw.trim().trim_start_matches('/');
        if t.eq_ignore_ascii_case(TOPIC_SHIPMENT) {
            Ok(Self::Shipment)
        } else if t.eq_ignore_ascii_case(TOPIC_STATUS_CHANGE) {
            Ok(Self::StatusChange)
        } else {
            Err(WebhookParseError::UnsupportedTopic(raw.trim().to_owned()))
        }
    }
}

/// Why a webhook body was refused. `UnsupportedTopic` is "we don't handle this" (HTTP 422); every other
/// variant is a malformed body (HTTP 400) and names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookParseError {
    /// A topic we do not subscribe to.
    #[error("unsupported Logiwa topic '{0}'")]
    UnsupportedTopic(String),
    /// The body is not a JSON object.
    #[error("body: not a JSON object ({0})")]
    NotJson(String),
    /// A required field is absent, null or empty.
    #[error("{field}: is required")]
    MissingField {
        /// Field name as Logiwa spells it.
        field: String,
    },
    /// A field has the wrong type or an unreadable value.
    #[error("{field}: {message}")]
    InvalidField {
        /// Field name as the body spells it (dotted/indexed for nested values).
        field: String,
        /// What is wrong (never the value).
        message: String,
    },
}

impl WebhookParseError {
    /// The failing field (`body` when the whole body is unreadable); None for an unsupported topic.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::UnsupportedTopic(_) => None,
            Self::NotJson(_) => Some("body"),
            Self::MissingField { field } | Self::InvalidField { field, .. } => Some(field),
        }
    }

    /// True for a topic we do not handle (answer 422), false for a malformed body (answer 400).
    pub fn is_unsupported_topic(&self) -> bool {
        matches!(self, Self::UnsupportedTopic(_))
    }
}

/// A parsed Logiwa shipment-order webhook. Field docs name the documented (§1.6 [WG]) key first, then the
/// camelCase one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogiwaWebhook {
    /// Topic.
    pub topic: Topic,
    /// `Identifier` (statuschange) / `ShipmentOrderIdentifier` (shipment) / `identifier`: the order's GUID.
    pub order_id: WmsOrderId,
    /// `Code` / `ShipmentOrderCode` / `code`: the order code we created it with.
    pub order_code: String,
    /// `shipmentOrderStatusId` (camelCase shape only; the documented bodies carry no status id).
    pub status_id: Option<i64>,
    /// `CurrentStatus` (PascalCase without spaces, e.g. `ReadyToPick`) / `shipmentOrderStatusName`.
    pub status_name: Option<String>,
    /// `PreviousStatus` (statuschange only).
    pub previous_status: Option<String>,
    /// `ClientId`: Logiwa's integer client id (statuschange only; not the client GUID).
    pub client_id: Option<i64>,
    /// `updatedDateTime` (camelCase shape only).
    pub updated_at: Option<OffsetDateTime>,
    /// `ShipmentDate` (shipment only; the guide's example has 7 fractional digits).
    pub shipped_at: Option<OffsetDateTime>,
    /// `trackingNumbers` (camelCase shape): every tracking number of the order so far (cumulative).
    pub tracking_numbers: Vec<String>,
    /// `OrderCarrierTrackingNumbers`, verbatim: one string whose separator for several numbers is not
    /// documented, so it is not split here. Use `event_tracking_numbers` for the packages of this event.
    pub order_carrier_tracking_numbers: Option<String>,
    /// `ShipmentPackageList[].TrackingNumber` / `shipmentInfo[].trackingNumber`: the packages this event
    /// shipped (shipment topic only), sorted and deduplicated.
    pub event_tracking_numbers: Vec<String>,
    /// A vendor event id (`transactionIdentifier`) when the body carries one; none is documented in the body.
    pub transaction_id: Option<String>,
    /// Hex SHA-256 of the canonicalised body (envelope removed, object keys sorted, no whitespace):
    /// the deduplication key when there is no vendor event id.
    pub body_hash: String,
}

// Spellings we read for each field. Keys match case-insensitively, so `Identifier` (§1.6 [WG]) and
// `identifier` (the camelCase shape) are one entry; when a body has several, the first listed wins.
const ORDER_ID: &[&str] = &["identifier", "shipmentOrderIdentifier"];
const ORDER_CODE: &[&str] = &["code", "shipmentOrderCode", "orderCode"];
const STATUS_NAME: &[&str] = &["currentStatus", "shipmentOrderStatusName", "statusName"];
const STATUS_ID: &[&str] = &["shipmentOrderStatusId", "statusId"];
const PREVIOUS_STATUS: &[&str] = &["previousStatus"];
const CLIENT_ID: &[&str] = &["clientId"];
const UPDATED: &[&str] = &["updatedDateTime"];
const SHIPMENT_DATE: &[&str] = &["shipmentDate"];
const TRACKING_NUMBERS: &[&str] = &["trackingNumbers"];
const ORDER_CARRIER_TRACKING: &[&str] = &["orderCarrierTrackingNumbers"];
const MASTER_TRACKING: &[&str] = &["masterTrackingNumber"];
/// Only in the shipment body (§1.6 [WG]); a statuschange names the order `Identifier`.
const SHIPMENT_ORDER_ID: &[&str] = &["shipmentOrderIdentifier"];
const TRANSACTION_ID: &[&str] = &["transactionIdentifier", "transactionId"];
/// §1.6 [WG]: the packages of a shipment event, each with `TrackingNumber`.
const PACKAGE_LIST: &[&str] = &["shipmentPackageList"];
/// camelCase shape: one `shipmentInfo` row per shipped line per package, each with `trackingNumber`.
const SHIPMENT_INFO: &[&str] = &["shipmentInfo"];

/// The top-level fields of a body, looked up case-insensitively and reported as the body spells them.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// Most keys start upper-case: the documented §1.6 shape. Decides how a *missing* field is named.
    pascal: bool,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        let upper = map
            .keys()
            .filter(|k| k.starts_with(|c: char| c.is_ascii_uppercase()))
            .count();
        Self {
            map,
            pascal: upper * 2 > map.len(),
        }
    }

    /// The first of `names` the body carries (exact spelling before case-insensitive), with its key.
    fn get(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().find_map(|name| {
            self.map
                .get_key_value(*name)
                .or_else(|| self.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(k, v)| (k.as_str(), v))
        })
    }

    /// Whether the body has the field at all; an explicit null counts, as the guide sends nulls.
    fn has(&self, names: &[&str]) -> bool {
        self.get(names).is_some()
    }

    fn optional_str(&self, names: &[&str]) -> Result<Option<&'a str>, WebhookParseError> {
        match self.get(names) {
            None => Ok(None),
            Some((key, v)) => optional_str(key, v),
        }
    }

    /// A required string; `missing` is the name to report when absent (the body's shape decides it).
    fn required_str(&self, names: &[&str], missing: &str) -> Result<&'a str, WebhookParseError> {
        match self.get(names) {
            None => Err(WebhookParseError::MissingField {
                field: missing.to_owned(),
            }),
            Some((key, v)) => {
                optional_str(key, v)?.ok_or_else(|| WebhookParseError::MissingField { field: key.to_owned() })
            }
        }
    }

    fn optional_i64(&self, names: &[&str]) -> Result<Option<i64>, WebhookParseError> {
        match self.get(names) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((key, Value::Number(n))) => n.as_i64().map(Some).ok_or_else(|| invalid(key, "must be an integer")),
            Some((key, _)) => Err(invalid(key, "must be an integer")),
        }
    }

    fn optional_datetime(&self, names: &[&str]) -> Result<Option<OffsetDateTime>, WebhookParseError> {
        let Some((key, v)) = self.get(names) else {
            return Ok(None);
        };
        optional_str(key, v)?
            .map(|s| parse_logiwa_datetime(s).ok_or_else(|| invalid(key, "is not a date-time")))
            .transpose()
    }
}

/// Splits off a `{topic|Topic, data|Data}` envelope when the body has one. §1.6 [WG] documents none; the
/// camelCase shape we built before it allowed one, and unwrapping costs a documented body nothing.
fn unwrap_envelope(m: Map<String, Value>) -> (Option<String>, Map<String, Value>) {
    let key = |name: &str| m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    let topic = key("topic").and_then(|k| m.get(&k).and_then(Value::as_str).map(str::to_owned));
    match key("data").and_then(|k| m.get(&k).cloned()) {
        Some(Value::Object(inner)) => (topic, inner),
        _ => (topic, m),
    }
}

/// The topic a body without a hint belongs to. Package lists mark a shipment; status fields a status
/// change (§1.6 [WG]: `CurrentStatus`/`PreviousStatus`); then the shipment's order-level keys. Anything
/// else stays a status change as before: either way the event only points at the order, which the
/// consumer re-reads.
fn infer_topic(f: &Fields<'_>) -> Topic {
    if f.has(PACKAGE_LIST) || f.has(SHIPMENT_INFO) {
        Topic::Shipment
    } else if f.has(STATUS_NAME) || f.has(PREVIOUS_STATUS) || f.has(STATUS_ID) {
        Topic::StatusChange
    } else if [
        SHIPMENT_DATE,
        MASTER_TRACKING,
        ORDER_CARRIER_TRACKING,
        SHIPMENT_ORDER_ID,
    ]
    .iter()
    .any(|names| f.has(names))
    {
        Topic::Shipment
    } else {
        Topic::StatusChange
    }
}

/// Parses a webhook body. `topic_hint` is the topic from wherever the HTTP layer learnt it (e.g. the route
/// it registered with `Webhook/create`); §1.6 [WG] documents no topic header and no topic in the body, so
/// without a hint the topic is inferred from the keys (see `infer_topic`).
///
/// # Errors
/// `UnsupportedTopic` for another topic; `NotJson`/`MissingField`/`InvalidField` naming the field otherwise.
pub fn parse(topic_hint: Option<&str>, body: &[u8]) -> Result<LogiwaWebhook, WebhookParseError> {
    let hinted = topic_hint
        .filter(|t| !t.trim().is_empty())
        .map(Topic::parse)
        .transpose()?;
    let value: Value = serde_json::from_slice(body).map_err(|e| WebhookParseError::NotJson(e.classify_name()))?;
    let Value::Object(m) = value else {
        return Err(WebhookParseError::NotJson("not an object".into()));
    };
    let (envelope_topic, m) = unwrap_envelope(m);
    let hinted = match (hinted, envelope_topic) {
        (Some(t), _) => Some(t),
        (None, Some(t)) => Some(Topic::parse(&t)?),
        (None, None) => None,
    };
    let f = Fields::new(&m);
    let topic = hinted.unwrap_or_else(|| infer_topic(&f));
    // A missing key is named as the body's shape spells it (§1.6 [WG] names differ per topic).
    let (id_name, code_name) = match (f.pascal, topic) {
        (true, Topic::Shipment) => ("ShipmentOrderIdentifier", "ShipmentOrderCode"),
        (true, Topic::StatusChange) => ("Identifier", "Code"),
        (false, _) => ("identifier", "code"),
    };

    let order_id = WmsOrderId::parse(f.required_str(ORDER_ID, id_name)?)
        .map_err(|e| invalid(f.get(ORDER_ID).map_or(id_name, |(k, _)| k), &e.message))?;
    let order_code = f.required_str(ORDER_CODE, code_name)?.to_owned();
    let status_id = f.optional_i64(STATUS_ID)?;
    let status_name = f.optional_str(STATUS_NAME)?.map(str::to_owned);
    let previous_status = f.optional_str(PREVIOUS_STATUS)?.map(str::to_owned);
    let client_id = f.optional_i64(CLIENT_ID)?;
    let updated_at = f.optional_datetime(UPDATED)?;
    let shipped_at = f.optional_datetime(SHIPMENT_DATE)?;
    let tracking_numbers = match f.get(TRACKING_NUMBERS) {
        None => Vec::new(),
        Some((key, v)) => string_list(key, v)?,
    };
    let order_carrier_tracking_numbers = f.optional_str(ORDER_CARRIER_TRACKING)?.map(str::to_owned);
    let event_tracking_numbers = match (f.get(PACKAGE_LIST), f.get(SHIPMENT_INFO)) {
        (Some((key, v)), _) => package_tracking(key, v, "TrackingNumber")?,
        (None, Some((key, v))) => package_tracking(key, v, "trackingNumber")?,
        (None, None) => Vec::new(),
    };
    let transaction_id = f.optional_str(TRANSACTION_ID)?.map(str::to_owned);
    let body_hash = hex::encode(Sha256::digest(canonical_json(&m).as_bytes()));
    Ok(LogiwaWebhook {
        topic,
        order_id,
        order_code,
        status_id,
        status_name,
        previous_status,
        client_id,
        updated_at,
        shipped_at,
        tracking_numbers,
        order_carrier_tracking_numbers,
        event_tracking_numbers,
        transaction_id,
        body_hash,
    })
}

/// The tracking numbers in a package list (`ShipmentPackageList` or `shipmentInfo`); `item_key` is the
/// per-entry field, matched case-insensitively like the top level.
fn package_tracking(key: &str, v: &Value, item_key: &str) -> Result<Vec<String>, WebhookParseError> {
    let rows = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(rows) => rows,
        _ => return Err(invalid(key, "must be an array")),
    };
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(r) = row else {
            return Err(invalid(&format!("{key}[{i}]"), "must be an object"));
        };
        let Some((k, t)) = Fields::new(r).get(&[item_key]) else {
            continue;
        };
        if let Some(t) = optional_str(&format!("{key}[{i}].{k}"), t)? {
            out.push(t.to_owned());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Canonical JSON text of a value: object keys sorted (byte order), no whitespace, strings and numbers
/// as serde_json writes them. The workspace does not enable serde_json's `preserve_order` (so `Map` is a
/// `BTreeMap` and `to_string` already sorts), but sorting here keeps the key stable even if a dependency
/// ever switches that feature on through feature unification.
fn canonical_json(body: &Map<String, Value>) -> String {
    fn object(m: &Map<String, Value>, out: &mut String) {
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // A `Value::String`'s Display is its JSON text, escapes included.
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
            value(v, out);
        }
        out.push('}');
    }
    fn value(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => object(m, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    value(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    object(body, &mut out);
    out
}

impl LogiwaWebhook {
    /// Deduplication key: the vendor's event id (`transactionIdentifier`) when the body carries one, else
    /// the topic and a SHA-256 of the whole canonicalised body. A redelivery (same JSON, whatever its key
    /// order or whitespace) gets the same key; any other event (another `CurrentStatus`, another package)
    /// a different one. Never a subset of fields: §1.6 [WG] bodies carry none of the update times or
    /// status ids such a subset would need, and a later event on the same order must not be a duplicate.
    pub fn event_key(&self) -> String {
        match &self.transaction_id {
            Some(id) => format!("logiwa:{id}"),
            None => format!("logiwa:{}:{}", self.topic.as_str(), self.body_hash),
        }
    }

    /// Status name (`CurrentStatus` / `shipmentOrderStatusName`), else the status id as text. None for a
    /// documented shipment body, which carries no status (a shipment may be partial).
    pub fn status(&self) -> Option<String> {
        self.status_name
            .clone()
            .or_else(|| self.status_id.map(|i| i.to_string()))
    }

    /// The queue message for shipment-writeback.
    pub fn to_event(&self, received_at: OffsetDateTime) -> FulfillmentEvent {
        FulfillmentEvent {
            system: super::WMS,
            object: match self.topic {
                Topic::Shipment => ChangedObject::Shipment,
                Topic::StatusChange => ChangedObject::Order,
            },
            topic: self.topic.as_str().to_owned(),
            event_key: self.event_key(),
            order_code: self.order_code.clone(),
            wms_order_id: Some(self.order_id.clone()),
            status: self.status(),
            received_at,
            // The webhook bodies' time fields are not documented as the order's change stamp, so none
            // is claimed (the write-back then always reads).
            wms_changed_at: None,
        }
    }
}

/// Logiwa's inbound parser. The topic comes from the subscription address (`?topic=`) or an
/// `x-logiwa-topic` header when the operator set one up; otherwise the body's shape says (Logiwa sends no
/// topic in the body, wms-apis.md §1.6).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogiwaInbound;

impl InboundParser for LogiwaInbound {
    fn system(&self) -> WmsSystem {
        super::WMS
    }

    fn parse(&self, req: &InboundRequest<'_>, received_at: OffsetDateTime) -> Result<ChangeNotification, InboundError> {
        let topic = req.query("topic").or_else(|| req.header("x-logiwa-topic"));
        let hook = parse(topic, req.body).map_err(|e| match &e {
            WebhookParseError::UnsupportedTopic(_) => InboundError::Unsupported {
                what: "topic".into(),
                message: e.to_string(),
            },
            _ => InboundError::Invalid {
                field: e.field().unwrap_or("body").to_owned(),
                message: e.to_string(),
            },
        })?;
        Ok(ChangeNotification {
            event: hook.to_event(received_at),
            payload_hash: hook.body_hash,
        })
    }
}

fn invalid(field: &str, message: &str) -> WebhookParseError {
    WebhookParseError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A string, trimmed; null or blank is None.
fn optional_str<'a>(key: &str, v: &'a Value) -> Result<Option<&'a str>, WebhookParseError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        _ => Err(invalid(key, "must be a string")),
    }
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, WebhookParseError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_null())
            .map(|(i, v)| {
                v.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| invalid(&format!("{key}[{i}]"), "must be a string"))
            })
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        _ => Err(invalid(key, "must be an array")),
    }
}

/// serde_json's error category without line/column or input echo.
trait Classify {
    fn classify_name(&self) -> String;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> String {
        match self.classify() {
            serde_json::error::Category::Io => "io error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Hand-written from wms-apis.md §1.6 [WG] (PascalCase, no envelope, explicit nulls).
    const SHIPMENT: &str = include_str!("fixtures/webhook_shipment.json");
    const STATUS: &str = include_str!("fixtures/webhook_statuschange.json");
    // The camelCase shape we read before §1.6 (spec `ShipmentOrderListGatewayQueryResponse` names).
    const SHIPMENT_CAMEL: &str = include_str!("fixtures/webhook_shipment_camelcase.json");
    const STATUS_CAMEL: &str = include_str!("fixtures/webhook_statuschange_camelcase.json");

    const ORDER: &str = "7c0e0000-0000-4000-8000-000000000001";

    /// A statuschange as §1.6 [WG] lists it: exactly five keys, `ClientId` an integer.
    fn status_change(previous: &str, current: &str) -> String {
        format!(
            r#"{{"Identifier":"{ORDER}","Code":"FO-0000001","PreviousStatus":"{previous}","CurrentStatus":"{current}","ClientId":10001}}"#
        )
    }

    /// A shipment as §1.6 [WG] lists it, one package per tracking number.
    fn shipment(tracking: &[&str]) -> String {
        let packages: Vec<String> = tracking
            .iter()
            .map(|t| {
                format!(
                    r#"{{"CarrierPackageCode":null,"TrackingNumber":"{t}","Carrier":"FedEx","CarrierSetup":"FedEx Main",
                    "CarrierSetupShippingOption":"Ground","TotalCost":0,"ShippingCost":null,"Weight":null,"WeightUnit":null,
                    "Height":null,"Length":null,"Width":null,"DimensionUnit":null,
                    "LabelCreatedDateTime":"2026-11-23T00:58:41.082Z","LabelUpdatedDateTime":null,
                    "ProductList":[{{"ProductIdentifier":"0b6c0000-0000-4000-8000-000000000004","Sku":"SKU-1","Name":"Tee",
                    "LotBatchNumber":null,"ExpiryDate":null,"PackQuantity":1,"PackTypeName":"Unit"}}]}}"#
                )
            })
            .collect();
        format!(
            r#"{{"ShipmentOrderIdentifier":"{ORDER}","ShipmentOrderCode":"FO-0000001","WarehouseCode":"WH1",
            "WarehouseIdentifier":"0b6c0000-0000-4000-8000-000000000003","ClientIdentifier":"0b6c0000-0000-4000-8000-000000000002",
            "ChannelOrderNumber":null,"ShipmentOrderTypeName":"Shipment Order","ShipmentDate":"2026-11-23T01:02:03.1234567Z",
            "MasterTrackingNumber":"{master}","OrderCarrierTrackingNumbers":"{all}","ShipmentPackageList":[{packages}]}}"#,
            master = tracking.first().copied().unwrap_or_default(),
            all = tracking.join(","),
            packages = packages.join(","),
        )
    }

    fn key(body: &str) -> String {
        parse(None, body.as_bytes()).expect("parses").event_key()
    }

    #[test]
    fn a_documented_statuschange_parses_with_its_current_and_previous_status() {
        // Given the §1.6 statuschange body, without a topic hint
        let w = parse(None, STATUS.as_bytes()).expect("parses");
        // Then it is a status change of the order, CurrentStatus being the status
        assert_eq!(w.topic, Topic::StatusChange);
        assert_eq!(w.order_id.as_str(), ORDER);
        assert_eq!(w.order_code, "FO-0000001");
        assert_eq!(w.status_name.as_deref(), Some("ReadyToPick"));
        assert_eq!(w.previous_status.as_deref(), Some("Open"));
        assert_eq!(w.client_id, Some(10001));
        assert_eq!(w.status_id, None);
        // And the queue message carries that status
        let e = w.to_event(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(e.topic, TOPIC_STATUS_CHANGE);
        assert_eq!(e.status.as_deref(), Some("ReadyToPick"));
        assert_eq!(e.wms_order_id.as_ref().map(WmsOrderId::as_str), Some(ORDER));
        assert!(e.event_key.starts_with("logiwa:wms/shipmentorder/statuschange:"));
    }

    #[test]
    fn a_documented_shipment_parses_with_the_tracking_numbers_of_its_packages() {
        // Given the §1.6 shipment body
        let w = parse(Some(TOPIC_SHIPMENT), SHIPMENT.as_bytes()).expect("parses");
        // Then the order comes from ShipmentOrderIdentifier/Code and the packages give the tracking numbers
        assert_eq!(w.topic, Topic::Shipment);
        assert_eq!(w.order_id.as_str(), ORDER);
        assert_eq!(w.order_code, "FO-0000001");
        assert_eq!(w.event_tracking_numbers, vec!["1Z999AA10000000001".to_owned()]);
        assert_eq!(w.order_carrier_tracking_numbers.as_deref(), Some("1Z999AA10000000001"));
        // And ShipmentDate's 7 fractional digits are read exactly
        let shipped = w.shipped_at.expect("ShipmentDate");
        assert_eq!(shipped.unix_timestamp(), 1_795_395_723);
        assert_eq!(shipped.nanosecond(), 456_789_100);
        // And a shipment carries no status: it may be partial, so none is invented
        let e = w.to_event(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(e.status, None);
        assert_eq!(e.topic, TOPIC_SHIPMENT);
        let two = parse(None, shipment(&["TRK-B", "TRK-A"]).as_bytes()).expect("two packages");
        assert_eq!(two.event_tracking_numbers, vec!["TRK-A".to_owned(), "TRK-B".to_owned()]);
    }

    #[test]
    fn a_shipment_body_without_a_topic_hint_is_classified_as_a_shipment() {
        assert_eq!(
            parse(None, SHIPMENT.as_bytes()).expect("fixture").topic,
            Topic::Shipment
        );
        assert_eq!(
            parse(None, shipment(&["TRK-1"]).as_bytes()).expect("hand").topic,
            Topic::Shipment
        );
        // Even when the guide's explicit nulls leave no package list to look into
        let nulls = format!(
            r#"{{"ShipmentOrderIdentifier":"{ORDER}","ShipmentOrderCode":"FO-1","ShipmentDate":null,"MasterTrackingNumber":null,
            "OrderCarrierTrackingNumbers":null,"ShipmentPackageList":null}}"#
        );
        let w = parse(None, nulls.as_bytes()).expect("nulls are allowed");
        assert_eq!(w.topic, Topic::Shipment);
        assert!(w.event_tracking_numbers.is_empty());
        // While the statuschange body stays a status change
        assert_eq!(
            parse(None, STATUS.as_bytes()).expect("status").topic,
            Topic::StatusChange
        );
    }

    #[test]
    fn a_later_status_change_for_the_same_order_is_not_a_duplicate() {
        // Given two status changes of one order: Open → ReadyToPick, then ReadyToPick → Shipped
        let first = key(&status_change("Open", "ReadyToPick"));
        let second = key(&status_change("ReadyToPick", "Shipped"));
        // Then they are two events
        assert_ne!(first, second);
        // And a change that only differs in PreviousStatus is another event too
        assert_ne!(first, key(&status_change("Pending", "ReadyToPick")));
    }

    #[test]
    fn a_redelivery_with_reordered_keys_and_other_whitespace_gets_the_same_key() {
        // Given a statuschange and the same JSON re-serialised: other key order, pretty-printed
        let compact = status_change("Open", "ReadyToPick");
        let reordered = format!(
            "{{\n  \"ClientId\" : 10001,\n\t\"CurrentStatus\": \"ReadyToPick\",\n  \"Code\": \"FO-0000001\",\n  \
             \"PreviousStatus\": \"Open\",  \"Identifier\": \"{ORDER}\"\n}}\n"
        );
        // Then both have one key, and identical bytes do too
        assert_eq!(key(&compact), key(&reordered));
        assert_eq!(key(&compact), key(&compact));
        // And nested objects are canonicalised as well
        let pretty: Value = serde_json::from_str(&shipment(&["TRK-1"])).expect("json");
        let pretty = serde_json::to_string_pretty(&pretty).expect("pretty");
        assert_eq!(key(&shipment(&["TRK-1"])), key(&pretty));
    }

    #[test]
    fn another_package_for_the_same_order_is_another_event() {
        let first = key(&shipment(&["TRK-1"]));
        assert_ne!(first, key(&shipment(&["TRK-2"])));
        assert_ne!(first, key(&shipment(&["TRK-1", "TRK-2"])));
        // And a shipment never shares a key with a status change of the same order
        assert_ne!(first, key(&status_change("Open", "Shipped")));
    }

    #[test]
    fn the_canonical_body_sorts_keys_at_every_level_and_keeps_strings_as_they_are() {
        let v: Value = serde_json::from_str(r#"{"b":{"z":1,"a":[{"y":" x ","c":null}]},"A":"é\"q"}"#).expect("json");
        let Value::Object(m) = v else {
            panic!("object");
        };
        assert_eq!(
            canonical_json(&m),
            r#"{"A":"é\"q","b":{"a":[{"c":null,"y":" x "}],"z":1}}"#
        );
    }

    #[test]
    fn a_documented_body_with_a_bad_field_names_it_as_the_guide_spells_it() {
        // ClientId is an integer in §1.6 [WG]
        let body = STATUS.replace("10001", "\"10001\"");
        assert_eq!(
            parse(None, body.as_bytes()).expect_err("type").field(),
            Some("ClientId")
        );
        // A missing Code is named as the topic's documented key
        let body = STATUS.replace("\"Code\"", "\"CodeX\"");
        assert_eq!(parse(None, body.as_bytes()).expect_err("missing").field(), Some("Code"));
        let body = SHIPMENT.replace("\"ShipmentOrderCode\"", "\"X\"");
        let err = parse(Some(TOPIC_SHIPMENT), body.as_bytes()).expect_err("missing");
        assert_eq!(err.field(), Some("ShipmentOrderCode"));
        assert!(!err.is_unsupported_topic());
        // Nested fields name their path
        let body = shipment(&["TRK-1"]).replace("\"TRK-1\",\"Carrier\"", "12345,\"Carrier\"");
        assert_eq!(
            parse(None, body.as_bytes()).expect_err("nested").field(),
            Some("ShipmentPackageList[0].TrackingNumber")
        );
        let body = SHIPMENT.replace("2026-11-23T01:02:03.4567891Z", "yesterday");
        assert_eq!(
            parse(None, body.as_bytes()).expect_err("date").field(),
            Some("ShipmentDate")
        );
        let mut v: Value = serde_json::from_str(SHIPMENT).expect("json");
        v["ShipmentPackageList"] = serde_json::json!({"TrackingNumber": "TRK-1"});
        let body = serde_json::to_vec(&v).expect("bytes");
        assert_eq!(
            parse(None, &body).expect_err("not a list").field(),
            Some("ShipmentPackageList")
        );
        // While the nulls the guide sends are fine
        let nulls = format!(
            r#"{{"Identifier":"{ORDER}","Code":"FO-1","PreviousStatus":null,"CurrentStatus":"Open","ClientId":null}}"#
        );
        let w = parse(None, nulls.as_bytes()).expect("nulls");
        assert_eq!((w.previous_status, w.client_id), (None, None));
    }

    #[test]
    fn a_camelcase_shipment_body_parses_with_its_event_tracking_numbers() {
        let w = parse(Some(TOPIC_SHIPMENT), SHIPMENT_CAMEL.as_bytes()).expect("parses");
        assert_eq!(w.topic, Topic::Shipment);
        assert_eq!(w.order_code, "FO-0000001");
        assert_eq!(w.status_name.as_deref(), Some("Shipped"));
        assert_eq!(w.status_id, Some(50));
        assert_eq!(w.event_tracking_numbers, vec!["1Z999AA10000000001".to_owned()]);
        assert_eq!(w.tracking_numbers, vec!["1Z999AA10000000001".to_owned()]);
        let e = w.to_event(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(e.topic, TOPIC_SHIPMENT);
        assert_eq!(e.status.as_deref(), Some("Shipped"));
        assert_eq!(e.wms_order_id.as_ref().map(WmsOrderId::as_str), Some(ORDER));
        assert!(e.event_key.starts_with("logiwa:"));
    }

    #[test]
    fn without_a_hint_a_camelcase_body_is_inferred_from_its_keys() {
        assert_eq!(
            parse(None, SHIPMENT_CAMEL.as_bytes()).expect("shipment").topic,
            Topic::Shipment
        );
        assert_eq!(
            parse(None, STATUS_CAMEL.as_bytes()).expect("status").topic,
            Topic::StatusChange
        );
    }

    #[test]
    fn the_event_key_is_stable_for_a_redelivery_and_differs_for_another_event() {
        let a = parse(Some(TOPIC_STATUS_CHANGE), STATUS_CAMEL.as_bytes()).expect("parses");
        let b = parse(Some(TOPIC_STATUS_CHANGE), STATUS_CAMEL.as_bytes()).expect("parses");
        assert_eq!(a.event_key(), b.event_key());
        let changed = STATUS_CAMEL.replace("Shipped", "Ready to Pick");
        let c = parse(Some(TOPIC_STATUS_CHANGE), changed.as_bytes()).expect("parses");
        assert_ne!(a.event_key(), c.event_key());
        // A vendor event id wins over the body hash (none is documented in the body, but keep it if sent)
        let with_tx = STATUS_CAMEL.replacen('{', r#"{"transactionIdentifier":"tx-1","#, 1);
        assert_eq!(
            parse(None, with_tx.as_bytes()).expect("parses").event_key(),
            "logiwa:tx-1"
        );
    }

    #[test]
    fn an_unknown_topic_is_unsupported_not_malformed() {
        let err = parse(Some("wms/product/create"), STATUS.as_bytes()).expect_err("unsupported");
        assert!(err.is_unsupported_topic());
        assert_eq!(err.field(), None);
    }

    #[test]
    fn a_missing_camelcase_code_names_the_field() {
        let body = STATUS_CAMEL.replace("\"code\"", "\"codeX\"");
        let err = parse(Some(TOPIC_STATUS_CHANGE), body.as_bytes()).expect_err("missing");
        assert_eq!(err.field(), Some("code"));
        assert!(!err.is_unsupported_topic());
    }

    #[test]
    fn a_wrongly_typed_field_and_a_non_json_body_name_their_field() {
        let body = STATUS_CAMEL.replace("\"shipmentOrderStatusId\": 50", "\"shipmentOrderStatusId\": \"fifty\"");
        assert_eq!(
            parse(None, body.as_bytes()).expect_err("bad type").field(),
            Some("shipmentOrderStatusId")
        );
        assert_eq!(parse(None, b"not json").expect_err("not json").field(), Some("body"));
        assert_eq!(parse(None, b"[1]").expect_err("not object").field(), Some("body"));
    }

    #[test]
    fn pascal_cased_camel_fields_and_enveloped_bodies_still_parse() {
        let pascal = r#"{"Identifier":"7c0e4b1a-2d3f-4e5a-8b6c-9d0e1f2a3b4c","Code":"FO-0000009","ShipmentOrderStatusName":"Shipped","TrackingNumbers":["1Z9"]}"#;
        let hook = parse(None, pascal.as_bytes()).expect("pascal case");
        assert_eq!(hook.order_code, "FO-0000009");
        assert_eq!(hook.status_name.as_deref(), Some("Shipped"));
        let enveloped = r#"{"topic":"wms/shipmentorder/shipment","data":{"shipmentOrderIdentifier":"7c0e4b1a-2d3f-4e5a-8b6c-9d0e1f2a3b4c","shipmentOrderCode":"FO-0000010"}}"#;
        let hook = parse(None, enveloped.as_bytes()).expect("envelope");
        assert_eq!(hook.topic, Topic::Shipment);
        assert_eq!(hook.order_code, "FO-0000010");
        let other = r#"{"topic":"wms/product/update","data":{"identifier":"x","code":"y"}}"#;
        assert!(parse(None, other.as_bytes())
            .expect_err("unsupported")
            .is_unsupported_topic());
    }

    /// JSON text of `v` with every object's keys in an order drawn from `seed`, and `ws` around tokens.
    fn shuffled(v: &Value, seed: u64, ws: &str) -> String {
        fn rank(seed: u64, key: &str) -> u64 {
            // FNV-1a over the key, started from the seed: a cheap, seed-dependent total order.
            key.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        }
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by_key(|k| rank(seed, k));
                let fields: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{}{ws}:{ws}{}", Value::String((*k).clone()), shuffled(&m[*k], seed, ws)))
                    .collect();
                format!("{{{ws}{}{ws}}}", fields.join(&format!(",{ws}")))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|i| shuffled(i, seed, ws)).collect();
                format!("[{ws}{}{ws}]", items.join(&format!(",{ws}")))
            }
            scalar => scalar.to_string(),
        }
    }

    proptest! {
        #[test]
        fn the_key_is_stable_under_key_permutations_and_changes_with_current_status(
            seed in any::<u64>(),
            ws in prop::sample::select(vec!["", " ", "\n", "\n\t  "]),
            status in "[A-Z][A-Za-z]{0,20}",
        ) {
            for body in [status_change("Open", "ReadyToPick"), shipment(&["TRK-1", "TRK-2"])] {
                let v: Value = serde_json::from_str(&body).expect("json");
                prop_assert_eq!(key(&body), key(&shuffled(&v, seed, ws)));
            }
            let base = key(&status_change("Open", "ReadyToPick"));
            let other = status_change("Open", &status);
            let other_v: Value = serde_json::from_str(&other).expect("json");
            let other_key = key(&shuffled(&other_v, seed, ws));
            if status == "ReadyToPick" {
                prop_assert_eq!(base, other_key);
            } else {
                prop_assert_ne!(base, other_key);
            }
        }
    }
}

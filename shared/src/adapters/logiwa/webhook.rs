//! Inbound Logiwa webhooks: parses `wms/shipmentorder/shipment` and `wms/shipmentorder/statuschange` bodies
//! (wms-apis.md §1 "Webhooks"; body shapes as `tests/simulators/README.md` documents them, built from the
//! spec's `ShipmentOrderListGatewayQueryResponse` field names because Logiwa's example files were not
//! readable) into a `FulfillmentEvent` that only points at the order.
//!
//! The body is a hint, not the truth: Logiwa advises polling alongside webhooks and delivery order across
//! topics is not guaranteed, so the consumer re-reads the order. Parsing is therefore strict only about
//! what identifies the order (`identifier`, `code`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::body::parse_logiwa_datetime;
use crate::domain::WmsOrderId;
use crate::messages::FulfillmentEvent;
use crate::ports::WmsSystem;

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
        /// Field name as Logiwa spells it (dotted/indexed for nested values).
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

/// A parsed Logiwa shipment-order webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogiwaWebhook {
    /// Topic.
    pub topic: Topic,
    /// `identifier`: the shipment order's GUID.
    pub order_id: WmsOrderId,
    /// `code`: the order code we created it with.
    pub order_code: String,
    /// `shipmentOrderStatusId`.
    pub status_id: Option<i64>,
    /// `shipmentOrderStatusName`.
    pub status_name: Option<String>,
    /// `updatedDateTime`.
    pub updated_at: Option<OffsetDateTime>,
    /// `trackingNumbers`: every tracking number of the order so far (cumulative).
    pub tracking_numbers: Vec<String>,
    /// Tracking numbers in `shipmentInfo`: the packages this event shipped (shipment topic only).
    pub event_tracking_numbers: Vec<String>,
    /// A vendor event id (`transactionIdentifier`) when the body carries one; none is documented in the body.
    pub transaction_id: Option<String>,
}

/// Field names we read, with the other spellings we accept for each.
const FIELD_ALIASES: &[(&str, &[&str])] = &[
    ("identifier", &["shipmentOrderIdentifier"]),
    ("code", &["shipmentOrderCode", "orderCode"]),
    ("shipmentOrderStatusId", &["statusId"]),
    ("shipmentOrderStatusName", &["statusName"]),
    ("updatedDateTime", &[]),
    ("trackingNumbers", &[]),
    ("shipmentInfo", &[]),
    ("transactionIdentifier", &["transactionId"]),
];

/// Splits off a `{topic|Topic, data|Data}` envelope when the body has one.
fn unwrap_envelope(m: serde_json::Map<String, Value>) -> (Option<String>, serde_json::Map<String, Value>) {
    let key = |name: &str| m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    let topic = key("topic").and_then(|k| m.get(&k).and_then(Value::as_str).map(str::to_owned));
    match key("data").and_then(|k| m.get(&k).cloned()) {
        Some(Value::Object(inner)) => (topic, inner),
        _ => (topic, m),
    }
}

/// Renames fields to the spelling the parser reads: case-insensitive, plus the aliases above.
fn canonical_fields(m: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in m {
        let canonical = FIELD_ALIASES
            .iter()
            .find(|(name, aliases)| k.eq_ignore_ascii_case(name) || aliases.iter().any(|a| k.eq_ignore_ascii_case(a)))
            .map(|(name, _)| (*name).to_owned());
        match canonical {
            // The exact spelling wins over an alias when both are present.
            Some(name) if name == k || !out.contains_key(&name) => {
                out.insert(name, v);
            }
            Some(_) => {}
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

/// Parses a webhook body. `topic_hint` is the topic from wherever the HTTP layer learnt it (e.g. the route
/// it registered with `Webhook/create`); Logiwa sends no topic header. Without a hint the topic is inferred:
/// a body with `shipmentInfo` is a shipment, anything else a status change.
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
    // Tolerate an envelope (`{"topic": "...", "data": {...}}`) and PascalCase or prefixed field names:
    // the vendor's example payloads could not be read (see tests/simulators/README.md), so we accept the
    // plausible spellings of the same fields rather than reject a real delivery on naming alone.
    let (envelope_topic, m) = unwrap_envelope(m);
    let hinted = match (hinted, envelope_topic) {
        (Some(t), _) => Some(t),
        (None, Some(t)) => Some(Topic::parse(&t)?),
        (None, None) => None,
    };
    let m = canonical_fields(m);
    let topic = hinted.unwrap_or(if m.contains_key("shipmentInfo") {
        Topic::Shipment
    } else {
        Topic::StatusChange
    });

    let identifier = required_str(&m, "identifier")?;
    let order_id = WmsOrderId::parse(identifier).map_err(|e| WebhookParseError::InvalidField {
        field: "identifier".into(),
        message: e.message,
    })?;
    let order_code = required_str(&m, "code")?.to_owned();
    let status_id = match m.get("shipmentOrderStatusId") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| invalid("shipmentOrderStatusId", "must be an integer"))?,
        ),
        Some(_) => return Err(invalid("shipmentOrderStatusId", "must be an integer")),
    };
    let status_name = optional_str(&m, "shipmentOrderStatusName")?.map(str::to_owned);
    let updated_at = optional_str(&m, "updatedDateTime")?
        .map(|s| parse_logiwa_datetime(s).ok_or_else(|| invalid("updatedDateTime", "is not a date-time")))
        .transpose()?;
    let tracking_numbers = string_list(&m, "trackingNumbers")?;
    let event_tracking_numbers = match m.get("shipmentInfo") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(rows)) => {
            let mut out = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                let Value::Object(r) = row else {
                    return Err(invalid(&format!("shipmentInfo[{i}]"), "must be an object"));
                };
                match r.get("trackingNumber") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(t)) if !t.trim().is_empty() => out.push(t.trim().to_owned()),
                    Some(Value::String(_)) => {}
                    Some(_) => {
                        return Err(invalid(
                            &format!("shipmentInfo[{i}].trackingNumber"),
                            "must be a string",
                        ))
                    }
                }
            }
            out.sort();
            out.dedup();
            out
        }
        Some(_) => return Err(invalid("shipmentInfo", "must be an array")),
    };
    let transaction_id = optional_str(&m, "transactionIdentifier")?.map(str::to_owned);
    Ok(LogiwaWebhook {
        topic,
        order_id,
        order_code,
        status_id,
        status_name,
        updated_at,
        tracking_numbers,
        event_tracking_numbers,
        transaction_id,
    })
}

impl LogiwaWebhook {
    /// Deduplication key: the vendor's transaction id when present, else a hash of what makes this event
    /// distinct (topic, code, status, tracking numbers of this event, update time), so a redelivery of the
    /// same event gets the same key while a later event on the same order does not.
    pub fn event_key(&self) -> String {
        if let Some(id) = &self.transaction_id {
            return format!("logiwa:{id}");
        }
        let tracking = if self.event_tracking_numbers.is_empty() {
            let mut t = self.tracking_numbers.clone();
            t.sort();
            t.dedup();
            t
        } else {
            self.event_tracking_numbers.clone()
        };
        let updated = self
            .updated_at
            .map(|t| t.unix_timestamp_nanos().to_string())
            .unwrap_or_default();
        let material = [
            self.topic.as_str(),
            &self.order_code,
            &self.status().unwrap_or_default(),
            &tracking.join(","),
            &updated,
        ]
        .join("\n");
        format!("logiwa:{}", hex::encode(Sha256::digest(material.as_bytes())))
    }

    /// Status name, else the status id as text.
    pub fn status(&self) -> Option<String> {
        self.status_name
            .clone()
            .or_else(|| self.status_id.map(|i| i.to_string()))
    }

    /// The queue message for shipment-writeback.
    pub fn to_event(&self, received_at: OffsetDateTime) -> FulfillmentEvent {
        FulfillmentEvent {
            system: WmsSystem::Logiwa,
            topic: self.topic.as_str().to_owned(),
            event_key: self.event_key(),
            order_code: self.order_code.clone(),
            wms_order_id: Some(self.order_id.clone()),
            status: self.status(),
            received_at,
        }
    }
}

fn invalid(field: &str, message: &str) -> WebhookParseError {
    WebhookParseError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn optional_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, WebhookParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

fn required_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, WebhookParseError> {
    optional_str(m, key)?.ok_or_else(|| WebhookParseError::MissingField { field: key.to_owned() })
}

fn string_list(m: &Map<String, Value>, key: &str) -> Result<Vec<String>, WebhookParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
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
        Some(_) => Err(invalid(key, "must be an array")),
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

    const SHIPMENT: &str = include_str!("fixtures/webhook_shipment.json");
    const STATUS: &str = include_str!("fixtures/webhook_statuschange.json");

    #[test]
    fn a_shipment_body_parses_with_its_event_tracking_numbers() {
        let w = parse(Some(TOPIC_SHIPMENT), SHIPMENT.as_bytes()).expect("parses");
        assert_eq!(w.topic, Topic::Shipment);
        assert_eq!(w.order_code, "FO-0000001");
        assert_eq!(w.status_name.as_deref(), Some("Shipped"));
        assert_eq!(w.status_id, Some(50));
        assert_eq!(w.event_tracking_numbers, vec!["1Z999AA10000000001".to_owned()]);
        let e = w.to_event(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(e.topic, TOPIC_SHIPMENT);
        assert_eq!(
            e.wms_order_id.as_ref().map(WmsOrderId::as_str),
            Some("7c0e0000-0000-4000-8000-000000000001")
        );
        assert!(e.event_key.starts_with("logiwa:"));
    }

    #[test]
    fn without_a_hint_the_topic_is_inferred_from_the_body() {
        assert_eq!(
            parse(None, SHIPMENT.as_bytes()).expect("shipment").topic,
            Topic::Shipment
        );
        assert_eq!(
            parse(None, STATUS.as_bytes()).expect("status").topic,
            Topic::StatusChange
        );
    }

    #[test]
    fn the_event_key_is_stable_for_a_redelivery_and_differs_for_another_event() {
        let a = parse(Some(TOPIC_STATUS_CHANGE), STATUS.as_bytes()).expect("parses");
        let b = parse(Some(TOPIC_STATUS_CHANGE), STATUS.as_bytes()).expect("parses");
        assert_eq!(a.event_key(), b.event_key());
        let changed = STATUS.replace("Shipped", "Ready to Pick");
        let c = parse(Some(TOPIC_STATUS_CHANGE), changed.as_bytes()).expect("parses");
        assert_ne!(a.event_key(), c.event_key());
        let with_tx = STATUS.replacen('{', r#"{"transactionIdentifier":"tx-1","#, 1);
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
    fn a_missing_code_names_the_field() {
        let body = STATUS.replace("\"code\"", "\"codeX\"");
        let err = parse(Some(TOPIC_STATUS_CHANGE), body.as_bytes()).expect_err("missing");
        assert_eq!(err.field(), Some("code"));
        assert!(!err.is_unsupported_topic());
    }

    #[test]
    fn a_wrongly_typed_field_and_a_non_json_body_name_their_field() {
        let body = STATUS.replace("\"shipmentOrderStatusId\": 50", "\"shipmentOrderStatusId\": \"fifty\"");
        assert_eq!(
            parse(None, body.as_bytes()).expect_err("bad type").field(),
            Some("shipmentOrderStatusId")
        );
        assert_eq!(parse(None, b"not json").expect_err("not json").field(), Some("body"));
        assert_eq!(parse(None, b"[1]").expect_err("not object").field(), Some("body"));
    }

    #[test]
    fn pascal_case_and_enveloped_bodies_parse_like_the_documented_shape() {
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
}

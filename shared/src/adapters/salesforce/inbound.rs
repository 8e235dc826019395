//! Salesforce's inbound forms as one canonical order notification: the JSON a Flow HTTP Callout (or Apex)
//! sends, in camelCase or snake_case, and the `FOStatusChangedEvent` platform event forwarded as is
//! (salesforce-api.md §4 [66]). salesforce-webhook authenticates the delivery and hands the body here.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::domain::{EventId, SalesforceId, SourceSystem};
use crate::messages::OrderNotification;
use crate::ports::{InboundError, OrderSourceParser};

/// Which record changed, and an event id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowNotification {
    /// Unique per notification; retries of the same notification reuse it.
    #[serde(alias = "event_id", alias = "EventUuid")]
    pub event_id: String,
    /// sObject type. When absent, it is inferred from the record id's key prefix (`0a3` =
    /// FulfillmentOrder).
    #[serde(default, alias = "sobjectType", alias = "object_type")]
    pub object: Option<String>,
    /// The record id (15 or 18 characters).
    #[serde(alias = "record_id", alias = "FulfillmentOrderId")]
    pub record_id: String,
    /// Free-form event type from the Flow (e.g. `created`, `status_changed`); informational.
    #[serde(default, alias = "event_type", alias = "NewStatus")]
    pub event_type: Option<String>,
    /// Org id, informational.
    #[serde(default, alias = "org_id")]
    pub org_id: Option<String>,
}

/// Key prefix of FulfillmentOrder ids.
const FULFILLMENT_ORDER_PREFIX: &str = "0a3";

/// Objects accepted, with the source product that owns them.
const SUPPORTED_OBJECTS: &[(&str, SourceSystem)] = &[("FulfillmentOrder", SourceSystem::SalesforceOrderManagement)];

/// The Flow callout / platform event parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowCallout;

impl OrderSourceParser for FlowCallout {
    fn parse(&self, body: &[u8], received_at: OffsetDateTime) -> Result<OrderNotification, InboundError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| InboundError::Malformed {
            message: format!("body is not valid JSON: {e}"),
        })?;
        let note: FlowNotification = serde_json::from_value(value).map_err(|e| {
            let msg = e.to_string();
            InboundError::Invalid {
                field: crate::http::field_from_serde_message(&msg).unwrap_or_else(|| "body".to_owned()),
                message: msg,
            }
        })?;
        let event_id = EventId::parse(&note.event_id).map_err(|e| InboundError::Invalid {
            field: "eventId".into(),
            message: e.message,
        })?;
        let record_id = SalesforceId::parse(&note.record_id).map_err(|e| InboundError::Invalid {
            field: "recordId".into(),
            message: e.message,
        })?;
        let named = match note.object.as_deref() {
            Some(o) => o.to_owned(),
            None if record_id.key_prefix() == FULFILLMENT_ORDER_PREFIX => "FulfillmentOrder".to_owned(),
            None => {
                return Err(InboundError::Invalid {
                    field: "object".into(),
                    message: "object is required for this record id".into(),
                });
            }
        };
        let Some((object, source)) = SUPPORTED_OBJECTS.iter().find(|(o, _)| *o == named) else {
            return Err(InboundError::Unsupported {
                what: "object".into(),
                message: format!(
                    "object '{}' is not supported; supported: {}",
                    named,
                    SUPPORTED_OBJECTS.iter().map(|(o, _)| *o).collect::<Vec<_>>().join(", ")
                ),
            });
        };
        Ok(OrderNotification {
            event_id,
            source: *source,
            object: (*object).to_owned(),
            record_id,
            received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0a3000000000001";

    fn parse(body: &str) -> Result<OrderNotification, InboundError> {
        FlowCallout.parse(body.as_bytes(), OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn the_callout_and_the_forwarded_platform_event_give_the_same_notification() {
        let callout = parse(&format!(r#"{{"eventId":"e-1","recordId":"{ID}"}}"#)).expect("callout");
        let snake = parse(&format!(
            r#"{{"event_id":"e-1","record_id":"{ID}","object":"FulfillmentOrder"}}"#
        ))
        .expect("snake case");
        let event = parse(&format!(
            r#"{{"EventUuid":"e-1","FulfillmentOrderId":"{ID}","NewStatus":"Allocated"}}"#
        ))
        .expect("platform event");
        assert_eq!(callout, snake);
        assert_eq!(callout, event);
        assert_eq!(callout.object, "FulfillmentOrder");
        assert_eq!(callout.source, SourceSystem::SalesforceOrderManagement);
    }

    #[test]
    fn each_bad_form_is_refused_naming_what_is_wrong() {
        assert!(matches!(parse("{not json"), Err(InboundError::Malformed { .. })));
        let field = |body: &str| match parse(body) {
            Err(InboundError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(field(r#"{"eventId":"e-1"}"#), "recordId");
        assert_eq!(field(r#"{"eventId":"e-1","recordId":"not-an-id!"}"#), "recordId");
        assert_eq!(field(&format!(r#"{{"eventId":"","recordId":"{ID}"}}"#)), "eventId");
        assert_eq!(field(r#"{"eventId":"e-1","recordId":"001000000000001"}"#), "object");
        assert!(matches!(
            parse(r#"{"eventId":"e-1","recordId":"001000000000001","object":"Account"}"#),
            Err(InboundError::Unsupported { what, .. }) if what == "object"
        ));
    }
}

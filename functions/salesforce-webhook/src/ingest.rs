//! `POST /webhooks/salesforce`: authenticate the signed Flow callout, validate it, deduplicate on the
//! event id, enqueue an order notification, answer 202.
//!
//! Order of checks is deliberate: size (413) before reading, signature (401) before parsing, so an
//! unauthenticated caller learns nothing about our schema; then shape (400/422); then dedup and enqueue.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{info, warn};
use waybill::domain::{CorrelationId, EventId, SalesforceId, SourceSystem};
use waybill::error::{chain, Classified};
use waybill::http::{self, ApiError};
use waybill::ingest::Enqueue;
use waybill::messages::{Envelope, OrderNotification};
use waybill::webhook_auth::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::{App, FUNCTION};

/// The JSON a Salesforce Flow HTTP Callout (or Apex) sends: which record changed, and an event id.
///
/// The canonical spelling is camelCase. Snake case is accepted too, as are the field names of the
/// `FOStatusChangedEvent` platform event (`EventUuid`, `FulfillmentOrderId`; salesforce-api.md §4 [66]),
/// so a Flow that forwards that event as is works without a mapping step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowNotification {
    /// Unique per notification; retries of the same notification reuse it.
    #[serde(alias = "event_id", alias = "EventUuid")]
    pub event_id: String,
    /// sObject type. Only `FulfillmentOrder` is accepted today. When absent, it is inferred from the
    /// record id's key prefix (`0a3` = FulfillmentOrder).
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

/// Objects the ingest route accepts, with the source product that owns them.
const SUPPORTED_OBJECTS: &[(&str, SourceSystem)] = &[("FulfillmentOrder", SourceSystem::SalesforceOrderManagement)];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    status: &'a str,
    event_id: &'a str,
    record_id: &'a str,
    duplicate: bool,
    correlation_id: &'a str,
}

/// Handles one HTTP request; never fails: every problem is an HTTP answer with a code.
pub(crate) async fn handle(app: &App, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let cid = http::correlation_id(req);
    match accept(app, req, &cid).await {
        Ok(resp) => resp,
        Err(e) => {
            warn!(correlation_id = %cid, status = e.status, error.code = e.code, field = e.field.as_deref().unwrap_or(""), "webhook rejected");
            e.into_response(&cid)
        }
    }
}

async fn accept(
    app: &App,
    req: &ApiGatewayV2httpRequest,
    cid: &CorrelationId,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let cfg = &app.config;
    if req.request_context.http.method != http::Method::POST {
        return Err(ApiError::new(405, "METHOD_NOT_ALLOWED", "use POST"));
    }
    let body = http::body_bytes(req, cfg.max_body_bytes)?;

    let key = app.ports.secrets.secret(&cfg.webhook_secret_id).await.map_err(|e| {
        warn!(correlation_id = %cid, error.code = e.code(), error.message = %chain(&e), "signing key unavailable");
        ApiError::new(
            503,
            "SIGNING_KEY_UNAVAILABLE",
            "cannot verify signatures right now; retry later",
        )
    })?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    webhook_auth::verify_signature(
        key.expose_secret().as_bytes(),
        http::header(req, TIMESTAMP_HEADER),
        http::header(req, SIGNATURE_HEADER),
        &body,
        now,
        cfg.signature_tolerance,
    )
    .map_err(|e| ApiError::new(e.status(), e.code(), e.to_string()).field(e.field()))?;

    http::require_json(req)?;
    let note: FlowNotification = http::parse_json(&body)?;
    let event_id =
        EventId::parse(&note.event_id).map_err(|e| ApiError::bad_request("INVALID_FIELD", "eventId", e.message))?;
    let record_id = SalesforceId::parse(&note.record_id)
        .map_err(|e| ApiError::bad_request("INVALID_FIELD", "recordId", e.message))?;
    let named = match note.object.as_deref() {
        Some(o) => o.to_owned(),
        None if record_id.key_prefix() == FULFILLMENT_ORDER_PREFIX => "FulfillmentOrder".to_owned(),
        None => {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                "object",
                "object is required for this record id",
            ));
        }
    };
    let Some((object, source)) = SUPPORTED_OBJECTS.iter().find(|(o, _)| *o == named) else {
        return Err(ApiError::new(
            422,
            "UNSUPPORTED_OBJECT",
            format!(
                "object '{}' is not supported; supported: {}",
                named,
                SUPPORTED_OBJECTS.iter().map(|(o, _)| *o).collect::<Vec<_>>().join(", ")
            ),
        )
        .field("object"));
    };

    let message = Envelope::new(
        cid.clone(),
        OrderNotification {
            event_id: event_id.clone(),
            source: *source,
            object: (*object).to_owned(),
            record_id: record_id.clone(),
            received_at: OffsetDateTime::now_utc(),
        },
    );
    // The dedup payload is what must not change under one event id: the record it points at.
    let outbound = message
        .to_outbound()
        .map_err(|e| ApiError::new(500, "SERIALIZE", e.to_string()))?;
    let duplicate = Enqueue {
        store: app.ports.idempotency.as_ref(),
        queue: app.ports.queue.as_ref(),
        function: FUNCTION,
        window: cfg.event_dedup_window,
        queue_url: &cfg.orders_queue_url,
    }
    .once(
        event_id.as_str(),
        "eventId",
        &(object, record_id.as_str()),
        &outbound,
        cid,
    )
    .await?;
    info!(correlation_id = %cid, event_id = %event_id, sf_id = %record_id, duplicate, "notification accepted");
    Ok(http::json_response(
        202,
        &Accepted {
            status: "accepted",
            event_id: event_id.as_str(),
            record_id: record_id.as_str(),
            duplicate,
            correlation_id: cid.as_str(),
        },
        cid,
    ))
}

//! `POST /webhooks/salesforce`: authenticate the signed callout, hand the body to the source's parser
//! (`OrderSourceParser`, in the Salesforce adapter), deduplicate on the event id, enqueue the order
//! notification, answer 202.
//!
//! Order of checks is deliberate: size (413) before reading, signature (401) before parsing, so an
//! unauthenticated caller learns nothing about our schema; then shape (400/422); then dedup and enqueue.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use secrecy::ExposeSecret;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};
use waybill::domain::CorrelationId;
use waybill::error::{chain, Classified};
use waybill::http::{self, ApiError};
use waybill::ingest::Enqueue;
use waybill::messages::Envelope;
use waybill::webhook_auth::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::{App, FUNCTION};

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
    let notification = app
        .ports
        .parser
        .parse(&body, OffsetDateTime::now_utc())
        .map_err(|e| http::inbound_error(&e))?;
    let (event_id, record_id) = (notification.event_id.clone(), notification.record_id.clone());
    let object = notification.object.clone();
    let message = Envelope::new(cid.clone(), notification);
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
        &(object.as_str(), record_id.as_str()),
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

//! wms-webhook: receives WMS webhooks on `POST /webhooks/wms/{system}`, authenticates them by token and
//! source IP, hands the body to that system's inbound parser (from the registry), deduplicates on the key
//! the parser derived, and enqueues the canonical change notification. On a schedule it sweeps each
//! WMS's order listing for shipped changes the webhooks missed ([`sweep`]). No vendor shape is read here.

pub mod config;
pub mod sweep;
pub mod wire;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::LambdaEvent;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{info, warn};
use waybill::domain::CorrelationId;
use waybill::error::{chain, Classified, InvocationError};
use waybill::http::{self, ApiError};
use waybill::ingest::Enqueue;
use waybill::invocation::Invocation;
use waybill::messages::Envelope;
use waybill::ports::{IdempotencyStore, InboundParser, InboundRequest, QueuePublisher, SecretProvider};
use waybill::registry::Registry;
use waybill::webhook_auth;

pub use config::Config;

/// The function's name.
pub const FUNCTION: &str = "wms-webhook";

/// Header an operator may use instead of the `token` query parameter.
pub const TOKEN_HEADER: &str = "x-waybill-token";

/// The ports this function drives.
#[derive(Clone)]
pub struct Ports {
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Queue publisher.
    pub queue: Arc<dyn QueuePublisher>,
    /// Secrets.
    pub secrets: Arc<dyn SecretProvider>,
    /// Inbound parsers by system.
    pub parsers: Arc<Registry<dyn InboundParser>>,
    /// What the scheduled sweep reads (None: schedules are refused).
    pub sweep: Option<sweep::SweepPorts>,
}

/// The function.
#[derive(Clone)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// Ports.
    pub ports: Ports,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    status: &'a str,
    topic: &'a str,
    order_code: &'a str,
    duplicate: bool,
    correlation_id: &'a str,
}

impl App {
    /// Handles one invocation.
    ///
    /// # Errors
    /// `InvocationError` only for events that are not HTTP API v2 requests.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        match Invocation::classify(event.payload)? {
            Invocation::Http(req) => {
                let resp = self.handle_http(&req).await;
                serde_json::to_value(resp).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            Invocation::Other(ev) if is_schedule(&ev) => {
                if self.ports.sweep.is_none() {
                    return Err(InvocationError::new(
                        "SWEEP_NOT_CONFIGURED",
                        "this wms-webhook has no WMS connector to sweep",
                    ));
                }
                let report =
                    waybill::deadline::scope(event.context.deadline, self.sweep(OffsetDateTime::now_utc())).await;
                // A system that could not be swept fails the invocation, so the failure destination and
                // the alarm see it; the next schedule reads the same window again.
                if let Some(failed) = report.systems.iter().find(|s| s.error.is_some()) {
                    return Err(InvocationError::new(
                        "ORDER_SWEEP_FAILED",
                        format!("{}: {}", failed.system, failed.error.as_deref().unwrap_or_default()),
                    ));
                }
                serde_json::to_value(report).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            _ => Err(InvocationError::new(
                "UNSUPPORTED_EVENT",
                "wms-webhook takes HTTP API v2 requests and EventBridge Scheduler events only",
            )),
        }
    }

    /// Handles one HTTP request; every problem is an HTTP answer with a code.
    pub async fn handle_http(&self, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let cid = http::correlation_id(req);
        match self.accept(req, &cid).await {
            Ok(resp) => resp,
            Err(e) => {
                warn!(correlation_id = %cid, status = e.status, error.code = e.code, field = e.field.as_deref().unwrap_or(""), "wms webhook rejected");
                e.into_response(&cid)
            }
        }
    }

    async fn accept(
        &self,
        req: &ApiGatewayV2httpRequest,
        cid: &CorrelationId,
    ) -> Result<ApiGatewayV2httpResponse, ApiError> {
        let cfg = &self.config;
        if req.request_context.http.method != http::Method::POST {
            return Err(ApiError::new(405, "METHOD_NOT_ALLOWED", "use POST"));
        }
        webhook_auth::check_ip(&cfg.allowed_ips, http::source_ip(req))
            .map_err(|e| ApiError::new(e.status(), e.code(), e.to_string()).field(e.field()))?;
        let expected = self.ports.secrets.secret(&cfg.token_secret_id).await.map_err(|e| {
            warn!(correlation_id = %cid, error.code = e.code(), error.message = %chain(&e), "webhook token unavailable");
            ApiError::new(503, "TOKEN_UNAVAILABLE", "cannot verify the token right now; retry later")
        })?;
        let presented = req
            .query_string_parameters
            .first("token")
            .or_else(|| req.path_parameters.get("token").map(String::as_str))
            .or_else(|| http::header(req, TOKEN_HEADER));
        webhook_auth::verify_token(&token_value(&expected), presented)
            .map_err(|e| ApiError::new(e.status(), e.code(), e.to_string()).field(e.field()))?;

        let body = http::body_bytes(req, cfg.max_body_bytes)?;
        http::require_json(req)?;
        let system = route_system(req);
        let parser = self.ports.parsers.get(system).ok_or_else(|| {
            ApiError::new(404, "UNKNOWN_SYSTEM", format!("no WMS connector serves '{system}'")).field("system")
        })?;
        let query: Vec<(String, String)> = req
            .query_string_parameters
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let inbound = InboundRequest {
            body: &body,
            headers: &req.headers,
            query: &query,
        };
        let notification = parser
            .parse(&inbound, OffsetDateTime::now_utc())
            .map_err(|e| http::inbound_error(&e))?;
        let event = notification.event;
        let message = Envelope::new(cid.clone(), event.clone());

        let outbound = message
            .to_outbound()
            .map_err(|e| ApiError::new(500, "SERIALIZE", e.to_string()))?;
        // The payload checked under the key is the canonical body hash: with a body-hash key a redelivery
        // always matches (202 duplicate, never 409), while a reused vendor event id with other content
        // is still caught as EVENT_ID_REUSED.
        let duplicate = Enqueue {
            store: self.ports.idempotency.as_ref(),
            queue: self.ports.queue.as_ref(),
            function: FUNCTION,
            window: cfg.dedup_window,
            queue_url: &cfg.fulfillment_events_queue_url,
        }
        .once(&event.event_key, "body", &notification.payload_hash, &outbound, cid)
        .await?;
        info!(correlation_id = %cid, system = %event.system, object = ?event.object, topic = %event.topic, order_code = %event.order_code, duplicate, "wms event accepted");
        Ok(http::json_response(
            202,
            &Accepted {
                status: "accepted",
                topic: &event.topic,
                order_code: &event.order_code,
                duplicate,
                correlation_id: cid.as_str(),
            },
            cid,
        ))
    }
}

/// The sweep's schedule: the template's `Input` (`{"waybill": "order-sweep"}`, see
/// `events/wms-webhook/scheduled-sweep.json`), or a Scheduler / EventBridge default notification
/// (`source` `aws.scheduler` / `aws.events`, or `detail-type` `Scheduled Event`) from a schedule set up
/// without one.
fn is_schedule(ev: &Value) -> bool {
    ev.get("waybill").and_then(Value::as_str) == Some(SWEEP_INPUT)
        || matches!(
            ev.get("source").and_then(Value::as_str),
            Some("aws.scheduler" | "aws.events")
        )
        || ev.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// The `waybill` field of the sweep schedule's input.
pub const SWEEP_INPUT: &str = "order-sweep";

/// The secret may be the bare token or `{"token": "..."}`.
fn token_value(secret: &SecretString) -> String {
    let raw = secret.expose_secret();
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| raw.trim().to_owned())
}

/// The `{system}` of the route (`/webhooks/wms/{system}`), else the path's last segment.
fn route_system(req: &ApiGatewayV2httpRequest) -> &str {
    req.path_parameters
        .get("system")
        .map(String::as_str)
        .or_else(|| {
            req.raw_path
                .as_deref()
                .and_then(|p| p.trim_end_matches('/').rsplit('/').next())
        })
        .unwrap_or_default()
}

//! Handler tests for `POST /webhooks/wms/logiwa` against in-memory ports, fed from `events/`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use waybill::fakes::{MemoryIdempotency, MemoryQueue, MemorySecrets};
use waybill::messages::{Envelope, FulfillmentEvent};
use wms_webhook::{App, Config, Ports};

const TOKEN: &str = "tok-3f9a";
const EVENTS: &str = "https://sqs.local/fulfillment-events";
const SHIPMENT: &str = include_str!("../../../events/wms-webhook/apigw-logiwa-shipment.json");
const STATUS: &str = include_str!("../../../events/wms-webhook/apigw-logiwa-statuschange.json");

fn harness(allowed_ips: &[&str]) -> (App, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new());
    let app = App {
        config: Config {
            fulfillment_events_queue_url: EVENTS.into(),
            token_secret_id: "logiwa-token".into(),
            allowed_ips: allowed_ips.iter().map(|s| s.parse().expect("ip")).collect(),
            max_body_bytes: 65_536,
            dedup_window: Duration::from_secs(3600),
        },
        ports: Ports {
            idempotency: Arc::new(MemoryIdempotency::new()),
            queue: queue.clone(),
            secrets: Arc::new(MemorySecrets::new().with("logiwa-token", TOKEN)),
        },
    };
    (app, queue)
}

/// A fixture with the given token in the query string.
fn event(fixture: &str, token: &str) -> Value {
    let mut v: Value = serde_json::from_str(fixture).expect("fixture");
    v["rawQueryString"] = Value::String(format!("token={token}"));
    v["queryStringParameters"] = serde_json::json!({ "token": token });
    v
}

async fn call(app: &App, event: Value) -> (i64, Value) {
    let resp = app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("http answers never fail the invocation");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap_or("null")).expect("json");
    (resp["statusCode"].as_i64().expect("status"), body)
}

#[tokio::test]
async fn a_shipment_webhook_with_the_right_token_is_enqueued_as_a_fulfillment_event() {
    let (app, queue) = harness(&["20.44.83.105"]);
    let (status, body) = call(&app, event(SHIPMENT, TOKEN)).await;
    assert_eq!(status, 202, "{body}");
    let sent = queue.sent(EVENTS);
    assert_eq!(sent.len(), 1);
    let env = Envelope::<FulfillmentEvent>::parse(&sent[0].body).expect("envelope");
    assert_eq!(env.data.order_code, "FO-0000001");
    assert_eq!(env.data.topic, "wms/shipmentorder/shipment");
    assert_eq!(
        env.data.wms_order_id.as_ref().map(|i| i.as_str()),
        Some("7c0e4b1a-2d3f-4e5a-8b6c-9d0e1f2a3b4c")
    );
}

#[tokio::test]
async fn a_redelivered_webhook_is_accepted_but_enqueued_once() {
    let (app, queue) = harness(&[]);
    let (a, _) = call(&app, event(SHIPMENT, TOKEN)).await;
    let (b, body) = call(&app, event(SHIPMENT, TOKEN)).await;
    assert_eq!((a, b), (202, 202));
    assert_eq!(body["duplicate"], true);
    assert_eq!(queue.sent(EVENTS).len(), 1);
}

#[tokio::test]
async fn a_status_change_is_a_separate_event_from_the_shipment() {
    let (app, queue) = harness(&[]);
    call(&app, event(SHIPMENT, TOKEN)).await;
    let (status, _) = call(&app, event(STATUS, TOKEN)).await;
    assert_eq!(status, 202);
    assert_eq!(queue.sent(EVENTS).len(), 2);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_a_401_and_nothing_is_enqueued() {
    let (app, queue) = harness(&[]);
    let (status, body) = call(&app, event(SHIPMENT, "guess")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    let mut no_token: Value = serde_json::from_str(SHIPMENT).expect("fixture");
    no_token["rawQueryString"] = Value::String(String::new());
    no_token["queryStringParameters"] = serde_json::json!({});
    let (status, _) = call(&app, no_token).await;
    assert_eq!(status, 401);
    assert_eq!(queue.calls(), 0);
}

#[tokio::test]
async fn a_caller_outside_the_ip_allowlist_is_a_403() {
    let (app, queue) = harness(&["20.22.173.4"]);
    let (status, body) = call(&app, event(SHIPMENT, TOKEN)).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "SOURCE_IP_NOT_ALLOWED");
    assert_eq!(queue.calls(), 0);
}

#[tokio::test]
async fn a_body_missing_the_order_code_is_a_400_naming_the_field() {
    let (app, queue) = harness(&[]);
    let mut ev = event(SHIPMENT, TOKEN);
    let mut body: Value = serde_json::from_str(ev["body"].as_str().expect("body")).expect("json");
    body.as_object_mut().expect("object").remove("code");
    ev["body"] = Value::String(body.to_string());
    let (status, answer) = call(&app, ev).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "code");
    assert_eq!(queue.calls(), 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let (app, _) = harness(&[]);
    let mut ev = event(SHIPMENT, TOKEN);
    ev["body"] = Value::String("<xml/>".into());
    let (status, answer) = call(&app, ev).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["field"], "body");
}

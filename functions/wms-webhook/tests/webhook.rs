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
            sweep: wms_webhook::sweep::SweepConfig {
                overlap: Duration::from_secs(300),
                first_lookback: Duration::from_secs(3600),
                grace: Duration::ZERO,
                concurrency: 4,
            },
        },
        ports: Ports {
            idempotency: Arc::new(MemoryIdempotency::new()),
            queue: queue.clone(),
            secrets: Arc::new(MemorySecrets::new().with("logiwa-token", TOKEN)),
            parsers: Arc::new(waybill::adapters::inbound_parsers()),
            sweep: None,
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
    // The documented shipment body carries no status (wms-apis.md §1.6), so none is invented
    assert_eq!(env.data.status, None);
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

/// The fixture with its webhook body replaced by `body`.
fn with_body(fixture: &str, body: &Value) -> Value {
    let mut ev = event(fixture, TOKEN);
    ev["body"] = Value::String(body.to_string());
    ev
}

/// The fixture's webhook body as JSON.
fn body_of(fixture: &str) -> Value {
    let ev: Value = serde_json::from_str(fixture).expect("fixture");
    serde_json::from_str(ev["body"].as_str().expect("body")).expect("json body")
}

fn sent_events(queue: &MemoryQueue) -> Vec<FulfillmentEvent> {
    queue
        .sent(EVENTS)
        .iter()
        .map(|m| Envelope::<FulfillmentEvent>::parse(&m.body).expect("envelope").data)
        .collect()
}

#[tokio::test]
async fn a_status_change_is_enqueued_with_its_current_status() {
    // Given the documented statuschange body (Open → ReadyToPick)
    let (app, queue) = harness(&[]);
    let (status, body) = call(&app, event(STATUS, TOKEN)).await;
    // Then it is accepted and the message carries CurrentStatus
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["topic"], "wms/shipmentorder/statuschange");
    let sent = sent_events(&queue);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status.as_deref(), Some("ReadyToPick"));
    assert_eq!(sent[0].order_code, "FO-0000001");
}

#[tokio::test]
async fn a_redelivery_with_its_keys_in_another_order_is_a_duplicate_not_a_conflict() {
    // Given a status change that was enqueued
    let (app, queue) = harness(&[]);
    let (first, _) = call(&app, event(STATUS, TOKEN)).await;
    // When Logiwa redelivers it, re-serialised with other key order and whitespace
    let redelivery = r#"{ "ClientId": 10001, "CurrentStatus": "ReadyToPick", "PreviousStatus": "Open",
        "Code": "FO-0000001", "Identifier": "7c0e4b1a-2d3f-4e5a-8b6c-9d0e1f2a3b4c" }"#;
    let mut ev = event(STATUS, TOKEN);
    ev["body"] = Value::String(redelivery.into());
    let (second, body) = call(&app, ev).await;
    // Then it is answered 202 duplicate (not 409 EVENT_ID_REUSED) and not enqueued again
    assert_eq!((first, second), (202, 202), "{body}");
    assert_eq!(body["duplicate"], true);
    assert_eq!(queue.sent(EVENTS).len(), 1);
}

#[tokio::test]
async fn a_later_status_change_for_the_same_order_is_enqueued_as_a_second_event() {
    // Given Open → ReadyToPick was enqueued
    let (app, queue) = harness(&[]);
    call(&app, event(STATUS, TOKEN)).await;
    // When the same order moves on: ReadyToPick → Shipped
    let mut next = body_of(STATUS);
    next["PreviousStatus"] = Value::String("ReadyToPick".into());
    next["CurrentStatus"] = Value::String("Shipped".into());
    let (status, body) = call(&app, with_body(STATUS, &next)).await;
    // Then it is a new event, not a duplicate: two messages on the queue
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], false);
    let sent = sent_events(&queue);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].event_key, sent[1].event_key);
    assert_eq!(sent[1].status.as_deref(), Some("Shipped"));
}

#[tokio::test]
async fn a_second_shipment_of_the_same_order_is_enqueued_as_a_second_event() {
    let (app, queue) = harness(&[]);
    call(&app, event(SHIPMENT, TOKEN)).await;
    let mut next = body_of(SHIPMENT);
    next["ShipmentPackageList"][0]["TrackingNumber"] = Value::String("1Z999AA10000000002".into());
    let (status, body) = call(&app, with_body(SHIPMENT, &next)).await;
    assert_eq!((status, &body["duplicate"]), (202, &Value::Bool(false)), "{body}");
    assert_eq!(queue.sent(EVENTS).len(), 2);
}

#[tokio::test]
async fn a_reused_vendor_event_id_with_other_content_is_a_409() {
    // Given a body carrying a vendor event id (none is documented, but one is honoured when sent)
    let (app, queue) = harness(&[]);
    let mut first = body_of(STATUS);
    first["transactionIdentifier"] = Value::String("tx-1".into());
    let (a, _) = call(&app, with_body(STATUS, &first)).await;
    // When another event arrives under the same id
    let mut other = first.clone();
    other["CurrentStatus"] = Value::String("Shipped".into());
    let (b, body) = call(&app, with_body(STATUS, &other)).await;
    // Then it is refused as a reused id and only the first is enqueued
    assert_eq!((a, b), (202, 409), "{body}");
    assert_eq!(body["error"]["code"], "EVENT_ID_REUSED");
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
    body.as_object_mut().expect("object").remove("ShipmentOrderCode");
    ev["body"] = Value::String(body.to_string());
    let (status, answer) = call(&app, ev).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "ShipmentOrderCode");
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

#[tokio::test]
async fn the_route_names_the_system_whose_parser_reads_the_body() {
    // Given the route `/webhooks/wms/{system}` with the system in the path parameters
    let (app, queue) = harness(&[]);
    let mut known = event(SHIPMENT, TOKEN);
    known["pathParameters"] = serde_json::json!({"system": "logiwa"});
    known["rawPath"] = Value::String("/webhooks/wms/logiwa".into());
    let mut unknown = event(SHIPMENT, TOKEN);
    unknown["pathParameters"] = serde_json::json!({"system": "orderflow"});
    unknown["rawPath"] = Value::String("/webhooks/wms/orderflow".into());
    // When a body arrives for a system with a parser, and for one without
    let (ok, _) = call(&app, known).await;
    let (status, body) = call(&app, unknown).await;
    // Then the first is enqueued as that system's event, the second is 404 naming the field
    assert_eq!(ok, 202);
    let sent = queue.sent(EVENTS);
    assert_eq!(sent.len(), 1);
    let env = Envelope::<FulfillmentEvent>::parse(&sent[0].body).expect("envelope");
    assert_eq!(env.data.system.as_str(), "logiwa");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "UNKNOWN_SYSTEM");
    assert_eq!(body["error"]["field"], "system");
}

//! Handler tests for the `POST /webhooks/salesforce` route against in-memory ports, fed from `events/`.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use http::HeaderValue;
use lambda_runtime::{Context, LambdaEvent};
use salesforce_webhook::{App, Config, Ports};
use serde_json::Value;
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::fakes::{MemoryIdempotency, MemoryMappings, MemoryQueue, MemorySecrets, MemoryXref};
use waybill::mapping::{CachedMappings, MappingTables};
use waybill::messages::{Envelope, OrderNotification};
use waybill::webhook_auth::sign;

const KEY: &str = "local-signing-key";
const ORDERS: &str = "https://sqs.local/orders";
const FIXTURE: &str = include_str!("../../../events/salesforce-webhook/apigw-fulfillment-order.json");

struct Harness {
    app: App,
    queue: Arc<MemoryQueue>,
    secrets: Arc<MemorySecrets>,
}

fn harness() -> Harness {
    let queue = Arc::new(MemoryQueue::new());
    let secrets = Arc::new(MemorySecrets::new().with("signing", KEY));
    let sf = SalesforceOm::new(SalesforceConfig::new("sf"), secrets.clone()).expect("sf adapter");
    let wms = Logiwa::new(LogiwaConfig::new("logiwa"), secrets.clone()).expect("logiwa adapter");
    let app = App {
        config: Config {
            orders_queue_url: ORDERS.into(),
            dlq_url: "https://sqs.local/orders-dlq".into(),
            max_receive_count: 5,
            webhook_secret_id: "signing".into(),
            signature_tolerance: Duration::from_secs(300),
            max_body_bytes: 4096,
            event_dedup_window: Duration::from_secs(3600),
            submittable_statuses: vec!["Allocated".into()],
            status_on_submit: Some("Assigned".into()),
            concurrency: 2,
        },
        ports: Ports {
            idempotency: Arc::new(MemoryIdempotency::new()),
            queue: queue.clone(),
            secrets: secrets.clone(),
            salesforce: Arc::new(sf),
            wms: Arc::new(wms),
            xref: Arc::new(MemoryXref::new()),
            order_state: Arc::new(waybill::fakes::MemoryOrderState::new()),
            mappings: Arc::new(CachedMappings::new(
                Arc::new(MemoryMappings::new(MappingTables::default())),
                Duration::from_secs(60),
            )),
            parser: Arc::new(waybill::adapters::salesforce::inbound::FlowCallout),
        },
    };
    Harness { app, queue, secrets }
}

/// The fixture with `body` and a signature made now with `key`.
fn signed(body: &str, key: &str) -> Value {
    let mut req: ApiGatewayV2httpRequest = serde_json::from_str(FIXTURE).expect("fixture");
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    req.body = Some(body.to_owned());
    req.headers.insert(
        "x-waybill-timestamp",
        HeaderValue::from_str(&ts.to_string()).expect("hv"),
    );
    req.headers.insert(
        "x-waybill-signature",
        HeaderValue::from_str(&sign(key.as_bytes(), ts, body.as_bytes())).expect("hv"),
    );
    serde_json::to_value(req).expect("json")
}

fn fixture_body() -> String {
    let v: Value = serde_json::from_str(FIXTURE).expect("fixture");
    v["body"].as_str().expect("body").to_owned()
}

async fn call(h: &Harness, event: Value) -> (i64, Value) {
    let resp = h
        .app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("http answers never fail the invocation");
    let status = resp["statusCode"].as_i64().expect("status");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap_or("null")).expect("json body");
    (status, body)
}

#[tokio::test]
async fn a_signed_fulfillment_order_notification_is_accepted_and_enqueued_once() {
    // Given a correctly signed Flow callout
    let h = harness();
    // When it is delivered
    let (status, body) = call(&h, signed(&fixture_body(), KEY)).await;
    // Then it is accepted and one order notification is on the orders queue
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], false);
    let sent = h.queue.sent(ORDERS);
    assert_eq!(sent.len(), 1);
    let env = Envelope::<OrderNotification>::parse(&sent[0].body).expect("envelope");
    assert_eq!(env.data.record_id.as_str(), "0a3Dn000000TxyzIAC");
    assert_eq!(sent[0].message_type, "order.notification");
    assert_eq!(
        sent[0].correlation_id.as_str(),
        body["correlationId"].as_str().expect("cid")
    );
}

#[tokio::test]
async fn the_same_event_delivered_three_times_is_enqueued_once() {
    let h = harness();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = call(&h, signed(&fixture_body(), KEY)).await;
        statuses.push((status, body["duplicate"].as_bool()));
    }
    assert_eq!(statuses, vec![(202, Some(false)), (202, Some(true)), (202, Some(true))]);
    assert_eq!(h.queue.sent(ORDERS).len(), 1);
}

#[tokio::test]
async fn a_bad_signature_is_rejected_with_401_and_nothing_is_enqueued() {
    let h = harness();
    let (status, body) = call(&h, signed(&fixture_body(), "not-the-key")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "INVALID_SIGNATURE");
    assert_eq!(body["error"]["field"], "x-waybill-signature");
    assert_eq!(h.queue.calls(), 0);
}

#[tokio::test]
async fn a_stale_timestamp_is_rejected_even_with_a_valid_signature() {
    let h = harness();
    let body = fixture_body();
    let mut req: ApiGatewayV2httpRequest = serde_json::from_str(FIXTURE).expect("fixture");
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    req.headers.insert(
        "x-waybill-timestamp",
        HeaderValue::from_str(&old.to_string()).expect("hv"),
    );
    req.headers.insert(
        "x-waybill-signature",
        HeaderValue::from_str(&sign(KEY.as_bytes(), old, body.as_bytes())).expect("hv"),
    );
    let (status, answer) = call(&h, serde_json::to_value(req).expect("json")).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "STALE_OR_INVALID_TIMESTAMP");
    assert_eq!(h.queue.calls(), 0);
}

#[tokio::test]
async fn a_malformed_body_is_a_400_naming_the_field() {
    let h = harness();
    let cases = [
        ("{not json", "MALFORMED_JSON", "body"),
        (
            r#"{"eventId":"e1","object":"FulfillmentOrder"}"#,
            "INVALID_FIELD",
            "recordId",
        ),
        (
            r#"{"eventId":"e1","object":"FulfillmentOrder","recordId":"0a3Dn000000TxyzAAA"}"#,
            "INVALID_FIELD",
            "recordId",
        ),
        (
            r#"{"eventId":"  ","object":"FulfillmentOrder","recordId":"0a3Dn000000TxyzIAC"}"#,
            "INVALID_FIELD",
            "eventId",
        ),
    ];
    for (body, code, field) in cases {
        let (status, answer) = call(&h, signed(body, KEY)).await;
        assert_eq!(
            (
                status,
                answer["error"]["code"].as_str(),
                answer["error"]["field"].as_str()
            ),
            (400, Some(code), Some(field)),
            "{body}"
        );
    }
    assert_eq!(h.queue.calls(), 0);
}

#[tokio::test]
async fn an_unsupported_object_is_a_422_naming_the_object_field() {
    let h = harness();
    let (status, answer) = call(
        &h,
        signed(
            r#"{"eventId":"e2","object":"Opportunity","recordId":"0a3Dn000000TxyzIAC"}"#,
            KEY,
        ),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer["error"]["code"], "UNSUPPORTED_OBJECT");
    assert_eq!(answer["error"]["field"], "object");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let h = harness();
    let big = format!(
        r#"{{"eventId":"e3","object":"FulfillmentOrder","recordId":"0a3Dn000000TxyzIAC","pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let (status, answer) = call(&h, signed(&big, KEY)).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn an_event_id_reused_for_another_record_is_a_409() {
    let h = harness();
    let (first, _) = call(&h, signed(&fixture_body(), KEY)).await;
    let other = fixture_body().replace("0a3Dn000000TxyzIAC", "0a3Dn000000TabcIAC");
    let (second, answer) = call(&h, signed(&other, KEY)).await;
    assert_eq!((first, second), (202, 409));
    assert_eq!(answer["error"]["code"], "EVENT_ID_REUSED");
    assert_eq!(h.queue.sent(ORDERS).len(), 1);
}

#[tokio::test]
async fn a_queue_outage_is_a_503_and_the_same_event_is_accepted_on_retry() {
    let h = harness();
    h.queue.fail_next_calls(1);
    let (first, answer) = call(&h, signed(&fixture_body(), KEY)).await;
    assert_eq!(first, 503, "{answer}");
    // The lock was released on failure, so the sender's retry goes through.
    let (second, answer) = call(&h, signed(&fixture_body(), KEY)).await;
    assert_eq!(second, 202);
    assert_eq!(answer["duplicate"], false);
    assert_eq!(h.queue.sent(ORDERS).len(), 1);
}

#[tokio::test]
async fn an_unreadable_signing_key_is_a_503_not_a_401() {
    let h = harness();
    h.secrets.remove("signing");
    let (status, answer) = call(&h, signed(&fixture_body(), KEY)).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "SIGNING_KEY_UNAVAILABLE");
}

#[tokio::test]
async fn a_forwarded_fo_status_changed_event_is_accepted_without_an_object_field() {
    // FOStatusChangedEvent field names (EventUuid, FulfillmentOrderId, NewStatus), no object: the id's
    // key prefix says FulfillmentOrder.
    let h = harness();
    let body = r#"{"EventUuid":"5b1d2c3e-0000-4000-8000-00000000000a","FulfillmentOrderId":"0a3Dn000000TxyzIAC","NewStatus":"Allocated"}"#;
    let (status, answer) = call(&h, signed(body, KEY)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(h.queue.sent(ORDERS).len(), 1);
}

#[tokio::test]
async fn an_outbound_message_soap_body_is_refused_as_unsupported_media() {
    let h = harness();
    let mut event = signed("<soapenv:Envelope/>", KEY);
    event["headers"]["content-type"] = Value::String("text/xml; charset=utf-8".into());
    let (status, answer) = call(&h, event).await;
    assert_eq!(status, 415);
    assert_eq!(answer["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
}

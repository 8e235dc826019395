//! What the webhook routes refuse, and that a refusal enqueues nothing.

use serde_json::{json, Value};
use time::OffsetDateTime;
use waybill_e2e::{HttpAnswer, Stack, StackOptions};

use crate::support;

fn error_of(a: &HttpAnswer) -> (u16, String, String) {
    let e = &a.body["error"];
    (
        a.status,
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["field"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn nothing_received(stack: &Stack, queue: &str) {
    assert_eq!(support::queue_counts(stack, queue).await, (0, 0));
    let url = stack.queue_url(queue).expect("queue");
    let got = stack
        .aws()
        .sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    assert!(
        got.messages.unwrap_or_default().is_empty(),
        "{queue} received a message"
    );
}

/// A stack without pollers, so whatever a request enqueued stays on the queue to be seen.
fn no_pollers() -> StackOptions {
    StackOptions {
        start_pollers: false,
        ..support::options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_rejected_and_nothing_is_enqueued() {
    // Given a stack and a valid callout body
    let stack = support::start(no_pollers()).await;
    let body =
        json!({"eventId": "evt-sig-1", "object": "FulfillmentOrder", "recordId": "0a3000000000001AAA"}).to_string();
    let now = OffsetDateTime::now_utc().unix_timestamp();

    // When it is signed with the wrong key
    let wrong = stack
        .post_signed(body.as_bytes(), now, "not-the-key")
        .await
        .expect("post");
    // Then it is 401 INVALID_SIGNATURE naming the signature header
    assert_eq!(
        error_of(&wrong),
        (401, "INVALID_SIGNATURE".into(), "x-waybill-signature".into()),
        "{:?}",
        wrong.body
    );

    // When it is signed correctly but an hour ago
    let stale = stack
        .post_signed(body.as_bytes(), now - 3600, stack.signing_key())
        .await
        .expect("post");
    // Then it is 401 naming the timestamp header
    assert_eq!(stale.status, 401, "{:?}", stale.body);
    assert_eq!(stale.body["error"]["field"], "x-waybill-timestamp");

    // And nothing reached the orders queue
    nothing_received(&stack, "OrdersQueue").await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_object_or_malformed_body_gets_a_clear_4xx() {
    let stack = support::start(no_pollers()).await;
    let key = stack.signing_key().to_owned();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let send = |body: String| {
        let stack = &stack;
        let key = key.clone();
        async move { stack.post_signed(body.as_bytes(), now, &key).await.expect("post") }
    };

    // An object other than FulfillmentOrder → 422 naming `object`
    let a = send(json!({"eventId": "evt-obj", "object": "Order", "recordId": "801000000000001AAA"}).to_string()).await;
    assert_eq!(
        error_of(&a),
        (422, "UNSUPPORTED_OBJECT".into(), "object".into()),
        "{:?}",
        a.body
    );
    // Not JSON → 400 naming the body
    let a = send("{not json".into()).await;
    assert_eq!(
        (a.status, a.body["error"]["field"].as_str()),
        (400, Some("body")),
        "{:?}",
        a.body
    );
    // No recordId → 400 naming recordId
    let a = send(json!({"eventId": "evt-norec", "object": "FulfillmentOrder"}).to_string()).await;
    assert_eq!(
        (a.status, a.body["error"]["field"].as_str()),
        (400, Some("recordId")),
        "{:?}",
        a.body
    );
    // Larger than MAX_BODY_BYTES → 413, before any signature work
    let big = json!({"eventId": "evt-big", "object": "FulfillmentOrder", "recordId": "0a3000000000001AAA", "pad": "x".repeat(300_000)});
    let a = send(big.to_string()).await;
    assert_eq!(a.status, 413, "{:?}", a.body);

    nothing_received(&stack, "OrdersQueue").await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logiwa_webhook_with_a_wrong_token_is_rejected() {
    // Given a stack and a statuschange body as Logiwa sends it (wms-apis.md §1.6)
    let stack = support::start(no_pollers()).await;
    let body = json!({"Identifier": "7c0e5a52-0000-4000-8000-000000000001", "Code": "FO-0000001",
                      "PreviousStatus": "ReadyToPick", "CurrentStatus": "Shipped", "ClientId": 10001});
    let url = format!(
        "{}{}",
        stack.front_url(),
        stack
            .route_path("wms-webhook")
            .expect("route")
            .replace("{system}", "logiwa")
    );

    // When it arrives with a wrong token, or none
    for query in ["?token=wrong-token", ""] {
        let resp = stack
            .http()
            .post(format!("{url}{query}"))
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        // Then it is 401 naming the token
        assert_eq!(
            (status, v["error"]["field"].as_str()),
            (401, Some("token")),
            "{query}: {v}"
        );
    }
    // And nothing reached the fulfillment-events queue
    nothing_received(&stack, "FulfillmentEventsQueue").await;

    // While the right token is accepted (so the rejection above was about the token)
    let resp = stack
        .http()
        .post(format!("{url}?token={}", stack.logiwa_token()))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 202);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_404() {
    let stack = support::start(no_pollers()).await;
    // A path no HttpApi event declares
    let resp = stack
        .http()
        .post(format!("{}/webhooks/nope", stack.front_url()))
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "ROUTE_NOT_FOUND");
    // A declared path with a method the route does not take
    let path = stack.route_path("salesforce-webhook").expect("route");
    let resp = stack
        .http()
        .get(format!("{}{path}", stack.front_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 404);
    stack.shutdown().await;
}

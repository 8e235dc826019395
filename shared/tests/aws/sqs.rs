//! The SQS publisher against moto: batching, attributes, the size limit, per-message failures and whole-call failures.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_types::body::SdkBody;
use waybill::adapters::sqs::{SqsPublisher, MAX_MESSAGE_BYTES};
use waybill::domain::CorrelationId;
use waybill::error::BoxError;
use waybill::ports::{OutboundMessage, QueueError, QueuePublisher};
use waybill::testing::{self, TestQueue};

use crate::support::{self, CallCounter};

fn message(i: usize, body_len: usize) -> OutboundMessage {
    OutboundMessage {
        body: format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(body_len)),
        correlation_id: CorrelationId::parse(&format!("corr-{i}")).expect("correlation id"),
        message_type: "order.notification".into(),
        schema_version: 2,
        attributes: vec![("origin".into(), "test".into())],
    }
}

async fn queue(client: &aws_sdk_sqs::Client) -> TestQueue {
    testing::create_queue_with_dlq(client, "waybill-test", 3)
        .await
        .expect("queue")
}

/// Receives until `expected` messages arrived or ten seconds passed.
async fn receive(client: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<Message> {
    let mut out = Vec::new();
    let started = Instant::now();
    while out.len() < expected && started.elapsed() < Duration::from_secs(10) {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        out.extend(got.messages.unwrap_or_default());
    }
    out
}

async fn queue_depth(client: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attrs = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("attributes");
    attrs
        .attributes
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|v| v.parse().ok())
        })
        .expect("queue depth")
}

fn attr<'a>(m: &'a Message, name: &str) -> (&'a str, Option<&'a str>) {
    let v = m
        .message_attributes()
        .and_then(|a| a.get(name))
        .unwrap_or_else(|| panic!("{name} missing on {m:?}"));
    (v.data_type(), v.string_value())
}

#[tokio::test]
async fn twenty_three_messages_arrive_with_their_attributes() {
    // Given a queue and 23 messages (three batch calls)
    let counter = CallCounter::default();
    let conf = aws_sdk_sqs::config::Builder::from(&support::sdk().await)
        .interceptor(counter.clone())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(conf);
    let q = queue(&client).await;
    let messages: Vec<_> = (0..23).map(|i| message(i, 10)).collect();
    // When they are published
    let failures = SqsPublisher::new(client.clone())
        .publish(&q.url, &messages)
        .await
        .expect("publish");
    // Then none failed, it took three batch calls, and all 23 arrive with their attributes
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(counter.of("SendMessageBatch"), 3);
    let received = receive(&client, &q.url, 23).await;
    assert_eq!(received.len(), 23);
    let bodies: HashSet<_> = received.iter().filter_map(Message::body).collect();
    assert_eq!(bodies, messages.iter().map(|m| m.body.as_str()).collect());
    for m in &received {
        let n: usize = serde_json::from_str::<serde_json::Value>(m.body().expect("body"))
            .ok()
            .and_then(|v| v["n"].as_u64())
            .and_then(|n| usize::try_from(n).ok())
            .expect("n");
        assert_eq!(
            attr(m, "correlation_id"),
            ("String", Some(format!("corr-{n}").as_str()))
        );
        assert_eq!(attr(m, "message_type"), ("String", Some("order.notification")));
        assert_eq!(attr(m, "schema_version"), ("Number", Some("2")));
        assert_eq!(attr(m, "origin"), ("String", Some("test")));
    }
}

#[tokio::test]
async fn a_message_over_256_kib_is_too_large_and_nothing_is_sent() {
    // Given a batch whose third message is over the limit once attributes count
    let client = aws_sdk_sqs::Client::new(&support::sdk().await);
    let q = queue(&client).await;
    let messages = vec![message(0, 10), message(1, 10), message(2, MAX_MESSAGE_BYTES - 20)];
    // When it is published
    let err = SqsPublisher::new(client.clone())
        .publish(&q.url, &messages)
        .await
        .expect_err("too large");
    // Then the oversized index is reported and not even the small messages were sent
    assert!(
        matches!(
            err,
            QueueError::TooLarge {
                index: 2,
                limit: MAX_MESSAGE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(queue_depth(&client, &q.url).await, 0);
}

#[tokio::test]
async fn large_messages_are_split_so_no_batch_exceeds_256_kib() {
    // Given five 100 KB messages (only two fit in one 256 KiB batch)
    let counter = CallCounter::default();
    let conf = aws_sdk_sqs::config::Builder::from(&support::sdk().await)
        .interceptor(counter.clone())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(conf);
    let q = queue(&client).await;
    let messages: Vec<_> = (0..5).map(|i| message(i, 100_000)).collect();
    // When they are published
    let failures = SqsPublisher::new(client.clone())
        .publish(&q.url, &messages)
        .await
        .expect("publish");
    // Then it took three calls (2 + 2 + 1) and all arrived
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(counter.of("SendMessageBatch"), 3);
    assert_eq!(receive(&client, &q.url, 5).await.len(), 5);
}

#[tokio::test]
async fn a_message_sqs_would_reject_is_reported_by_index_and_the_others_are_sent() {
    // Given three messages, the second with an empty body
    let client = aws_sdk_sqs::Client::new(&support::sdk().await);
    let q = queue(&client).await;
    let mut messages: Vec<_> = (0..3).map(|i| message(i, 10)).collect();
    messages[1].body.clear();
    // When they are published
    let failures = SqsPublisher::new(client.clone())
        .publish(&q.url, &messages)
        .await
        .expect("publish");
    // Then index 1 is a sender-fault failure and the others arrived
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].index, 1);
    assert!(failures[0].sender_fault);
    assert_eq!(receive(&client, &q.url, 2).await.len(), 2);
}

/// Rewrites every `SendMessageBatch` answer to report entry `id` as failed (moto never fails entries
/// on its own), so the mapping of SQS's `Failed` list back to input indexes is tested end to end.
#[derive(Debug)]
struct FailEntry {
    id: &'static str,
}

impl Intercept for FailEntry {
    fn name(&self) -> &'static str {
        "FailEntry"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = serde_json::json!({
            "Successful": [],
            "Failed": [{ "Id": self.id, "SenderFault": false, "Code": "InternalError", "Message": "try again" }],
        });
        *context.response_mut().body_mut() = SdkBody::from(body.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn an_entry_sqs_reports_as_failed_maps_back_to_its_input_index() {
    // Given SQS answering that entry "13" failed, in every batch response
    let conf = aws_sdk_sqs::config::Builder::from(&support::sdk().await)
        .interceptor(FailEntry { id: "13" })
        .build();
    let client = aws_sdk_sqs::Client::from_conf(conf);
    let q = queue(&aws_sdk_sqs::Client::new(&support::sdk().await)).await;
    let messages: Vec<_> = (0..23).map(|i| message(i, 10)).collect();
    // When 23 messages are published (ids 0-9, 10-19, 20-22)
    let failures = SqsPublisher::new(client)
        .publish(&q.url, &messages)
        .await
        .expect("publish");
    // Then exactly one failure is reported, at index 13, from the batch that held it
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].index, 13);
    assert_eq!(failures[0].code, "InternalError");
    assert!(!failures[0].sender_fault);
}

#[tokio::test]
async fn a_missing_queue_is_unavailable_and_keeps_the_sdk_error() {
    // Given a queue URL that does not exist
    let client = aws_sdk_sqs::Client::new(&support::sdk().await);
    let url = format!(
        "{}/123456789012/{}",
        support_endpoint().await,
        testing::unique_name("missing")
    );
    // When a message is published
    let err = SqsPublisher::new(client)
        .publish(&url, &[message(0, 10)])
        .await
        .expect_err("no queue");
    // Then the whole call is Unavailable with the SDK error as its source
    let QueueError::Unavailable(source) = &err else {
        panic!("expected Unavailable, got {err:?}")
    };
    assert!(
        source.downcast_ref::<SdkError<SendMessageBatchError>>().is_some(),
        "{source:?}"
    );
}

async fn support_endpoint() -> String {
    testing::Moto::shared().await.expect("moto").endpoint().to_owned()
}

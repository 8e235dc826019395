//! A record that fails every time reaches the DLQ with its reason after maxReceiveCount, while the rest
//! of its batch goes through.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry};
use time::OffsetDateTime;
use waybill::domain::{CorrelationId, EventId, SalesforceId, SourceSystem};
use waybill::messages::{Envelope, OrderNotification};
use waybill_e2e::{wait_until, StackOptions};
use waybill_simulators::FaultRule;

use crate::support::{self, captured, wait_in_logiwa, TICK, WAIT};

const MAX_RECEIVES: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_after_max_receive_count_with_its_reason_logged_while_the_rest_of_its_batch_is_delivered(
) {
    // Given a stack with MaxReceiveCount 3 and 1 s retries, and three FulfillmentOrders
    let stack = support::start(StackOptions {
        max_receive_count_override: Some(MAX_RECEIVES),
        ..support::options()
    })
    .await;
    let mut orders = Vec::new();
    for i in 0..3 {
        orders.push(
            stack
                .create_fulfillment_order(&[("MUG-WHT-12", 1)], &format!("Batch {i}"))
                .await
                .expect("order"),
        );
    }
    let poison = orders[1].clone();
    // And Salesforce answers 500, forever, to every query that mentions the poison record: the batch's
    // one prefetch query (it names all three) and the consumer's per-record fallback read for it.
    stack
        .salesforce()
        .state()
        .add_fault(FaultRule::status(500).path_contains("/query").body_contains(&poison.id));

    // When the three notifications land on the orders queue in one batch
    let url = stack.queue_url("OrdersQueue").expect("queue");
    let mut entries = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        let note = OrderNotification {
            event_id: EventId::parse(&format!("evt-poison-{i}")).expect("event id"),
            source: SourceSystem::SalesforceOrderManagement,
            object: "FulfillmentOrder".into(),
            record_id: SalesforceId::parse(&o.id).expect("sf id"),
            received_at: OffsetDateTime::now_utc(),
        };
        let out = Envelope::new(CorrelationId::generate(), note)
            .to_outbound()
            .expect("outbound");
        let attrs: HashMap<String, MessageAttributeValue> = waybill::adapters::sqs::message_attributes(&out)
            .into_iter()
            .map(|(k, t, v)| {
                (
                    k.to_owned(),
                    MessageAttributeValue::builder()
                        .data_type(t)
                        .string_value(v)
                        .build()
                        .expect("attr"),
                )
            })
            .collect();
        entries.push(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(out.body)
                .set_message_attributes(Some(attrs))
                .build()
                .expect("entry"),
        );
    }
    let sent = stack
        .aws()
        .sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .expect("send batch");
    let ids: HashMap<String, String> = sent
        .successful
        .iter()
        .map(|s| (s.id.clone(), s.message_id.clone()))
        .collect();
    let poison_message_id = ids["m1"].clone();

    // Then the two healthy orders reach Logiwa
    assert_eq!(wait_in_logiwa(&stack, &orders[0].number).await, 1);
    assert_eq!(wait_in_logiwa(&stack, &orders[2].number).await, 1);
    // And the poison record ends in OrdersDLQ with its body intact and the reason attached
    let dlq = stack.queue_url("OrdersDLQ").expect("dlq");
    let parked = wait_until(WAIT, TICK, "the poison record is in OrdersDLQ", || async {
        let out = stack
            .aws()
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await?;
        Ok(out.messages.unwrap_or_default().into_iter().next())
    })
    .await
    .expect("parked");
    let body = parked.body.clone().unwrap_or_default();
    let env = Envelope::<OrderNotification>::parse(&body).expect("DLQ body is the original notification");
    assert_eq!(env.data.record_id.as_str(), poison.id);
    assert_eq!(env.data.event_id.as_str(), "evt-poison-1");
    let attrs = parked.message_attributes.clone().unwrap_or_default();
    let attr = |k: &str| attrs.get(k).and_then(|v| v.string_value.clone()).unwrap_or_default();
    assert!(!attr("waybill.error.code").is_empty(), "{attrs:?}");
    let reason = attr("waybill.error.reason");
    assert!(
        reason.contains("500") || reason.contains("UNKNOWN_EXCEPTION") || reason.to_lowercase().contains("server"),
        "reason: {reason}"
    );
    assert_eq!(attr("waybill.receive_count"), MAX_RECEIVES.to_string());
    assert_eq!(attr("waybill.source_function"), "salesforce-webhook");
    // And nothing is left on the source queue, and the poison order was never created in Logiwa
    let drained = wait_until(WAIT, TICK, "the orders queue is empty", || async {
        Ok((support::queue_counts(&stack, "OrdersQueue").await == (0, 0)).then_some(()))
    })
    .await;
    assert!(drained.is_ok(), "{drained:?}");
    stack.salesforce().state().clear_faults();
    assert!(stack
        .lw_rest()
        .orders_by_code(&poison.number)
        .await
        .expect("list")
        .is_empty());
    // And the failure was logged with the message id and the same reason, and the parking too
    let logs = captured();
    let failed: Vec<_> = logs
        .iter()
        .filter(|e| e.message == "record failed" && e.fields.get("message_id") == Some(&poison_message_id))
        .collect();
    assert_eq!(
        failed.len(),
        MAX_RECEIVES as usize,
        "one 'record failed' per receive: {failed:?}"
    );
    assert!(failed.iter().all(|e| e.level == tracing::Level::ERROR), "{failed:?}");
    let logged_reason = failed
        .last()
        .and_then(|e| e.fields.get("error.message"))
        .cloned()
        .unwrap_or_default();
    assert!(
        logged_reason.starts_with(&reason[..reason.len().min(80)]),
        "logged {logged_reason:?} vs parked {reason:?}"
    );
    assert!(logs
        .iter()
        .any(|e| e.message == "record parked in DLQ" && e.fields.get("message_id") == Some(&poison_message_id)));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_moves_a_message_to_its_dlq_on_the_receive_after_max_receive_count_like_sqs() {
    // Given the orders queue with MaxReceiveCount 2 and nobody consuming it
    let stack = support::start(StackOptions {
        max_receive_count_override: Some(2),
        start_pollers: false,
        ..support::options()
    })
    .await;
    let (sqs, url, dlq) = (
        &stack.aws().sqs,
        stack.queue_url("OrdersQueue").expect("q"),
        stack.queue_url("OrdersDLQ").expect("dlq"),
    );
    sqs.send_message()
        .queue_url(&url)
        .message_body("{\"probe\":1}")
        .send()
        .await
        .expect("send");
    // When it is received twice without being deleted (visibility 0 so it comes straight back)
    let mut receives = 0;
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        receives += got.messages.unwrap_or_default().len();
    }
    // Then only two receives saw it, and the third attempt moved it to the DLQ, body intact
    assert_eq!(receives, 2);
    let moved = sqs
        .receive_message()
        .queue_url(&dlq)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("dlq receive");
    let bodies: Vec<String> = moved
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec!["{\"probe\":1}".to_owned()]);
    stack.shutdown().await;
}

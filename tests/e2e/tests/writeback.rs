//! Salesforce failing after committing a Shipment upsert: the retry must update, not duplicate.

use serde_json::Value;
use waybill_e2e::StackOptions;
use waybill_simulators::FaultRule;

use crate::support::{self, wait_in_logiwa, wait_status};

/// Ships one order while Salesforce commits-then-fails the next Shipment upsert; returns the order's
/// Shipments (vendor query) and the fulfillment-events DLQ counts once everything has settled.
async fn ship_through_a_commit_then_fail(topics: Vec<&'static str>) -> (Vec<Value>, (u64, u64)) {
    // Given an order that reached Logiwa
    let stack = support::start(StackOptions {
        logiwa_topics: topics,
        ..support::options()
    })
    .await;
    let order = stack
        .create_fulfillment_order(&[("CAP-RED-OS", 1)], "Commit Then Fail")
        .await
        .expect("order");
    assert_eq!(
        stack
            .send_salesforce_webhook(&order.id, "evt-wb-1")
            .await
            .expect("webhook")
            .status,
        202
    );
    wait_in_logiwa(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Assigned").await;
    // And Salesforce will commit the next Shipment upsert and then answer 500
    let sf = stack.salesforce().state();
    sf.add_fault(
        FaultRule::commit_then_fail()
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment")
            .times(1),
    );

    // When the warehouse ships it
    support::ship(&stack, &order.number).await;

    // Then the FulfillmentOrder ends Fulfilled, and the fault fired
    wait_status(&stack, &order.id, "Fulfilled").await;
    assert!(
        sf.faults().is_empty(),
        "the commit-then-fail rule was not used: {:?}",
        sf.faults()
    );
    support::wait_drained(&stack, "FulfillmentEventsQueue").await;
    let shipments = support::shipments_of(&stack, &order.id).await;
    let dlq = support::queue_counts(&stack, "FulfillmentEventsDLQ").await;
    stack.shutdown().await;
    (shipments, dlq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_5xx_during_writeback_is_retried_and_ends_with_one_shipment_not_two() {
    // Only the shipment topic is subscribed, so the retried batch holds just this event.
    let (shipments, dlq) = ship_through_a_commit_then_fail(vec!["wms/shipmentorder/shipment"]).await;
    assert_eq!(shipments.len(), 1, "{shipments:?}");
    assert!(shipments[0]
        .get("TrackingNumber")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(dlq, (0, 0), "nothing may be dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_5xx_during_writeback_with_both_logiwa_topics_dead_letters_nothing() {
    let (shipments, dlq) = ship_through_a_commit_then_fail(waybill_e2e::stack::LOGIWA_TOPICS.to_vec()).await;
    assert_eq!(shipments.len(), 1, "{shipments:?}");
    assert_eq!(dlq, (0, 0), "the duplicate event of the batch was dead-lettered");
}

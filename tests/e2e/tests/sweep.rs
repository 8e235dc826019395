//! The order sweep end to end: when Logiwa delivers none of its webhooks, the scheduled sweep still
//! brings a shipment to Salesforce, once, and a sweep after the write-back leaves the order alone.

use waybill_e2e::StackOptions;

use crate::support::{self, wait_in_logiwa, wait_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_whose_webhooks_never_arrive_reaches_salesforce_through_the_scheduled_sweep() {
    // Given a stack subscribed to no Logiwa topic (every webhook lost), and an order that reached Logiwa
    let stack = support::start(StackOptions {
        logiwa_topics: Vec::new(),
        // No grace: the test fires the sweep right after the ship (the template waits 2 minutes).
        extra_env: std::collections::BTreeMap::from([("ORDER_SWEEP_GRACE_SECONDS".to_owned(), "0".to_owned())]),
        ..support::options()
    })
    .await;
    let order = stack
        .create_fulfillment_order(&[("CAP-RED-OS", 1)], "Sweep Buyer")
        .await
        .expect("order");
    let sent = stack
        .send_salesforce_webhook(&order.id, "evt-sweep-1")
        .await
        .expect("webhook");
    assert_eq!(sent.status, 202);
    wait_in_logiwa(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Assigned").await;
    // And the warehouse ships it, with no webhook to tell us
    support::ship(&stack, &order.number).await;
    assert!(
        stack.logiwa().state().webhook_deliveries().is_empty(),
        "no subscription, so Logiwa posts nothing"
    );

    // When the schedule fires the sweep
    let first = stack.fire_schedule("wms-webhook").await.expect("sweep");

    // Then it enqueued the order, and the write-back made it Fulfilled with one Shipment
    assert_eq!(first["systems"][0]["enqueued"], 1, "{first}");
    wait_status(&stack, &order.id, "Fulfilled").await;
    support::wait_drained(&stack, "FulfillmentEventsQueue").await;
    assert_eq!(support::shipments_of(&stack, &order.id).await.len(), 1);

    // And a later sweep, whose window overlaps the first, knows from the order's state (in DynamoDB)
    // that the write-back read this change, and enqueues nothing
    let second = stack.fire_schedule("wms-webhook").await.expect("sweep");
    assert_eq!(second["systems"][0]["enqueued"], 0, "{second}");
    assert_eq!(second["systems"][0]["written"], 1, "{second}");
    assert_eq!(second["systems"][0]["advanced"], true, "{second}");
    stack.shutdown().await;
}

//! At-least-once delivery from Salesforce: duplicates of one webhook must create one WMS order.

use std::sync::atomic::Ordering;

use crate::support::{self, esm, wait_in_logiwa, wait_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_delivered_three_times_yields_exactly_one_logiwa_order() {
    // Given a local stack and one Allocated FulfillmentOrder in Salesforce
    let stack = support::start(support::options()).await;
    let order = stack
        .create_fulfillment_order(&[("TEE-BLK-M", 2)], "Ann Duplicate")
        .await
        .expect("order");

    // When Salesforce delivers the same callout (same event id) three times
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(
            stack
                .send_salesforce_webhook(&order.id, "evt-dup-1")
                .await
                .expect("delivery"),
        );
    }

    // Then every delivery is accepted, the repeats flagged as duplicates
    assert!(answers.iter().all(|a| a.status == 202), "{answers:?}");
    let dups: Vec<bool> = answers
        .iter()
        .map(|a| a.body["duplicate"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(dups, vec![false, true, true]);
    // And Logiwa lists exactly one order for the code, also once the consumer has finished
    wait_in_logiwa(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Assigned").await;
    let rows = stack.lw_rest().orders_by_code(&order.number).await.expect("list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    // And the orders queue carried exactly one message, delivered once and deleted (the delete follows
    // the invocation that set the status, so wait for it)
    let orders = esm(&stack, "OrdersQueue");
    waybill_e2e::wait_until(support::WAIT, support::TICK, "the message is deleted", || async {
        Ok((orders.stats.deleted.load(Ordering::Relaxed) >= 1).then_some(()))
    })
    .await
    .expect("deleted");
    assert_eq!(orders.stats.records.load(Ordering::Relaxed), 1);
    assert_eq!(orders.stats.deleted.load(Ordering::Relaxed), 1);
    assert_eq!(support::queue_counts(&stack, "OrdersQueue").await, (0, 0));
    stack.shutdown().await;
}

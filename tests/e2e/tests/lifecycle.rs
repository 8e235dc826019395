//! The lifecycle end to end: a status never moves backwards, a user's Cancelled stays, and two functions
//! writing one order at the same time cannot interleave (the order lease).

use serde_json::{json, Value};
use waybill_e2e::wait_until;
use waybill_simulators::FaultRule;

use crate::support::{self, esm, wait_in_logiwa, wait_status, TICK, WAIT};

async fn drained(stack: &waybill_e2e::Stack) {
    wait_until(WAIT, TICK, "both queues drain", || async {
        let a = support::queue_counts(stack, "OrdersQueue").await;
        let b = support::queue_counts(stack, "FulfillmentEventsQueue").await;
        Ok((a == (0, 0) && b == (0, 0)).then_some(()))
    })
    .await
    .expect("drained");
}

fn status_values(stack: &waybill_e2e::Stack, id: &str) -> Vec<Value> {
    stack
        .salesforce()
        .state()
        .field_history("FulfillmentOrder", id, "Status")
        .into_iter()
        .map(|c| c.new)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_callout_after_the_order_shipped_leaves_it_fulfilled() {
    // Given the serve-mode sequence: a signed callout, then Logiwa ships the order
    let stack = support::start(support::options()).await;
    let order = stack
        .create_fulfillment_order(&[("CAP-RED-OS", 1)], "Never Backwards")
        .await
        .expect("order");
    assert_eq!(
        stack
            .send_salesforce_webhook(&order.id, "evt-lc-1")
            .await
            .expect("hook")
            .status,
        202
    );
    wait_in_logiwa(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Assigned").await;
    support::ship(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Fulfilled").await;
    // When a second callout with a new eventId arrives
    assert_eq!(
        stack
            .send_salesforce_webhook(&order.id, "evt-lc-2")
            .await
            .expect("hook")
            .status,
        202
    );
    drained(&stack).await;
    // Then the status is still Fulfilled and never went back
    let rec = stack.sf_rest().get("FulfillmentOrder", &order.id).await.expect("fo");
    assert_eq!(rec["Status"], "Fulfilled");
    assert_eq!(
        status_values(&stack, &order.id),
        vec![json!("Assigned"), json!("Fulfilled")]
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orders_consumer_and_the_writeback_racing_on_one_order_never_regress_its_status() {
    // Given an order in Logiwa that a person moved back to Allocated in Salesforce
    let stack = support::start(support::options()).await;
    let order = stack
        .create_fulfillment_order(&[("CAP-RED-OS", 1)], "Racing Writers")
        .await
        .expect("order");
    assert_eq!(
        stack
            .send_salesforce_webhook(&order.id, "evt-race-1")
            .await
            .expect("hook")
            .status,
        202
    );
    wait_in_logiwa(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Assigned").await;
    let sf = stack.salesforce().state();
    sf.user_update("FulfillmentOrder", &order.id, json!({"Status": "Allocated"}))
        .expect("allocated");
    // And Salesforce will be slow (15 s: longer than a writer waits for a lease, with room for the
    // shipment's way to the writeback on a loaded machine, and under the 20 s vendor timeout) to apply the
    // consumer's next "Assigned" write
    sf.add_fault(
        FaultRule::latency(15_000)
            .method("PATCH")
            .body_contains("\"Assigned\"")
            .times(1),
    );
    let writeback_failures_before = esm(&stack, "FulfillmentEventsQueue")
        .stats
        .failures
        .load(std::sync::atomic::Ordering::SeqCst);
    // When a notification starts the consumer's read-decide-write, and the order ships meanwhile
    assert_eq!(
        stack
            .send_salesforce_webhook(&order.id, "evt-race-2")
            .await
            .expect("hook")
            .status,
        202
    );
    wait_until(WAIT, TICK, "the slow status write has started", || async {
        Ok(sf.faults().is_empty().then_some(()))
    })
    .await
    .expect("fault fired");
    support::ship(&stack, &order.number).await;
    wait_status(&stack, &order.id, "Fulfilled").await;
    drained(&stack).await;
    // Then the order ends Fulfilled, with no Assigned written after Fulfilled
    let rec = stack.sf_rest().get("FulfillmentOrder", &order.id).await.expect("fo");
    assert_eq!(
        rec["Status"],
        "Fulfilled",
        "history {:?}",
        status_values(&stack, &order.id)
    );
    let values = status_values(&stack, &order.id);
    let last_fulfilled = values.iter().rposition(|v| v == "Fulfilled").expect("fulfilled once");
    assert_eq!(last_fulfilled, values.len() - 1, "{values:?}");
    // ...because the writeback waited for the consumer: it met the order's lease at least once
    let met_lease = esm(&stack, "FulfillmentEventsQueue")
        .stats
        .failures
        .load(std::sync::atomic::Ordering::SeqCst)
        - writeback_failures_before;
    assert!(
        met_lease >= 1,
        "the writeback never overlapped the consumer: the race was not exercised"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_source_emulator_runs_batches_of_one_queue_in_parallel() {
    // Given a slow Logiwa (every create takes 400 ms) and twelve orders notified at once
    let stack = support::start(support::options()).await;
    stack
        .logiwa()
        .state()
        .add_fault(FaultRule::latency(400).path_contains("/ShipmentOrder/create"));
    let mut orders = Vec::new();
    for i in 0..12 {
        let o = stack
            .create_fulfillment_order(&[("CAP-RED-OS", 1)], &format!("Parallel {i}"))
            .await
            .expect("order");
        orders.push(o);
    }
    // All at once: sent one after another, on a loaded machine each batch could finish before the next
    // notification arrives.
    let sent = futures::future::join_all(orders.iter().enumerate().map(|(i, o)| {
        let stack = &stack;
        async move { stack.send_salesforce_webhook(&o.id, &format!("evt-par-{i}")).await }
    }))
    .await;
    for hook in sent {
        assert_eq!(hook.expect("hook").status, 202);
    }
    for o in &orders {
        wait_in_logiwa(&stack, &o.number).await;
    }
    // Then more than one batch of the orders queue was in flight at once
    let max = esm(&stack, "OrdersQueue")
        .stats
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(max > 1, "batches ran one at a time (max in flight {max})");
    stack.shutdown().await;
}

//! The whole flow at small scale: what `waybill-local run` does, as a test.

use std::time::Duration;

use waybill_e2e::scenario::{self, ScenarioOptions};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_scenario_reconciles_end_to_end() {
    // Given a local stack
    let stack = support::start(support::options()).await;
    // When five orders go through with one duplicate delivery each
    let opts = ScenarioOptions {
        orders: 5,
        duplicates: 1,
        timeout: Duration::from_secs(45),
        pace: None,
    };
    let out = scenario::run(&stack, &opts).await.expect("scenario runs");
    // Then everything reconciles
    let summary = scenario::summary(&stack, &out);
    assert!(out.reconciled(), "{summary}");
    assert_eq!(
        (out.in_wms_once, out.wms_duplicates, out.written_back, out.fulfilled),
        (5, 0, 5, 5),
        "{summary}"
    );
    assert_eq!(out.webhooks_duplicate, 5, "{summary}");
    assert!(out.inventory_positions >= 4, "{summary}");
    stack.shutdown().await;
}

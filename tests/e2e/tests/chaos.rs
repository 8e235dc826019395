//! The small chaos run inside `make test`: the same storm as `make chaos` (vendor faults on every call,
//! duplicate and reordered webhooks, split shipments, a WMS outage, poison records) on fewer orders.

use std::time::Duration;

use waybill_e2e::chaos::{self, ChaosOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_storm_loses_nothing_doubles_nothing_regresses_nothing_and_parks_exactly_the_poison() {
    // Given the local stack set up for a storm of sixty orders with an eight-second WMS outage
    let opts = ChaosOptions {
        orders: 60,
        seed: 11,
        outage: Duration::from_secs(8),
        settle: Duration::from_secs(240),
    };
    let stack = crate::support::start(chaos::stack_options(&opts)).await;
    // When the storm runs and the vendors are reconciled
    let outcome = chaos::run(&stack, &opts).await.expect("chaos run");
    stack.shutdown().await;
    // Then the closing line is all zeros with every poison record parked with its reason
    println!("{}", chaos::report(&outcome));
    assert_eq!(
        outcome.line(),
        format!(
            "chaos: orders=60 lost=0 duplicated=0 regressions=0 poison_parked={0}/{0}",
            outcome.poison_total
        ),
        "{}",
        chaos::report(&outcome)
    );
    assert_eq!(outcome.poison_total, 3);
    assert!(outcome.ok(), "{}", chaos::report(&outcome));
    // ...and the storm really happened: packages were split and webhooks repeated
    assert!(outcome.packages > 60, "no split shipments: {}", outcome.packages);
    assert!(outcome.deliveries > 63, "no duplicate webhooks: {}", outcome.deliveries);
}

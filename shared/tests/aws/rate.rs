//! The shared rate limit on moto's DynamoDB, against the Logiwa simulator at its Basic plan (2 requests/s
//! for the whole account, wms-apis.md §1 "Rate limits"): ten execution environments together never draw
//! a 429 and still use most of the plan.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::json;
use waybill::adapters::http_client::SharedRate;
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::ports::{RateGate, SecretError, SecretProvider, StoreError, WmsConnector};
use waybill_simulators::logiwa::LogiwaSeed;
use waybill_simulators::{LogiwaConfig as LogiwaSimConfig, LogiwaSim, LogiwaState, RateTier, RunningSim};

use crate::support;

struct Creds(String);

#[async_trait]
impl SecretProvider for Creds {
    async fn secret(&self, _id: &str) -> Result<SecretString, SecretError> {
        Ok(SecretString::from(self.0.clone()))
    }
}

/// A bucket that counts its reservations (writes) and the slots they asked for.
struct CountedGate {
    inner: Arc<dyn RateGate>,
    writes: AtomicU32,
    slots: AtomicU32,
}

#[async_trait]
impl RateGate for CountedGate {
    async fn reserve_many(
        &self,
        bucket: &str,
        interval: Duration,
        lead: Duration,
        count: NonZeroU32,
    ) -> Result<Vec<time::OffsetDateTime>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.slots.fetch_add(count.get(), Ordering::SeqCst);
        self.inner.reserve_many(bucket, interval, lead, count).await
    }
}

/// The Logiwa simulator enforcing the Basic plan (2 requests/s), webhooks off, and credentials for it.
async fn basic_plan_logiwa() -> (RunningSim<LogiwaState>, Arc<dyn SecretProvider>) {
    let seed = LogiwaSeed::demo();
    let client_id = seed.clients[0].identifier;
    let sim = LogiwaSim::start(LogiwaSimConfig {
        seed,
        webhook_delivery: false,
        rate_tier: Some(RateTier::Basic),
        ..LogiwaSimConfig::default()
    })
    .await
    .expect("logiwa sim");
    let secrets: Arc<dyn SecretProvider> = Arc::new(Creds(
        json!({"base_url": sim.base_url(), "email": "sim@waybill.test", "password": "sim-password",
               "client_identifier": client_id.to_string()})
        .to_string(),
    ));
    (sim, secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_parallel_consumers_share_the_basic_plan_without_a_429_and_use_four_fifths_of_it() {
    // Given the Logiwa simulator enforcing the Basic plan, and ten adapters (ten execution environments,
    // each with its own per-process limiter at the plan's 2 requests/s) sharing one bucket in DynamoDB
    let gate: Arc<dyn RateGate> = Arc::new(support::state().await);
    let (sim, secrets) = basic_plan_logiwa().await;
    let bucket = format!("logiwa#{}", waybill::testing::unique_name("account"));
    let consumers: Vec<Logiwa> = (0..10)
        .map(|_| {
            Logiwa::new(LogiwaConfig::new("lw"), secrets.clone())
                .expect("adapter")
                .with_shared_rate(SharedRate {
                    gate: gate.clone(),
                    bucket: bucket.clone(),
                })
        })
        .collect();

    // When all ten call Logiwa as fast as they can for ten seconds
    let run_for = Duration::from_secs(10);
    let started = Instant::now();
    let outcomes = futures::future::join_all(consumers.iter().map(|c| async move {
        let (mut ok, mut failed) = (0u32, 0u32);
        while started.elapsed() < run_for {
            match c.find_order("FO-RATE-PROBE").await {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
        (ok, failed)
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();

    // Then Logiwa answered no 429, nothing failed, and the account's plan was used to at least 80%
    let throttled = sim.state().throttled();
    let served = sim.state().stats().total - throttled;
    let failed: u32 = outcomes.iter().map(|(_, f)| f).sum();
    let utilisation = served as f64 / (2.0 * elapsed);
    println!("shared rate: served={served} in {elapsed:.2}s, utilisation={utilisation:.3}, throttled={throttled}");
    assert_eq!(throttled, 0, "the simulator answered 429");
    assert_eq!(failed, 0, "{outcomes:?}");
    // Alone it uses 95% (the best the 5% wider slots allow); the bound leaves room for slots a loaded
    // machine's late timers give up, and still fails a share that wastes the plan (one environment's
    // tenth: 10%).
    assert!(
        utilisation >= 0.8,
        "utilisation {utilisation:.3} ({served} requests in {elapsed:.2}s)"
    );
    assert!(utilisation <= 1.0, "over the plan: {utilisation:.3}");
}

#[tokio::test]
async fn several_slots_reserved_together_are_one_write_an_interval_apart_and_the_next_reservation_follows_them() {
    // Given a fresh bucket in moto's DynamoDB, reached through a client that counts requests
    let (client, calls) = support::counted_dynamodb().await;
    let gate = support::state_with(client).await;
    let bucket = waybill::testing::unique_name("many");
    let interval = Duration::from_millis(100);
    gate.reserve(&bucket, interval, Duration::ZERO)
        .await
        .expect("first slot");
    let before = calls.of("UpdateItem");
    // When five slots are reserved at once
    let slots = gate
        .reserve_many(
            &bucket,
            interval,
            Duration::ZERO,
            std::num::NonZeroU32::new(5).expect("5"),
        )
        .await
        .expect("five slots");
    // Then it took one write, the slots are exactly one interval apart, and the next slot comes after them
    assert_eq!(
        calls.of("UpdateItem") - before,
        1,
        "one conditional write for five slots"
    );
    assert_eq!(slots.len(), 5);
    for pair in slots.windows(2) {
        assert_eq!(pair[1] - pair[0], time::Duration::milliseconds(100), "{slots:?}");
    }
    let next = gate
        .reserve(&bucket, interval, Duration::ZERO)
        .await
        .expect("next slot");
    let last = *slots.last().expect("five");
    assert!(
        next - last >= time::Duration::milliseconds(100),
        "next {next} after last {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_calling_logiwa_in_parallel_reserves_its_slots_in_two_writes_and_draws_no_429() {
    // Given the Logiwa simulator at its Basic plan (2 requests/s), and one execution environment whose
    // adapter reserves through the coalescing gate over a DynamoDB bucket that counts its writes
    let store = Arc::new(CountedGate {
        inner: Arc::new(support::state().await),
        writes: AtomicU32::new(0),
        slots: AtomicU32::new(0),
    });
    let gate: Arc<dyn RateGate> = Arc::new(waybill::rate::Coalescing::new(store.clone()));
    let (sim, secrets) = basic_plan_logiwa().await;
    let adapter = Logiwa::new(LogiwaConfig::new("lw"), secrets)
        .expect("adapter")
        .with_shared_rate(SharedRate {
            gate,
            bucket: format!("logiwa#{}", waybill::testing::unique_name("batch")),
        });
    // The token is fetched first, so the ten lookups below start together.
    adapter.find_order("FO-WARM-UP").await.expect("warm-up call");
    let (writes_before, slots_before) = (store.writes.load(Ordering::SeqCst), store.slots.load(Ordering::SeqCst));

    // When ten records of a batch look their orders up at the same moment
    let outcomes = futures::future::join_all((0..10).map(|i| {
        let adapter = &adapter;
        async move { adapter.find_order(&format!("FO-BATCH-{i}")).await }
    }))
    .await;

    // Then every lookup answered, Logiwa saw no 429, and the ten slots took at most three bucket writes
    // (the first caller's, then one for the nine queued behind it, and one more when a write guessed the
    // bucket's state wrong). A slot a late timer made a caller give up is reserved again, one write at
    // most each: those are allowed on top, and counted from the slots asked for beyond the ten.
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(sim.state().throttled(), 0, "the simulator answered 429");
    let writes = store.writes.load(Ordering::SeqCst) - writes_before;
    let again = (store.slots.load(Ordering::SeqCst) - slots_before).saturating_sub(10);
    assert!(
        writes <= 3 + again,
        "{writes} bucket writes for ten requests ({again} slots reserved again)"
    );
}

#[tokio::test]
async fn a_bucket_whose_next_slot_has_just_passed_never_gives_two_slots_closer_than_the_interval() {
    // Given a bucket whose next slot passed half an interval ago (it was reserved once, then left idle)
    let gate = support::state().await;
    let bucket = waybill::testing::unique_name("behind");
    let interval = Duration::from_millis(200);
    let first = gate
        .reserve(&bucket, interval, Duration::ZERO)
        .await
        .expect("first slot");
    tokio::time::sleep(interval.mul_f64(1.5)).await;
    // When three slots are taken together and then one more
    let mut slots = vec![first];
    slots.extend(
        gate.reserve_many(
            &bucket,
            interval,
            Duration::ZERO,
            std::num::NonZeroU32::new(3).expect("3"),
        )
        .await
        .expect("three slots"),
    );
    slots.push(
        gate.reserve(&bucket, interval, Duration::ZERO)
            .await
            .expect("next slot"),
    );
    // Then every slot is at least one interval after the one before: a slot moved up to "now" while the
    // bucket still counted from the passed one would put the next caller closer than that (a 429 at the
    // plan's edge)
    for pair in slots.windows(2) {
        assert!(
            pair[1] - pair[0] >= time::Duration::milliseconds(200),
            "slots {pair:?} closer than the interval in {slots:?}"
        );
    }
}

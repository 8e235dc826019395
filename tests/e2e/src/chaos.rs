//! The chaos run: drives the local stack through a storm (vendor 5xx, 429, timeouts and
//! commit-then-fail on every call; duplicate and reordered webhooks; split shipments; a WMS outage; known
//! poison records), then reconciles from the vendors' own APIs, never from waybill's state.
//!
//! Its last line is `chaos: orders=N lost=0 duplicated=0 regressions=0 poison_parked=P/P`, and
//! `waybill-local chaos` exits 0 only then.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tracing::{info, warn};
use waybill::adapters::salesforce::FULFILLMENT_ORDER_STATUSES;
use waybill_simulators::logiwa::{ShipLine, ShipPackage, ShipRequest};
use waybill_simulators::FaultRule;

use crate::stack::{Stack, StackOptions};

/// Chaos settings.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Good orders (poison records come on top).
    pub orders: usize,
    /// Seed of every random choice (faults, duplicates, order of deliveries, splits).
    pub seed: u64,
    /// How long Logiwa is down mid-run.
    pub outage: Duration,
    /// How long to wait for everything to settle.
    pub settle: Duration,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            orders: 2000,
            seed: 1,
            outage: Duration::from_secs(60),
            settle: Duration::from_secs(540),
        }
    }
}

/// The stack a chaos run needs: vendor timeouts short enough that a 2% timeout storm passes in
/// minutes, retries spaced so five receives outlast the WMS outage (as the deployed 180 s visibility
/// timeout does), a Logiwa plan fast enough for thousands of orders, and chaotic Logiwa webhooks.
pub fn stack_options(opts: &ChaosOptions) -> StackOptions {
    let retry_every = u32::try_from(opts.outage.as_secs() / 3).unwrap_or(20).clamp(3, 25);
    // Deployed, a 60 s outage costs a record at most one of its five receives (180 s apart); compressed
    // to `retry_every`, it costs `outage / retry_every`. The receives it costs beyond that one are given
    // back, so a record has the same budget outside the outage as deployed, no more.
    let outage_receives = u32::try_from(opts.outage.as_secs().div_ceil(u64::from(retry_every))).unwrap_or(3);
    let max_receive_count = 5 + outage_receives.saturating_sub(1);
    StackOptions {
        visibility_timeout_override: Some(retry_every),
        max_receive_count_override: Some(max_receive_count),
        logiwa_requests_per_second: 200,
        extra_env: BTreeMap::from([
            ("VENDOR_REQUEST_TIMEOUT_SECONDS".to_owned(), "2".to_owned()),
            // The local stack runs one execution environment per function (parallel batches share it),
            // so four environments call Logiwa, not the template's 22: each gets a quarter of the plan
            // with no bucket round trip (`plan_share`). The bucket itself is proven by the rate test.
            ("LOGIWA_ACCOUNT_ENVIRONMENTS".to_owned(), "4".to_owned()),
            // The order sweep on the run's compressed clock: the template sweeps every 5 minutes with a
            // 5-minute overlap; the run sweeps every SWEEP_EVERY (30 s) with a 30 s overlap. The grace
            // (2 minutes deployed) is compressed less: at this run's peak two cores hold thousands of
            // queued events for a minute, so a sweep re-enqueues changes whose webhooks are still on
            // their way (the write-back then acknowledges them from the order state without a read).
            ("ORDER_SWEEP_OVERLAP_SECONDS".to_owned(), "30".to_owned()),
            ("ORDER_SWEEP_GRACE_SECONDS".to_owned(), "30".to_owned()),
        ]),
        logiwa_webhook_jitter: Duration::from_millis(1500),
        logiwa_webhook_duplicate_share: 0.2,
        chaos_seed: opts.seed,
        salesforce_api_limit: Some(10_000_000),
        ..StackOptions::default()
    }
}

/// What the run found.
#[derive(Debug, Clone, Default)]
pub struct ChaosOutcome {
    /// Good orders.
    pub orders: usize,
    /// Good orders, packages or units that did not arrive where they belong.
    pub lost: usize,
    /// Extra WMS orders, Shipments or units.
    pub duplicated: usize,
    /// FulfillmentOrders whose status history ever moved backwards.
    pub regressions: usize,
    /// Poison records found in a DLQ with their reason.
    pub poison_parked: usize,
    /// Poison records sent.
    pub poison_total: usize,
    /// Packages shipped.
    pub packages: usize,
    /// Webhook deliveries (with duplicates).
    pub deliveries: usize,
    /// Details of everything that did not reconcile.
    pub problems: Vec<String>,
    /// Calls each vendor simulator answered, by endpoint family (faults and 429s included).
    pub vendor_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per function and per queue: how the pipeline ran (where a slow run spent its time).
    pub pipeline: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl ChaosOutcome {
    /// The closing line.
    pub fn line(&self) -> String {
        format!(
            "chaos: orders={} lost={} duplicated={} regressions={} poison_parked={}/{}",
            self.orders, self.lost, self.duplicated, self.regressions, self.poison_parked, self.poison_total
        )
    }

    /// True when nothing was lost, doubled or regressed and every poison record is parked.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.regressions == 0
            && self.poison_parked == self.poison_total
            && self.problems.is_empty()
    }
}

/// A poison record: what it is and what DLQ reason it must be parked with.
#[derive(Debug, Clone)]
struct Poison {
    record_id: String,
    code: &'static str,
}

/// One good order and its plan.
#[derive(Debug, Clone)]
struct Planned {
    id: String,
    number: String,
    /// Packages, each shipped as its own event: tracking number and (WMS SKU, units).
    packages: Vec<(String, Vec<(String, u32)>)>,
}

const SKUS: [&str; 4] = ["TEE-BLK-M", "TEE-BLK-L", "MUG-WHT-12", "CAP-RED-OS"];

/// Runs the storm and reconciles.
///
/// # Errors
/// Only when the harness itself cannot work (a vendor refusing the seed, moto unreachable).
pub async fn run(stack: &Stack, opts: &ChaosOptions) -> anyhow::Result<ChaosOutcome> {
    let started = Instant::now();
    // How late the runtime wakes a 50 ms timer: every function, simulator and the front share this
    // process, so a long stall here shows as slow webhooks and missed vendor timeouts everywhere.
    let late = Arc::new(AtomicU64::new(0));
    let probe = {
        let late = late.clone();
        tokio::spawn(async move {
            loop {
                let at = Instant::now();
                tokio::time::sleep(Duration::from_millis(50)).await;
                let over = at.elapsed().saturating_sub(Duration::from_millis(50));
                late.fetch_max(u64::try_from(over.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
        })
    };
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut out = ChaosOutcome {
        orders: opts.orders,
        ..ChaosOutcome::default()
    };

    // 1. Orders straight into the org (as its users would make them), and the poison records.
    let mut planned = Vec::with_capacity(opts.orders);
    for i in 0..opts.orders {
        let lines = lines_for(&mut rng);
        let (id, number) = seed_order(stack, &lines, &format!("Chaos Buyer {i}"), "US")?;
        let packages = split(&mut rng, stack, &lines, opts.seed, i);
        out.packages += packages.len();
        planned.push(Planned { id, number, packages });
    }
    let poison = seed_poison(stack, opts.orders)?;
    out.poison_total = poison.len();
    info!(orders = planned.len(), poison = poison.len(), "chaos orders seeded");

    // 2. The storm on every vendor call (seeded, so a run can be replayed).
    arm_faults(stack, opts.seed);

    // 3. Webhooks: each record once, 20% two or three times, shuffled within windows (out of order).
    let mut deliveries: Vec<(String, String)> = Vec::new();
    for (n, id) in planned
        .iter()
        .map(|p| p.id.clone())
        .chain(poison.iter().map(|p| p.record_id.clone()))
        .enumerate()
    {
        let copies = if rng.random_bool(0.2) {
            rng.random_range(2..=3)
        } else {
            1
        };
        for _ in 0..copies {
            deliveries.push((id.clone(), format!("evt-chaos-{}-{n}", opts.seed)));
        }
    }
    for window in deliveries.chunks_mut(40) {
        window.shuffle(&mut rng);
    }
    out.deliveries = deliveries.len();

    // 3a. The order sweep fires on a compressed schedule for the rest of the run, as EventBridge
    // Scheduler would: it is what catches the webhooks Logiwa gives up on.
    let sweeps = SweepCounts::default();
    let sweeper = sweep_on_schedule(stack, &sweeps);
    tokio::pin!(sweeper);
    let storm = async { storm(stack, opts, &planned, &deliveries, started, &mut out).await };
    tokio::select! {
        () = &mut sweeper => unreachable!("the sweeper loops until dropped"),
        res = storm => res?,
    }
    let fired = sweeps.fired.load(Ordering::Relaxed);
    info!(fired, "order sweeps");

    // 6. Reconcile from the vendors' own APIs.
    reconcile(stack, &planned, &poison, &mut out).await?;
    out.elapsed = started.elapsed();
    finish(stack, &late, &sweeps, &mut out);
    probe.abort();
    Ok(out)
}

/// How often the run fires the order sweep (the template: every 5 minutes).
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// What the scheduled sweeps did over the run.
#[derive(Default)]
struct SweepCounts {
    fired: AtomicU64,
    failed: AtomicU64,
    enqueued: AtomicU64,
    written: AtomicU64,
}

/// Fires wms-webhook's schedule every SWEEP_EVERY until dropped.
async fn sweep_on_schedule(stack: &Stack, counts: &SweepCounts) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        counts.fired.fetch_add(1, Ordering::Relaxed);
        match stack.fire_schedule("wms-webhook").await {
            Ok(report) => {
                let sum = |field: &str| -> u64 {
                    report["systems"]
                        .as_array()
                        .map(|s| s.iter().filter_map(|x| x[field].as_u64()).sum())
                        .unwrap_or(0)
                };
                counts.enqueued.fetch_add(sum("enqueued"), Ordering::Relaxed);
                counts.written.fetch_add(sum("written"), Ordering::Relaxed);
                info!(
                    changed = sum("changed"),
                    enqueued = sum("enqueued"),
                    written = sum("written"),
                    deferred = sum("deferred"),
                    failed = sum("failed"),
                    "order sweep ran"
                );
            }
            Err(e) => {
                // A sweep that meets the storm fails whole; the next one reads the same window.
                counts.failed.fetch_add(1, Ordering::Relaxed);
                info!(error.message = %e, "order sweep failed; the next one reads the same window");
            }
        }
    }
}

/// Steps 3 to 5: the webhooks, the outage, the shipping, and the settling.
async fn storm(
    stack: &Stack,
    opts: &ChaosOptions,
    planned: &[Planned],
    deliveries: &[(String, String)],
    started: Instant,
    out: &mut ChaosOutcome,
) -> anyhow::Result<()> {
    // 4. A WMS outage starts once half the webhooks are out; shipping runs alongside everything.
    let half = deliveries.len() / 2;
    let (first, second) = deliveries.split_at(half);
    deliver(stack, first, out).await;
    let outage = {
        let lw = stack.logiwa().state().clone();
        let length = opts.outage;
        tokio::spawn(async move {
            let rule = lw.add_fault(FaultRule::status(503));
            info!(secs = length.as_secs(), "WMS outage starts");
            tokio::time::sleep(length).await;
            lw.remove_fault(rule);
            info!("WMS outage ends");
        })
    };
    let shipping = {
        let lw = stack.logiwa().state().clone();
        let client = stack.catalog.client_id();
        let plan = planned.to_vec();
        let budget = opts.settle;
        let seed = opts.seed;
        tokio::spawn(async move { ship_all(lw, client, plan, budget, seed).await })
    };
    deliver(stack, second, out).await;
    let _ = outage.await;
    let shipped = shipping.await.context("shipping task")?;
    if let Err(e) = shipped {
        out.problems.push(format!("shipping: {e}"));
    }

    // 5. Settle: every good order Fulfilled and every package written back (checked in the vendors'
    // stores), and the queues drained.
    let settle_deadline = started + opts.settle;
    settle(stack, planned, settle_deadline).await;
    stack.salesforce().state().clear_faults();
    stack.logiwa().state().clear_faults();
    Ok(())
}

/// The run's closing numbers: webhooks never delivered, the pipeline, the sweeps, vendor calls.
fn finish(stack: &Stack, late: &AtomicU64, sweeps: &SweepCounts, out: &mut ChaosOutcome) {
    // Webhooks Logiwa gave up on (every attempt failed): what the poll must then catch.
    let mut undelivered: BTreeMap<String, usize> = BTreeMap::new();
    for d in stack.logiwa().state().webhook_deliveries() {
        if !d.delivered {
            let status = d
                .http_last_hook_status
                .map_or_else(|| "none".to_owned(), |s| s.to_string());
            *undelivered.entry(format!("{} status={status}", d.topic)).or_default() += 1;
        }
    }
    for (what, n) in &undelivered {
        warn!(count = n, last = %what, "logiwa webhooks never delivered");
    }
    out.pipeline = pipeline(stack);
    out.pipeline.push(format!(
        "order sweep: {} runs, {} failed, {} orders enqueued, {} already written back",
        sweeps.fired.load(Ordering::Relaxed),
        sweeps.failed.load(Ordering::Relaxed),
        sweeps.enqueued.load(Ordering::Relaxed),
        sweeps.written.load(Ordering::Relaxed)
    ));
    out.pipeline.push(format!(
        "the runtime woke a 50 ms timer at most {} ms late",
        late.load(Ordering::Relaxed)
    ));
    out.vendor_calls = BTreeMap::from([
        ("logiwa".to_owned(), stack.logiwa().state().stats().by_family),
        ("salesforce".to_owned(), stack.salesforce().state().stats().by_family),
    ]);
}

/// One line per function (invocations, errors, mean duration) and per queue (records delivered, failed,
/// most batches at once).
fn pipeline(stack: &Stack) -> Vec<String> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut lines = Vec::new();
    for f in stack.functions() {
        let n = f.stats.invocations.load(Relaxed);
        let mean = f.stats.billed_ms.load(Relaxed) as f64 / n.max(1) as f64;
        lines.push(format!(
            "{}: {n} invocations, {} failed, {mean:.0} ms mean",
            f.spec.package,
            f.stats.errors.load(Relaxed)
        ));
    }
    for m in stack.event_source_mappings() {
        lines.push(format!(
            "{}: {} records, {} failed, {} batches at most at once",
            m.spec.queue,
            m.stats.records.load(Relaxed),
            m.stats.failures.load(Relaxed),
            m.stats.max_in_flight.load(Relaxed)
        ));
    }
    lines
}

/// 1–3 lines of distinct SKUs, 1–3 units each.
fn lines_for(rng: &mut StdRng) -> Vec<(&'static str, u32)> {
    let mut skus = SKUS.to_vec();
    skus.shuffle(rng);
    let n = rng.random_range(1..=3);
    skus.into_iter().take(n).map(|s| (s, rng.random_range(1..=3))).collect()
}

/// The WMS SKU of a Salesforce SKU (the catalogue's mapping).
fn wms_sku(stack: &Stack, sku: &str) -> String {
    stack
        .catalog
        .products
        .iter()
        .find(|p| p.sku == sku)
        .map_or_else(|| sku.to_owned(), |p| p.wms_sku.clone())
}

/// Splits an order's units into one to three packages, each shipped as its own event.
fn split(
    rng: &mut StdRng,
    stack: &Stack,
    lines: &[(&str, u32)],
    seed: u64,
    order: usize,
) -> Vec<(String, Vec<(String, u32)>)> {
    let units: Vec<String> = lines
        .iter()
        .flat_map(|(sku, q)| std::iter::repeat_n(wms_sku(stack, sku), *q as usize))
        .collect();
    let parts = rng.random_range(1..=3).min(units.len()).max(1);
    let size = units.len().div_ceil(parts);
    units
        .chunks(size)
        .enumerate()
        .map(|(p, chunk)| {
            let mut per_sku: BTreeMap<String, u32> = BTreeMap::new();
            for u in chunk {
                *per_sku.entry(u.clone()).or_insert(0) += 1;
            }
            (format!("1ZCH{seed:03}{order:06}{p}"), per_sku.into_iter().collect())
        })
        .collect()
}

/// Seeds an Allocated FulfillmentOrder with lines, as the org's own users would create it.
fn seed_order(stack: &Stack, lines: &[(&str, u32)], ship_to: &str, country: &str) -> anyhow::Result<(String, String)> {
    let sf = stack.salesforce().state();
    let r = &stack.sf_refs;
    let id = sf.seed(
        "FulfillmentOrder",
        json!({
            "Status": "Allocated", "OrderSummaryId": r.order_summary, "AccountId": r.account,
            "DeliveryMethodId": r.delivery_method, "FulfilledFromLocationId": r.location,
            "FulfilledToName": ship_to, "FulfilledToStreet": "1 Main St", "FulfilledToCity": "Springfield",
            "FulfilledToState": "IL", "FulfilledToPostalCode": "62701", "FulfilledToCountry": country,
            "FulfilledToPhone": "555-0100", "FulfilledToEmailAddress": "buyer@example.com",
            "Type": "Warehouse", "CurrencyIsoCode": stack.catalog.salesforce.currency,
        }),
    )?;
    for (sku, qty) in lines {
        let (product, price) = match r.products.iter().find(|(s, _, _)| s == sku) {
            Some((_, p, price)) => (p.clone(), *price),
            None => (
                sf.seed(
                    "Product2",
                    json!({"Name": sku, "StockKeepingUnit": sku, "ProductCode": sku, "QuantityUnitOfMeasure": "Each", "IsActive": true}),
                )?,
                1.0,
            ),
        };
        sf.seed(
            "FulfillmentOrderLineItem",
            json!({
                "FulfillmentOrderId": id, "Product2Id": product, "Quantity": qty, "OriginalQuantity": qty,
                "UnitPrice": price, "TotalLineAmount": price * f64::from(*qty), "TotalTaxAmount": 0.0,
                "Type": "Order Product", "TypeCode": "Product", "Description": sku, "QuantityUnitOfMeasure": "Each",
            }),
        )?;
    }
    let number = sf
        .record("FulfillmentOrder", &id)
        .and_then(|r| {
            r.get("FulfillmentOrderNumber")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .context("no FulfillmentOrderNumber")?;
    Ok((id, number))
}

/// The known poison records, one of each kind per 500 orders (at least one of each): an unmapped SKU,
/// an id that does not exist in the org, and an address the WMS rejects.
fn seed_poison(stack: &Stack, orders: usize) -> anyhow::Result<Vec<Poison>> {
    let per_kind = (orders / 500).max(1);
    let mut out = Vec::new();
    for k in 0..per_kind {
        let (unmapped, _) = seed_order(stack, &[("GHOST-SKU-1", 1)], &format!("Poison Sku {k}"), "US")?;
        out.push(Poison {
            record_id: unmapped,
            code: "MAPPING_MISSING",
        });
        // A well-formed FulfillmentOrder id the org does not have.
        let missing = waybill::domain::SalesforceId::parse(&format!("0a3Dn00000{:05}", 90_000 + k))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        out.push(Poison {
            record_id: missing.as_str().to_owned(),
            code: "ORDER_NOT_FOUND",
        });
        let (bad_address, _) = seed_order(stack, &[("CAP-RED-OS", 1)], &format!("Poison Address {k}"), "Atlantis")?;
        out.push(Poison {
            record_id: bad_address,
            code: "WMS_REJECTED",
        });
    }
    Ok(out)
}

/// The storm: on every vendor call of both simulators, 10% 5xx, 5% 429, 2% timeouts (an answer slower
/// than the client's 2 s timeout, after which the request still runs) and 2% commit-then-fail.
fn arm_faults(stack: &Stack, seed: u64) {
    let sf = stack.salesforce().state();
    let lw = stack.logiwa().state();
    sf.seed_faults(seed);
    lw.seed_faults(seed.wrapping_add(1));
    for (rule, share) in [
        (FaultRule::status(503), 0.10),
        (FaultRule::status(429), 0.05),
        (FaultRule::latency(2_500), 0.02),
        (FaultRule::commit_then_fail(), 0.02),
    ] {
        sf.add_fault(rule.clone().probability(share));
        lw.add_fault(rule.probability(share));
    }
}

/// Sends signed webhooks, eight at a time, each retried as Salesforce retries a callout (on 409 for a
/// concurrent duplicate, 5xx, or a transport error): with exponential back-off, for up to 24 hours
/// (salesforce-api.md §4 [54]), compressed here to 0.2 s doubling to 6.4 s apart, about 75 s in all:
/// a 409 can last as long as the invocation holding the event's lock may run (30 s).
async fn deliver(stack: &Stack, deliveries: &[(String, String)], out: &mut ChaosOutcome) {
    let results: Vec<Option<String>> = futures::stream::iter(deliveries)
        .map(|(id, event)| async move {
            for attempt in 0..16u32 {
                match stack.send_salesforce_webhook(id, event).await {
                    Ok(a) if a.status == 202 => return None,
                    Ok(a) if a.status == 409 || a.status >= 500 => {}
                    Ok(a) => return Some(format!("webhook for {id} answered {}: {}", a.status, a.body)),
                    Err(e) => warn!(error.message = %e, "webhook transport error; retrying"),
                }
                tokio::time::sleep(Duration::from_millis(200u64 << attempt.min(5))).await;
            }
            Some(format!("webhook for {id} never accepted"))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    out.problems.extend(results.into_iter().flatten());
}

/// Ships every order once it is in the WMS, package by package, a few seconds apart.
async fn ship_all(
    lw: waybill_simulators::LogiwaState,
    client: String,
    plan: Vec<Planned>,
    budget: Duration,
    seed: u64,
) -> anyhow::Result<()> {
    let client = uuid::Uuid::parse_str(&client).ok();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(7));
    // (order index, next package) still to ship, and when it may go.
    let mut next: Vec<(usize, usize, Instant)> = (0..plan.len()).map(|i| (i, 0, Instant::now())).collect();
    let give_up = Instant::now() + budget;
    let mut reported = Instant::now();
    while !next.is_empty() {
        // One pass over the WMS per round: asking it per order made each round quadratic in the run.
        let in_wms = lw.shipment_order_codes();
        if reported.elapsed() > Duration::from_secs(10) {
            let waiting = next
                .iter()
                .filter(|(i, _, _)| !in_wms.contains(&plan[*i].number))
                .count();
            info!(orders_left = next.len(), not_in_wms_yet = waiting, "chaos shipping");
            reported = Instant::now();
        }
        if Instant::now() > give_up {
            anyhow::bail!("{} orders never reached the WMS to be shipped", next.len());
        }
        let mut later = Vec::new();
        for (i, p, at) in next {
            let order = &plan[i];
            if at > Instant::now() || !in_wms.contains(&order.number) {
                later.push((i, p, at));
                continue;
            }
            let (tracking, lines) = &order.packages[p];
            let req = ShipRequest {
                packages: Some(vec![ShipPackage {
                    tracking_number: Some(tracking.clone()),
                    weight: None,
                    lines: lines
                        .iter()
                        .map(|(sku, q)| ShipLine {
                            sku: sku.clone(),
                            quantity: i32::try_from(*q).unwrap_or(1),
                        })
                        .collect(),
                }]),
                ..ShipRequest::default()
            };
            lw.ship(&order.number, client, req)
                .map_err(|e| anyhow::anyhow!("shipping {}: {e}", order.number))?;
            if p + 1 < order.packages.len() {
                later.push((
                    i,
                    p + 1,
                    Instant::now() + Duration::from_millis(rng.random_range(1_000..5_000)),
                ));
            }
        }
        next = later;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Waits until the vendors show every good order Fulfilled with every package written back and the
/// queues are empty, or the deadline passes (reconciliation then reports what is missing).
async fn settle(stack: &Stack, planned: &[Planned], deadline: Instant) {
    let sf = stack.salesforce().state();
    loop {
        let fulfilled = planned
            .iter()
            .filter(|p| {
                sf.record("FulfillmentOrder", &p.id)
                    .is_some_and(|r| r.get("Status").and_then(Value::as_str) == Some("Fulfilled"))
            })
            .count();
        let tracked: BTreeSet<String> = sf
            .records("Shipment")
            .iter()
            .filter_map(|s| s.get("TrackingNumber").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let packages_done = planned
            .iter()
            .flat_map(|p| p.packages.iter())
            .filter(|(t, _)| tracked.contains(t))
            .count();
        let total_packages: usize = planned.iter().map(|p| p.packages.len()).sum();
        // Visible messages only: after the storm hundreds of redundant retries (orders busy behind a
        // lease, events a write-back already covered) wait out their visibility, and settling on them
        // would only wait for acknowledgements. The verdict below reads the vendors and the DLQs.
        let counts = stack.queue_counts().await.unwrap_or_default();
        let busy: u64 = counts
            .iter()
            .filter(|(q, _)| !q.to_ascii_lowercase().contains("dlq"))
            .map(|(_, (visible, _))| *visible)
            .sum();
        info!(
            fulfilled,
            orders = planned.len(),
            packages_done,
            total_packages,
            busy,
            "chaos settling"
        );
        if fulfilled == planned.len() && packages_done == total_packages && busy == 0 {
            return;
        }
        if Instant::now() > deadline {
            warn!("chaos run did not settle before its deadline");
            return;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Counts what did not arrive, what arrived twice, status regressions, and the parked poison records.
async fn reconcile(
    stack: &Stack,
    planned: &[Planned],
    poison: &[Poison],
    out: &mut ChaosOutcome,
) -> anyhow::Result<()> {
    // Logiwa: each good order exactly once (vendor list by code).
    let lw = stack.lw_rest();
    let counts: Vec<(String, usize)> = futures::stream::iter(planned)
        .map(|p| async move { (p.number.clone(), lw.orders_by_code(&p.number).await.map(|r| r.len())) })
        .buffer_unordered(16)
        .map(|(n, r)| (n, r.unwrap_or(0)))
        .collect()
        .await;
    for (number, n) in counts {
        match n {
            0 => {
                out.lost += 1;
                out.problems.push(format!("{number} is not in Logiwa"));
            }
            1 => {}
            n => {
                out.duplicated += n - 1;
                out.problems.push(format!("{number} is in Logiwa {n} times"));
            }
        }
    }

    // Salesforce: Shipments and items per order (SOQL), FulfillmentOrder status.
    let sf = stack.sf_rest();
    let mut shipments: Vec<Value> = Vec::new();
    let mut statuses: HashMap<String, String> = HashMap::new();
    for chunk in planned.chunks(100) {
        let ids = chunk
            .iter()
            .map(|p| format!("'{}'", p.id))
            .collect::<Vec<_>>()
            .join(",");
        shipments.extend(
            sf.query(&format!(
                "SELECT Id, FulfillmentOrderId, TrackingNumber FROM Shipment WHERE FulfillmentOrderId IN ({ids})"
            ))
            .await?,
        );
        for r in sf
            .query(&format!("SELECT Id, Status FROM FulfillmentOrder WHERE Id IN ({ids})"))
            .await?
        {
            if let (Some(id), Some(st)) = (r["Id"].as_str(), r["Status"].as_str()) {
                statuses.insert(id.to_owned(), st.to_owned());
            }
        }
    }
    let mut items: HashMap<String, f64> = HashMap::new();
    let shipment_ids: Vec<String> = shipments
        .iter()
        .filter_map(|s| s["Id"].as_str().map(str::to_owned))
        .collect();
    for chunk in shipment_ids.chunks(150) {
        let ids = chunk.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",");
        for it in sf
            .query(&format!(
                "SELECT Id, ShipmentId, Quantity FROM ShipmentItem WHERE ShipmentId IN ({ids})"
            ))
            .await?
        {
            if let Some(sid) = it["ShipmentId"].as_str() {
                *items.entry(sid.to_owned()).or_insert(0.0) += it["Quantity"].as_f64().unwrap_or(0.0);
            }
        }
    }
    let mut by_tracking: HashMap<String, Vec<&Value>> = HashMap::new();
    for s in &shipments {
        by_tracking
            .entry(s["TrackingNumber"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(s);
    }
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for p in planned {
        match statuses.get(&p.id).map(String::as_str) {
            Some("Fulfilled") => {}
            other => {
                out.lost += 1;
                out.problems.push(format!("{} is {other:?}, not Fulfilled", p.number));
            }
        }
        for (tracking, lines) in &p.packages {
            expected.insert(tracking.clone());
            let want: u32 = lines.iter().map(|(_, q)| q).sum();
            match by_tracking.get(tracking).map(Vec::as_slice) {
                None | Some([]) => {
                    out.lost += 1;
                    out.problems
                        .push(format!("{} package {tracking} has no Shipment", p.number));
                }
                Some([one]) => {
                    let got = one["Id"].as_str().and_then(|i| items.get(i)).copied().unwrap_or(0.0);
                    let want = f64::from(want);
                    if (got - want).abs() > 1e-9 {
                        if got < want {
                            out.lost += 1;
                        } else {
                            out.duplicated += 1;
                        }
                        out.problems.push(format!(
                            "{} package {tracking}: {got} units on its Shipment, {want} shipped",
                            p.number
                        ));
                    }
                }
                Some(many) => {
                    out.duplicated += many.len() - 1;
                    out.problems
                        .push(format!("{} package {tracking} has {} Shipments", p.number, many.len()));
                }
            }
        }
    }
    let strays = shipments
        .iter()
        .filter(|s| !expected.contains(s["TrackingNumber"].as_str().unwrap_or_default()))
        .count();
    if strays > 0 {
        out.duplicated += strays;
        out.problems.push(format!("{strays} Shipments for no shipped package"));
    }

    // No status ever moved backwards (the simulator's field history of every FulfillmentOrder).
    let history = stack.salesforce().state();
    for id in planned
        .iter()
        .map(|p| p.id.as_str())
        .chain(poison.iter().map(|p| p.record_id.as_str()))
    {
        let values: Vec<String> = history
            .field_history("FulfillmentOrder", id, "Status")
            .into_iter()
            .filter_map(|c| c.new.as_str().map(str::to_owned))
            .collect();
        let ranks: Vec<u8> = std::iter::once("Allocated".to_owned())
            .chain(values.iter().cloned())
            .filter_map(|v| FULFILLMENT_ORDER_STATUSES.stage(&v).map(|s| s.rank()))
            .collect();
        if ranks.windows(2).any(|w| w[1] < w[0]) {
            out.regressions += 1;
            out.problems.push(format!("{id} status went backwards: {values:?}"));
        }
    }

    // The DLQs hold exactly the poison records, each with its reason.
    let parked = drain_dlqs(stack).await?;
    let mut matched = BTreeSet::new();
    for (record, code, reason) in &parked {
        match poison.iter().find(|p| &p.record_id == record) {
            Some(p) if p.code == code && !reason.is_empty() => {
                matched.insert(record.clone());
            }
            Some(p) => out.problems.push(format!(
                "poison {record} parked as {code} ({reason}), expected {}",
                p.code
            )),
            None => {
                out.lost += 1;
                out.problems.push(format!("{record} was parked: {code} {reason}"));
            }
        }
    }
    out.poison_parked = matched.len();
    Ok(())
}

/// Every message in the DLQs as `(record id, waybill.error.code, waybill.error.reason)`.
async fn drain_dlqs(stack: &Stack) -> anyhow::Result<Vec<(String, String, String)>> {
    let sqs = &stack.aws().sqs;
    let mut out = Vec::new();
    for (logical, queue) in &stack.provisioned().queues {
        if !logical.to_ascii_lowercase().contains("dlq") {
            continue;
        }
        let mut seen = BTreeSet::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .visibility_timeout(120)
                .message_attribute_names("All")
                .send()
                .await?;
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                if !seen.insert(m.message_id.clone().unwrap_or_default()) {
                    continue;
                }
                let attr = |k: &str| {
                    m.message_attributes
                        .as_ref()
                        .and_then(|a| a.get(k))
                        .and_then(|v| v.string_value.clone())
                        .unwrap_or_default()
                };
                let body: Value = serde_json::from_str(m.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null);
                let record = body["data"]["recordId"]
                    .as_str()
                    .or_else(|| body["data"]["orderCode"].as_str())
                    .unwrap_or("(unreadable body)")
                    .to_owned();
                out.push((
                    record,
                    attr(waybill::batch::attrs::ERROR_CODE),
                    attr(waybill::batch::attrs::ERROR_REASON),
                ));
            }
        }
    }
    Ok(out)
}

/// Shared so the small variant inside `make test` and the binary print the same way.
pub fn report(out: &ChaosOutcome) -> String {
    let mut s = String::new();
    for p in out.problems.iter().take(30) {
        s.push_str("  ! ");
        s.push_str(p);
        s.push('\n');
    }
    if out.problems.len() > 30 {
        s.push_str(&format!("  … and {} more\n", out.problems.len() - 30));
    }
    for line in &out.pipeline {
        s.push_str(&format!("chaos: {line}\n"));
    }
    for (vendor, families) in &out.vendor_calls {
        let total: u64 = families.values().sum();
        let per_order = total as f64 / out.orders.max(1) as f64;
        let detail: Vec<String> = families.iter().map(|(f, n)| format!("{f}={n}")).collect();
        s.push_str(&format!(
            "chaos: {vendor} calls {total} ({per_order:.1}/order): {}\n",
            detail.join(" ")
        ));
    }
    s.push_str(&format!(
        "chaos: {} packages, {} webhook deliveries, {:.0} s\n",
        out.packages,
        out.deliveries,
        out.elapsed.as_secs_f64()
    ));
    s.push_str(&out.line());
    s
}

//! The end-to-end scenario: orders created in Salesforce, webhooks (with duplicates), orders in the WMS
//! exactly once, shipped, written back, inventory polled — then a summary that must reconcile.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tracing::info;

use crate::stack::{wait_until, CreatedOrder, Stack};

/// Scenario settings.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// FulfillmentOrders to create.
    pub orders: usize,
    /// Extra deliveries of each webhook.
    pub duplicates: usize,
    /// Budget per waiting step.
    pub timeout: Duration,
    /// Gap between one order's Salesforce webhook (and, later, its shipment) and the next: `None` sends
    /// them all at once (a burst), `Some(gap)` at a steady rate, as orders arrive in production.
    pub pace: Option<Duration>,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        Self {
            orders: 20,
            duplicates: 1,
            timeout: Duration::from_secs(60),
            pace: None,
        }
    }
}

/// What the scenario observed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Orders created in Salesforce.
    pub orders_sent: usize,
    /// Webhook deliveries answered 202 (including duplicates).
    pub webhooks_accepted: usize,
    /// Of those, answered as duplicates.
    pub webhooks_duplicate: usize,
    /// Webhook deliveries answered with anything else.
    pub webhooks_refused: usize,
    /// Orders found in the WMS exactly once.
    pub in_wms_once: usize,
    /// WMS orders beyond one per code.
    pub wms_duplicates: usize,
    /// Orders shipped (admin ship accepted).
    pub shipped: usize,
    /// Packages shipped.
    pub packages: usize,
    /// Orders whose Shipment count equals their package count.
    pub written_back: usize,
    /// Shipments found in Salesforce.
    pub shipments: usize,
    /// FulfillmentOrders in `Fulfilled`.
    pub fulfilled: usize,
    /// `Inventory_Position__c` records.
    pub inventory_positions: usize,
    /// Queue depths by logical id.
    pub queue_depths: Vec<(String, u64)>,
    /// What did not reconcile.
    pub problems: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// True when everything reconciles.
    pub fn reconciled(&self) -> bool {
        self.problems.is_empty()
    }
}

const SKUS: [&str; 4] = ["TEE-BLK-M", "TEE-BLK-L", "MUG-WHT-12", "CAP-RED-OS"];

/// Order `i`: 1–3 lines, quantities 1–3.
fn lines_for(i: usize) -> Vec<(&'static str, u32)> {
    let n = 1 + i % 3;
    (0..n)
        .map(|k| (SKUS[(i + k) % SKUS.len()], u32::try_from(1 + (i + k) % 3).unwrap_or(1)))
        .collect()
}

/// The ship request for an order: orders with several lines and an even index go out in two packages.
fn ship_body(order: &CreatedOrder, i: usize, wms_sku: &dyn Fn(&str) -> String) -> (Value, usize) {
    let line = |(sku, q): &(String, u32)| json!({"sku": wms_sku(sku), "quantity": q});
    if order.lines.len() >= 2 && i % 2 == 0 {
        let (first, rest) = order.lines.split_at(1);
        let packages = vec![
            json!({"weight": 1.0, "lines": first.iter().map(line).collect::<Vec<_>>()}),
            json!({"weight": 2.0, "lines": rest.iter().map(line).collect::<Vec<_>>()}),
        ];
        (json!({"packages": packages}), 2)
    } else {
        (
            json!({"packages": [{"weight": 1.0, "lines": order.lines.iter().map(line).collect::<Vec<_>>()}]}),
            1,
        )
    }
}

/// Runs the scenario against a started stack.
///
/// # Errors
/// Only harness failures (a vendor call the harness makes fails); reconciliation problems are reported
/// in `Outcome::problems`.
pub async fn run(stack: &Stack, opts: &ScenarioOptions) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut out = Outcome {
        orders_sent: opts.orders,
        ..Outcome::default()
    };
    let wms_sku = |sku: &str| {
        stack
            .catalog
            .products
            .iter()
            .find(|p| p.sku == sku)
            .map(|p| p.wms_sku.clone())
            .unwrap_or_else(|| sku.to_owned())
    };

    // 1. Orders in Salesforce, and their signed webhooks (each delivered 1 + duplicates times).
    let mut orders = Vec::new();
    for i in 0..opts.orders {
        orders.push(
            stack
                .create_fulfillment_order(&lines_for(i), &format!("Buyer {i}"))
                .await?,
        );
    }
    info!(orders = orders.len(), "fulfillment orders created");
    for round in 0..=opts.duplicates {
        for o in &orders {
            let event_id = format!("evt-{}", o.id);
            pace(opts).await;
            let a = stack.send_salesforce_webhook(&o.id, &event_id).await?;
            if a.status == 202 {
                out.webhooks_accepted += 1;
                if a.body.get("duplicate").and_then(Value::as_bool) == Some(true) {
                    out.webhooks_duplicate += 1;
                }
            } else {
                out.webhooks_refused += 1;
                out.problems.push(format!(
                    "webhook for {} (round {round}) answered {}: {}",
                    o.number, a.status, a.body
                ));
            }
        }
    }

    // 2. Every order in Logiwa (vendor list by code), and its FulfillmentOrder moved to the submit status.
    let submit_status = stack
        .parameters
        .get("FulfillmentOrderStatusOnSubmit")
        .cloned()
        .unwrap_or_default();
    let ids_in = |os: &[CreatedOrder]| os.iter().map(|o| format!("'{}'", o.id)).collect::<Vec<_>>().join(",");
    let counts = wait_until(
        opts.timeout,
        Duration::from_millis(500),
        "every order is in Logiwa",
        || async {
            let mut counts = BTreeMap::new();
            for o in &orders {
                let n = stack.lw_rest().orders_by_code(&o.number).await?.len();
                if n == 0 {
                    return Ok(None);
                }
                counts.insert(o.number.clone(), n);
            }
            let recs = stack
                .sf_rest()
                .query(&format!(
                    "SELECT Id, Status FROM FulfillmentOrder WHERE Id IN ({})",
                    ids_in(&orders)
                ))
                .await?;
            let submitted = recs
                .iter()
                .filter(|r| r.get("Status").and_then(Value::as_str) == Some(submit_status.as_str()))
                .count();
            Ok((submitted == orders.len()).then_some(counts))
        },
    )
    .await;
    let counts = match counts {
        Ok(c) => c,
        Err(e) => {
            out.problems.push(e.to_string());
            return finish(stack, out, started).await;
        }
    };
    for (code, n) in &counts {
        if *n == 1 {
            out.in_wms_once += 1;
        } else {
            out.wms_duplicates += n - 1;
            out.problems.push(format!("{code} exists {n} times in Logiwa"));
        }
    }

    // 3. Ship every order through the warehouse (simulator admin), some in two packages.
    let mut expected_packages = BTreeMap::new();
    for (i, o) in orders.iter().enumerate() {
        let (body, packages) = ship_body(o, i, &wms_sku);
        pace(opts).await;
        let url = format!(
            "{}/__sim/logiwa/shipmentorders/{}/ship",
            stack.logiwa().base_url(),
            o.number
        );
        crate::vendors::admin_post(stack.http(), &url, &body)
            .await
            .with_context(|| format!("shipping {}", o.number))?;
        out.shipped += 1;
        out.packages += packages;
        expected_packages.insert(o.id.clone(), packages);
    }

    // 4. Shipments written back and FulfillmentOrders Fulfilled.
    let shipped_status = stack
        .parameters
        .get("FulfillmentOrderStatusOnShipped")
        .cloned()
        .unwrap_or_default();
    let written = wait_until(
        opts.timeout,
        Duration::from_millis(500),
        "every shipment is written back",
        || async {
            let ships = stack
                .sf_rest()
                .query(&format!(
                    "SELECT Id, FulfillmentOrderId, TrackingNumber FROM Shipment WHERE FulfillmentOrderId IN ({})",
                    ids_in(&orders)
                ))
                .await?;
            let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
            for s in &ships {
                if let Some(fo) = s.get("FulfillmentOrderId").and_then(Value::as_str) {
                    *per_order.entry(fo.to_owned()).or_insert(0) += 1;
                }
            }
            let fos = stack
                .sf_rest()
                .query(&format!(
                    "SELECT Id, Status FROM FulfillmentOrder WHERE Id IN ({})",
                    ids_in(&orders)
                ))
                .await?;
            let fulfilled = fos
                .iter()
                .filter(|r| r.get("Status").and_then(Value::as_str) == Some(shipped_status.as_str()))
                .count();
            let complete = expected_packages
                .iter()
                .all(|(id, n)| per_order.get(id).copied().unwrap_or(0) >= *n);
            Ok((complete && fulfilled == orders.len()).then_some((per_order, ships.len(), fulfilled)))
        },
    )
    .await;
    match written {
        Ok((per_order, total, fulfilled)) => {
            out.shipments = total;
            out.fulfilled = fulfilled;
            for o in &orders {
                let (got, want) = (
                    per_order.get(&o.id).copied().unwrap_or(0),
                    expected_packages.get(&o.id).copied().unwrap_or(0),
                );
                if got == want {
                    out.written_back += 1;
                } else {
                    out.problems
                        .push(format!("{} has {got} Shipments for {want} packages", o.number));
                }
            }
        }
        Err(e) => out.problems.push(e.to_string()),
    }

    // 5. Inventory poll (as the schedule would fire it) and the positions in Salesforce.
    match stack.fire_schedule("inventory-poll").await {
        Ok(report) => info!(report = %report, "inventory poll finished"),
        Err(e) => out.problems.push(format!("inventory poll failed: {e}")),
    }
    let positions = stack
        .sf_rest()
        .query("SELECT Id, Waybill_Position_Key__c, On_Hand__c FROM Inventory_Position__c")
        .await?;
    out.inventory_positions = positions.len();
    if positions.is_empty() {
        out.problems
            .push("no Inventory_Position__c records after the poll".into());
    }
    finish(stack, out, started).await
}

/// Waits the scenario's gap between two orders, if it has one.
async fn pace(opts: &ScenarioOptions) {
    if let Some(gap) = opts.pace {
        tokio::time::sleep(gap).await;
    }
}

async fn finish(stack: &Stack, mut out: Outcome, started: Instant) -> anyhow::Result<Outcome> {
    // Let the pollers settle: in-flight status-change events may still be on their way.
    let _ = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(300),
        "main queues drain",
        || async {
            let depths = stack.queue_depths().await?;
            Ok(depths.iter().all(|(_, n)| *n == 0).then_some(()))
        },
    )
    .await;
    out.queue_depths = stack.queue_depths().await?;
    for (id, n) in &out.queue_depths {
        if *n > 0 {
            out.problems.push(format!("{id} holds {n} message(s)"));
        }
    }
    if out.webhooks_duplicate + out.orders_sent != out.webhooks_accepted && out.webhooks_refused == 0 {
        out.problems.push(format!(
            "{} webhooks accepted but {} were flagged duplicate for {} orders",
            out.webhooks_accepted, out.webhooks_duplicate, out.orders_sent
        ));
    }
    out.elapsed = started.elapsed();
    Ok(out)
}

/// Renders the summary table.
pub fn summary(stack: &Stack, out: &Outcome) -> String {
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: String| {
        let _ = writeln!(s, "  {k:<44} {v}");
    };
    let _ = writeln!(s, "\nwaybill local stack — environment {}", stack.environment);
    let _ = writeln!(s, "  {}", "-".repeat(70));
    row(
        &mut s,
        "orders sent (FulfillmentOrders created)",
        out.orders_sent.to_string(),
    );
    row(
        &mut s,
        "webhooks delivered (incl. duplicates)",
        format!(
            "{} accepted ({} flagged duplicate), {} refused",
            out.webhooks_accepted, out.webhooks_duplicate, out.webhooks_refused
        ),
    );
    row(
        &mut s,
        "created in WMS exactly once",
        format!(
            "{}/{} (extra copies: {})",
            out.in_wms_once, out.orders_sent, out.wms_duplicates
        ),
    );
    row(
        &mut s,
        "shipped",
        format!("{} orders, {} packages", out.shipped, out.packages),
    );
    row(
        &mut s,
        "written back (Shipments = packages)",
        format!(
            "{}/{} orders, {} Shipments",
            out.written_back, out.orders_sent, out.shipments
        ),
    );
    row(
        &mut s,
        "FulfillmentOrders Fulfilled",
        format!("{}/{}", out.fulfilled, out.orders_sent),
    );
    row(
        &mut s,
        "inventory positions upserted",
        out.inventory_positions.to_string(),
    );
    for (id, n) in &out.queue_depths {
        row(&mut s, &format!("queue depth {id}"), n.to_string());
    }
    for f in stack.functions() {
        row(
            &mut s,
            &format!("invocations {}", f.spec.name),
            format!(
                "{} ({} failed)",
                f.stats.invocations.load(Ordering::Relaxed),
                f.stats.errors.load(Ordering::Relaxed)
            ),
        );
    }
    for e in stack.event_source_mappings() {
        row(
            &mut s,
            &format!("event source {}", e.spec.queue),
            format!(
                "{} batches, {} records, {} failed, {} deleted",
                e.stats.invocations.load(Ordering::Relaxed),
                e.stats.records.load(Ordering::Relaxed),
                e.stats.failures.load(Ordering::Relaxed),
                e.stats.deleted.load(Ordering::Relaxed)
            ),
        );
    }
    row(
        &mut s,
        "Logiwa webhook deliveries to the front",
        stack.logiwa().state().webhook_deliveries().len().to_string(),
    );
    let systems = [
        (
            "Salesforce",
            stack.salesforce().state().stats(),
            stack.sf_rest().calls.snapshot(),
        ),
        (
            "Logiwa",
            stack.logiwa().state().stats(),
            stack.lw_rest().calls.snapshot(),
        ),
    ];
    for (name, stats, harness) in systems {
        let harness_total: u64 = harness.values().sum();
        let by_family: Vec<String> = stats
            .by_family
            .iter()
            .map(|(f, n)| format!("{f}={}", n.saturating_sub(harness.get(f).copied().unwrap_or(0))))
            .collect();
        row(
            &mut s,
            &format!("API calls {name} by waybill"),
            format!(
                "{} total: {}",
                stats.total.saturating_sub(harness_total),
                by_family.join(" ")
            ),
        );
        row(
            &mut s,
            &format!("API calls {name} by the harness"),
            format!("{harness_total} (seeding, checks)"),
        );
    }
    row(&mut s, "wall time", format!("{:.1} s", out.elapsed.as_secs_f64()));
    let _ = writeln!(s, "  {}", "-".repeat(70));
    if out.reconciled() {
        let _ = writeln!(
            s,
            "  RECONCILED: every order in the WMS once, shipped back once, DLQs empty"
        );
    } else {
        let _ = writeln!(s, "  NOT RECONCILED:");
        for p in &out.problems {
            let _ = writeln!(s, "    - {p}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_have_one_to_three_lines_with_distinct_skus() {
        for i in 0..12 {
            let l = lines_for(i);
            assert!((1..=3).contains(&l.len()));
            let mut skus: Vec<_> = l.iter().map(|(s, _)| *s).collect();
            skus.dedup();
            assert_eq!(skus.len(), l.len());
        }
    }
}

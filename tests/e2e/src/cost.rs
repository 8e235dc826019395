//! `make cost`: dollars per million orders, end to end, from the requests a local run actually counted
//! (Lambda invocations and billed milliseconds, SQS requests including Lambda's polling, DynamoDB request
//! units, Secrets Manager calls, API Gateway requests) and the dated price table in `infra/prices.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context;
use serde::Deserialize;

use crate::counting::OpCount;
use crate::stack::Stack;

/// The price table (`infra/prices.json`).
#[derive(Debug, Clone, Deserialize)]
#[allow(missing_docs)]
pub struct Prices {
    pub as_of: String,
    pub region: String,
    pub lambda_requests_per_million: f64,
    pub lambda_gb_second_x86_64: f64,
    pub lambda_gb_second_arm64: f64,
    pub sqs_requests_per_million: f64,
    pub dynamodb_write_request_units_per_million: f64,
    pub dynamodb_read_request_units_per_million: f64,
    pub secrets_manager_calls_per_10k: f64,
    pub api_gateway_http_api_requests_per_million: f64,
}

impl Prices {
    /// Reads the table.
    ///
    /// # Errors
    /// Unreadable or malformed file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Operations only the local harness sends (provisioning, queue depth checks, reconciliation reads):
/// not part of what a deployment pays per order.
const HARNESS_OPS: &[&str] = &[
    "CreateQueue",
    "GetQueueUrl",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "ListQueues",
    "PurgeQueue",
    "CreateTable",
    "DescribeTable",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "Scan",
    "CreateSecret",
];

/// How Lambda polls an idle queue, per event source mapping (the AWS Lambda developer guide, "Configuring
/// scaling behavior for SQS event source mappings": long polling until the queue is active; at low
/// traffic five concurrent batches, and not the two-batch optimisation when `MaximumConcurrency` is set,
/// as it is in the template). The wait of each long poll is not documented; 20 s is SQS's maximum, so
/// this is the fewest idle receives Lambda could make.
const IDLE_POLLERS_PER_MAPPING: f64 = 5.0;
const LONG_POLL_SECONDS: f64 = 20.0;
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

/// One line of the bill, per million orders.
#[derive(Debug, Clone)]
pub struct Item {
    /// What it is.
    pub name: String,
    /// How much of it per order (in its unit).
    pub per_order: f64,
    /// Its unit.
    pub unit: &'static str,
    /// Dollars per million orders.
    pub dollars_per_million: f64,
}

/// The bill for one run.
#[derive(Debug, Clone)]
pub struct Bill {
    /// Orders the run reconciled.
    pub orders: usize,
    /// Items, largest first.
    pub items: Vec<Item>,
    /// Total, dollars per million orders.
    pub total: f64,
    /// SQS receives that found nothing, per order (priced in the SQS item; listed to show the polling).
    pub empty_receives_per_order: f64,
    /// The price table's date.
    pub as_of: String,
    /// Per function: invocations per order, average billed ms, memory MB (what the duration line is).
    pub functions: Vec<(String, f64, f64, u32)>,
    /// How the orders arrived (set by the caller: "at 2 per second", "in one burst").
    pub arrival: String,
    /// The monthly volume the idle polling is spread over.
    pub orders_per_month: f64,
}

/// Prices what `stack` counted while `orders` orders went through, for a deployment that takes
/// `orders_per_month` (Lambda's idle polling is a fixed monthly cost spread over them).
pub fn bill(stack: &Stack, orders: usize, orders_per_month: f64, prices: &Prices, arm64: bool) -> Bill {
    let n = orders.max(1) as f64;
    let mut items = Vec::new();
    // One line of the bill: `quantity` counted in the run, at `price` dollars per unit.
    let mut charge = |name: &str, quantity: f64, unit: &'static str, price: f64| {
        items.push(Item {
            name: name.into(),
            per_order: quantity / n,
            unit,
            dollars_per_million: quantity / n * 1e6 * price,
        });
    };

    // Lambda.
    let (mut invocations, mut gb_seconds) = (0u64, 0f64);
    let mut functions = Vec::new();
    for f in stack.functions() {
        let inv = f.stats.invocations.load(Ordering::Relaxed);
        let ms = f.stats.billed_ms.load(Ordering::Relaxed);
        functions.push((
            f.spec.package.to_string(),
            inv as f64 / n,
            ms as f64 / inv.max(1) as f64,
            f.spec.memory_mb,
        ));
        invocations += inv;
        gb_seconds += ms as f64 / 1000.0 * f64::from(f.spec.memory_mb) / 1024.0;
    }
    let gb_price = if arm64 {
        prices.lambda_gb_second_arm64
    } else {
        prices.lambda_gb_second_x86_64
    };
    charge(
        "Lambda requests",
        invocations as f64,
        "invocations",
        prices.lambda_requests_per_million / 1e6,
    );
    charge("Lambda duration", gb_seconds, "GB-s", gb_price);

    // AWS requests.
    let counts = stack.aws_counts.snapshot();
    let sum = |service: &str| -> OpCount {
        let mut total = OpCount::default();
        for ((s, op), c) in &counts {
            // The SDKs name their services "DynamoDB", "SQS", "Secrets Manager".
            let name = s.replace(' ', "");
            let base = op.split(' ').next().unwrap_or(op);
            if name.eq_ignore_ascii_case(service) && !HARNESS_OPS.contains(&base) {
                total += *c;
            }
        }
        total
    };
    // The local pollers' empty receives (1 s long polls, 100 ms gathering inside a batching window) are
    // the emulator's, not Lambda's: the requests that moved messages are counted, and Lambda's idle
    // polling is priced from its documented behaviour instead.
    let sqs = sum("sqs");
    charge(
        "SQS requests",
        sqs.billed_requests.saturating_sub(sqs.empty_receives) as f64,
        "requests",
        prices.sqs_requests_per_million / 1e6,
    );
    let mappings = stack.event_source_mappings().len() as f64;
    let idle_per_month = mappings * IDLE_POLLERS_PER_MAPPING * SECONDS_PER_MONTH / LONG_POLL_SECONDS;
    charge(
        "SQS idle polling",
        idle_per_month / orders_per_month.max(1.0) * n,
        "requests",
        prices.sqs_requests_per_million / 1e6,
    );
    let ddb = sum("dynamodb");
    charge(
        "DynamoDB writes",
        ddb.write_units,
        "WRU",
        prices.dynamodb_write_request_units_per_million / 1e6,
    );
    charge(
        "DynamoDB reads",
        ddb.read_units,
        "RRU",
        prices.dynamodb_read_request_units_per_million / 1e6,
    );
    let sm = sum("secretsmanager");
    charge(
        "Secrets Manager calls",
        sm.requests as f64,
        "calls",
        prices.secrets_manager_calls_per_10k / 1e4,
    );
    charge(
        "API Gateway requests",
        stack.api_requests.load(Ordering::Relaxed) as f64,
        "requests",
        prices.api_gateway_http_api_requests_per_million / 1e6,
    );

    items.sort_by(|a, b| b.dollars_per_million.total_cmp(&a.dollars_per_million));
    let total = items.iter().map(|i| i.dollars_per_million).sum();
    Bill {
        orders,
        items,
        total,
        empty_receives_per_order: sqs.empty_receives as f64 / n,
        as_of: prices.as_of.clone(),
        functions,
        arrival: String::new(),
        orders_per_month,
    }
}

/// The printed bill: total, the three biggest items, then every item.
pub fn report(b: &Bill, prices: &Prices) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "cost: ${:.3} per million orders (from {} orders arriving {}; {} prices of {})",
        b.total, b.orders, b.arrival, prices.region, b.as_of
    );
    for (i, item) in b.items.iter().take(3).enumerate() {
        let _ = writeln!(s, "  top {}: {:<22} ${:.4}", i + 1, item.name, item.dollars_per_million);
    }
    let _ = writeln!(
        s,
        "  {:<22} {:>12} {:<12} {:>12}",
        "item", "per order", "unit", "$/M orders"
    );
    for item in &b.items {
        let _ = writeln!(
            s,
            "  {:<22} {:>12.3} {:<12} {:>12.4}",
            item.name, item.per_order, item.unit, item.dollars_per_million
        );
    }
    let _ = writeln!(
        s,
        "  (SQS idle polling: {IDLE_POLLERS_PER_MAPPING} pollers per queue mapping, {LONG_POLL_SECONDS} s long polls, over {:.0} orders a month;\n   the local pollers' {:.2} empty receives per order are not priced)",
        b.orders_per_month,
        b.empty_receives_per_order
    );
    for (name, inv, ms, mb) in &b.functions {
        let _ = writeln!(
            s,
            "  lambda {name:<20} {inv:>6.2} invocations/order  {ms:>7.0} ms billed on average  {mb} MB"
        );
    }
    s
}

/// Operations counted, for the curious (`--verbose`).
pub fn operations(stack: &Stack, orders: usize) -> String {
    let n = orders.max(1) as f64;
    let counts: BTreeMap<(String, String), OpCount> = stack.aws_counts.snapshot();
    let mut s = String::new();
    for ((service, op), c) in counts {
        let _ = writeln!(
            s,
            "  {service:<15} {op:<22} {:>8.2} req/order  {:>6.2} RRU  {:>6.2} WRU",
            c.requests as f64 / n,
            c.read_units / n,
            c.write_units / n
        );
    }
    s
}

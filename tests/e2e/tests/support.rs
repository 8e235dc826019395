//! Test support: a stack with compressed retries, and a tracing layer that records log events so tests
//! can assert what was logged (by message id), without parsing text.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter::LevelFilter, EnvFilter, Layer};
use waybill_e2e::{Stack, StackOptions};

/// One recorded log event.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: tracing::Level,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

static EVENTS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());
static INIT: OnceLock<()> = OnceLock::new();

struct Recorder(Captured);

impl Visit for Recorder {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Recorder {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_owned(), value);
        }
    }
}

struct CaptureLayer;

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut r = Recorder(Captured {
            level: *event.metadata().level(),
            message: String::new(),
            fields: BTreeMap::new(),
        });
        event.record(&mut r);
        if let Ok(mut v) = EVENTS.lock() {
            v.push(r.0);
        }
    }
}

/// Installs the subscriber once per test binary: WARN and above are captured; RUST_LOG (default warn)
/// goes to the test output.
pub fn init_logs() {
    INIT.get_or_init(|| {
        let fmt = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")));
        let _ = tracing_subscriber::registry()
            .with(CaptureLayer.with_filter(LevelFilter::WARN))
            .with(fmt)
            .try_init();
    });
}

/// Every captured event so far (all tests of the binary).
pub fn captured() -> Vec<Captured> {
    EVENTS.lock().map(|v| v.clone()).unwrap_or_default()
}

/// Options every test starts from: compressed retries (1 s) and everything else as the template says.
pub fn options() -> StackOptions {
    StackOptions {
        visibility_timeout_override: Some(1),
        ..StackOptions::default()
    }
}

/// Starts a stack with logs captured.
pub async fn start(opts: StackOptions) -> Stack {
    init_logs();
    Stack::start(opts).await.expect("local stack starts")
}

/// How long a test waits for an asynchronous outcome.
pub const WAIT: Duration = Duration::from_secs(30);
/// Poll interval.
pub const TICK: Duration = Duration::from_millis(250);

/// `(ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible)` of a queue.
pub async fn queue_counts(stack: &Stack, logical_id: &str) -> (u64, u64) {
    let url = stack.queue_url(logical_id).expect("queue");
    waybill_e2e::esm::queue_counts(&stack.aws().sqs, &url)
        .await
        .expect("queue attributes")
}

/// Waits until the order code is listed by Logiwa (vendor API) and returns how many rows it has.
pub async fn wait_in_logiwa(stack: &Stack, code: &str) -> usize {
    waybill_e2e::wait_until(WAIT, TICK, &format!("{code} is in Logiwa"), || async {
        let n = stack.lw_rest().orders_by_code(code).await?.len();
        Ok((n > 0).then_some(n))
    })
    .await
    .expect("order reaches Logiwa")
}

/// Waits until the FulfillmentOrder has `status` (vendor API).
pub async fn wait_status(stack: &Stack, id: &str, status: &str) {
    waybill_e2e::wait_until(WAIT, TICK, &format!("{id} is {status}"), || async {
        let rec = stack.sf_rest().get("FulfillmentOrder", id).await?;
        Ok((rec.get("Status").and_then(serde_json::Value::as_str) == Some(status)).then_some(()))
    })
    .await
    .expect("status reached");
}

/// Ships the whole order in the Logiwa simulator (its admin route; Logiwa posts its webhooks if subscribed).
pub async fn ship(stack: &Stack, number: &str) {
    let url = format!(
        "{}/__sim/logiwa/shipmentorders/{number}/ship",
        stack.logiwa().base_url()
    );
    waybill_e2e::vendors::admin_post(stack.http(), &url, &serde_json::json!({}))
        .await
        .expect("ship");
}

/// Waits until a queue holds nothing, visible or in flight.
pub async fn wait_drained(stack: &Stack, logical_id: &str) {
    waybill_e2e::wait_until(WAIT, TICK, &format!("{logical_id} drains"), || async {
        Ok((queue_counts(stack, logical_id).await == (0, 0)).then_some(()))
    })
    .await
    .expect("drained");
}

/// The FulfillmentOrder's Shipments as Salesforce lists them (vendor API).
pub async fn shipments_of(stack: &Stack, fo_id: &str) -> Vec<serde_json::Value> {
    let soql = format!("SELECT Id, TrackingNumber FROM Shipment WHERE FulfillmentOrderId = '{fo_id}'");
    stack.sf_rest().query(&soql).await.expect("query")
}

/// The event source mapping that reads a queue.
pub fn esm<'a>(stack: &'a Stack, queue: &str) -> &'a waybill_e2e::esm::EventSourceMapping {
    stack
        .event_source_mappings()
        .iter()
        .find(|e| e.spec.queue == queue)
        .expect("mapping for queue")
}

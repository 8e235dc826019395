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
        let mut r = Recorder(Captured { level: *event.metadata().level(), message: String::new(), fields: BTreeMap::new() });
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
        let _ = tracing_subscriber::registry().with(CaptureLayer.with_filter(LevelFilter::WARN)).with(fmt).try_init();
    });
}

/// Every captured event so far (all tests of the binary).
pub fn captured() -> Vec<Captured> {
    EVENTS.lock().map(|v| v.clone()).unwrap_or_default()
}

/// Options every test starts from: compressed retries (1 s) and everything else as the template says.
pub fn options() -> StackOptions {
    StackOptions { visibility_timeout_override: Some(1), ..StackOptions::default() }
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

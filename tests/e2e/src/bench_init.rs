//! `make bench-init`: cold starts of the four release bootstraps and a bare `lambda_runtime` echo, side by
//! side, each started ≥ 20 times under a small Lambda runtime-API emulator.
//!
//! Per start it measures, from process spawn: init (to the first `GET /runtime/invocation/next`), init
//! plus the first invocation of a realistic event (to its `POST …/response`), and peak RSS (`VmHWM` after
//! the second invocation). A second, equivalent event is invoked warm on the same process: `first − warm`
//! is the work the first invocation does only because it is first (deferred init: credential and TLS
//! setup, first connections), so deferring work shows up rather than disappearing.
//!
//! The world is the local stack (moto for AWS, the vendor simulators), provisioned from the template and
//! seeded as `make run` does; each function gets the environment Lambda would give it. moto answers in
//! milliseconds, as AWS does, so the first invocation's absolute time includes real round trips; the bare
//! echo makes none. Both figures are printed.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::stack::{wait_until, Stack};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Starts per function (≥ 20 for the statistics).
    pub starts: usize,
    /// Where `cargo lambda build` put the bootstraps (`<dir>/<function>/bootstrap`).
    pub lambda_dir: PathBuf,
    /// The bare echo's bootstrap.
    pub echo: PathBuf,
}

/// One start's measurements.
#[derive(Debug, Clone, Copy)]
struct Sample {
    init: Duration,
    init_first: Duration,
    first: Duration,
    warm: Duration,
    rss_kb: u64,
}

/// The runtime API's side of one start.
#[derive(Default)]
struct Emu {
    events: Mutex<VecDeque<Value>>,
    marks: Mutex<Marks>,
    changed: Notify,
    deadline_ms: u64,
    arn: String,
}

#[derive(Default)]
struct Marks {
    /// When each `/next` was answered with an event (the first one also ends init).
    delivered: Vec<Instant>,
    first_next: Option<Instant>,
    responses: Vec<Instant>,
    errors: Vec<String>,
}

impl Emu {
    fn lock(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn next(State(emu): State<Arc<Emu>>) -> Response {
    let now = Instant::now();
    {
        let mut m = emu.lock();
        m.first_next.get_or_insert(now);
    }
    emu.changed.notify_waiters();
    let event = emu.events.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
    let Some(event) = event else {
        // No more events: hold the poll, as Lambda does while the environment is frozen.
        std::future::pending::<()>().await;
        return StatusCode::NO_CONTENT.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    let mut headers = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put(&mut headers, "lambda-runtime-aws-request-id", id);
    put(&mut headers, "lambda-runtime-deadline-ms", emu.deadline_ms.to_string());
    put(&mut headers, "lambda-runtime-invoked-function-arn", emu.arn.clone());
    put(
        &mut headers,
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    emu.lock().delivered.push(Instant::now());
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn response(State(emu): State<Arc<Emu>>, AxPath(_id): AxPath<String>, _body: String) -> StatusCode {
    emu.lock().responses.push(Instant::now());
    emu.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn invocation_error(State(emu): State<Arc<Emu>>, AxPath(_id): AxPath<String>, body: String) -> StatusCode {
    emu.lock().errors.push(format!("invocation error: {body}"));
    emu.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(emu): State<Arc<Emu>>, body: String) -> StatusCode {
    emu.lock().errors.push(format!("init error: {body}"));
    emu.changed.notify_waiters();
    StatusCode::ACCEPTED
}

/// Peak resident set (kB) of a live process.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Starts `bootstrap` once with `env`, invokes `first` then `warm`, and measures.
async fn start_once(
    bootstrap: &Path,
    env: &BTreeMap<String, String>,
    first: Value,
    warm: Value,
    timeout_secs: u64,
) -> anyhow::Result<Sample> {
    let deadline_ms = u64::try_from(
        (time::OffsetDateTime::now_utc() + Duration::from_secs(timeout_secs)).unix_timestamp_nanos() / 1_000_000,
    )
    .unwrap_or(u64::MAX);
    let emu = Arc::new(Emu {
        events: Mutex::new(VecDeque::from([first, warm])),
        deadline_ms,
        arn: format!(
            "arn:aws:lambda:{}:123456789012:function:{}",
            crate::template::REGION,
            env.get("AWS_LAMBDA_FUNCTION_NAME").map_or("bench", String::as_str)
        ),
        ..Emu::default()
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emu.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(bootstrap)
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let pid = child.id().context("the bootstrap exited at once")?;

    let give_up = Instant::now() + Duration::from_secs(timeout_secs + 5);
    let rss_kb = loop {
        let done = {
            let m = emu.lock();
            if let Some(e) = m.errors.first() {
                bail!("{}: {e}", bootstrap.display());
            }
            m.responses.len() >= 2
        };
        if done {
            break peak_rss_kb(pid).unwrap_or(0);
        }
        if Instant::now() > give_up {
            bail!("{}: no answer to both invocations in time", bootstrap.display());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{} exited with {status}", bootstrap.display());
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), emu.changed.notified()).await;
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();

    let m = emu.lock();
    let (Some(first_next), [d1, d2, ..], [r1, r2, ..]) = (m.first_next, m.delivered.as_slice(), m.responses.as_slice())
    else {
        bail!("{}: incomplete run", bootstrap.display());
    };
    Ok(Sample {
        init: first_next - spawned,
        init_first: *r1 - spawned,
        first: *r1 - *d1,
        warm: *r2 - *d2,
        rss_kb,
    })
}

/// One function's events: a fresh pair (first, warm) per start, so no start is answered "duplicate".
type EventFactory = Box<dyn Fn(usize) -> (Value, Value) + Send + Sync>;

struct Subject {
    label: String,
    bootstrap: PathBuf,
    env: BTreeMap<String, String>,
    events: EventFactory,
}

fn median_and_spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i.min(v.len() - 1)]
    };
    (at(0.5), at(0.1), at(0.9))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Everything one function's starts showed.
#[derive(Debug, Clone)]
pub struct Row {
    /// Function (or `bare-echo`).
    pub label: String,
    /// Median init, ms.
    pub init: f64,
    /// Median init + first invocation, ms.
    pub init_first: f64,
    /// Median of (init + first − warm): cold-only work, ms.
    pub cold_own: f64,
    /// Median peak RSS, MB.
    pub rss_mb: f64,
    /// Human-readable line.
    pub line: String,
}

fn row(label: &str, samples: &[Sample]) -> Row {
    let f = |g: &dyn Fn(&Sample) -> f64| median_and_spread(samples.iter().map(g).collect());
    let init = f(&|s| ms(s.init));
    let init_first = f(&|s| ms(s.init_first));
    let first = f(&|s| ms(s.first));
    let warm = f(&|s| ms(s.warm));
    let cold_own = f(&|s| ms(s.init) + (ms(s.first) - ms(s.warm)).max(0.0));
    let rss = f(&|s| s.rss_kb as f64 / 1024.0);
    let cell = |(m, lo, hi): (f64, f64, f64)| format!("{m:7.2} [{lo:6.2}–{hi:7.2}]");
    Row {
        label: label.to_owned(),
        init: init.0,
        init_first: init_first.0,
        cold_own: cold_own.0,
        rss_mb: rss.0,
        line: format!(
            "{label:<20} {} {} {} {} {} {:5.1} [{:4.1}–{:4.1}]",
            cell(init),
            cell(init_first),
            cell(first),
            cell(warm),
            cell(cold_own),
            rss.0,
            rss.1,
            rss.2
        ),
    }
}

/// Runs the benchmark against a started stack (pollers stopped) and returns the printed report.
///
/// # Errors
/// A bootstrap that is missing, fails to start, reports an init or invocation error, or does not answer.
pub async fn run(stack: &Stack, opts: &BenchOptions) -> anyhow::Result<String> {
    // The pollers drive the write-back orders through first; then they stop, so nothing in this
    // process competes with the bootstraps for the CPU while they are measured.
    let subjects = subjects(stack, opts).await?;
    for esm in stack.event_source_mappings() {
        esm.stop();
    }
    let mut rows = Vec::new();
    // Round-robin over the subjects, so a slow moment of the machine is spread over all of them.
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); subjects.len()];
    for i in 0..opts.starts {
        for (s, subject) in subjects.iter().enumerate() {
            let (first, warm) = (subject.events)(i);
            let sample = start_once(&subject.bootstrap, &subject.env, first, warm, 30).await?;
            samples[s].push(sample);
        }
    }
    for (subject, s) in subjects.iter().zip(&samples) {
        rows.push(row(&subject.label, s));
    }
    Ok(report(&rows, opts.starts))
}

fn report(rows: &[Row], starts: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bench-init: {starts} starts each; median [p10–p90], ms unless marked\n\
         {:<20} {:<24} {:<24} {:<24} {:<24} {:<24} peak RSS MB",
        "function", "init", "init+first", "first", "warm", "init+(first−warm)"
    );
    for r in rows {
        let _ = writeln!(out, "{}", r.line);
    }
    if let Some(bare) = rows.iter().find(|r| r.label == BARE) {
        let _ = writeln!(
            out,
            "\nratios to the bare function (goals: init ≤ 1.5×, init+first ≤ 2×, RSS ≤ 32 MB)"
        );
        for r in rows.iter().filter(|r| r.label != BARE) {
            let _ = writeln!(
                out,
                "{:<20} init {:4.2}×  init+first {:5.2}×  init+(first−warm) {:4.2}×  RSS {:4.1} MB",
                r.label,
                r.init / bare.init,
                r.init_first / bare.init_first,
                r.cold_own / bare.cold_own,
                r.rss_mb
            );
        }
    }
    out
}

const BARE: &str = "bare-echo";

fn bootstrap(dir: &Path, function: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(function).join("bootstrap");
    if !p.is_file() {
        bail!(
            "{} is missing: run `make build` (make bench-init does) first",
            p.display()
        );
    }
    Ok(p)
}

fn apigw(method: &str, path: &str, query: &[(&str, &str)], headers: &[(&str, String)], body: &str) -> Value {
    let raw_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut h = serde_json::Map::new();
    h.insert("content-type".into(), json!("application/json"));
    for (k, v) in headers {
        h.insert((*k).to_owned(), json!(v));
    }
    let now = time::OffsetDateTime::now_utc();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": h,
        "queryStringParameters": query.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "timeEpoch": now.unix_timestamp() * 1000
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn sqs_batch(queue_arn: &str, bodies: Vec<String>) -> Value {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let records: Vec<Value> = bodies
        .into_iter()
        .map(|body| {
            json!({
                "messageId": uuid::Uuid::new_v4().to_string(),
                "receiptHandle": format!("bench-{}", uuid::Uuid::new_v4()),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms.to_string(),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms.to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": crate::template::REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The five subjects and their realistic events. Orders for the write-back are driven through the
/// stack first (into Logiwa, shipped, written back once), so each start's batch re-reads real shipments.
async fn subjects(stack: &Stack, opts: &BenchOptions) -> anyhow::Result<Vec<Subject>> {
    let mut out = Vec::new();
    let lw_path = stack.route_path("wms-webhook")?.replace("{system}", "logiwa");
    let sf_path = stack.route_path("salesforce-webhook")?;
    let token = stack.logiwa_token().to_owned();
    let key = stack.signing_key().to_owned();

    // Orders in the WMS: ten for each write-back batch.
    let orders = ready_orders(stack, 10).await?;
    let client_id = stack.catalog.client_id();

    let wms_body = {
        let token = token.clone();
        let lw_path = lw_path.clone();
        let orders = orders.clone();
        let client_id = client_id.clone();
        move |n: usize| {
            let (code, wms_id, _) = &orders[n % orders.len()];
            let body = json!({
                "Identifier": uuid::Uuid::new_v4().to_string(),
                "ShipmentOrderIdentifier": wms_id,
                "Code": code,
                "PreviousStatus": "ReadyToPick",
                "CurrentStatus": "Shipped",
                "ClientIdentifier": client_id,
            })
            .to_string();
            apigw("POST", &lw_path, &[("token", token.as_str())], &[], &body)
        }
    };
    out.push(Subject {
        label: BARE.into(),
        bootstrap: opts.echo.clone(),
        env: crate::stack::lambda_env("bench-echo", 128),
        events: Box::new({
            let f = wms_body.clone();
            move |i| (f(2 * i), f(2 * i + 1))
        }),
    });
    out.push(Subject {
        label: "wms-webhook".into(),
        bootstrap: bootstrap(&opts.lambda_dir, "wms-webhook")?,
        env: stack.bootstrap_env("wms-webhook")?,
        events: Box::new(move |i| (wms_body(2 * i), wms_body(2 * i + 1))),
    });

    let records: Vec<String> = orders.iter().map(|o| o.2.clone()).collect();
    let sf_event = {
        let sf_path = sf_path.clone();
        move |n: usize| {
            let record = &records[n % records.len()];
            let body = json!({"eventId": format!("evt-bench-{}", uuid::Uuid::new_v4()), "object": "FulfillmentOrder", "recordId": record}).to_string();
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let sig = sign(&key, ts, &body);
            apigw(
                "POST",
                &sf_path,
                &[],
                &[("x-waybill-timestamp", ts.to_string()), ("x-waybill-signature", sig)],
                &body,
            )
        }
    };
    out.push(Subject {
        label: "salesforce-webhook".into(),
        bootstrap: bootstrap(&opts.lambda_dir, "salesforce-webhook")?,
        env: stack.bootstrap_env("salesforce-webhook")?,
        events: Box::new(move |i| (sf_event(2 * i), sf_event(2 * i + 1))),
    });

    let events_arn = stack.provisioned().queue("FulfillmentEventsQueue")?.arn.clone();
    let batch = {
        let orders = orders.clone();
        move || {
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let bodies = orders
                .iter()
                .map(|(code, wms_id, _)| {
                    json!({
                        "messageType": "fulfillment.event",
                        "schemaVersion": 1,
                        "correlationId": uuid::Uuid::new_v4().to_string(),
                        "data": {
                            "system": "logiwa",
                            "object": "shipment",
                            "topic": "wms/shipmentorder/shipment",
                            "eventKey": uuid::Uuid::new_v4().to_string(),
                            "orderCode": code,
                            "wmsOrderId": wms_id,
                            "status": "Shipped",
                            "receivedAt": now
                        }
                    })
                    .to_string()
                })
                .collect();
            sqs_batch(&events_arn, bodies)
        }
    };
    out.push(Subject {
        label: "shipment-writeback".into(),
        bootstrap: bootstrap(&opts.lambda_dir, "shipment-writeback")?,
        env: stack.bootstrap_env("shipment-writeback")?,
        events: Box::new(move |_| (batch(), batch())),
    });

    let poll = crate::functions::by_package(stack.functions(), "inventory-poll")?.clone();
    out.push(Subject {
        label: "inventory-poll".into(),
        bootstrap: bootstrap(&opts.lambda_dir, "inventory-poll")?,
        env: stack.bootstrap_env("inventory-poll")?,
        events: Box::new(move |_| (crate::stack::schedule_event(&poll), crate::stack::schedule_event(&poll))),
    });
    Ok(out)
}

fn sign(key: &str, ts: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{ts}.{body}").as_bytes());
    format!(
        "v1={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Creates `n` FulfillmentOrders, sends each through the stack into Logiwa, ships it and waits until it
/// is Fulfilled in Salesforce. Returns (order code, Logiwa identifier, FulfillmentOrder id) triples.
async fn ready_orders(stack: &Stack, n: usize) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut created = Vec::new();
    for i in 0..n {
        let o = stack
            .create_fulfillment_order(&[("TEE-BLK-M", 2), ("MUG-WHT-12", 1)], &format!("Bench {i}"))
            .await?;
        let answer = stack
            .send_salesforce_webhook(&o.id, &format!("evt-bench-prep-{i}"))
            .await?;
        if answer.status >= 300 {
            bail!("salesforce webhook for {} answered {}", o.id, answer.status);
        }
        created.push(o);
    }
    let lw = stack.logiwa().state().clone();
    let client = uuid::Uuid::parse_str(&stack.catalog.client_id()).ok();
    let mut out = Vec::new();
    for o in &created {
        let number = o.number.clone();
        let wms_id = wait_until(
            Duration::from_secs(120),
            Duration::from_millis(200),
            "order in Logiwa",
            || {
                let lw = lw.clone();
                let number = number.clone();
                async move {
                    Ok(lw
                        .shipment_order_by_code(&number)
                        .and_then(|v| v.get("identifier").and_then(Value::as_str).map(str::to_owned)))
                }
            },
        )
        .await?;
        lw.ship(&o.number, client, waybill_simulators::logiwa::ShipRequest::default())
            .map_err(|e| anyhow::anyhow!("shipping {}: {e}", o.number))?;
        out.push((o.number.clone(), wms_id, o.id.clone()));
    }
    let sf = stack.salesforce().state().clone();
    for o in &created {
        let id = o.id.clone();
        let sf = sf.clone();
        wait_until(
            Duration::from_secs(120),
            Duration::from_millis(200),
            "order Fulfilled",
            move || {
                let sf = sf.clone();
                let id = id.clone();
                async move {
                    Ok(sf
                        .record("FulfillmentOrder", &id)
                        .filter(|r| r.get("Status").and_then(Value::as_str) == Some("Fulfilled"))
                        .map(|_| ()))
                }
            },
        )
        .await?;
    }
    Ok(out)
}

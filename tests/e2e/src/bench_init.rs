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
//! echo makes none. So every backend is reached through a timing proxy (`timing_proxy`), and the report
//! also gives init + first less the time the first invocation waited on answers: the process's own time.
//! Every answer must be a success, or the run fails: a refused event is not a fast start.

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
use crate::timing_proxy::{self, Waits};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Starts per function (≥ 20 for the statistics).
    pub starts: usize,
    /// Where the four functions' executables are.
    pub bootstraps: Bootstraps,
    /// The bare echo's bootstrap (None: the functions alone, no ratios).
    pub echo: Option<PathBuf>,
}

/// Where a function's executable lives.
#[derive(Debug, Clone)]
pub enum Bootstraps {
    /// `cargo lambda build`'s layout: `<dir>/<function>/bootstrap` (what `make build` ships).
    CargoLambda(PathBuf),
    /// cargo's own: `<dir>/<function>` (what `cargo test --workspace` builds, for the smoke test).
    Cargo(PathBuf),
}

impl Bootstraps {
    fn of(&self, function: &str) -> anyhow::Result<PathBuf> {
        let p = match self {
            Self::CargoLambda(dir) => dir.join(function).join("bootstrap"),
            Self::Cargo(dir) => dir.join(function),
        };
        if !p.is_file() {
            bail!(
                "{} is missing: `make bench-init` builds the bootstraps (`make build`), `cargo test --workspace` the binaries",
                p.display()
            );
        }
        Ok(p)
    }
}

/// The stack a bench runs against.
pub fn stack_options(moto_endpoint: Option<String>) -> crate::StackOptions {
    crate::StackOptions {
        moto_endpoint,
        // A Logiwa plan that never makes a batch wait: the bench measures the function, not the
        // vendor's rate plan (the rate tests prove the plans).
        logiwa_requests_per_second: 200,
        extra_env: BTreeMap::from([("LOGIWA_ACCOUNT_ENVIRONMENTS".to_owned(), "1".to_owned())]),
        // A record of the preparation that found its order busy is retried after 1 s, not after the
        // template's 180 s, so the preparation's wait for Fulfilled (120 s) sees the retry (seen).
        visibility_timeout_override: Some(1),
        ..crate::StackOptions::default()
    }
}

/// One start's measurements.
#[derive(Debug, Clone, Copy)]
struct Sample {
    init: Duration,
    init_first: Duration,
    first: Duration,
    warm: Duration,
    /// Time within each invocation covered by a backend request (see `Waits::within`).
    first_waited: Duration,
    warm_waited: Duration,
    /// Backend requests within each invocation.
    first_calls: usize,
    warm_calls: usize,
    rss_kb: u64,
}

/// What one start's two invocations asked of the backends: (ms after the event was handed over, ms it
/// took, operation), first then warm.
type Timeline = (Vec<(f64, f64, String)>, Vec<(f64, f64, String)>);

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
    /// The answers' bodies, checked so that a start that was refused is not measured as one that worked.
    answers: Vec<String>,
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

async fn response(State(emu): State<Arc<Emu>>, AxPath(_id): AxPath<String>, body: String) -> StatusCode {
    let at = Instant::now();
    {
        let mut m = emu.lock();
        m.responses.push(at);
        m.answers.push(body);
    }
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
    waits: &Waits,
    accept: Accept,
    timeout_secs: u64,
) -> anyhow::Result<(Sample, Timeline)> {
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
    for (which, answer) in ["first", "warm"].iter().zip(&m.answers) {
        let parsed: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
        if let Err(why) = accept(&parsed) {
            bail!(
                "{}: the {which} invocation was not a success ({why}): {answer}",
                bootstrap.display()
            );
        }
    }
    let (first_waited, first_calls) = waits.within(*d1, *r1);
    let (warm_waited, warm_calls) = waits.within(*d2, *r2);
    let timeline = |from: Instant, to: Instant| {
        waits
            .began_within(from, to)
            .into_iter()
            .map(|s| (ms(s.from - from), ms(s.to - s.from), s.what))
            .collect::<Vec<_>>()
    };
    let sample = Sample {
        init: first_next - spawned,
        init_first: *r1 - spawned,
        first: *r1 - *d1,
        warm: *r2 - *d2,
        first_waited,
        warm_waited,
        first_calls,
        warm_calls,
        rss_kb,
    };
    Ok((sample, (timeline(*d1, *r1), timeline(*d2, *r2))))
}

/// One function's events: a fresh pair (first, warm) per start, so no start is answered "duplicate".
type EventFactory = Box<dyn Fn(usize) -> (Value, Value) + Send + Sync>;

/// What a successful answer of one function looks like.
type Accept = fn(&Value) -> Result<(), String>;

struct Subject {
    label: String,
    bootstrap: PathBuf,
    env: BTreeMap<String, String>,
    events: EventFactory,
    accept: Accept,
}

/// An API Gateway answer with a 2xx status.
fn http_success(v: &Value) -> Result<(), String> {
    match v.get("statusCode").and_then(Value::as_u64) {
        Some(s) if (200..300).contains(&s) => Ok(()),
        other => Err(format!("statusCode {other:?}")),
    }
}

/// A partial batch response with no failed record.
fn batch_success(v: &Value) -> Result<(), String> {
    match v.get("batchItemFailures").and_then(Value::as_array) {
        Some(f) if f.is_empty() => Ok(()),
        Some(f) => Err(format!("{} failed records", f.len())),
        None => Err("no batchItemFailures".into()),
    }
}

/// A poll report whose every warehouse was polled without an error.
fn poll_success(v: &Value) -> Result<(), String> {
    let warehouses = v.get("warehouses").and_then(Value::as_array).ok_or("no warehouses")?;
    if warehouses.is_empty() {
        return Err("no warehouse polled".into());
    }
    match warehouses.iter().find(|w| !w.get("error").is_none_or(Value::is_null)) {
        Some(w) => Err(format!("warehouse error {}", w.get("error").unwrap_or(&Value::Null))),
        None => Ok(()),
    }
}

/// The echo answers with its event.
fn any_answer(_: &Value) -> Result<(), String> {
    Ok(())
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
    /// Median of (init + first − the first invocation's waits on backends): the process's own time, ms.
    pub own: f64,
    /// Median number of backend requests in the first invocation.
    pub first_calls: usize,
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
    let own = f(&|s| ms(s.init_first) - ms(s.first_waited));
    let warm_own = f(&|s| ms(s.warm) - ms(s.warm_waited));
    let calls = |g: &dyn Fn(&Sample) -> usize| {
        let mut v: Vec<usize> = samples.iter().map(g).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let (first_calls, warm_calls) = (calls(&|s| s.first_calls), calls(&|s| s.warm_calls));
    let rss = f(&|s| s.rss_kb as f64 / 1024.0);
    let cell = |(m, lo, hi): (f64, f64, f64)| format!("{m:7.2} [{lo:6.2}–{hi:7.2}]");
    Row {
        label: label.to_owned(),
        init: init.0,
        init_first: init_first.0,
        cold_own: cold_own.0,
        own: own.0,
        first_calls,
        rss_mb: rss.0,
        line: format!(
            "{label:<20} {} {} {} {} {} {} {} {first_calls:>3}/{warm_calls:<3} {:5.1} [{:4.1}–{:4.1}]",
            cell(init),
            cell(init_first),
            cell(first),
            cell(warm),
            cell(cold_own),
            cell(own),
            cell(warm_own),
            rss.0,
            rss.1,
            rss.2
        ),
    }
}

/// What a bench run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// One row per subject (the echo first, if it ran).
    pub rows: Vec<Row>,
    /// The printed report.
    pub report: String,
}

/// Runs the benchmark against a started stack (its pollers are stopped for the measured starts).
///
/// # Errors
/// A bootstrap that is missing, fails to start, reports an init or invocation error, answers an
/// invocation with anything but a success (a non-2xx status, a failed record, a warehouse error), or
/// does not answer.
pub async fn run(stack: &Stack, opts: &BenchOptions) -> anyhow::Result<Measured> {
    // The pollers drive the write-back orders through first; then they stop, so nothing in this
    // process competes with the bootstraps for the CPU while they are measured.
    let mut subjects = subjects(stack, opts).await?;
    let waits = Arc::new(Waits::default());
    let mut world = ProxiedWorld::start(stack, waits.clone()).await?;
    for subject in subjects.iter_mut().filter(|s| s.label != BARE) {
        world.route(stack, &mut subject.env).await?;
    }
    // Stopped after their in-flight batches: a batch aborted mid-way would keep its order leases to
    // their deadline, and the measured write-back would find its orders "being written" (seen).
    for esm in stack.event_source_mappings() {
        esm.stop_after_in_flight().await;
    }
    let mut rows = Vec::new();
    // Round-robin over the subjects, so a slow moment of the machine is spread over all of them.
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); subjects.len()];
    let mut timelines: Vec<Timeline> = vec![Timeline::default(); subjects.len()];
    for i in 0..opts.starts {
        for (s, subject) in subjects.iter().enumerate() {
            let (first, warm) = (subject.events)(i);
            let (sample, timeline) = start_once(
                &subject.bootstrap,
                &subject.env,
                first,
                warm,
                &waits,
                subject.accept,
                30,
            )
            .await?;
            samples[s].push(sample);
            timelines[s] = timeline;
        }
    }
    for (subject, s) in subjects.iter().zip(&samples) {
        rows.push(row(&subject.label, s));
    }
    let mut report = report(&rows, opts.starts);
    report.push_str(&timelines_report(&subjects, &timelines));
    Ok(Measured { rows, report })
}

/// moto and the two simulators behind timing proxies, and the functions' environment pointed at them.
struct ProxiedWorld {
    moto: String,
    /// (direct base URL, proxied base URL) of each simulator.
    vendors: Vec<(String, String)>,
    /// Secret ARN → the ARN of its copy with the vendor URLs proxied.
    copies: BTreeMap<String, String>,
}

impl ProxiedWorld {
    async fn start(stack: &Stack, waits: Arc<Waits>) -> anyhow::Result<Self> {
        let moto = timing_proxy::start(stack.moto_endpoint(), waits.clone()).await?;
        let mut vendors = Vec::new();
        for direct in [stack.salesforce().base_url(), stack.logiwa().base_url()] {
            let proxied = timing_proxy::start(&direct, waits.clone()).await?;
            vendors.push((direct, proxied));
        }
        Ok(Self {
            moto,
            vendors,
            copies: BTreeMap::new(),
        })
    }

    /// Points one function's environment at the proxies: the AWS endpoint, and every secret that
    /// names a simulator's URL (the vendors' base URLs live in Secrets Manager, as deployed) replaced
    /// by a copy naming its proxy.
    async fn route(&mut self, stack: &Stack, env: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        if let Some(k) = env.keys().find(|k| k.starts_with("AWS_ENDPOINT_URL_")) {
            bail!("bench-init proxies one moto, and {k} names a second");
        }
        env.insert("AWS_ENDPOINT_URL".into(), self.moto.clone());
        let secrets = &stack.aws().secrets;
        for (key, arn) in env.iter_mut().filter(|(k, _)| k.ends_with("_SECRET_ARN")) {
            if let Some(copy) = self.copies.get(arn.as_str()) {
                arn.clone_from(copy);
                continue;
            }
            let got = secrets
                .get_secret_value()
                .secret_id(arn.as_str())
                .send()
                .await
                .with_context(|| format!("reading {key}"))?;
            let value = got.secret_string().unwrap_or_default();
            let routed = self.vendors.iter().fold(value.to_owned(), |v, (direct, proxied)| {
                v.replace(direct.as_str(), proxied)
            });
            if routed == value {
                continue;
            }
            let name = format!(
                "{}-bench-{}",
                got.name().unwrap_or("secret"),
                uuid::Uuid::new_v4().simple()
            );
            let copy = crate::provision::create_secret(secrets, &name, &routed).await?;
            self.copies.insert(arn.clone(), copy.clone());
            *arn = copy;
        }
        Ok(())
    }
}

fn report(rows: &[Row], starts: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bench-init: {starts} starts each; median [p10–p90], ms unless marked\n\
         {:<20} {:<24} {:<24} {:<24} {:<24} {:<24} {:<24} {:<24} {:<7} peak RSS MB",
        "function",
        "init",
        "init+first",
        "first",
        "warm",
        "init+(first−warm)",
        "init+first−waits",
        "warm−waits",
        "calls"
    );
    for r in rows {
        let _ = writeln!(out, "{}", r.line);
    }
    if let Some(bare) = rows.iter().find(|r| r.label == BARE) {
        let _ = writeln!(
            out,
            "\nratios to the bare function (goals: init ≤ 1.5×, init+first ≤ 2×, RSS ≤ 32 MB)\n\
             init+first−waits: init plus the first invocation, less the time it awaited moto's and the\n\
             simulators' answers (measured at a proxy in front of each; calls = backend requests in the\n\
             first / the warm invocation). The bare echo makes none, so its figure is its init+first."
        );
        for r in rows.iter().filter(|r| r.label != BARE) {
            let _ = writeln!(
                out,
                "{:<20} init {:4.2}×  init+first {:5.2}×  init+(first−warm) {:4.2}×  init+first−waits {:4.2}×  RSS {:4.1} MB",
                r.label,
                r.init / bare.init,
                r.init_first / bare.init_first,
                r.cold_own / bare.cold_own,
                r.own / bare.init_first,
                r.rss_mb
            );
        }
    }
    out
}

/// The last start's backend requests per function, so the gaps (the process's own time) can be read.
fn timelines_report(subjects: &[Subject], timelines: &[Timeline]) -> String {
    use std::fmt::Write as _;
    const SHOWN: usize = 12;
    let mut out = String::from(
        "\nthe last start's backend requests: ms after the event was handed over +ms it took, operation\n",
    );
    for (subject, (first, warm)) in subjects.iter().zip(timelines).filter(|(s, _)| s.label != BARE) {
        for (name, calls) in [("first", first), ("warm", warm)] {
            let _ = write!(out, "{:<20} {name:<5}", subject.label);
            for (at, took, what) in calls.iter().take(SHOWN) {
                let _ = write!(out, "  {at:.2} +{took:.2} {what}");
            }
            if calls.len() > SHOWN {
                let _ = write!(out, "  … {} more", calls.len() - SHOWN);
            }
            out.push('\n');
        }
    }
    out
}

const BARE: &str = "bare-echo";

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
    if let Some(echo) = &opts.echo {
        out.push(Subject {
            label: BARE.into(),
            bootstrap: echo.clone(),
            env: crate::stack::lambda_env("bench-echo", 128),
            events: Box::new({
                let f = wms_body.clone();
                move |i| (f(2 * i), f(2 * i + 1))
            }),
            accept: any_answer,
        });
    }
    out.push(Subject {
        label: "wms-webhook".into(),
        bootstrap: opts.bootstraps.of("wms-webhook")?,
        env: stack.bootstrap_env("wms-webhook")?,
        events: Box::new(move |i| (wms_body(2 * i), wms_body(2 * i + 1))),
        accept: http_success,
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
        bootstrap: opts.bootstraps.of("salesforce-webhook")?,
        env: stack.bootstrap_env("salesforce-webhook")?,
        events: Box::new(move |i| (sf_event(2 * i), sf_event(2 * i + 1))),
        accept: http_success,
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
        bootstrap: opts.bootstraps.of("shipment-writeback")?,
        env: stack.bootstrap_env("shipment-writeback")?,
        events: Box::new(move |_| (batch(), batch())),
        accept: batch_success,
    });

    let poll = crate::functions::by_package(stack.functions(), "inventory-poll")?.clone();
    out.push(Subject {
        label: "inventory-poll".into(),
        bootstrap: opts.bootstraps.of("inventory-poll")?,
        env: stack.bootstrap_env("inventory-poll")?,
        events: Box::new(move |_| (crate::stack::schedule_event(&poll), crate::stack::schedule_event(&poll))),
        accept: poll_success,
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

//! Shared HTTP plumbing for the vendor adapters (Salesforce, Logiwa): one reqwest client, backon retries
//! bounded by a deadline, governor rate limiting, per-family call counters and structured request logs.
//!
//! Auth is deliberately not handled here: each vendor renews its token differently (salesforce-api.md §1,
//! wms-apis.md §1 "Auth"), so the adapters wrap [`HttpClient::send`] with their own "renew once on 401".

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::time::Instant;

/// When and how often a transient failure is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (default 3).
    pub max_attempts: usize,
    /// First back-off delay; later delays grow exponentially with jitter (default 200 ms).
    pub min_delay: Duration,
    /// Cap on one back-off delay (default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// Timeouts, rate and retries for one adapter's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// TCP/TLS connect timeout (default 3.1 s, the AWS SDK's: with one value the whole process shares
    /// one reqwest client and pool, see `tls::shared_client`).
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included (default 20 s); shortened to what is left before the deadline.
    pub request_timeout: Duration,
    /// Client-side rate limit, so one adapter cannot burn the API budget it shares with other integrations.
    pub requests_per_second: NonZeroU32,
    /// How many requests may go out back to back before the rate applies (default 1: smooth spacing,
    /// which keeps us under fixed-window vendor counters too).
    pub burst: NonZeroU32,
    /// Retries.
    pub retry: RetryPolicy,
}

impl HttpSettings {
    /// Defaults with the given rate.
    pub fn with_rate(requests_per_second: NonZeroU32) -> Self {
        Self {
            connect_timeout: super::aws::CONNECT_TIMEOUT,
            request_timeout: Duration::from_secs(20),
            requests_per_second,
            burst: NonZeroU32::MIN,
            retry: RetryPolicy::default(),
        }
    }
}

/// API calls made by one adapter since it was built, by endpoint family (e.g. `oauth`, `query`,
/// `composite/sobjects`). Every HTTP attempt counts, retries and token calls included, because that is
/// what the vendor bills against the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    /// Which system (`salesforce`, `logiwa`).
    pub system: &'static str,
    /// All calls.
    pub total: u64,
    /// Calls per endpoint family.
    pub by_family: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Calls counted for one family (0 when none).
    pub fn family(&self, name: &str) -> u64 {
        self.by_family.get(name).copied().unwrap_or(0)
    }
}

/// A request body, already serialised so every retry sends the same bytes.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// `application/json`.
    Json(Bytes),
    /// `application/json` carrying credentials (token requests): never shown by `Debug`.
    SecretJson(SecretString),
    /// `application/x-www-form-urlencoded`; secret because token requests carry credentials.
    Form(SecretString),
}

impl Body {
    /// Serialises a JSON body.
    pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|v| Self::Json(Bytes::from(v)))
    }
}

/// One logical request (retried as a unit).
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// Endpoint family for counters and logs.
    pub family: &'static str,
    /// Method.
    pub method: Method,
    /// Full URL, query included. Only its path is ever logged (query values may carry PII such as order codes).
    pub url: url::Url,
    /// Bearer token, if any.
    pub bearer: Option<&'a SecretString>,
    /// Body, if any.
    pub body: Option<Body>,
}

/// The vendor's answer (any status).
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The network failed on every attempt (connect, TLS, timeout, reset).
    #[error("request failed before an answer")]
    Transport(#[source] reqwest::Error),
    /// The configured deadline passed before (another) attempt could be made.
    #[error("deadline reached before the request could be sent")]
    Deadline,
}

/// A vendor rate limit shared with every other execution environment: each attempt first reserves a
/// slot in the account's bucket (see [`crate::ports::RateGate`]).
#[derive(Clone)]
pub struct SharedRate {
    /// Where the bucket lives (the state table in production).
    pub gate: Arc<dyn crate::ports::RateGate>,
    /// The bucket: one per vendor account (e.g. `logiwa#<account>`).
    pub bucket: String,
}

impl std::fmt::Debug for SharedRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRate")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// A credential fetch (token, session) that just failed transiently: the calls queued behind it (the
/// fetch is serialised, so one batch's records wait in line) fail at once for [`FetchBackoff::HOLD`]
/// instead of each running its own retry series in turn. Without it an authentication outage made every
/// record of a batch retry the token one after the other, and batches ran into the Lambda timeout with
/// their leases held.
#[derive(Debug, Default)]
pub(crate) struct FetchBackoff {
    failed: Mutex<Option<Instant>>,
}

impl FetchBackoff {
    /// How long a transient failure is reused.
    pub(crate) const HOLD: Duration = Duration::from_secs(2);

    /// Runs `fetch` unless one failed transiently within [`Self::HOLD`]; then answers `held(ago)` (a
    /// transient error of the adapter's own type) at once. A transient failure of `fetch` is held, a
    /// success clears it, and a permanent one (bad credentials) is left to the caller, which re-reads
    /// the secret.
    pub(crate) async fn fetch<T, E, F>(&self, fetch: F, held: impl FnOnce(Duration) -> E) -> Result<T, E>
    where
        E: crate::error::Classified,
        F: std::future::Future<Output = Result<T, E>>,
    {
        let failed = *self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ago) = failed.map(|at| at.elapsed()).filter(|ago| *ago < Self::HOLD) {
            return Err(held(ago));
        }
        let fetched = fetch.await;
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        match &fetched {
            Ok(_) => *failed = None,
            Err(e) if e.is_retryable() => *failed = Some(Instant::now()),
            Err(_) => {}
        }
        fetched
    }
}

/// How the environments sharing one vendor account divide its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanShare {
    /// Each environment keeps to this rate on its own, with no store round trip per request: the
    /// environments together can never exceed the plan.
    Split(NonZeroU32),
    /// Too little for each environment to keep a fixed share: every request reserves a slot in the
    /// account's bucket (see [`SharedRate`]).
    Shared,
}

/// The least per-environment rate worth a fixed share: a Lambda environment makes its vendor calls one
/// after another, a few per second, so below this a fixed share would throttle an environment while the
/// account sits idle.
pub const MIN_SPLIT_RATE: u32 = 5;

/// Divides a plan of `plan` requests per second among at most `environments` concurrent execution
/// environments. A fixed share is `plan / environments - 1`: governor spaces an environment's calls
/// evenly, but a sliding one-second window can catch one more call per environment at its edges, hence
/// the `- 1`, so the sum stays within the plan in every window. Below [`MIN_SPLIT_RATE`] the share
/// would starve environments, so the plan is shared through the bucket instead (Logiwa's Basic and
/// Premium plans, 2 and 6 req/s, always are).
pub fn plan_share(plan: NonZeroU32, environments: NonZeroU32) -> PlanShare {
    let share = (plan.get() / environments.get()).saturating_sub(1);
    match NonZeroU32::new(share) {
        Some(s) if s.get() >= MIN_SPLIT_RATE => PlanShare::Split(s),
        _ => PlanShare::Shared,
    }
}

/// Slots are spaced 5% wider than the plan's rate: arrival times at the vendor jitter by a few
/// milliseconds, and a sliding one-second window counts a request that lands early against the previous
/// second. 95% of the plan is the price of never seeing a 429.
const SHARED_SPACING_MARGIN: u32 = 20;
/// Slots reserved at most per attempt before sending anyway.
const MAX_SLOT_TRIES: u32 = 4;

/// One adapter's HTTP client.
#[derive(Debug)]
pub(crate) struct HttpClient {
    system: &'static str,
    client: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
    shared: Option<SharedRate>,
    /// Moving average of the shared bucket's reservation round trip (µs).
    reserve_rtt_micros: std::sync::atomic::AtomicU64,
    settings: HttpSettings,
    counters: Mutex<BTreeMap<String, u64>>,
    deadline: Mutex<Option<Instant>>,
}

impl HttpClient {
    /// Builds the client once per adapter (connection pool and TLS config are reused across calls).
    pub(crate) fn new(system: &'static str, settings: HttpSettings) -> Result<Self, crate::error::BoxError> {
        // Shared with the other adapters; every attempt sets its own timeout.
        let client = super::tls::shared_client(settings.connect_timeout)?;
        let quota = Quota::per_second(settings.requests_per_second).allow_burst(settings.burst);
        Ok(Self {
            system,
            client,
            limiter: RateLimiter::direct(quota),
            shared: None,
            reserve_rtt_micros: std::sync::atomic::AtomicU64::new(0),
            settings,
            counters: Mutex::new(BTreeMap::new()),
            deadline: Mutex::new(None),
        })
    }

    /// Makes every attempt also wait for a slot of a rate limit shared across execution environments.
    pub(crate) fn set_shared_rate(&mut self, shared: SharedRate) {
        self.shared = Some(shared);
    }

    /// The spacing of shared slots for this client's rate.
    fn shared_interval(&self) -> Duration {
        let base = Duration::from_secs(1) / self.settings.requests_per_second.get();
        base + base / SHARED_SPACING_MARGIN
    }

    /// Waits for this attempt's slot in the shared bucket. A slot this process reaches more than the
    /// spacing margin late (a slow store answer, a late timer) is given up and another one reserved: sent
    /// late, it would land next to the slots after it and a sliding one-second window would count one
    /// request too many.
    ///
    /// If the store cannot be reached the attempt goes ahead under the per-process limiter alone (logged):
    /// losing the shared limit for a moment risks a vendor 429, which is retried; stopping every vendor
    /// call would risk much more.
    ///
    /// Returns whether the attempt waited for a shared slot (false: the per-process limiter must pace it).
    async fn wait_shared(&self, remaining: Option<Duration>) -> Result<bool, SendError> {
        let Some(shared) = &self.shared else {
            return Ok(false);
        };
        let interval = self.shared_interval();
        // Slots are `1/rps + 5%` apart, so `rps` of them span 1.05 s: a request sent up to 50 ms after its
        // slot still leaves at most `rps` in any sliding second. Half of that is ours, half is left for
        // jitter on the way. The bound is in time, not a share of the interval: at a fast plan (200/s, 5 ms
        // apart) a share would be below the timer's resolution and every slot would count as missed.
        let tolerance = Duration::from_secs(1) / SHARED_SPACING_MARGIN / 2;
        let give_up = remaining.map(|r| Instant::now() + r);
        for _ in 0..MAX_SLOT_TRIES {
            let lead = self.reservation_lead();
            let asked = Instant::now();
            let reserving = shared.gate.reserve(&shared.bucket, interval, lead);
            let reserved = match give_up {
                Some(g) => match tokio::time::timeout(g.saturating_duration_since(Instant::now()), reserving).await {
                    Ok(r) => r,
                    Err(_) => return Err(SendError::Deadline),
                },
                None => reserving.await,
            };
            self.observe_reservation(asked.elapsed());
            let slot = match reserved {
                Ok(slot) => slot,
                Err(e) => {
                    tracing::warn!(system = self.system, bucket = %shared.bucket, error.message = %crate::error::chain(&e), "shared rate limit unavailable; using the per-process limit");
                    return Ok(false);
                }
            };
            let wait = slot - time::OffsetDateTime::now_utc();
            if let Ok(wait) = Duration::try_from(wait) {
                if give_up.is_some_and(|g| Instant::now() + wait >= g) {
                    return Err(SendError::Deadline);
                }
                tokio::time::sleep(wait).await;
            }
            let late = time::OffsetDateTime::now_utc() - slot;
            if late <= tolerance {
                // The per-process limiter does not pace this attempt, but it counts it: an attempt that
                // later falls back to it (the store gone, every slot missed) then keeps its distance from
                // the ones sent on slots.
                let _ = self.limiter.check();
                return Ok(true);
            }
            tracing::debug!(
                system = self.system,
                late_ms = late.whole_milliseconds(),
                "shared rate slot missed; reserving another"
            );
        }
        // Every slot came too late (a very slow store): send under the per-process limiter.
        Ok(false)
    }

    /// How far ahead to ask for a slot: one and a half times the recent reservation round trip (a moving
    /// average), so the answer arrives before the slot does. At most a second: a store that slow is
    /// better treated as missing a slot than as a reason to hold every request back.
    fn reservation_lead(&self) -> Duration {
        let micros = self.reserve_rtt_micros.load(std::sync::atomic::Ordering::Relaxed);
        (Duration::from_micros(micros) * 3 / 2).min(Duration::from_secs(1))
    }

    fn observe_reservation(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let _ = self.reserve_rtt_micros.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            // A quarter of each new sample: a few slow answers move it, one does not.
            |avg| Some(if avg == 0 { took } else { avg - avg / 4 + took / 4 }),
        );
    }

    /// Sets (or clears) the instant after which no new attempt starts, e.g. the Lambda invocation deadline
    /// minus a safety margin. Lambda runs one invocation at a time per environment, so one slot suffices.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = deadline;
    }

    fn deadline(&self) -> Option<Instant> {
        let configured = *self.deadline.lock().unwrap_or_else(PoisonError::into_inner);
        // The invocation's deadline (set by the handler for the task, see `crate::deadline`) applies to
        // every adapter the handler drives through a port, without each port method taking a parameter.
        match (configured, crate::deadline::current()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Calls made so far.
    pub(crate) fn counts(&self) -> CallCounts {
        let by_family = self.counters.lock().unwrap_or_else(PoisonError::into_inner).clone();
        CallCounts {
            system: self.system,
            total: by_family.values().sum(),
            by_family,
        }
    }

    fn count(&self, family: &str) {
        *self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(family.to_owned())
            .or_insert(0) += 1;
    }

    fn backoff(&self, max_attempts: usize) -> impl Iterator<Item = Duration> {
        let retry = &self.settings.retry;
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(max_attempts.saturating_sub(1))
            .build()
    }

    /// Sends a request that must not be repeated blindly (a create without an idempotency key): one
    /// attempt, whatever happens. The caller decides how to recover, e.g. by looking the object up.
    pub(crate) async fn send_once(&self, req: Request<'_>) -> Result<Response, SendError> {
        self.send_attempts(req, 1).await
    }

    /// Sends a request, retrying transport failures, 5xx and 429 with exponential back-off and jitter.
    /// 4xx answers are returned at once: a validation error will not change on retry.
    /// After the last attempt a transient status is returned as an answer, so the adapter maps it.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<Response, SendError> {
        self.send_attempts(req, self.settings.retry.max_attempts).await
    }

    async fn send_attempts(&self, req: Request<'_>, max_attempts: usize) -> Result<Response, SendError> {
        let mut delays = self.backoff(max_attempts);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = match self.deadline() {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Err(SendError::Deadline),
                },
                None => None,
            };
            // A shared slot is the pacing (slots are spaced for the whole account); without one (no shared
            // bucket, the store unreachable, every slot missed) the per-process limiter paces. Reserving
            // before the local limiter lets a batch's parallel calls reserve together (see `rate.rs`)
            // instead of reaching the bucket one by one at the local limiter's rate.
            if !self.wait_shared(remaining).await? {
                self.limiter.until_ready().await;
            }
            let timeout = remaining.map_or(self.settings.request_timeout, |r| r.min(self.settings.request_timeout));
            let started = Instant::now();
            let outcome = self.attempt(&req, timeout).await;
            let elapsed = started.elapsed();
            self.count(req.family);

            let retry_after = match &outcome {
                Ok(resp) => {
                    tracing::info!(
                        system = self.system,
                        family = req.family,
                        http.method = %req.method,
                        http.path = req.url.path(),
                        http.status = resp.status.as_u16(),
                        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                        attempt,
                        "vendor call"
                    );
                    if !is_transient_status(resp.status) {
                        return outcome.map_err(SendError::Transport);
                    }
                    retry_after(&resp.headers)
                }
                Err(e) => {
                    tracing::warn!(
                        system = self.system,
                        family = req.family,
                        http.method = %req.method,
                        http.path = req.url.path(),
                        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                        attempt,
                        error.message = %e,
                        "vendor call failed without an answer"
                    );
                    if !is_transient_error(e) {
                        return outcome.map_err(SendError::Transport);
                    }
                    None
                }
            };

            let Some(mut delay) = delays.next() else {
                return outcome.map_err(SendError::Transport);
            };
            if let Some(after) = retry_after {
                delay = delay.max(after);
            }
            // Don't start an attempt that cannot finish before the deadline: the caller would rather get
            // the transient failure now and let its queue redeliver than be killed mid-call.
            if let Some(deadline) = self.deadline() {
                if Instant::now() + delay + elapsed > deadline {
                    tracing::warn!(
                        system = self.system,
                        family = req.family,
                        attempt,
                        "not retrying: deadline too close"
                    );
                    return outcome.map_err(SendError::Transport);
                }
            }
            tracing::warn!(
                system = self.system,
                family = req.family,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "transient failure, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, req: &Request<'_>, timeout: Duration) -> Result<Response, reqwest::Error> {
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .timeout(timeout);
        if let Some(token) = req.bearer {
            // bearer_auth marks the header sensitive, so it never shows up in reqwest's Debug output.
            builder = builder.bearer_auth(token.expose_secret());
        }
        builder = match &req.body {
            Some(Body::Json(bytes)) => builder
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Some(Body::SecretJson(json)) => builder
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(json.expose_secret().to_owned()),
            Some(Body::Form(form)) => builder
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.expose_secret().to_owned()),
            None => builder,
        };
        builder = builder.header(http::header::ACCEPT, "application/json");
        let resp = builder.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok(Response { status, headers, body })
    }
}

/// 5xx and 429 are worth another try; everything else is the vendor's final word.
fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// A request we could not even build, or a redirect loop, will fail the same way again.
fn is_transient_error(e: &reqwest::Error) -> bool {
    !(e.is_builder() || e.is_redirect())
}

/// `Retry-After` in seconds, when a vendor sends it (neither Salesforce nor Logiwa documents it; harmless).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn logiwas_documented_plans_are_always_shared_through_the_bucket_by_the_templates_environments() {
        assert_eq!(plan_share(nz(2), nz(21)), PlanShare::Shared);
        assert_eq!(plan_share(nz(6), nz(21)), PlanShare::Shared);
        assert_eq!(plan_share(nz(6), nz(1)), PlanShare::Split(nz(5)));
    }

    proptest::proptest! {
        #[test]
        fn fixed_shares_never_add_up_to_more_than_the_plan_even_with_one_extra_call_each_per_window(
            plan in 1u32..5_000, environments in 1u32..200,
        ) {
            match plan_share(nz(plan), nz(environments)) {
                PlanShare::Split(share) => {
                    proptest::prop_assert!(share.get() >= MIN_SPLIT_RATE);
                    proptest::prop_assert!(u64::from(environments) * u64::from(share.get() + 1) <= u64::from(plan));
                }
                PlanShare::Shared => {
                    proptest::prop_assert!(plan / environments < MIN_SPLIT_RATE + 1);
                }
            }
        }
    }

    #[test]
    fn only_server_errors_and_throttling_are_transient() {
        assert!(is_transient_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(is_transient_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(is_transient_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_transient_status(StatusCode::BAD_REQUEST));
        assert!(!is_transient_status(StatusCode::NOT_FOUND));
        assert!(!is_transient_status(StatusCode::UNAUTHORIZED));
    }

    #[test]
    fn the_backoff_yields_one_delay_fewer_than_the_attempts() {
        let client = HttpClient::new("test", HttpSettings::with_rate(NonZeroU32::MIN)).expect("client");
        assert_eq!(client.backoff(client.settings.retry.max_attempts).count(), 2);
    }

    #[test]
    fn counters_sum_per_family() {
        let client = HttpClient::new("test", HttpSettings::with_rate(NonZeroU32::MIN)).expect("client");
        client.count("query");
        client.count("query");
        client.count("oauth");
        let counts = client.counts();
        assert_eq!(counts.total, 3);
        assert_eq!(counts.family("query"), 2);
        assert_eq!(counts.family("none"), 0);
    }
}

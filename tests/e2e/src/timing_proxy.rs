//! A timing reverse proxy for `make bench-init`: it forwards to one backend (moto, a simulator) and
//! records when each answer was awaited, so a start's own time can be told from its waits on the world.
//!
//! The span of one request runs from the moment its head reached this proxy's handler to the moment the
//! handler hands back the answer: the backend's time plus this proxy's own forwarding (reading the body,
//! a loopback hop, copying the answer), which a direct call would not pay. What the function spends
//! around it (connecting, signing, serialising, parsing the answer, its own logic) and the kernel's
//! loopback to and from this proxy stay on the function's side of the ledger.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Request spans recorded by every proxy of one bench run.
#[derive(Debug, Default)]
pub struct Waits {
    spans: Mutex<Vec<Span>>,
}

/// One backend request: when it reached the proxy, when its answer left, and what it was.
#[derive(Debug, Clone)]
pub struct Span {
    /// Its head reached the proxy's handler.
    pub from: Instant,
    /// The handler handed back the answer.
    pub to: Instant,
    /// The operation: an AWS `X-Amz-Target`, or the method and path (no query: it may carry tokens).
    pub what: String,
}

impl Waits {
    fn push(&self, from: Instant, to: Instant, what: String) {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Span { from, to, what });
    }

    /// The requests that began within `[from, to]`, in order.
    pub fn began_within(&self, from: Instant, to: Instant) -> Vec<Span> {
        let mut v: Vec<Span> = self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.from >= from && s.from <= to)
            .cloned()
            .collect();
        v.sort_by_key(|s| s.from);
        v
    }

    /// The time within `[from, to]` covered by at least one backend request (overlapping requests,
    /// such as a batch's parallel calls, count once), and how many requests overlap it.
    pub fn within(&self, from: Instant, to: Instant) -> (Duration, usize) {
        let mut spans: Vec<(Instant, Instant)> = self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.to > from && s.from < to)
            .map(|s| (s.from.max(from), s.to.min(to)))
            .collect();
        let count = spans.len();
        spans.sort_by_key(|s| s.0);
        let mut covered = Duration::ZERO;
        let mut open: Option<(Instant, Instant)> = None;
        for (a, b) in spans {
            open = match open {
                Some((oa, ob)) if a <= ob => Some((oa, ob.max(b))),
                Some((oa, ob)) => {
                    covered += ob - oa;
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((oa, ob)) = open {
            covered += ob - oa;
        }
        (covered, count)
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    waits: Arc<Waits>,
}

/// Headers that belong to one hop, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "content-length" | "proxy-connection"
    )
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "timing proxy: unreadable body").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let what = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| format!("{} {}", parts.method, parts.uri.path()), str::to_owned);
    let mut upstream = p
        .client
        .request(parts.method, format!("{}{path}", p.upstream))
        .body(body);
    // Host is kept: SigV4 signed it, and the Salesforce simulator builds `instance_url` from it, so
    // the calls after a login come back through this proxy too.
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("timing proxy: {e}")).into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("timing proxy: {e}")).into_response(),
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            out.headers_mut().append(name, value.clone());
        }
    }
    p.waits.push(arrived, Instant::now(), what);
    out
}

/// Starts a proxy to `upstream` (`http://host:port`, no trailing slash) on an ephemeral loopback port
/// and returns its base URL. It serves until the process ends.
///
/// # Errors
/// The port cannot be bound or the client cannot be built.
pub async fn start(upstream: &str, waits: Arc<Waits>) -> anyhow::Result<String> {
    let client = waybill_simulators::http_client_builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the timing proxy's client")?;
    let state = Proxy {
        upstream: upstream.trim_end_matches('/').to_owned(),
        client,
        waits,
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "timing proxy stopped");
        }
    });
    Ok(format!("http://{addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_count_once_and_spans_are_clipped_to_the_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let w = Waits::default();
        let push = |a: u64, b: u64| w.push(at(a), at(b), String::new());
        push(0, 10); // clipped to [5, 10]
        push(20, 30);
        push(25, 40); // overlaps the previous: [20, 40]
        push(50, 55);
        push(95, 120); // clipped to [95, 100]
        push(130, 140); // outside
        let (covered, count) = w.within(at(5), at(100));
        assert_eq!(covered, Duration::from_millis(5 + 20 + 5 + 5));
        assert_eq!(count, 5);
    }
}

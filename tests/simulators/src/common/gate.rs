//! The middleware in front of every vendor route: counts the call, applies rate limits and fault
//! rules, and logs one structured line per request (never payloads).

use super::faults::{FaultSet, RequestView};
use super::stats::Stats;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Largest request body the simulators buffer (well above anything the real APIs accept).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Locks a mutex, recovering the data if a previous holder panicked: a simulator must keep
/// answering rather than cascade one bug into every later request.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What each simulator plugs into the shared gate.
pub trait SimHooks: Clone + Send + Sync + 'static {
    /// Name used in logs.
    fn sim_name(&self) -> &'static str;
    fn faults(&self) -> &Mutex<FaultSet>;
    fn stats(&self) -> &Mutex<Stats>;
    /// Endpoint family for the call counters.
    fn family(&self, method: &Method, path: &str) -> &'static str;
    /// The vendor-shaped answer for an injected failure.
    fn fault_response(&self, status: u16, body: Option<Value>) -> Response;
    /// A vendor-level refusal checked before faults (e.g. a rate limit).
    fn pre_check(&self, _method: &Method, _path: &str) -> Option<Response> {
        None
    }
}

pub async fn gate<H: SimHooks>(State(h): State<H>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let family = h.family(&method, &path);
    let query: String = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    lock(h.stats()).record_request(family, method.as_str(), &path, &query);

    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            tracing::warn!(sim = h.sim_name(), %method, path, family, "request body too large or unreadable");
            return h.fault_response(413, None);
        }
    };

    if let Some(resp) = h.pre_check(&method, &path) {
        tracing::info!(sim = h.sim_name(), %method, path, family, status = resp.status().as_u16(), "refused before handling");
        return resp;
    }

    let body_text = String::from_utf8_lossy(&bytes);
    let outcome = lock(h.faults()).evaluate(&RequestView {
        method: method.as_str(),
        path: &path,
        query: &query,
        body: &body_text,
    });

    if !outcome.latency.is_zero() {
        tokio::time::sleep(outcome.latency).await;
    }
    if let Some((status, body)) = outcome.fail_before {
        tracing::info!(sim = h.sim_name(), %method, path, family, status, "injected failure");
        return h.fault_response(status, body);
    }

    let req = Request::from_parts(parts, Body::from(bytes));
    let resp = next.run(req).await;
    if let Some(status) = outcome.fail_after {
        tracing::info!(sim = h.sim_name(), %method, path, family, committed_status = resp.status().as_u16(), status,
            "injected failure after commit");
        return h.fault_response(status, None);
    }
    let resp = match outcome.truncate_list {
        Some(keep) if resp.status().is_success() => {
            tracing::info!(sim = h.sim_name(), %method, path, family, keep, "injected short list page");
            truncate_list(resp, keep).await
        }
        _ => resp,
    };
    let status = resp.status();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if status.is_server_error() {
        tracing::warn!(sim = h.sim_name(), %method, path, family, status = status.as_u16(), elapsed_ms, "request");
    } else {
        tracing::info!(sim = h.sim_name(), %method, path, family, status = status.as_u16(), elapsed_ms, "request");
    }
    resp
}

/// Cuts the `data` array of a JSON list answer to `keep` rows; anything else passes unchanged.
async fn truncate_list(resp: Response, keep: usize) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return empty_response(500);
    };
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if let Some(Value::Array(rows)) = value.get_mut("data") {
        rows.truncate(keep);
    }
    let mut out = json_response(parts.status.as_u16(), &value);
    *out.headers_mut() = parts.headers;
    out.headers_mut().remove(http::header::CONTENT_LENGTH);
    out
}

/// A JSON response with a status.
pub fn json_response(status: u16, body: &Value) -> Response {
    let mut resp = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}

/// An empty response with a status.
pub fn empty_response(status: u16) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

//! The `/__sim` control routes both simulators share: stats, reset, fault rules, session expiry.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::faults::FaultRule;
use super::gate::{empty_response, json_response, lock, SimHooks};

/// What the shared control routes need beyond the gate's hooks.
pub trait SimControl: SimHooks {
    /// Back to the configured seed (records, tokens, faults, stats).
    fn reset_all(&self);
    /// Invalidates every issued token now.
    fn expire_all_sessions(&self);
}

/// `GET /__sim/stats`, `POST /__sim/reset`, `POST|GET|DELETE /__sim/faults`, `POST /__sim/expire-sessions`.
pub fn routes<S: SimControl>() -> Router<S> {
    Router::new()
        .route("/__sim/stats", get(stats::<S>))
        .route("/__sim/reset", post(reset::<S>))
        .route(
            "/__sim/faults",
            post(add_fault::<S>).get(list_faults::<S>).delete(clear_faults::<S>),
        )
        .route("/__sim/expire-sessions", post(expire::<S>))
}

async fn stats<S: SimControl>(State(st): State<S>) -> Response {
    let snapshot = lock(SimHooks::stats(&st)).snapshot();
    json_response(200, &serde_json::to_value(snapshot).unwrap_or(Value::Null))
}

async fn reset<S: SimControl>(State(st): State<S>) -> Response {
    st.reset_all();
    empty_response(204)
}

async fn add_fault<S: SimControl>(State(st): State<S>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => json_response(201, &json!({"id": lock(SimHooks::faults(&st)).add(rule)})),
        Err(e) => json_response(400, &json!({"error": format!("invalid fault rule: {e}")})),
    }
}

async fn list_faults<S: SimControl>(State(st): State<S>) -> Response {
    let list: Vec<Value> = lock(SimHooks::faults(&st))
        .list()
        .into_iter()
        .map(|(id, r)| json!({"id": id, "rule": r}))
        .collect();
    json_response(200, &Value::Array(list))
}

async fn clear_faults<S: SimControl>(State(st): State<S>) -> Response {
    lock(SimHooks::faults(&st)).clear();
    empty_response(204)
}

async fn expire<S: SimControl>(State(st): State<S>) -> Response {
    st.expire_all_sessions();
    empty_response(204)
}

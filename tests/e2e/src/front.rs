//! The HTTP front: plays API Gateway HTTP API for every `HttpApi` event in the template, turning a real
//! HTTP request into a payload-format-2.0 event, invoking the function and turning its answer back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::functions::LocalFunction;
use crate::template::ACCOUNT_ID;

/// API Gateway HTTP APIs refuse payloads over 10 MB.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// One route: method (or ANY) + path pattern → function.
#[derive(Debug, Clone)]
pub struct Route {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path with optional `{param}` segments.
    pub path: String,
    /// The function.
    pub function: Arc<LocalFunction>,
}

#[derive(Clone)]
struct FrontState {
    routes: Arc<Vec<Route>>,
    api_id: String,
    requests: Arc<std::sync::atomic::AtomicU64>,
}

/// The router; serve it with `into_make_service_with_connect_info::<SocketAddr>()`. Every request it
/// answers (as API Gateway bills them, routed or not) is counted in `requests`.
pub fn router(routes: Vec<Route>, api_id: &str, requests: Arc<std::sync::atomic::AtomicU64>) -> Router {
    Router::new().fallback(handle).with_state(FrontState {
        routes: Arc::new(routes),
        api_id: api_id.to_owned(),
        requests,
    })
}

fn match_path(pattern: &str, path: &str) -> Option<Map<String, Value>> {
    let ps: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let xs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if ps.len() != xs.len() {
        return None;
    }
    let mut params = Map::new();
    for (p, x) in ps.iter().zip(&xs) {
        if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.insert(name.to_owned(), Value::String((*x).to_owned()));
        } else if p != x {
            return None;
        }
    }
    Some(params)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

async fn handle(State(st): State<FrontState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    st.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let found = st.routes.iter().find_map(|r| {
        let method_ok = r.method == "ANY" || r.method == method;
        match_path(&r.path, &path)
            .filter(|_| method_ok)
            .map(|params| (r, params))
    });
    let Some((route, path_params)) = found else {
        info!(method = %method, path = %path, "no route");
        return error(
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
            &format!("no route for {method} {path}"),
        );
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_PAYLOAD).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "request body exceeds 10 MB",
        );
    };
    let event = to_event(
        &parts,
        &bytes,
        &route.method,
        &route.path,
        path_params,
        peer,
        &st.api_id,
    );
    match route.function.invoke(event).await {
        Ok(v) => from_result(&v),
        Err(e) => {
            warn!(function = %route.function.spec.name, error.message = %e, "integration failed");
            // What API Gateway answers when the Lambda integration fails.
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(http::header::CONTENT_TYPE, "application/json")],
                r#"{"message":"Internal Server Error"}"#,
            )
                .into_response()
        }
    }
}

/// Builds the HTTP API payload format 2.0 event.
fn to_event(
    parts: &http::request::Parts,
    body: &[u8],
    route_method: &str,
    route_path: &str,
    path_params: Map<String, Value>,
    peer: SocketAddr,
    api_id: &str,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == http::header::COOKIE {
            cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.split(';'))
                    .map(|c| Value::String(c.trim().to_owned())),
            );
            continue;
        }
        // HTTP API joins repeated headers with commas and lower-cases names.
        headers.insert(name.as_str().to_ascii_lowercase(), Value::String(values.join(",")));
    }
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query = Map::new();
    for (k, v) in url_pairs(&raw_query) {
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let now = OffsetDateTime::now_utc();
    let time = now
        .format(time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        ))
        .unwrap_or_default();
    let (body_value, is_b64) = if body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(s) => (Value::String(s.to_owned()), false),
            Err(_) => (
                Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            ),
        }
    };
    let route_key = format!("{route_method} {route_path}");
    let protocol = format!("{:?}", parts.version);
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": headers_host(&parts.headers).unwrap_or_else(|| format!("{api_id}.execute-api.localhost")),
            "domainPrefix": api_id,
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": protocol,
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": time,
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": is_b64,
    });
    if let Value::Object(m) = &mut ev {
        if !cookies.is_empty() {
            m.insert("cookies".into(), Value::Array(cookies));
        }
        // HTTP API omits these keys when empty, rather than sending {} or null.
        if !query.is_empty() {
            m.insert("queryStringParameters".into(), Value::Object(query));
        }
        if !path_params.is_empty() {
            m.insert("pathParameters".into(), Value::Object(path_params));
        }
        if !body_value.is_null() {
            m.insert("body".into(), body_value);
        }
    }
    ev
}

fn headers_host(h: &HeaderMap) -> Option<String> {
    h.get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Converts the function's result: a `{statusCode, headers, body, isBase64Encoded}` object, or (as
/// HTTP API does for format 2.0) any other JSON as a 200 `application/json` body.
fn from_result(v: &Value) -> Response {
    let Some(status) = v.get("statusCode").and_then(Value::as_u64) else {
        return (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response();
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for key in ["headers", "multiValueHeaders"] {
        if let Some(Value::Object(h)) = v.get(key) {
            for (k, val) in h {
                let values: Vec<String> = match val {
                    Value::Array(a) => a.iter().filter_map(crate::template::json_text).collect(),
                    other => crate::template::json_text(other).into_iter().collect(),
                };
                for value in values {
                    if let (Ok(n), Ok(hv)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&value)) {
                        headers.append(n, hv);
                    }
                }
            }
        }
    }
    let raw = v.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if v.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap_or_default()
    } else {
        raw.as_bytes().to_vec()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_match_literal_and_parameter_segments() {
        assert!(match_path("/webhooks/salesforce", "/webhooks/salesforce").is_some());
        assert!(match_path("/webhooks/salesforce", "/webhooks/other").is_none());
        let p = match_path("/orders/{id}", "/orders/42").expect("match");
        assert_eq!(p["id"], "42");
    }

    #[test]
    fn a_function_result_without_status_code_is_a_200_json_body() {
        let r = from_result(&json!({"ok": true}));
        assert_eq!(r.status(), StatusCode::OK);
    }
}

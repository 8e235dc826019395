//! Salesforce simulator: OAuth client-credentials, the REST data API (sObjects, upsert,
//! Collections, Composite, SOQL) with Salesforce's limits, error bodies and usage header.

pub mod error;
pub mod ids;
pub mod rest;
pub mod schema;
pub mod soql;
pub mod store;

use crate::common::faults::{FaultRule, FaultSet};
use crate::common::gate::{empty_response, gate, json_response, lock, SimHooks};
use crate::common::server::{bind, RunningSim};
use crate::common::stats::{Stats, StatsSnapshot};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine;
use error::ApiError;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Method, Uri};
use rand::Rng;
use rest::{dispatch, percent_decode, SfRequest};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{Store, WriteMode};
use time::OffsetDateTime;

/// Lowest REST API version the simulator serves (`created` in upsert results needs v46.0,
/// salesforce-api.md §2 [18]).
pub const MIN_VERSION: (u32, u32) = (46, 0);

/// A record loaded at start-up and on reset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRecord {
    pub sobject: String,
    pub fields: Value,
}

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// 0 = ephemeral.
    pub port: u16,
    pub client_id: String,
    pub client_secret: String,
    /// Daily API request allocation reported in `Sforce-Limit-Info` (salesforce-api.md §2 [37][38]).
    pub api_limit: u64,
    pub org_id: String,
    pub user_id: String,
    /// Idle time after which a token stops working (default 2 h, salesforce-api.md §1 [13]).
    pub token_lifetime: Duration,
    /// Answer an upsert that updated with 204 instead of 200 + body (open question, see README).
    pub upsert_update_returns_204: bool,
    pub seed: Vec<SeedRecord>,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            port: 0,
            client_id: "waybill-sim-client".into(),
            client_secret: "waybill-sim-secret".into(),
            api_limit: 15_000,
            org_id: ids::make_id("00D", 4_200_042),
            user_id: ids::make_id("005", 4_200_042),
            token_lifetime: Duration::from_secs(2 * 60 * 60),
            upsert_update_returns_204: false,
            seed: Vec::new(),
        }
    }
}

/// A parked query result for `query/{locator}` paging.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub records: Vec<Value>,
    pub total: usize,
    pub batch: usize,
}

/// Mutable org data; one lock so a composite or collection call is atomic.
#[derive(Debug, Default)]
pub struct SfData {
    pub(crate) store: Store,
    tokens: HashMap<String, Instant>,
    api_used: u64,
    pub(crate) cursors: HashMap<String, Cursor>,
    pub(crate) next_cursor: u64,
}

#[derive(Debug)]
struct SfInner {
    config: SalesforceConfig,
    data: Mutex<SfData>,
    faults: Mutex<FaultSet>,
    stats: Mutex<Stats>,
    base_url: Mutex<Option<String>>,
}

/// Cloneable handle on one simulated org: in-process control for tests.
#[derive(Debug, Clone)]
pub struct SalesforceState {
    inner: Arc<SfInner>,
}

fn seeded_store(config: &SalesforceConfig) -> anyhow::Result<Store> {
    let mut store = Store::default();
    for rec in &config.seed {
        seed_into(&mut store, &rec.sobject, &rec.fields).map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    }
    Ok(store)
}

fn seed_into(store: &mut Store, sobject: &str, fields: &Value) -> Result<String, ApiError> {
    let obj = schema::schema().object(sobject).ok_or_else(ApiError::not_found)?;
    let map = fields
        .as_object()
        .ok_or_else(|| ApiError::json_parser("seed fields must be a JSON object"))?;
    store.create(obj, map, WriteMode::Seed, OffsetDateTime::now_utc())
}

impl SalesforceState {
    pub fn new(config: SalesforceConfig) -> anyhow::Result<Self> {
        let store = seeded_store(&config)?;
        Ok(Self {
            inner: Arc::new(SfInner {
                config,
                data: Mutex::new(SfData {
                    store,
                    ..SfData::default()
                }),
                faults: Mutex::new(FaultSet::default()),
                stats: Mutex::new(Stats::default()),
                base_url: Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &SalesforceConfig {
        &self.inner.config
    }

    /// Adds a fault rule; returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        lock(&self.inner.faults).add(rule)
    }

    /// Reseeds the generator behind probabilistic fault rules (a chaos run's seed).
    pub fn seed_faults(&self, seed: u64) {
        lock(&self.inner.faults).seed(seed);
    }

    /// Removes one fault rule.
    pub fn remove_fault(&self, id: u64) {
        lock(&self.inner.faults).remove(id);
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    pub fn faults(&self) -> Vec<(u64, FaultRule)> {
        lock(&self.inner.faults).list()
    }

    pub fn stats(&self) -> StatsSnapshot {
        lock(&self.inner.stats).snapshot()
    }

    /// Vendor requests seen since the last reset (oldest first, at most the last 1000).
    pub fn requests(&self) -> Vec<crate::common::stats::RecordedRequest> {
        lock(&self.inner.stats).requests()
    }

    /// Back to the configured seed: records, tokens, API usage, cursors, faults and stats.
    pub fn reset(&self) {
        let store = seeded_store(&self.inner.config).unwrap_or_default();
        *lock(&self.inner.data) = SfData {
            store,
            ..SfData::default()
        };
        lock(&self.inner.faults).clear();
        lock(&self.inner.stats).reset();
    }

    /// Invalidates every issued token: the next data call answers 401 `INVALID_SESSION_ID`.
    pub fn expire_sessions(&self) {
        lock(&self.inner.data).tokens.clear();
    }

    /// Sets the API usage counter (e.g. to the limit, to provoke `REQUEST_LIMIT_EXCEEDED`).
    pub fn set_api_usage(&self, used: u64) {
        lock(&self.inner.data).api_used = used;
    }

    pub fn api_usage(&self) -> u64 {
        lock(&self.inner.data).api_used
    }

    /// Issues a valid access token without an OAuth round trip (not counted in stats).
    pub fn issue_token(&self) -> String {
        let token = new_token(&self.inner.config.org_id);
        lock(&self.inner.data).tokens.insert(token.clone(), Instant::now());
        token
    }

    /// Inserts a record with seed rules (may set Id and read-only fields; skips required and
    /// reference-existence checks). Returns the 18-char id.
    pub fn seed(&self, sobject: &str, fields: Value) -> anyhow::Result<String> {
        seed_into(&mut lock(&self.inner.data).store, sobject, &fields)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }

    /// A person editing a record in the Salesforce UI: API validation, counted in field history, not
    /// in API stats.
    pub fn user_update(&self, sobject: &str, id: &str, fields: Value) -> anyhow::Result<()> {
        let obj = schema::schema()
            .object(sobject)
            .ok_or_else(|| anyhow::anyhow!("no sobject {sobject}"))?;
        let map = fields
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("fields must be a JSON object"))?;
        lock(&self.inner.data)
            .store
            .update(obj, id, map, WriteMode::Api, OffsetDateTime::now_utc())
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    }

    /// Every value one field of one record took through updates, oldest first (field history
    /// tracking; creation values are the first change's `old`).
    pub fn field_history(&self, sobject: &str, id: &str, field: &str) -> Vec<store::FieldChange> {
        let name = schema::schema().object(sobject).map_or(sobject, |o| o.name);
        lock(&self.inner.data).store.field_history(name, id, field)
    }

    /// All records of a type as stored (every field, canonical names), in creation order.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        let data = lock(&self.inner.data);
        let name = schema::schema().object(sobject).map(|o| o.name).unwrap_or(sobject);
        data.store
            .all(name)
            .into_iter()
            .map(|r| Value::Object(r.clone()))
            .collect()
    }

    pub fn record(&self, sobject: &str, id: &str) -> Option<Value> {
        let data = lock(&self.inner.data);
        let name = schema::schema().object(sobject).map(|o| o.name)?;
        data.store.get(name, id).map(|r| Value::Object(r.clone()))
    }

    /// Records whose `field` equals `value` (case-insensitive for text).
    pub fn find(&self, sobject: &str, field: &str, value: &str) -> Vec<Value> {
        self.records(sobject)
            .into_iter()
            .filter(|r| {
                r.as_object()
                    .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)))
                    .is_some_and(|(_, v)| match v {
                        Value::String(s) => s.eq_ignore_ascii_case(value),
                        Value::Number(n) => n.as_f64().is_some_and(|f| value.parse::<f64>().ok() == Some(f)),
                        Value::Bool(b) => value.parse::<bool>().ok() == Some(*b),
                        _ => false,
                    })
            })
            .collect()
    }

    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(b) = lock(&self.inner.base_url).clone() {
            return b;
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

impl crate::common::admin::SimControl for SalesforceState {
    fn reset_all(&self) {
        self.reset();
    }
    fn expire_all_sessions(&self) {
        self.expire_sessions();
    }
}

impl SimHooks for SalesforceState {
    fn sim_name(&self) -> &'static str {
        "salesforce"
    }

    fn faults(&self) -> &Mutex<FaultSet> {
        &self.inner.faults
    }

    fn stats(&self) -> &Mutex<Stats> {
        &self.inner.stats
    }

    fn family(&self, _method: &Method, path: &str) -> &'static str {
        if path.starts_with("/services/oauth2") {
            return "oauth";
        }
        let rest = path.strip_prefix("/services/data").unwrap_or("");
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).skip(1).collect();
        match segs.as_slice() {
            [] => "versions",
            ["query", ..] => "query",
            ["composite", "sobjects", ..] => "composite/sobjects",
            ["composite", ..] => "composite",
            ["sobjects", ..] => "sobjects",
            _ => "other",
        }
    }

    fn fault_response(&self, status: u16, body: Option<Value>) -> Response {
        let body = body.unwrap_or_else(|| match status {
            429 | 403 => ApiError::new(status, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").body(),
            503 => ApiError::new(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable.").body(),
            s if s >= 500 => ApiError::new(
                s,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1811183525-70544 (-1386392817)",
            )
            .body(),
            s => ApiError::new(s, "BAD_REQUEST", "Injected failure").body(),
        });
        json_response(status, &body)
    }
}

/// Parses `v62.0` into (62, 0) when it is a version the simulator serves.
pub(crate) fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.strip_prefix('v')?.split_once('.')?;
    let parsed = (major.parse().ok()?, minor.parse().ok()?);
    (parsed >= MIN_VERSION).then_some(parsed)
}

fn new_token(org_id: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
    let mut rng = rand::rng();
    let tail: String = (0..96)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let org15: String = org_id.chars().take(15).collect();
    format!("{org15}!AR{tail}")
}

fn sf_error(e: &ApiError) -> Response {
    json_response(e.status, &e.body())
}

/// salesforce-api.md §1 [7][8][9]: client-credentials token endpoint.
async fn oauth_token(State(st): State<SalesforceState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let oauth_err = |code: &str, desc: &str| json_response(400, &json!({"error": code, "error_description": desc}));
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_err("unsupported_grant_type", "grant type not supported");
    }
    let cfg = &st.inner.config;
    if form.get("client_id") != Some(&cfg.client_id) {
        return oauth_err("invalid_client_id", "client identifier invalid");
    }
    if form.get("client_secret") != Some(&cfg.client_secret) {
        return oauth_err("invalid_client", "invalid client credentials");
    }
    let token = st.issue_token();
    let base = st.base_url(&headers);
    let issued_at = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let id_url = format!("{base}/id/{}/{}", cfg.org_id, cfg.user_id);
    // Salesforce signs id + issued_at with the client secret (HMAC-SHA256, base64).
    let signature = Hmac::<Sha256>::new_from_slice(cfg.client_secret.as_bytes())
        .map(|mut mac| {
            mac.update(id_url.as_bytes());
            mac.update(issued_at.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    json_response(
        200,
        &json!({
            "access_token": token,
            "signature": signature,
            "scope": "api",
            "instance_url": base,
            "id": id_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }),
    )
}

async fn versions() -> Response {
    let list: Vec<Value> = (46..=62)
        .map(|m| json!({"label": format!("API {m}.0"), "url": format!("/services/data/v{m}.0"), "version": format!("{m}.0")}))
        .collect();
    json_response(200, &Value::Array(list))
}

/// Every `/services/data/vXX.X/...` call: version check, session check, API usage, dispatch.
async fn data_api(
    State(st): State<SalesforceState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix("/services/data/").unwrap_or("");
    let mut parts = rest.split('/');
    let version = parts.next().unwrap_or_default().to_string();
    if parse_version(&version).is_none() {
        return sf_error(&ApiError::not_found());
    }
    let segments: Vec<String> = parts.map(percent_decode).collect();

    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("OAuth ")))
        .map(str::trim)
        .map(str::to_string);
    let cfg = &st.inner.config;
    let mut data = lock(&st.inner.data);
    let valid = match token.as_deref().and_then(|t| data.tokens.get_mut(t)) {
        Some(last_used) if last_used.elapsed() < cfg.token_lifetime => {
            // Sessions time out after inactivity, so every use extends the session.
            *last_used = Instant::now();
            true
        }
        _ => false,
    };
    if !valid {
        if let Some(t) = &token {
            data.tokens.remove(t);
        }
        // salesforce-api.md §1 [11][12].
        return json_response(
            401,
            &json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        );
    }

    data.api_used += 1;
    let limit_header = format!("api-usage={}/{}", data.api_used, cfg.api_limit);
    let resp = if data.api_used > cfg.api_limit {
        // salesforce-api.md §2 [34][39].
        sf_error(&ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ))
    } else {
        let batch_size = headers
            .get("sforce-query-options")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                h.split(',')
                    .filter_map(|kv| kv.trim().strip_prefix("batchSize="))
                    .find_map(|v| v.trim().parse::<usize>().ok())
            })
            .unwrap_or(rest::QUERY_BATCH_MAX);
        let req = SfRequest {
            method,
            version,
            segments,
            query: uri.query().unwrap_or_default().to_string(),
            body: body.to_vec(),
            batch_size,
            upsert_update_204: cfg.upsert_update_returns_204,
            now: OffsetDateTime::now_utc(),
        };
        let out = dispatch(&mut data, &req);
        let mut resp = match &out.body {
            Some(b) => json_response(out.status, b),
            None => empty_response(out.status),
        };
        for (k, v) in &out.headers {
            if let (Ok(name), Ok(val)) = (http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                resp.headers_mut().insert(name, val);
            }
        }
        resp
    };
    drop(data);
    let mut resp = resp;
    if let Ok(v) = HeaderValue::from_str(&limit_header) {
        // salesforce-api.md §2 [37]: on every REST response.
        resp.headers_mut().insert("sforce-limit-info", v);
    }
    resp
}

async fn not_found() -> Response {
    sf_error(&ApiError::not_found())
}

// ---- admin (/__sim) ----

async fn admin_records(State(st): State<SalesforceState>, Path(ty): Path<String>) -> Response {
    match schema::schema().object(&ty) {
        Some(_) => json_response(200, &Value::Array(st.records(&ty))),
        None => json_response(404, &json!({"error": format!("unknown sObject type {ty}")})),
    }
}

async fn admin_seed(State(st): State<SalesforceState>, Path(ty): Path<String>, body: Bytes) -> Response {
    let fields: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return json_response(400, &json!({"error": format!("invalid JSON: {e}")})),
    };
    let items = match fields {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut ids = Vec::new();
    for item in items {
        match st.seed(&ty, item) {
            Ok(id) => ids.push(id),
            Err(e) => return json_response(400, &json!({"error": e.to_string(), "created": ids})),
        }
    }
    if ids.len() == 1 {
        json_response(201, &json!({"id": ids[0]}))
    } else {
        json_response(201, &json!({"ids": ids}))
    }
}

#[derive(Deserialize)]
struct UsageBody {
    used: u64,
}

async fn admin_set_usage(State(st): State<SalesforceState>, Json(b): Json<UsageBody>) -> Response {
    st.set_api_usage(b.used);
    json_response(
        200,
        &json!({"used": st.api_usage(), "limit": st.inner.config.api_limit}),
    )
}

async fn admin_get_usage(State(st): State<SalesforceState>) -> Response {
    json_response(
        200,
        &json!({"used": st.api_usage(), "limit": st.inner.config.api_limit}),
    )
}

/// The full router (vendor routes behind the fault gate, plus `/__sim` admin routes).
pub fn router(state: SalesforceState) -> Router {
    let vendor = Router::new()
        .route("/services/oauth2/token", post(oauth_token))
        .route("/services/data", get(versions))
        .route("/services/data/", get(versions))
        .route("/services/data/{*rest}", any(data_api))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::<SalesforceState>,
        ));
    let admin = crate::common::admin::routes::<SalesforceState>()
        .route(
            "/__sim/salesforce/records/{sobject}",
            get(admin_records).post(admin_seed),
        )
        .route(
            "/__sim/salesforce/api-usage",
            post(admin_set_usage).get(admin_get_usage),
        );
    admin.merge(vendor).with_state(state)
}

/// Starts the simulator on `127.0.0.1:<config.port>`.
#[derive(Debug)]
pub struct SalesforceSim;

impl SalesforceSim {
    pub async fn start(config: SalesforceConfig) -> anyhow::Result<RunningSim<SalesforceState>> {
        let port = config.port;
        let state = SalesforceState::new(config)?;
        let running = bind(port, state.clone(), router(state.clone())).await?;
        *lock(&state.inner.base_url) = Some(running.base_url());
        tracing::info!(sim = "salesforce", base_url = %running.base_url(), "simulator listening");
        Ok(running)
    }

    pub fn router(state: SalesforceState) -> Router {
        router(state)
    }
}

/// A small org for the local stack: one account, product, location, delivery method, order
/// summary and an Allocated fulfillment order with one line.
pub fn demo_seed() -> Vec<SeedRecord> {
    let acct = ids::make_id("001", 1_000_001);
    let prod = ids::make_id("01t", 1_000_001);
    let loc = ids::make_id("131", 1_000_001);
    let dm = ids::make_id("2Dm", 1_000_001);
    let os = ids::make_id("1Os", 1_000_001);
    let fo = ids::make_id("0a3", 1_000_001);
    let foli = ids::make_id("0a4", 1_000_001);
    let rec = |sobject: &str, fields: Value| SeedRecord {
        sobject: sobject.to_string(),
        fields,
    };
    vec![
        rec("Account", json!({"Id": acct, "Name": "Demo Customer"})),
        rec(
            "Product2",
            json!({"Id": prod, "Name": "Demo Widget", "StockKeepingUnit": "SKU-1", "ProductCode": "W-1", "QuantityUnitOfMeasure": "Each", "IsActive": true}),
        ),
        rec(
            "Location",
            json!({"Id": loc, "Name": "Main Warehouse", "ExternalReference": "WH1", "LocationType": "Warehouse"}),
        ),
        rec(
            "OrderDeliveryMethod",
            json!({"Id": dm, "Name": "UPS Ground", "Carrier": "UPS", "ClassOfService": "Ground", "IsActive": true}),
        ),
        rec(
            "OrderSummary",
            json!({"Id": os, "AccountId": acct, "CurrencyIsoCode": "USD", "OrderedDate": "2026-11-20T10:00:00Z", "Status": "Approved"}),
        ),
        rec(
            "FulfillmentOrder",
            json!({"Id": fo, "Status": "Allocated", "OrderSummaryId": os, "DeliveryMethodId": dm,
            "FulfilledFromLocationId": loc, "FulfilledToName": "Ann Example", "FulfilledToStreet": "1 Main St",
            "FulfilledToCity": "Springfield", "FulfilledToState": "IL", "FulfilledToPostalCode": "62701",
            "FulfilledToCountry": "US", "FulfilledToPhone": "555-0100", "FulfilledToEmailAddress": "ann@example.com",
            "ItemCount": 1, "Type": "Warehouse", "TotalProductAmount": 20.0, "TotalTaxAmount": 1.6, "GrandTotalAmount": 21.6,
            "CurrencyIsoCode": "USD", "AccountId": acct}),
        ),
        rec(
            "FulfillmentOrderLineItem",
            json!({"Id": foli, "FulfillmentOrderId": fo, "Product2Id": prod, "Quantity": 2,
            "OriginalQuantity": 2, "UnitPrice": 10.0, "TotalTaxAmount": 1.6, "TotalLineAmount": 20.0,
            "Type": "Order Product", "TypeCode": "Product", "Description": "Demo Widget", "QuantityUnitOfMeasure": "Each"}),
        ),
    ]
}

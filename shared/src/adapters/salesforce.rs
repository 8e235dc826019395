//! Salesforce Order Management adapter: `SalesforceApi` over the REST API — OAuth client credentials
//! (salesforce-api.md §1), SOQL and sObject Collections upserts (§2), SOM objects (§5).
//!
//! Every write is an upsert keyed on an external id, so a retry after a 5xx — even one where Salesforce
//! committed before failing — updates the same records instead of creating duplicates.

mod convert;
pub mod inbound;
mod profile;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use async_trait::async_trait;
use http::{HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use convert::InventoryFields;
pub use profile::{FixedValue, ItemObject, OrderObject, ShipToFields, ShipmentObject, WriteProfile};

use self::convert::{CollectionResult, OrderReadOptions, RecordError};
use super::http_client::{Body, CallCounts, HttpClient, HttpSettings, Request, Response, SendError};
use crate::domain::{CurrencyCode, SalesforceId};
use crate::lifecycle::{Side, Stage, StatusTable};
use crate::ports::{
    secret_json, ApiFieldError, InventoryRecord, OrderRead, RecordOutcome, SalesforceApi, SalesforceError,
    SecretProvider, ShipmentRecord, StatusUpdate,
};

/// sObject Collections take at most 200 records per call (§2 [22][23]); 200 quoted ids also keep the
/// SOQL URL well under Salesforce's URI length limit.
const CHUNK: usize = 200;

/// Above this share of the daily API allocation we log a warning (§2 [37][38]).
const USAGE_WARN_PERCENT: u64 = 80;

/// Configuration of the SOM adapter.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Secret holding `{"login_url","client_id","client_secret"}`.
    pub secret_id: String,
    /// REST API version, e.g. `v62.0` (upsert results carry `created` from v46.0, §2 [18]).
    pub api_version: String,
    /// External-id field on the shipment and shipment item objects.
    pub shipment_external_id_field: String,
    /// The objects and fields written (Order Management by default).
    pub profile: WriteProfile,
    /// Inventory custom object.
    pub inventory_object: String,
    /// Its external-id field (unique).
    pub inventory_external_id_field: String,
    /// Its field names.
    pub inventory_fields: InventoryFields,
    /// Currency field on FulfillmentOrder (`CurrencyIsoCode`, which exists only in multi-currency orgs);
    /// None for single-currency orgs.
    pub currency_field: Option<String>,
    /// Currency for records without one (single-currency orgs).
    pub default_currency: Option<CurrencyCode>,
    /// HTTP timeouts, rate (default 20 req/s) and retries.
    pub http: HttpSettings,
}

impl SalesforceConfig {
    /// Defaults for everything but the secret.
    pub fn new(secret_id: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            api_version: "v62.0".into(),
            shipment_external_id_field: "Waybill_External_Id__c".into(),
            profile: WriteProfile::order_management(),
            inventory_object: "Inventory_Position__c".into(),
            inventory_external_id_field: "Waybill_Position_Key__c".into(),
            inventory_fields: InventoryFields::default(),
            currency_field: Some("CurrencyIsoCode".into()),
            default_currency: None,
            http: HttpSettings::with_rate(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN)),
        }
    }
}

/// The latest `Sforce-Limit-Info: api-usage=N/M` seen (§2 [37]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Calls used in the rolling 24 h.
    pub used: u64,
    /// The org's allocation.
    pub limit: u64,
}

impl ApiUsage {
    /// Used share in whole percent.
    pub fn percent(&self) -> u64 {
        self.used.saturating_mul(100).checked_div(self.limit).unwrap_or(100)
    }
}

#[derive(Deserialize)]
struct CredentialsJson {
    login_url: String,
    client_id: String,
    client_secret: SecretString,
}

/// How a session is obtained. Only the client-credentials flow today (§1); the JWT bearer flow would be a
/// second variant (consumer key, username, signing key) producing its own form, with nothing else changing.
enum Grant {
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
}

impl Grant {
    fn form(&self) -> SecretString {
        match self {
            Self::ClientCredentials {
                client_id,
                client_secret,
            } => url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", client_id)
                .append_pair("client_secret", client_secret.expose_secret())
                .finish()
                .into(),
        }
    }
}

struct Login {
    token_url: url::Url,
    grant: Grant,
}

struct Session {
    token: SecretString,
    instance_url: url::Url,
    generation: u64,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: SecretString,
    instance_url: String,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    records: Vec<Value>,
}

/// Where a call goes.
enum Endpoint<'a> {
    /// `/services/data/{version}/` + these path segments (each percent-encoded) + query pairs.
    Data(&'a [&'a str], &'a [(&'a str, &'a str)]),
    /// An absolute path on the instance returned by Salesforce (e.g. `nextRecordsUrl`).
    Path(&'a str),
}

/// The SOM adapter.
pub struct SalesforceOm {
    config: SalesforceConfig,
    secrets: Arc<dyn SecretProvider>,
    http: HttpClient,
    login: Mutex<Option<Arc<Login>>>,
    session: Mutex<Option<Arc<Session>>>,
    /// A session fetch that just failed transiently is not repeated by every queued call.
    session_failed: super::http_client::FetchBackoff,
    generation: AtomicU64,
    usage: std::sync::Mutex<Option<ApiUsage>>,
    warned_percent: AtomicU64,
}

impl std::fmt::Debug for SalesforceOm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceOm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SalesforceOm {
    /// Builds the adapter. Credentials are read from the secret on first use and cached.
    ///
    /// # Errors
    /// `Transport` when the HTTP client cannot be built (TLS setup).
    pub fn new(config: SalesforceConfig, secrets: Arc<dyn SecretProvider>) -> Result<Self, SalesforceError> {
        let http = HttpClient::new("salesforce", config.http.clone()).map_err(SalesforceError::Transport)?;
        Ok(Self {
            config,
            secrets,
            http,
            login: Mutex::new(None),
            session: Mutex::new(None),
            session_failed: super::http_client::FetchBackoff::default(),
            generation: AtomicU64::new(0),
            usage: std::sync::Mutex::new(None),
            warned_percent: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// API calls made so far, by endpoint family (`oauth`, `query`, `composite/sobjects`, `sobjects`).
    pub fn call_counts(&self) -> CallCounts {
        self.http.counts()
    }

    /// The latest API usage Salesforce reported, if any call has been answered yet.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// No retry starts after this instant (e.g. the Lambda deadline minus a margin); None clears it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.http.set_deadline(deadline);
    }

    /// Reads one record by external id with a vendor-native GET (`/sobjects/{object}/{field}/{value}`, §2 [16]).
    /// Used by tests and the local stack to check outcomes.
    ///
    /// # Errors
    /// `Rejected` when several records match (300); `NotFound` when the field is not an external id;
    /// the usual whole-call errors otherwise.
    pub async fn get_by_external_id(
        &self,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Value>, SalesforceError> {
        let resp = self
            .call(
                "sobjects",
                Method::GET,
                Endpoint::Data(&["sobjects", object, field, value], &[]),
                None,
            )
            .await?;
        match resp.status.as_u16() {
            200 => serde_json::from_slice(&resp.body)
                .map(Some)
                .map_err(|e| SalesforceError::Decode(e.to_string())),
            300 => Err(SalesforceError::Rejected(vec![ApiFieldError {
                code: "MULTIPLE_CHOICES".into(),
                message: format!("more than one {object} has {field} = {value}"),
                fields: vec![field.to_owned()],
            }])),
            404 => match error_from(resp.status, &resp.body) {
                // An unknown external-id field is also a 404 NOT_FOUND (§2 [18]); that is a configuration
                // error, not an absent record.
                SalesforceError::NotFound(m) if m.to_ascii_lowercase().contains("external id field") => {
                    Err(SalesforceError::NotFound(m))
                }
                _ => Ok(None),
            },
            _ => Err(error_from(resp.status, &resp.body)),
        }
    }

    // ---- auth ------------------------------------------------------------------------------------

    async fn login(&self) -> Result<Arc<Login>, SalesforceError> {
        let mut guard = self.login.lock().await;
        if let Some(l) = guard.as_ref() {
            return Ok(l.clone());
        }
        let creds: CredentialsJson = secret_json(self.secrets.as_ref(), &self.config.secret_id).await?;
        let base = url::Url::parse(creds.login_url.trim_end_matches('/')).map_err(|e| {
            SalesforceError::Secret(crate::ports::SecretError::Malformed {
                id: self.config.secret_id.clone(),
                reason: format!("login_url is not a URL: {e}"),
            })
        })?;
        let token_url = base
            .join("/services/oauth2/token")
            .map_err(|e| SalesforceError::Decode(e.to_string()))?;
        let login = Arc::new(Login {
            token_url,
            grant: Grant::ClientCredentials {
                client_id: creds.client_id,
                client_secret: creds.client_secret,
            },
        });
        *guard = Some(login.clone());
        Ok(login)
    }

    /// The cached session, or a new one. Holding the lock while fetching makes concurrent callers share one
    /// token request instead of each fetching their own.
    async fn session(&self) -> Result<Arc<Session>, SalesforceError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = self.fetch_token_once().await?;
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Replaces the session that just got a 401, unless another caller already did.
    async fn renew(&self, stale_generation: u64) -> Result<Arc<Session>, SalesforceError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            if s.generation != stale_generation {
                return Ok(s.clone());
            }
        }
        *guard = None;
        let s = self.fetch_token_once().await?;
        *guard = Some(s.clone());
        Ok(s)
    }

    /// `fetch_token`, unless one just failed transiently (then a transient error at once).
    async fn fetch_token_once(&self) -> Result<Arc<Session>, SalesforceError> {
        self.session_failed
            .fetch(self.fetch_token(), |ago| {
                SalesforceError::Unavailable(format!(
                    "authentication failed {} ms ago; not retried yet",
                    ago.as_millis()
                ))
            })
            .await
    }

    async fn fetch_token(&self) -> Result<Arc<Session>, SalesforceError> {
        let login = self.login().await?;
        let req = Request {
            family: "oauth",
            method: Method::POST,
            url: login.token_url.clone(),
            bearer: None,
            body: Some(Body::Form(login.grant.form())),
        };
        let resp = self.http.send(req).await.map_err(send_error)?;
        if resp.status == StatusCode::OK {
            let reply: TokenReply =
                serde_json::from_slice(&resp.body).map_err(|e| SalesforceError::Decode(format!("token reply: {e}")))?;
            let instance_url = url::Url::parse(&reply.instance_url)
                .map_err(|e| SalesforceError::Decode(format!("token reply instance_url: {e}")))?;
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(system = "salesforce", generation, "obtained a new session");
            return Ok(Arc::new(Session {
                token: reply.access_token,
                instance_url,
                generation,
            }));
        }
        if resp.status.is_server_error() {
            return Err(SalesforceError::Unavailable(format!(
                "token endpoint answered {}",
                resp.status
            )));
        }
        if resp.status == StatusCode::TOO_MANY_REQUESTS {
            return Err(SalesforceError::RateLimited("token endpoint answered 429".into()));
        }
        // `invalid_client`, `invalid_grant`, … (§1 [57]): permanent until someone fixes the credentials.
        // Forget the cached secret so a rotated one is picked up on the next call.
        *self.login.lock().await = None;
        let msg = match serde_json::from_slice::<OAuthError>(&resp.body) {
            Ok(e) => format!("{}: {}", e.error, e.error_description.unwrap_or_default()),
            Err(_) => format!("token endpoint answered {}", resp.status),
        };
        Err(SalesforceError::Unauthorized(msg))
    }

    // ---- calls -----------------------------------------------------------------------------------

    fn url(&self, session: &Session, endpoint: &Endpoint<'_>) -> Result<url::Url, SalesforceError> {
        match endpoint {
            Endpoint::Data(segments, query) => {
                let mut url = session.instance_url.clone();
                {
                    let mut path = url
                        .path_segments_mut()
                        .map_err(|()| SalesforceError::Decode("instance_url cannot be a base URL".into()))?;
                    path.pop_if_empty()
                        .extend(["services", "data", self.config.api_version.as_str()]);
                    path.extend(segments.iter());
                }
                if !query.is_empty() {
                    url.query_pairs_mut().extend_pairs(query.iter());
                }
                Ok(url)
            }
            Endpoint::Path(p) => session
                .instance_url
                .join(p)
                .map_err(|e| SalesforceError::Decode(format!("bad path {p}: {e}"))),
        }
    }

    /// Sends one authenticated call; on 401 renews the session once and resends (§1 [14]).
    async fn call(
        &self,
        family: &'static str,
        method: Method,
        endpoint: Endpoint<'_>,
        body: Option<Body>,
    ) -> Result<Response, SalesforceError> {
        let mut session = self.session().await?;
        let mut renewed = false;
        loop {
            let req = Request {
                family,
                method: method.clone(),
                url: self.url(&session, &endpoint)?,
                bearer: Some(&session.token),
                body: body.clone(),
            };
            let resp = self.http.send(req).await.map_err(send_error)?;
            self.record_usage(&resp.headers);
            if resp.status != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if renewed {
                return Err(SalesforceError::Unauthorized(format!(
                    "401 with a fresh token: {}",
                    first_message(&resp.body).unwrap_or_default()
                )));
            }
            tracing::info!(system = "salesforce", "session expired or invalid; renewing once");
            session = self.renew(session.generation).await?;
            renewed = true;
        }
    }

    /// A call that must answer 2xx with JSON `T`.
    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        family: &'static str,
        method: Method,
        endpoint: Endpoint<'_>,
        body: Option<Body>,
    ) -> Result<T, SalesforceError> {
        let resp = self.call(family, method, endpoint, body).await?;
        if !resp.status.is_success() {
            return Err(error_from(resp.status, &resp.body));
        }
        serde_json::from_slice(&resp.body).map_err(|e| SalesforceError::Decode(format!("{family}: {e}")))
    }

    fn record_usage(&self, headers: &HeaderMap) {
        let Some(usage) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        else {
            return;
        };
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
        let pct = usage.percent();
        if pct < USAGE_WARN_PERCENT {
            self.warned_percent.store(0, Ordering::Relaxed);
        } else if self.warned_percent.fetch_max(pct, Ordering::Relaxed) < pct {
            // Once per percentage point, not on every call.
            tracing::warn!(
                system = "salesforce",
                api.used = usage.used,
                api.limit = usage.limit,
                "API usage above 80% of the daily allocation"
            );
        }
    }

    /// One Collections call (≤ 200 records) with `allOrNone:false`; results in input order (§2 [22][25]).
    async fn collection(
        &self,
        method: Method,
        segments: &[&str],
        records: Vec<Value>,
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        let n = records.len();
        let body = Body::json(&json!({"allOrNone": false, "records": records}))
            .map_err(|e| SalesforceError::Decode(e.to_string()))?;
        let results: Vec<CollectionResult> = self
            .call_json("composite/sobjects", method, Endpoint::Data(segments, &[]), Some(body))
            .await?;
        if results.len() != n {
            return Err(SalesforceError::Decode(format!(
                "sent {n} records, got {} results",
                results.len()
            )));
        }
        Ok(results)
    }

    async fn upsert(
        &self,
        object: &str,
        ext_field: &str,
        records: Vec<Value>,
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        self.collection(Method::PATCH, &["composite", "sobjects", object, ext_field], records)
            .await
    }

    /// Every record a SOQL query returns, following `nextRecordsUrl` across pages.
    async fn query_all(&self, soql: &str) -> Result<Vec<Value>, SalesforceError> {
        let mut page: QueryPage = self
            .call_json("query", Method::GET, Endpoint::Data(&["query"], &[("q", soql)]), None)
            .await?;
        let mut records = std::mem::take(&mut page.records);
        while let (false, Some(next)) = (page.done, page.next_records_url.take()) {
            page = self
                .call_json("query", Method::GET, Endpoint::Path(&next), None)
                .await?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// The external ids among `keys` that already have a shipment item (one SOQL per 200 keys).
    async fn existing_items(&self, keys: &[&str]) -> Result<HashSet<String>, SalesforceError> {
        let ext = &self.config.shipment_external_id_field;
        let object = &self.config.profile.item.object;
        let mut found = HashSet::new();
        for part in keys.chunks(CHUNK) {
            let list = part
                .iter()
                .map(|k| format!("'{}'", k.replace('\\', "\\\\").replace('\'', "\\'")))
                .collect::<Vec<_>>()
                .join(",");
            let soql = format!("SELECT {ext} FROM {object} WHERE {ext} IN ({list})");
            found.extend(
                self.query_all(&soql)
                    .await?
                    .iter()
                    .filter_map(|r| r.get(ext.as_str()).and_then(Value::as_str).map(str::to_owned)),
            );
        }
        Ok(found)
    }

    /// Upserts shipment items; `jobs` = (shipment index, item index, send the parent lookup).
    async fn upsert_items(
        &self,
        chunk: &[ShipmentRecord],
        shipment_ids: &[Option<SalesforceId>],
        jobs: &[(usize, usize, bool)],
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        let ext = &self.config.shipment_external_id_field;
        let item = &self.config.profile.item;
        let mut results = Vec::with_capacity(jobs.len());
        for part in jobs.chunks(CHUNK) {
            let records = part
                .iter()
                .map(|&(s, i, with_parent)| {
                    let parent = if with_parent { shipment_ids[s].as_ref() } else { None };
                    convert::shipment_item_body(&chunk[s].items[i], parent, ext, item)
                })
                .collect();
            results.extend(self.upsert(&item.object, ext, records).await?);
        }
        Ok(results)
    }

    async fn write_shipment_chunk(&self, chunk: &[ShipmentRecord]) -> Result<Vec<RecordOutcome>, SalesforceError> {
        let ext = &self.config.shipment_external_id_field;
        let profile = &self.config.profile;
        // Step 1: the shipments.
        let records = chunk
            .iter()
            .map(|s| convert::shipment_body(s, ext, &profile.shipment))
            .collect();
        let results = self.upsert(&profile.shipment.object, ext, records).await?;
        // Per shipment: its id and whether the upsert created it, or its errors.
        type Written = Result<(SalesforceId, Option<bool>), Vec<ApiFieldError>>;
        let mut outcomes: Vec<Written> = results
            .into_iter()
            .map(|r| {
                let created = r.created;
                r.outcome().map(|id| (id, created))
            })
            .collect();
        let shipment_ids: Vec<Option<SalesforceId>> = outcomes
            .iter()
            .map(|o| o.as_ref().ok().map(|(id, _)| id.clone()))
            .collect();

        // Step 2: the items of every shipment that was written. A create-only parent lookup (SOM's
        // master-detail ShipmentId) is sent exactly for the items that do not exist yet. Which those are
        // is read, not guessed from the shipment's own upsert: after a commit-then-fail or a timeout
        // either call may have been applied. (The order's lease keeps other writers out between read and
        // write.) A parent lookup that is updatable is always sent, and nothing needs reading.
        let keys: Vec<&str> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_ok())
            .flat_map(|(s, _)| chunk[s].items.iter().map(|i| i.external_key.as_str()))
            .collect();
        let existing = if profile.item.parent_create_only {
            self.existing_items(&keys).await?
        } else {
            HashSet::new()
        };
        let mut jobs: Vec<(usize, usize, bool)> = Vec::new();
        for (s, outcome) in outcomes.iter().enumerate() {
            if outcome.is_ok() {
                jobs.extend(
                    (0..chunk[s].items.len()).map(|i| (s, i, !existing.contains(&chunk[s].items[i].external_key))),
                );
            }
        }
        let mut item_results: Vec<Option<CollectionResult>> = self
            .upsert_items(chunk, &shipment_ids, &jobs)
            .await?
            .into_iter()
            .map(Some)
            .collect();

        // A guess that was wrong (item missing although the shipment existed, e.g. a crash between the two
        // calls; or item present although the shipment looked new, e.g. a retried commit-then-fail) shows as
        // an error on ShipmentId: resend those items once with the other choice.
        let redo: Vec<usize> = item_results
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.as_ref().is_some_and(|r| {
                    !r.success
                        && r.errors
                            .iter()
                            .any(|e| is_parent_field_error(e, &profile.item.parent_field))
                })
            })
            .map(|(k, _)| k)
            .collect();
        if !redo.is_empty() {
            let redo_jobs: Vec<(usize, usize, bool)> =
                redo.iter().map(|&k| (jobs[k].0, jobs[k].1, !jobs[k].2)).collect();
            tracing::info!(
                system = "salesforce",
                items = redo_jobs.len(),
                "resending shipment items with the other ShipmentId choice"
            );
            for (k, r) in redo
                .into_iter()
                .zip(self.upsert_items(chunk, &shipment_ids, &redo_jobs).await?)
            {
                item_results[k] = Some(r);
            }
        }

        // An item failure fails its shipment, with the item's key in the message.
        for (k, r) in item_results.into_iter().enumerate() {
            let (s, i, _) = jobs[k];
            if let Some(Err(errors)) = r.map(CollectionResult::outcome) {
                let key = &chunk[s].items[i].external_key;
                let errors: Vec<ApiFieldError> = errors
                    .into_iter()
                    .map(|e| ApiFieldError {
                        message: format!("{} {key}: {}", profile.item.object, e.message),
                        ..e
                    })
                    .collect();
                match &mut outcomes[s] {
                    Ok(_) => outcomes[s] = Err(errors),
                    Err(existing) => existing.extend(errors),
                }
            }
        }
        Ok(outcomes.into_iter().map(|o| o.map(|(id, _)| id)).collect())
    }
}

/// The error is about the item's parent lookup (missing on create, or not updatable).
fn is_parent_field_error(e: &RecordError, parent_field: &str) -> bool {
    let about_parent = e
        .fields
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f.eq_ignore_ascii_case(parent_field)))
        || e.message.contains(parent_field);
    let code = e.code.as_deref().unwrap_or_default();
    about_parent && (code == "REQUIRED_FIELD_MISSING" || code == "INVALID_FIELD_FOR_INSERT_UPDATE")
}

fn send_error(e: SendError) -> SalesforceError {
    match e {
        SendError::Transport(e) => SalesforceError::Transport(Box::new(e)),
        SendError::Deadline => SalesforceError::Transport(Box::new(SendError::Deadline)),
    }
}

/// `api-usage=18/15000` (possibly among other comma-separated entries).
fn parse_limit_info(v: &str) -> Option<ApiUsage> {
    let item = v.split(',').map(str::trim).find_map(|p| p.strip_prefix("api-usage="))?;
    let (used, limit) = item.split_once('/')?;
    Some(ApiUsage {
        used: used.trim().parse().ok()?,
        limit: limit.trim().parse().ok()?,
    })
}

fn first_message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Vec<RecordError>>(body)
        .ok()?
        .into_iter()
        .next()
        .map(|e| format!("{} {}", e.code.unwrap_or_default(), e.message))
}

/// Maps a non-2xx answer to the port's error (§2 "Errors": body `[{message, errorCode, fields}]`).
fn error_from(status: StatusCode, body: &[u8]) -> SalesforceError {
    let errors = serde_json::from_slice::<Vec<RecordError>>(body).ok();
    let summary = errors
        .as_ref()
        .and_then(|e| e.first())
        .map(|e| format!("{} {}", e.code.clone().unwrap_or_default(), e.message))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let has = |code: &str| {
        errors
            .as_ref()
            .is_some_and(|es| es.iter().any(|e| e.code.as_deref() == Some(code)))
    };
    if status == StatusCode::TOO_MANY_REQUESTS || has("REQUEST_LIMIT_EXCEEDED") {
        return SalesforceError::RateLimited(summary);
    }
    if status.is_server_error() || has("UNABLE_TO_LOCK_ROW") || has("SERVER_UNAVAILABLE") {
        return SalesforceError::Unavailable(summary);
    }
    match (status, errors) {
        (StatusCode::UNAUTHORIZED, _) => SalesforceError::Unauthorized(summary),
        (StatusCode::NOT_FOUND, _) => SalesforceError::NotFound(summary),
        (_, Some(errors)) if !errors.is_empty() => {
            SalesforceError::Rejected(errors.into_iter().map(ApiFieldError::from).collect())
        }
        _ => SalesforceError::Decode(format!("HTTP {status} with an undecodable error body")),
    }
}

/// Order Management's `FulfillmentOrder.Status` values on the lifecycle (salesforce-api.md §5: Allocated
/// (Activated), Assigned (Fulfilling), Cancelled, Draft, Fulfilled (Closed), Pick Complete, Pickpack,
/// Printed (Fulfilling), Rejected). Statuses are customisable per org; a value not listed here is left
/// alone by every writer. What waybill writes: `Assigned` once the WMS has the order, `Fulfilled` once
/// everything shipped (both overridable by configuration).
pub const FULFILLMENT_ORDER_STATUSES: StatusTable = StatusTable {
    system: "salesforce",
    side: Side::Source,
    entries: &[
        ("Draft", Stage::Received),
        ("Allocated", Stage::Received),
        ("Assigned", Stage::Submitted),
        ("Printed", Stage::Accepted),
        ("Pickpack", Stage::Picked),
        ("Pick Complete", Stage::Packed),
        ("Fulfilled", Stage::Shipped),
        ("Cancelled", Stage::Cancelled),
        ("Rejected", Stage::Rejected),
    ],
    writes: &[(Stage::Submitted, "Assigned"), (Stage::Shipped, "Fulfilled")],
};

#[async_trait]
impl SalesforceApi for SalesforceOm {
    fn order_statuses(&self) -> &StatusTable {
        &FULFILLMENT_ORDER_STATUSES
    }

    #[tracing::instrument(skip_all, fields(system = "salesforce", ids = ids.len()))]
    async fn fetch_orders(&self, ids: &[SalesforceId]) -> Result<HashMap<SalesforceId, OrderRead>, SalesforceError> {
        let mut seen = HashSet::new();
        let unique: Vec<SalesforceId> = ids.iter().filter(|id| seen.insert(*id)).cloned().collect();
        let opts = OrderReadOptions {
            currency_field: self.config.currency_field.clone(),
            default_currency: self.config.default_currency,
        };
        let mut out = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(CHUNK) {
            let soql = convert::fulfillment_order_soql(chunk, opts.currency_field.as_deref());
            for rec in self.query_all(&soql).await? {
                let Some(id) = rec
                    .get("Id")
                    .and_then(Value::as_str)
                    .and_then(|s| SalesforceId::parse(s).ok())
                else {
                    tracing::warn!(
                        system = "salesforce",
                        "query returned a record without a valid Id; skipped"
                    );
                    continue;
                };
                out.insert(id, convert::order_from_record(&rec, &opts));
            }
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(system = "salesforce", records = updates.len()))]
    async fn update_status(&self, updates: &[StatusUpdate]) -> Result<Vec<RecordOutcome>, SalesforceError> {
        let order = &self.config.profile.order;
        let mut out = Vec::with_capacity(updates.len());
        for chunk in updates.chunks(CHUNK) {
            let records = chunk
                .iter()
                .map(|u| {
                    let mut m = serde_json::Map::new();
                    m.insert("attributes".into(), json!({"type": order.object}));
                    m.insert("id".into(), Value::String(u.record_id.to_string()));
                    m.insert(order.status_field.clone(), Value::String(u.status.clone()));
                    Value::Object(m)
                })
                .collect();
            let results = self
                .collection(Method::PATCH, &["composite", "sobjects"], records)
                .await?;
            out.extend(results.into_iter().map(CollectionResult::outcome));
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(system = "salesforce", shipments = shipments.len()))]
    async fn write_shipments(&self, shipments: &[ShipmentRecord]) -> Result<Vec<RecordOutcome>, SalesforceError> {
        let mut out = Vec::with_capacity(shipments.len());
        for chunk in shipments.chunks(CHUNK) {
            out.extend(self.write_shipment_chunk(chunk).await?);
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(system = "salesforce", records = records.len()))]
    async fn upsert_inventory(&self, records: &[InventoryRecord]) -> Result<Vec<RecordOutcome>, SalesforceError> {
        let (object, ext, fields) = (
            &self.config.inventory_object,
            &self.config.inventory_external_id_field,
            &self.config.inventory_fields,
        );
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(CHUNK) {
            let bodies = chunk
                .iter()
                .map(|r| convert::inventory_body(r, object, ext, fields))
                .collect();
            out.extend(
                self.upsert(object, ext, bodies)
                    .await?
                    .into_iter()
                    .map(CollectionResult::outcome),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_header_is_read_among_other_entries() {
        assert_eq!(
            parse_limit_info("api-usage=18/15000"),
            Some(ApiUsage { used: 18, limit: 15000 })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=2/250(appName=x), api-usage=25/5000"),
            Some(ApiUsage { used: 25, limit: 5000 })
        );
        assert_eq!(parse_limit_info("nonsense"), None);
        assert_eq!(
            ApiUsage {
                used: 12_001,
                limit: 15_000
            }
            .percent(),
            80
        );
    }

    #[test]
    fn error_bodies_map_to_the_port_variants() {
        let body = |code: &str| format!(r#"[{{"message":"m","errorCode":"{code}","fields":["F"]}}]"#).into_bytes();
        assert!(matches!(
            error_from(StatusCode::FORBIDDEN, &body("REQUEST_LIMIT_EXCEEDED")),
            SalesforceError::RateLimited(_)
        ));
        assert!(matches!(
            error_from(StatusCode::TOO_MANY_REQUESTS, b""),
            SalesforceError::RateLimited(_)
        ));
        assert!(matches!(
            error_from(StatusCode::SERVICE_UNAVAILABLE, b"<html>"),
            SalesforceError::Unavailable(_)
        ));
        assert!(matches!(
            error_from(StatusCode::BAD_REQUEST, &body("UNABLE_TO_LOCK_ROW")),
            SalesforceError::Unavailable(_)
        ));
        assert!(matches!(
            error_from(StatusCode::NOT_FOUND, &body("NOT_FOUND")),
            SalesforceError::NotFound(_)
        ));
        match error_from(StatusCode::BAD_REQUEST, &body("INVALID_FIELD")) {
            SalesforceError::Rejected(e) => {
                assert_eq!(e[0].code, "INVALID_FIELD");
                assert_eq!(e[0].fields, vec!["F".to_owned()]);
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert!(matches!(
            error_from(StatusCode::BAD_REQUEST, b"not json"),
            SalesforceError::Decode(_)
        ));
    }

    #[test]
    fn only_errors_about_the_parent_field_trigger_a_resend() {
        let e = |code: &str, field: &str| RecordError {
            code: Some(code.into()),
            message: "x".into(),
            fields: Some(vec![field.into()]),
        };
        let p = "ShipmentId";
        assert!(is_parent_field_error(&e("REQUIRED_FIELD_MISSING", "ShipmentId"), p));
        assert!(is_parent_field_error(
            &e("INVALID_FIELD_FOR_INSERT_UPDATE", "ShipmentId"),
            p
        ));
        assert!(!is_parent_field_error(&e("REQUIRED_FIELD_MISSING", "Quantity"), p));
        assert!(!is_parent_field_error(
            &e("INVALID_CROSS_REFERENCE_KEY", "ShipmentId"),
            p
        ));
        // The profile names the parent: another object's parent lookup is recognised by its own name.
        assert!(is_parent_field_error(
            &e("REQUIRED_FIELD_MISSING", "Parcel__c"),
            "Parcel__c"
        ));
        assert!(!is_parent_field_error(
            &e("REQUIRED_FIELD_MISSING", "ShipmentId"),
            "Parcel__c"
        ));
    }
}

//! Logiwa IO adapter: `WmsConnector` over the Open API v3.1 (wms-apis.md §1) — bearer token from
//! `Authorize/token`, shipment orders, shipments read back from the order list, inventory paging with a
//! verdict on whether the listing is whole, the `Report/TransactionHistory` change feed — plus the inbound
//! webhook parser in [`webhook`].

mod body;
pub mod webhook;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use self::body::{ClientRef, InventoryTotals, ListKind, OrderRow, Paging, TransactionRow};
use super::http_client::{Body, CallCounts, HttpClient, HttpSettings, Request, Response, SendError};
use crate::domain::{LocationCode, Sku, WmsOrderId};
use crate::lifecycle::{Side, Stage, StatusTable};
use crate::ports::{
    secret_json, ApiFieldError, ChangeWindow, ChangedOrder, InventoryChanges, InventoryListing, OrderChanges,
    OrderShipments, SecretError, SecretProvider, WmsConnector, WmsError, WmsOrderRequest, WmsRef, WmsSystem,
};

const SYSTEM: &str = "logiwa";
/// Logiwa as a WMS system (keys, routes, the connector registry).
pub const WMS: WmsSystem = WmsSystem::named(SYSTEM);

/// Sends of one create before the failure is handed back (each after checking the code is not there).
const CREATE_ATTEMPTS: u32 = 3;

/// Page size cap (wms-apis.md §1 [GF]).
const MAX_PAGE_SIZE: usize = 200;

/// Configuration of the Logiwa adapter.
#[derive(Debug, Clone)]
pub struct LogiwaConfig {
    /// Secret holding `{"base_url","email","password"}` plus optional `client_identifier` (UUID) or
    /// `client` (name) and `shipment_order_type` (default "Shipment Order").
    pub secret_id: String,
    /// HTTP timeouts, rate and retries. The default rate is the documented Basic plan's 2 req/s (§1
    /// "Rate limits"); raise it for Premium (6 req/s).
    pub http: HttpSettings,
    /// Rows per list page (1..=200).
    pub page_size: usize,
}

impl LogiwaConfig {
    /// Defaults for everything but the secret.
    pub fn new(secret_id: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            http: HttpSettings::with_rate(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)),
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// Sets the client-side rate limit.
    #[must_use]
    pub fn with_rate(mut self, requests_per_second: NonZeroU32) -> Self {
        self.http.requests_per_second = requests_per_second;
        self
    }
}

#[derive(Deserialize)]
struct CredentialsJson {
    base_url: String,
    email: String,
    password: SecretString,
    #[serde(default, alias = "clientIdentifier")]
    client_identifier: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default, alias = "shipmentOrderType")]
    shipment_order_type: Option<String>,
}

struct Account {
    base_url: url::Url,
    email: String,
    password: SecretString,
    client: ClientRef,
    shipment_order_type: String,
}

struct Token {
    value: SecretString,
    generation: u64,
}

#[derive(Deserialize)]
struct TokenReply {
    token: SecretString,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    data: Vec<Value>,
    #[serde(default, rename = "totalCount")]
    total_count: Option<u64>,
}

/// The Logiwa IO adapter.
pub struct Logiwa {
    config: LogiwaConfig,
    secrets: Arc<dyn SecretProvider>,
    http: HttpClient,
    account: Mutex<Option<Arc<Account>>>,
    token: Mutex<Option<Arc<Token>>>,
    /// A token fetch that just failed transiently is not repeated by every queued call.
    token_failed: super::http_client::FetchBackoff,
    generation: AtomicU64,
}

impl std::fmt::Debug for Logiwa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logiwa")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn transport(e: SendError) -> WmsError {
    WmsError::Transport {
        system: SYSTEM,
        source: Box::new(e),
    }
}

fn decode(message: impl Into<String>) -> WmsError {
    WmsError::Decode {
        system: SYSTEM,
        message: message.into(),
    }
}

/// The `message` of an `OpenAPIExceptionMessage`, or a ProblemDetails' `detail`/`title`.
fn vendor_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    ["message", "detail", "title"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
}

/// Maps a non-2xx answer (wms-apis.md §1 "Rate limits and errors").
fn error_from(resp: &Response, what: &str) -> WmsError {
    let message = vendor_message(&resp.body).unwrap_or_else(|| format!("HTTP {}", resp.status));
    match resp.status {
        StatusCode::BAD_REQUEST => WmsError::Rejected {
            system: SYSTEM,
            errors: vec![ApiFieldError {
                code: "VALIDATION_ERROR".into(),
                fields: body::fields_in_message(&message),
                message,
            }],
        },
        StatusCode::UNAUTHORIZED => WmsError::Unauthorized {
            system: SYSTEM,
            message,
        },
        StatusCode::NOT_FOUND => WmsError::NotFound {
            system: SYSTEM,
            what: what.to_owned(),
        },
        StatusCode::TOO_MANY_REQUESTS => WmsError::RateLimited {
            system: SYSTEM,
            // Not documented for Logiwa; honoured if it ever appears.
            retry_after: resp
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs),
        },
        s if s.is_server_error() => WmsError::Unavailable {
            system: SYSTEM,
            message,
        },
        s => WmsError::Rejected {
            system: SYSTEM,
            errors: vec![ApiFieldError {
                code: format!("HTTP_{}", s.as_u16()),
                fields: vec![],
                message,
            }],
        },
    }
}

impl Logiwa {
    /// Builds the adapter. Credentials are read from the secret on first use and cached.
    ///
    /// # Errors
    /// `Transport` when the HTTP client cannot be built.
    pub fn new(config: LogiwaConfig, secrets: Arc<dyn SecretProvider>) -> Result<Self, WmsError> {
        let http = HttpClient::new(SYSTEM, config.http.clone()).map_err(|e| WmsError::Transport {
            system: SYSTEM,
            source: e,
        })?;
        Ok(Self {
            config,
            secrets,
            http,
            account: Mutex::new(None),
            token: Mutex::new(None),
            token_failed: super::http_client::FetchBackoff::default(),
            generation: AtomicU64::new(0),
        })
    }

    /// Shares the account's rate limit with every other execution environment through `shared` (the
    /// plan's limit is per account: wms-apis.md §1 "Rate limits").
    #[must_use]
    pub fn with_shared_rate(mut self, shared: super::http_client::SharedRate) -> Self {
        self.http.set_shared_rate(shared);
        self
    }

    /// API calls made so far, by endpoint family (`auth`, `shipmentorder/create`, `shipmentorder/list`,
    /// `inventory/list`, `report/transactionhistory`).
    pub fn call_counts(&self) -> CallCounts {
        self.http.counts()
    }

    /// No retry starts after this instant (e.g. the Lambda deadline minus a margin); None clears it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.http.set_deadline(deadline);
    }

    async fn account(&self) -> Result<Arc<Account>, WmsError> {
        let mut guard = self.account.lock().await;
        if let Some(a) = guard.as_ref() {
            return Ok(a.clone());
        }
        let id = &self.config.secret_id;
        let malformed = |reason: String| WmsError::Secret(SecretError::Malformed { id: id.clone(), reason });
        let creds: CredentialsJson = secret_json(self.secrets.as_ref(), id).await?;
        let base_url = url::Url::parse(creds.base_url.trim_end_matches('/'))
            .map_err(|e| malformed(format!("base_url is not a URL: {e}")))?;
        let client = match (
            creds
                .client_identifier
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            creds.client,
        ) {
            (Some(cid), _) => ClientRef::Identifier(
                Uuid::parse_str(cid).map_err(|_| malformed("client_identifier is not a UUID".into()))?,
            ),
            (None, Some(name)) if !name.trim().is_empty() => ClientRef::Name(name.trim().to_owned()),
            _ => ClientRef::Unset,
        };
        let account = Arc::new(Account {
            base_url,
            email: creds.email,
            password: creds.password,
            client,
            shipment_order_type: creds.shipment_order_type.unwrap_or_else(|| "Shipment Order".into()),
        });
        *guard = Some(account.clone());
        Ok(account)
    }

    async fn token(&self) -> Result<Arc<Token>, WmsError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            return Ok(t.clone());
        }
        let t = self.fetch_token_once().await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    /// `fetch_token`, unless one just failed transiently (then a transient error at once).
    async fn fetch_token_once(&self) -> Result<Arc<Token>, WmsError> {
        self.token_failed
            .fetch(self.fetch_token(), |ago| WmsError::Unavailable {
                system: SYSTEM,
                message: format!("authentication failed {} ms ago; not retried yet", ago.as_millis()),
            })
            .await
    }

    async fn renew(&self, stale_generation: u64) -> Result<Arc<Token>, WmsError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if t.generation != stale_generation {
                return Ok(t.clone());
            }
        }
        *guard = None;
        let t = self.fetch_token_once().await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    /// `POST /v3.1/Authorize/token {email,password}` → `{token}` (wms-apis.md §1 "Auth"; lifetime not
    /// documented, so we cache until a 401).
    async fn fetch_token(&self) -> Result<Arc<Token>, WmsError> {
        let account = self.account().await?;
        let url = account
            .base_url
            .join("/v3.1/Authorize/token")
            .map_err(|e| decode(e.to_string()))?;
        let body = json!({"email": account.email, "password": account.password.expose_secret()}).to_string();
        let req = Request {
            family: "auth",
            method: Method::POST,
            url,
            bearer: None,
            body: Some(Body::SecretJson(body.into())),
        };
        let resp = self.http.send(req).await.map_err(transport)?;
        if resp.status.is_success() {
            let reply: TokenReply =
                serde_json::from_slice(&resp.body).map_err(|e| decode(format!("token reply: {e}")))?;
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(system = SYSTEM, generation, "obtained a new token");
            return Ok(Arc::new(Token {
                value: reply.token,
                generation,
            }));
        }
        if resp.status == StatusCode::BAD_REQUEST || resp.status == StatusCode::UNAUTHORIZED {
            // Re-read the secret next time: the password may have been rotated.
            *self.account.lock().await = None;
            let message = vendor_message(&resp.body).unwrap_or_else(|| format!("HTTP {}", resp.status));
            return Err(WmsError::Unauthorized {
                system: SYSTEM,
                message,
            });
        }
        Err(error_from(&resp, "token"))
    }

    /// One authenticated call; on 401 re-authenticates once and resends.
    async fn call(
        &self,
        family: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body>,
    ) -> Result<Response, WmsError> {
        self.call_with(family, method, path, query, body, false).await
    }

    /// Like `call`; with `once`, a transient failure is not retried by the HTTP client (for creates,
    /// which Logiwa gives no idempotency key for).
    async fn call_with(
        &self,
        family: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body>,
        once: bool,
    ) -> Result<Response, WmsError> {
        let account = self.account().await?;
        let mut url = account
            .base_url
            .join(path)
            .map_err(|e| decode(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut token = self.token().await?;
        let mut renewed = false;
        loop {
            let req = Request {
                family,
                method: method.clone(),
                url: url.clone(),
                bearer: Some(&token.value),
                body: body.clone(),
            };
            let sent = if once {
                self.http.send_once(req).await
            } else {
                self.http.send(req).await
            };
            let resp = sent.map_err(transport)?;
            if resp.status != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if renewed {
                return Err(error_from(&resp, path));
            }
            tracing::info!(system = SYSTEM, "token refused; re-authenticating once");
            token = self.renew(token.generation).await?;
            renewed = true;
        }
    }

    /// One page of a `…/i/{index}/s/{size}` list. `None` is a 204: the spec documents it for GETs as
    /// "successful, and there is no content in the response".
    async fn page(
        &self,
        family: &'static str,
        prefix: &str,
        index: usize,
        size: usize,
        query: &[(&str, String)],
    ) -> Result<Option<ListPage>, WmsError> {
        let path = format!("{prefix}/i/{index}/s/{size}");
        let resp = self.call(family, Method::GET, &path, query, None).await?;
        if resp.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !resp.status.is_success() {
            return Err(error_from(&resp, prefix));
        }
        serde_json::from_slice(&resp.body)
            .map(Some)
            .map_err(|e| decode(format!("{prefix}: {e}")))
    }

    async fn list(
        &self,
        family: &'static str,
        resource: &str,
        index: usize,
        size: usize,
        query: &[(&str, String)],
    ) -> Result<ListPage, WmsError> {
        let page = self
            .page(family, &format!("/v3.1/{resource}/list"), index, size, query)
            .await?;
        Ok(page.unwrap_or(ListPage {
            data: Vec::new(),
            total_count: Some(0),
        }))
    }

    /// The warehouse filter: `WarehouseIdentifier.eq` for an identifier; for a code, none (rows are then
    /// kept client-side by code) — the lists filter by identifier only (§1 "Inventory").
    fn warehouse_filter<'a>(warehouse: &'a LocationCode, query: &mut Vec<(&str, String)>) -> Option<&'a str> {
        match Uuid::parse_str(warehouse.as_str()) {
            Ok(id) => {
                query.push(("WarehouseIdentifier.eq", id.to_string()));
                None
            }
            Err(_) => {
                tracing::warn!(
                    system = SYSTEM,
                    "warehouse is a code, not an identifier: filtering rows client-side"
                );
                Some(warehouse.as_str())
            }
        }
    }

    /// Pages `Inventory/list` for a warehouse (optionally one SKU, `Sku.eq`), summing rows per SKU and
    /// judging whether the listing is whole (see `body::Paging`, kind `Snapshot`).
    async fn read_inventory(&self, warehouse: &LocationCode, sku: Option<&Sku>) -> Result<InventoryListing, WmsError> {
        let account = self.account().await?;
        let mut query = Vec::new();
        let by_code = Self::warehouse_filter(warehouse, &mut query);
        if let Some(c) = account.client.filter() {
            query.push(("ClientIdentifier.eq", c));
        }
        if let Some(sku) = sku {
            query.push(("Sku.eq", sku.as_str().to_owned()));
        }
        let size = self.config.page_size.clamp(1, MAX_PAGE_SIZE);
        let mut totals = InventoryTotals::default();
        let mut paging = Paging::new(ListKind::Snapshot, size);
        let mut seen = std::collections::HashSet::new();
        for index in 0.. {
            let page = self
                .page("inventory/list", "/v3.1/Inventory/list", index, size, &query)
                .await?;
            let no_content = page.is_none();
            let page = page.unwrap_or(ListPage {
                data: Vec::new(),
                total_count: None,
            });
            let mut repeated = 0;
            for row in &page.data {
                let Value::Object(m) = row else {
                    return Err(decode("inventory row is not an object"));
                };
                if let Some(id) = m.get("identifier").and_then(Value::as_str) {
                    if !seen.insert(id.to_owned()) {
                        repeated += 1;
                        continue;
                    }
                }
                if by_code.is_some_and(|code| m.get("warehouseCode").and_then(Value::as_str) != Some(code)) {
                    continue;
                }
                // `Sku.eq` is an exact, case-sensitive match (§1 LQL); keep only that SKU regardless.
                if sku.is_some_and(|s| m.get("productSku").and_then(Value::as_str) != Some(s.as_str())) {
                    continue;
                }
                totals.add(m);
            }
            if !paging.page(page.data.len(), page.total_count, repeated, no_content) {
                break;
            }
        }
        let completeness = paging.finish();
        if let crate::ports::Completeness::Incomplete { reason } = &completeness {
            tracing::warn!(system = SYSTEM, reason = %reason, "inventory listing is not whole");
        }
        let positions = totals
            .positions(warehouse, time::OffsetDateTime::now_utc())
            .map_err(decode)?;
        Ok(InventoryListing {
            positions,
            completeness,
        })
    }

    /// Shipment-order list rows with this code (LQL `Code.eq`, case-sensitive, plus the client when known).
    async fn orders_by_code(&self, code: &str, size: usize) -> Result<Vec<Value>, WmsError> {
        let account = self.account().await?;
        let mut query = vec![("Code.eq", code.to_owned())];
        if let Some(c) = account.client.filter() {
            query.push(("ClientIdentifier.eq", c));
        }
        Ok(self
            .list("shipmentorder/list", "ShipmentOrder", 0, size, &query)
            .await?
            .data)
    }
}

fn row_ref(row: &Value, code: &str) -> Result<Option<WmsRef>, WmsError> {
    if row.get("code").and_then(Value::as_str) != Some(code) {
        return Ok(None);
    }
    let id = row
        .get("identifier")
        .and_then(Value::as_str)
        .ok_or_else(|| decode("order row without identifier"))?;
    let id = WmsOrderId::parse(id).map_err(|e| decode(e.to_string()))?;
    Ok(Some(WmsRef {
        system: WMS,
        id,
        code: code.to_owned(),
    }))
}

/// Logiwa shipment-order statuses on the lifecycle. Sources (wms-apis.md §1 "Status and exceptions"):
/// `Pending` (status 10, list example), `Ready to Pick`, `Picking Started`, `Ready to Pack`, `Shipped`
/// (patch rules); `Open` and `ReadyToPick` are the webhook guide's spelling (§1.6 [WG]; names are matched
/// ignoring spaces). The full enum is not documented: `Partially Shipped` and `Cancelled` follow the
/// order's `isPartial` and cancel fields, and an unknown status moves nothing.
pub const SHIPMENT_ORDER_STATUSES: StatusTable = StatusTable {
    system: "logiwa",
    side: Side::Wms,
    entries: &[
        ("Open", Stage::Accepted),
        ("Pending", Stage::Accepted),
        ("Ready to Pick", Stage::Accepted),
        ("Picking Started", Stage::Picked),
        ("Ready to Pack", Stage::Picked),
        ("Packed", Stage::Packed),
        ("Partially Shipped", Stage::PartiallyShipped),
        ("Shipped", Stage::Shipped),
        ("Cancelled", Stage::Cancelled),
    ],
    writes: &[],
};

#[async_trait]
impl WmsConnector for Logiwa {
    fn system(&self) -> WmsSystem {
        WMS
    }

    fn order_statuses(&self) -> &StatusTable {
        &SHIPMENT_ORDER_STATUSES
    }

    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn find_order(&self, code: &str) -> Result<Option<WmsRef>, WmsError> {
        for row in self.orders_by_code(code, 1).await? {
            if let Some(r) = row_ref(&row, code)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    #[tracing::instrument(skip_all, fields(system = SYSTEM, lines = order.lines.len()))]
    async fn create_order(&self, order: &WmsOrderRequest) -> Result<WmsRef, WmsError> {
        let account = self.account().await?;
        let payload = body::create_body(order, &account.client, &account.shipment_order_type).map_err(|e| {
            WmsError::Rejected {
                system: SYSTEM,
                errors: vec![e],
            }
        })?;
        let body = Body::json(&payload).map_err(|e| decode(e.to_string()))?;
        // Logiwa documents no idempotency key and no duplicate check for `code` (wms-apis.md §1
        // "Duplicates"), so a create is never re-sent blindly: after a timeout or a 5xx (which may have
        // been committed) we look the code up first, and only send again when it is not there.
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let sent = self
                .call_with(
                    "shipmentorder/create",
                    Method::POST,
                    "/v3.1/ShipmentOrder/create",
                    &[],
                    Some(body.clone()),
                    true,
                )
                .await;
            let failure = match sent {
                Ok(resp) if !(resp.status.is_server_error() || resp.status == StatusCode::TOO_MANY_REQUESTS) => {
                    break resp
                }
                Ok(resp) => error_from(&resp, "shipment order"),
                Err(e) => e,
            };
            // A 429 was refused before anything happened; a timeout or 5xx may have created it.
            if !matches!(failure, WmsError::RateLimited { .. }) {
                if let Some(existing) = self.find_order(&order.code).await? {
                    tracing::info!(system = SYSTEM, attempt, "create failed but the order exists; using it");
                    return Ok(existing);
                }
            }
            if attempt >= CREATE_ATTEMPTS {
                return Err(failure);
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        };
        if resp.status.is_success() {
            // 201 GuidResult: the new id is `data` (§1 [SW]).
            let v: Value = serde_json::from_slice(&resp.body).map_err(|e| decode(format!("create reply: {e}")))?;
            let id = v
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| decode("create reply without data"))?;
            let id = WmsOrderId::parse(id).map_err(|e| decode(e.to_string()))?;
            return Ok(WmsRef {
                system: WMS,
                id,
                code: order.code.clone(),
            });
        }
        let err = error_from(&resp, "shipment order");
        // The spec does not say what a reused code does (§1 "Duplicates"); tenants answer 400 "… already
        // exists". Creation must be idempotent end to end (a retry after a lost 201 lands here), so resolve
        // the existing order by code and return it.
        if let WmsError::Rejected { errors, .. } = &err {
            if errors
                .iter()
                .any(|e| e.message.to_ascii_lowercase().contains("already exist"))
            {
                if let Some(existing) = self.find_order(&order.code).await? {
                    tracing::info!(
                        system = SYSTEM,
                        "order code already existed; returning the existing order"
                    );
                    return Ok(existing);
                }
            }
        }
        Err(err)
    }

    /// Reads the order's list row: it carries the status, per-line shipped quantities and `shipmentInfo`
    /// (one row per shipped line per package, with tracking number and ship date), i.e. everything the
    /// `GET /ShipmentOrder/{id}` + carrier-label calls would give, and package contents besides, in one call.
    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn shipments(&self, order: &WmsRef) -> Result<OrderShipments, WmsError> {
        let rows = self.orders_by_code(&order.code, MAX_PAGE_SIZE).await?;
        let row = rows
            .into_iter()
            .find(|r| {
                r.get("identifier")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(order.id.as_str()))
            })
            .ok_or_else(|| WmsError::NotFound {
                system: SYSTEM,
                what: format!("shipment order {}", order.id),
            })?;
        let row: OrderRow = serde_json::from_value(row).map_err(|e| decode(format!("order row: {e}")))?;
        Ok(OrderShipments {
            shipments: body::shipments_from_row(&row).map_err(decode)?,
            changed_at: row.changed_at(),
        })
    }

    /// `GET /v3.1/ShipmentOrder/list/i/{i}/s/{s}?UpdatedDateTime.bt=…` (§1 "Shipments", [SW]): the
    /// filter takes whole days (`YYYY-MM-DD`, §1 "Rate limits and errors"), so the days around the
    /// window are read and rows are kept by their own `updatedDateTime`. The list's sort order is not
    /// documented and its rows change while it is read, so a row seen twice makes the read incomplete
    /// (an order that moved past the reader may have pushed an unread one back across a page boundary),
    /// as does a row without a readable `updatedDateTime` (kept, stamped with the window's end). Rows that
    /// do not read as orders are skipped and counted.
    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn order_changes(&self, window: &ChangeWindow) -> Result<Option<OrderChanges>, WmsError> {
        let account = self.account().await?;
        let mut query = vec![("UpdatedDateTime.bt", body::filter_dates(window))];
        if let Some(c) = account.client.filter() {
            query.push(("ClientIdentifier.eq", c));
        }
        let size = self.config.page_size.clamp(1, MAX_PAGE_SIZE);
        let mut paging = Paging::new(ListKind::Changing, size);
        let mut seen = std::collections::HashSet::new();
        let mut orders = Vec::new();
        let mut unreadable = 0usize;
        for index in 0.. {
            let page = self
                .page("shipmentorder/list", "/v3.1/ShipmentOrder/list", index, size, &query)
                .await?;
            let no_content = page.is_none();
            let page = page.unwrap_or(ListPage {
                data: Vec::new(),
                total_count: None,
            });
            let (rows, mut repeated) = (page.data.len(), 0);
            for row in page.data {
                // A row that does not read as an order (or has no usable identifier) cannot be one waybill
                // created, whose rows the write-back reads the same way: it is skipped and counted, not
                // allowed to fail every sweep while it stays in the filter.
                let row: OrderRow = match serde_json::from_value(row) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(system = SYSTEM, error.message = %e, "unreadable shipment order row skipped");
                        unreadable += 1;
                        continue;
                    }
                };
                if !seen.insert(row.identifier.to_ascii_lowercase()) {
                    repeated += 1;
                    continue;
                }
                let Ok(id) = WmsOrderId::parse(&row.identifier) else {
                    tracing::warn!(
                        system = SYSTEM,
                        "shipment order row with an unusable identifier skipped"
                    );
                    unreadable += 1;
                    continue;
                };
                // An offset-less stamp is read as UTC but may be in the tenant's zone (undocumented): it
                // is kept when any offset from −14 h to +14 h would put it in the window, so a tenant
                // west of UTC does not have every change look hours old and fall out.
                let slack = if row.changed_at_has_offset() {
                    time::Duration::ZERO
                } else {
                    time::Duration::hours(14)
                };
                let changed_at = match row.changed_at() {
                    Some(at) if at < window.from - slack || at > window.to + slack => continue,
                    Some(at) => at,
                    None => {
                        paging.fail(format!("page {index} has an order without a readable updatedDateTime"));
                        window.to
                    }
                };
                orders.push(ChangedOrder {
                    // A row whose shipments cannot be read counts as shipped: the write-back then meets
                    // the same problem and parks it with its reason, rather than the sweep hiding it.
                    shipped: body::shipments_from_row(&row).map_or(true, |s| !s.is_empty()),
                    status: row.shipment_order_status_name.clone(),
                    order: WmsRef {
                        system: WMS,
                        id,
                        code: row.code,
                    },
                    changed_at,
                });
            }
            if !paging.page(rows, page.total_count, repeated, no_content) {
                break;
            }
        }
        let completeness = paging.finish();
        if let crate::ports::Completeness::Incomplete { reason } = &completeness {
            tracing::warn!(system = SYSTEM, reason = %reason, "shipment order listing is not whole");
        }
        Ok(Some(OrderChanges {
            orders,
            completeness,
            unreadable,
        }))
    }

    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn inventory(&self, warehouse: &LocationCode) -> Result<InventoryListing, WmsError> {
        self.read_inventory(warehouse, None).await
    }

    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn inventory_of(&self, warehouse: &LocationCode, sku: &Sku) -> Result<InventoryListing, WmsError> {
        self.read_inventory(warehouse, Some(sku)).await
    }

    /// `GET /v3.1/Report/TransactionHistory/i/{i}/s/{s}?TransactionDate.bt=…` (§1 "Inventory", [SW]): the
    /// filter takes whole days, so the days around the window are read and rows are kept by their own
    /// `transactionDateTime`. A row with no readable time is kept (its SKU gets re-read: harmless); a row
    /// with no SKU makes the feed incomplete, since the change cannot be attributed.
    #[tracing::instrument(skip_all, fields(system = SYSTEM))]
    async fn inventory_changes(
        &self,
        warehouse: &LocationCode,
        window: &ChangeWindow,
    ) -> Result<Option<InventoryChanges>, WmsError> {
        let account = self.account().await?;
        let mut query = vec![("TransactionDate.bt", body::filter_dates(window))];
        let by_code = Self::warehouse_filter(warehouse, &mut query);
        if let Some(c) = account.client.filter() {
            query.push(("ClientIdentifier.eq", c));
        }
        let size = self.config.page_size.clamp(1, MAX_PAGE_SIZE);
        let mut paging = Paging::new(ListKind::AppendOnly, size);
        let mut seen = std::collections::HashSet::new();
        let mut skus = std::collections::BTreeSet::new();
        let mut transactions = 0usize;
        for index in 0.. {
            let page = self
                .page(
                    "report/transactionhistory",
                    "/v3.1/Report/TransactionHistory",
                    index,
                    size,
                    &query,
                )
                .await?;
            let no_content = page.is_none();
            let page = page.unwrap_or(ListPage {
                data: Vec::new(),
                total_count: None,
            });
            let mut repeated = 0;
            for row in &page.data {
                let row: TransactionRow =
                    serde_json::from_value(row.clone()).map_err(|e| decode(format!("transaction row: {e}")))?;
                if let Some(key) = row.key() {
                    if !seen.insert(key) {
                        repeated += 1;
                        continue;
                    }
                }
                if by_code.is_some_and(|code| !row.touches(code)) {
                    continue;
                }
                if row.at().is_some_and(|at| !window.contains(at)) {
                    continue;
                }
                match row.product_sku.as_deref().map(Sku::parse) {
                    Some(Ok(sku)) => {
                        skus.insert(sku);
                        transactions += 1;
                    }
                    _ => paging.fail(format!("page {index} has a transaction without a usable productSKU")),
                }
            }
            if !paging.page(page.data.len(), page.total_count, repeated, no_content) {
                break;
            }
        }
        let completeness = paging.finish();
        if let crate::ports::Completeness::Incomplete { reason } = &completeness {
            tracing::warn!(system = SYSTEM, reason = %reason, "transaction history is not whole");
        }
        Ok(Some(InventoryChanges {
            skus: skus.into_iter().collect(),
            transactions,
            completeness,
        }))
    }
}

/// Re-exported for the HTTP layer and tests.
pub use webhook::{LogiwaWebhook, WebhookParseError};

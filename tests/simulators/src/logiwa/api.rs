//! Logiwa Open API v3.1 vendor routes (wms-apis.md §1 [SW]). 400s use `OpenAPIExceptionMessage`
//! (`{"message"}`), 401s use `ProblemDetails`, lists answer `{data, totalCount}`.

// Helpers return the ready-made error `Response` so handlers can bail out with `?`-like matches;
// boxing it would only add noise on a test-side server.
#![allow(clippy::result_large_err)]

use super::lql::{self, FieldSpec, Op};
use super::model::*;
use super::LogiwaState;
use crate::common::gate::json_response;
use crate::common::timefmt::parse_datetime;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use http::HeaderMap;
use serde_json::{json, Map, Value};
use std::time::Instant;
use time::OffsetDateTime;
use uuid::Uuid;

/// wms-apis.md §1 [GF]: page size is at most 200.
pub const MAX_PAGE_SIZE: usize = 200;

pub(super) fn routes() -> Router<LogiwaState> {
    Router::new()
        .route("/v3.1/Authorize/token", post(token))
        .route("/v3.1/ShipmentOrder/create", post(create_order))
        .route("/v3.1/ShipmentOrder/list/i/{index}/s/{size}", get(list_orders))
        .route(
            "/v3.1/ShipmentOrder/carrierlabel/list/i/{index}/s/{size}",
            get(list_labels),
        )
        .route("/v3.1/ShipmentOrder/{identifier}", get(get_order))
        .route("/v3.1/Inventory/list/i/{index}/s/{size}", get(list_inventory))
        .route(
            "/v3.1/Report/TransactionHistory/i/{index}/s/{size}",
            get(list_transactions),
        )
        .route("/v3.1/Webhook/create", post(webhook_create))
        .route("/v3.1/Webhook/list", get(webhook_list))
        .route("/v3.1/Webhook/unsubscribe/{id}", delete(webhook_unsubscribe))
        .route("/v3.1/Webhook/status/{id}", get(webhook_status))
        .fallback(not_found)
}

fn bad_request(message: impl Into<String>) -> Response {
    json_response(400, &json!({ "message": message.into() }))
}

fn not_found_msg(message: &str) -> Response {
    json_response(404, &json!({ "message": message }))
}

async fn not_found() -> Response {
    crate::common::gate::empty_response(404)
}

/// ProblemDetails (RFC 7807) as ASP.NET renders it, with a W3C-style trace id.
fn unauthorized(detail: &str) -> Response {
    let trace = format!(
        "00-{}-{}-00",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..16]
    );
    let mut resp = json_response(
        401,
        &json!({
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.2",
            "title": "Unauthorized",
            "status": 401,
            "detail": detail,
            "traceId": trace,
        }),
    );
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/problem+json; charset=utf-8"),
    );
    resp
}

fn authorize(st: &LogiwaState, headers: &HeaderMap) -> Result<(), Response> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return Err(unauthorized("The token is missing, invalid or expired."));
    };
    let mut d = st.data();
    match d.tokens.get(token) {
        Some(issued) if issued.elapsed() < st.config().token_lifetime => Ok(()),
        Some(_) => {
            d.tokens.remove(token);
            Err(unauthorized("The token is missing, invalid or expired."))
        }
        None => Err(unauthorized("The token is missing, invalid or expired.")),
    }
}

fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("The request body must be a JSON object.")),
        Err(e) => Err(bad_request(format!("The request body is not valid JSON: {e}"))),
    }
}

/// The prologue every `.../list/i/{i}/s/{s}` route shares: bearer token, paging, LQL filters.
fn list_request(
    st: &LogiwaState,
    headers: &HeaderMap,
    index: &str,
    size: &str,
    query: Option<&str>,
    specs: &[FieldSpec],
) -> Result<(usize, usize, Vec<lql::Filter>), Response> {
    authorize(st, headers)?;
    let (index, size) = paging(index, size)?;
    let filters = lql::parse(query, specs).map_err(bad_request)?;
    Ok((index, size, filters))
}

fn paging(index: &str, size: &str) -> Result<(usize, usize), Response> {
    let index: usize = index
        .parse()
        .map_err(|_| bad_request(format!("The value '{index}' is not valid for index.")))?;
    let size: usize = size
        .parse()
        .map_err(|_| bad_request(format!("The value '{size}' is not valid for size.")))?;
    if size == 0 || size > MAX_PAGE_SIZE {
        return Err(bad_request(format!("Page size must be between 1 and {MAX_PAGE_SIZE}.")));
    }
    Ok((index, size))
}

fn page<T: Clone>(rows: Vec<T>, index: usize, size: usize) -> (Vec<T>, usize) {
    let total = rows.len();
    let slice = rows.into_iter().skip(index.saturating_mul(size)).take(size).collect();
    (slice, total)
}

/// SW:GuidResult.
fn guid_result(id: Uuid) -> Value {
    json!({"data": id, "status": 1, "message": null, "code": null, "errorType": null, "description": null})
}

/// `POST /v3.1/Authorize/token` (SW:OpenAPITokenRequest -> SW:OpenAPITokenResponse `{token}`).
async fn token(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let m = match parse_json_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let field = |k: &str| m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut missing = Vec::new();
    if field("email").is_none() {
        missing.push("The Email field is required.");
    }
    if field("password").is_none() {
        missing.push("The Password field is required.");
    }
    if !missing.is_empty() {
        return bad_request(missing.join(" "));
    }
    let cfg = st.config();
    if field("email") != Some(cfg.email.as_str()) || field("password") != Some(cfg.password.as_str()) {
        return unauthorized("Invalid email or password.");
    }
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    st.data().tokens.insert(token.clone(), Instant::now());
    json_response(200, &json!({ "token": token }))
}

const MAX_LENGTHS: &[(&str, usize)] = &[
    ("note", 500),
    ("extraNote1", 500),
    ("extraNote2", 500),
    ("extraNote3", 500),
    ("extraNote4", 500),
    ("extraNote5", 500),
    ("fraud", 500),
    ("giftNote", 250),
    ("companyName", 250),
    ("packingInstructions", 1000),
];

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn parse_guid(m: &Map<String, Value>, key: &str) -> Result<Option<Uuid>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s).map(Some).map_err(|_| {
            format!("The JSON value could not be converted to System.Nullable`1[System.Guid]. Path: $.{key}")
        }),
        Some(_) => Err(format!(
            "The JSON value could not be converted to System.Nullable`1[System.Guid]. Path: $.{key}"
        )),
    }
}

fn opt_str(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

fn opt_date(m: &Map<String, Value>, key: &str) -> Result<Option<OffsetDateTime>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_datetime(s)
            .map(Some)
            .ok_or_else(|| format!("The JSON value could not be converted to System.DateTime. Path: $.{key}")),
        Some(_) => Err(format!(
            "The JSON value could not be converted to System.DateTime. Path: $.{key}"
        )),
    }
}

/// `POST /v3.1/ShipmentOrder/create` with SW:ShipmentOrderCreateApiRequest -> 201 SW:GuidResult.
async fn create_order(State(st): State<LogiwaState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let m = match parse_json_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };

    // Model validation first, all problems in one message (as ASP.NET collects them).
    let mut problems: Vec<String> = Vec::new();
    for key in ["code", "shipmentOrderType"] {
        if opt_str(&m, key).is_none() {
            problems.push(format!("The {} field is required.", pascal(key)));
        }
    }
    let order_date = match m.get("shipmentOrderDate") {
        None | Some(Value::Null) => {
            problems.push("The ShipmentOrderDate field is required.".into());
            None
        }
        Some(_) => match opt_date(&m, "shipmentOrderDate") {
            Ok(d) => d,
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    let currency = match m.get("currencyId") {
        None | Some(Value::Null) => {
            problems.push("The CurrencyId field is required.".into());
            None
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(c) if (0..=CURRENCY_MAX).contains(&c) => i32::try_from(c).ok(),
            Some(_) => {
                problems.push("CurrencyId is not valid.".into());
                None
            }
            None => {
                problems.push("The JSON value could not be converted to System.Int32. Path: $.currencyId".into());
                None
            }
        },
        Some(_) => {
            problems.push("The JSON value could not be converted to System.Int32. Path: $.currencyId".into());
            None
        }
    };
    let lines_raw = match m.get("shipmentOrderLineList") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(Value::Array(_)) => {
            problems.push("ShipmentOrderLineList must contain at least one line.".into());
            Vec::new()
        }
        None | Some(Value::Null) => {
            problems.push("The ShipmentOrderLineList field is required.".into());
            Vec::new()
        }
        Some(_) => {
            problems.push(
                "The JSON value could not be converted to ShipmentOrderLineApiRequest[]. Path: $.shipmentOrderLineList"
                    .into(),
            );
            Vec::new()
        }
    };
    for (key, max) in MAX_LENGTHS {
        if let Some(s) = m.get(*key).and_then(Value::as_str) {
            if s.chars().count() > *max {
                problems.push(format!(
                    "The field {} must be a string or array type with a maximum length of '{max}'.",
                    pascal(key)
                ));
            }
        }
    }
    let expected_shipment = opt_date(&m, "expectedShipmentDate")
        .map_err(|e| problems.push(e))
        .ok()
        .flatten();
    let expected_delivery = opt_date(&m, "expectedDeliveryDate")
        .map_err(|e| problems.push(e))
        .ok()
        .flatten();
    let client_id = parse_guid(&m, "clientIdentifier")
        .map_err(|e| problems.push(e))
        .ok()
        .flatten();
    let warehouse_id = parse_guid(&m, "warehouseIdentifier")
        .map_err(|e| problems.push(e))
        .ok()
        .flatten();
    if !problems.is_empty() {
        return bad_request(problems.join(" "));
    }
    let (Some(order_date), Some(currency)) = (order_date, currency) else {
        return bad_request("The request is not valid.");
    };
    let code = opt_str(&m, "code").unwrap_or_default();
    let order_type = opt_str(&m, "shipmentOrderType").unwrap_or_default();

    // Business validation: first problem wins.
    // ASSUMPTION (wms-apis.md §1 documents `shipmentAddress.country` but not its format): Logiwa looks
    // countries up by ISO 3166-1 alpha-2 code, so anything that is not two letters is refused. As strict
    // as the real system could be; a free-text country from an org without country picklists fails here.
    if let Some(country) = m
        .get("shipmentAddress")
        .and_then(|a| a.get("country"))
        .and_then(Value::as_str)
    {
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
            return bad_request(format!(
                "shipmentAddress.country: Country not found. Country: {country}"
            ));
        }
    }
    let mut d = st.data();
    let client = match (client_id, opt_str(&m, "client")) {
        (Some(id), _) => d.clients.iter().find(|c| c.identifier == id),
        (None, Some(name)) => d.clients.iter().find(|c| c.name == name),
        (None, None) => return bad_request("Client information is required. Send clientIdentifier or client."),
    };
    let Some(client) = client.cloned() else {
        return bad_request("Client not found.");
    };
    let warehouse = match (warehouse_id, opt_str(&m, "warehouse")) {
        (Some(id), _) => d.warehouses.iter().find(|w| w.identifier == id),
        (None, Some(code)) => d.warehouses.iter().find(|w| w.code == code),
        (None, None) => {
            return bad_request("Warehouse information is required. Send warehouseIdentifier or warehouse.")
        }
    };
    let Some(warehouse) = warehouse.cloned() else {
        return bad_request("Warehouse not found.");
    };
    if !st.config().shipment_order_types.iter().any(|t| t == &order_type) {
        return bad_request(format!(
            "Shipment order type not found. ShipmentOrderType: {order_type}"
        ));
    }
    let mut lines = Vec::with_capacity(lines_raw.len());
    for (i, raw) in lines_raw.iter().enumerate() {
        let at = format!("shipmentOrderLineList[{i}]");
        let Some(l) = raw.as_object() else {
            return bad_request(format!(
                "The JSON value could not be converted to ShipmentOrderLineApiRequest. Path: $.{at}"
            ));
        };
        let Some(sku) = opt_str(l, "sku") else {
            return bad_request(format!("{at}.sku: Sku is required."));
        };
        let Some(product) = d
            .products
            .iter()
            .find(|p| p.client_identifier == client.identifier && p.sku == sku)
            .cloned()
        else {
            return bad_request(format!("{at}.sku: Product not found. Sku: {sku}"));
        };
        let Some(pack_type) = opt_str(l, "packType") else {
            return bad_request(format!("{at}.packType: PackType is required."));
        };
        if !KNOWN_PACK_TYPES.contains(&pack_type.as_str()) {
            return bad_request(format!("{at}.packType: Pack type not found. PackType: {pack_type}"));
        }
        if !product.pack_types.contains(&pack_type) {
            return bad_request(format!(
                "{at}.packType: Pack type {pack_type} is not defined for product. Sku: {sku}"
            ));
        }
        let qty = match l.get("packQuantity") {
            None | Some(Value::Null) => return bad_request(format!("{at}.packQuantity: PackQuantity must be greater than 0.")),
            Some(Value::Number(n)) => match n.as_i64().and_then(|q| i32::try_from(q).ok()) {
                Some(q) if q > 0 => q,
                Some(_) => return bad_request(format!("{at}.packQuantity: PackQuantity must be greater than 0.")),
                None => {
                    return bad_request(format!(
                        "The JSON value could not be converted to System.Nullable`1[System.Int32]. Path: $.{at}.packQuantity"
                    ))
                }
            },
            Some(_) => {
                return bad_request(format!(
                    "The JSON value could not be converted to System.Nullable`1[System.Int32]. Path: $.{at}.packQuantity"
                ))
            }
        };
        lines.push(OrderLine {
            identifier: Uuid::new_v4(),
            sku,
            product_identifier: product.identifier,
            product_name: product.name.clone(),
            pack_type,
            quantity: qty,
            shipped: 0,
            cancelled: 0,
            unit_price: l.get("unitPrice").and_then(Value::as_f64).unwrap_or(0.0),
            lot_batch_number: opt_str(l, "lotBatchNumber"),
        });
    }
    // The spec does not say what a reused `code` does (wms-apis.md §1 "Duplicates"). As strict as the
    // real system could be: nothing stops it, so a second create makes a second order with the same code.
    // Only the client's own check (look the code up first) prevents a duplicate.
    let now = OffsetDateTime::now_utc();
    let details = m.get("shippingOptionDetails").and_then(Value::as_object);
    let order = ShipmentOrder {
        identifier: Uuid::new_v4(),
        code,
        client_identifier: client.identifier,
        warehouse_identifier: warehouse.identifier,
        status_id: STATUS_PENDING,
        order_type,
        order_date,
        currency_id: currency,
        expected_shipment_date: expected_shipment,
        expected_delivery_date: expected_delivery,
        customer: m.get("customer").cloned().unwrap_or(Value::Null),
        shipment_address: m.get("shipmentAddress").cloned().unwrap_or(Value::Null),
        billing_address: m.get("billingAddress").cloned().unwrap_or(Value::Null),
        requested_carrier: details.and_then(|d| opt_str(d, "carrierName")),
        requested_shipping_option: details.and_then(|d| opt_str(d, "shippingOptionName")),
        carrier_name: None,
        shipping_option_name: None,
        tracking_numbers: Vec::new(),
        actual_shipment_date: None,
        is_partial: false,
        channel_order_number: opt_str(&m, "channelOrderNumber"),
        client_reference_code: opt_str(&m, "clientReferenceCode"),
        note: opt_str(&m, "note"),
        lines,
        packages: Vec::new(),
        created: now,
        updated: now,
    };
    let id = order.identifier;
    let names = d.names(order.client_identifier, order.warehouse_identifier);
    let event = status_event(&order, None, &names);
    d.orders.push(order);
    drop(d);
    st.emit(TOPIC_CREATE, client.identifier, event);
    json_response(201, &guid_result(id))
}

/// `GET /v3.1/ShipmentOrder/{identifier}` -> SW:ShipmentOrderGatewayQueryResponse.
async fn get_order(State(st): State<LogiwaState>, headers: HeaderMap, Path(identifier): Path<String>) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&identifier) else {
        return bad_request(format!("The value '{identifier}' is not valid."));
    };
    let d = st.data();
    match d.orders.iter().find(|o| o.identifier == id) {
        Some(o) => json_response(
            200,
            &order_json(o, &d.names(o.client_identifier, o.warehouse_identifier)),
        ),
        None => not_found_msg("Shipment order not found."),
    }
}

const ORDER_FILTERS: &[FieldSpec] = &[
    FieldSpec {
        name: "Code",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "ClientIdentifier",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "WarehouseIdentifier",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "Status",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "UpdatedDateTime",
        ops: &[Op::Bt],
    },
    FieldSpec {
        name: "ActualShipmentDate",
        ops: &[Op::Bt],
    },
    FieldSpec {
        name: "CreatedDateTime",
        ops: &[Op::Bt],
    },
    FieldSpec {
        name: "Sku",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "ShipmentOrderTypeName",
        ops: &[Op::Eq],
    },
];

fn order_matches(o: &ShipmentOrder, f: &lql::Filter) -> Result<bool, String> {
    Ok(match f.field {
        "Code" => f.matches_str(Some(&o.code)),
        "ClientIdentifier" => f.uuids()?.contains(&o.client_identifier),
        "WarehouseIdentifier" => f.uuids()?.contains(&o.warehouse_identifier),
        "Status" => {
            let wanted: Result<Vec<i32>, String> = f
                .value
                .split(',')
                .map(|v| status_lookup(v).ok_or_else(|| format!("Invalid filter value for Status: {v}")))
                .collect();
            wanted?.contains(&o.status_id)
        }
        "UpdatedDateTime" => f.matches_time(Some(o.updated))?,
        "ActualShipmentDate" => f.matches_time(o.actual_shipment_date)?,
        "CreatedDateTime" => f.matches_time(Some(o.created))?,
        "Sku" => o.lines.iter().any(|l| f.matches_str(Some(&l.sku))),
        "ShipmentOrderTypeName" => f.matches_str(Some(&o.order_type)),
        _ => false,
    })
}

/// `GET /v3.1/ShipmentOrder/list/i/{i}/s/{s}` -> SW:ShipmentOrderListGatewayQueryResponseListListingResult.
async fn list_orders(
    State(st): State<LogiwaState>,
    headers: HeaderMap,
    Path((index, size)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (index, size, filters) = match list_request(&st, &headers, &index, &size, q.as_deref(), ORDER_FILTERS) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let d = st.data();
    let mut rows = Vec::new();
    for o in &d.orders {
        let mut keep = true;
        for f in &filters {
            match order_matches(o, f) {
                Ok(true) => {}
                Ok(false) => keep = false,
                Err(e) => return bad_request(e),
            }
        }
        if keep {
            rows.push(o);
        }
    }
    let (slice, total) = page(rows, index, size);
    let data: Vec<Value> = slice
        .into_iter()
        .map(|o| order_list_json(o, &d.names(o.client_identifier, o.warehouse_identifier)))
        .collect();
    json_response(200, &json!({"data": data, "totalCount": total}))
}

const LABEL_FILTERS: &[FieldSpec] = &[
    FieldSpec {
        name: "ShipmentOrderCode",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "TrackingNumber",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "MasterTrackingNumber",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "Carrier",
        ops: &[Op::Eq],
    },
];

/// `GET /v3.1/ShipmentOrder/carrierlabel/list/i/{i}/s/{s}`: one row per package.
async fn list_labels(
    State(st): State<LogiwaState>,
    headers: HeaderMap,
    Path((index, size)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (index, size, filters) = match list_request(&st, &headers, &index, &size, q.as_deref(), LABEL_FILTERS) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let d = st.data();
    let rows: Vec<Value> = d
        .orders
        .iter()
        .flat_map(|o| o.packages.iter().map(move |p| (o, p)))
        .filter(|(o, p)| {
            filters.iter().all(|f| match f.field {
                "ShipmentOrderCode" => f.matches_str(Some(&o.code)),
                "TrackingNumber" => f.matches_str(Some(&p.tracking_number)),
                "MasterTrackingNumber" => f.matches_str(Some(&p.master_tracking_number)),
                "Carrier" => f.matches_str(Some(&p.carrier_name)),
                _ => false,
            })
        })
        .map(|(o, p)| label_json(o, p))
        .collect();
    let (slice, total) = page(rows, index, size);
    json_response(200, &json!({"data": slice, "totalCount": total}))
}

const INVENTORY_FILTERS: &[FieldSpec] = &[
    FieldSpec {
        name: "Sku",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "ClientIdentifier",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "WarehouseIdentifier",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "Location",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "InventoryStatusId",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "UseSnapshotData",
        ops: &[Op::Eq],
    },
];

/// `GET /v3.1/Inventory/list/i/{i}/s/{s}` -> SW:OpenAPIListInventoryWithLocationResponseListListingResult.
async fn list_inventory(
    State(st): State<LogiwaState>,
    headers: HeaderMap,
    Path((index, size)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (index, size, filters) = match list_request(&st, &headers, &index, &size, q.as_deref(), INVENTORY_FILTERS) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let d = st.data();
    let mut rows = Vec::new();
    for r in &d.inventory {
        let mut keep = true;
        for f in &filters {
            let ok = match f.field {
                "Sku" => f.matches_str(Some(&r.sku)),
                "Location" => f.matches_str(Some(&r.location_code)),
                "ClientIdentifier" => match f.uuids() {
                    Ok(ids) => ids.contains(&r.client_identifier),
                    Err(e) => return bad_request(e),
                },
                "WarehouseIdentifier" => match f.uuids() {
                    Ok(ids) => ids.contains(&r.warehouse_identifier),
                    Err(e) => return bad_request(e),
                },
                "InventoryStatusId" => f.value.trim().parse::<i32>().ok() == Some(r.status_id),
                _ => true,
            };
            keep &= ok;
        }
        if keep {
            rows.push(r);
        }
    }
    let (slice, total) = page(rows, index, size);
    let data: Vec<Value> = slice
        .into_iter()
        .map(|r| {
            let product = d.product(r.client_identifier, &r.sku);
            inventory_json(r, &d.names(r.client_identifier, r.warehouse_identifier), product)
        })
        .collect();
    json_response(200, &json!({"data": data, "totalCount": total}))
}

/// `Report/TransactionHistory` filters exactly as the spec's table lists them (SW, path
/// `/v3.1/Report/TransactionHistory/i/{index}/s/{size}`): `TransactionDate` is typed `date` there, where
/// other reports type their dates `datetime` (e.g. `Report/SerialTracking`'s `CreatedDate`).
const TRANSACTION_FILTERS: &[FieldSpec] = &[
    FieldSpec {
        name: "Sku",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "ShipmentOrderCode",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "WorkOrderCode",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "ClientIdentifier",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "TransactionType",
        ops: &[Op::In],
    },
    FieldSpec {
        name: "WarehouseIdentifier",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "FromLocationCode",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "ToLocationCode",
        ops: &[Op::Eq],
    },
    FieldSpec {
        name: "TransactionDate",
        ops: &[Op::Bt],
    },
];

fn transaction_matches(t: &Transaction, f: &lql::Filter) -> Result<bool, String> {
    Ok(match f.field {
        "Sku" => f.matches_str(Some(&t.sku)),
        "ShipmentOrderCode" => f.matches_str(t.shipment_order_code.as_deref()),
        // The simulator runs no work orders.
        "WorkOrderCode" => false,
        "ClientIdentifier" => f.uuids()?.contains(&t.client_identifier),
        "WarehouseIdentifier" => f.uuids()?.contains(&t.warehouse_identifier),
        "TransactionType" => {
            let wanted: Result<Vec<i32>, String> = f
                .value
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("Invalid filter value for TransactionType: {v}"))
                })
                .collect();
            wanted?.contains(&t.type_id)
        }
        "FromLocationCode" => f.matches_str(t.from_location.as_deref()),
        "ToLocationCode" => f.matches_str(t.to_location.as_deref()),
        "TransactionDate" => f.matches_date_only(t.at)?,
        _ => false,
    })
}

/// `GET /v3.1/Report/TransactionHistory/i/{i}/s/{s}` ->
/// SW:TransactionHistoryListGatewayQueryResponseListListingResponse `{data, totalCount}`, newest first
/// (ASSUMPTION: the order is not documented; newest first is what a report screen shows, and it is the
/// order in which transactions recorded during a paged read shift rows between pages).
async fn list_transactions(
    State(st): State<LogiwaState>,
    headers: HeaderMap,
    Path((index, size)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (index, size, filters) = match list_request(&st, &headers, &index, &size, q.as_deref(), TRANSACTION_FILTERS) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // ASSUMPTION (spec silent): a history report is always bounded by date, so the range is required.
    if !filters.iter().any(|f| f.field == "TransactionDate") {
        return bad_request("TransactionDate filter is required. Use TransactionDate.bt=YYYY-MM-DD,YYYY-MM-DD.");
    }
    let d = st.data();
    let mut rows = Vec::new();
    for t in d.transactions.iter().rev() {
        let mut keep = true;
        for f in &filters {
            match transaction_matches(t, f) {
                Ok(true) => {}
                Ok(false) => keep = false,
                Err(e) => return bad_request(e),
            }
        }
        if keep {
            rows.push(t);
        }
    }
    let (slice, total) = page(rows, index, size);
    let data: Vec<Value> = slice
        .into_iter()
        .map(|t| {
            let product = d.product(t.client_identifier, &t.sku);
            transaction_json(t, &d.names(t.client_identifier, t.warehouse_identifier), product)
        })
        .collect();
    json_response(200, &json!({"data": data, "totalCount": total}))
}

/// `POST /v3.1/Webhook/create` with SW:OpenAPISubscribeWebhookRequest -> 201 GUID.
async fn webhook_create(State(st): State<LogiwaState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let m = match parse_json_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let topic = opt_str(&m, "topic").unwrap_or_default();
    if !TOPICS.contains(&topic.as_str()) {
        return bad_request(format!("Invalid topic: {topic}"));
    }
    let address = opt_str(&m, "address").unwrap_or_default();
    let valid_address = url::Url::parse(&address).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !valid_address {
        return bad_request("Address is not a valid URL.");
    }
    let client = match parse_guid(&m, "clientIdentifier") {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    let ignore_client = m.get("ignoreClient").and_then(Value::as_bool).unwrap_or(false);
    let mut d = st.data();
    match client {
        Some(c) if !d.clients.iter().any(|x| x.identifier == c) => return bad_request("Client not found."),
        None if !ignore_client => return bad_request("ClientIdentifier is required unless ignoreClient is true."),
        _ => {}
    }
    let id = Uuid::new_v4();
    d.subscriptions.push(Subscription {
        identifier: id,
        topic,
        address,
        client_identifier: if ignore_client { None } else { client },
        ignore_client,
        created: Some(OffsetDateTime::now_utc()),
    });
    json_response(201, &guid_result(id))
}

async fn webhook_list(State(st): State<LogiwaState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let d = st.data();
    let data: Vec<Value> = d
        .subscriptions
        .iter()
        .map(|s| {
            json!({"identifier": s.identifier, "topic": s.topic, "address": s.address,
                "clientIdentifier": s.client_identifier, "ignoreClient": s.ignore_client,
                "createdDateTime": s.created.map(crate::common::timefmt::logiwa_datetime)})
        })
        .collect();
    json_response(200, &json!({"data": data, "totalCount": d.subscriptions.len()}))
}

async fn webhook_unsubscribe(State(st): State<LogiwaState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return bad_request(format!("The value '{id}' is not valid."));
    };
    let mut d = st.data();
    let before = d.subscriptions.len();
    d.subscriptions.retain(|s| s.identifier != id);
    if d.subscriptions.len() == before {
        return not_found_msg("Subscription not found.");
    }
    json_response(200, &json!({"value": true}))
}

/// `GET /v3.1/Webhook/status/{id}`: the subscription's last transaction (wms-apis.md §1 [SW] fields).
async fn webhook_status(State(st): State<LogiwaState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&st, &headers) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return bad_request(format!("The value '{id}' is not valid."));
    };
    let d = st.data();
    if !d.subscriptions.iter().any(|s| s.identifier == id) {
        return not_found_msg("Subscription not found.");
    }
    match d.deliveries.iter().rev().find(|x| x.subscription_identifier == id) {
        Some(x) => json_response(
            200,
            &json!({
                "transactionIdentifier": x.transaction_identifier,
                "requestDate": x.request_date,
                "responseDate": x.response_date,
                "subscriptionName": x.topic,
                "httpLastHookStatus": x.http_last_hook_status,
                "tryCount": x.try_count,
            }),
        ),
        None => not_found_msg("No webhook transaction found."),
    }
}

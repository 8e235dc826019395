//! `/__sim` admin routes for the Logiwa simulator: stats, reset, faults, seeding, and the
//! warehouse's own actions (ship, change status, adjust or remove stock), plus the transaction log.

// Helpers return the ready-made error `Response` so handlers can bail out with `?`-like matches;
// boxing it would only add noise on a test-side server.
#![allow(clippy::result_large_err)]

use super::{AdjustRequest, AdminError, InventorySeed, LogiwaState, ProductSeed, RateTier, RemoveRequest, ShipRequest};
use crate::common::gate::json_response;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub(super) fn routes() -> Router<LogiwaState> {
    crate::common::admin::routes::<LogiwaState>()
        .route("/__sim/logiwa/warehouses", post(add_warehouse).get(list_warehouses))
        .route("/__sim/logiwa/clients", post(add_client).get(list_clients))
        .route("/__sim/logiwa/products", post(add_product).get(list_products))
        .route("/__sim/logiwa/inventory", post(add_inventory).get(list_inventory))
        .route("/__sim/logiwa/inventory/adjust", post(adjust_inventory))
        .route("/__sim/logiwa/inventory/remove", post(remove_inventory))
        .route("/__sim/logiwa/transactions", get(list_transactions))
        .route("/__sim/logiwa/shipmentorders", get(list_orders))
        .route("/__sim/logiwa/shipmentorders/{code}/ship", post(ship))
        .route("/__sim/logiwa/shipmentorders/{code}/status", post(set_status))
        .route("/__sim/logiwa/webhooks/deliveries", get(deliveries))
        .route("/__sim/logiwa/rate-limit", post(rate_limit))
}

fn admin_error(e: AdminError) -> Response {
    match e {
        AdminError::NotFound(m) => json_response(404, &json!({"error": m})),
        AdminError::Invalid(m) => json_response(400, &json!({"error": m})),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    let raw: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(raw).map_err(|e| json_response(400, &json!({"error": format!("invalid body: {e}")})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WarehouseBody {
    #[serde(default)]
    identifier: Option<Uuid>,
    code: String,
    #[serde(default)]
    name: Option<String>,
}

async fn add_warehouse(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: WarehouseBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = b.identifier.unwrap_or_else(Uuid::new_v4);
    st.data().warehouses.push(super::model::Warehouse {
        identifier: id,
        name: b.name.unwrap_or_else(|| b.code.clone()),
        code: b.code,
    });
    json_response(201, &json!({"identifier": id}))
}

async fn list_warehouses(State(st): State<LogiwaState>) -> Response {
    json_response(200, &serde_json::to_value(&st.data().warehouses).unwrap_or(Value::Null))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientBody {
    #[serde(default)]
    identifier: Option<Uuid>,
    name: String,
}

async fn add_client(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: ClientBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = b.identifier.unwrap_or_else(Uuid::new_v4);
    st.data().clients.push(super::model::Client {
        identifier: id,
        name: b.name,
    });
    json_response(201, &json!({"identifier": id}))
}

async fn list_clients(State(st): State<LogiwaState>) -> Response {
    json_response(200, &serde_json::to_value(&st.data().clients).unwrap_or(Value::Null))
}

async fn add_product(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: ProductSeed = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.add_product(b) {
        Ok(id) => json_response(201, &json!({"identifier": id})),
        Err(e) => admin_error(e),
    }
}

async fn list_products(State(st): State<LogiwaState>) -> Response {
    json_response(200, &serde_json::to_value(&st.data().products).unwrap_or(Value::Null))
}

async fn add_inventory(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: InventorySeed = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.add_inventory(b) {
        Ok(id) => json_response(201, &json!({"identifier": id})),
        Err(e) => admin_error(e),
    }
}

async fn adjust_inventory(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: AdjustRequest = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.adjust_inventory(b) {
        Ok(v) => json_response(200, &v),
        Err(e) => admin_error(e),
    }
}

async fn remove_inventory(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: RemoveRequest = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.remove_inventory(b) {
        Ok(v) => json_response(200, &v),
        Err(e) => admin_error(e),
    }
}

async fn list_transactions(State(st): State<LogiwaState>) -> Response {
    json_response(200, &Value::Array(st.transactions()))
}

async fn list_inventory(State(st): State<LogiwaState>) -> Response {
    json_response(200, &Value::Array(st.inventory_rows()))
}

async fn list_orders(State(st): State<LogiwaState>) -> Response {
    json_response(200, &Value::Array(st.shipment_orders()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientQuery {
    #[serde(default)]
    client_identifier: Option<Uuid>,
}

async fn ship(
    State(st): State<LogiwaState>,
    Path(code): Path<String>,
    Query(q): Query<ClientQuery>,
    body: Bytes,
) -> Response {
    let req: ShipRequest = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.ship(&code, q.client_identifier, req) {
        Ok(order) => json_response(200, &order),
        Err(e) => admin_error(e),
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: Value,
}

async fn set_status(
    State(st): State<LogiwaState>,
    Path(code): Path<String>,
    Query(q): Query<ClientQuery>,
    body: Bytes,
) -> Response {
    let b: StatusBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let status = match b.status {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match st.set_status(&code, q.client_identifier, &status) {
        Ok(order) => json_response(200, &order),
        Err(e) => admin_error(e),
    }
}

async fn deliveries(State(st): State<LogiwaState>) -> Response {
    json_response(
        200,
        &serde_json::to_value(st.webhook_deliveries()).unwrap_or(Value::Null),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateBody {
    tier: String,
    #[serde(default)]
    per_second: Option<u32>,
}

async fn rate_limit(State(st): State<LogiwaState>, body: Bytes) -> Response {
    let b: RateBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tier = match b.tier.to_ascii_lowercase().as_str() {
        "none" | "off" => None,
        "basic" => Some(RateTier::Basic),
        "premium" => Some(RateTier::Premium),
        "custom" => match b.per_second {
            Some(n) if n > 0 => Some(RateTier::PerSecond(n)),
            _ => return json_response(400, &json!({"error": "custom tier needs perSecond > 0"})),
        },
        other => return json_response(400, &json!({"error": format!("unknown tier {other}")})),
    };
    st.set_rate_limit(tier);
    json_response(200, &json!({"perSecond": tier.map(RateTier::per_second)}))
}

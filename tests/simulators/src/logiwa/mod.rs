//! Logiwa IO simulator (Open API v3.1): token auth, shipment orders, carrier labels, inventory and its
//! transaction history, webhook subscriptions with real deliveries, the documented rate limits, and
//! admin actions that play the warehouse (ship, change status, adjust or remove stock).

mod admin;
mod api;
pub mod lql;
pub mod model;

use crate::common::faults::{FaultRule, FaultSet};
use crate::common::gate::{empty_response, gate, json_response, lock, SimHooks};
use crate::common::server::{bind, RunningSim};
use crate::common::stats::{Stats, StatsSnapshot};
use crate::common::timefmt::logiwa_datetime;
use axum::response::Response;
use axum::Router;
use http::Method;
use model::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// wms-apis.md §1 [SW]: standard endpoints allow 2 req/s (Basic) or 6 req/s (Premium).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RateTier {
    Basic,
    Premium,
    /// Any other requests-per-second figure (for tests).
    PerSecond(u32),
}

impl RateTier {
    pub fn per_second(self) -> u32 {
        match self {
            RateTier::Basic => 2,
            RateTier::Premium => 6,
            RateTier::PerSecond(n) => n,
        }
    }
}

/// Product to seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSeed {
    #[serde(default)]
    pub identifier: Option<Uuid>,
    pub client_identifier: Uuid,
    pub sku: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Defaults to `["Unit"]`.
    #[serde(default)]
    pub pack_types: Vec<String>,
}

/// Inventory row to seed (one location / LP / lot).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySeed {
    #[serde(default)]
    pub identifier: Option<Uuid>,
    pub client_identifier: Uuid,
    pub warehouse_identifier: Uuid,
    pub sku: String,
    pub location_code: String,
    pub quantity: i64,
    #[serde(default)]
    pub allocated: i64,
    #[serde(default)]
    pub license_plate_number: Option<String>,
    #[serde(default)]
    pub lot_batch_number: Option<String>,
    #[serde(default)]
    pub pack_type: Option<String>,
    /// 1 = Available (default); anything else e.g. 2 = Damaged.
    #[serde(default)]
    pub inventory_status_id: Option<i32>,
}

/// Admin stock adjustment (a cycle count or a manual correction): `delta` units added to (positive) or
/// taken from (negative) the SKU's rows in the warehouse, at `locationCode` when given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustRequest {
    #[serde(default)]
    pub client_identifier: Option<Uuid>,
    pub warehouse_identifier: Uuid,
    pub sku: String,
    #[serde(default)]
    pub location_code: Option<String>,
    pub delta: i64,
    /// Recorded as the transaction's note and adjustment reason.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Admin removal: the SKU's rows in the warehouse (at `locationCode` when given) leave the listing
/// altogether, e.g. stock written off or moved out of the building.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveRequest {
    #[serde(default)]
    pub client_identifier: Option<Uuid>,
    pub warehouse_identifier: Uuid,
    pub sku: String,
    #[serde(default)]
    pub location_code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Catalogue loaded at start-up and on reset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogiwaSeed {
    pub warehouses: Vec<Warehouse>,
    pub clients: Vec<Client>,
    pub products: Vec<ProductSeed>,
    pub inventory: Vec<InventorySeed>,
}

impl LogiwaSeed {
    /// One warehouse `WH1`, one client `Waybill Demo`, product `SKU-1` (Unit, Each) with 40 on hand.
    pub fn demo() -> Self {
        let wh = Uuid::from_u128(0x4b8a_a8cc_2685_4cbd_87c6_4fa9_0c14_b70c);
        let cl = Uuid::from_u128(0x7546_ad2f_81d1_4308_b744_2e29_af43_fc16);
        Self {
            warehouses: vec![Warehouse {
                identifier: wh,
                code: "WH1".into(),
                name: "Main Warehouse".into(),
            }],
            clients: vec![Client {
                identifier: cl,
                name: "Waybill Demo".into(),
            }],
            products: vec![ProductSeed {
                identifier: None,
                client_identifier: cl,
                sku: "SKU-1".into(),
                name: Some("Demo Widget".into()),
                pack_types: vec!["Unit".into(), "Each".into()],
            }],
            inventory: vec![InventorySeed {
                identifier: None,
                client_identifier: cl,
                warehouse_identifier: wh,
                sku: "SKU-1".into(),
                location_code: "A-01-01".into(),
                quantity: 40,
                allocated: 0,
                license_plate_number: None,
                lot_batch_number: None,
                pack_type: None,
                inventory_status_id: None,
            }],
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogiwaConfig {
    /// 0 = ephemeral.
    pub port: u16,
    pub email: String,
    pub password: String,
    /// Token lifetime is not documented (wms-apis.md §1); ASSUMPTION: 1 h.
    pub token_lifetime: Duration,
    /// Post webhooks to subscribers (off = record them as undelivered only).
    pub webhook_delivery: bool,
    pub webhook_max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub webhook_backoff: Duration,
    pub webhook_timeout: Duration,
    pub rate_tier: Option<RateTier>,
    /// Shipment order types the tenant has (the vendor sample uses "Shipment Order", [KB]).
    pub shipment_order_types: Vec<String>,
    pub seed: LogiwaSeed,
    /// Chaos knob: each delivery waits a random 0..jitter first, so deliveries overtake each other.
    /// Logiwa does not promise ordering across topics (wms-apis.md §1 "Webhooks": poll alongside).
    pub webhook_jitter: Duration,
    /// Chaos knob: share of events delivered two or three times (Webhooks V2 retries promise no lost
    /// events, i.e. at least once).
    pub webhook_duplicate_share: f64,
    /// Seed of the chaos knobs' generator.
    pub chaos_seed: u64,
}

impl Default for LogiwaConfig {
    fn default() -> Self {
        Self {
            port: 0,
            email: "sim@waybill.test".into(),
            password: "sim-password".into(),
            token_lifetime: Duration::from_secs(3600),
            webhook_delivery: true,
            webhook_max_attempts: 5,
            webhook_backoff: Duration::from_millis(200),
            webhook_timeout: Duration::from_secs(5),
            rate_tier: None,
            shipment_order_types: vec!["Shipment Order".into()],
            seed: LogiwaSeed::default(),
            webhook_jitter: Duration::ZERO,
            webhook_duplicate_share: 0.0,
            chaos_seed: 0,
        }
    }
}

/// Mutable tenant data behind one lock.
#[derive(Debug, Default)]
pub(crate) struct LwData {
    pub warehouses: Vec<Warehouse>,
    pub clients: Vec<Client>,
    pub products: Vec<Product>,
    pub inventory: Vec<InventoryRow>,
    /// Every stock movement, oldest first (`Report/TransactionHistory`).
    pub transactions: Vec<Transaction>,
    pub orders: Vec<ShipmentOrder>,
    pub subscriptions: Vec<Subscription>,
    pub deliveries: Vec<Delivery>,
    pub tokens: HashMap<String, Instant>,
    pub rate_tier: Option<RateTier>,
    pub rate_window: VecDeque<Instant>,
    /// Requests answered 429 by the rate limit (not by fault rules).
    pub throttled: u64,
    pub next_lp: u64,
    pub next_tracking: u64,
    pub next_transaction: i64,
}

impl LwData {
    /// The client's product with this SKU, if any.
    pub fn product(&self, client: Uuid, sku: &str) -> Option<&Product> {
        self.products
            .iter()
            .find(|p| p.client_identifier == client && p.sku == sku)
    }

    pub fn names(&self, client: Uuid, warehouse: Uuid) -> Names {
        let position = self.clients.iter().position(|c| c.identifier == client);
        Names {
            client: position.map(|i| self.clients[i].name.clone()).unwrap_or_default(),
            client_id: position
                .and_then(|i| i64::try_from(i).ok())
                .map_or(0, |i| CLIENT_ID_BASE + i),
            warehouse_code: self
                .warehouses
                .iter()
                .find(|w| w.identifier == warehouse)
                .map(|w| w.code.clone())
                .unwrap_or_default(),
        }
    }

    fn add_product(&mut self, p: &ProductSeed) -> Result<Uuid, String> {
        if !self.clients.iter().any(|c| c.identifier == p.client_identifier) {
            return Err(format!("unknown client {}", p.client_identifier));
        }
        let pack_types = if p.pack_types.is_empty() {
            vec!["Unit".to_string()]
        } else {
            p.pack_types.clone()
        };
        if let Some(bad) = pack_types.iter().find(|t| !KNOWN_PACK_TYPES.contains(&t.as_str())) {
            return Err(format!("unknown pack type {bad}; known: {KNOWN_PACK_TYPES:?}"));
        }
        let id = p.identifier.unwrap_or_else(Uuid::new_v4);
        self.products
            .retain(|x| !(x.client_identifier == p.client_identifier && x.sku == p.sku));
        self.products.push(Product {
            identifier: id,
            client_identifier: p.client_identifier,
            sku: p.sku.clone(),
            name: p.name.clone().unwrap_or_else(|| p.sku.clone()),
            pack_types,
        });
        Ok(id)
    }

    fn add_inventory(&mut self, s: &InventorySeed) -> Result<Uuid, String> {
        if !self.warehouses.iter().any(|w| w.identifier == s.warehouse_identifier) {
            return Err(format!("unknown warehouse {}", s.warehouse_identifier));
        }
        let product = self
            .products
            .iter()
            .find(|p| p.client_identifier == s.client_identifier && p.sku == s.sku)
            .ok_or_else(|| format!("unknown product {} for client {}", s.sku, s.client_identifier))?;
        let now = OffsetDateTime::now_utc();
        let id = s.identifier.unwrap_or_else(Uuid::new_v4);
        let status_id = s.inventory_status_id.unwrap_or(1);
        self.inventory.push(InventoryRow {
            identifier: id,
            client_identifier: s.client_identifier,
            warehouse_identifier: s.warehouse_identifier,
            sku: s.sku.clone(),
            location_code: s.location_code.clone(),
            location_identifier: location_uuid(s.warehouse_identifier, &s.location_code),
            license_plate_number: s.license_plate_number.clone(),
            lot_batch_number: s.lot_batch_number.clone(),
            expiry_date: None,
            pack_type: s
                .pack_type
                .clone()
                .unwrap_or_else(|| product.pack_types.first().cloned().unwrap_or_else(|| "Unit".into())),
            total: s.quantity,
            available: (s.quantity - s.allocated).max(0),
            allocated: s.allocated,
            status_id,
            status_name: if status_id == 1 {
                "Available".into()
            } else {
                "Damaged".into()
            },
            created: now,
            updated: now,
        });
        let pack_type = self.inventory.last().map(|r| r.pack_type.clone()).unwrap_or_default();
        self.record(Transaction {
            type_id: TX_RECEIVE,
            at: now,
            client_identifier: s.client_identifier,
            warehouse_identifier: s.warehouse_identifier,
            sku: s.sku.clone(),
            pack_type,
            from_location: None,
            to_location: Some(s.location_code.clone()),
            quantity: s.quantity,
            shipment_order_code: None,
            inventory_identifier: id,
            note: None,
            ..Transaction::blank()
        });
        Ok(id)
    }

    /// Appends a transaction, numbering it.
    pub(crate) fn record(&mut self, mut t: Transaction) {
        self.next_transaction += 1;
        t.id = self.next_transaction;
        t.action_identifier = Uuid::new_v4();
        self.transactions.push(t);
    }

    fn stock_rows(&self, client: Option<Uuid>, warehouse: Uuid, sku: &str, location: Option<&str>) -> Vec<usize> {
        self.inventory
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.warehouse_identifier == warehouse
                    && r.sku == sku
                    && client.is_none_or(|c| r.client_identifier == c)
                    && location.is_none_or(|l| r.location_code == l)
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn adjust(&mut self, req: &AdjustRequest) -> Result<Value, String> {
        let rows = self.stock_rows(
            req.client_identifier,
            req.warehouse_identifier,
            &req.sku,
            req.location_code.as_deref(),
        );
        if rows.is_empty() {
            return Err(format!("no inventory of {} to adjust; add inventory first", req.sku));
        }
        if req.delta == 0 {
            return Err("delta must not be 0".into());
        }
        let now = OffsetDateTime::now_utc();
        let mut moves = Vec::new();
        if req.delta > 0 {
            moves.push((rows[0], req.delta));
        } else {
            let mut left = -req.delta;
            let on_hand: i64 = rows.iter().map(|i| self.inventory[*i].total).sum();
            if on_hand < left {
                return Err(format!("cannot take {left} of {}: only {on_hand} on hand", req.sku));
            }
            for i in rows {
                let take = left.min(self.inventory[i].total);
                if take > 0 {
                    moves.push((i, -take));
                    left -= take;
                }
            }
        }
        for (i, delta) in moves {
            let row = &mut self.inventory[i];
            row.total += delta;
            row.available = (row.available + delta).clamp(0, row.total.max(0));
            row.updated = now;
            let t = Transaction {
                type_id: TX_ADJUSTMENT,
                at: now,
                client_identifier: row.client_identifier,
                warehouse_identifier: row.warehouse_identifier,
                sku: row.sku.clone(),
                pack_type: row.pack_type.clone(),
                from_location: (delta < 0).then(|| row.location_code.clone()),
                to_location: (delta > 0).then(|| row.location_code.clone()),
                quantity: delta.abs(),
                shipment_order_code: None,
                inventory_identifier: row.identifier,
                note: req.reason.clone(),
                ..Transaction::blank()
            };
            self.record(t);
        }
        Ok(serde_json::json!({"onHand": self
            .stock_rows(req.client_identifier, req.warehouse_identifier, &req.sku, None)
            .iter()
            .map(|i| self.inventory[*i].total)
            .sum::<i64>()}))
    }

    fn remove(&mut self, req: &RemoveRequest) -> Result<Value, String> {
        let rows = self.stock_rows(
            req.client_identifier,
            req.warehouse_identifier,
            &req.sku,
            req.location_code.as_deref(),
        );
        if rows.is_empty() {
            return Err(format!("no inventory of {} to remove", req.sku));
        }
        let now = OffsetDateTime::now_utc();
        let removed: Vec<InventoryRow> = rows.iter().map(|i| self.inventory[*i].clone()).collect();
        let ids: Vec<Uuid> = removed.iter().map(|r| r.identifier).collect();
        self.inventory.retain(|r| !ids.contains(&r.identifier));
        for row in &removed {
            self.record(Transaction {
                type_id: TX_REMOVAL,
                at: now,
                client_identifier: row.client_identifier,
                warehouse_identifier: row.warehouse_identifier,
                sku: row.sku.clone(),
                pack_type: row.pack_type.clone(),
                from_location: Some(row.location_code.clone()),
                to_location: None,
                quantity: row.total,
                shipment_order_code: None,
                inventory_identifier: row.identifier,
                note: req.reason.clone(),
                ..Transaction::blank()
            });
        }
        Ok(serde_json::json!({"removedRows": removed.len()}))
    }
}

/// A stable id per warehouse location, so rows in the same bin share it.
fn location_uuid(warehouse: Uuid, code: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(warehouse.as_bytes())
        .chain_update(code.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn seeded(config: &LogiwaConfig) -> anyhow::Result<LwData> {
    let mut d = LwData {
        warehouses: config.seed.warehouses.clone(),
        clients: config.seed.clients.clone(),
        rate_tier: config.rate_tier,
        next_lp: 1,
        next_tracking: 1,
        next_transaction: 0,
        ..LwData::default()
    };
    for p in &config.seed.products {
        d.add_product(p).map_err(anyhow::Error::msg)?;
    }
    for i in &config.seed.inventory {
        d.add_inventory(i).map_err(anyhow::Error::msg)?;
    }
    Ok(d)
}

#[derive(Debug)]
struct LwInner {
    config: LogiwaConfig,
    data: Mutex<LwData>,
    faults: Mutex<FaultSet>,
    stats: Mutex<Stats>,
    http: reqwest::Client,
    chaos: Mutex<rand::rngs::StdRng>,
}

/// Cloneable handle on one simulated Logiwa tenant.
#[derive(Debug, Clone)]
pub struct LogiwaState {
    inner: Arc<LwInner>,
}

/// One package of an admin ship request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipPackage {
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    pub lines: Vec<ShipLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipLine {
    pub sku: String,
    pub quantity: i32,
}

/// Admin "ship" request: omit `packages` to ship every open quantity in one package (or, with
/// `partial: true`, half of each line rounded up).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipRequest {
    #[serde(default)]
    pub packages: Option<Vec<ShipPackage>>,
    #[serde(default)]
    pub carrier_name: Option<String>,
    #[serde(default)]
    pub shipping_option_name: Option<String>,
    #[serde(default)]
    pub partial: bool,
}

impl ShipRequest {
    /// One UPS Ground package with `tracking`, holding `quantity` of `sku` (`partial`: the order is not
    /// complete with it). A test helper: the admin route takes any `ShipRequest`.
    pub fn one_package(tracking: &str, sku: &str, quantity: i32, partial: bool) -> Self {
        Self {
            packages: Some(vec![ShipPackage {
                tracking_number: Some(tracking.to_owned()),
                weight: None,
                lines: vec![ShipLine {
                    sku: sku.to_owned(),
                    quantity,
                }],
            }]),
            carrier_name: Some("UPS".into()),
            shipping_option_name: Some("Ground".into()),
            partial,
        }
    }
}

/// Why an admin action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

impl LogiwaState {
    pub fn new(config: LogiwaConfig) -> anyhow::Result<Self> {
        let data = seeded(&config)?;
        let http = crate::http_client_builder().timeout(config.webhook_timeout).build()?;
        let chaos_seed = config.chaos_seed;
        Ok(Self {
            inner: Arc::new(LwInner {
                config,
                data: Mutex::new(data),
                faults: Mutex::new(FaultSet::default()),
                stats: Mutex::new(Stats::default()),
                http,
                chaos: Mutex::new(rand::SeedableRng::seed_from_u64(chaos_seed)),
            }),
        })
    }

    pub fn config(&self) -> &LogiwaConfig {
        &self.inner.config
    }

    pub(crate) fn data(&self) -> std::sync::MutexGuard<'_, LwData> {
        lock(&self.inner.data)
    }

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

    /// Back to the configured seed: catalogue, orders, subscriptions, deliveries, tokens, rate
    /// limit, faults and stats.
    pub fn reset(&self) {
        if let Ok(d) = seeded(&self.inner.config) {
            *self.data() = d;
        }
        lock(&self.inner.faults).clear();
        lock(&self.inner.stats).reset();
    }

    /// Invalidates every token now (next call -> 401).
    pub fn expire_sessions(&self) {
        self.data().tokens.clear();
    }

    /// Requests the documented rate limit answered with 429 so far.
    pub fn throttled(&self) -> u64 {
        self.data().throttled
    }

    /// Turns the documented rate limit on (`Some`) or off.
    pub fn set_rate_limit(&self, tier: Option<RateTier>) {
        let mut d = self.data();
        d.rate_tier = tier;
        d.rate_window.clear();
    }

    /// A valid token without calling `/Authorize/token` (not counted in stats).
    pub fn issue_token(&self) -> String {
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        self.data().tokens.insert(token.clone(), Instant::now());
        token
    }

    pub fn add_warehouse(&self, code: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.data().warehouses.push(Warehouse {
            identifier: id,
            code: code.to_string(),
            name: code.to_string(),
        });
        id
    }

    pub fn add_client(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.data().clients.push(Client {
            identifier: id,
            name: name.to_string(),
        });
        id
    }

    pub fn add_product(&self, seed: ProductSeed) -> Result<Uuid, AdminError> {
        self.data().add_product(&seed).map_err(AdminError::Invalid)
    }

    pub fn add_inventory(&self, seed: InventorySeed) -> Result<Uuid, AdminError> {
        self.data().add_inventory(&seed).map_err(AdminError::Invalid)
    }

    /// Plays a cycle count or manual correction; records one `Adjustment` transaction per row touched.
    pub fn adjust_inventory(&self, req: AdjustRequest) -> Result<Value, AdminError> {
        self.data().adjust(&req).map_err(AdminError::Invalid)
    }

    /// Removes the SKU's rows from the listing; records one `Inventory Removal` transaction per row.
    pub fn remove_inventory(&self, req: RemoveRequest) -> Result<Value, AdminError> {
        self.data().remove(&req).map_err(AdminError::Invalid)
    }

    /// Every recorded transaction in the `Report/TransactionHistory` row shape, oldest first.
    pub fn transactions(&self) -> Vec<Value> {
        let d = self.data();
        d.transactions
            .iter()
            .map(|t| {
                let product = d.product(t.client_identifier, &t.sku);
                transaction_json(t, &d.names(t.client_identifier, t.warehouse_identifier), product)
            })
            .collect()
    }

    /// Vendor requests seen since the last reset (oldest first, at most the last 1000), so tests can
    /// check which filters a client sent.
    pub fn requests(&self) -> Vec<crate::common::stats::RecordedRequest> {
        lock(&self.inner.stats).requests()
    }

    /// Every shipment order in the `GET /ShipmentOrder/list` row shape.
    pub fn shipment_orders(&self) -> Vec<Value> {
        let d = self.data();
        d.orders
            .iter()
            .map(|o| order_list_json(o, &d.names(o.client_identifier, o.warehouse_identifier)))
            .collect()
    }

    /// The code of every shipment order, for a caller checking many orders at once (one lock, one pass).
    pub fn shipment_order_codes(&self) -> std::collections::HashSet<String> {
        self.data().orders.iter().map(|o| o.code.clone()).collect()
    }

    pub fn shipment_order_by_code(&self, code: &str) -> Option<Value> {
        let d = self.data();
        d.orders
            .iter()
            .find(|o| o.code == code)
            .map(|o| order_list_json(o, &d.names(o.client_identifier, o.warehouse_identifier)))
    }

    pub fn inventory_rows(&self) -> Vec<Value> {
        let d = self.data();
        d.inventory
            .iter()
            .map(|r| {
                let product = d.product(r.client_identifier, &r.sku);
                inventory_json(r, &d.names(r.client_identifier, r.warehouse_identifier), product)
            })
            .collect()
    }

    /// Webhook deliveries so far (with bodies), oldest first.
    pub fn webhook_deliveries(&self) -> Vec<Delivery> {
        self.data().deliveries.clone()
    }

    fn order_index(d: &LwData, code: &str, client: Option<Uuid>) -> Result<usize, AdminError> {
        let hits: Vec<usize> = d
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.code == code && client.is_none_or(|c| o.client_identifier == c))
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [] => Err(AdminError::NotFound(format!("shipment order {code}"))),
            [one] => Ok(*one),
            _ => Err(AdminError::Invalid(format!(
                "code {code} is used by several clients; pass clientIdentifier"
            ))),
        }
    }

    /// Plays the warehouse changing an order's status; fires `wms/shipmentorder/statuschange`.
    pub fn set_status(&self, code: &str, client: Option<Uuid>, status: &str) -> Result<Value, AdminError> {
        let status_id = status_lookup(status).ok_or_else(|| AdminError::Invalid(format!("unknown status {status}")))?;
        let (event, body) = {
            let mut d = self.data();
            let idx = Self::order_index(&d, code, client)?;
            let before = d.orders[idx].status_id;
            d.orders[idx].status_id = status_id;
            d.orders[idx].updated = OffsetDateTime::now_utc();
            let o = d.orders[idx].clone();
            let names = d.names(o.client_identifier, o.warehouse_identifier);
            (
                (before != status_id).then(|| status_event(&o, Some(before), &names)),
                (order_json(&o, &names), o.client_identifier),
            )
        };
        if let Some(ev) = event {
            self.emit(TOPIC_STATUS, body.1, ev);
        }
        Ok(body.0)
    }

    /// Plays the warehouse shipping (part of) an order: records packages and carrier labels,
    /// per-line shipped quantities, `actualShipmentDate` and tracking numbers, decrements
    /// inventory, then fires `statuschange` (if the status changed) and `shipment` webhooks.
    pub fn ship(&self, code: &str, client: Option<Uuid>, req: ShipRequest) -> Result<Value, AdminError> {
        let now = OffsetDateTime::now_utc();
        let (status_ev, shipment_ev, client_id, out) = {
            let mut d = self.data();
            let idx = Self::order_index(&d, code, client)?;
            let order = d.orders[idx].clone();
            if order.status_id == STATUS_CANCELLED || order.lines.iter().all(|l| l.open() == 0) {
                return Err(AdminError::Invalid(format!(
                    "shipment order {code} has nothing open to ship (status {})",
                    status_name(order.status_id)
                )));
            }
            let packages_req = match req.packages.clone() {
                Some(p) if !p.is_empty() => p,
                _ => vec![ShipPackage {
                    tracking_number: None,
                    weight: None,
                    lines: order
                        .lines
                        .iter()
                        .filter(|l| l.open() > 0)
                        .map(|l| ShipLine {
                            sku: l.sku.clone(),
                            quantity: if req.partial { (l.open() + 1) / 2 } else { l.open() },
                        })
                        .collect(),
                }],
            };
            let mut lines = order.lines.clone();
            let carrier = req
                .carrier_name
                .clone()
                .or_else(|| order.carrier_name.clone())
                .or_else(|| order.requested_carrier.clone())
                .unwrap_or_else(|| "UPS".into());
            let option = req
                .shipping_option_name
                .clone()
                .or_else(|| order.shipping_option_name.clone())
                .or_else(|| order.requested_shipping_option.clone())
                .unwrap_or_else(|| "Ground".into());
            let mut new_packages = Vec::new();
            for p in &packages_req {
                if p.lines.is_empty() {
                    return Err(AdminError::Invalid("a package needs at least one line".into()));
                }
                let mut pkg_lines = Vec::new();
                for sl in &p.lines {
                    if sl.quantity <= 0 {
                        return Err(AdminError::Invalid(format!("quantity for {} must be > 0", sl.sku)));
                    }
                    let mut left = sl.quantity;
                    for l in lines.iter_mut().filter(|l| l.sku == sl.sku) {
                        let take = left.min(l.open());
                        if take > 0 {
                            l.shipped += take;
                            left -= take;
                            pkg_lines.push((l.sku.clone(), l.pack_type.clone(), take));
                        }
                    }
                    if left > 0 {
                        return Err(AdminError::Invalid(format!(
                            "cannot ship {} of {}: only {} open",
                            sl.quantity,
                            sl.sku,
                            sl.quantity - left
                        )));
                    }
                }
                let tracking = match &p.tracking_number {
                    Some(t) => t.clone(),
                    None => {
                        d.next_tracking += 1;
                        format!("1Z999AA1{:010}", d.next_tracking)
                    }
                };
                let lp = format!("LP{:07}", d.next_lp);
                d.next_lp += 1;
                new_packages.push(Package {
                    identifier: Uuid::new_v4(),
                    master_tracking_number: tracking.clone(),
                    label_url: format!("https://labels.sim.logiwa.invalid/{tracking}.pdf"),
                    tracking_number: tracking,
                    carrier_name: carrier.clone(),
                    shipping_option_name: option.clone(),
                    lp_number: lp,
                    weight: p.weight.unwrap_or(1.0),
                    lines: pkg_lines,
                    shipped_at: now,
                });
            }
            // Inventory leaves the building, one shipment transaction per row it leaves from.
            let mut shipped_rows = Vec::new();
            for pkg in &new_packages {
                for (sku, _, qty) in &pkg.lines {
                    let mut left = i64::from(*qty);
                    for row in d.inventory.iter_mut().filter(|r| {
                        &r.sku == sku
                            && r.client_identifier == order.client_identifier
                            && r.warehouse_identifier == order.warehouse_identifier
                            && r.status_id == 1
                    }) {
                        let take = left.min(row.available);
                        row.available -= take;
                        row.total -= take;
                        row.updated = now;
                        left -= take;
                        if take > 0 {
                            shipped_rows.push(Transaction {
                                type_id: TX_SHIPMENT,
                                at: now,
                                client_identifier: row.client_identifier,
                                warehouse_identifier: row.warehouse_identifier,
                                sku: row.sku.clone(),
                                pack_type: row.pack_type.clone(),
                                from_location: Some(row.location_code.clone()),
                                to_location: None,
                                quantity: take,
                                shipment_order_code: Some(order.code.clone()),
                                inventory_identifier: row.identifier,
                                note: None,
                                ..Transaction::blank()
                            });
                        }
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
            for t in shipped_rows {
                d.record(t);
            }
            let o = &mut d.orders[idx];
            let before = o.status_id;
            o.lines = lines;
            o.carrier_name = Some(carrier);
            o.shipping_option_name = Some(option);
            o.tracking_numbers
                .extend(new_packages.iter().map(|p| p.tracking_number.clone()));
            o.packages.extend(new_packages.iter().cloned());
            o.actual_shipment_date = Some(now);
            let all_done = o.lines.iter().all(|l| l.open() == 0);
            o.status_id = if all_done {
                STATUS_SHIPPED
            } else {
                STATUS_PARTIALLY_SHIPPED
            };
            o.is_partial = !all_done;
            o.updated = now;
            let o = o.clone();
            let names = d.names(o.client_identifier, o.warehouse_identifier);
            (
                (before != o.status_id).then(|| status_event(&o, Some(before), &names)),
                shipment_event(&o, &names, &new_packages),
                o.client_identifier,
                order_json(&o, &names),
            )
        };
        if let Some(ev) = status_ev {
            self.emit(TOPIC_STATUS, client_id, ev);
        }
        self.emit(TOPIC_SHIPMENT, client_id, shipment_ev);
        Ok(out)
    }

    /// Queues one delivery per matching subscription and starts sending it.
    pub(crate) fn emit(&self, topic: &str, client: Uuid, body: Value) {
        let targets: Vec<Delivery> = {
            let mut d = self.data();
            let subs: Vec<Subscription> = d
                .subscriptions
                .iter()
                .filter(|s| s.topic == topic && (s.ignore_client || s.client_identifier == Some(client)))
                .cloned()
                .collect();
            let new: Vec<Delivery> = subs
                .into_iter()
                .map(|s| Delivery {
                    transaction_identifier: Uuid::new_v4(),
                    subscription_identifier: s.identifier,
                    topic: topic.to_string(),
                    address: s.address,
                    request_date: None,
                    response_date: None,
                    http_last_hook_status: None,
                    try_count: 0,
                    delivered: false,
                    body: body.clone(),
                })
                .collect();
            d.deliveries.extend(new.iter().cloned());
            new
        };
        if !self.inner.config.webhook_delivery {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(sim = "logiwa", topic, "no async runtime; webhook not sent");
            return;
        };
        let cfg = &self.inner.config;
        for delivery in targets {
            // Chaos knobs: a random head start (reordering) and extra copies (at-least-once).
            let (copies, delays) = {
                let mut rng = lock(&self.inner.chaos);
                let copies = if cfg.webhook_duplicate_share > 0.0
                    && rand::Rng::random_bool(&mut *rng, cfg.webhook_duplicate_share.clamp(0.0, 1.0))
                {
                    rand::Rng::random_range(&mut *rng, 2..=3)
                } else {
                    1
                };
                let jitter_ms = u64::try_from(cfg.webhook_jitter.as_millis()).unwrap_or(0);
                let delays: Vec<u64> = (0..copies)
                    .map(|_| {
                        if jitter_ms == 0 {
                            0
                        } else {
                            rand::Rng::random_range(&mut *rng, 0..=jitter_ms)
                        }
                    })
                    .collect();
                (copies, delays)
            };
            for delay in delays.into_iter().take(copies) {
                let st = self.clone();
                let delivery = delivery.clone();
                handle.spawn(async move {
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    st.deliver(delivery).await
                });
            }
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let cfg = &self.inner.config;
        let mut backoff = cfg.webhook_backoff;
        for attempt in 1..=cfg.webhook_max_attempts.max(1) {
            let sent_at = logiwa_datetime(OffsetDateTime::now_utc());
            let result = self
                .inner
                .http
                .post(&delivery.address)
                .json(&delivery.body)
                .send()
                .await;
            let status = match &result {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            let ok = (200..300).contains(&status);
            {
                let mut d = self.data();
                if let Some(rec) = d
                    .deliveries
                    .iter_mut()
                    .find(|x| x.transaction_identifier == delivery.transaction_identifier)
                {
                    rec.try_count = attempt;
                    rec.request_date.get_or_insert(sent_at);
                    rec.response_date = Some(logiwa_datetime(OffsetDateTime::now_utc()));
                    rec.http_last_hook_status = Some(status);
                    rec.delivered = ok;
                }
            }
            tracing::info!(sim = "logiwa", topic = %delivery.topic, attempt, status, delivered = ok, "webhook attempt");
            if ok {
                return;
            }
            if attempt < cfg.webhook_max_attempts {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
    }
}

impl crate::common::admin::SimControl for LogiwaState {
    fn reset_all(&self) {
        self.reset();
    }
    fn expire_all_sessions(&self) {
        self.expire_sessions();
    }
}

impl SimHooks for LogiwaState {
    fn sim_name(&self) -> &'static str {
        "logiwa"
    }

    fn faults(&self) -> &Mutex<FaultSet> {
        &self.inner.faults
    }

    fn stats(&self) -> &Mutex<Stats> {
        &self.inner.stats
    }

    fn family(&self, method: &Method, path: &str) -> &'static str {
        let p = path.to_ascii_lowercase();
        if p.starts_with("/v3.1/authorize/token") {
            "token"
        } else if p.starts_with("/v3.1/shipmentorder/create") {
            "shipmentorder.create"
        } else if p.starts_with("/v3.1/shipmentorder/list") {
            "shipmentorder.list"
        } else if p.starts_with("/v3.1/shipmentorder/carrierlabel") {
            "shipmentorder.carrierlabel"
        } else if p.starts_with("/v3.1/shipmentorder/") && method == Method::GET {
            "shipmentorder.get"
        } else if p.starts_with("/v3.1/inventory/list") {
            "inventory.list"
        } else if p.starts_with("/v3.1/report/transactionhistory") {
            "report.transactionhistory"
        } else if p.starts_with("/v3.1/webhook/") {
            "webhook"
        } else {
            "other"
        }
    }

    fn fault_response(&self, status: u16, body: Option<Value>) -> Response {
        match body {
            Some(b) => json_response(status, &b),
            None => empty_response(status),
        }
    }

    /// wms-apis.md §1 [SW]: over the tier's requests per second -> 429, no `Retry-After`.
    fn pre_check(&self, _method: &Method, _path: &str) -> Option<Response> {
        let mut d = self.data();
        let tier = d.rate_tier?;
        let now = Instant::now();
        while d
            .rate_window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            d.rate_window.pop_front();
        }
        if d.rate_window.len() >= tier.per_second() as usize {
            d.throttled += 1;
            return Some(empty_response(429));
        }
        d.rate_window.push_back(now);
        None
    }
}

/// The full router (vendor routes behind the fault gate, plus `/__sim` admin routes).
pub fn router(state: LogiwaState) -> Router {
    let vendor = api::routes().layer(axum::middleware::from_fn_with_state(state.clone(), gate::<LogiwaState>));
    admin::routes().merge(vendor).with_state(state)
}

/// Starts the simulator on `127.0.0.1:<config.port>`.
#[derive(Debug)]
pub struct LogiwaSim;

impl LogiwaSim {
    pub async fn start(config: LogiwaConfig) -> anyhow::Result<RunningSim<LogiwaState>> {
        let port = config.port;
        let state = LogiwaState::new(config)?;
        let running = bind(port, state.clone(), router(state.clone())).await?;
        tracing::info!(sim = "logiwa", base_url = %running.base_url(), "simulator listening");
        Ok(running)
    }

    pub fn router(state: LogiwaState) -> Router {
        router(state)
    }
}

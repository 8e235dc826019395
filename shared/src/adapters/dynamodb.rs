//! DynamoDB adapter for the state ports (idempotency and leases, cross-references, watermarks, inventory snapshots, mapping tables, per-order state) on one table.
//!
//! # Key design
//!
//! One table, partition key `pk` (S) and sort key `sk` (S), TTL on `expiration`. Every item family has its
//! own `pk` prefix, so one table serves every function and IAM can stay "this table" (no scans anywhere).
//!
//! | Family | `pk` | `sk` | Attributes |
//! | --- | --- | --- | --- |
//! | Idempotency | `idem#<function>#<business key>` | `idem` | `status` (`INPROGRESS`/`COMPLETED`), `expiration` (N, epoch **s**, TTL), `in_progress_expiration` (N, epoch **ms**), `data` (S), `validation` (S) |
//! | Xref, Salesforce → WMS | `xref#sf#<18-char id>` | `<wms system>` | `wms_id`, `wms_code`, `created_at` (RFC 3339) |
//! | Xref, WMS → Salesforce | `xref#<wms system>#<wms id>` | `sf` | `sf_id`, `wms_code`, `created_at` |
//! | Watermarks | `wm#<stream>` | `wm` | `watermark` (N, epoch ms), `updated_at` (RFC 3339) |
//! | Inventory snapshots | `pos#<scope>` | `<sku>#<location>` | `fingerprint`, `sent_at` (RFC 3339) |
//! | Order state | `order#<source system>#<source id>` | `state` | `version` (N), `stage` (M: stage, at, source), `history` (L), `wms` (M), `last_error` (M), `last_ignored` (M), `ignored_count` (N), `updated_at` |
//! | Rate buckets | `rate#<bucket>` (e.g. `rate#logiwa#<account>`) | `rate` | `next_ms` (N, epoch ms of the next free send slot) |
//! | Mapping tables (per WMS) | `map#<system>#<sku\|unit\|warehouse\|carrier>` | `#meta` | `passthrough` (BOOL) |
//! | | `map#<table>` | `<source value>` | `target` (S), optional `factor` (N, or S holding a decimal), optional `service` (S) |
//!
//! ## Idempotency protocol (AWS Lambda Powertools, ported as is)
//!
//! 1. **Lock.** Conditional `PutItem` of `{status=INPROGRESS, expiration=now_s+expires_after,
//!    in_progress_expiration=lock_until_ms, validation}` with
//!    `attribute_not_exists(pk) OR expiration < :now_s OR (status = INPROGRESS AND
//!    attribute_exists(in_progress_expiration) AND in_progress_expiration < :now_ms)` and
//!    `ReturnValuesOnConditionCheckFailure = ALL_OLD`. Success: `Execute`.
//! 2. **Conflict.** The existing item comes from the error (ALL_OLD), else from a `GetItem` with
//!    `ConsistentRead` (gone: `Inconsistent`). The `validation` hash is checked first (`PayloadMismatch`);
//!    then COMPLETED and unexpired: `Completed(data)`; INPROGRESS with a live lock: `InProgress`;
//!    anything else (expired, lapsed lock): `Inconsistent`, which the caller retries. Expiry is always
//!    checked client-side: TTL deletion can lag by up to 48 h and is never relied on.
//! 3. **Success.** `UpdateItem` sets `status=COMPLETED`, `data`, a renewed `expiration` and `validation`,
//!    and removes `in_progress_expiration`.
//! 4. **Failure.** `DeleteItem`, so the next attempt starts fresh.
//!
//! ## Other invariants
//!
//! - A cross-reference is written in both directions in one `TransactWriteItems`; each side is conditional
//!   on being absent or already pointing at the same counterpart, so relinking a pair is a no-op and a
//!   different pair is a `Conflict` with nothing written.
//! - A watermark only moves forward: `UpdateItem` conditional on `attribute_not_exists(watermark) OR
//!   watermark < :new`.
//! - Snapshots and mapping seeds are written with `BatchWriteItem` (25 items per call); unprocessed items
//!   are retried with bounded exponential back-off, then reported as `Unavailable`.
//! - Reads are strongly consistent: a link or watermark written by one Lambda is read by another
//!   moments later, and a stale read there means a duplicate WMS order or a resent snapshot.

mod bulk;
mod idempotency;
mod item;
mod mappings;
mod order_state;
mod positions;
mod rate;
pub mod rules;
mod watermarks;
mod xref;

use aws_sdk_dynamodb::Client;
use aws_types::SdkConfig;

pub use mappings::put_mapping_tables;

use crate::error::BoxError;
use crate::ports::StoreError;

/// The state table: implements `IdempotencyStore`, `XrefStore`, `WatermarkStore`, `PositionStore`,
/// `MappingSource` and `OrderStateStore`. Cheap to clone (the SDK client is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
    /// The last `next_ms` this process saw per rate bucket: tells a reservation which of its two
    /// conditional writes (busy or idle bucket) will most likely succeed, so most take one call.
    rate_hints: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// Cross-references this process has read or written. A link never changes once made (both sides
    /// are conditional on agreeing), so a found link can be answered from memory; absence never is.
    links: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, xref::Cached>>>,
}

impl DynamoState {
    /// Wraps a client and the table name.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            rate_hints: std::sync::Arc::default(),
            links: std::sync::Arc::default(),
        }
    }

    /// Builds the client from an SDK configuration.
    pub fn from_conf(conf: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(conf), table)
    }

    /// The SDK client (for seeding helpers and tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// `pk`/`sk` values, in one place so the key design above has a single implementation.
pub mod keys {
    use crate::domain::{SalesforceId, WmsOrderId};
    use crate::mapping::TableName;
    use crate::ports::{IdempotencyKey, WmsSystem};

    /// Sort key of idempotency records.
    pub const IDEMPOTENCY_SK: &str = "idem";
    /// Sort key of the WMS → Salesforce side of a cross-reference.
    pub const XREF_SF_SK: &str = "sf";
    /// Sort key of watermarks.
    pub const WATERMARK_SK: &str = "wm";
    /// Sort key of a mapping table's metadata item.
    pub const MAPPING_META_SK: &str = "#meta";
    /// Sort key of an order's state item.
    pub const ORDER_STATE_SK: &str = "state";
    /// Sort key of a shared rate bucket.
    pub const RATE_SK: &str = "rate";

    /// `rate#<bucket>` (sort key: `rate`).
    pub fn rate(bucket: &str) -> String {
        format!("rate#{bucket}")
    }

    /// `order#<source system>#<source id>` (sort key: `state`).
    pub fn order_state(source_system: &str, source_id: &str) -> String {
        format!("order#{source_system}#{source_id}")
    }

    /// `idem#<key>`.
    pub fn idempotency(key: &IdempotencyKey) -> String {
        format!("idem#{}", key.as_str())
    }

    /// `xref#sf#<18-char id>` (sort key: the WMS system).
    pub fn xref_salesforce(id: &SalesforceId) -> String {
        format!("xref#sf#{}", id.as_str())
    }

    /// `xref#<system>#<wms id>` (sort key: `sf`).
    pub fn xref_wms(system: WmsSystem, id: &WmsOrderId) -> String {
        format!("xref#{}#{}", system.as_str(), id.as_str())
    }

    /// `wm#<stream>`.
    pub fn watermark(stream: &str) -> String {
        format!("wm#{stream}")
    }

    /// `pos#<scope>` (sort key: the position key).
    pub fn positions(scope: &str) -> String {
        format!("pos#{scope}")
    }

    /// `map#<system>#<table>`.
    pub fn mapping(system: WmsSystem, table: TableName) -> String {
        format!("map#{}#{}", system.as_str(), table.as_str())
    }
}

/// Keeps an SDK (or builder) error as the source of a port error.
fn boxed<E: std::error::Error + Send + Sync + 'static>(err: E) -> BoxError {
    Box::new(err)
}

/// RFC 3339 "now" for the informational `created_at`/`updated_at`/`sent_at` attributes.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        // Formatting a UTC "now" cannot fail; an empty audit stamp is better than failing a write over it.
        .unwrap_or_default()
}

impl DynamoState {
    /// Strongly consistent `GetItem` (see the module doc for why every read is consistent).
    async fn read_item(&self, pk: &str, sk: &str) -> Result<Option<item::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", item::s(pk))
            .key("sk", item::s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(boxed(e)))?;
        Ok(out.item.filter(|i| !i.is_empty()))
    }

    /// Every item under one partition key, following `LastEvaluatedKey` across pages.
    async fn query_partition(&self, pk: &str) -> Result<Vec<item::Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", item::s(pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|e| StoreError::Unavailable(boxed(e)))?);
        }
        Ok(items)
    }
}

//! The warehouse: one connector per WMS, its order and stock reads, and its errors.

use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::salesforce::ApiFieldError;
use super::secrets::SecretError;
use super::state::WmsRef;
use crate::domain::WmsSystem;
use crate::domain::{
    Address, CurrencyCode, InventoryPosition, LocationCode, SalesforceId, Shipment, Sku, UnitOfMeasure,
};
use crate::error::{BoxError, Classified, FailureClass};

/// A line as the WMS will receive it (after SKU and unit mapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WmsOrderLine {
    /// Source line id, for our own records.
    pub source_line_id: SalesforceId,
    /// WMS SKU.
    pub sku: Sku,
    /// WMS unit (Logiwa `packType`).
    pub unit: UnitOfMeasure,
    /// Whole quantity in the WMS unit.
    pub quantity: i32,
    /// Unit price in the order currency.
    pub unit_price: Decimal,
    /// Unit tax.
    pub unit_tax: Decimal,
    /// Description.
    pub description: Option<String>,
}

/// An order mapped into one WMS's codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WmsOrderRequest {
    /// The order code (= source order number). The WMS's duplicate key.
    pub code: String,
    /// Source record id, sent as the client reference.
    pub source_record_id: SalesforceId,
    /// WMS warehouse identifier.
    pub warehouse: LocationCode,
    /// Currency.
    pub currency: CurrencyCode,
    /// Order date.
    #[serde(with = "time::serde::rfc3339")]
    pub ordered_at: OffsetDateTime,
    /// Customer / account name.
    pub customer_name: Option<String>,
    /// Ship-to.
    pub ship_to: Address,
    /// Bill-to (None = same as ship-to).
    pub bill_to: Option<Address>,
    /// WMS carrier identifier, if mapped.
    pub carrier: Option<String>,
    /// WMS shipping option (service) identifier, if mapped.
    pub service: Option<String>,
    /// Lines.
    pub lines: Vec<WmsOrderLine>,
}

/// Errors from a WMS.
#[derive(Debug, thiserror::Error)]
pub enum WmsError {
    /// Credentials refused.
    #[error("{system} refused our credentials: {message}")]
    Unauthorized {
        /// WMS.
        system: &'static str,
        /// Vendor message.
        message: String,
    },
    /// The WMS rejected the request (validation). Permanent until the data or mapping is fixed.
    #[error("{system} rejected the request: {}", .errors.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
    Rejected {
        /// WMS.
        system: &'static str,
        /// Vendor errors, with the failing fields.
        errors: Vec<ApiFieldError>,
    },
    /// Not found.
    #[error("{system}: {what} not found")]
    NotFound {
        /// WMS.
        system: &'static str,
        /// What.
        what: String,
    },
    /// Throttled (429): back off.
    #[error("{system} rate limit reached")]
    RateLimited {
        /// WMS.
        system: &'static str,
        /// Suggested wait, when the vendor gives one.
        retry_after: Option<Duration>,
    },
    /// 5xx or timeout.
    #[error("{system} unavailable: {message}")]
    Unavailable {
        /// WMS.
        system: &'static str,
        /// Detail.
        message: String,
    },
    /// Network failure before any answer.
    #[error("could not reach {system}")]
    Transport {
        /// WMS.
        system: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// The answer did not have the documented shape.
    #[error("unexpected {system} response: {message}")]
    Decode {
        /// WMS.
        system: &'static str,
        /// Detail.
        message: String,
    },
    /// Our credentials secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Classified for WmsError {
    fn class(&self) -> FailureClass {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Transport { .. } => FailureClass::Transient,
            Self::Secret(e) => e.class(),
            Self::Unauthorized { .. } | Self::Rejected { .. } | Self::NotFound { .. } | Self::Decode { .. } => {
                FailureClass::Permanent
            }
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "WMS_UNAUTHORIZED",
            Self::Rejected { .. } => "WMS_REJECTED",
            Self::NotFound { .. } => "WMS_NOT_FOUND",
            Self::RateLimited { .. } => "WMS_RATE_LIMITED",
            Self::Unavailable { .. } => "WMS_UNAVAILABLE",
            Self::Transport { .. } => "WMS_TRANSPORT",
            Self::Decode { .. } => "WMS_DECODE",
            Self::Secret(e) => e.code(),
        }
    }
}

impl WmsError {
    /// An owned copy with the same class and code, for fanning one failure out to every record it covered.
    #[must_use]
    pub fn for_each_record(&self) -> Self {
        match self {
            Self::Unauthorized { system, message } => Self::Unauthorized {
                system,
                message: message.clone(),
            },
            Self::Rejected { system, errors } => Self::Rejected {
                system,
                errors: errors.clone(),
            },
            Self::NotFound { system, what } => Self::NotFound {
                system,
                what: what.clone(),
            },
            Self::RateLimited { system, retry_after } => Self::RateLimited {
                system,
                retry_after: *retry_after,
            },
            Self::Unavailable { system, message } => Self::Unavailable {
                system,
                message: message.clone(),
            },
            Self::Transport { system, .. } => Self::Unavailable {
                system,
                message: crate::error::chain(self),
            },
            Self::Decode { system, message } => Self::Decode {
                system,
                message: message.clone(),
            },
            Self::Secret(e) => match e {
                SecretError::NotFound { id } => Self::Secret(SecretError::NotFound { id: id.clone() }),
                SecretError::Malformed { id, reason } => Self::Secret(SecretError::Malformed {
                    id: id.clone(),
                    reason: reason.clone(),
                }),
                SecretError::Unavailable(_) => Self::Unavailable {
                    system: "secrets",
                    message: crate::error::chain(self),
                },
            },
        }
    }
}

/// A warehouse system. One adapter per WMS (Logiwa first; Linnworks and OrderFlow fit the same shape).
#[async_trait]
pub trait WmsConnector: Send + Sync {
    /// Which WMS this is.
    fn system(&self) -> WmsSystem;

    /// How this WMS's order status values map onto the lifecycle.
    fn order_statuses(&self) -> &crate::lifecycle::StatusTable;

    /// Finds an order by the code we created it with (the duplicate check before creating).
    ///
    /// # Errors
    /// Any `WmsError` except `NotFound` (absence is `Ok(None)`).
    async fn find_order(&self, code: &str) -> Result<Option<WmsRef>, WmsError>;

    /// Creates an order.
    ///
    /// # Errors
    /// `Rejected` with the vendor's field errors; transient variants for retry.
    async fn create_order(&self, order: &WmsOrderRequest) -> Result<WmsRef, WmsError>;

    /// Reads what has shipped for an order: one `Shipment` per shipment event/split, with packages and
    /// tracking, and the WMS's own change stamp of the order version it read.
    ///
    /// # Errors
    /// `NotFound` when the order does not exist; transient variants for retry.
    async fn shipments(&self, order: &WmsRef) -> Result<OrderShipments, WmsError>;

    /// The orders this WMS changed during `window`, from its order listing (the poll that catches the
    /// webhooks it gave up on). `Ok(None)` means this WMS cannot list orders by change time.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn order_changes(&self, _window: &ChangeWindow) -> Result<Option<OrderChanges>, WmsError> {
        Ok(None)
    }

    /// Reads current stock for one warehouse, aggregated per SKU (WMS naming), and says whether the
    /// listing is complete: only a complete listing proves a SKU gone by leaving it out.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory(&self, warehouse: &LocationCode) -> Result<InventoryListing, WmsError>;

    /// Reads current stock of one SKU in one warehouse (WMS naming). A complete listing without a
    /// position is the WMS positively reporting the SKU gone from that warehouse.
    ///
    /// The default reads the whole warehouse and keeps the SKU; connectors with a SKU filter override it.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory_of(&self, warehouse: &LocationCode, sku: &Sku) -> Result<InventoryListing, WmsError> {
        let listing = self.inventory(warehouse).await?;
        Ok(InventoryListing {
            positions: listing.positions.into_iter().filter(|p| &p.sku == sku).collect(),
            completeness: listing.completeness,
        })
    }

    /// The SKUs whose stock moved in a warehouse during `window`, from the WMS's transaction feed.
    /// `Ok(None)` means this WMS has no such feed and every poll must list the warehouse in full.
    ///
    /// # Errors
    /// Any `WmsError`.
    async fn inventory_changes(
        &self,
        _warehouse: &LocationCode,
        _window: &ChangeWindow,
    ) -> Result<Option<InventoryChanges>, WmsError> {
        Ok(None)
    }
}

/// Whether a paged WMS read can be trusted to be whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Every page was read, the rows add up to the total the WMS announced, and no page contradicted
    /// another.
    Complete,
    /// Something did not add up (a short or empty page before the total, a total that changed between
    /// pages, rows seen twice, a row that could not be attributed). Absence proves nothing.
    Incomplete {
        /// What did not add up, for logs and the poll report (no payload data).
        reason: String,
    },
}

impl Completeness {
    /// True for `Complete`.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete)
    }
}

/// One read of a warehouse's (or one SKU's) stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryListing {
    /// Per-SKU positions in WMS naming, sorted by SKU.
    pub positions: Vec<InventoryPosition>,
    /// Whether the read was whole.
    pub completeness: Completeness,
}

/// The span of stock transactions one poll asks the WMS for, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    /// Start (the last accepted watermark minus the overlap).
    pub from: OffsetDateTime,
    /// End (the poll's start).
    pub to: OffsetDateTime,
}

impl ChangeWindow {
    /// The window a change read makes after a watermark: `[min(mark, now) − overlap, now]`. The
    /// watermark is the start of the last read whose changes were all handed on; the overlap re-reads
    /// changes recorded after that read but stamped before it (two changes sharing a timestamp, one
    /// visible and one not yet). A watermark ahead of the clock (another host's clock, a manual edit)
    /// must not produce an empty window, hence the `min`.
    pub fn after(mark: OffsetDateTime, now: OffsetDateTime, overlap: Duration) -> Self {
        let overlap = time::Duration::try_from(overlap).unwrap_or(time::Duration::MAX);
        let start = mark.min(now);
        Self {
            from: start.checked_sub(overlap).unwrap_or(start),
            to: now,
        }
    }

    /// Whether a transaction stamped `at` belongs to the window. Connectors whose feed filters at a
    /// coarser grain (e.g. whole days) read a wider range and keep the rows this accepts.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.from <= at && at <= self.to
    }
}

/// One read of an order's shipments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderShipments {
    /// One per shipment event/split, oldest first.
    pub shipments: Vec<Shipment>,
    /// The WMS's own last-change stamp of the order as read (its clock, not ours), when it gives one:
    /// a later listing row stamped no later than this was already seen by this read.
    pub changed_at: Option<OffsetDateTime>,
}

/// What a WMS's order listing reported for one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChanges {
    /// Orders with a change stamped inside the window, one entry per order.
    pub orders: Vec<ChangedOrder>,
    /// Whether the listing was read whole. An incomplete listing may have missed orders.
    pub completeness: Completeness,
    /// Rows that did not read as orders (skipped; none of them can be one waybill created).
    pub unreadable: usize,
}

/// One order a WMS changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedOrder {
    /// The order.
    pub order: WmsRef,
    /// The WMS's stamp of the change (its clock).
    pub changed_at: OffsetDateTime,
    /// The WMS status name now, when given.
    pub status: Option<String>,
    /// Whether anything of it has shipped (only then is there something to write back).
    pub shipped: bool,
}

/// What a WMS's transaction feed reported for one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryChanges {
    /// WMS SKUs with at least one stock transaction in the window, sorted and without repeats.
    pub skus: Vec<Sku>,
    /// Transactions in the window (after the connector's own filtering).
    pub transactions: usize,
    /// Whether the feed was read whole. An incomplete feed may have missed SKUs.
    pub completeness: Completeness,
}

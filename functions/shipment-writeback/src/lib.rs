//! shipment-writeback: consumes fulfillment events, reads the shipment truth from the WMS, and writes
//! Shipments, ShipmentItems and the FulfillmentOrder status to Salesforce in as few calls as the API allows.
//!
//! Per SQS batch: WMS reads per record (bounded concurrency), then ONE order-graph query, ONE Shipment
//! upsert and ONE ShipmentItem upsert (sObject Collections, ≤200 records per call), then ONE status
//! update. Every per-record Salesforce failure maps back to the message that produced it. Upserts are
//! keyed on external ids, so a retried batch (after a 5xx, even one where Salesforce had committed)
//! updates instead of duplicating.
//!
//! Every order of the batch is written under its lease (shared with the orders consumer), so two
//! parallel batches about one order cannot both create its Shipments or interleave status writes; the
//! status is written only when the lifecycle moves it forward from what Salesforce shows now.

pub mod config;
pub mod records;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{info, warn};
use waybill::batch::{self, BatchOptions, BatchReport, Record};
use waybill::domain::{SalesforceId, ValidationError};
use waybill::error::{chain, Classified, FailureClass, InvocationError};
use waybill::invocation::Invocation;
use waybill::lease::{order_subject, Lease, Leases, Taken};
use waybill::lifecycle::{may_write, Stage, Verdict};
use waybill::mapping::{CachedMappings, MappingError};
use waybill::messages::{Envelope, FulfillmentEvent, MessageError};
use waybill::order_state::{Tracker, WmsRead};
use waybill::ports::{
    ApiFieldError, IdempotencyStore, OrderStateStore, QueuePublisher, SalesforceApi, SalesforceError, ShipmentRecord,
    StatusUpdate, StoreError, WmsConnector, WmsError, WmsRef, XrefStore,
};

pub use config::Config;

/// The function's name.
pub const FUNCTION: &str = "shipment-writeback";

/// The source-system name on order state items.
const SOURCE_SYSTEM: &str = waybill::order_state::SALESFORCE_SOURCE;

/// How long a record waits for another invocation's lease on its order before it is retried later.
const LEASE_PATIENCE: Duration = Duration::from_secs(3);

/// The ports this function drives.
#[derive(Clone)]
pub struct Ports {
    /// Queue publisher (DLQ parking).
    pub queue: Arc<dyn QueuePublisher>,
    /// Salesforce.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The WMS connectors, by system: each event is read back from the system it names.
    pub wms: Arc<waybill::registry::Registry<dyn WmsConnector>>,
    /// Cross-references.
    pub xref: Arc<dyn XrefStore>,
    /// Order leases (idempotency records in the state table).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Per-order state items.
    pub order_state: Arc<dyn OrderStateStore>,
    /// Mapping tables.
    pub mappings: Arc<CachedMappings>,
}

/// The function.
#[derive(Clone)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// Ports.
    pub ports: Ports,
}

/// Why a fulfillment event could not be written back.
#[derive(Debug, thiserror::Error)]
pub enum WritebackError {
    /// Not a fulfillment event.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The event names a WMS no connector is configured for.
    #[error("event is for {0}, but this deployment has no connector for it (it serves {1})")]
    WrongSystem(String, String),
    /// No Salesforce record is linked to the WMS order (yet): retried, then parked.
    #[error("no Salesforce record is linked to {system} order {wms_id}")]
    NotLinked {
        /// WMS.
        system: &'static str,
        /// WMS order id.
        wms_id: String,
    },
    /// The linked record is gone from Salesforce or unreadable.
    #[error("FulfillmentOrder {0} not found in Salesforce")]
    OrderNotFound(SalesforceId),
    /// The linked record cannot be read into an order.
    #[error("FulfillmentOrder {id} is invalid: {source}")]
    OrderInvalid {
        /// Record.
        id: SalesforceId,
        /// Why.
        #[source]
        source: ValidationError,
    },
    /// A shipped value has no mapping back.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The WMS failed.
    #[error(transparent)]
    Wms(#[from] WmsError),
    /// Salesforce failed for the whole call.
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    /// Salesforce rejected this record.
    #[error("salesforce rejected the record: {}", .0.iter().map(|e| format!("{} {} {:?}", e.code, e.message, e.fields)).collect::<Vec<_>>().join("; "))]
    RecordRejected(Vec<ApiFieldError>),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another invocation holds this order's lease: retried later.
    #[error("FulfillmentOrder {0} is being written by another invocation")]
    Busy(SalesforceId),
}

impl Classified for WritebackError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Message(e) => e.class(),
            Self::WrongSystem(..) | Self::OrderNotFound(_) | Self::OrderInvalid { .. } => FailureClass::Permanent,
            // The link is written right after the WMS order is created; a shipment event racing it
            // resolves on retry. If it never appears, the record is parked after maxReceiveCount.
            Self::NotLinked { .. } | Self::Busy(_) => FailureClass::Transient,
            Self::Mapping(e) => e.class(),
            Self::Wms(e) => e.class(),
            Self::Salesforce(e) => e.class(),
            Self::RecordRejected(errs) => {
                // Row locks and transient server states are worth another try; validation is not.
                if errs
                    .iter()
                    .any(|e| matches!(e.code.as_str(), "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE"))
                {
                    FailureClass::Transient
                } else {
                    FailureClass::Permanent
                }
            }
            Self::Store(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Message(e) => e.code(),
            Self::WrongSystem(..) => "WRONG_WMS",
            Self::NotLinked { .. } => "XREF_MISSING",
            Self::OrderNotFound(_) => "ORDER_NOT_FOUND",
            Self::OrderInvalid { .. } => "ORDER_INVALID",
            Self::Mapping(e) => e.code(),
            Self::Wms(e) => e.code(),
            Self::Salesforce(e) => e.code(),
            Self::RecordRejected(_) => "SALESFORCE_RECORD_REJECTED",
            Self::Store(e) => e.code(),
            Self::Busy(_) => "ORDER_BUSY",
        }
    }
}

/// A record that made it through the WMS reads.
/// An event resolved to its WMS order and linked Salesforce record.
struct Linked {
    message_id: String,
    fo_id: SalesforceId,
    wms_ref: WmsRef,
    received_at: time::OffsetDateTime,
    /// The WMS's stamp of the order version the event is about, when it names one.
    wms_changed_at: Option<time::OffsetDateTime>,
}

/// What one record says about its order's progress.
struct Progress {
    message_id: String,
    fo_id: SalesforceId,
    system: waybill::ports::WmsSystem,
    stage: Stage,
    at: time::OffsetDateTime,
    current_status: String,
    /// The WMS's change stamp of the order version read.
    changed_at: Option<time::OffsetDateTime>,
}

/// A linked event with the shipment truth read from the WMS.
struct Resolved {
    message_id: String,
    fo_id: SalesforceId,
    system: waybill::ports::WmsSystem,
    read: Arc<waybill::ports::OrderShipments>,
}

impl App {
    /// Handles one invocation (an SQS batch).
    ///
    /// # Errors
    /// `InvocationError` for events that are not SQS batches.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        match Invocation::classify(event.payload)? {
            Invocation::Sqs(batch) => {
                let deadline_ms = event.context.deadline;
                let report = waybill::deadline::scope(deadline_ms, self.handle_batch(batch, deadline_ms)).await;
                serde_json::to_value(report.response()).map_err(|e| InvocationError::new("SERIALIZE", e.to_string()))
            }
            _ => Err(InvocationError::new(
                "UNSUPPORTED_EVENT",
                "shipment-writeback takes SQS batches only",
            )),
        }
    }

    /// Processes one SQS batch; `deadline_ms` is the invocation deadline (epoch ms, 0 = unknown), which
    /// bounds the order leases.
    pub async fn handle_batch(&self, event: SqsEvent, deadline_ms: u64) -> BatchReport {
        let opts = BatchOptions {
            function: FUNCTION,
            concurrency: self.config.concurrency,
            dlq_url: Some(self.config.dlq_url.clone()),
            max_receive_count: self.config.max_receive_count,
        };
        batch::batched(event, &opts, self.ports.queue.as_ref(), |records| {
            self.write_back(records, deadline_ms)
        })
        .await
    }

    async fn write_back(&self, records: Vec<Record>, deadline_ms: u64) -> HashMap<String, Result<(), WritebackError>> {
        let mut results: HashMap<String, Result<(), WritebackError>> = HashMap::new();
        let leases = Leases::new(self.ports.idempotency.as_ref());
        let mut held = Vec::new();
        let started = std::time::Instant::now();
        // 1. Resolve each event to its WMS order and its Salesforce record, and acknowledge the events
        // about a WMS version a write-back already read (a sweep's, queued behind the webhook's).
        let linked = self.resolve_all(records, &mut results).await;
        let linked = self.skip_written(linked, &mut results).await;
        let resolved_ms = started.elapsed().as_millis();
        // 1a. Everything below reads and writes these orders under their leases. Orders whose lease is
        // free are written at once; the others wait for theirs (up to LEASE_PATIENCE) while that first
        // round runs, and are written in a second round. Waiting before writing anything made one
        // busy order hold up its whole batch for the full patience.
        let (free, waiting) = self
            .take_free_leases(linked, deadline_ms, &leases, &mut held, &mut results)
            .await;
        let (first_round, waited) = (free.len(), waiting.len());
        let leased_ms = started.elapsed().as_millis();
        let mut late_results = HashMap::new();
        let mut late_held = Vec::new();
        let ((), late) = tokio::join!(
            self.write_orders(free, &mut results),
            self.lease_orders(waiting, deadline_ms, &leases, &mut late_held, &mut late_results),
        );
        let first_round_ms = started.elapsed().as_millis();
        let second_round = late.len();
        if !late.is_empty() {
            self.write_orders(late, &mut late_results).await;
        }
        // Where a slow batch spent its time, for the operator reading the log.
        info!(
            first_round,
            waited,
            second_round,
            resolved_ms,
            leased_ms,
            first_round_ms,
            total_ms = started.elapsed().as_millis(),
            "write-back rounds"
        );
        results.extend(late_results);
        held.extend(late_held);
        for lease in held {
            if let Err(e) = leases.release(lease).await {
                warn!(error.message = %chain(&e), "could not release an order lease; it lapses at the deadline");
            }
        }
        results
    }

    /// Takes, without waiting, the lease of every order the linked records are about. Returns the
    /// records whose order this invocation now holds, and those whose order is leased elsewhere.
    async fn take_free_leases(
        &self,
        linked: Vec<Linked>,
        deadline_ms: u64,
        leases: &Leases<'_>,
        held: &mut Vec<Lease>,
        results: &mut HashMap<String, Result<(), WritebackError>>,
    ) -> (Vec<Linked>, Vec<Linked>) {
        let orders: BTreeSet<SalesforceId> = linked.iter().map(|l| l.fo_id.clone()).collect();
        let taken: Vec<(SalesforceId, Result<Option<Lease>, waybill::ports::IdempotencyError>)> =
            futures::stream::iter(orders)
                .map(|id| async move {
                    let res = leases.try_acquire(&order_subject(&id), deadline_ms).await;
                    (id, res)
                })
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
        let mut mine: HashSet<SalesforceId> = HashSet::new();
        let mut failed: HashMap<SalesforceId, String> = HashMap::new();
        for (id, res) in taken {
            match res {
                Ok(Some(lease)) => {
                    held.push(lease);
                    mine.insert(id);
                }
                Ok(None) => {}
                Err(e) => {
                    failed.insert(id, chain(&e));
                }
            }
        }
        let (mut free, mut waiting) = (Vec::new(), Vec::new());
        for l in linked {
            if mine.contains(&l.fo_id) {
                free.push(l);
            } else if let Some(reason) = failed.get(&l.fo_id) {
                results.insert(l.message_id, Err(lease_unavailable(reason)));
            } else {
                waiting.push(l);
            }
        }
        (free, waiting)
    }

    /// Waits (up to LEASE_PATIENCE, every order at once) for the leases of orders another invocation
    /// holds; records whose order stays leased fail as `Busy` (retried), or succeed when a write-back
    /// that read the WMS after they arrived completed meanwhile. Returns the records now leased here.
    async fn lease_orders(
        &self,
        linked: Vec<Linked>,
        deadline_ms: u64,
        leases: &Leases<'_>,
        held: &mut Vec<Lease>,
        results: &mut HashMap<String, Result<(), WritebackError>>,
    ) -> Vec<Linked> {
        // Per order, the latest arrival among its events: the order is covered when a completed
        // write-back read the WMS after all of them.
        let mut latest: BTreeMap<SalesforceId, time::OffsetDateTime> = BTreeMap::new();
        for l in &linked {
            let at = latest.entry(l.fo_id.clone()).or_insert(l.received_at);
            *at = (*at).max(l.received_at);
        }
        // All at once: a waiter mostly sleeps between reads, and waiting in waves of `concurrency`
        // would multiply the patience.
        let taken: Vec<(SalesforceId, Result<Taken, waybill::ports::IdempotencyError>)> =
            futures::future::join_all(latest.into_iter().map(|(id, received_at)| async move {
                let res = leases
                    .wait_unless(&order_subject(&id), deadline_ms, LEASE_PATIENCE, || {
                        self.covered(&id, received_at)
                    })
                    .await;
                (id, res)
            }))
            .await;
        let mut ok: HashSet<SalesforceId> = HashSet::new();
        let mut covered: HashSet<SalesforceId> = HashSet::new();
        let mut failed: HashMap<SalesforceId, String> = HashMap::new();
        for (id, res) in taken {
            match res {
                Ok(Taken::Held(lease)) => {
                    held.push(lease);
                    ok.insert(id);
                }
                Ok(Taken::Covered) => {
                    covered.insert(id);
                }
                Ok(Taken::Busy) => {}
                Err(e) => {
                    failed.insert(id, chain(&e));
                }
            }
        }
        let mut out = Vec::new();
        for l in linked {
            if ok.contains(&l.fo_id) {
                out.push(l);
            } else if let Some(reason) = failed.get(&l.fo_id) {
                results.insert(l.message_id, Err(lease_unavailable(reason)));
            } else if covered.contains(&l.fo_id) {
                // Another invocation is writing this order now, and the last completed write-back read
                // the WMS after this event arrived: what the event points at is already in Salesforce.
                info!(message_id = %l.message_id, sf_id = %l.fo_id, "event already covered by a later write-back");
                results.insert(l.message_id, Ok(()));
            } else {
                info!(message_id = %l.message_id, sf_id = %l.fo_id, "order leased by another invocation; retried later");
                results.insert(l.message_id, Err(WritebackError::Busy(l.fo_id)));
            }
        }
        out
    }

    /// Whether a completed write-back of the event's order began reading the WMS after the event was
    /// received (notifications point, consumers read: that read saw what the event points at).
    async fn covered(&self, fo_id: &SalesforceId, received_at: time::OffsetDateTime) -> bool {
        let tracker = Tracker::new(self.ports.order_state.as_ref(), SOURCE_SYSTEM);
        match tracker.get(fo_id.as_str()).await {
            Ok(Some(st)) => st.wms_read_at.is_some_and(|r| r >= received_at),
            Ok(None) => false,
            Err(e) => {
                warn!(sf_id = %fo_id, error.message = %chain(&e), "order state unreadable; event retried");
                false
            }
        }
    }

    /// Answers, without reading anything, the events naming a WMS version that a successful write-back
    /// of their order already read (`OrderState::wms_change_written`); returns the rest. An order state
    /// that cannot be read leaves its event to the full write-back.
    async fn skip_written(
        &self,
        linked: Vec<Linked>,
        results: &mut HashMap<String, Result<(), WritebackError>>,
    ) -> Vec<Linked> {
        let checked: Vec<(Linked, bool)> = futures::stream::iter(linked)
            .map(|l| async move {
                let Some(stamp) = l.wms_changed_at else {
                    return (l, false);
                };
                let tracker = Tracker::new(self.ports.order_state.as_ref(), SOURCE_SYSTEM);
                let written = match tracker.get(l.fo_id.as_str()).await {
                    Ok(state) => state.is_some_and(|st| st.wms_change_written(stamp)),
                    Err(e) => {
                        warn!(sf_id = %l.fo_id, error.message = %chain(&e), "order state unreadable; the event is written back in full");
                        false
                    }
                };
                (l, written)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut rest = Vec::new();
        for (l, written) in checked {
            if written {
                info!(message_id = %l.message_id, sf_id = %l.fo_id, "the WMS version this event names is already written back");
                results.insert(l.message_id, Ok(()));
            } else {
                rest.push(l);
            }
        }
        rest
    }

    /// Resolves every record to its order, answering those that cannot be.
    async fn resolve_all(
        &self,
        records: Vec<Record>,
        results: &mut HashMap<String, Result<(), WritebackError>>,
    ) -> Vec<Linked> {
        let linked: Vec<Result<Linked, (String, WritebackError)>> = futures::stream::iter(records)
            .map(|r| async move {
                let id = r.message_id.clone();
                self.resolve(r).await.map_err(|e| (id, e))
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut linked_ok = Vec::new();
        for r in linked {
            match r {
                Ok(x) => linked_ok.push(x),
                Err((id, e)) => {
                    results.insert(id, Err(e));
                }
            }
        }
        linked_ok
    }

    /// Writes back the records of orders this invocation holds the leases of. The WMS reads start
    /// after the leases were taken, so this write-back covers every event about these orders received
    /// before `read_started`.
    async fn write_orders(&self, linked_ok: Vec<Linked>, results: &mut HashMap<String, Result<(), WritebackError>>) {
        if linked_ok.is_empty() {
            return;
        }
        let read_started = time::OffsetDateTime::now_utc();

        // 1b. Read each WMS order's shipments once, however many events about it the batch holds
        // (Logiwa sends a statuschange and a shipment event for one ship).
        let mut orders: Vec<WmsRef> = linked_ok.iter().map(|l| l.wms_ref.clone()).collect();
        orders.sort_by(|a, b| a.id.cmp(&b.id));
        orders.dedup_by(|a, b| a.id == b.id);
        let read: HashMap<String, Result<Arc<waybill::ports::OrderShipments>, WmsError>> =
            futures::stream::iter(orders)
                .map(|r| async move {
                    let res = match self.ports.wms.get(r.system.as_str()) {
                        Some(wms) => wms.shipments(&r).await.map(Arc::new),
                        None => Err(WmsError::Unavailable {
                            system: "registry",
                            message: format!("no connector for {}", r.system.as_str()),
                        }),
                    };
                    (r.id.to_string(), res)
                })
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
        let mut ok = Vec::new();
        for l in linked_ok {
            match read.get(l.wms_ref.id.as_str()) {
                Some(Ok(shipments)) => {
                    if shipments.shipments.is_empty() {
                        info!(message_id = %l.message_id, order_code = %l.wms_ref.code, "no shipment yet; nothing to write");
                    }
                    ok.push(Resolved {
                        message_id: l.message_id,
                        fo_id: l.fo_id,
                        system: l.wms_ref.system,
                        read: shipments.clone(),
                    });
                }
                Some(Err(e)) => {
                    results.insert(l.message_id, Err(WritebackError::Wms(e.for_each_record())));
                }
                None => {
                    results.insert(
                        l.message_id,
                        Err(WritebackError::NotLinked {
                            system: l.wms_ref.system.as_str(),
                            wms_id: l.wms_ref.id.to_string(),
                        }),
                    );
                }
            }
        }
        if ok.is_empty() {
            return;
        }

        // 2. One query for every order graph in the batch.
        let mut ids: Vec<SalesforceId> = ok.iter().map(|r| r.fo_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let graphs = match self.ports.salesforce.fetch_orders(&ids).await {
            Ok(g) => g,
            Err(e) => return fail_all(results, ok, &e),
        };
        // Each WMS has its own mapping tables; one load per system in the batch.
        let mut systems: Vec<waybill::ports::WmsSystem> = ok.iter().map(|r| r.system).collect();
        systems.sort();
        systems.dedup();
        let mut tables_by_system = HashMap::new();
        for system in systems {
            match self.ports.mappings.get(system).await {
                Ok(t) => {
                    tables_by_system.insert(system, t);
                }
                Err(e) => {
                    let msg = chain(&e);
                    let (failed, rest): (Vec<_>, Vec<_>) = ok.into_iter().partition(|r| r.system == system);
                    for r in failed {
                        results.insert(
                            r.message_id,
                            Err(WritebackError::Store(StoreError::Unavailable(msg.clone().into()))),
                        );
                    }
                    ok = rest;
                }
            }
        }

        // 3. Build records; remember which message each belongs to.
        let mut shipment_records: Vec<ShipmentRecord> = Vec::new();
        // Records are unique by external key: a statuschange and a shipment event for one ship (or a
        // redelivery) in the same batch describe the same Shipment, and writing it twice in one call
        // would make the second copy an update that Salesforce treats differently. Each unique record
        // remembers every message that produced it.
        let mut owners: Vec<Vec<String>> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        // What each record says about its order's progress, and what Salesforce shows now.
        let mut progress: Vec<Progress> = Vec::new();
        let message_orders: Vec<(String, SalesforceId)> =
            ok.iter().map(|r| (r.message_id.clone(), r.fo_id.clone())).collect();
        for r in ok {
            let order = match graphs.get(&r.fo_id) {
                None => {
                    results.insert(r.message_id, Err(WritebackError::OrderNotFound(r.fo_id)));
                    continue;
                }
                Some(Err(v)) => {
                    results.insert(
                        r.message_id,
                        Err(WritebackError::OrderInvalid {
                            id: r.fo_id,
                            source: v.clone(),
                        }),
                    );
                    continue;
                }
                Some(Ok(o)) => o,
            };
            // Present: records of a system whose tables failed to load were answered above.
            let Some(tables) = tables_by_system.get(&r.system) else {
                continue;
            };
            let shipments = &r.read.shipments;
            let built: Result<Vec<ShipmentRecord>, MappingError> = shipments
                .iter()
                .map(|s| records::shipment_records(r.system, &r.fo_id, order, s, tables))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.into_iter().flatten().collect());
            match built {
                Ok(recs) => {
                    if !shipments.is_empty() {
                        let complete = shipments.iter().any(|s| s.order_complete);
                        progress.push(Progress {
                            message_id: r.message_id.clone(),
                            fo_id: r.fo_id.clone(),
                            system: r.system,
                            stage: if complete {
                                Stage::Shipped
                            } else {
                                Stage::PartiallyShipped
                            },
                            at: shipments
                                .iter()
                                .filter_map(|s| s.shipped_at)
                                .max()
                                .unwrap_or_else(time::OffsetDateTime::now_utc),
                            current_status: order.status.clone(),
                            changed_at: r.read.changed_at,
                        });
                    }
                    for rec in recs {
                        match by_key.get(&rec.external_key) {
                            Some(&i) => owners[i].push(r.message_id.clone()),
                            None => {
                                by_key.insert(rec.external_key.clone(), shipment_records.len());
                                owners.push(vec![r.message_id.clone()]);
                                shipment_records.push(rec);
                            }
                        }
                    }
                    results.insert(r.message_id, Ok(()));
                }
                Err(e) => {
                    results.insert(r.message_id, Err(e.into()));
                }
            }
        }

        // 4. Upsert Shipments + items for the whole batch; map each outcome back to its message.
        if !shipment_records.is_empty() {
            match self.ports.salesforce.write_shipments(&shipment_records).await {
                Ok(outcomes) => {
                    for (i, outcome) in outcomes.into_iter().enumerate() {
                        if let (Err(errors), Some(msgs)) = (outcome, owners.get(i)) {
                            for msg in msgs {
                                warn!(message_id = %msg, external_key = %shipment_records[i].external_key, "shipment rejected by salesforce");
                                results.insert(msg.clone(), Err(WritebackError::RecordRejected(errors.clone())));
                            }
                        }
                    }
                }
                Err(e) => {
                    let failed: Vec<String> = owners.iter().flatten().cloned().collect();
                    for msg in failed {
                        results.insert(msg, Err(WritebackError::Salesforce(e.for_each_record())));
                    }
                    return;
                }
            }
        }

        // 5. The lifecycle: record each order's stage, then write the Salesforce status only where it
        // moves forward from what Salesforce shows now (never back, never over a user's Cancelled).
        let tracker = Tracker::new(self.ports.order_state.as_ref(), SOURCE_SYSTEM);
        let table = self.ports.salesforce.order_statuses();
        let mut updates: Vec<(String, StatusUpdate)> = Vec::new();
        let mut planned: HashSet<SalesforceId> = HashSet::new();
        // One observation per order and batch: every event about an order in this batch read the same
        // WMS truth, so they report the same stage.
        let mut observed: HashMap<SalesforceId, Verdict> = HashMap::new();
        // Orders whose observation and read are recorded only once their status write succeeded (see
        // `written_back`): decided now from one read of the state, written after step 5.
        let mut after_status: HashMap<SalesforceId, (Stage, time::OffsetDateTime, &'static str, WmsRead)> =
            HashMap::new();
        for p in progress {
            if !matches!(results.get(&p.message_id), Some(Ok(()))) {
                continue;
            }
            let read = WmsRead {
                started: read_started,
                changed_at: p.changed_at,
            };
            let status_may_follow = p.stage == Stage::Shipped
                && self
                    .config
                    .status_on_shipped
                    .as_deref()
                    .is_some_and(|target| may_write(table, &p.current_status, Stage::Shipped, target));
            let decided = if status_may_follow {
                tracker.verdict(p.fo_id.as_str(), p.stage, p.at).await
            } else {
                tracker
                    .written_back(p.fo_id.as_str(), p.stage, p.at, p.system.as_str(), Some(read))
                    .await
            };
            let verdict = match observed.get(&p.fo_id) {
                Some(v) => *v,
                None => match decided {
                    Ok(v) => {
                        observed.insert(p.fo_id.clone(), v);
                        if status_may_follow {
                            after_status.insert(p.fo_id.clone(), (p.stage, p.at, p.system.as_str(), read));
                        }
                        v
                    }
                    Err(e) => {
                        results.insert(p.message_id, Err(WritebackError::Store(e)));
                        continue;
                    }
                },
            };
            let Some(target) = self.config.status_on_shipped.as_deref() else {
                continue;
            };
            let moves = matches!(verdict, Verdict::Advance | Verdict::Same);
            if p.stage == Stage::Shipped && moves && may_write(table, &p.current_status, Stage::Shipped, target) {
                if planned.insert(p.fo_id.clone()) {
                    updates.push((
                        p.message_id,
                        StatusUpdate {
                            record_id: p.fo_id,
                            status: target.to_owned(),
                        },
                    ));
                }
            } else if p.stage == Stage::Shipped && p.current_status != target {
                info!(sf_id = %p.fo_id, current = %p.current_status, verdict = ?verdict, "status left as it is: the lifecycle does not move it");
            }
        }
        if !updates.is_empty() {
            let body: Vec<StatusUpdate> = updates.iter().map(|(_, u)| u.clone()).collect();
            match self.ports.salesforce.update_status(&body).await {
                Ok(outcomes) => {
                    for ((msg, _), outcome) in updates.iter().zip(outcomes) {
                        if let Err(errors) = outcome {
                            results.insert(msg.clone(), Err(WritebackError::RecordRejected(errors)));
                        }
                    }
                }
                Err(e) => {
                    for (msg, _) in &updates {
                        results.insert(msg.clone(), Err(WritebackError::Salesforce(e.for_each_record())));
                    }
                }
            }
        }
        // 6. Now that the statuses are written, record the observation and read of the orders that waited
        // for them, where every event about the order in this batch succeeded (a failed one is retried and
        // reads again). The lease kept other writers out since the verdict was read.
        for (fo_id, (stage, at, reporter, read)) in after_status {
            let mine: Vec<&String> = message_orders
                .iter()
                .filter(|(_, id)| *id == fo_id)
                .map(|(msg, _)| msg)
                .collect();
            if !mine.iter().all(|msg| matches!(results.get(*msg), Some(Ok(())))) {
                continue;
            }
            if let Err(e) = tracker
                .written_back(fo_id.as_str(), stage, at, reporter, Some(read))
                .await
            {
                warn!(sf_id = %fo_id, error.message = %chain(&e), "order state not recorded; the event is retried");
                for msg in mine {
                    results.insert(
                        msg.clone(),
                        Err(WritebackError::Store(StoreError::Unavailable(chain(&e).into()))),
                    );
                }
            }
        }
        info!(
            records = results.len(),
            shipments = shipment_records.len(),
            "batch written back"
        );
    }

    async fn resolve(&self, record: Record) -> Result<Linked, WritebackError> {
        let env = Envelope::<FulfillmentEvent>::parse(&record.body)?;
        let event = env.data;
        let Some(wms) = self.ports.wms.get(event.system.as_str()) else {
            return Err(WritebackError::WrongSystem(
                event.system.as_str().into(),
                self.ports.wms.systems().collect::<Vec<_>>().join(", "),
            ));
        };
        let wms_ref = match &event.wms_order_id {
            Some(id) => WmsRef {
                system: event.system,
                id: id.clone(),
                code: event.order_code.clone(),
            },
            None => wms
                .find_order(&event.order_code)
                .await?
                .ok_or_else(|| WmsError::NotFound {
                    system: wms.system().as_str(),
                    what: format!("order {}", event.order_code),
                })?,
        };
        let fo_id = self
            .ports
            .xref
            .salesforce_for(wms_ref.system, &wms_ref.id)
            .await?
            .ok_or_else(|| WritebackError::NotLinked {
                system: wms_ref.system.as_str(),
                wms_id: wms_ref.id.to_string(),
            })?;
        Ok(Linked {
            message_id: record.message_id,
            fo_id,
            wms_ref,
            received_at: event.received_at,
            wms_changed_at: event.wms_changed_at,
        })
    }
}

/// A record whose order's lease could not be read or written: the store is down, retry later.
fn lease_unavailable(reason: &str) -> WritebackError {
    WritebackError::Store(StoreError::Unavailable(reason.to_owned().into()))
}

fn fail_all(results: &mut HashMap<String, Result<(), WritebackError>>, ok: Vec<Resolved>, e: &SalesforceError) {
    for r in ok {
        results.insert(r.message_id, Err(WritebackError::Salesforce(e.for_each_record())));
    }
}

//! Orders-queue consumer: read the current FulfillmentOrder graph, map it, create the WMS order exactly
//! once, link the ids, and move the FulfillmentOrder to its "sent to warehouse" status.
//!
//! Exactly-once creation rests on three layers, cheapest first: the order's lease (so two
//! notifications for one order never run at the same time, in this function or in shipment-writeback),
//! the cross-reference (created before? skip), and the WMS's own lookup by order code (created but not
//! linked, e.g. a crash between create and link? link it instead of creating again). Under the lease an
//! idempotency record per order would add nothing the cross-reference does not already say, and it cost
//! two writes per order, so there is none.
//!
//! The status write is a read-decide-write on Salesforce, so it runs under the order's lease (shared with
//! shipment-writeback), on a graph read inside that lease, and only when the lifecycle allows it: a
//! repeated notification never moves a `Fulfilled` order back, and a user's `Cancelled` stays.
//! A notification for an order that is not submittable yet records nothing that blocks a later one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use futures::StreamExt;
use tracing::{info, info_span, warn, Instrument};
use waybill::batch::{self, BatchOptions, BatchReport, Record};
use waybill::domain::{SalesforceId, ValidationError};
use waybill::error::{Classified, FailureClass};
use waybill::lease::{order_subject, Lease, Leases, Taken};
use waybill::lifecycle::{may_write, Stage};
use waybill::mapping::MappingError;
use waybill::messages::{Envelope, MessageError, OrderNotification};
use waybill::order_state::Tracker;
use waybill::ports::{
    ApiFieldError, OrderRead, RecordOutcome, SalesforceError, StatusUpdate, StoreError, WmsError, WmsRef,
};

use crate::{App, FUNCTION};

/// Why an order notification could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The queue message is not an order notification.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The record does not exist or the integration user cannot see it.
    #[error("FulfillmentOrder {0} not found in Salesforce (deleted, or not visible to the integration user)")]
    NotFound(SalesforceId),
    /// The record exists but is not a shippable order.
    #[error("FulfillmentOrder {id} is invalid: {source}")]
    Invalid {
        /// Record.
        id: SalesforceId,
        /// What is wrong.
        #[source]
        source: ValidationError,
    },
    /// A value has no mapping.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// Salesforce failed.
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    /// Salesforce refused the status update for this record.
    #[error("salesforce rejected the status update: {}", .0.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
    StatusRejected(Vec<ApiFieldError>),
    /// The WMS failed.
    #[error(transparent)]
    Wms(#[from] WmsError),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another invocation holds this order's lease (it is writing the order right now): retried.
    #[error("order {0} is being written by another invocation")]
    Busy(SalesforceId),
    /// The order is not in a submittable status yet. Not an error: nothing is recorded, so the
    /// notification that makes it submittable goes through.
    #[error("status {status} is not submittable")]
    NotActionable {
        /// Its status.
        status: String,
    },
}

impl Classified for ConsumeError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Message(e) => e.class(),
            Self::NotFound(_) | Self::Invalid { .. } | Self::StatusRejected(_) | Self::NotActionable { .. } => {
                FailureClass::Permanent
            }
            Self::Busy(_) => FailureClass::Transient,
            Self::Mapping(e) => e.class(),
            Self::Salesforce(e) => e.class(),
            Self::Wms(e) => e.class(),
            Self::Store(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Message(e) => e.code(),
            Self::NotFound(_) => "ORDER_NOT_FOUND",
            Self::Invalid { .. } => "ORDER_INVALID",
            Self::StatusRejected(_) => "STATUS_UPDATE_REJECTED",
            Self::Mapping(e) => e.code(),
            Self::Salesforce(e) => e.code(),
            Self::Wms(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Busy(_) => "ORDER_BUSY",
            Self::NotActionable { .. } => "ORDER_NOT_SUBMITTABLE",
        }
    }
}

/// How long a record waits for another invocation's lease on its order before it is retried later.
const LEASE_PATIENCE: Duration = Duration::from_secs(3);

/// What processing one notification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The WMS order was created now.
    Created(WmsRef),
    /// It already existed (cross-reference or WMS lookup) and is linked.
    AlreadyInWms(WmsRef),
}

pub(crate) async fn handle(app: &App, event: SqsEvent, deadline_ms: u64) -> BatchReport {
    let cfg = &app.config;
    let opts = BatchOptions {
        function: FUNCTION,
        concurrency: cfg.concurrency,
        dlq_url: Some(cfg.dlq_url.clone()),
        max_receive_count: cfg.max_receive_count,
    };
    batch::batched(event, &opts, app.ports.queue.as_ref(), |records| {
        consume_batch(app, records, deadline_ms)
    })
    .await
}

/// One batch: the order leases, one Salesforce read for every order graph, the WMS work per record
/// (bounded concurrency), then one Salesforce status update for every order the lifecycle lets move.
async fn consume_batch(app: &App, records: Vec<Record>, deadline_ms: u64) -> HashMap<String, Result<(), ConsumeError>> {
    let mut results: HashMap<String, Result<(), ConsumeError>> = HashMap::new();
    let mut notes = Vec::new();
    for r in records {
        match Envelope::<OrderNotification>::parse(&r.body) {
            Ok(env) => notes.push((r.message_id, env)),
            Err(e) => {
                results.insert(r.message_id, Err(e.into()));
            }
        }
    }
    if notes.is_empty() {
        return results;
    }

    // The orders this batch writes, each under its lease (shared with shipment-writeback).
    let mut ids: Vec<SalesforceId> = notes.iter().map(|(_, e)| e.data.record_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let leases = Leases::new(app.ports.idempotency.as_ref());
    let taken: Vec<(SalesforceId, Result<Taken, ConsumeError>)> = futures::stream::iter(ids)
        .map(|id| async move {
            let res = leases
                .acquire_unless(&order_subject(&id), deadline_ms, LEASE_PATIENCE, || {
                    superseded(app, &id)
                })
                .await
                .map_err(|e| ConsumeError::Store(StoreError::Unavailable(Box::new(e))));
            (id, res)
        })
        .buffer_unordered(app.config.concurrency.max(1))
        .collect()
        .await;
    let mut held: Vec<Lease> = Vec::new();
    let mut blocked: HashMap<SalesforceId, Option<ConsumeError>> = HashMap::new();
    let mut ids = Vec::new();
    for (id, res) in taken {
        match res {
            Ok(Taken::Held(lease)) => {
                held.push(lease);
                ids.push(id);
            }
            Ok(Taken::Covered) => {
                blocked.insert(id, None);
            }
            Ok(Taken::Busy) => {
                blocked.insert(id.clone(), Some(ConsumeError::Busy(id)));
            }
            Err(e) => {
                blocked.insert(id, Some(e));
            }
        }
    }
    let mut leased = Vec::new();
    for (message_id, env) in notes {
        match blocked.get(&env.data.record_id) {
            Some(Some(e)) => {
                info!(message_id = %message_id, sf_id = %env.data.record_id, error.code = e.code(), "order not leased; retried later");
                results.insert(message_id, Err(copy_blocked(e, &env.data.record_id)));
            }
            Some(None) => {
                info!(message_id = %message_id, sf_id = %env.data.record_id, "order already in the WMS and past submitted; notification covered");
                results.insert(message_id, Ok(()));
            }
            None => leased.push((message_id, env)),
        }
    }

    if !leased.is_empty() {
        write_leased(app, leased, &ids, &mut results).await;
    }
    for lease in held {
        if let Err(e) = leases.release(lease).await {
            warn!(error.message = %waybill::error::chain(&e), "could not release an order lease; it lapses at the deadline");
        }
    }
    results
}

/// The rule for a notification whose order another invocation holds: nothing is left for it to do once
/// the order is in the WMS and past `submitted` (its status on submit can no longer be written). An
/// unreadable state counts as not covered, so the record is retried rather than dropped.
async fn superseded(app: &App, id: &SalesforceId) -> bool {
    let tracker = Tracker::new(app.ports.order_state.as_ref(), SOURCE_SYSTEM);
    match tracker.get(id.as_str()).await {
        Ok(state) => state.is_some_and(|st| st.past(Stage::Submitted)),
        Err(e) => {
            warn!(sf_id = %id, error.message = %waybill::error::chain(&e), "order state unreadable; notification retried");
            false
        }
    }
}

fn copy_blocked(e: &ConsumeError, id: &SalesforceId) -> ConsumeError {
    match e {
        ConsumeError::Busy(_) => ConsumeError::Busy(id.clone()),
        other => ConsumeError::Store(StoreError::Unavailable(waybill::error::chain(other).into())),
    }
}

/// The work for the records whose orders this invocation holds the lease of.
async fn write_leased(
    app: &App,
    notes: Vec<(String, Envelope<OrderNotification>)>,
    ids: &[SalesforceId],
    results: &mut HashMap<String, Result<(), ConsumeError>>,
) {
    // Read inside the lease: the status decision below is made on what Salesforce holds now.
    let prefetched: Result<Arc<HashMap<SalesforceId, OrderRead>>, SalesforceError> =
        app.ports.salesforce.fetch_orders(ids).await.map(Arc::new);
    let prefetched = &prefetched;

    // One run per order: the lease keeps other invocations out, but the records of this batch run in
    // parallel, so two notifications of one order would both find no cross-reference and create it
    // twice. The later ones share the first one's outcome (see below).
    let mut first_of: HashMap<SalesforceId, String> = HashMap::new();
    let mut repeats: Vec<(String, SalesforceId)> = Vec::new();
    let mut firsts = Vec::new();
    for (message_id, env) in notes {
        match first_of.entry(env.data.record_id.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => repeats.push((message_id, e.key().clone())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(message_id.clone());
                firsts.push((message_id, env));
            }
        }
    }

    let done: Vec<(String, SalesforceId, Result<InWms, ConsumeError>)> = futures::stream::iter(firsts)
        .map(|(message_id, env)| async move {
            let span = info_span!("order", message_id = %message_id, correlation_id = %env.correlation_id, sf_id = %env.data.record_id, event_id = %env.data.event_id);
            let id = env.data.record_id.clone();
            let res = create_once(app, &id, prefetched).instrument(span).await;
            (message_id, id, res)
        })
        .buffer_unordered(app.config.concurrency.max(1))
        .collect()
        .await;

    // Status is ensured from the current record state on every delivery (not only the first), so a
    // status update that failed after the order was created converges on the next delivery; the
    // lifecycle decides whether the write may happen at all.
    let tracker = Tracker::new(app.ports.order_state.as_ref(), SOURCE_SYSTEM);
    let table = app.ports.salesforce.order_statuses();
    let mut updates: Vec<(String, StatusUpdate)> = Vec::new();
    let mut planned: HashSet<SalesforceId> = HashSet::new();
    for (message_id, id, res) in done {
        match res {
            Ok(Some(current)) => {
                if let Some(target) = app.config.status_on_submit.as_deref() {
                    if may_write(table, &current, Stage::Submitted, target) {
                        if planned.insert(id.clone()) {
                            updates.push((
                                message_id.clone(),
                                StatusUpdate {
                                    record_id: id,
                                    status: target.to_owned(),
                                },
                            ));
                        }
                    } else if target != current {
                        info!(sf_id = %id, current = %current, target, "status left as it is: the lifecycle does not move it");
                    }
                }
                results.insert(message_id, Ok(()));
            }
            Ok(None) => {
                results.insert(message_id, Ok(()));
            }
            Err(e) => {
                if !e.is_retryable() {
                    if let Err(se) = tracker.failed(id.as_str(), &e).await {
                        warn!(sf_id = %id, error.message = %waybill::error::chain(&se), "could not record the error on the order state");
                    }
                }
                results.insert(message_id, Err(e));
            }
        }
    }
    // A repeated notification of an order the batch has just handled is done with it: the run read the
    // order as it is now. If that run failed, the repeat is retried later like any busy order (the
    // failure itself is reported, and parked if permanent, on the first record).
    for (message_id, id) in repeats {
        let first_ok = first_of
            .get(&id)
            .and_then(|m| results.get(m))
            .is_some_and(Result::is_ok);
        info!(message_id = %message_id, sf_id = %id, first_ok, "repeated notification in one batch; handled with the first");
        results.insert(message_id, if first_ok { Ok(()) } else { Err(ConsumeError::Busy(id)) });
    }
    if updates.is_empty() {
        return;
    }
    let body: Vec<StatusUpdate> = updates.iter().map(|(_, u)| u.clone()).collect();
    match app.ports.salesforce.update_status(&body).await {
        Ok(outcomes) => {
            let by_id: HashMap<SalesforceId, RecordOutcome> =
                body.iter().map(|u| u.record_id.clone()).zip(outcomes).collect();
            for (message_id, u) in &updates {
                if let Some(Err(errors)) = by_id.get(&u.record_id) {
                    results.insert(message_id.clone(), Err(ConsumeError::StatusRejected(errors.clone())));
                }
            }
        }
        Err(e) => {
            for (message_id, _) in &updates {
                results.insert(message_id.clone(), Err(ConsumeError::Salesforce(e.for_each_record())));
            }
        }
    }
}

/// The record's current Salesforce status once its order is in the WMS; `None` when not actionable yet.
type InWms = Option<String>;

/// The source-system name on order state items.
const SOURCE_SYSTEM: &str = waybill::order_state::SALESFORCE_SOURCE;

/// Creates the WMS order for one record at most once. Returns the record's current status when the
/// order is (now) in the WMS, `None` when it is not submittable yet.
async fn create_once(
    app: &App,
    id: &SalesforceId,
    prefetched: &Result<Arc<HashMap<SalesforceId, OrderRead>>, SalesforceError>,
) -> Result<InWms, ConsumeError> {
    let graphs = match prefetched {
        Ok(m) => m.clone(),
        // The batch read failed (one poisoned id can fail a whole query): read this record on its own
        // so a bad record fails only itself.
        Err(e) => {
            warn!(error.code = e.code(), "batch read failed; reading this record alone");
            Arc::new(app.ports.salesforce.fetch_orders(std::slice::from_ref(id)).await?)
        }
    };
    let graph = graphs.get(id);
    // Runs under the order's lease (taken for the whole batch in `consume_batch`).
    let wms_ref = match process(app, id, graph).await {
        Ok(h) => {
            info!(outcome = ?h, "order processed");
            match h {
                Handled::Created(r) | Handled::AlreadyInWms(r) => r,
            }
        }
        // Not submittable yet: nothing is recorded, so the notification that makes it submittable runs.
        Err(ConsumeError::NotActionable { status }) => {
            info!(status = %status, "status is not submittable; nothing recorded");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let current = match graph {
        Some(Ok(order)) => order.status.clone(),
        _ => return Ok(None),
    };
    // The order item: ids in both systems and the hand-over stage. Both writes are idempotent, so a
    // redelivery only re-confirms them.
    let tracker = Tracker::new(app.ports.order_state.as_ref(), SOURCE_SYSTEM);
    tracker
        .submitted(id.as_str(), &wms_ref, time::OffsetDateTime::now_utc(), FUNCTION)
        .await?;
    Ok(Some(current))
}

async fn process(app: &App, id: &SalesforceId, graph: Option<&OrderRead>) -> Result<Handled, ConsumeError> {
    let order = match graph {
        None => return Err(ConsumeError::NotFound(id.clone())),
        Some(Err(v)) => {
            return Err(ConsumeError::Invalid {
                id: id.clone(),
                source: v.clone(),
            })
        }
        Some(Ok(order)) => order,
    };
    let cfg = &app.config;
    let wms = app.ports.wms.as_ref();
    let system = wms.system();

    // 1. Linked before? Then the WMS has it; only make sure the status is set.
    let linked = app.ports.xref.wms_for(id, system).await?;
    if linked.is_none() && !cfg.submittable_statuses.iter().any(|s| s == &order.status) {
        // An error, so the runner releases the lock instead of storing a result that would block the
        // notification that makes the order submittable.
        return Err(ConsumeError::NotActionable {
            status: order.status.clone(),
        });
    }
    let handled = match linked {
        Some(existing) => Handled::AlreadyInWms(existing),
        None => {
            let tables = app.ports.mappings.get(system).await?;
            let request = tables.map_order(order)?;
            // 2. Created but not linked (crash between create and link, or created by hand)?
            let (wms_ref, created) = match wms.find_order(&request.code).await? {
                Some(found) => (found, false),
                None => (wms.create_order(&request).await?, true),
            };
            app.ports.xref.link(id, &wms_ref).await?;
            if created {
                Handled::Created(wms_ref)
            } else {
                Handled::AlreadyInWms(wms_ref)
            }
        }
    };

    Ok(handled)
}

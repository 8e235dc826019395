//! Orders-queue consumer: read the current FulfillmentOrder graph, map it, create the WMS order exactly
//! once, link the ids, and move the FulfillmentOrder to its "sent to warehouse" status.
//!
//! Exactly-once creation rests on three layers, cheapest first: the idempotency lock per record id
//! (so two notifications for one order never run at the same time), the cross-reference (created
//! before? skip), and the WMS's own lookup by order code (created but not linked, e.g. a crash between
//! create and link? link it instead of creating again).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use tracing::{info, info_span, warn, Instrument};
use waybill::batch::{self, BatchOptions, BatchReport, Record};
use waybill::domain::{SalesforceId, ValidationError};
use waybill::error::{Classified, FailureClass};
use waybill::idempotency::{Idempotency, Outcome, RunError};
use waybill::mapping::MappingError;
use waybill::messages::{Envelope, MessageError, OrderNotification};
use waybill::ports::{ApiFieldError, OrderRead, SalesforceError, StatusUpdate, StoreError, WmsError, WmsRef};

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
}

impl Classified for ConsumeError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Message(e) => e.class(),
            Self::NotFound(_) | Self::Invalid { .. } | Self::StatusRejected(_) => FailureClass::Permanent,
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
        }
    }
}

/// What processing one notification did (stored as the idempotency result).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Handled {
    /// The WMS order was created now.
    Created(WmsRef),
    /// It already existed (cross-reference or WMS lookup) and is linked.
    AlreadyInWms(WmsRef),
    /// The record is not in a status that may be sent.
    Skipped {
        /// Its status.
        status: String,
    },
}

pub(crate) async fn handle(app: &App, event: SqsEvent, deadline_ms: u64) -> BatchReport {
    let cfg = &app.config;
    let opts = BatchOptions {
        function: FUNCTION,
        concurrency: cfg.concurrency,
        dlq_url: Some(cfg.dlq_url.clone()),
        max_receive_count: cfg.max_receive_count,
    };
    // Read every order graph of the batch in one Salesforce call up front; each record then works
    // from its own entry. Parsing failures here only affect their own record.
    let ids: Vec<SalesforceId> = event
        .records
        .iter()
        .filter_map(|m| m.body.as_deref())
        .filter_map(|b| Envelope::<OrderNotification>::parse(b).ok())
        .map(|e| e.data.record_id)
        .collect();
    let prefetched: Result<Arc<HashMap<SalesforceId, OrderRead>>, Arc<SalesforceError>> = if ids.is_empty() {
        Ok(Arc::new(HashMap::new()))
    } else {
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        app.ports
            .salesforce
            .fetch_orders(&unique)
            .await
            .map(Arc::new)
            .map_err(Arc::new)
    };

    batch::per_record(event, &opts, app.ports.queue.as_ref(), |record: Record| {
        let prefetched = prefetched.clone();
        async move {
            let env = Envelope::<OrderNotification>::parse(&record.body).map_err(ConsumeError::from)?;
            let note = env.data;
            let span = info_span!("order", correlation_id = %env.correlation_id, sf_id = %note.record_id, event_id = %note.event_id);
            async move {
                let graphs = match &prefetched {
                    Ok(m) => m.clone(),
                    // The batch read failed (one poisoned id can fail a whole query): read this record
                    // on its own so a bad record fails only itself.
                    Err(e) => {
                        warn!(error.code = e.code(), "batch read failed; reading this record alone");
                        Arc::new(app.ports.salesforce.fetch_orders(std::slice::from_ref(&note.record_id)).await?)
                    }
                };
                let idem = Idempotency::new(app.ports.idempotency.as_ref(), FUNCTION, cfg.order_dedup_window);
                let id = note.record_id.clone();
                let result = idem
                    .run(&format!("order#{}", id.as_str()), &id, deadline_ms, || process(app, &id, graphs.get(&id)))
                    .await;
                match result {
                    Ok(Outcome::Executed(h)) => {
                        info!(outcome = ?h, "order processed");
                        Ok(())
                    }
                    Ok(Outcome::Replayed(_)) => {
                        info!("order already processed; nothing to do");
                        Ok(())
                    }
                    Err(RunError::Operation(e)) => Err(e),
                    Err(RunError::InProgress { .. }) => Err(ConsumeError::Store(StoreError::Unavailable(
                        "another invocation is processing this order".into(),
                    ))),
                    Err(RunError::Store(e)) => Err(ConsumeError::Store(StoreError::Unavailable(Box::new(e)))),
                }
            }
            .instrument(span)
            .await
        }
    })
    .await
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
        info!(status = %order.status, "status is not submittable; skipping");
        return Ok(Handled::Skipped {
            status: order.status.clone(),
        });
    }
    let handled = match linked {
        Some(existing) => Handled::AlreadyInWms(existing),
        None => {
            let tables = app.ports.mappings.get().await?;
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

    if let Some(status) = cfg.status_on_submit.as_deref().filter(|s| *s != order.status) {
        let outcome = app
            .ports
            .salesforce
            .update_status(&[StatusUpdate {
                record_id: id.clone(),
                status: status.to_owned(),
            }])
            .await?;
        if let Some(Err(errors)) = outcome.into_iter().next() {
            return Err(ConsumeError::StatusRejected(errors));
        }
    }
    Ok(handled)
}

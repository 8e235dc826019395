//! Step 1 of a write-back: each event resolved to its WMS order and its linked Salesforce record, and the
//! events about a WMS version a write-back already read answered at once.

use std::collections::HashMap;

use futures::StreamExt;
use tracing::{info, warn};
use waybill::batch::Record;
use waybill::domain::SalesforceId;
use waybill::error::chain;
use waybill::messages::{Envelope, FulfillmentEvent};
use waybill::order_state::Tracker;
use waybill::ports::{WmsError, WmsRef};

use crate::{App, WritebackError, SOURCE_SYSTEM};

/// An event resolved to its WMS order and linked Salesforce record.
pub(crate) struct Linked {
    pub(crate) message_id: String,
    pub(crate) fo_id: SalesforceId,
    pub(crate) wms_ref: WmsRef,
    pub(crate) received_at: time::OffsetDateTime,
    /// The WMS's stamp of the order version the event is about, when it names one.
    pub(crate) wms_changed_at: Option<time::OffsetDateTime>,
}

impl App {
    /// Resolves every record to its order, answering those that cannot be.
    pub(crate) async fn resolve_all(
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

    /// Answers, without reading anything, the events naming a WMS version that a successful write-back
    /// of their order already read (`OrderState::wms_change_written`); returns the rest. An order state
    /// that cannot be read leaves its event to the full write-back.
    pub(crate) async fn skip_written(
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

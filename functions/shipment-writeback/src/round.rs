//! Step 3 of a write-back, for the orders this invocation holds the leases of, one named step each: read
//! the WMS truth, read the order graphs and mapping tables, build the records, write the Shipments,
//! decide each order's status through the lifecycle, write the statuses, and record what was written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use tracing::{info, warn};
use waybill::domain::SalesforceId;
use waybill::error::chain;
use waybill::lifecycle::{may_write, Stage, Verdict};
use waybill::mapping::{MappingError, MappingTables};
use waybill::order_state::{Tracker, WmsRead};
use waybill::ports::{
    OrderRead, OrderShipments, SalesforceError, ShipmentRecord, StatusUpdate, StoreError, WmsError, WmsRef, WmsSystem,
};

use crate::resolve::Linked;
use crate::{records, App, WritebackError, SOURCE_SYSTEM};

/// Each record's outcome, by SQS message id.
type Results = HashMap<String, Result<(), WritebackError>>;

/// A linked event with the shipment truth read from the WMS.
struct Resolved {
    message_id: String,
    fo_id: SalesforceId,
    system: WmsSystem,
    read: Arc<OrderShipments>,
}

/// What one record says about its order's progress.
struct Progress {
    message_id: String,
    fo_id: SalesforceId,
    system: WmsSystem,
    stage: Stage,
    at: time::OffsetDateTime,
    current_status: String,
    /// The WMS's change stamp of the order version read.
    changed_at: Option<time::OffsetDateTime>,
}

/// The batch's records in Salesforce terms.
#[derive(Default)]
struct Built {
    /// Shipment records, unique by external key: a statuschange and a shipment event for one ship (or a
    /// redelivery) in the same batch describe the same Shipment, and writing it twice in one call would
    /// make the second copy an update that Salesforce treats differently.
    shipments: Vec<ShipmentRecord>,
    /// For each record in `shipments`, every message that produced it.
    owners: Vec<Vec<String>>,
    /// What each record says about its order's progress.
    progress: Vec<Progress>,
    /// Every message that made it this far, with its order.
    message_orders: Vec<(String, SalesforceId)>,
}

/// The lifecycle's decisions for the batch's orders.
#[derive(Default)]
struct Decided {
    /// Status writes, each with the message it is answered on.
    updates: Vec<(String, StatusUpdate)>,
    /// Orders whose observation and read are recorded only once their status write succeeded (see
    /// `Tracker::written_back`): decided from one read of the state, written after the status.
    after_status: HashMap<SalesforceId, (Stage, time::OffsetDateTime, &'static str, WmsRead)>,
}

impl App {
    /// Writes back the records of orders this invocation holds the leases of. The WMS reads start
    /// after the leases were taken, so this write-back covers every event about these orders received
    /// before `read_started`.
    pub(crate) async fn write_orders(&self, linked: Vec<Linked>, results: &mut Results) {
        if linked.is_empty() {
            return;
        }
        let read_started = time::OffsetDateTime::now_utc();
        let resolved = self.read_wms(linked, results).await;
        if resolved.is_empty() {
            return;
        }
        let Some((graphs, tables, resolved)) = self.read_salesforce(resolved, results).await else {
            return;
        };
        let built = build(resolved, &graphs, &tables, results);
        if !self.write_shipments(&built, results).await {
            return;
        }
        let decided = self.decide_statuses(built.progress, read_started, results).await;
        self.write_statuses(&decided.updates, results).await;
        self.record_after_status(decided.after_status, &built.message_orders, results)
            .await;
        info!(
            records = results.len(),
            shipments = built.shipments.len(),
            "batch written back"
        );
    }

    /// Reads each WMS order's shipments once, however many events about it the batch holds (Logiwa
    /// sends a statuschange and a shipment event for one ship).
    async fn read_wms(&self, linked: Vec<Linked>, results: &mut Results) -> Vec<Resolved> {
        let mut orders: Vec<WmsRef> = linked.iter().map(|l| l.wms_ref.clone()).collect();
        orders.sort_by(|a, b| a.id.cmp(&b.id));
        orders.dedup_by(|a, b| a.id == b.id);
        let read: HashMap<String, Result<Arc<OrderShipments>, WmsError>> = futures::stream::iter(orders)
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
        for l in linked {
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
        ok
    }

    /// One query for every order graph in the batch, and each WMS's mapping tables (one load per
    /// system). Records of a system whose tables cannot be loaded are answered here; `None` when the
    /// graph query failed (every record is answered).
    async fn read_salesforce(
        &self,
        resolved: Vec<Resolved>,
        results: &mut Results,
    ) -> Option<(
        HashMap<SalesforceId, OrderRead>,
        HashMap<WmsSystem, Arc<MappingTables>>,
        Vec<Resolved>,
    )> {
        let mut ids: Vec<SalesforceId> = resolved.iter().map(|r| r.fo_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let graphs = match self.ports.salesforce.fetch_orders(&ids).await {
            Ok(g) => g,
            Err(e) => {
                fail_all(results, resolved, &e);
                return None;
            }
        };
        let mut systems: Vec<WmsSystem> = resolved.iter().map(|r| r.system).collect();
        systems.sort();
        systems.dedup();
        let mut tables = HashMap::new();
        let mut ok = resolved;
        for system in systems {
            match self.ports.mappings.get(system).await {
                Ok(t) => {
                    tables.insert(system, t);
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
        Some((graphs, tables, ok))
    }

    /// Upserts the batch's Shipments and items and maps each outcome back to its messages. False when
    /// the call failed as a whole (every owner answered; nothing else runs).
    async fn write_shipments(&self, built: &Built, results: &mut Results) -> bool {
        if built.shipments.is_empty() {
            return true;
        }
        match self.ports.salesforce.write_shipments(&built.shipments).await {
            Ok(outcomes) => {
                for (i, outcome) in outcomes.into_iter().enumerate() {
                    if let (Err(errors), Some(msgs)) = (outcome, built.owners.get(i)) {
                        for msg in msgs {
                            warn!(message_id = %msg, external_key = %built.shipments[i].external_key, "shipment rejected by salesforce");
                            results.insert(msg.clone(), Err(WritebackError::RecordRejected(errors.clone())));
                        }
                    }
                }
                true
            }
            Err(e) => {
                for msg in built.owners.iter().flatten() {
                    results.insert(msg.clone(), Err(WritebackError::Salesforce(e.for_each_record())));
                }
                false
            }
        }
    }

    /// The lifecycle: records each order's stage, and plans the Salesforce status write only where it
    /// moves forward from what Salesforce shows now (never back, never over a user's Cancelled). One
    /// observation per order and batch: every event about an order in this batch read the same WMS
    /// truth, so they report the same stage.
    async fn decide_statuses(
        &self,
        progress: Vec<Progress>,
        read_started: time::OffsetDateTime,
        results: &mut Results,
    ) -> Decided {
        let tracker = Tracker::new(self.ports.order_state.as_ref(), SOURCE_SYSTEM);
        let table = self.ports.salesforce.order_statuses();
        let target = self.config.status_on_shipped.as_deref();
        let mut decided = Decided::default();
        let mut planned: HashSet<SalesforceId> = HashSet::new();
        let mut observed: HashMap<SalesforceId, Verdict> = HashMap::new();
        for p in progress {
            if !matches!(results.get(&p.message_id), Some(Ok(()))) {
                continue;
            }
            let read = WmsRead {
                started: read_started,
                changed_at: p.changed_at,
            };
            let status_may_follow = p.stage == Stage::Shipped
                && target.is_some_and(|target| may_write(table, &p.current_status, Stage::Shipped, target));
            let decision = if status_may_follow {
                tracker.verdict(p.fo_id.as_str(), p.stage, p.at).await
            } else {
                tracker
                    .written_back(p.fo_id.as_str(), p.stage, p.at, p.system.as_str(), Some(read))
                    .await
            };
            let verdict = match observed.get(&p.fo_id) {
                Some(v) => *v,
                None => match decision {
                    Ok(v) => {
                        observed.insert(p.fo_id.clone(), v);
                        if status_may_follow {
                            decided
                                .after_status
                                .insert(p.fo_id.clone(), (p.stage, p.at, p.system.as_str(), read));
                        }
                        v
                    }
                    Err(e) => {
                        results.insert(p.message_id, Err(WritebackError::Store(e)));
                        continue;
                    }
                },
            };
            let Some(target) = target else {
                continue;
            };
            let moves = matches!(verdict, Verdict::Advance | Verdict::Same);
            if p.stage == Stage::Shipped && moves && may_write(table, &p.current_status, Stage::Shipped, target) {
                if planned.insert(p.fo_id.clone()) {
                    decided.updates.push((
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
        decided
    }

    /// Sends the planned status writes in one call and answers each on its message.
    async fn write_statuses(&self, updates: &[(String, StatusUpdate)], results: &mut Results) {
        if updates.is_empty() {
            return;
        }
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
                for (msg, _) in updates {
                    results.insert(msg.clone(), Err(WritebackError::Salesforce(e.for_each_record())));
                }
            }
        }
    }

    /// Now that the statuses are written, records the observation and read of the orders that waited
    /// for them, where every event about the order in this batch succeeded (a failed one is retried and
    /// reads again). The lease kept other writers out since the verdict was read.
    async fn record_after_status(
        &self,
        after_status: HashMap<SalesforceId, (Stage, time::OffsetDateTime, &'static str, WmsRead)>,
        message_orders: &[(String, SalesforceId)],
        results: &mut Results,
    ) {
        let tracker = Tracker::new(self.ports.order_state.as_ref(), SOURCE_SYSTEM);
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
    }
}

/// Builds every record of the batch: the Shipment records (unique by external key, each remembering the
/// messages behind it) and what each record says about its order's progress. Records whose order is
/// gone or invalid, or whose shipment does not map, are answered here.
fn build(
    resolved: Vec<Resolved>,
    graphs: &HashMap<SalesforceId, OrderRead>,
    tables: &HashMap<WmsSystem, Arc<MappingTables>>,
    results: &mut Results,
) -> Built {
    let mut built = Built {
        message_orders: resolved
            .iter()
            .map(|r| (r.message_id.clone(), r.fo_id.clone()))
            .collect(),
        ..Built::default()
    };
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for r in resolved {
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
        // Present: records of a system whose tables failed to load were answered before.
        let Some(tables) = tables.get(&r.system) else {
            continue;
        };
        let shipments = &r.read.shipments;
        let recs: Result<Vec<ShipmentRecord>, MappingError> = shipments
            .iter()
            .map(|s| records::shipment_records(r.system, &r.fo_id, order, s, tables))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect());
        let recs = match recs {
            Ok(recs) => recs,
            Err(e) => {
                results.insert(r.message_id, Err(e.into()));
                continue;
            }
        };
        if !shipments.is_empty() {
            let complete = shipments.iter().any(|s| s.order_complete);
            built.progress.push(Progress {
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
                Some(&i) => built.owners[i].push(r.message_id.clone()),
                None => {
                    by_key.insert(rec.external_key.clone(), built.shipments.len());
                    built.owners.push(vec![r.message_id.clone()]);
                    built.shipments.push(rec);
                }
            }
        }
        results.insert(r.message_id, Ok(()));
    }
    built
}

fn fail_all(results: &mut Results, resolved: Vec<Resolved>, e: &SalesforceError) {
    for r in resolved {
        results.insert(r.message_id, Err(WritebackError::Salesforce(e.for_each_record())));
    }
}

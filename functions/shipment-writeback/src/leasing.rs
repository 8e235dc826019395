//! Step 2 of a write-back: the order leases. Orders whose lease is free are written at once; the others
//! wait for theirs while that first round runs, or are acknowledged when a holder's write covers them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use tracing::{info, warn};
use waybill::domain::SalesforceId;
use waybill::error::chain;
use waybill::lease::{order_subject, Lease, Leases, Taken};
use waybill::order_state::Tracker;

use crate::resolve::Linked;
use crate::{lease_unavailable, App, WritebackError, LEASE_PATIENCE, SOURCE_SYSTEM};

impl App {
    /// Takes, without waiting, the lease of every order the linked records are about. Returns the
    /// records whose order this invocation now holds, and those whose order is leased elsewhere.
    pub(crate) async fn take_free_leases(
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
    pub(crate) async fn lease_orders(
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
}

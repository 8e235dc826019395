//! The order sweep: on a schedule, each WMS's order listing is read from a watermark (less an overlap),
//! and every shipped change that no write-back has read yet is enqueued as a fulfilment event through the
//! same dedup as a webhook. It catches the webhooks a WMS gave up on: Logiwa advises polling alongside its
//! webhooks (wms-apis.md §1 "Webhooks"), and does not document how often it retries one.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::{info, warn};
use waybill::domain::CorrelationId;
use waybill::error::{chain, Classified};
use waybill::ingest::Enqueue;
use waybill::messages::{ChangedObject, Envelope, FulfillmentEvent};
use waybill::order_state::{Tracker, SALESFORCE_SOURCE};
use waybill::ports::{ChangeWindow, ChangedOrder, OrderStateStore, WatermarkStore, WmsConnector, WmsSystem, XrefStore};
use waybill::registry::Registry;

use crate::FUNCTION;

/// The `topic` of a fulfilment event the sweep found (a webhook's carries the vendor's topic).
pub const SWEEP_TOPIC: &str = "waybill/sweep";

/// The ports the sweep drives besides the webhook's idempotency store and queue.
#[derive(Clone)]
pub struct SweepPorts {
    /// WMS connectors by system: each one that can list orders by change time is swept.
    pub wms: Arc<Registry<dyn WmsConnector>>,
    /// Cross-references (is this WMS order one of ours, and which Salesforce record?).
    pub xref: Arc<dyn XrefStore>,
    /// Per-order state (has a write-back already read this change?).
    pub order_state: Arc<dyn OrderStateStore>,
    /// Sweep watermarks, one stream per system.
    pub watermarks: Arc<dyn WatermarkStore>,
}

/// Sweep settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    /// How far before the watermark a listing starts (changes stamped earlier but listed late).
    pub overlap: Duration,
    /// How far back the first sweep of a system reads (no watermark yet).
    pub first_lookback: Duration,
    /// How old a change must be before the sweep takes it: the window ends this long before the sweep
    /// starts, so changes whose webhooks are still on their way are left to them rather than written
    /// back twice (the next sweep's window still covers them).
    pub grace: Duration,
    /// Orders checked and enqueued at once.
    pub concurrency: usize,
}

/// What one sweep of one system did (the invocation's answer, and the log line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemSweep {
    /// The system.
    pub system: String,
    /// Window start (RFC 3339).
    pub from: String,
    /// Window end (RFC 3339): the watermark this sweep stores when it hands on every change.
    pub to: String,
    /// Orders the listing reported changed in the window.
    pub changed: usize,
    /// Of those, orders with something shipped.
    pub shipped: usize,
    /// Shipped changes a write-back had already read (nothing to do).
    pub written: usize,
    /// Orders the WMS has that waybill did not create (no cross-reference): left alone.
    pub unlinked: usize,
    /// Fulfilment events enqueued.
    pub enqueued: usize,
    /// Changes an earlier sweep had already enqueued.
    pub duplicates: usize,
    /// Orders that could not be checked or enqueued (the watermark stops at the oldest, so the next
    /// sweep retries them).
    pub failed: usize,
    /// Orders left for the next sweep because this one's deadline was near (the watermark stops at the
    /// oldest).
    pub deferred: usize,
    /// Listing rows that did not read as orders (skipped by the connector).
    pub unreadable: usize,
    /// Why the listing could not be trusted to be whole, if it could not.
    pub incomplete: Option<String>,
    /// Whether the watermark moved forward (to `to`, or to the oldest change not handed on).
    pub advanced: bool,
    /// Where the watermark was stored (RFC 3339), when it was.
    pub mark: Option<String>,
    /// Why the system was not swept at all, if it was not.
    pub error: Option<String>,
}

/// The sweep over every system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// One entry per system with a connector.
    pub systems: Vec<SystemSweep>,
}

/// What became of one listed order.
enum Checked {
    NotShipped,
    Written,
    Unlinked,
    Enqueued,
    Duplicate,
    Failed,
    Deferred,
}

impl Checked {
    /// Whether the change still has to be handed on by a later sweep.
    fn pending(&self) -> bool {
        matches!(self, Self::Failed | Self::Deferred)
    }
}

/// No new order is checked with less than this left before the deadline: a check is up to three state
/// reads and writes and one queue send, and the watermark must still be stored after it.
const DEADLINE_RESERVE: Duration = Duration::from_secs(3);

/// Where the watermark may move after a sweep of a whole listing: to the window's end when every change
/// was handed on, else to the stamp of the oldest change that was not (the next window starts an overlap
/// before it, so that change and everything after it is read again; everything older was handed on).
pub fn next_mark(window_end: OffsetDateTime, pending: impl IntoIterator<Item = OffsetDateTime>) -> OffsetDateTime {
    pending
        .into_iter()
        .min()
        .map_or(window_end, |oldest| oldest.min(window_end))
}

/// The watermark stream of a system's sweep.
pub fn stream(system: WmsSystem) -> String {
    format!("order-sweep#{system}")
}

/// The dedup key of a listed change: the order and the WMS's stamp of the change, so overlapping
/// sweeps enqueue it once, and a later change of the same order is a new event.
pub fn event_key(change: &ChangedOrder) -> String {
    format!(
        "{}:sweep:{}:{}",
        change.order.system,
        change.order.id,
        change.changed_at.unix_timestamp_nanos()
    )
}

impl crate::App {
    /// Sweeps every system with a connector, one after another (a WMS's rate limit is per account).
    pub async fn sweep(&self, now: OffsetDateTime) -> SweepReport {
        let mut report = SweepReport::default();
        let Some(ports) = &self.ports.sweep else {
            return report;
        };
        let systems: Vec<&str> = ports.wms.systems().collect();
        for system in systems {
            let Some(wms) = ports.wms.get(system) else {
                continue;
            };
            report.systems.push(self.sweep_system(ports, wms.as_ref(), now).await);
        }
        report
    }

    async fn sweep_system(&self, ports: &SweepPorts, wms: &dyn WmsConnector, now: OffsetDateTime) -> SystemSweep {
        let cfg = &self.config.sweep;
        let system = wms.system();
        let stream = stream(system);
        let mut out = SystemSweep {
            system: system.to_string(),
            ..SystemSweep::default()
        };
        let mark = match ports.watermarks.get(&stream).await {
            Ok(m) => m,
            Err(e) => {
                warn!(system = %system, error.code = e.code(), error.message = %chain(&e), "sweep watermark unreadable");
                out.error = Some(format!("{}: {}", e.code(), chain(&e)));
                return out;
            }
        };
        let first = time::Duration::try_from(cfg.first_lookback).unwrap_or(time::Duration::DAY);
        let grace = time::Duration::try_from(cfg.grace).unwrap_or(time::Duration::ZERO);
        let end = now.checked_sub(grace).unwrap_or(now);
        let window = ChangeWindow::after(mark.unwrap_or(end.checked_sub(first).unwrap_or(end)), end, cfg.overlap);
        out.from = rfc3339(window.from);
        out.to = rfc3339(window.to);
        let changes = match wms.order_changes(&window).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                out.error = Some("this WMS cannot list orders by change time".into());
                return out;
            }
            Err(e) => {
                warn!(system = %system, error.code = e.code(), error.message = %chain(&e), "order listing failed; the next sweep reads the same window");
                out.error = Some(format!("{}: {}", e.code(), chain(&e)));
                return out;
            }
        };
        out.changed = changes.orders.len();
        out.unreadable = changes.unreadable;
        // Oldest first, so a sweep cut short by its deadline has handed on a prefix, and the watermark
        // can move to where it stopped.
        let mut orders = changes.orders;
        orders.sort_by_key(|c| c.changed_at);
        let checked: Vec<(Checked, OffsetDateTime)> = futures::stream::iter(orders)
            .map(|c| async move {
                let at = c.changed_at;
                let near_deadline = waybill::deadline::current()
                    .is_some_and(|d| d.saturating_duration_since(tokio::time::Instant::now()) < DEADLINE_RESERVE);
                if near_deadline && c.shipped {
                    return (Checked::Deferred, at);
                }
                (self.check(ports, c).await, at)
            })
            .buffer_unordered(cfg.concurrency.max(1))
            .collect()
            .await;
        let mut pending = Vec::new();
        for (c, at) in &checked {
            if c.pending() {
                pending.push(*at);
            }
            match c {
                Checked::NotShipped => continue,
                Checked::Written => out.written += 1,
                Checked::Unlinked => out.unlinked += 1,
                Checked::Enqueued => out.enqueued += 1,
                Checked::Duplicate => out.duplicates += 1,
                Checked::Failed => out.failed += 1,
                Checked::Deferred => out.deferred += 1,
            }
            out.shipped += 1;
        }
        if let waybill::ports::Completeness::Incomplete { reason } = changes.completeness {
            out.incomplete = Some(reason);
        }
        // An incomplete listing may have missed a change anywhere in the window: the watermark stays, and
        // the next sweep reads the same window (the dedup keys keep what this one enqueued from going
        // twice). A whole listing moves it to the window's end, or to the oldest change a failed enqueue
        // or the deadline left behind.
        if out.incomplete.is_none() {
            let mark = next_mark(window.to, pending);
            match ports.watermarks.advance(&stream, mark).await {
                Ok(waybill::ports::Advance::Moved) => {
                    out.advanced = true;
                    out.mark = Some(rfc3339(mark));
                }
                // A mark at or behind the stored one (an older change was left behind this time, or a
                // concurrent sweep got further): the watermark stays where it is.
                Ok(waybill::ports::Advance::NotForward { .. }) => {}
                Err(e) => {
                    warn!(system = %system, error.code = e.code(), error.message = %chain(&e), "sweep watermark not stored; the next sweep reads the window again");
                }
            }
        }
        info!(
            system = %system,
            changed = out.changed,
            shipped = out.shipped,
            written = out.written,
            unlinked = out.unlinked,
            enqueued = out.enqueued,
            duplicates = out.duplicates,
            failed = out.failed,
            deferred = out.deferred,
            unreadable = out.unreadable,
            incomplete = out.incomplete.as_deref().unwrap_or(""),
            advanced = out.advanced,
            "order sweep"
        );
        out
    }

    /// Decides one listed change: nothing shipped, already written back, not ours, or enqueued.
    async fn check(&self, ports: &SweepPorts, change: ChangedOrder) -> Checked {
        if !change.shipped {
            return Checked::NotShipped;
        }
        let order = &change.order;
        let sf_id = match ports.xref.salesforce_for(order.system, &order.id).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                info!(system = %order.system, wms_id = %order.id, order_code = %order.code, "listed order has no cross-reference; not one of ours");
                return Checked::Unlinked;
            }
            Err(e) => {
                warn!(system = %order.system, wms_id = %order.id, error.code = e.code(), error.message = %chain(&e), "cross-reference unreadable; the next sweep retries");
                return Checked::Failed;
            }
        };
        let tracker = Tracker::new(ports.order_state.as_ref(), SALESFORCE_SOURCE);
        match tracker.get(sf_id.as_str()).await {
            Ok(Some(st)) if st.wms_change_written(change.changed_at) => return Checked::Written,
            Ok(_) => {}
            Err(e) => {
                warn!(sf_id = %sf_id, error.code = e.code(), error.message = %chain(&e), "order state unreadable; the next sweep retries");
                return Checked::Failed;
            }
        }
        let cid = CorrelationId::generate();
        let key = event_key(&change);
        let event = FulfillmentEvent {
            system: order.system,
            object: ChangedObject::Order,
            topic: SWEEP_TOPIC.into(),
            event_key: key.clone(),
            order_code: order.code.clone(),
            wms_order_id: Some(order.id.clone()),
            status: change.status.clone(),
            received_at: OffsetDateTime::now_utc(),
            // By the time the event is read, a webhook's write-back may have read this version: the
            // write-back then acknowledges it without reading again.
            wms_changed_at: Some(change.changed_at),
        };
        let outbound = match Envelope::new(cid.clone(), event).to_outbound() {
            Ok(m) => m,
            Err(e) => {
                warn!(sf_id = %sf_id, error.message = %e, "sweep event not serialisable");
                return Checked::Failed;
            }
        };
        let enqueue = Enqueue {
            store: self.ports.idempotency.as_ref(),
            queue: self.ports.queue.as_ref(),
            function: FUNCTION,
            window: self.config.dedup_window,
            queue_url: &self.config.fulfillment_events_queue_url,
        };
        match enqueue.once(&key, "sweep", &key, &outbound, &cid).await {
            Ok(true) => Checked::Duplicate,
            Ok(false) => {
                info!(correlation_id = %cid, sf_id = %sf_id, system = %order.system, order_code = %order.code, "sweep found a shipped change no write-back has read; enqueued");
                Checked::Enqueued
            }
            Err(e) => {
                warn!(correlation_id = %cid, sf_id = %sf_id, status = e.status, error.code = e.code, "sweep could not enqueue; the next sweep retries");
                Checked::Failed
            }
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use time::OffsetDateTime;
    use waybill::ports::ChangeWindow;

    use super::next_mark;

    const T0: i64 = 1_795_000_000_000;

    proptest! {
        /// Whatever was not handed on: the next sweep's window (from the stored mark)
        /// contains every change not handed on, and the mark never passes the window's end.
        #[test]
        fn the_next_window_covers_every_change_not_handed_on(
            pending in proptest::collection::vec(0i64..60_000, 0..5),
            later in 0i64..600_000,
            overlap_ms in 0u64..300_000,
        ) {
            let at = |ms: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0 + ms) * 1_000_000).expect("time");
            let end = at(60_000);
            let mark = next_mark(end, pending.iter().map(|&ms| at(ms)));
            prop_assert!(mark <= end);
            let next = ChangeWindow::after(mark, at(60_000 + later), Duration::from_millis(overlap_ms));
            for &p in &pending {
                prop_assert!(next.contains(at(p)), "pending change at {p} ms outside {next:?}");
            }
            if pending.is_empty() {
                prop_assert_eq!(mark, end);
            }
        }
    }
}

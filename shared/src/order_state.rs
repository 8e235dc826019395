//! Writes to the per-order state item, all through one versioned read-modify-write loop, so stage
//! changes, links and errors from parallel invocations never overwrite each other.
//!
//! Every stage change goes through [`crate::lifecycle::decide`]; what it refuses is recorded on the item
//! (`last_ignored`, `ignored_count`) so an operator can see that a stale or backwards event arrived.

use std::time::Duration;

use time::OffsetDateTime;
use tracing::{debug, info};

use crate::error::{chain, Classified};
use crate::lifecycle::{decide, Stage, Verdict};
use crate::ports::{IgnoredObservation, LastError, OrderState, OrderStateStore, Saved, StageEntry, StoreError, WmsRef};

/// How often a lost race is retried before giving up (as a transient store error). Each round of
/// racing writers has at least one winner, so `n` writers on one order need up to `n` attempts when
/// every round overlaps (a slow store); 12 covers the busiest order we see (a batch of 10 plus two) with
/// back-offs that by then spread the writers apart anyway.
const MAX_ATTEMPTS: u32 = 12;

/// Back-off before the next attempt after lost race `attempt` (1-based): full jitter under a ceiling
/// that doubles from 10 ms to at most 320 ms. A fixed small jitter let writers that collided collide
/// again, round after round, as long as the store was slow; growing it spreads them apart.
fn race_backoff(attempt: u32) -> Duration {
    let ceiling = 10u64 << attempt.saturating_sub(1).min(5);
    Duration::from_millis(rand::random_range(0..=ceiling))
}

/// Keeps the latest read on the state; true when anything moved.
fn record_read(st: &mut OrderState, read: WmsRead) -> bool {
    let newer = st.wms_read_at.is_none_or(|r| r < read.started);
    if newer {
        st.wms_read_at = Some(read.started);
    }
    let seen = read.changed_at.filter(|c| st.wms_changed_seen.is_none_or(|s| s < *c));
    if seen.is_some() {
        st.wms_changed_seen = seen;
    }
    newer || seen.is_some()
}

/// The source system of the orders waybill sends to a WMS (the order state's key), as every function
/// names it.
pub const SALESFORCE_SOURCE: &str = "salesforce";

/// One read of the WMS by a write-back: when it began (our clock) and the WMS's change stamp of the
/// order version it returned (the WMS's clock), when the WMS gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WmsRead {
    /// When the read began.
    pub started: OffsetDateTime,
    /// The WMS's last-change stamp of what it read.
    pub changed_at: Option<OffsetDateTime>,
}

/// The order-state writer for one source system.
#[derive(Clone, Copy)]
pub struct Tracker<'a> {
    store: &'a dyn OrderStateStore,
    source_system: &'a str,
}

impl<'a> Tracker<'a> {
    /// A tracker over `store` for orders of `source_system` (e.g. `salesforce`).
    pub fn new(store: &'a dyn OrderStateStore, source_system: &'a str) -> Self {
        Self { store, source_system }
    }

    /// The current state of an order.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn get(&self, source_id: &str) -> Result<Option<OrderState>, StoreError> {
        self.store.load(self.source_system, source_id).await
    }

    /// Applies `change` to the order's state and saves it with a versioned conditional write, reloading
    /// and re-applying on a lost race. `change` returns false when it changed nothing (no write).
    ///
    /// # Errors
    /// The store's errors; `Unavailable` after `MAX_ATTEMPTS` lost races.
    pub async fn update<T>(
        &self,
        source_id: &str,
        mut change: impl FnMut(&mut OrderState) -> (bool, T),
    ) -> Result<(OrderState, T), StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let now = OffsetDateTime::now_utc();
            let mut state = self
                .store
                .load(self.source_system, source_id)
                .await?
                .unwrap_or_else(|| OrderState::new(self.source_system, source_id, now));
            let (changed, out) = change(&mut state);
            if !changed {
                return Ok((state, out));
            }
            state.version += 1;
            state.updated_at = now;
            match self.store.save(&state).await? {
                Saved::Written => return Ok((state, out)),
                Saved::Conflict => {
                    debug!(order = source_id, attempt, "order state changed under us; re-applying");
                    tokio::time::sleep(race_backoff(attempt)).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            format!("order state {source_id} kept changing under {MAX_ATTEMPTS} attempts").into(),
        ))
    }

    /// Reports that the order reached `stage` at `at` according to `reporter`. Returns the verdict: the
    /// stage is applied only when it moves the order forward; otherwise it is recorded as ignored.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn observe(
        &self,
        source_id: &str,
        stage: Stage,
        at: OffsetDateTime,
        reporter: &str,
    ) -> Result<Verdict, StoreError> {
        let (_, verdict) = self.update(source_id, |st| apply(st, stage, at, reporter)).await?;
        if !matches!(verdict, Verdict::Advance | Verdict::Same) {
            info!(order = source_id, stage = %stage, reporter, reason = reason(verdict), "observation ignored by the lifecycle");
        }
        Ok(verdict)
    }

    /// Records that the order is in the WMS: its WMS ids and the `submitted` stage, in one write.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn submitted(
        &self,
        source_id: &str,
        wms: &WmsRef,
        at: OffsetDateTime,
        reporter: &str,
    ) -> Result<Verdict, StoreError> {
        let (_, verdict) = self
            .update(source_id, |st| {
                let linked = st.wms.as_ref() != Some(wms);
                if linked {
                    st.wms = Some(wms.clone());
                }
                let (staged, verdict) = apply(st, Stage::Submitted, at, reporter);
                (linked || staged, verdict)
            })
            .await?;
        Ok(verdict)
    }

    /// Records a successful write-back: the stage it saw and, when given, its read of the WMS: when the
    /// read began and the WMS's change stamp of the version it returned (both kept at the latest), so a
    /// later event received before that moment, or a listed change stamped no later, is known to be
    /// written already. A write-back with a status still to write decides with [`Tracker::verdict`] and
    /// calls this once that write succeeded: a read recorded before would tell the sweep and later
    /// events that everything is in Salesforce while the status is not.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn written_back(
        &self,
        source_id: &str,
        stage: Stage,
        at: OffsetDateTime,
        reporter: &str,
        read: Option<WmsRead>,
    ) -> Result<Verdict, StoreError> {
        let (_, verdict) = self
            .update(source_id, |st| {
                let read_moved = read.is_some_and(|r| record_read(st, r));
                let (staged, verdict) = apply(st, stage, at, reporter);
                (read_moved || staged, verdict)
            })
            .await?;
        Ok(verdict)
    }

    /// What [`Tracker::written_back`] would decide for this observation, without writing anything (one
    /// read): a writer that must write Salesforce first, and holds the order's lease, decides with this
    /// and records the observation with its read once that write succeeded.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn verdict(&self, source_id: &str, stage: Stage, at: OffsetDateTime) -> Result<Verdict, StoreError> {
        let current = self.get(source_id).await?;
        Ok(decide(
            current
                .as_ref()
                .and_then(|st| st.stage.as_ref())
                .map(|e| (e.stage, e.at)),
            stage,
            at,
        ))
    }

    /// Records the WMS order (once known) on the state.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn link(&self, source_id: &str, wms: &WmsRef) -> Result<(), StoreError> {
        self.update(source_id, |st| {
            if st.wms.as_ref() == Some(wms) {
                return (false, ());
            }
            st.wms = Some(wms.clone());
            (true, ())
        })
        .await
        .map(|_| ())
    }

    /// Records why the order's last processing failed.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn failed(
        &self,
        source_id: &str,
        error: &(dyn Classified + Send + Sync + 'static),
    ) -> Result<(), StoreError> {
        let code = error.code().to_owned();
        let reason = chain(error);
        let class = error.class();
        self.update(source_id, |st| {
            if st
                .last_error
                .as_ref()
                .is_some_and(|e| e.code == code && e.reason == reason)
            {
                return (false, ());
            }
            st.last_error = Some(LastError {
                code: code.clone(),
                reason: reason.clone(),
                class,
                at: OffsetDateTime::now_utc(),
            });
            (true, ())
        })
        .await
        .map(|_| ())
    }
}

/// The transition on one state: applies the stage or records why not. Returns (changed, verdict).
fn apply(st: &mut OrderState, stage: Stage, at: OffsetDateTime, reporter: &str) -> (bool, Verdict) {
    let current = st.stage.as_ref().map(|e| (e.stage, e.at));
    let verdict = decide(current, stage, at);
    match verdict {
        Verdict::Advance => {
            let entry = StageEntry {
                stage,
                at,
                source: reporter.to_owned(),
            };
            st.history.push(entry.clone());
            st.stage = Some(entry);
            st.last_error = None;
            (true, verdict)
        }
        Verdict::Same => (false, verdict),
        Verdict::Backwards { .. } | Verdict::Terminal { .. } | Verdict::Stale => {
            st.ignored_count += 1;
            st.last_ignored = Some(IgnoredObservation {
                stage,
                at,
                source: reporter.to_owned(),
                reason: reason(verdict).to_owned(),
            });
            (true, verdict)
        }
    }
}

fn reason(v: Verdict) -> &'static str {
    match v {
        Verdict::Advance => "advance",
        Verdict::Same => "same",
        Verdict::Backwards { .. } => "backwards",
        Verdict::Terminal { .. } => "terminal",
        Verdict::Stale => "stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_race_back_off_grows_from_ten_milliseconds_to_at_most_three_hundred_twenty() {
        let max_of = |attempt| (0..400).map(|_| race_backoff(attempt)).max().expect("samples");
        assert!(max_of(1) <= Duration::from_millis(10));
        assert!(max_of(3) <= Duration::from_millis(40));
        // 400 draws under a 320 ms ceiling: the largest is above 160 ms with certainty for practical purposes.
        let late = max_of(6);
        assert!(
            late > Duration::from_millis(160) && late <= Duration::from_millis(320),
            "{late:?}"
        );
        assert!(max_of(20) <= Duration::from_millis(320));
    }
}

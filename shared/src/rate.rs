//! `Coalescing`: a `RateGate` in front of the shared bucket that turns the reservations one process makes
//! at the same moment (a batch's records calling the vendor in parallel) into one `reserve_many`, so a
//! batch of ten pays for one or two bucket writes instead of ten. Every caller still gets its own slot,
//! `interval` apart, exactly as if it had reserved alone.
//!
//! The first caller leads: it takes everyone queued when it sends, and callers who arrive while that
//! write is in flight go in the next one. The leader runs in its own task, so a caller that gives up
//! (a deadline, a dropped future) cannot strand the callers queued behind it, and each of its writes is
//! bounded by [`RESERVE_TIMEOUT`], so a write stuck on a connection that went stale while Lambda froze
//! the environment cannot hold every vendor call of the process.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::ports::{RateGate, StoreError};

type Reply = oneshot::Sender<Result<OffsetDateTime, StoreError>>;

/// The longest one merged reservation may take; its callers are then answered `Unavailable` and send
/// under their per-process limiter (see `http_client.rs`). A DynamoDB write takes milliseconds.
pub const RESERVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The store's failure, shared by every caller of one merged reservation and kept as their source.
#[derive(Debug, thiserror::Error)]
#[error("the shared rate reservation failed")]
struct Shared(#[source] Arc<StoreError>);

/// One caller's copy of a merged reservation's error, of the same kind as the original.
fn share(e: &Arc<StoreError>) -> StoreError {
    match e.as_ref() {
        StoreError::Conflict { key, existing } => StoreError::Conflict {
            key: key.clone(),
            existing: existing.clone(),
        },
        StoreError::Malformed { key, reason } => StoreError::Malformed {
            key: key.clone(),
            reason: reason.clone(),
        },
        StoreError::Unavailable(_) => StoreError::Unavailable(Box::new(Shared(e.clone()))),
    }
}

/// The callers of one bucket waiting for a slot, and whether a leader is already sending for them.
#[derive(Default)]
struct Queue {
    leading: bool,
    waiting: Vec<(Duration, Reply)>,
}

/// Coalesces concurrent reservations of this process (see the module docs).
pub struct Coalescing {
    inner: Arc<dyn RateGate>,
    /// Keyed by bucket and interval (callers with different spacing never share a write).
    queues: Queues,
}

impl std::fmt::Debug for Coalescing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescing").finish_non_exhaustive()
    }
}

impl Coalescing {
    /// Coalesces the reservations sent to `inner`.
    pub fn new(inner: Arc<dyn RateGate>) -> Self {
        Self {
            inner,
            queues: Arc::default(),
        }
    }
}

type Queues = Arc<Mutex<HashMap<(String, Duration), Queue>>>;

/// Clears a bucket's queue if its leader stops without finishing (a panic in the store, the runtime
/// shutting down): the queued callers then get an error instead of waiting forever, and the next caller
/// starts a new leader.
struct Abandon {
    queues: Queues,
    key: (String, Duration),
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if self.armed {
            self.queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.key);
        }
    }
}

/// Sends for everyone queued on the guard's key until nobody is left.
async fn lead(inner: Arc<dyn RateGate>, mut guard: Abandon) {
    let (queues, key) = (guard.queues.clone(), guard.key.clone());
    loop {
        let mut batch = {
            let mut q = queues.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(queue) = q.get_mut(&key) else {
                guard.armed = false;
                return;
            };
            if queue.waiting.is_empty() {
                q.remove(&key);
                guard.armed = false;
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        // Callers that gave up while queued need no slot: one reserved for them would go unused.
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        // The longest lead of the batch: every slot must still be ahead when its caller learns of it.
        let lead = batch.iter().map(|(l, _)| *l).max().unwrap_or_default();
        let count = NonZeroU32::new(u32::try_from(batch.len()).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let reserved = tokio::time::timeout(RESERVE_TIMEOUT, inner.reserve_many(&key.0, key.1, lead, count))
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    format!("no answer from the rate bucket within {RESERVE_TIMEOUT:?}").into(),
                ))
            });
        match reserved {
            Ok(slots) if slots.len() == batch.len() => {
                for ((_, reply), slot) in batch.into_iter().zip(slots) {
                    // A caller that gave up leaves its slot unused, as an abandoned single reservation would.
                    let _ = reply.send(Ok(slot));
                }
            }
            Ok(slots) => {
                let reason = format!("{} slots reserved for {} callers", slots.len(), batch.len());
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Malformed {
                        key: key.0.clone(),
                        reason: reason.clone(),
                    }));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, reply) in batch {
                    let _ = reply.send(Err(share(&e)));
                }
            }
        }
    }
}

#[async_trait]
impl RateGate for Coalescing {
    async fn reserve(
        &self,
        bucket: &str,
        interval: Duration,
        lead_time: Duration,
    ) -> Result<OffsetDateTime, StoreError> {
        let (reply, answer) = oneshot::channel();
        let key = (bucket.to_owned(), interval);
        let start = {
            let mut q = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            let queue = q.entry(key.clone()).or_default();
            queue.waiting.push((lead_time, reply));
            !std::mem::replace(&mut queue.leading, true)
        };
        if start {
            // The guard exists before the task does: a task dropped before it ever runs (a runtime
            // shutting down) still clears the queue, so later callers start a new leader.
            let guard = Abandon {
                queues: self.queues.clone(),
                key,
                armed: true,
            };
            tokio::spawn(lead(self.inner.clone(), guard));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the rate reservation was abandoned".into())))
    }

    async fn reserve_many(
        &self,
        bucket: &str,
        interval: Duration,
        lead_time: Duration,
        count: NonZeroU32,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        self.inner.reserve_many(bucket, interval, lead_time, count).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::fakes::MemoryRateGate;

    /// Counts the writes that reach the bucket.
    struct Counted {
        inner: MemoryRateGate,
        writes: AtomicU32,
        slow: Duration,
        fail: bool,
    }

    #[async_trait]
    impl RateGate for Counted {
        async fn reserve_many(
            &self,
            bucket: &str,
            interval: Duration,
            lead: Duration,
            count: NonZeroU32,
        ) -> Result<Vec<OffsetDateTime>, StoreError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.slow).await;
            if self.fail {
                return Err(StoreError::Unavailable("store down".into()));
            }
            self.inner.reserve_many(bucket, interval, lead, count).await
        }
    }

    fn counted(slow_ms: u64, fail: bool) -> Arc<Counted> {
        Arc::new(Counted {
            inner: MemoryRateGate::new(),
            writes: AtomicU32::new(0),
            slow: Duration::from_millis(slow_ms),
            fail,
        })
    }

    #[tokio::test]
    async fn ten_callers_at_once_share_two_bucket_writes_and_each_get_their_own_slot_an_interval_apart() {
        let store = counted(20, false);
        let gate = Coalescing::new(store.clone());
        let interval = Duration::from_millis(500);
        let mut slots: Vec<OffsetDateTime> =
            futures::future::join_all((0..10).map(|_| gate.reserve("logiwa#a", interval, Duration::ZERO)))
                .await
                .into_iter()
                .map(|r| r.expect("slot"))
                .collect();
        // The first caller's write goes alone; the nine who queued behind it go in the next one.
        assert!(
            store.writes.load(Ordering::SeqCst) <= 2,
            "{} writes",
            store.writes.load(Ordering::SeqCst)
        );
        slots.sort();
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= interval, "slots {pair:?} closer than the interval");
        }
    }

    #[tokio::test]
    async fn a_later_caller_gets_a_slot_after_every_slot_given_out_before() {
        let store = counted(5, false);
        let gate = Coalescing::new(store.clone());
        let interval = Duration::from_millis(200);
        let first: Vec<OffsetDateTime> =
            futures::future::join_all((0..4).map(|_| gate.reserve("b", interval, Duration::ZERO)))
                .await
                .into_iter()
                .map(|r| r.expect("slot"))
                .collect();
        let later = gate.reserve("b", interval, Duration::ZERO).await.expect("slot");
        let last = first.iter().max().copied().expect("four slots");
        assert!(later - last >= interval, "later {later} vs last {last}");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_strand_the_callers_behind_it() {
        let store = counted(100, false);
        let gate = Arc::new(Coalescing::new(store.clone()));
        let quitter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.reserve("c", Duration::from_millis(100), Duration::ZERO).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        quitter.abort();
        let got = tokio::time::timeout(
            Duration::from_secs(2),
            gate.reserve("c", Duration::from_millis(100), Duration::ZERO),
        )
        .await
        .expect("answered in time");
        assert!(got.is_ok(), "{got:?}");
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_caller_it_was_for_and_the_next_callers_try_again() {
        let store = counted(10, true);
        let gate = Coalescing::new(store.clone());
        let got =
            futures::future::join_all((0..3).map(|_| gate.reserve("d", Duration::from_millis(100), Duration::ZERO)))
                .await;
        assert!(
            got.iter().all(|r| matches!(r, Err(StoreError::Unavailable(_)))),
            "{got:?}"
        );
        // Each caller's error keeps the store's own as its source.
        for r in &got {
            let e = r.as_ref().expect_err("failed");
            assert!(
                crate::error::chain(e).contains("store down"),
                "{}",
                crate::error::chain(e)
            );
        }
        let before = store.writes.load(Ordering::SeqCst);
        let again = gate.reserve("d", Duration::from_millis(100), Duration::ZERO).await;
        assert!(again.is_err());
        assert_eq!(
            store.writes.load(Ordering::SeqCst),
            before + 1,
            "a new write for the next caller"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_on_several_threads_each_get_a_distinct_slot_from_fewer_writes_than_callers() {
        let store = counted(15, false);
        let gate = Arc::new(Coalescing::new(store.clone()));
        let interval = Duration::from_millis(50);
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    // Staggered a little, so some arrive while a write is in flight and some between writes.
                    tokio::time::sleep(Duration::from_millis(i % 7)).await;
                    gate.reserve("m", interval, Duration::ZERO).await
                })
            })
            .collect();
        let mut slots = Vec::new();
        for t in tasks {
            let slot = tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("every caller answered")
                .expect("task")
                .expect("slot");
            slots.push(slot);
        }
        slots.sort();
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= interval, "slots {pair:?} closer than the interval");
        }
        let writes = store.writes.load(Ordering::SeqCst);
        assert!(writes < 40 / 2, "{writes} writes for 40 callers");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_the_store_never_answers_fails_its_callers_after_the_timeout() {
        let store = counted(3_600_000, false);
        let gate = Coalescing::new(store.clone());
        let started = tokio::time::Instant::now();
        let got =
            futures::future::join_all((0..3).map(|_| gate.reserve("t", Duration::from_millis(100), Duration::ZERO)))
                .await;
        assert!(
            got.iter().all(|r| matches!(r, Err(StoreError::Unavailable(_)))),
            "{got:?}"
        );
        assert!(
            started.elapsed() <= RESERVE_TIMEOUT + Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn buckets_are_reserved_apart() {
        let store = counted(5, false);
        let gate = Coalescing::new(store.clone());
        let interval = Duration::from_millis(300);
        let (a, b) = tokio::join!(
            gate.reserve("x", interval, Duration::ZERO),
            gate.reserve("y", interval, Duration::ZERO)
        );
        let (a, b) = (a.expect("x"), b.expect("y"));
        // Two idle buckets: both slots are now, not one interval apart.
        assert!((a - b).abs() < time::Duration::milliseconds(100), "{a} {b}");
        assert_eq!(store.writes.load(Ordering::SeqCst), 2);
    }
}

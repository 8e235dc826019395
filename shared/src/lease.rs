//! Per-order leases: every writer that reads an order's state in another system, decides, and writes it
//! back (the orders consumer's status, shipment-writeback's Shipments and status) holds the order's lease
//! for that read-decide-write, so parallel batches of any function cannot interleave on one order.
//!
//! A lease is an INPROGRESS idempotency record (same conditional put, same table) that is never
//! completed, only released: it lapses by itself at the invocation deadline if its holder dies. See the
//! README "Concurrency" for why a lease and not FIFO queues.

use std::time::Duration;

use time::OffsetDateTime;

use crate::ports::{Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, LockRequest};

/// The idempotency-key namespace shared by every function, so they all contend for the same lease.
const NAMESPACE: &str = "lease";
/// Lease length when the invocation deadline is unknown (tests, local runs).
const FALLBACK: Duration = Duration::from_secs(60);

/// The lease subject of an order: the same in every function that writes orders, so they contend for
/// one lease.
pub fn order_subject(id: &crate::domain::SalesforceId) -> String {
    format!("order#{}", id.as_str())
}

/// Leases over one store.
#[derive(Clone, Copy)]
pub struct Leases<'a> {
    store: &'a dyn IdempotencyStore,
}

/// A held lease; give it back with [`Leases::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    key: IdempotencyKey,
}

/// What [`Leases::acquire_unless`] ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// The lease is ours; release it.
    Held(Lease),
    /// Someone else holds it, and the caller's rule says the work is already done.
    Covered,
    /// Someone else holds it, past the caller's patience.
    Busy,
}

impl Lease {
    /// What the lease covers (`order#<id>`).
    pub fn key(&self) -> &str {
        self.key.as_str()
    }
}

impl<'a> Leases<'a> {
    /// Leases stored in `store`.
    pub fn new(store: &'a dyn IdempotencyStore) -> Self {
        Self { store }
    }

    /// Takes the lease on `subject` (e.g. `order#<id>`) until `deadline_ms` (epoch ms; 0 = a fallback
    /// minute). Returns None when another invocation holds it.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn try_acquire(&self, subject: &str, deadline_ms: u64) -> Result<Option<Lease>, IdempotencyError> {
        let req = Self::request(subject, deadline_ms)?;
        for _ in 0..3 {
            match self.store.begin(&req).await {
                Ok(Begin::Execute) => return Ok(Some(Lease { key: req.key })),
                Ok(Begin::InProgress) => return Ok(None),
                // Never completed, so a COMPLETED record is foreign; treat it as held rather than guess.
                Ok(Begin::Completed(_)) => return Ok(None),
                Err(IdempotencyError::Inconsistent { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// The lock request for `subject` until `deadline_ms`, stamped now.
    fn request(subject: &str, deadline_ms: u64) -> Result<LockRequest, IdempotencyError> {
        let key = IdempotencyKey::new(NAMESPACE, subject).map_err(|e| IdempotencyError::Store(Box::new(e)))?;
        let now_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let until = if deadline_ms > 0 {
            i64::try_from(deadline_ms).unwrap_or(i64::MAX)
        } else {
            now_ms + i64::try_from(FALLBACK.as_millis()).unwrap_or(60_000)
        };
        let lifetime = Duration::from_millis(u64::try_from((until - now_ms).max(1_000)).unwrap_or(60_000));
        Ok(LockRequest {
            key,
            payload_hash: NAMESPACE.to_owned(),
            now_ms,
            expires_after: lifetime,
            lock_until_ms: until,
            token: rand::random(),
        })
    }

    /// Takes the lease, waiting up to `patience` for a holder to finish, unless the work is `covered`
    /// (the caller's rule for "a holder already did what I came to do"). `covered` is asked when the
    /// lease is first found held, when it comes free after a wait, and when patience runs out, so
    /// covered work is acknowledged at once instead of waiting for the holder or being done twice.
    ///
    /// Polling backs off from 100 ms to 1 s with jitter, so holders' waiters do not poll in step. Each poll
    /// is a read (`looks_free`); the conditional write that takes the lease is sent only when the read
    /// finds it free, so a waiter pays for its wait in reads, not in failed writes.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn acquire_unless<F, Fut>(
        &self,
        subject: &str,
        deadline_ms: u64,
        patience: Duration,
        covered: F,
    ) -> Result<Taken, IdempotencyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        if let Some(l) = self.try_acquire(subject, deadline_ms).await? {
            return Ok(Taken::Held(l));
        }
        self.wait_unless(subject, deadline_ms, patience, covered).await
    }

    /// As `acquire_unless`, for a lease the caller has just found taken (`try_acquire` gave None): the
    /// wait does not begin with a write sure to fail.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn wait_unless<F, Fut>(
        &self,
        subject: &str,
        deadline_ms: u64,
        patience: Duration,
        covered: F,
    ) -> Result<Taken, IdempotencyError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        if covered().await {
            return Ok(Taken::Covered);
        }
        let give_up = tokio::time::Instant::now() + patience;
        let mut wait = Duration::from_millis(100);
        loop {
            let jittered = wait.mul_f64(rand::random_range(0.75..1.25));
            if tokio::time::Instant::now() + jittered > give_up {
                return Ok(if covered().await { Taken::Covered } else { Taken::Busy });
            }
            tokio::time::sleep(jittered).await;
            wait = (wait * 2).min(Duration::from_secs(1));
            if self.store.looks_free(&Self::request(subject, deadline_ms)?).await? {
                // A lease that came free was most likely given back by a holder that has just done
                // this work: when it did, taking the lease would only do it again.
                if covered().await {
                    return Ok(Taken::Covered);
                }
                if let Some(l) = self.try_acquire(subject, deadline_ms).await? {
                    return Ok(Taken::Held(l));
                }
            }
        }
    }

    /// Gives a lease back.
    ///
    /// # Errors
    /// The store's errors (the lease then lapses at its deadline).
    pub async fn release(&self, lease: Lease) -> Result<(), IdempotencyError> {
        self.store.release(&lease.key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryIdempotency;

    #[tokio::test]
    async fn a_held_lease_is_refused_to_a_second_holder_until_released() {
        let store = MemoryIdempotency::new();
        let leases = Leases::new(&store);
        let first = leases.try_acquire("order#1", 0).await.expect("store").expect("free");
        assert!(leases.try_acquire("order#1", 0).await.expect("store").is_none());
        assert!(leases.try_acquire("order#2", 0).await.expect("store").is_some());
        leases.release(first).await.expect("release");
        assert!(leases.try_acquire("order#1", 0).await.expect("store").is_some());
    }

    #[tokio::test]
    async fn work_a_holder_already_covered_is_reported_at_once_without_waiting_out_the_patience() {
        let store = MemoryIdempotency::new();
        let leases = Leases::new(&store);
        let _held = leases.try_acquire("order#5", 0).await.expect("store").expect("free");
        let started = tokio::time::Instant::now();
        let got = leases
            .acquire_unless("order#5", 0, Duration::from_secs(5), || std::future::ready(true))
            .await
            .expect("store");
        assert_eq!(got, Taken::Covered);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        let got = leases
            .acquire_unless("order#5", 0, Duration::from_millis(300), || std::future::ready(false))
            .await
            .expect("store");
        assert_eq!(got, Taken::Busy);
    }

    #[tokio::test]
    async fn a_waiter_whose_work_the_releasing_holder_did_reports_it_covered_instead_of_taking_the_lease() {
        let store = std::sync::Arc::new(MemoryIdempotency::new());
        let held = Leases::new(store.as_ref())
            .try_acquire("order#6", 0)
            .await
            .expect("store")
            .expect("free");
        // The holder's work covers the waiter's from the moment it finishes (and then gives the lease back).
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let holder = {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                Leases::new(store.as_ref()).release(held).await.expect("release");
            })
        };
        let got = Leases::new(store.as_ref())
            .wait_unless("order#6", 0, Duration::from_secs(3), || {
                std::future::ready(done.load(std::sync::atomic::Ordering::SeqCst))
            })
            .await
            .expect("store");
        holder.await.expect("holder");
        assert_eq!(got, Taken::Covered);
        // Nobody holds it: the waiter did not take a lease it had no use for.
        assert!(Leases::new(store.as_ref())
            .try_acquire("order#6", 0)
            .await
            .expect("store")
            .is_some());
    }

    /// Counts the conditional writes (`begin`) a waiter sends.
    struct CountingBegins {
        inner: MemoryIdempotency,
        begins: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl IdempotencyStore for CountingBegins {
        async fn begin(&self, req: &LockRequest) -> Result<Begin, IdempotencyError> {
            self.begins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.begin(req).await
        }
        async fn complete(&self, req: &LockRequest, data: &str) -> Result<(), IdempotencyError> {
            self.inner.complete(req, data).await
        }
        async fn release(&self, key: &IdempotencyKey) -> Result<(), IdempotencyError> {
            self.inner.release(key).await
        }
        async fn looks_free(&self, req: &LockRequest) -> Result<bool, IdempotencyError> {
            self.inner.looks_free(req).await
        }
    }

    #[tokio::test]
    async fn a_waiter_polls_a_held_lease_with_reads_and_writes_only_to_take_it() {
        let store = std::sync::Arc::new(CountingBegins {
            inner: MemoryIdempotency::new(),
            begins: std::sync::atomic::AtomicUsize::new(0),
        });
        let held = Leases::new(store.as_ref())
            .try_acquire("order#7", 0)
            .await
            .expect("store")
            .expect("free");
        let releaser = {
            let store = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(900)).await;
                Leases::new(store.as_ref()).release(held).await.expect("release");
            })
        };
        let before = store.begins.load(std::sync::atomic::Ordering::SeqCst);
        let got = Leases::new(store.as_ref())
            .acquire_unless("order#7", 0, Duration::from_secs(3), || std::future::ready(false))
            .await
            .expect("store");
        releaser.await.expect("releaser");
        assert!(matches!(got, Taken::Held(_)), "taken once released");
        // One attempt on arrival and one once the read finds it free; five or so polls in between wrote
        // nothing.
        assert_eq!(store.begins.load(std::sync::atomic::Ordering::SeqCst) - before, 2);
    }

    #[tokio::test]
    async fn a_lease_whose_holder_died_lapses_at_its_deadline() {
        let store = MemoryIdempotency::new();
        let leases = Leases::new(&store);
        let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms");
        let _dead = leases
            .try_acquire("order#9", now_ms + 1_000)
            .await
            .expect("store")
            .expect("free");
        assert!(leases.try_acquire("order#9", 0).await.expect("store").is_none());
        let got = leases
            .acquire_unless("order#9", 0, Duration::from_secs(4), || std::future::ready(false))
            .await
            .expect("store");
        assert!(matches!(got, Taken::Held(_)), "the lapsed lease is taken over");
    }
}

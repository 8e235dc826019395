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
        let key = IdempotencyKey::new(NAMESPACE, subject).map_err(|e| IdempotencyError::Store(Box::new(e)))?;
        let now_ms = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let until = if deadline_ms > 0 {
            i64::try_from(deadline_ms).unwrap_or(i64::MAX)
        } else {
            now_ms + i64::try_from(FALLBACK.as_millis()).unwrap_or(60_000)
        };
        let lifetime = Duration::from_millis(u64::try_from((until - now_ms).max(1_000)).unwrap_or(60_000));
        let req = LockRequest {
            key: key.clone(),
            payload_hash: NAMESPACE.to_owned(),
            now_ms,
            expires_after: lifetime,
            lock_until_ms: until,
        };
        for _ in 0..3 {
            match self.store.begin(&req).await {
                Ok(Begin::Execute) => return Ok(Some(Lease { key })),
                Ok(Begin::InProgress) => return Ok(None),
                // Never completed, so a COMPLETED record is foreign; treat it as held rather than guess.
                Ok(Begin::Completed(_)) => return Ok(None),
                Err(IdempotencyError::Inconsistent { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Takes the lease, waiting up to `patience` for a holder to finish (polling with back-off).
    ///
    /// # Errors
    /// The store's errors.
    pub async fn acquire(
        &self,
        subject: &str,
        deadline_ms: u64,
        patience: Duration,
    ) -> Result<Option<Lease>, IdempotencyError> {
        let give_up = tokio::time::Instant::now() + patience;
        let mut wait = Duration::from_millis(50);
        loop {
            if let Some(l) = self.try_acquire(subject, deadline_ms).await? {
                return Ok(Some(l));
            }
            if tokio::time::Instant::now() + wait > give_up {
                return Ok(None);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(400));
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
    async fn a_lease_whose_holder_died_lapses_at_its_deadline() {
        let store = MemoryIdempotency::new();
        let leases = Leases::new(&store);
        let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms");
        let _dead = leases
            .try_acquire("order#9", now_ms + 150)
            .await
            .expect("store")
            .expect("free");
        assert!(leases.try_acquire("order#9", 0).await.expect("store").is_none());
        let got = leases
            .acquire("order#9", 0, Duration::from_secs(2))
            .await
            .expect("store");
        assert!(got.is_some(), "the lapsed lease is taken over");
    }
}

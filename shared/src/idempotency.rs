//! The idempotency runner: wraps an operation in the Powertools lock protocol over any `IdempotencyStore`.
//!
//! begin → (Execute → run → complete | release on error) | Completed → replay stored result | InProgress → retry later.
//! An inconsistent record (expired or vanished between put and read) is retried at most twice, as Powertools does.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{debug, warn};

use crate::error::{Classified, FailureClass};
use crate::ports::{Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, LockRequest};

/// How many extra times an inconsistent record is retried (Powertools `MAX_RETRIES`).
const MAX_INCONSISTENT_RETRIES: usize = 2;
/// Lock length when the invocation deadline is unknown (tests, local runs).
const FALLBACK_LOCK: Duration = Duration::from_secs(120);

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// We ran the operation.
    Executed(T),
    /// It had already run; this is its stored result (None when none was stored).
    Replayed(Option<T>),
}

/// Errors from an idempotent run.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// Another invocation holds the lock right now. Transient: retry later.
    #[error("another invocation is processing {key}")]
    InProgress {
        /// The key.
        key: String,
    },
    /// The store failed, or the key was reused with another payload.
    #[error(transparent)]
    Store(#[from] IdempotencyError),
    /// The operation itself failed (its lock was released).
    #[error(transparent)]
    Operation(E),
}

impl<E: Classified + 'static> Classified for RunError<E> {
    fn class(&self) -> FailureClass {
        match self {
            Self::InProgress { .. } => FailureClass::Transient,
            Self::Store(e) => e.class(),
            Self::Operation(e) => e.class(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InProgress { .. } => "IDEMPOTENCY_IN_PROGRESS",
            Self::Store(e) => e.code(),
            Self::Operation(e) => e.code(),
        }
    }
}

/// Hex SHA-256 of the canonical JSON of `payload` (serde_json maps are sorted), stored in `validation`.
pub fn payload_hash<P: Serialize + ?Sized>(payload: &P) -> String {
    let canonical = serde_json::to_value(payload).map(|v| v.to_string()).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Runs operations idempotently for one function.
#[derive(Clone)]
pub struct Idempotency<'a> {
    store: &'a dyn IdempotencyStore,
    function: &'a str,
    expires_after: Duration,
}

impl<'a> Idempotency<'a> {
    /// A runner for `function`, whose completed records count for `expires_after`.
    pub fn new(store: &'a dyn IdempotencyStore, function: &'a str, expires_after: Duration) -> Self {
        Self {
            store,
            function,
            expires_after,
        }
    }

    /// Runs `op` at most once per `business_key` within the validity window.
    ///
    /// `deadline_ms` is the invocation deadline (Lambda `Context.deadline`); 0 means unknown.
    ///
    /// # Errors
    /// `InProgress` when another invocation holds the lock; `Store` on persistence failure or payload
    /// mismatch; `Operation` when `op` fails (the lock is released so a retry starts fresh).
    pub async fn run<T, E, P, F, Fut>(
        &self,
        business_key: &str,
        payload: &P,
        deadline_ms: u64,
        op: F,
    ) -> Result<Outcome<T>, RunError<E>>
    where
        T: Serialize + DeserializeOwned,
        E: std::error::Error + 'static,
        P: Serialize + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = IdempotencyKey::new(self.function, business_key)
            .map_err(|e| RunError::Store(IdempotencyError::Store(Box::new(e))))?;
        let hash = payload_hash(payload);
        let mut attempt = 0;
        let req = loop {
            let now_ms = now_ms();
            let lock_until_ms = lock_until(deadline_ms, now_ms);
            let req = LockRequest {
                key: key.clone(),
                payload_hash: hash.clone(),
                now_ms,
                expires_after: self.expires_after,
                lock_until_ms,
                token: rand::random(),
            };
            match self.store.begin(&req).await {
                Ok(Begin::Execute) => break req,
                Ok(Begin::Completed(data)) => {
                    debug!(
                        idempotency_key = key.as_str(),
                        "already completed; replaying stored result"
                    );
                    let stored = data.and_then(|d| serde_json::from_str(&d).ok());
                    return Ok(Outcome::Replayed(stored));
                }
                Ok(Begin::InProgress) => {
                    return Err(RunError::InProgress {
                        key: key.as_str().to_owned(),
                    })
                }
                Err(IdempotencyError::Inconsistent { .. }) if attempt < MAX_INCONSISTENT_RETRIES => {
                    attempt += 1;
                    warn!(
                        idempotency_key = key.as_str(),
                        attempt, "inconsistent idempotency record; retrying"
                    );
                }
                Err(e) => return Err(RunError::Store(e)),
            }
        };

        match op().await {
            Ok(value) => {
                let data = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
                if let Err(e) = self.store.complete(&req, &data).await {
                    // The work is done; a failed COMPLETED write only means a duplicate may re-run it
                    // after the lock lapses, which the downstream duplicate checks absorb.
                    warn!(idempotency_key = key.as_str(), error.message = %crate::error::chain(&e), "could not mark idempotency record completed");
                }
                Ok(Outcome::Executed(value))
            }
            Err(e) => {
                if let Err(release_err) = self.store.release(&key).await {
                    warn!(idempotency_key = key.as_str(), error.message = %crate::error::chain(&release_err), "could not release idempotency lock; it lapses at the deadline");
                }
                Err(RunError::Operation(e))
            }
        }
    }
}

/// When the INPROGRESS lock lapses: the invocation deadline given, else the one the handler put on the
/// task (`deadline::scope`, as the webhook routes do), else a fallback. A crashed invocation's lock must
/// not outlive it, or the sender's retries meet 409 for the whole fallback.
fn lock_until(deadline_ms: u64, now_ms: i64) -> i64 {
    if deadline_ms > 0 {
        return i64::try_from(deadline_ms).unwrap_or(i64::MAX);
    }
    if let Some(at) = crate::deadline::current() {
        let left = at.saturating_duration_since(tokio::time::Instant::now());
        return now_ms + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 2);
    }
    now_ms + i64::try_from(FALLBACK_LOCK.as_millis()).unwrap_or(120_000)
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryIdempotency;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    #[tokio::test]
    async fn an_operation_runs_once_and_its_result_is_replayed_afterwards() {
        let store = MemoryIdempotency::new();
        let idem = Idempotency::new(&store, "fn", Duration::from_secs(60));
        let runs = AtomicUsize::new(0);
        for _ in 0..3 {
            let _ = idem
                .run("k1", &"payload", 0, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Boom>(42u32)
                })
                .await
                .expect("ok");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let again = idem
            .run("k1", &"payload", 0, || async { Ok::<_, Boom>(7u32) })
            .await
            .expect("ok");
        assert_eq!(again, Outcome::Replayed(Some(42)));
    }

    #[tokio::test]
    async fn a_failed_operation_releases_the_key_so_the_retry_runs() {
        let store = MemoryIdempotency::new();
        let idem = Idempotency::new(&store, "fn", Duration::from_secs(60));
        let first = idem.run("k2", &"p", 0, || async { Err::<u32, _>(Boom) }).await;
        assert!(matches!(first, Err(RunError::Operation(Boom))));
        let second = idem
            .run("k2", &"p", 0, || async { Ok::<_, Boom>(1u32) })
            .await
            .expect("ok");
        assert_eq!(second, Outcome::Executed(1));
    }

    #[tokio::test]
    async fn the_same_key_with_another_payload_is_refused() {
        let store = MemoryIdempotency::new();
        let idem = Idempotency::new(&store, "fn", Duration::from_secs(60));
        idem.run("k3", &"a", 0, || async { Ok::<_, Boom>(1u32) })
            .await
            .expect("ok");
        let err = idem
            .run("k3", &"b", 0, || async { Ok::<_, Boom>(1u32) })
            .await
            .expect_err("mismatch");
        let RunError::Store(inner) = err else {
            panic!("expected a store error")
        };
        assert!(matches!(inner, IdempotencyError::PayloadMismatch { .. }));
        assert_eq!(inner.code(), "IDEMPOTENCY_PAYLOAD_MISMATCH");
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_is_told_the_work_is_in_progress() {
        let store = MemoryIdempotency::new();
        let idem = Idempotency::new(&store, "fn", Duration::from_secs(60));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let first = idem.run("k4", &"p", 0, || async {
            let _ = rx.await;
            Ok::<_, Boom>(1u32)
        });
        let second = async {
            tokio::task::yield_now().await;
            let r = idem.run("k4", &"p", 0, || async { Ok::<_, Boom>(2u32) }).await;
            let _ = tx.send(());
            r
        };
        let (a, b) = tokio::join!(first, second);
        assert_eq!(a.expect("first runs"), Outcome::Executed(1));
        assert!(matches!(b, Err(RunError::InProgress { .. })));
    }

    #[tokio::test]
    async fn the_lock_of_a_crashed_invocation_lapses_at_its_deadline_not_after_the_fallback() {
        let store = MemoryIdempotency::new();
        let idem = Idempotency::new(&store, "fn", Duration::from_secs(60));
        // Given an invocation with 2.5 s left (1 s after the settling margin, room for a loaded machine's
        // stalls before the early retry) that dies mid-operation
        let deadline = u64::try_from(now_ms()).expect("ms") + 2_500;
        let crashed = crate::deadline::scope(deadline, async {
            tokio::time::timeout(
                Duration::from_millis(20),
                idem.run("k5", &"p", 0, || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, Boom>(1u32)
                }),
            )
            .await
        })
        .await;
        assert!(crashed.is_err(), "the operation was cut off");
        // When the sender retries right away, the lock still holds
        let early = idem.run("k5", &"p", 0, || async { Ok::<_, Boom>(2u32) }).await;
        assert!(matches!(early, Err(RunError::InProgress { .. })));
        // Then, once that invocation's deadline has passed, the retry runs
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let later = idem
            .run("k5", &"p", 0, || async { Ok::<_, Boom>(3u32) })
            .await
            .expect("runs");
        assert_eq!(later, Outcome::Executed(3));
    }

    #[test]
    fn the_payload_hash_ignores_key_order() {
        let a = serde_json::json!({"a": 1, "b": 2});
        let b = serde_json::json!({"b": 2, "a": 1});
        assert_eq!(payload_hash(&a), payload_hash(&b));
        assert_ne!(payload_hash(&a), payload_hash(&serde_json::json!({"a": 2, "b": 1})));
    }
}

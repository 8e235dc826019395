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
            let lock_until_ms = if deadline_ms > 0 {
                i64::try_from(deadline_ms).unwrap_or(i64::MAX)
            } else {
                now_ms + i64::try_from(FALLBACK_LOCK.as_millis()).unwrap_or(120_000)
            };
            let req = LockRequest {
                key: key.clone(),
                payload_hash: hash.clone(),
                now_ms,
                expires_after: self.expires_after,
                lock_until_ms,
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

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

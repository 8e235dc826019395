//! Idempotency: keys, lock requests and the Powertools-compatible record store.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{BoxError, Classified, FailureClass};

/// `<function>#<business key>`, e.g. `salesforce-webhook#event#8f1c…`. Never the SQS messageId alone:
/// a producer that resends gets a new messageId.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Builds a key from the function name and the business key.
    ///
    /// # Errors
    /// `ValidationError` when either part is empty or the key exceeds 1 KiB (DynamoDB key limit headroom).
    pub fn new(function: &str, business_key: &str) -> Result<Self, crate::domain::ValidationError> {
        if function.is_empty() || business_key.trim().is_empty() {
            return Err(crate::domain::ValidationError::new(
                "idempotency_key",
                "must not be empty",
            ));
        }
        let key = format!("{function}#{business_key}");
        if key.len() > 1024 {
            return Err(crate::domain::ValidationError::new(
                "idempotency_key",
                "must be at most 1024 bytes",
            ));
        }
        Ok(Self(key))
    }

    /// The full key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a caller asks the store when it wants to run an idempotent operation.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The key.
    pub key: IdempotencyKey,
    /// Hash of the payload subset that must not change under the same key (stored in `validation`).
    pub payload_hash: String,
    /// Now, in epoch milliseconds (injected so tests control the clock).
    pub now_ms: i64,
    /// How long a COMPLETED record counts (`expiration` = now + this, in seconds).
    pub expires_after: Duration,
    /// When the INPROGRESS lock lapses, in epoch ms: the invocation deadline, so a timed-out
    /// invocation does not block retries for the whole window.
    pub lock_until_ms: i64,
    /// This request's own mark (random), stored in the lock it writes. The SDK retries a write whose
    /// answer was lost; a retry that finds its own mark on the lock knows its first attempt took it,
    /// instead of taking itself for another invocation holding it.
    pub token: u64,
}

/// The outcome of taking the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// We hold the lock: run the operation, then `complete` or `release`.
    Execute,
    /// Someone already completed it; here is their stored result.
    Completed(Option<String>),
    /// Someone else holds a live lock: retry later (the batch helper reports the record as failed).
    InProgress,
}

/// Idempotency persistence errors.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The same key arrived with a different payload: a key collision or a producer bug. Permanent.
    #[error("idempotency key {key} was reused with a different payload")]
    PayloadMismatch {
        /// The key.
        key: String,
    },
    /// The lock put failed but the record is expired or vanished before we could read it.
    /// The caller retries the whole begin step (at most twice, as Powertools does).
    #[error("idempotency record {key} is in an inconsistent state")]
    Inconsistent {
        /// The key.
        key: String,
    },
    /// The store could not be reached or refused the call.
    #[error("idempotency store failed")]
    Store(#[source] BoxError),
}

impl Classified for IdempotencyError {
    fn class(&self) -> FailureClass {
        match self {
            Self::PayloadMismatch { .. } => FailureClass::Permanent,
            Self::Inconsistent { .. } | Self::Store(_) => FailureClass::Transient,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::PayloadMismatch { .. } => "IDEMPOTENCY_PAYLOAD_MISMATCH",
            Self::Inconsistent { .. } => "IDEMPOTENCY_INCONSISTENT",
            Self::Store(_) => "IDEMPOTENCY_STORE_UNAVAILABLE",
        }
    }
}

/// Powertools-compatible idempotency records (see `adapters::dynamodb` for the exact protocol).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes the INPROGRESS lock, or reports the existing record.
    ///
    /// # Errors
    /// - `PayloadMismatch` when an existing record's `validation` hash differs from `payload_hash`.
    /// - `Inconsistent` when the record is expired/lapsed or vanished between put and read (retry).
    /// - `Store` on any persistence failure.
    async fn begin(&self, req: &LockRequest) -> Result<Begin, IdempotencyError>;

    /// Marks the operation COMPLETED with its result and renews `expiration`.
    ///
    /// # Errors
    /// `Store` on any persistence failure (the operation already ran; the caller logs and moves on).
    async fn complete(&self, req: &LockRequest, data: &str) -> Result<(), IdempotencyError>;

    /// Deletes the record after a failed operation, so the next attempt starts fresh.
    ///
    /// # Errors
    /// `Store` on any persistence failure (the lock then lapses at `lock_until_ms`).
    async fn release(&self, key: &IdempotencyKey) -> Result<(), IdempotencyError>;

    /// Whether `begin` could take the lock now, found with a read instead of a write: waiters poll a
    /// held lock with this (a consistent read costs a fifth of the failed conditional write it replaces)
    /// and call `begin` only once it looks free. `true` is a hint, never a promise: `begin` decides.
    ///
    /// # Errors
    /// `Store` on any persistence failure.
    async fn looks_free(&self, req: &LockRequest) -> Result<bool, IdempotencyError>;
}

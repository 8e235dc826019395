//! Vendor rate limits shared by every execution environment.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::state::StoreError;

/// A vendor rate limit shared by every execution environment of every function: a vendor's plan limits
/// the account (Logiwa Basic: 2 requests/s for the whole account), not one process.
#[async_trait]
pub trait RateGate: Send + Sync {
    /// Reserves the next send slot of `bucket` (slots are `interval` apart across everyone sharing the
    /// store) no earlier than `lead` from now, and returns when it is (now + `lead`, for an idle bucket).
    /// `lead` is how long the caller expects the reservation to take: a slot that has passed before the
    /// caller learns of it cannot be used. It is `reserve_many` of one.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached or stays contended.
    async fn reserve(&self, bucket: &str, interval: Duration, lead: Duration) -> Result<OffsetDateTime, StoreError> {
        let slots = self
            .reserve_many(bucket, interval, lead, std::num::NonZeroU32::MIN)
            .await?;
        slots.into_iter().next().ok_or_else(|| StoreError::Malformed {
            key: bucket.to_owned(),
            reason: "no slot reserved".into(),
        })
    }

    /// Reserves `count` slots of `bucket` for callers of one process that asked at the same moment, and
    /// returns them in order, each `interval` after the one before (consecutive slots of the bucket, taken
    /// in one round trip where the store can).
    ///
    /// # Errors
    /// As `reserve`; no slot is returned when the reservation fails.
    async fn reserve_many(
        &self,
        bucket: &str,
        interval: Duration,
        lead: Duration,
        count: std::num::NonZeroU32,
    ) -> Result<Vec<OffsetDateTime>, StoreError>;
}

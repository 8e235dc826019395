//! `RateGate` on DynamoDB: one item per bucket (`rate#<bucket>` / `rate`) holding the next free send slot
//! in epoch ms; a reservation is one conditional `UpdateItem` (two when it guessed the bucket's state wrong).
//!
//! Slots are spaced `interval` apart, so requests from every execution environment leave at the vendor's
//! rate and never in bursts. Busy bucket: `next_ms = next_ms + interval` if `next_ms >= now` (our slot is
//! the old value). Idle bucket: `next_ms = now + interval` if absent or `next_ms < now` (our slot is now).
//! The two conditions are complementary, so only a writer that raced another between its two calls needs
//! another round. A slot is never moved up to "now" from one in the past: the bucket's next value would
//! then still count from the old slot, and the caller after us would land less than an interval after us
//! (three requests inside one second at a 2 req/s plan).
//!
//! Which write goes first follows the last `next_ms` this process saw (a failed condition returns the
//! item, so even a wrong guess teaches the next one): under a steady load a reservation is one call, not
//! a failed busy write followed by an idle one.
//!
//! `reserve_many` takes `count` consecutive slots in the same one write (`next_ms` moves by
//! `count × interval`), so the callers of one process that asked together pay for one write, not one each.

use std::num::NonZeroU32;
use std::sync::PoisonError;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use tracing::{debug, instrument};

use super::item::{n, opt_n, s};
use super::{boxed, keys, rules, DynamoState};
use crate::ports::{RateGate, StoreError};

/// Attempts before the reservation gives up (each lost race means another environment just reserved).
const MAX_ATTEMPTS: u32 = 16;

/// The bucket's state as one of the two conditional writes assumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guess {
    Busy,
    Idle,
}

impl DynamoState {
    fn rate_hint(&self, pk: &str) -> Option<i64> {
        self.rate_hints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pk)
            .copied()
    }

    fn set_rate_hint(&self, pk: &str, next_ms: i64) {
        self.rate_hints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(pk.to_owned(), next_ms);
    }

    /// One conditional write for `count` slots `step` apart: `Ok(Some(first slot))` when it won, `Ok(None)`
    /// when its condition failed.
    async fn try_reserve(
        &self,
        pk: &str,
        guess: Guess,
        now: i64,
        step: i64,
        count: i64,
    ) -> Result<Option<i64>, StoreError> {
        let span = step.saturating_mul(count);
        let base = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(keys::RATE_SK))
            .expression_attribute_values(":since", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let sent = match guess {
            Guess::Busy => {
                base.update_expression("SET next_ms = next_ms + :step")
                    .condition_expression("next_ms >= :since")
                    .expression_attribute_values(":step", n(span))
                    .return_values(ReturnValue::UpdatedNew)
                    .send()
                    .await
            }
            Guess::Idle => {
                base.update_expression("SET next_ms = :next")
                    .condition_expression("attribute_not_exists(next_ms) OR next_ms < :since")
                    .expression_attribute_values(":next", n(now + span))
                    .send()
                    .await
            }
        };
        match sent {
            Ok(out) if guess == Guess::Busy => {
                let next = out
                    .attributes
                    .as_ref()
                    .and_then(|a| opt_n(a, "next_ms").ok().flatten())
                    .ok_or_else(|| StoreError::Malformed {
                        key: pk.to_owned(),
                        reason: "next_ms missing after update".into(),
                    })?;
                self.set_rate_hint(pk, next);
                // The condition held `next_ms >= now`, so the old value is a slot still ahead.
                Ok(Some(next - span))
            }
            Ok(_) => {
                self.set_rate_hint(pk, now + span);
                Ok(Some(now))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    // The item as it was: the next guess is then right unless someone races us again.
                    let seen = failed
                        .item()
                        .and_then(|item| opt_n::<i64>(item, "next_ms").ok().flatten());
                    match seen {
                        Some(v) => self.set_rate_hint(pk, v),
                        // No item: the bucket is idle.
                        None => self.set_rate_hint(pk, i64::MIN),
                    }
                    Ok(None)
                }
                _ => Err(StoreError::Unavailable(boxed(e))),
            },
        }
    }
}

#[async_trait]
impl RateGate for DynamoState {
    #[instrument(skip_all, fields(bucket = %bucket, count = count.get()))]
    async fn reserve_many(
        &self,
        bucket: &str,
        interval: Duration,
        lead: Duration,
        count: NonZeroU32,
    ) -> Result<Vec<time::OffsetDateTime>, StoreError> {
        let pk = keys::rate(bucket);
        let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
        let lead = i64::try_from(lead.as_millis()).unwrap_or(0);
        let count = i64::from(count.get());
        for _ in 0..MAX_ATTEMPTS {
            // "Now" is when the caller will have the answer: that is the earliest slot it can use.
            let now = rules::to_epoch_ms(time::OffsetDateTime::now_utc()) + lead;
            // Unknown bucket (first call of this process): assume busy, the state under load.
            let guess = match self.rate_hint(&pk) {
                Some(next) if next < now => Guess::Idle,
                _ => Guess::Busy,
            };
            if let Some(first) = self.try_reserve(&pk, guess, now, step, count).await? {
                debug!(wait_ms = first - now + lead, ?guess, "rate slots reserved");
                return (0..count)
                    .map(|i| slot_time(&pk, first.saturating_add(step.saturating_mul(i))))
                    .collect();
            }
        }
        Err(StoreError::Unavailable(
            format!("rate bucket {bucket} stayed contended for {MAX_ATTEMPTS} attempts").into(),
        ))
    }
}

fn slot_time(pk: &str, ms: i64) -> Result<time::OffsetDateTime, StoreError> {
    rules::from_epoch_ms(ms).ok_or_else(|| StoreError::Malformed {
        key: pk.to_owned(),
        reason: "next_ms is out of range".into(),
    })
}

//! `RateGate` on DynamoDB: one item per bucket (`rate#<bucket>` / `rate`) holding the next free send slot
//! in epoch ms; a reservation is one conditional `UpdateItem` (two when the bucket was idle).
//!
//! Slots are spaced `interval` apart, so requests from every execution environment leave at the vendor's
//! rate and never in bursts. Busy bucket: `next_ms = next_ms + interval` if `next_ms >= now - interval`
//! (our slot is the old value; when it is already past we send at once, which still leaves at least one
//! interval since the slot before it). Idle bucket: `next_ms = now + interval` if absent or
//! `next_ms < now - interval` (our slot is now). The two conditions are complementary, so only a writer
//! that raced another between its two calls needs another round.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use tracing::{debug, instrument};

use super::item::{n, opt_n, s};
use super::{boxed, keys, rules, DynamoState};
use crate::ports::{RateGate, StoreError};

/// Attempts before the reservation gives up (each lost race means another environment just reserved).
const MAX_ATTEMPTS: u32 = 10;

#[async_trait]
impl RateGate for DynamoState {
    #[instrument(skip_all, fields(bucket = %bucket))]
    async fn reserve(&self, bucket: &str, interval: Duration) -> Result<time::OffsetDateTime, StoreError> {
        let pk = keys::rate(bucket);
        let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
        for _ in 0..MAX_ATTEMPTS {
            let now = rules::to_epoch_ms(time::OffsetDateTime::now_utc());
            // Busy bucket: take the slot after the last one reserved.
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(keys::RATE_SK))
                .update_expression("SET next_ms = next_ms + :step")
                .condition_expression("next_ms >= :since")
                .expression_attribute_values(":step", n(step))
                .expression_attribute_values(":since", n(now - step))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match busy {
                Ok(out) => {
                    let next: i64 = out
                        .attributes
                        .as_ref()
                        .and_then(|a| opt_n(a, "next_ms").ok().flatten())
                        .ok_or_else(|| StoreError::Malformed {
                            key: pk.clone(),
                            reason: "next_ms missing after update".into(),
                        })?;
                    let slot = (next - step).max(now);
                    debug!(wait_ms = slot - now, "rate slot reserved");
                    return slot_time(&pk, slot);
                }
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(UpdateItemError::ConditionalCheckFailedException(_))
                    ) => {}
                Err(e) => return Err(StoreError::Unavailable(boxed(e))),
            }
            // Idle bucket: the slot is now.
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(keys::RATE_SK))
                .update_expression("SET next_ms = :next")
                .condition_expression("attribute_not_exists(next_ms) OR next_ms < :since")
                .expression_attribute_values(":next", n(now + step))
                .expression_attribute_values(":since", n(now - step))
                .send()
                .await;
            match idle {
                Ok(_) => return slot_time(&pk, now),
                // Someone reserved between the two calls: the bucket is busy again.
                Err(e)
                    if matches!(
                        e.as_service_error(),
                        Some(UpdateItemError::ConditionalCheckFailedException(_))
                    ) => {}
                Err(e) => return Err(StoreError::Unavailable(boxed(e))),
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

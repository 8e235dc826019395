//! `WatermarkStore` on DynamoDB: epoch-millisecond watermarks moved only by a forward-only conditional update.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use time::OffsetDateTime;
use tracing::{debug, instrument};

use super::item::{n, opt_n, s, Item};
use super::rules;
use super::{boxed, keys, now_rfc3339, DynamoState};
use crate::ports::{Advance, StoreError, WatermarkStore};

const WATERMARK: &str = "watermark";

#[async_trait]
impl WatermarkStore for DynamoState {
    #[instrument(skip_all, fields(stream = %stream))]
    async fn get(&self, stream: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let pk = keys::watermark(stream);
        match self.read_item(&pk, keys::WATERMARK_SK).await? {
            None => Ok(None),
            Some(item) => decode(&pk, &item),
        }
    }

    #[instrument(skip_all, fields(stream = %stream, to_ms = rules::to_epoch_ms(to)))]
    async fn advance(&self, stream: &str, to: OffsetDateTime) -> Result<Advance, StoreError> {
        let pk = keys::watermark(stream);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::WATERMARK_SK))
            .update_expression("SET watermark = :new, updated_at = :now")
            // Forward only: two overlapping polls can never move a watermark back.
            .condition_expression("attribute_not_exists(watermark) OR watermark < :new")
            .expression_attribute_values(":new", n(rules::to_epoch_ms(to)))
            .expression_attribute_values(":now", s(now_rfc3339()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => {
                debug!("watermark moved");
                return Ok(Advance::Moved);
            }
            Err(err) => err,
        };
        let old = match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item().filter(|i| !i.is_empty()).cloned(),
            _ => return Err(StoreError::Unavailable(boxed(err))),
        };
        let old = match old {
            Some(item) => Some(item),
            None => self.read_item(&pk, keys::WATERMARK_SK).await?,
        };
        match old.map(|item| decode(&pk, &item)).transpose()?.flatten() {
            Some(current) => {
                debug!(
                    current_ms = rules::to_epoch_ms(current),
                    "watermark not moved: not forward"
                );
                Ok(Advance::NotForward { current })
            }
            // The condition failed but no watermark is stored any more (deleted in between): retry.
            None => Err(StoreError::Unavailable(boxed(err))),
        }
    }
}

fn decode(pk: &str, item: &Item) -> Result<Option<OffsetDateTime>, StoreError> {
    let malformed = |reason: String| StoreError::Malformed {
        key: format!("{pk}/{}", keys::WATERMARK_SK),
        reason,
    };
    let Some(ms) = opt_n::<i64>(item, WATERMARK).map_err(|e| malformed(e.to_string()))? else {
        return Ok(None);
    };
    rules::from_epoch_ms(ms)
        .map(Some)
        .ok_or_else(|| malformed("watermark is out of range".into()))
}

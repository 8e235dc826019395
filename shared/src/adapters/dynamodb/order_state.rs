//! `OrderStateStore` on DynamoDB: one item per order (`order#<system>#<id>` / `state`), attributes
//! written by serde_dynamo so operators read stage, history, ids and last error in the console, and every
//! save conditional on the version it was read at.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use tracing::{debug, instrument};

use super::item::{n, s};
use super::{boxed, keys, DynamoState};
use crate::ports::{OrderState, OrderStateStore, Saved, StoreError};

#[async_trait]
impl OrderStateStore for DynamoState {
    #[instrument(skip_all, fields(order = %source_id))]
    async fn load(&self, source_system: &str, source_id: &str) -> Result<Option<OrderState>, StoreError> {
        let pk = keys::order_state(source_system, source_id);
        let Some(mut item) = self.read_item(&pk, keys::ORDER_STATE_SK).await? else {
            return Ok(None);
        };
        item.remove("pk");
        item.remove("sk");
        serde_dynamo::from_item(item)
            .map(Some)
            .map_err(|e| StoreError::Malformed {
                key: pk,
                reason: e.to_string(),
            })
    }

    #[instrument(skip_all, fields(order = %state.source_id, version = state.version))]
    async fn save(&self, state: &OrderState) -> Result<Saved, StoreError> {
        let pk = keys::order_state(&state.source_system, &state.source_id);
        let mut item: super::item::Item = serde_dynamo::to_item(state).map_err(|e| StoreError::Malformed {
            key: pk.clone(),
            reason: e.to_string(),
        })?;
        item.insert("pk".into(), s(&pk));
        item.insert("sk".into(), s(keys::ORDER_STATE_SK));
        let mut put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        // Versioned write: the first save needs the item absent, every later one the version it read.
        put = if state.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(state.version - 1))
        };
        match put.send().await {
            Ok(_) => {
                debug!("order state saved");
                Ok(Saved::Written)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(Saved::Conflict)
            }
            Err(e) => Err(StoreError::Unavailable(boxed(e))),
        }
    }
}

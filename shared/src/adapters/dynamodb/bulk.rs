//! `BatchWriteItem` in chunks of 25 with bounded, jittered retries of `UnprocessedItems`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use backon::{BackoffBuilder, ExponentialBuilder};
use tracing::{debug, warn};

use super::boxed;
use super::item::Item;
use crate::ports::StoreError;

/// DynamoDB's per-call limit.
pub(super) const BATCH_WRITE_LIMIT: usize = 25;

/// Unprocessed items (throttling) are retried this many times, 50 ms doubling to at most 2 s with
/// jitter: about 4 s in the worst case, well inside a Lambda timeout.
const MAX_RETRIES: usize = 6;

/// DynamoDB kept refusing some items of a batch write.
#[derive(Debug, thiserror::Error)]
#[error("{count} items were still unprocessed after {MAX_RETRIES} retries")]
pub struct Unprocessed {
    /// How many items were left.
    pub count: usize,
}

/// Puts every item (callers dedupe keys: a batch with a repeated key is rejected as a whole).
pub(super) async fn put_all(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StoreError> {
    let mut requests = Vec::with_capacity(items.len());
    for item in items {
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Unavailable(boxed(e)))?;
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
        write_chunk(client, table, chunk.to_vec()).await?;
    }
    Ok(())
}

async fn write_chunk(client: &Client, table: &str, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(MAX_RETRIES)
        .with_jitter()
        .build();
    loop {
        let out = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(boxed(e)))?;
        let left = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
        if left.is_empty() {
            return Ok(());
        }
        let Some(delay) = delays.next() else {
            warn!(unprocessed = left.len(), "batch write gave up on unprocessed items");
            return Err(StoreError::Unavailable(Box::new(Unprocessed { count: left.len() })));
        };
        debug!(
            unprocessed = left.len(),
            delay_ms = delay.as_millis(),
            "retrying unprocessed items"
        );
        tokio::time::sleep(delay).await;
        pending = left;
    }
}

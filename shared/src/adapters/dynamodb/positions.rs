//! `PositionStore` on DynamoDB: one item per inventory position under `pos#<scope>`, read by a paginated query.

use std::collections::HashMap;

use async_trait::async_trait;
use tracing::{debug, instrument};

use super::item::{req_s, s, Item};
use super::rules;
use super::{bulk, keys, now_rfc3339, DynamoState};
use crate::ports::{PositionStore, StoreError};

const FINGERPRINT: &str = "fingerprint";

#[async_trait]
impl PositionStore for DynamoState {
    #[instrument(skip_all, fields(scope = %scope, positions))]
    async fn load(&self, scope: &str) -> Result<HashMap<String, String>, StoreError> {
        let pk = keys::positions(scope);
        let items = self.query_partition(&pk).await?;
        let mut out = HashMap::with_capacity(items.len());
        for item in &items {
            let sk = req_s(item, "sk").map_err(|e| StoreError::Malformed {
                key: pk.clone(),
                reason: e.to_string(),
            })?;
            let fingerprint = req_s(item, FINGERPRINT).map_err(|e| StoreError::Malformed {
                key: format!("{pk}/{sk}"),
                reason: e.to_string(),
            })?;
            out.insert(sk.to_owned(), fingerprint.to_owned());
        }
        tracing::Span::current().record("positions", out.len());
        debug!("snapshot loaded");
        Ok(out)
    }

    #[instrument(skip_all, fields(scope = %scope, positions = entries.len()))]
    async fn save(&self, scope: &str, entries: &[(String, String)]) -> Result<(), StoreError> {
        let pk = keys::positions(scope);
        let sent_at = now_rfc3339();
        let items: Vec<Item> = rules::dedupe_last_wins(entries)
            .into_iter()
            .map(|(key, fingerprint)| {
                Item::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s(key)),
                    (FINGERPRINT.to_owned(), s(fingerprint)),
                    ("sent_at".to_owned(), s(&sent_at)),
                ])
            })
            .collect();
        bulk::put_all(&self.client, &self.table, items).await?;
        debug!("snapshot saved");
        Ok(())
    }
}

//! `PositionStore` on DynamoDB: one item per inventory position under `pos#<scope>`, read by a paginated query.
//!
//! Items carry `fingerprint` and `sent_at`, and since the WMS identity was added, `wms_sku` and
//! `wms_location`. Older items without them still load (as `wms: None`), and code that predates them
//! ignores the extra attributes, so the change needs no migration and can be rolled back.

use std::collections::HashMap;

use async_trait::async_trait;
use tracing::{debug, instrument};

use super::item::{opt_s, req_s, s, Item};
use super::rules;
use super::{bulk, keys, now_rfc3339, DynamoState};
use crate::domain::{LocationCode, Sku};
use crate::ports::{PositionStore, SentPosition, StoreError, WmsPositionId};

const FINGERPRINT: &str = "fingerprint";
const WMS_SKU: &str = "wms_sku";
const WMS_LOCATION: &str = "wms_location";

/// Decodes one snapshot item (sort key = position key).
fn decode(pk: &str, item: &Item) -> Result<(String, SentPosition), StoreError> {
    let sk = req_s(item, "sk").map_err(|e| StoreError::Malformed {
        key: pk.to_owned(),
        reason: e.to_string(),
    })?;
    let malformed = |reason: String| StoreError::Malformed {
        key: format!("{pk}/{sk}"),
        reason,
    };
    let fingerprint = req_s(item, FINGERPRINT).map_err(|e| malformed(e.to_string()))?;
    let sku = opt_s(item, WMS_SKU).map_err(|e| malformed(e.to_string()))?;
    let location = opt_s(item, WMS_LOCATION).map_err(|e| malformed(e.to_string()))?;
    let wms = match (sku, location) {
        (None, None) => None,
        (Some(sku), Some(location)) => Some(WmsPositionId {
            sku: Sku::parse(sku).map_err(|e| malformed(format!("{WMS_SKU}: {e}")))?,
            location: LocationCode::parse(location).map_err(|e| malformed(format!("{WMS_LOCATION}: {e}")))?,
        }),
        // Half an identity would let a poll zero a position on the strength of a guess.
        _ => return Err(malformed(format!("{WMS_SKU} and {WMS_LOCATION} must be set together"))),
    };
    Ok((
        sk.to_owned(),
        SentPosition {
            fingerprint: fingerprint.to_owned(),
            wms,
        },
    ))
}

#[async_trait]
impl PositionStore for DynamoState {
    #[instrument(skip_all, fields(scope = %scope, positions))]
    async fn load(&self, scope: &str) -> Result<HashMap<String, SentPosition>, StoreError> {
        let pk = keys::positions(scope);
        let items = self.query_partition(&pk).await?;
        let mut out = HashMap::with_capacity(items.len());
        for item in &items {
            let (key, sent) = decode(&pk, item)?;
            out.insert(key, sent);
        }
        tracing::Span::current().record("positions", out.len());
        debug!("snapshot loaded");
        Ok(out)
    }

    #[instrument(skip_all, fields(scope = %scope, positions = entries.len()))]
    async fn save(&self, scope: &str, entries: &[(String, SentPosition)]) -> Result<(), StoreError> {
        let pk = keys::positions(scope);
        let sent_at = now_rfc3339();
        let items: Vec<Item> = rules::dedupe_last_wins(entries)
            .into_iter()
            .map(|(key, sent)| {
                let mut item = Item::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s(key)),
                    (FINGERPRINT.to_owned(), s(&sent.fingerprint)),
                    ("sent_at".to_owned(), s(&sent_at)),
                ]);
                if let Some(wms) = &sent.wms {
                    item.insert(WMS_SKU.to_owned(), s(wms.sku.as_str()));
                    item.insert(WMS_LOCATION.to_owned(), s(wms.location.as_str()));
                }
                item
            })
            .collect();
        bulk::put_all(&self.client, &self.table, items).await?;
        debug!("snapshot saved");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), s(*v))).collect()
    }

    #[test]
    fn an_item_saved_before_the_wms_identity_loads_without_one() {
        let (key, sent) = decode(
            "pos#logiwa#WH1",
            &item(&[("sk", "WH1#SKU-1"), ("fingerprint", "abc|Each"), ("sent_at", "x")]),
        )
        .expect("legacy item decodes");
        assert_eq!(key, "WH1#SKU-1");
        assert_eq!(sent.fingerprint, "abc|Each");
        assert_eq!(sent.wms, None);
    }

    #[test]
    fn an_item_with_half_an_identity_is_malformed() {
        let err = decode(
            "pos#logiwa#WH1",
            &item(&[("sk", "WH1#SKU-1"), ("fingerprint", "abc|Each"), ("wms_sku", "SKU-1")]),
        )
        .expect_err("half an identity");
        assert!(matches!(err, StoreError::Malformed { .. }), "{err}");
    }
}

//! Inventory snapshots on DynamoDB (moto): batched writes of 25, paginated reads past the 1 MB query page,
//! the WMS identity of each position, and items saved before that identity existed.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use waybill::domain::{LocationCode, Sku};
use waybill::ports::{PositionStore, SentPosition, WmsPositionId};

use crate::support;

fn entries(count: usize, fingerprint_len: usize, tag: &str) -> Vec<(String, SentPosition)> {
    (0..count)
        .map(|i| {
            let key = format!("WH1#SKU-{i:04}");
            // Distinct, long fingerprints so the snapshot is over 1 MB and a mix-up would show.
            let fingerprint = format!("{tag}-{i:04}-{}", "f".repeat(fingerprint_len));
            let wms = WmsPositionId {
                sku: Sku::parse(&format!("W-{i:04}")).expect("sku"),
                location: LocationCode::parse("4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c").expect("wh"),
            };
            (
                key,
                SentPosition {
                    fingerprint,
                    wms: Some(wms),
                },
            )
        })
        .collect()
}

#[tokio::test]
async fn a_snapshot_larger_than_one_batch_and_one_query_page_round_trips() {
    // Given 300 positions with 4 KB fingerprints (12 batch writes, about 1.2 MB: two query pages)
    let (client, calls) = support::counted_dynamodb().await;
    let store = support::state_with(client).await;
    let saved = entries(300, 4_000, "v1");
    // When they are saved and loaded back
    store.save("logiwa#WH1", &saved).await.expect("save");
    let loaded = store.load("logiwa#WH1").await.expect("load");
    // Then every position comes back, which took several batch writes and more than one page
    assert_eq!(loaded, saved.into_iter().collect::<HashMap<_, _>>());
    assert_eq!(calls.of("BatchWriteItem"), 12);
    assert!(
        calls.of("Query") >= 2,
        "expected pagination, got {} queries",
        calls.of("Query")
    );
}

#[tokio::test]
async fn saving_again_overwrites_fingerprints_and_keeps_the_other_positions() {
    // Given a saved snapshot of 30 positions
    let store = support::state().await;
    store.save("logiwa#WH1", &entries(30, 8, "v1")).await.expect("save");
    // When 5 of them change, and one key is repeated within the call
    let mut changed = entries(5, 8, "v2");
    changed.push((
        "WH1#SKU-0000".into(),
        SentPosition {
            fingerprint: "latest".into(),
            wms: None,
        },
    ));
    store.save("logiwa#WH1", &changed).await.expect("save");
    // Then the changed ones carry the last fingerprint and the others are untouched
    let loaded = store.load("logiwa#WH1").await.expect("load");
    assert_eq!(loaded.len(), 30);
    assert_eq!(
        loaded.get("WH1#SKU-0000").map(|p| p.fingerprint.as_str()),
        Some("latest")
    );
    assert!(loaded
        .get("WH1#SKU-0004")
        .is_some_and(|p| p.fingerprint.starts_with("v2-")));
    assert!(loaded
        .get("WH1#SKU-0005")
        .is_some_and(|p| p.fingerprint.starts_with("v1-")));
}

#[tokio::test]
async fn scopes_do_not_see_each_others_positions() {
    // Given positions saved for one warehouse
    let store = support::state().await;
    store.save("logiwa#WH1", &entries(3, 8, "v1")).await.expect("save");
    // When another warehouse is loaded
    let other = store.load("logiwa#WH2").await.expect("load");
    // Then it is empty
    assert!(other.is_empty());
}

#[tokio::test]
async fn positions_keep_their_wms_identity_and_items_saved_before_it_still_load() {
    // Given an item written the old way (fingerprint only) and one written now
    let store = support::state().await;
    support::put_raw(
        &store,
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S("pos#logiwa#WH1".into())),
            ("sk".to_owned(), AttributeValue::S("WH1#OLD".into())),
            ("fingerprint".to_owned(), AttributeValue::S("abc|Each".into())),
            ("sent_at".to_owned(), AttributeValue::S("2026-01-01T00:00:00Z".into())),
        ]),
    )
    .await;
    let new = entries(1, 8, "v1");
    store.save("logiwa#WH1", &new).await.expect("save");
    // When the snapshot is loaded
    let loaded = store.load("logiwa#WH1").await.expect("load");
    // Then the old item has no WMS identity and the new one has its own
    assert_eq!(
        loaded.get("WH1#OLD"),
        Some(&SentPosition {
            fingerprint: "abc|Each".into(),
            wms: None
        })
    );
    assert_eq!(loaded.get("WH1#SKU-0000"), Some(&new[0].1));
    let raw = support::raw_item(&store, "pos#logiwa#WH1", "WH1#SKU-0000")
        .await
        .expect("stored");
    assert_eq!(support::s(&raw, "wms_sku"), "W-0000");
    assert_eq!(support::s(&raw, "wms_location"), "4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c");
}

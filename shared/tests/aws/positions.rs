//! Inventory snapshots on DynamoDB (moto): batched writes of 25 and paginated reads past the 1 MB query page.

use std::collections::HashMap;

use waybill::ports::PositionStore;

use crate::support;

fn entries(count: usize, fingerprint_len: usize, tag: &str) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            let key = format!("SKU-{i:04}#WH1");
            // Distinct, long fingerprints so the snapshot is over 1 MB and a mix-up would show.
            let fingerprint = format!("{tag}-{i:04}-{}", "f".repeat(fingerprint_len));
            (key, fingerprint)
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
    changed.push(("SKU-0000#WH1".into(), "latest".into()));
    store.save("logiwa#WH1", &changed).await.expect("save");
    // Then the changed ones carry the last fingerprint and the others are untouched
    let loaded = store.load("logiwa#WH1").await.expect("load");
    assert_eq!(loaded.len(), 30);
    assert_eq!(loaded.get("SKU-0000#WH1").map(String::as_str), Some("latest"));
    assert!(loaded.get("SKU-0004#WH1").is_some_and(|f| f.starts_with("v2-")));
    assert!(loaded.get("SKU-0005#WH1").is_some_and(|f| f.starts_with("v1-")));
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

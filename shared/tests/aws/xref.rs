//! Cross-references on DynamoDB (moto): both directions in one transaction, idempotent relinks, conflicts that write nothing.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use waybill::domain::{SalesforceId, WmsOrderId};
use waybill::ports::{StoreError, WmsRef, WmsSystem, XrefStore};

use crate::support::{self, s};

fn sf(raw: &str) -> SalesforceId {
    SalesforceId::parse(raw).expect("salesforce id")
}

fn logiwa(id: &str) -> WmsRef {
    WmsRef {
        system: WmsSystem::named("logiwa"),
        id: WmsOrderId::parse(id).expect("wms id"),
        code: "FO-0000001".into(),
    }
}

#[tokio::test]
async fn linking_writes_both_directions() {
    // Given an empty table and a FulfillmentOrder created in Logiwa
    let store = support::state().await;
    let fo = sf("0a3000000000001");
    // When the pair is linked
    store.link(&fo, &logiwa("W-1")).await.expect("link");
    // Then both items exist with the documented keys and attributes
    let forward = support::raw_item(&store, &format!("xref#sf#{}", fo.as_str()), "logiwa")
        .await
        .expect("sf side");
    assert_eq!(s(&forward, "wms_id"), "W-1");
    assert_eq!(s(&forward, "wms_code"), "FO-0000001");
    assert!(!s(&forward, "created_at").is_empty());
    let back = support::raw_item(&store, "xref#logiwa#W-1", "sf")
        .await
        .expect("wms side");
    assert_eq!(s(&back, "sf_id"), fo.as_str());
    assert_eq!(s(&back, "wms_code"), "FO-0000001");
    // And both reads find the counterpart
    assert_eq!(
        store.wms_for(&fo, WmsSystem::named("logiwa")).await.expect("read"),
        Some(logiwa("W-1"))
    );
    assert_eq!(
        store
            .salesforce_for(WmsSystem::named("logiwa"), &WmsOrderId::parse("W-1").expect("id"))
            .await
            .expect("read"),
        Some(fo)
    );
}

#[tokio::test]
async fn relinking_the_same_pair_is_a_no_op() {
    // Given a linked pair
    let store = support::state().await;
    let fo = sf("0a3000000000001");
    store.link(&fo, &logiwa("W-1")).await.expect("link");
    let pk = format!("xref#sf#{}", fo.as_str());
    let before = support::raw_item(&store, &pk, "logiwa").await.expect("item");
    // When the same pair is linked again (a retried message)
    store.link(&fo, &logiwa("W-1")).await.expect("relink succeeds");
    // Then nothing changed, not even the creation time
    let after = support::raw_item(&store, &pk, "logiwa").await.expect("item");
    assert_eq!(before, after);
}

#[tokio::test]
async fn linking_a_salesforce_record_to_a_different_order_is_a_conflict_and_writes_nothing() {
    // Given a FulfillmentOrder linked to W-1
    let store = support::state().await;
    let fo = sf("0a3000000000001");
    store.link(&fo, &logiwa("W-1")).await.expect("link");
    // When it is linked to another order
    let err = store.link(&fo, &logiwa("W-2")).await.expect_err("conflict");
    // Then the conflict names the record and what it is linked to
    match &err {
        StoreError::Conflict { key, existing } => {
            assert_eq!(key, &format!("sf:{}", fo.as_str()));
            assert_eq!(existing, "logiwa:W-1");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // And the transaction wrote neither side of the new pair
    assert!(
        support::raw_item(&store, "xref#logiwa#W-2", "sf").await.is_none(),
        "no partial write"
    );
    assert_eq!(
        store.wms_for(&fo, WmsSystem::named("logiwa")).await.expect("read"),
        Some(logiwa("W-1"))
    );
}

#[tokio::test]
async fn linking_another_salesforce_record_to_a_linked_order_is_a_conflict_naming_the_owner() {
    // Given W-1 linked to one FulfillmentOrder
    let store = support::state().await;
    let (a, b) = (sf("0a3000000000001"), sf("0a3000000000002"));
    store.link(&a, &logiwa("W-1")).await.expect("link");
    // When a second FulfillmentOrder claims W-1
    let err = store.link(&b, &logiwa("W-1")).await.expect_err("conflict");
    // Then the WMS side conflicts, naming the first record, and nothing was written for the second
    assert!(
        matches!(&err, StoreError::Conflict { key, existing } if key == "logiwa:W-1" && existing == &format!("sf:{}", a.as_str())),
        "{err:?}"
    );
    assert_eq!(store.wms_for(&b, WmsSystem::named("logiwa")).await.expect("read"), None);
}

#[tokio::test]
async fn one_salesforce_record_may_be_linked_once_per_wms() {
    // Given a record linked in Logiwa
    let store = support::state().await;
    let fo = sf("0a3000000000001");
    store.link(&fo, &logiwa("W-1")).await.expect("link");
    // When it is linked in Linnworks too
    let linnworks = WmsRef {
        system: WmsSystem::named("linnworks"),
        ..logiwa("L-9")
    };
    store
        .link(&fo, &linnworks)
        .await
        .expect("a different system is a different link");
    // Then each system has its own link
    assert_eq!(
        store.wms_for(&fo, WmsSystem::named("linnworks")).await.expect("read"),
        Some(linnworks)
    );
    assert_eq!(
        store.wms_for(&fo, WmsSystem::named("logiwa")).await.expect("read"),
        Some(logiwa("W-1"))
    );
    assert_eq!(
        store.wms_for(&fo, WmsSystem::named("orderflow")).await.expect("read"),
        None
    );
}

#[tokio::test]
async fn a_malformed_link_is_reported_with_its_key() {
    // Given a link edited by hand so that wms_id is a number
    let store = support::state().await;
    let fo = sf("0a3000000000001");
    let pk = format!("xref#sf#{}", fo.as_str());
    let item = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.clone())),
        ("sk".to_owned(), AttributeValue::S("logiwa".into())),
        ("wms_id".to_owned(), AttributeValue::N("42".into())),
    ]);
    support::put_raw(&store, item).await;
    // When it is read
    let err = store
        .wms_for(&fo, WmsSystem::named("logiwa"))
        .await
        .expect_err("malformed");
    // Then the error names the item
    assert!(
        matches!(&err, StoreError::Malformed { key, .. } if key == &format!("{pk}/logiwa")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_link_once_seen_is_answered_from_memory_and_absence_is_always_read_again() {
    // Given a table reached through a client that counts requests, and one FulfillmentOrder linked
    let (client, calls) = support::counted_dynamodb().await;
    let store = support::state_with(client).await;
    let (linked, unlinked) = (sf("0a3000000000001"), sf("0a3000000000002"));
    let lw = WmsSystem::named("logiwa");
    store.link(&linked, &logiwa("W-1")).await.expect("link");
    let before = calls.total();
    // When both directions are read twice, and the pair is linked again (a redelivered notification)
    for _ in 0..2 {
        assert_eq!(store.wms_for(&linked, lw).await.expect("read"), Some(logiwa("W-1")));
        assert_eq!(
            store
                .salesforce_for(lw, &WmsOrderId::parse("W-1").expect("id"))
                .await
                .expect("read"),
            Some(linked.clone())
        );
    }
    store.link(&linked, &logiwa("W-1")).await.expect("relink");
    // Then none of that reached DynamoDB
    assert_eq!(calls.total() - before, 0);
    // And a record that is not linked is read every time, since it may be linked any moment
    assert_eq!(store.wms_for(&unlinked, lw).await.expect("read"), None);
    assert_eq!(store.wms_for(&unlinked, lw).await.expect("read"), None);
    assert_eq!(calls.total() - before, 2);
}

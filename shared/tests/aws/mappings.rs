//! Mapping tables on DynamoDB (moto): seeding with `put_mapping_tables`, loading, and malformed entries.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use waybill::adapters::dynamodb::put_mapping_tables;
use waybill::mapping::{MappingTables, Target};
use waybill::ports::{MappingSource, StoreError, WmsSystem};

const LW: WmsSystem = WmsSystem::named("logiwa");

use crate::support;

fn target(value: &str) -> Target {
    Target {
        value: value.into(),
        factor: None,
        service: None,
    }
}

fn tables() -> MappingTables {
    let mut t = MappingTables::default();
    t.sku.passthrough = true;
    t.sku.entries.insert("SF-TEE".into(), target("TEE-001"));
    t.unit.entries.insert("Each".into(), target("Unit"));
    t.unit.entries.insert(
        "Case".into(),
        Target {
            value: "Unit".into(),
            factor: Some(Decimal::new(125, 1)),
            service: None,
        },
    );
    t.warehouse.entries.insert("LOC-EAST".into(), target("Main Warehouse"));
    t.carrier.entries.insert(
        "Ground".into(),
        Target {
            value: "UPS".into(),
            factor: None,
            service: Some("UPS Ground".into()),
        },
    );
    t.carrier.entries.insert(
        "UPS|2nd Day".into(),
        Target {
            value: "UPS".into(),
            factor: None,
            service: Some("2DA".into()),
        },
    );
    t
}

#[tokio::test]
async fn mapping_tables_round_trip_through_the_state_table() {
    // Given tables seeded with the helper the local stack uses
    let store = support::state().await;
    put_mapping_tables(store.client(), store.table(), LW, &tables())
        .await
        .expect("seed");
    // When they are loaded
    let loaded = store.load(LW).await.expect("load");
    // Then every table, entry, factor, service and passthrough flag comes back
    assert_eq!(loaded, tables());
    // And the items follow the key design
    let meta = support::raw_item(&store, "map#logiwa#sku", "#meta")
        .await
        .expect("meta item");
    assert_eq!(meta.get("passthrough"), Some(&AttributeValue::Bool(true)));
    let case = support::raw_item(&store, "map#logiwa#unit", "Case")
        .await
        .expect("entry item");
    assert_eq!(case.get("factor"), Some(&AttributeValue::N("12.5".into())));
}

#[tokio::test]
async fn an_unseeded_table_loads_as_empty_and_strict() {
    // Given nothing seeded
    let store = support::state().await;
    // When the tables are loaded
    let loaded = store.load(LW).await.expect("load");
    // Then they are empty and reject unmapped values
    assert_eq!(loaded, MappingTables::default());
    assert!(!loaded.sku.passthrough);
}

#[tokio::test]
async fn a_malformed_mapping_entry_fails_the_load_with_its_key() {
    // Given a seeded unit table where an operator typed a factor as text
    let store = support::state().await;
    put_mapping_tables(store.client(), store.table(), LW, &tables())
        .await
        .expect("seed");
    let item = HashMap::from([
        ("pk".to_owned(), AttributeValue::S("map#logiwa#unit".into())),
        ("sk".to_owned(), AttributeValue::S("Pallet".into())),
        ("target".to_owned(), AttributeValue::S("Unit".into())),
        ("factor".to_owned(), AttributeValue::S("forty".into())),
    ]);
    support::put_raw(&store, item).await;
    // When the tables are loaded
    let err = store.load(LW).await.expect_err("malformed");
    // Then the error names the entry, so an operator can fix it
    assert!(
        matches!(&err, StoreError::Malformed { key, .. } if key == "map#logiwa#unit/Pallet"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_factor_stored_as_a_decimal_string_is_accepted() {
    // Given an entry whose factor an operator entered as the string "12"
    let store = support::state().await;
    let item = HashMap::from([
        ("pk".to_owned(), AttributeValue::S("map#logiwa#unit".into())),
        ("sk".to_owned(), AttributeValue::S("Case".into())),
        ("target".to_owned(), AttributeValue::S("EA".into())),
        ("factor".to_owned(), AttributeValue::S("12".into())),
    ]);
    support::put_raw(&store, item).await;
    // When loaded, Then it is the decimal 12
    let loaded = store.load(LW).await.expect("load");
    assert_eq!(
        loaded.unit.entries.get("Case").and_then(|t| t.factor),
        Some(Decimal::from(12))
    );
}

#[tokio::test]
async fn each_wms_has_its_own_tables() {
    // Given Logiwa's tables seeded, and another WMS with different SKU codes
    let store = support::state().await;
    put_mapping_tables(store.client(), store.table(), LW, &tables())
        .await
        .expect("seed");
    let other = WmsSystem::named("linnworks");
    let mut theirs = MappingTables::default();
    theirs.sku.entries.insert("SF-TEE".into(), target("LW-TEE-9"));
    put_mapping_tables(store.client(), store.table(), other, &theirs)
        .await
        .expect("seed");
    // When each is loaded, Then neither sees the other's codes
    let ours = store.load(LW).await.expect("load");
    let loaded = store.load(other).await.expect("load");
    assert_eq!(ours, tables());
    assert_eq!(
        loaded.sku.entries.get("SF-TEE").map(|t| t.value.as_str()),
        Some("LW-TEE-9")
    );
    assert!(
        loaded.unit.entries.is_empty(),
        "no Logiwa unit codes leak into another WMS"
    );
}

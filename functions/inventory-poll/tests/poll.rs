//! inventory-poll tests: the real Salesforce and Logiwa adapters against the in-process simulators,
//! with in-memory state ports.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use inventory_poll::{App, Config, Ports};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::fakes::{MemoryMappings, MemoryPositions, MemorySecrets, MemoryWatermarks};
use waybill::mapping::{CachedMappings, MappingTables, Target};
use waybill::ports::{SentPosition, WatermarkStore};
use waybill_simulators::demo::DemoSims;
use waybill_simulators::logiwa::{InventorySeed, ProductSeed, RemoveRequest};
use waybill_simulators::{FaultRule, LogiwaState, RunningSim, SalesforceState};

const LOGIWA_WH: &str = waybill_simulators::demo::LOGIWA_WAREHOUSE;
const LOGIWA_CLIENT: &str = waybill_simulators::demo::LOGIWA_CLIENT;
const SCOPE: &str = "logiwa#4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c";
const STREAM: &str = "inventory#logiwa#4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c";

struct Harness {
    app: App,
    sf: RunningSim<SalesforceState>,
    logiwa: RunningSim<LogiwaState>,
    watermarks: Arc<MemoryWatermarks>,
    positions: Arc<MemoryPositions>,
    mappings: Arc<MemoryMappings>,
}

/// The demo sims (SKU-1 with 40 in WH1) plus `extra` SKUs with 10 each.
async fn harness_with(extra: &[&str]) -> Harness {
    let sims = DemoSims::start().await.expect("simulators");
    let secrets = Arc::new(
        MemorySecrets::new()
            .with("sf", &sims.salesforce_credentials().to_string())
            .with("logiwa", &sims.logiwa_credentials().to_string()),
    );
    let DemoSims { salesforce: sf, logiwa } = sims;
    let mappings = Arc::new(MemoryMappings::new(waybill::testing::demo_mapping_tables(LOGIWA_WH)));
    let watermarks = Arc::new(MemoryWatermarks::new());
    let positions = Arc::new(MemoryPositions::new());
    let lw_config = LogiwaConfig::new("logiwa").with_rate(NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN));
    let mut config = Config::new(vec![LOGIWA_WH.into()]);
    // Every stock change a test makes happens seconds apart, so the default 5-minute overlap would make
    // each feed poll re-read every SKU; the overlap's own behaviour is the property test's (window.rs).
    config.changes_overlap = Duration::ZERO;
    let app = App {
        config,
        ports: Ports {
            wms: Arc::new(Logiwa::new(lw_config, secrets.clone()).expect("logiwa")),
            salesforce: Arc::new(SalesforceOm::new(SalesforceConfig::new("sf"), secrets).expect("sf")),
            positions: positions.clone(),
            watermarks: watermarks.clone(),
            // No cache: a test's mapping edit applies to the next poll.
            mappings: Arc::new(CachedMappings::new(mappings.clone(), Duration::ZERO)),
        },
    };
    let h = Harness {
        app,
        sf,
        logiwa,
        watermarks,
        positions,
        mappings,
    };
    for sku in extra {
        h.logiwa
            .state()
            .add_product(ProductSeed {
                identifier: None,
                client_identifier: client(),
                sku: (*sku).into(),
                name: None,
                pack_types: vec!["Unit".into()],
            })
            .expect("product");
        add_stock(&h, sku, 10);
    }
    h
}

async fn harness() -> Harness {
    harness_with(&[]).await
}

fn client() -> Uuid {
    Uuid::parse_str(LOGIWA_CLIENT).expect("uuid")
}

fn warehouse() -> Uuid {
    Uuid::parse_str(LOGIWA_WH).expect("uuid")
}

async fn poll(h: &Harness) -> Result<Value, String> {
    invoke(&h.app, json!({})).await
}

async fn invoke(app: &App, input: Value) -> Result<Value, String> {
    // Polls in the same millisecond would share a watermark value; real ones are minutes apart.
    tokio::time::sleep(Duration::from_millis(3)).await;
    app.handle(LambdaEvent::new(input, Context::default()))
        .await
        .map_err(|e| e.to_string())
}

/// The app with a full listing on every poll.
fn always_full(h: &Harness) -> App {
    let mut app = h.app.clone();
    app.config.full_scan_every = Duration::ZERO;
    app
}

fn add_stock(h: &Harness, sku: &str, qty: i32) {
    let seed: InventorySeed = serde_json::from_value(json!({
        "clientIdentifier": LOGIWA_CLIENT, "warehouseIdentifier": LOGIWA_WH, "sku": sku,
        "locationCode": "B-02-01", "quantity": qty
    }))
    .expect("seed");
    h.logiwa.state().add_inventory(seed).expect("stock added");
}

fn remove_stock(h: &Harness, sku: &str) {
    h.logiwa
        .state()
        .remove_inventory(RemoveRequest {
            client_identifier: None,
            warehouse_identifier: warehouse(),
            sku: sku.into(),
            location_code: None,
            reason: Some("written off".into()),
        })
        .expect("removed");
}

/// On hand in Salesforce for `WH1#<sku>`.
fn on_hand(h: &Harness, sku: &str) -> Option<f64> {
    h.sf.state()
        .find(
            "Inventory_Position__c",
            "Waybill_Position_Key__c",
            &format!("WH1#{sku}"),
        )
        .first()
        .and_then(|r| r["On_Hand__c"].as_f64())
}

fn sf_writes(h: &Harness) -> u64 {
    h.sf.state().stats().family("composite/sobjects")
}

/// Logiwa requests of `family` made after the first `since` requests.
fn lw_requests(h: &Harness, since: usize, family: &str) -> Vec<String> {
    h.logiwa
        .state()
        .requests()
        .into_iter()
        .skip(since)
        .filter(|r| r.family == family)
        .map(|r| r.query)
        .collect()
}

fn wh(report: &Value) -> &Value {
    &report["warehouses"][0]
}

#[tokio::test]
async fn the_first_poll_sends_every_position_and_the_next_sends_only_changes() {
    // Given SKU-1 with 40 on hand in WH1
    let h = harness().await;
    // When the poll runs twice with no change in between
    let first = poll(&h).await.expect("first poll");
    let second = poll(&h).await.expect("second poll");
    // Then the first listed the warehouse and sent one position, the second read the feed and sent nothing
    assert_eq!(wh(&first)["mode"], "full", "{first}");
    assert_eq!(wh(&first)["fullReason"], "firstRun");
    assert_eq!(wh(&first)["changed"], 1, "{first}");
    assert_eq!(wh(&first)["accepted"], 1);
    assert_eq!(wh(&second)["mode"], "changes", "{second}");
    assert_eq!(wh(&second)["changed"], 0, "{second}");
    let rec =
        h.sf.state()
            .find("Inventory_Position__c", "Waybill_Position_Key__c", "WH1#SKU-1");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["On_Hand__c"].as_f64(), Some(40.0));
    assert_eq!(rec[0]["Unit__c"], "Each");
    // When stock changes in the WMS
    add_stock(&h, "SKU-1", 5);
    let third = poll(&h).await.expect("third poll");
    // Then only that position is sent, with the new quantity
    assert_eq!(wh(&third)["changed"], 1, "{third}");
    assert_eq!(on_hand(&h, "SKU-1"), Some(45.0));
}

#[tokio::test]
async fn the_watermark_does_not_move_while_salesforce_rejects_a_position() {
    let h = harness().await;
    h.sf.state().add_fault(
        FaultRule::status(400)
            .method("PATCH")
            .path_contains("/composite/sobjects/Inventory_Position__c"),
    );
    let first = poll(&h).await;
    // A 400 on the whole collection call is a Salesforce rejection of the request: the poll fails,
    // nothing is recorded as sent, and the watermark stays put.
    assert!(first.is_err(), "{first:?}");
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), None);
    h.sf.state().clear_faults();
    let ok = poll(&h).await.expect("poll after the fault");
    assert_eq!(wh(&ok)["changed"], 1, "nothing was recorded as sent before: {ok}");
    assert_eq!(wh(&ok)["watermarkAdvanced"], true);
    assert!(h.watermarks.get(STREAM).await.expect("get").is_some());
}

#[tokio::test]
async fn a_position_with_no_sku_mapping_is_skipped_and_counted() {
    let h = harness().await;
    let mut tables = MappingTables::default();
    tables.unit.entries.insert(
        "Each".into(),
        Target {
            value: "Unit".into(),
            factor: None,
            service: None,
        },
    );
    tables.warehouse.entries.insert(
        "WH1".into(),
        Target {
            value: LOGIWA_WH.into(),
            factor: None,
            service: None,
        },
    );
    h.mappings.set(tables);
    let report = poll(&h).await.expect("poll");
    assert_eq!(wh(&report)["unmapped"], 1, "{report}");
    assert_eq!(
        wh(&report)["mappingErrors"],
        json!([{"code": "MAPPING_MISSING", "table": "sku", "value": "SKU-1", "positions": 1}])
    );
    assert_eq!(wh(&report)["changed"], 0);
    assert!(h.sf.state().records("Inventory_Position__c").is_empty());
}

/// The demo tables with the SKU table no longer passthrough: only the listed SKUs map.
fn tables_mapping_only(skus: &[&str]) -> MappingTables {
    let mut tables = waybill::testing::demo_mapping_tables(LOGIWA_WH);
    tables.sku.passthrough = false;
    for sku in skus {
        tables.sku.entries.insert(
            (*sku).into(),
            Target {
                value: (*sku).into(),
                factor: None,
                service: None,
            },
        );
    }
    tables
}

#[tokio::test]
async fn an_unmapped_position_is_reported_and_never_zeroed() {
    // Given five positions Salesforce accepted
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    let first = poll(&h).await.expect("first poll");
    assert_eq!(wh(&first)["accepted"], 5, "{first}");
    // When SKU-1 loses its mapping and then its stock changes in the WMS
    h.mappings
        .set(tables_mapping_only(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]));
    add_stock(&h, "SKU-1", 5);
    let changes = poll(&h).await.expect("change-feed poll");
    // Then the feed poll reports it as unmapped, with the table and the value, and sends nothing for it
    assert_eq!(wh(&changes)["mode"], "changes", "{changes}");
    assert_eq!(wh(&changes)["unmapped"], 1, "{changes}");
    assert_eq!(
        wh(&changes)["mappingErrors"],
        json!([{"code": "MAPPING_MISSING", "table": "sku", "value": "SKU-1", "positions": 1}])
    );
    assert_eq!(wh(&changes)["dropped"], 1);
    assert_eq!(wh(&changes)["changed"], 0);
    assert_eq!(wh(&changes)["zeroed"], 0);
    // And a full listing, which leaves SKU-1 out of the mapped set, does not zero it either
    let full = invoke(&always_full(&h), json!({})).await.expect("full poll");
    assert_eq!(wh(&full)["mode"], "full", "{full}");
    assert_eq!(wh(&full)["unmapped"], 1);
    assert_eq!(wh(&full)["dropped"], 1);
    assert_eq!(wh(&full)["zeroed"], 0, "{full}");
    assert!(wh(&full).get("guardTripped").is_none(), "1 of 5 is within 20%: {full}");
    // So Salesforce still has the last quantity it accepted
    assert_eq!(on_hand(&h, "SKU-1"), Some(40.0));
    // And once the mapping is back, the change goes through
    h.mappings.set(waybill::testing::demo_mapping_tables(LOGIWA_WH));
    let fixed = invoke(&always_full(&h), json!({})).await.expect("poll");
    assert_eq!(wh(&fixed)["changed"], 1, "{fixed}");
    assert_eq!(on_hand(&h, "SKU-1"), Some(45.0));
}

#[tokio::test]
async fn a_short_or_empty_page_does_not_zero_anything() {
    // Given five positions Salesforce accepted
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    poll(&h).await.expect("first poll");
    let mark = h.watermarks.get(STREAM).await.expect("get");
    let writes = sf_writes(&h);
    let full = always_full(&h);
    // When the full listing comes back with two rows while totalCount says five
    h.logiwa
        .state()
        .add_fault(FaultRule::truncate_list(2).path_contains("/Inventory/list").times(1));
    let short = full.poll(&[LOGIWA_WH.into()], OffsetDateTime::now_utc()).await;
    // Then the warehouse fails with the reason, nothing is sent, and the watermark stays
    let r = &short.warehouses[0];
    assert_eq!(r.error_code.as_deref(), Some("INVENTORY_LISTING_INCOMPLETE"), "{r:?}");
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("totalCount is 5")),
        "{r:?}"
    );
    assert_eq!(sf_writes(&h), writes);
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), mark);
    // When the page is empty but claims five rows
    h.logiwa.state().add_fault(
        FaultRule::status(200)
            .path_contains("/Inventory/list")
            .with_body(json!({"data": [], "totalCount": 5}))
            .times(1),
    );
    let empty = invoke(&full, json!({})).await;
    // Then the poll fails the same way, and every position keeps its quantity
    assert!(
        empty.as_ref().is_err_and(|e| e.contains("listing is not whole")),
        "{empty:?}"
    );
    assert_eq!(sf_writes(&h), writes);
    for sku in ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"] {
        assert!(on_hand(&h, sku).is_some_and(|q| q > 0.0), "{sku} was zeroed");
    }
    // And the next whole listing finds nothing to change
    let ok = invoke(&full, json!({})).await.expect("whole listing");
    assert_eq!(wh(&ok)["changed"], 0, "{ok}");
}

#[tokio::test]
async fn a_changed_sku_whose_re_read_contradicts_its_total_is_not_zeroed_and_holds_the_watermark() {
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    poll(&h).await.expect("first poll");
    let mark = h.watermarks.get(STREAM).await.expect("get");
    // When SKU-3 changes, and its re-read comes back empty while claiming a row
    add_stock(&h, "SKU-3", 1);
    h.logiwa.state().add_fault(
        FaultRule::truncate_list(0)
            .path_contains("/Inventory/list")
            .body_contains("Sku.eq=SKU-3")
            .times(1),
    );
    let r = poll(&h).await.expect("poll");
    // Then nothing is sent for it, the report names it, and the watermark holds so it is read again
    assert_eq!(wh(&r)["mode"], "changes", "{r}");
    assert_eq!(wh(&r)["incompleteSkus"], json!(["SKU-3"]));
    assert_eq!(wh(&r)["changed"], 0);
    assert_eq!(wh(&r)["watermarkAdvanced"], false);
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), mark);
    assert_eq!(on_hand(&h, "SKU-3"), Some(10.0));
    // And the next poll reads the same change again and sends it
    let again = poll(&h).await.expect("poll");
    assert_eq!(wh(&again)["changed"], 1, "{again}");
    assert_eq!(on_hand(&h, "SKU-3"), Some(11.0));
    assert_eq!(wh(&again)["watermarkAdvanced"], true);
}

#[tokio::test]
async fn the_guard_trips_above_the_share_and_sends_nothing() {
    // Given five positions Salesforce accepted
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    poll(&h).await.expect("first poll");
    // When one SKU leaves the warehouse: 1 of 5 is 20%, not more
    remove_stock(&h, "SKU-5");
    let within = poll(&h).await.expect("poll");
    // Then it is zeroed
    assert!(wh(&within).get("guardTripped").is_none(), "{within}");
    assert_eq!(wh(&within)["zeroed"], 1);
    assert_eq!(on_hand(&h, "SKU-5"), Some(0.0));
    // When two more leave at once: 2 of the 4 positions still holding stock is 50%
    remove_stock(&h, "SKU-3");
    remove_stock(&h, "SKU-4");
    let mark = h.watermarks.get(STREAM).await.expect("get");
    let writes = sf_writes(&h);
    let tripped = poll(&h).await.expect("poll");
    // Then the guard trips with the numbers, nothing is sent, and the watermark holds
    assert_eq!(
        wh(&tripped)["guardTripped"],
        json!({"wouldZero": 2, "wouldDrop": 0, "positions": 4, "share": 0.5, "maxShare": 0.2, "overridden": false}),
        "{tripped}"
    );
    assert_eq!(wh(&tripped)["accepted"], 0);
    assert_eq!(sf_writes(&h), writes, "no Salesforce write");
    assert_eq!(on_hand(&h, "SKU-3"), Some(10.0));
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), mark);
    // And it keeps tripping until an operator overrides it for a run they checked
    let still = poll(&h).await.expect("poll");
    assert!(wh(&still)["guardTripped"].is_object(), "{still}");
    let overridden = invoke(&h.app, json!({"overrideGuard": true})).await.expect("poll");
    assert_eq!(wh(&overridden)["guardTripped"]["overridden"], true, "{overridden}");
    assert_eq!(wh(&overridden)["zeroed"], 2);
    assert_eq!(on_hand(&h, "SKU-3"), Some(0.0));
    assert_eq!(on_hand(&h, "SKU-4"), Some(0.0));
    assert_eq!(wh(&overridden)["watermarkAdvanced"], true);
}

#[tokio::test]
async fn losing_a_mapping_for_many_positions_trips_the_guard() {
    // Given five positions Salesforce accepted
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    poll(&h).await.expect("first poll");
    // When the warehouse mapping is deleted, so no position maps any more
    let mut tables = waybill::testing::demo_mapping_tables(LOGIWA_WH);
    tables.warehouse.entries.clear();
    h.mappings.set(tables);
    let r = invoke(&always_full(&h), json!({})).await.expect("poll");
    // Then nothing is zeroed or sent, and the guard reports five positions that would stop updating
    assert_eq!(wh(&r)["guardTripped"]["wouldDrop"], 5, "{r}");
    assert_eq!(wh(&r)["guardTripped"]["wouldZero"], 0);
    assert_eq!(
        wh(&r)["mappingErrors"][0]["table"],
        "warehouse",
        "one issue for all five: {r}"
    );
    assert_eq!(wh(&r)["mappingErrors"][0]["positions"], 5);
    assert_eq!(on_hand(&h, "SKU-1"), Some(40.0));
}

#[tokio::test]
async fn a_steady_state_poll_reads_the_change_feed_and_re_reads_only_changed_skus() {
    // Given five positions Salesforce accepted in a first, full poll
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    let first = poll(&h).await.expect("first poll");
    assert_eq!(wh(&first)["mode"], "full");
    // When SKU-3 changes in the WMS and the next poll runs
    add_stock(&h, "SKU-3", 4);
    let before = h.logiwa.state().requests().len();
    let r = poll(&h).await.expect("poll");
    // Then it read the change feed once and re-read SKU-3 only, by SKU
    assert_eq!(wh(&r)["mode"], "changes", "{r}");
    assert_eq!(wh(&r)["transactions"], 1);
    assert_eq!(wh(&r)["read"], 1);
    assert_eq!(wh(&r)["changed"], 1);
    let feed = lw_requests(&h, before, "report.transactionhistory");
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert!(feed[0].contains("TransactionDate.bt="), "{}", feed[0]);
    let listed = lw_requests(&h, before, "inventory.list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("Sku.eq=SKU-3"), "{}", listed[0]);
    assert_eq!(on_hand(&h, "SKU-3"), Some(14.0));
    // And a poll with no change reads the feed and nothing else
    let quiet_from = h.logiwa.state().requests().len();
    let quiet = poll(&h).await.expect("poll");
    assert_eq!(wh(&quiet)["changed"], 0, "{quiet}");
    assert_eq!(lw_requests(&h, quiet_from, "report.transactionhistory").len(), 1);
    assert!(lw_requests(&h, quiet_from, "inventory.list").is_empty());
}

#[tokio::test]
async fn the_watermark_is_read_and_only_ever_moves_forward() {
    let h = harness().await;
    // Given no watermark: the first poll lists in full and sets it
    let first = poll(&h).await.expect("poll");
    assert_eq!(wh(&first)["fullReason"], "firstRun");
    let t1 = h.watermarks.get(STREAM).await.expect("get").expect("set");
    // When the next poll runs, it reads the watermark (a feed poll) and moves it forward
    let second = poll(&h).await.expect("poll");
    assert_eq!(wh(&second)["mode"], "changes", "{second}");
    let t2 = h.watermarks.get(STREAM).await.expect("get").expect("set");
    assert!(t2 > t1, "{t1} -> {t2}");
    // When the stored watermark is ahead of this poll's clock
    let ahead = OffsetDateTime::now_utc() + time::Duration::days(1);
    h.watermarks.set(STREAM, ahead);
    let third = poll(&h).await.expect("poll");
    // Then the poll still reads the feed up to now, and the watermark is not moved back
    assert_eq!(wh(&third)["mode"], "changes", "{third}");
    assert_eq!(wh(&third)["watermarkAdvanced"], false);
    let kept = h.watermarks.get(STREAM).await.expect("get").expect("set");
    assert_eq!(kept.unix_timestamp(), ahead.unix_timestamp());
}

#[tokio::test]
async fn old_snapshot_items_without_a_wms_identity_are_migrated_and_zeroed_only_when_gone() {
    // Given five positions accepted, then stored the old way (fingerprint only), plus an old item for a
    // SKU the warehouse no longer has
    let h = harness_with(&["SKU-2", "SKU-3", "SKU-4", "SKU-5"]).await;
    poll(&h).await.expect("first poll");
    for (key, sent) in h.positions.snapshot(SCOPE) {
        h.positions.put(
            SCOPE,
            &key,
            SentPosition {
                fingerprint: sent.fingerprint,
                wms: None,
            },
        );
    }
    let sku1 = h.positions.snapshot(SCOPE)["WH1#SKU-1"].fingerprint.clone();
    h.positions.put(
        SCOPE,
        "WH1#SKU-GONE",
        SentPosition {
            fingerprint: sku1,
            wms: None,
        },
    );
    let writes = sf_writes(&h);
    // When the warehouse is listed in full
    let r = invoke(&always_full(&h), json!({})).await.expect("poll");
    // Then the unchanged positions are not re-sent but gain their WMS identity
    assert_eq!(wh(&r)["changed"], 1, "only the gone SKU: {r}");
    assert!(h
        .positions
        .snapshot(SCOPE)
        .get("WH1#SKU-2")
        .and_then(|p| p.wms.as_ref())
        .is_some_and(|w| w.sku.as_str() == "SKU-2"));
    // And the old item whose SKU the whole listing leaves out is zeroed
    assert_eq!(wh(&r)["zeroed"], 1);
    assert_eq!(on_hand(&h, "SKU-GONE"), Some(0.0));
    assert_eq!(sf_writes(&h), writes + 1);
}

#[tokio::test]
async fn the_event_fixtures_drive_the_handler() {
    let h = harness().await;
    let fixture = |text: &str| serde_json::from_str::<Value>(text).expect("fixture is JSON");
    // The schedule's empty payload polls every configured warehouse
    let scheduled = invoke(
        &h.app,
        fixture(include_str!("../../../events/inventory-poll/scheduled.json")),
    )
    .await
    .expect("scheduled");
    assert_eq!(wh(&scheduled)["warehouse"], LOGIWA_WH);
    // A manual run names its warehouses (one the WMS has no stock for lists nothing and zeroes nothing)
    let manual = invoke(
        &h.app,
        fixture(include_str!("../../../events/inventory-poll/manual-one-warehouse.json")),
    )
    .await
    .expect("manual");
    assert_eq!(wh(&manual)["warehouse"], "3f1c2b7e-8a4d-4c2e-9b1a-7d6e5f4a3b2c");
    assert_eq!(wh(&manual)["read"], 0);
    // And an operator's override run goes through with the guard marked overridden when it trips
    let override_run = invoke(
        &h.app,
        fixture(include_str!(
            "../../../events/inventory-poll/manual-override-guard.json"
        )),
    )
    .await
    .expect("override");
    assert_eq!(wh(&override_run)["warehouse"], LOGIWA_WH);
    assert!(
        wh(&override_run).get("guardTripped").is_none(),
        "nothing to zero: {override_run}"
    );
}

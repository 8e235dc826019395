//! inventory-poll tests: the real Salesforce and Logiwa adapters against the in-process simulators,
//! with in-memory state ports.

use std::sync::Arc;
use std::time::Duration;

use inventory_poll::{App, Config, Ports};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::fakes::{MemoryMappings, MemoryPositions, MemorySecrets, MemoryWatermarks};
use waybill::mapping::{CachedMappings, MappingTables, Target};
use waybill::ports::WatermarkStore;
use waybill_simulators::demo::DemoSims;
use waybill_simulators::logiwa::InventorySeed;
use waybill_simulators::{FaultRule, LogiwaState, RunningSim, SalesforceState};

const LOGIWA_WH: &str = waybill_simulators::demo::LOGIWA_WAREHOUSE;
const LOGIWA_CLIENT: &str = waybill_simulators::demo::LOGIWA_CLIENT;

struct Harness {
    app: App,
    sf: RunningSim<SalesforceState>,
    logiwa: RunningSim<LogiwaState>,
    watermarks: Arc<MemoryWatermarks>,
}

async fn harness() -> Harness {
    let sims = DemoSims::start().await.expect("simulators");
    let secrets = Arc::new(
        MemorySecrets::new()
            .with("sf", &sims.salesforce_credentials().to_string())
            .with("logiwa", &sims.logiwa_credentials().to_string()),
    );
    let DemoSims { salesforce: sf, logiwa } = sims;
    let tables = waybill::testing::demo_mapping_tables(LOGIWA_WH);
    let watermarks = Arc::new(MemoryWatermarks::new());
    let app = App {
        config: Config {
            warehouses: vec![LOGIWA_WH.into()],
        },
        ports: Ports {
            wms: Arc::new(Logiwa::new(LogiwaConfig::new("logiwa"), secrets.clone()).expect("logiwa")),
            salesforce: Arc::new(SalesforceOm::new(SalesforceConfig::new("sf"), secrets).expect("sf")),
            positions: Arc::new(MemoryPositions::new()),
            watermarks: watermarks.clone(),
            mappings: Arc::new(CachedMappings::new(
                Arc::new(MemoryMappings::new(tables)),
                Duration::from_secs(60),
            )),
        },
    };
    Harness {
        app,
        sf,
        logiwa,
        watermarks,
    }
}

async fn poll(h: &Harness) -> Result<Value, String> {
    h.app
        .handle(LambdaEvent::new(json!({}), Context::default()))
        .await
        .map_err(|e| e.to_string())
}

fn add_stock(h: &Harness, sku: &str, qty: i32) {
    let seed: InventorySeed = serde_json::from_value(json!({
        "clientIdentifier": LOGIWA_CLIENT, "warehouseIdentifier": LOGIWA_WH, "sku": sku,
        "locationCode": "B-02-01", "quantity": qty
    }))
    .expect("seed");
    h.logiwa.state().add_inventory(seed).expect("stock added");
}

#[tokio::test]
async fn the_first_poll_sends_every_position_and_the_next_sends_only_changes() {
    // Given SKU-1 with 40 on hand in WH1
    let h = harness().await;
    // When the poll runs twice with no change in between
    let first = poll(&h).await.expect("first poll");
    let second = poll(&h).await.expect("second poll");
    // Then the first sent one position, the second sent nothing
    assert_eq!(first["warehouses"][0]["changed"], 1, "{first}");
    assert_eq!(first["warehouses"][0]["accepted"], 1);
    assert_eq!(second["warehouses"][0]["changed"], 0, "{second}");
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
    assert_eq!(third["warehouses"][0]["changed"], 1, "{third}");
    let rec =
        h.sf.state()
            .find("Inventory_Position__c", "Waybill_Position_Key__c", "WH1#SKU-1");
    assert_eq!(rec[0]["On_Hand__c"].as_f64(), Some(45.0));
}

#[tokio::test]
async fn the_watermark_does_not_move_while_salesforce_rejects_a_position() {
    let h = harness().await;
    let stream = format!("inventory#logiwa#{LOGIWA_WH}");
    h.sf.state().add_fault(
        FaultRule::status(400)
            .method("PATCH")
            .path_contains("/composite/sobjects/Inventory_Position__c"),
    );
    let first = poll(&h).await;
    // A 400 on the whole collection call is a Salesforce rejection of the request: the poll fails,
    // nothing is recorded as sent, and the watermark stays put.
    assert!(first.is_err(), "{first:?}");
    assert_eq!(h.watermarks.get(&stream).await.expect("get"), None);
    h.sf.state().clear_faults();
    let ok = poll(&h).await.expect("poll after the fault");
    assert_eq!(
        ok["warehouses"][0]["changed"], 1,
        "nothing was recorded as sent before: {ok}"
    );
    assert_eq!(ok["warehouses"][0]["watermarkAdvanced"], true);
    assert!(h.watermarks.get(&stream).await.expect("get").is_some());
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
    let mut app = h.app.clone();
    app.ports.mappings = Arc::new(CachedMappings::new(
        Arc::new(MemoryMappings::new(tables)),
        Duration::from_secs(60),
    ));
    let report = app
        .handle(LambdaEvent::new(json!({}), Context::default()))
        .await
        .expect("poll");
    assert_eq!(report["warehouses"][0]["unmapped"], 1, "{report}");
    assert_eq!(report["warehouses"][0]["changed"], 0);
    assert!(h.sf.state().records("Inventory_Position__c").is_empty());
}

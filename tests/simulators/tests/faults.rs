//! Fault knobs on both simulators: failures for N calls, commit-then-fail, latency, per-record
//! failures, stats, and the admin HTTP API.

use crate::support::{send, Lw, Sf};
use serde_json::json;
use std::time::{Duration, Instant};
use waybill_simulators::salesforce::SalesforceConfig;
use waybill_simulators::FaultRule;

#[tokio::test]
async fn a_5xx_fault_hits_exactly_n_matching_calls_then_the_api_recovers() {
    // Given two 503s armed for queries
    let sf = Sf::start(SalesforceConfig::default()).await;
    sf.state()
        .add_fault(FaultRule::status(503).path_contains("/query").times(2));
    // When three queries and one describe are made
    let a = sf.query("SELECT Id FROM Account").await;
    let other = sf.get("sobjects/Account/describe").await;
    let b = sf.query("SELECT Id FROM Account").await;
    let c = sf.query("SELECT Id FROM Account").await;
    // Then only the first two queries fail, with Salesforce's body
    assert_eq!((a.status, other.status, b.status, c.status), (503, 200, 503, 200));
    assert_eq!(a.body[0]["errorCode"], json!("SERVER_UNAVAILABLE"));
    let stats = sf.state().stats();
    assert_eq!(stats.family("query"), 3);
    assert_eq!(stats.family("sobjects"), 1);
    assert_eq!(stats.family("oauth"), 1);
    assert_eq!(stats.total, 5);
}

#[tokio::test]
async fn commit_then_fail_applies_the_write_but_answers_500() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    sf.state().add_fault(
        FaultRule::commit_then_fail()
            .method("PATCH")
            .path_contains("Waybill_External_Id__c")
            .times(1),
    );
    // When an upsert hits the fault
    let path = "sobjects/Shipment/Waybill_External_Id__c/K1";
    let failed = sf.patch(path, &json!({"ShipToName": "A"})).await;
    // Then the caller sees a 500, yet the record exists; a retry updates instead of duplicating
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body[0]["errorCode"], json!("UNKNOWN_EXCEPTION"));
    assert_eq!(sf.state().records("Shipment").len(), 1);
    let retry = sf.patch(path, &json!({"ShipToName": "A"})).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["created"], json!(false));
    assert_eq!(sf.state().records("Shipment").len(), 1);
}

#[tokio::test]
async fn logiwa_commit_then_fail_creates_the_order_so_a_blind_retry_makes_a_second_one() {
    let lw = Lw::start_default().await;
    lw.state().add_fault(
        FaultRule::commit_then_fail()
            .path_contains("ShipmentOrder/create")
            .times(1),
    );
    let first = lw.post("ShipmentOrder/create", &Lw::order("FO-C1", 1)).await;
    assert_eq!(first.status, 500);
    assert!(lw.state().shipment_order_by_code("FO-C1").is_some());
    // A client that resends without looking first gets a duplicate: nothing in Logiwa refuses it
    let retry = lw.post("ShipmentOrder/create", &Lw::order("FO-C1", 1)).await;
    assert_eq!(retry.status, 201);
    let found = lw.get("ShipmentOrder/list/i/0/s/1?Code.eq=FO-C1").await;
    assert_eq!(found.body["totalCount"], json!(2));
}

#[tokio::test]
async fn latency_faults_delay_only_matching_requests() {
    let lw = Lw::start_default().await;
    lw.state()
        .add_fault(FaultRule::latency(300).path_contains("/Inventory/"));
    let t = Instant::now();
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/1").await.status, 200);
    let fast = t.elapsed();
    let t = Instant::now();
    assert_eq!(lw.get("Inventory/list/i/0/s/1").await.status, 200);
    let slow = t.elapsed();
    assert!(slow >= Duration::from_millis(300), "slow call took {slow:?}");
    assert!(fast < Duration::from_millis(300), "fast call took {fast:?}");
}

#[tokio::test]
async fn a_body_filter_without_times_fails_one_record_persistently() {
    let lw = Lw::start_default().await;
    lw.state()
        .add_fault(FaultRule::status(500).method("POST").body_contains("\"FO-BAD\""));
    assert_eq!(
        lw.post("ShipmentOrder/create", &Lw::order("FO-BAD", 1)).await.status,
        500
    );
    assert_eq!(
        lw.post("ShipmentOrder/create", &Lw::order("FO-BAD", 1)).await.status,
        500
    );
    assert_eq!(
        lw.post("ShipmentOrder/create", &Lw::order("FO-OK", 1)).await.status,
        201
    );
    assert_eq!(lw.state().faults().len(), 1, "an unlimited rule stays armed");
}

#[tokio::test]
async fn the_admin_http_api_arms_faults_reports_stats_and_resets() {
    let lw = Lw::start_default().await;
    let base = lw.sim.base_url();
    let http = &lw.http;
    // When a fault is added over HTTP
    let added = send(http.post(format!("{base}/__sim/faults")).json(&json!({
        "pathContains": "/ShipmentOrder/list", "times": 1, "action": {"kind": "status", "status": 502}
    })))
    .await;
    assert_eq!(added.status, 201);
    // Then the next matching call fails and stats count it
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/1").await.status, 502);
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/1").await.status, 200);
    let stats = send(http.get(format!("{base}/__sim/stats"))).await;
    assert_eq!(stats.body["byFamily"]["shipmentorder.list"], json!(2));
    assert_eq!(stats.body["byFamily"]["token"], json!(1));
    // And the admin ship endpoint works over HTTP
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-H", 2)).await.status, 201);
    let shipped = send(
        http.post(format!("{base}/__sim/logiwa/shipmentorders/FO-H/ship"))
            .json(&json!({"packages": [{"trackingNumber": "T1", "lines": [{"sku": "SKU-1", "quantity": 2}]}]})),
    )
    .await;
    assert_eq!(shipped.status, 200);
    assert_eq!(shipped.body["trackingNumbers"], json!(["T1"]));
    let over = send(http.post(format!("{base}/__sim/logiwa/shipmentorders/FO-H/ship"))).await;
    assert_eq!(over.status, 400, "nothing left to ship");
    // And reset clears orders, stats and tokens
    assert_eq!(send(http.post(format!("{base}/__sim/reset"))).await.status, 204);
    assert!(lw.state().shipment_orders().is_empty());
    assert_eq!(lw.state().stats().total, 0);
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/1").await.status, 401);
}

#[tokio::test]
async fn salesforce_admin_seeds_and_lists_records_and_sets_api_usage() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let base = sf.sim.base_url();
    let seeded = send(
        sf.http
            .post(format!("{base}/__sim/salesforce/records/Product2"))
            .json(&json!({"Name": "W", "StockKeepingUnit": "SKU-9"})),
    )
    .await;
    assert_eq!(seeded.status, 201);
    let listed = send(sf.http.get(format!("{base}/__sim/salesforce/records/Product2"))).await;
    assert_eq!(listed.body[0]["StockKeepingUnit"], json!("SKU-9"));
    let by_ext = sf.get("sobjects/Product2/StockKeepingUnit/SKU-9").await;
    assert_eq!(by_ext.status, 200);
    assert_eq!(by_ext.body["Id"], seeded.body["id"]);
    let usage = send(
        sf.http
            .post(format!("{base}/__sim/salesforce/api-usage"))
            .json(&json!({"used": 15000})),
    )
    .await;
    assert_eq!(usage.status, 200);
    assert_eq!(sf.query("SELECT Id FROM Product2").await.status, 403);
    // Admin calls are not counted
    assert_eq!(sf.state().stats().family("other"), 0);
}

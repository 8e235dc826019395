//! `SalesforceOm` against the Salesforce simulator: auth, the FulfillmentOrder read, and idempotent writes.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use waybill::domain::{Address, InventoryPosition, LineKind, LocationCode, Quantity, SalesforceId, Sku, UnitOfMeasure};
use waybill::ports::{
    InventoryRecord, SalesforceApi, SalesforceError, ShipmentItemRecord, ShipmentRecord, StatusUpdate,
};
use waybill_simulators::salesforce::ids::make_id;
use waybill_simulators::FaultRule;

use crate::support::{salesforce, salesforce_with_secret, Sf};

const EXT: &str = "Waybill_External_Id__c";

struct Seeded {
    fo: SalesforceId,
    foli: SalesforceId,
    product: SalesforceId,
    order_summary: SalesforceId,
    delivery_method: SalesforceId,
}

fn id(s: &str) -> SalesforceId {
    SalesforceId::parse(s).expect("valid id")
}

/// Seeds one FulfillmentOrder graph (`n` keeps ids distinct); `name` = FulfilledToName (None = missing).
fn seed_order(sf: &Sf, n: u64, name: Option<&str>) -> Seeded {
    let st = sf.state();
    let seed = |obj: &str, v: Value| st.seed(obj, v).expect("seed");
    let (prod, loc, dm, os, fo, foli) = (
        make_id("01t", n),
        make_id("131", n),
        make_id("2Dm", n),
        make_id("1Os", n),
        make_id("0a3", n),
        make_id("0a4", n),
    );
    seed(
        "Product2",
        json!({"Id": prod, "Name": "Demo Widget", "StockKeepingUnit": format!("SKU-{n}"), "QuantityUnitOfMeasure": "Each"}),
    );
    seed(
        "Location",
        json!({"Id": loc, "Name": "Main Warehouse", "ExternalReference": "WH1", "LocationType": "Warehouse"}),
    );
    seed(
        "OrderDeliveryMethod",
        json!({"Id": dm, "Name": "UPS Ground", "Carrier": "UPS", "ClassOfService": "Ground", "ReferenceNumber": "UPS-GND"}),
    );
    seed(
        "OrderSummary",
        json!({"Id": os, "CurrencyIsoCode": "USD", "Status": "Approved"}),
    );
    let mut f = json!({"Id": fo, "Status": "Allocated", "OrderSummaryId": os, "DeliveryMethodId": dm,
        "FulfilledFromLocationId": loc, "FulfilledToStreet": "1 Main St\nApt 4",
        "FulfilledToCity": "Springfield", "FulfilledToState": "IL", "FulfilledToPostalCode": "62701",
        "FulfilledToCountry": "US", "FulfilledToPhone": "555-0100", "FulfilledToEmailAddress": "ann@example.com",
        "Type": "Warehouse", "CurrencyIsoCode": "USD"});
    if let Some(name) = name {
        f["FulfilledToName"] = json!(name);
    }
    seed("FulfillmentOrder", f);
    seed(
        "FulfillmentOrderLineItem",
        json!({"Id": foli, "FulfillmentOrderId": fo, "Product2Id": prod, "Quantity": 3,
        "UnitPrice": 10.0, "TotalTaxAmount": 2.4, "Type": "Order Product", "TypeCode": "Product", "Description": "Demo Widget"}),
    );
    Seeded {
        fo: id(&fo),
        foli: id(&foli),
        product: id(&prod),
        order_summary: id(&os),
        delivery_method: id(&dm),
    }
}

fn shipment(s: &Seeded, key: &str) -> ShipmentRecord {
    ShipmentRecord {
        external_key: key.to_owned(),
        fulfillment_order_id: s.fo.clone(),
        order_summary_id: Some(s.order_summary.clone()),
        delivery_method_id: Some(s.delivery_method.clone()),
        provider: Some("UPS".into()),
        tracking_number: Some("1Z999".into()),
        tracking_url: Some("https://track.example/1Z999".into()),
        ship_to: Address {
            name: "Ann Example".into(),
            street: vec!["1 Main St".into()],
            city: "Springfield".into(),
            country: "US".into(),
            ..Address::default()
        },
        shipped_at: None,
        items: vec![ShipmentItemRecord {
            external_key: format!("{key}:1"),
            line_id: s.foli.clone(),
            product_id: Some(s.product.clone()),
            order_item_summary_id: None,
            quantity: Decimal::from(3),
        }],
    }
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused_across_calls() {
    // Given a fresh adapter and a seeded order
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    // When it makes three calls
    for _ in 0..3 {
        sf.client
            .fetch_orders(std::slice::from_ref(&s.fo))
            .await
            .expect("fetch");
    }
    // Then it asked for a token once
    assert_eq!(sf.state().stats().family("oauth"), 1);
    assert_eq!(sf.client.call_counts().family("oauth"), 1);
    assert_eq!(sf.client.call_counts().family("query"), 3);
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_transparently() {
    // Given an adapter with a session
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    sf.client
        .fetch_orders(std::slice::from_ref(&s.fo))
        .await
        .expect("first call");
    // When Salesforce expires every session
    sf.state().expire_sessions();
    let orders = sf
        .client
        .fetch_orders(std::slice::from_ref(&s.fo))
        .await
        .expect("renewed transparently");
    // Then the call succeeds after exactly one new token, and the 401 was one extra query
    assert!(orders[&s.fo].is_ok());
    assert_eq!(sf.state().stats().family("oauth"), 2);
    assert_eq!(sf.state().stats().family("query"), 3);
}

#[tokio::test]
async fn a_session_refused_even_after_renewal_is_unauthorized() {
    // Given Salesforce answers every query with INVALID_SESSION_ID
    let sf = salesforce().await;
    sf.state().add_fault(
        FaultRule::status(401)
            .path_contains("/query")
            .with_body(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
    );
    // When we read orders
    let err = sf
        .client
        .fetch_orders(&[id(&make_id("0a3", 1))])
        .await
        .expect_err("must fail");
    // Then we renewed once, then gave up as Unauthorized
    assert!(matches!(err, SalesforceError::Unauthorized(_)), "{err:?}");
    assert_eq!(sf.state().stats().family("oauth"), 2);
}

#[tokio::test]
async fn refused_client_credentials_are_unauthorized_and_not_retried() {
    // Given a wrong client secret
    let sf = salesforce_with_secret("wrong").await;
    // When we call
    let err = sf
        .client
        .fetch_orders(&[id(&make_id("0a3", 1))])
        .await
        .expect_err("must fail");
    // Then invalid_client is a permanent Unauthorized after a single token request
    match err {
        SalesforceError::Unauthorized(m) => assert!(m.contains("invalid_client"), "{m}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(sf.state().stats().family("oauth"), 1);
    assert_eq!(sf.state().stats().family("query"), 0);
}

#[tokio::test]
async fn fetch_orders_reads_a_seeded_graph_into_the_canonical_order_with_one_query() {
    // Given a seeded FulfillmentOrder graph
    let sf = salesforce().await;
    let s = seed_order(&sf, 7, Some("Ann Example"));
    let number = sf.state().record("FulfillmentOrder", s.fo.as_str()).expect("seeded")["FulfillmentOrderNumber"]
        .as_str()
        .expect("auto number")
        .to_owned();
    // When it is read
    let orders = sf
        .client
        .fetch_orders(std::slice::from_ref(&s.fo))
        .await
        .expect("fetch");
    // Then the canonical order carries the record's values
    let order = orders[&s.fo].as_ref().expect("converts");
    assert_eq!(order.source.number, number);
    assert_eq!(order.status, "Allocated");
    assert_eq!(order.ship_to.name, "Ann Example");
    assert_eq!(order.ship_to.street, vec!["1 Main St".to_owned(), "Apt 4".to_owned()]);
    assert_eq!(order.ship_to.postal_code.as_deref(), Some("62701"));
    assert_eq!(order.fulfilled_from.as_str(), "WH1");
    assert_eq!(order.service_level.method, "UPS-GND");
    assert_eq!(order.service_level.service.as_deref(), Some("Ground"));
    assert_eq!(order.currency.as_str(), "USD");
    assert_eq!(order.lines.len(), 1);
    let line = &order.lines[0];
    assert_eq!(line.kind, LineKind::Product);
    assert_eq!(line.sku.as_str(), "SKU-7");
    assert_eq!(line.quantity.value(), Decimal::from(3));
    assert_eq!(line.quantity.unit().as_str(), "Each");
    assert_eq!(line.unit_price, Decimal::from(10));
    assert_eq!(line.unit_tax, Decimal::from_str("0.8").expect("dec"));
    assert_eq!(line.product_id.as_ref(), Some(&s.product));
    // And it took exactly one query call
    assert_eq!(sf.state().stats().family("query"), 1);
}

#[tokio::test]
async fn a_record_with_a_missing_ship_to_name_comes_back_as_a_per_record_error() {
    // Given one good order, one without FulfilledToName, and an id that does not exist
    let sf = salesforce().await;
    let good = seed_order(&sf, 1, Some("Ann Example"));
    let bad = seed_order(&sf, 2, None);
    let missing = id(&make_id("0a3", 99));
    // When all three are read in one call
    let orders = sf
        .client
        .fetch_orders(&[good.fo.clone(), bad.fo.clone(), missing.clone()])
        .await
        .expect("fetch");
    // Then the good one converts, the bad one names its field, the missing one is absent
    assert!(orders[&good.fo].is_ok());
    assert_eq!(orders[&bad.fo].as_ref().expect_err("no name").field, "FulfilledToName");
    assert!(!orders.contains_key(&missing));
    assert_eq!(sf.state().stats().family("query"), 1);
}

#[tokio::test]
async fn writing_the_same_shipments_twice_leaves_one_shipment_and_one_item() {
    // Given a seeded order
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    let rec = shipment(&s, "logiwa:FO-1:abc:1Z999");
    // When the same shipment is written twice
    let first = sf
        .client
        .write_shipments(std::slice::from_ref(&rec))
        .await
        .expect("first write");
    let second = sf
        .client
        .write_shipments(std::slice::from_ref(&rec))
        .await
        .expect("second write");
    // Then both succeed with the same id
    let id1 = first[0].as_ref().expect("ok").clone();
    assert_eq!(second[0].as_ref().expect("ok"), &id1);
    // And one Shipment and one ShipmentItem exist, read back with vendor-native GETs by external id
    let got = sf
        .client
        .get_by_external_id("Shipment", EXT, &rec.external_key)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got["Id"], json!(id1.as_str()));
    assert_eq!(got["Status"], json!("Shipped"));
    assert_eq!(got["TrackingNumber"], json!("1Z999"));
    assert_eq!(got["TotalItemsQuantity"], json!(3.0));
    let item = sf
        .client
        .get_by_external_id("ShipmentItem", EXT, "logiwa:FO-1:abc:1Z999:1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(item["ShipmentId"], json!(id1.as_str()));
    assert_eq!(sf.state().records("Shipment").len(), 1);
    assert_eq!(sf.state().records("ShipmentItem").len(), 1);
    // And each write took two collection calls
    assert_eq!(sf.state().stats().family("composite/sobjects"), 4);
}

#[tokio::test]
async fn an_absent_external_id_reads_as_none() {
    let sf = salesforce().await;
    let got = sf
        .client
        .get_by_external_id("Shipment", EXT, "nope")
        .await
        .expect("get");
    assert!(got.is_none());
    let err = sf
        .client
        .get_by_external_id("Shipment", "Bogus__c", "nope")
        .await
        .expect_err("unknown field");
    assert!(matches!(err, SalesforceError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_503_on_the_first_upsert_is_retried_and_succeeds() {
    // Given Salesforce answers the first shipment upsert with 503
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    sf.state().add_fault(
        FaultRule::status(503)
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/")
            .times(1),
    );
    // When a shipment is written
    let out = sf.client.write_shipments(&[shipment(&s, "k1")]).await.expect("write");
    // Then it succeeded after one retry: 503 + retry + items
    assert!(out[0].is_ok(), "{out:?}");
    assert_eq!(sf.state().stats().family("composite/sobjects"), 3);
    assert_eq!(sf.state().records("Shipment").len(), 1);
}

#[tokio::test]
async fn a_commit_then_fail_leaves_exactly_one_shipment_after_the_retry() {
    // Given Salesforce commits the first shipment upsert and then answers 500
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    sf.state().add_fault(
        FaultRule::commit_then_fail()
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/")
            .times(1),
    );
    // When a shipment is written
    let out = sf.client.write_shipments(&[shipment(&s, "k1")]).await.expect("write");
    // Then the retry updated the committed record: one Shipment, with its item attached
    let id = out[0].as_ref().expect("ok").clone();
    assert_eq!(sf.state().find("Shipment", EXT, "k1").len(), 1);
    let items = sf.state().find("ShipmentItem", EXT, "k1:1");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["ShipmentId"], json!(id.as_str()));
}

#[tokio::test]
async fn a_commit_then_fail_on_the_items_call_still_leaves_one_item() {
    // Given Salesforce commits the item upsert and then answers 500
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    sf.state().add_fault(
        FaultRule::commit_then_fail()
            .method("PATCH")
            .path_contains("/composite/sobjects/ShipmentItem/")
            .times(1),
    );
    // When a shipment is written
    let out = sf.client.write_shipments(&[shipment(&s, "k1")]).await.expect("write");
    // Then the retried item (now existing, so ShipmentId is not updatable) was resent without it and succeeded
    assert!(out[0].is_ok(), "{out:?}");
    assert_eq!(sf.state().find("ShipmentItem", EXT, "k1:1").len(), 1);
}

#[tokio::test]
async fn a_per_record_failure_maps_to_its_input_index() {
    // Given three shipments, the middle one without a ship-to name
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    let mut bad = shipment(&s, "k2");
    bad.ship_to.name = String::new();
    let batch = [shipment(&s, "k1"), bad, shipment(&s, "k3")];
    // When they are written
    let out = sf.client.write_shipments(&batch).await.expect("write");
    // Then only index 1 failed, with Salesforce's code and field
    assert!(out[0].is_ok() && out[2].is_ok(), "{out:?}");
    let errs = out[1].as_ref().expect_err("failed");
    assert_eq!(errs[0].code, "REQUIRED_FIELD_MISSING");
    assert_eq!(errs[0].fields, vec!["ShipToName".to_owned()]);
    // And the failed shipment's items were not sent
    assert!(sf.state().find("ShipmentItem", EXT, "k2:1").is_empty());
    assert_eq!(sf.state().records("ShipmentItem").len(), 2);
}

#[tokio::test]
async fn an_item_failure_fails_its_shipment() {
    // Given a shipment whose item points at a line that does not exist
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    let mut rec = shipment(&s, "k1");
    rec.items[0].line_id = id(&make_id("0a4", 999));
    // When it is written
    let out = sf.client.write_shipments(&[rec]).await.expect("write");
    // Then the shipment's outcome carries the item's error
    let errs = out[0].as_ref().expect_err("item failed");
    assert_eq!(errs[0].code, "INVALID_CROSS_REFERENCE_KEY");
    assert!(errs[0].message.contains("k1:1"), "{}", errs[0].message);
}

#[tokio::test]
async fn update_status_reports_each_record_in_input_order() {
    // Given two orders
    let sf = salesforce().await;
    let a = seed_order(&sf, 1, Some("Ann Example"));
    let b = seed_order(&sf, 2, Some("Bob Example"));
    // When one gets a valid status and the other a value outside the restricted picklist
    let out = sf
        .client
        .update_status(&[
            StatusUpdate {
                record_id: a.fo.clone(),
                status: "Fulfilled".into(),
            },
            StatusUpdate {
                record_id: b.fo.clone(),
                status: "Teleported".into(),
            },
        ])
        .await
        .expect("update");
    // Then the outcomes line up with the input
    assert_eq!(out[0].as_ref().expect("ok"), &a.fo);
    assert_eq!(
        out[1].as_ref().expect_err("bad value")[0].code,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(
        sf.state().record("FulfillmentOrder", a.fo.as_str()).expect("exists")["Status"],
        json!("Fulfilled")
    );
}

#[tokio::test]
async fn inventory_positions_are_upserted_by_their_key() {
    // Given a position
    let sf = salesforce().await;
    let unit = UnitOfMeasure::parse("Each").expect("unit");
    let rec = |on_hand: i64| InventoryRecord {
        key: "WH1#SKU-1".into(),
        position: InventoryPosition {
            sku: Sku::parse("SKU-1").expect("sku"),
            location: LocationCode::parse("WH1").expect("loc"),
            on_hand: Quantity::new(Decimal::from(on_hand), unit.clone()).expect("q"),
            available: Quantity::new(Decimal::from(on_hand - 1), unit.clone()).expect("q"),
            as_of: time::macros::datetime!(2026-11-23 01:00 UTC),
        },
    };
    // When it is written twice with different quantities
    sf.client.upsert_inventory(&[rec(10)]).await.expect("write")[0]
        .as_ref()
        .expect("ok");
    sf.client.upsert_inventory(&[rec(12)]).await.expect("write")[0]
        .as_ref()
        .expect("ok");
    // Then one record holds the latest values
    let got = sf
        .client
        .get_by_external_id("Inventory_Position__c", "Waybill_Position_Key__c", "WH1#SKU-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got["On_Hand__c"], json!(12.0));
    assert_eq!(got["Available__c"], json!(11.0));
    assert_eq!(got["Unit__c"], json!("Each"));
    assert_eq!(sf.state().records("Inventory_Position__c").len(), 1);
}

#[tokio::test]
async fn the_api_usage_header_is_kept_and_the_daily_limit_is_rate_limited() {
    // Given an org one call below its limit
    let sf = salesforce().await;
    let limit = sf.state().config().api_limit;
    sf.state().set_api_usage(limit - 1);
    // When we call twice
    sf.client
        .fetch_orders(&[id(&make_id("0a3", 1))])
        .await
        .expect("last allowed call");
    let usage = sf.client.api_usage().expect("usage seen");
    assert_eq!((usage.used, usage.limit), (limit, limit));
    let err = sf
        .client
        .fetch_orders(&[id(&make_id("0a3", 1))])
        .await
        .expect_err("over the limit");
    // Then the 403 REQUEST_LIMIT_EXCEEDED is RateLimited, and it was not retried
    assert!(matches!(err, SalesforceError::RateLimited(_)), "{err:?}");
    assert_eq!(sf.state().stats().family("query"), 2);
}

#[tokio::test]
async fn an_authentication_outage_fails_queued_calls_at_once_instead_of_each_retrying_the_session() {
    // Given the org's token endpoint answering 503 to everything, and no session yet
    let sf = salesforce().await;
    let s = seed_order(&sf, 1, Some("Ann Example"));
    sf.state()
        .add_fault(FaultRule::status(503).path_contains("/services/oauth2/token"));
    // When ten calls go out at once through one adapter
    let results = futures::future::join_all((0..10).map(|_| sf.client.fetch_orders(std::slice::from_ref(&s.fo)))).await;
    // Then every call fails as retryable, and only the first session fetch ran its attempts
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(e) if waybill::error::Classified::is_retryable(e))),
        "{results:?}"
    );
    let per_fetch = waybill::adapters::http_client::RetryPolicy::default().max_attempts as u64;
    assert_eq!(sf.state().stats().family("oauth"), per_fetch);
}

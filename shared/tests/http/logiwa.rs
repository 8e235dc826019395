//! `Logiwa` against the Logiwa IO simulator: create/find, duplicates, validation, retries, shipments, inventory.

use std::str::FromStr;

use rust_decimal::Decimal;
use waybill::domain::{Address, CurrencyCode, LocationCode, SalesforceId, Sku, UnitOfMeasure, WmsOrderId};
use waybill::ports::{
    ChangeWindow, Completeness, WmsConnector, WmsError, WmsOrderLine, WmsOrderRequest, WmsRef, WmsSystem,
};
use waybill_simulators::logiwa::{InventorySeed, ShipLine, ShipPackage, ShipRequest};
use waybill_simulators::FaultRule;

use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};

use crate::support::{logiwa, logiwa_with, Lw};

pub fn request(code: &str, sku: &str, qty: i32) -> WmsOrderRequest {
    WmsOrderRequest {
        code: code.to_owned(),
        source_record_id: SalesforceId::parse("0a35g0000000001").expect("id"),
        warehouse: LocationCode::parse("WH1").expect("wh"),
        currency: CurrencyCode::parse("USD").expect("usd"),
        ordered_at: time::macros::datetime!(2026-11-20 10:00 UTC),
        customer_name: None,
        ship_to: Address {
            name: "Ann Example".into(),
            street: vec!["1 Main St".into()],
            city: "Springfield".into(),
            state: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: "US".into(),
            email: Some("ann@example.com".into()),
            ..Address::default()
        },
        bill_to: None,
        carrier: Some("UPS".into()),
        service: Some("Ground".into()),
        lines: vec![WmsOrderLine {
            source_line_id: SalesforceId::parse("0a45g0000000001").expect("id"),
            sku: Sku::parse(sku).expect("sku"),
            unit: UnitOfMeasure::parse("Unit").expect("unit"),
            quantity: qty,
            unit_price: Decimal::from(10),
            unit_tax: Decimal::from_str("0.8").expect("dec"),
            description: None,
        }],
    }
}

async fn create(lw: &Lw, code: &str, qty: i32) -> WmsRef {
    lw.client
        .create_order(&request(code, "SKU-1", qty))
        .await
        .expect("created")
}

#[tokio::test]
async fn a_created_order_is_found_by_its_code_with_the_same_id() {
    // Given an order created in Logiwa
    let lw = logiwa().await;
    let created = create(&lw, "FO-0000001", 2).await;
    // When it is looked up by code
    let found = lw.client.find_order("FO-0000001").await.expect("find").expect("exists");
    // Then it is the same order
    assert_eq!(found, created);
    assert_eq!(found.system, WmsSystem::named("logiwa"));
    // And the stored order carries our references and the documented fields
    let row = lw.state().shipment_order_by_code("FO-0000001").expect("stored");
    assert_eq!(row["clientReferenceCode"], "0a35g0000000001AAA");
    assert_eq!(row["channelOrderNumber"], "FO-0000001");
    assert_eq!(row["requestedCarrier"], "UPS");
    assert_eq!(row["products"][0]["quantity"], 2);
    assert!(lw.client.find_order("FO-NOPE").await.expect("find").is_none());
}

#[tokio::test]
async fn a_create_refused_before_it_committed_is_sent_again_after_looking_the_code_up() {
    // Given Logiwa answers the first create 503 without creating anything
    let lw = logiwa().await;
    lw.state()
        .add_fault(FaultRule::status(503).path_contains("/ShipmentOrder/create").times(1));
    let lists_before = lw.state().stats().family("shipmentorder.list");
    // When we create the order
    let created = create(&lw, "FO-0000001", 2).await;
    // Then the adapter looked the code up (absent) before sending again, and there is one order
    assert_eq!(lw.state().stats().family("shipmentorder.list") - lists_before, 1);
    assert_eq!(lw.state().shipment_orders().len(), 1);
    let row = lw.state().shipment_order_by_code("FO-0000001").expect("stored");
    assert_eq!(row["identifier"].as_str(), Some(created.id.as_str()));
}

#[tokio::test]
async fn a_create_that_timed_out_after_committing_is_not_sent_again() {
    // Given Logiwa takes longer than our timeout to answer the create, but commits it
    let lw = logiwa_with(|_| {}).await;
    lw.state().add_fault(
        FaultRule::latency(1_500)
            .path_contains("/ShipmentOrder/create")
            .times(1),
    );
    let mut config = LogiwaConfig::new("lw");
    config.http = crate::support::fast_http(200);
    config.http.request_timeout = std::time::Duration::from_secs(1);
    let client = Logiwa::new(config, lw.secrets()).expect("adapter");
    // When we create it (the first send times out)
    let created = client
        .create_order(&request("FO-0000007", "SKU-1", 1))
        .await
        .expect("created");
    // Then the lookup found the committed order and no second order was made
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        lw.state().shipment_orders().len(),
        1,
        "{:?}",
        lw.state().shipment_orders()
    );
    let row = lw.state().shipment_order_by_code("FO-0000007").expect("stored");
    assert_eq!(row["identifier"].as_str(), Some(created.id.as_str()));
}

#[tokio::test]
async fn a_commit_then_fail_on_create_resolves_to_the_committed_order() {
    // Given Logiwa creates the order and then answers 500
    let lw = logiwa().await;
    lw.state().add_fault(
        FaultRule::commit_then_fail()
            .path_contains("/ShipmentOrder/create")
            .times(1),
    );
    // When we create it
    let created = create(&lw, "FO-0000001", 2).await;
    // Then the adapter looked the code up instead of creating again, and found the committed order
    assert_eq!(lw.state().shipment_orders().len(), 1);
    let row = lw.state().shipment_order_by_code("FO-0000001").expect("stored");
    assert_eq!(row["identifier"].as_str(), Some(created.id.as_str()));
}

#[tokio::test]
async fn creating_with_an_unknown_sku_is_rejected_naming_the_field() {
    // Given a line with a SKU Logiwa does not know
    let lw = logiwa().await;
    // When it is created
    let err = lw
        .client
        .create_order(&request("FO-0000002", "NOPE", 1))
        .await
        .expect_err("rejected");
    // Then the rejection names the line's sku field
    match err {
        WmsError::Rejected { errors, .. } => {
            assert_eq!(errors[0].fields, vec!["shipmentOrderLineList[0].sku".to_owned()]);
            assert!(errors[0].message.contains("NOPE"), "{}", errors[0].message);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    // And a 400 is not retried
    assert_eq!(lw.client.call_counts().family("shipmentorder/create"), 1);
}

#[tokio::test]
async fn an_unsupported_currency_is_rejected_without_calling_logiwa() {
    let lw = logiwa().await;
    let mut req = request("FO-0000003", "SKU-1", 1);
    req.currency = CurrencyCode::parse("JPY").expect("jpy");
    let err = lw.client.create_order(&req).await.expect_err("rejected");
    match err {
        WmsError::Rejected { errors, .. } => assert_eq!(errors[0].fields, vec!["currency".to_owned()]),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(lw.state().stats().family("shipmentorder/create"), 0);
}

#[tokio::test]
async fn a_429_from_logiwa_is_retried() {
    // Given Logiwa throttles the next list call
    let lw = logiwa().await;
    create(&lw, "FO-0000001", 1).await;
    lw.state()
        .add_fault(FaultRule::status(429).path_contains("/ShipmentOrder/list").times(1));
    // When we look the order up
    let found = lw.client.find_order("FO-0000001").await.expect("retried");
    // Then it succeeded on the second attempt
    assert!(found.is_some());
    assert_eq!(lw.client.call_counts().family("shipmentorder/list"), 2);
}

#[tokio::test]
async fn persistent_throttling_ends_as_rate_limited() {
    let lw = logiwa().await;
    lw.state()
        .add_fault(FaultRule::status(429).path_contains("/ShipmentOrder/list"));
    let err = lw.client.find_order("FO-0000001").await.expect_err("throttled");
    assert!(matches!(err, WmsError::RateLimited { .. }), "{err:?}");
    assert_eq!(lw.client.call_counts().family("shipmentorder/list"), 3);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    // Given a token, then Logiwa forgets every token
    let lw = logiwa().await;
    create(&lw, "FO-0000001", 1).await;
    lw.state().expire_sessions();
    // When we call again
    assert!(lw.client.find_order("FO-0000001").await.expect("renewed").is_some());
    // Then exactly one more token was requested
    assert_eq!(lw.client.call_counts().family("auth"), 2);
}

#[tokio::test]
async fn a_split_shipment_reads_back_as_one_shipment_per_ship_event() {
    // Given an order for 3 units, shipped as 2 + 1 in two events
    let lw = logiwa().await;
    let order = create(&lw, "FO-0000001", 3).await;
    let ship = |tracking: &str, qty: i32| ShipRequest {
        packages: Some(vec![ShipPackage {
            tracking_number: Some(tracking.to_owned()),
            weight: None,
            lines: vec![ShipLine {
                sku: "SKU-1".into(),
                quantity: qty,
            }],
        }]),
        carrier_name: Some("UPS".into()),
        shipping_option_name: Some("Ground".into()),
        partial: true,
    };
    lw.state()
        .ship("FO-0000001", None, ship("1ZAAA", 2))
        .expect("first ship");
    let after_first = lw.client.shipments(&order).await.expect("read").shipments;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    lw.state()
        .ship("FO-0000001", None, ship("1ZBBB", 1))
        .expect("second ship");
    // When the shipments are read
    let shipments = lw.client.shipments(&order).await.expect("read").shipments;
    // Then there are two, each with its package, quantity and a stable key
    assert_eq!(shipments.len(), 2, "{shipments:#?}");
    assert_eq!(shipments[0].packages[0].tracking_number.as_str(), "1ZAAA");
    assert_eq!(shipments[0].lines[0].quantity.value(), Decimal::from(2));
    assert_eq!(shipments[0].packages[0].lines[0].sku.as_str(), "SKU-1");
    assert_eq!(shipments[1].packages[0].tracking_number.as_str(), "1ZBBB");
    assert_eq!(shipments[1].lines[0].quantity.value(), Decimal::from(1));
    assert_eq!(shipments[0].carrier.as_ref().map(|c| c.as_str()), Some("UPS"));
    assert_eq!(shipments[0].shipment_key, after_first[0].shipment_key);
    assert!(!after_first[0].order_complete);
    assert!(shipments.iter().all(|s| s.order_complete));
    assert_eq!(shipments[0].wms_order_id, order.id);
}

#[tokio::test]
async fn an_unshipped_order_has_no_shipments_and_an_unknown_one_is_not_found() {
    let lw = logiwa().await;
    let order = create(&lw, "FO-0000001", 1).await;
    assert!(lw.client.shipments(&order).await.expect("read").shipments.is_empty());
    let ghost = WmsRef {
        system: WmsSystem::named("logiwa"),
        id: WmsOrderId::parse("00000000-0000-4000-8000-000000000000").expect("id"),
        code: "FO-GHOST".into(),
    };
    assert!(matches!(
        lw.client.shipments(&ghost).await,
        Err(WmsError::NotFound { .. })
    ));
}

fn ship_one(lw: &Lw, code: &str, tracking: &str) {
    lw.state()
        .ship(code, None, ShipRequest::one_package(tracking, "SKU-1", 1, false))
        .expect("shipped");
}

#[tokio::test]
async fn the_order_listing_names_the_orders_changed_in_a_window_and_whether_they_shipped() {
    // Given an order changed before the window, and two changed inside it (one shipped)
    let mut lw = logiwa().await;
    let mut config = LogiwaConfig::new("lw");
    config.page_size = 2;
    lw.client = Logiwa::new(config, lw.creds.clone()).expect("adapter");
    let before = create(&lw, "FO-0000001", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let from = time::OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let open = create(&lw, "FO-0000002", 1).await;
    let shipped = create(&lw, "FO-0000003", 1).await;
    ship_one(&lw, "FO-0000003", "1ZSWEEP");
    let window = ChangeWindow {
        from,
        to: time::OffsetDateTime::now_utc(),
    };
    // When the changes in the window are listed (page size 2, so the listing spans pages)
    let changes = lw
        .client
        .order_changes(&window)
        .await
        .expect("read")
        .expect("supported");
    // Then exactly the two inside it are named, whole, each with its own stamp inside the window
    assert_eq!(changes.completeness, Completeness::Complete);
    let mut named: Vec<(String, bool)> = changes
        .orders
        .iter()
        .map(|c| (c.order.code.clone(), c.shipped))
        .collect();
    named.sort();
    assert_eq!(
        named,
        vec![("FO-0000002".to_owned(), false), ("FO-0000003".to_owned(), true)]
    );
    assert!(changes.orders.iter().all(|c| window.contains(c.changed_at)));
    assert!(!changes.orders.iter().any(|c| c.order.id == before.id));
    let listed = changes
        .orders
        .iter()
        .find(|c| c.order.id == shipped.id)
        .expect("listed");
    assert_eq!(listed.status.as_deref(), Some("Shipped"));
    assert!(changes.orders.iter().any(|c| c.order.id == open.id));
    // And a read of the shipped order carries the same WMS stamp as its listing row
    let read = lw.client.shipments(&shipped).await.expect("read");
    assert_eq!(read.changed_at, Some(listed.changed_at));
    assert_eq!(read.shipments.len(), 1);
}

#[tokio::test]
async fn an_offset_less_stamp_hours_off_is_kept_and_an_unreadable_row_is_skipped_not_fatal() {
    // Given a listing with an offset-less stamp 5 hours behind the window (a tenant west of UTC, as the
    // spec does not say which zone such stamps are in), a row that does not read as an order, and one
    // stamped in UTC inside the window
    let lw = logiwa().await;
    let window = ChangeWindow {
        from: time::macros::datetime!(2026-11-23 12:00 UTC),
        to: time::macros::datetime!(2026-11-23 12:05 UTC),
    };
    let rows = serde_json::json!({"totalCount": 4, "data": [
        {"identifier": "7c0e4b1a-2d3f-4e5a-8b6c-9d0e1f2a3b4c", "code": "FO-0000001",
         "updatedDateTime": "2026-11-23T07:02:00.000", "shipmentOrderStatusName": "Shipped"},
        {"identifier": null, "code": "FO-FOREIGN"},
        {"identifier": "8d1f5c2b-3e4a-4f6b-9c7d-0e1f2a3b4c5d", "code": "FO-0000002",
         "updatedDateTime": "2026-11-23T12:03:00.000Z"},
        {"identifier": "9e2a6d3c-4f5b-4a7c-8d8e-1f2a3b4c5d6e", "code": "FO-0000003",
         "updatedDateTime": "2026-11-22T12:03:00.000Z"}
    ]});
    lw.state().add_fault(
        FaultRule::status(200)
            .path_contains("/ShipmentOrder/list")
            .with_body(rows),
    );
    // When the changes in the window are listed
    let changes = lw
        .client
        .order_changes(&window)
        .await
        .expect("read")
        .expect("supported");
    // Then the offset-less row is kept, the stamped one outside the window is not, and the unreadable
    // row is counted rather than failing the listing
    let mut codes: Vec<&str> = changes.orders.iter().map(|c| c.order.code.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(codes, vec!["FO-0000001", "FO-0000002"]);
    assert_eq!(changes.unreadable, 1);
    assert_eq!(changes.completeness, Completeness::Complete);
}

#[tokio::test]
async fn the_order_listing_asks_for_whole_days_around_the_window() {
    // Given a window of a few minutes
    let lw = logiwa().await;
    let window = ChangeWindow {
        from: time::macros::datetime!(2026-11-23 10:00 UTC),
        to: time::macros::datetime!(2026-11-23 10:05 UTC),
    };
    // When the changes are listed
    lw.client
        .order_changes(&window)
        .await
        .expect("read")
        .expect("supported");
    // Then the filter is in the documented date form, widened by a day each side (tenant time zone unknown)
    let queries: Vec<String> = lw
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v3.1/ShipmentOrder/list"))
        .map(|r| r.query)
        .collect();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("UpdatedDateTime.bt=2026-11-22,2026-11-24")),
        "{queries:?}"
    );
}

#[tokio::test]
async fn inventory_pages_past_200_rows_and_aggregates_per_sku() {
    // Given 250 inventory rows in the warehouse: 40 seeded + 149 more of SKU-1, and 100 of SKU-2
    let lw = logiwa().await;
    let st = lw.state();
    st.add_product(waybill_simulators::logiwa::ProductSeed {
        identifier: None,
        client_identifier: lw.client_id,
        sku: "SKU-2".into(),
        name: Some("Other".into()),
        pack_types: vec!["Unit".into()],
    })
    .expect("product");
    let row = |sku: &str, i: usize, qty: i64, allocated: i64| InventorySeed {
        identifier: None,
        client_identifier: lw.client_id,
        warehouse_identifier: lw.warehouse,
        sku: sku.into(),
        location_code: format!("B-{i:03}"),
        quantity: qty,
        allocated,
        license_plate_number: None,
        lot_batch_number: None,
        pack_type: None,
        inventory_status_id: None,
    };
    for i in 0..149 {
        st.add_inventory(row("SKU-1", i, 2, 1)).expect("row");
    }
    for i in 0..100 {
        st.add_inventory(row("SKU-2", i, 1, 0)).expect("row");
    }
    assert_eq!(st.inventory_rows().len(), 250);
    // When the warehouse inventory is read
    let listing = lw
        .client
        .inventory(&LocationCode::parse(&lw.warehouse.to_string()).expect("wh"))
        .await
        .expect("inventory");
    // Then every row was read (two pages), the listing is whole, and rows are summed per SKU
    assert_eq!(lw.client.call_counts().family("inventory/list"), 2);
    assert_eq!(listing.completeness, Completeness::Complete);
    let positions = listing.positions;
    assert_eq!(positions.len(), 2);
    let sku1 = &positions[0];
    assert_eq!(sku1.sku.as_str(), "SKU-1");
    assert_eq!(sku1.on_hand.value(), Decimal::from(40 + 149 * 2));
    assert_eq!(sku1.available.value(), Decimal::from(40 + 149));
    assert_eq!(sku1.on_hand.unit().as_str(), "Unit");
    assert_eq!(positions[1].on_hand.value(), Decimal::from(100));
}

#[tokio::test]
async fn inventory_by_warehouse_code_keeps_only_that_warehouse() {
    // Given stock in WH1 and in another warehouse
    let lw = logiwa().await;
    let other = lw.state().add_warehouse("WH2");
    lw.state()
        .add_inventory(InventorySeed {
            identifier: None,
            client_identifier: lw.client_id,
            warehouse_identifier: other,
            sku: "SKU-1".into(),
            location_code: "Z-01".into(),
            quantity: 5,
            allocated: 0,
            license_plate_number: None,
            lot_batch_number: None,
            pack_type: None,
            inventory_status_id: None,
        })
        .expect("row");
    // When WH1 is read by code
    let listing = lw
        .client
        .inventory(&LocationCode::parse("WH1").expect("wh"))
        .await
        .expect("inventory");
    // Then the listing is whole (rows of WH2 count towards totalCount, then are dropped)
    assert_eq!(listing.completeness, Completeness::Complete);
    let positions = listing.positions;
    // Then only WH1's 40 units count
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].on_hand.value(), Decimal::from(40));
    assert_eq!(positions[0].location.as_str(), "WH1");
}

#[tokio::test]
async fn no_retry_starts_when_it_cannot_finish_before_the_deadline() {
    // Given an adapter whose back-off is longer than the time left, and a Logiwa that always answers 503
    let lw = logiwa().await;
    let mut config = waybill::adapters::logiwa::LogiwaConfig::new("lw");
    config.http = crate::support::fast_http(200);
    config.http.retry.min_delay = std::time::Duration::from_millis(500);
    config.http.retry.max_delay = std::time::Duration::from_millis(500);
    let secrets = crate::support::MemorySecrets::with(
        "lw",
        serde_json::json!({"base_url": lw.sim.base_url(), "email": "sim@waybill.test", "password": "sim-password"}),
    );
    let client = waybill::adapters::logiwa::Logiwa::new(config, secrets).expect("adapter");
    lw.state()
        .add_fault(FaultRule::status(503).path_contains("/ShipmentOrder/list"));
    client.set_deadline(Some(
        tokio::time::Instant::now() + std::time::Duration::from_millis(300),
    ));
    // When a call fails transiently
    let err = client.find_order("FO-0000001").await.expect_err("unavailable");
    // Then it gives up after the first attempt instead of sleeping past the deadline
    assert!(matches!(err, WmsError::Unavailable { .. }), "{err:?}");
    assert_eq!(client.call_counts().family("shipmentorder/list"), 1);
    // And once the deadline has passed nothing is sent at all
    client.set_deadline(Some(tokio::time::Instant::now()));
    assert!(matches!(
        client.find_order("FO-0000001").await,
        Err(WmsError::Transport { .. })
    ));
    assert_eq!(client.call_counts().family("shipmentorder/list"), 1);
}

fn warehouse(lw: &Lw) -> LocationCode {
    LocationCode::parse(&lw.warehouse.to_string()).expect("wh")
}

fn add_sku(lw: &Lw, sku: &str, location: &str, qty: i64) {
    lw.state()
        .add_product(waybill_simulators::logiwa::ProductSeed {
            identifier: None,
            client_identifier: lw.client_id,
            sku: sku.into(),
            name: None,
            pack_types: vec!["Unit".into()],
        })
        .expect("product");
    lw.state()
        .add_inventory(InventorySeed {
            identifier: None,
            client_identifier: lw.client_id,
            warehouse_identifier: lw.warehouse,
            sku: sku.into(),
            location_code: location.into(),
            quantity: qty,
            allocated: 0,
            license_plate_number: None,
            lot_batch_number: None,
            pack_type: None,
            inventory_status_id: None,
        })
        .expect("row");
}

#[tokio::test]
async fn a_page_shorter_than_its_total_makes_the_listing_incomplete() {
    // Given three SKUs, and a Logiwa whose page comes back with one row while totalCount says three
    let lw = logiwa().await;
    add_sku(&lw, "SKU-2", "B-01", 5);
    add_sku(&lw, "SKU-3", "B-02", 7);
    lw.state()
        .add_fault(FaultRule::truncate_list(1).path_contains("/Inventory/list").times(1));
    // When the warehouse is read
    let listing = lw.client.inventory(&warehouse(&lw)).await.expect("inventory");
    // Then the listing says it is not whole, and why
    assert!(
        matches!(&listing.completeness, Completeness::Incomplete { reason } if reason.contains("totalCount is 3")),
        "{:?}",
        listing.completeness
    );
    // And read again without the fault, it is whole
    let again = lw.client.inventory(&warehouse(&lw)).await.expect("inventory");
    assert_eq!(again.completeness, Completeness::Complete);
    assert_eq!(again.positions.len(), 3);
}

#[tokio::test]
async fn an_empty_page_that_contradicts_its_total_is_incomplete_but_no_content_is_an_empty_warehouse() {
    let lw = logiwa().await;
    // An empty page whose totalCount says 3: not "the warehouse is empty"
    lw.state().add_fault(
        FaultRule::status(200)
            .path_contains("/Inventory/list")
            .with_body(serde_json::json!({"data": [], "totalCount": 3}))
            .times(1),
    );
    let contradicted = lw.client.inventory(&warehouse(&lw)).await.expect("inventory");
    assert!(contradicted.positions.is_empty());
    assert!(!contradicted.completeness.is_complete());
    // A 204 on the first page: the spec's "successful, no content", i.e. nothing in stock
    lw.state()
        .add_fault(FaultRule::status(204).path_contains("/Inventory/list").times(1));
    let none = lw.client.inventory(&warehouse(&lw)).await.expect("inventory");
    assert!(none.positions.is_empty());
    assert_eq!(none.completeness, Completeness::Complete);
}

#[tokio::test]
async fn one_sku_is_read_with_a_sku_filter_and_an_empty_whole_answer_means_gone() {
    // Given SKU-1 in stock and SKU-2 removed from the warehouse
    let lw = logiwa().await;
    add_sku(&lw, "SKU-2", "B-01", 5);
    lw.state()
        .remove_inventory(waybill_simulators::logiwa::RemoveRequest {
            client_identifier: None,
            warehouse_identifier: lw.warehouse,
            sku: "SKU-2".into(),
            location_code: None,
            reason: None,
        })
        .expect("removed");
    // When each is read on its own
    let one = lw
        .client
        .inventory_of(&warehouse(&lw), &Sku::parse("SKU-1").expect("sku"))
        .await
        .expect("read");
    let gone = lw
        .client
        .inventory_of(&warehouse(&lw), &Sku::parse("SKU-2").expect("sku"))
        .await
        .expect("read");
    // Then SKU-1 has its 40 and SKU-2 is positively reported gone: a whole listing without it
    assert_eq!(one.positions.len(), 1);
    assert_eq!(one.positions[0].on_hand.value(), Decimal::from(40));
    assert_eq!(gone.completeness, Completeness::Complete);
    assert!(gone.positions.is_empty());
    // And the calls filtered by SKU
    let queries: Vec<String> = lw
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.family == "inventory.list")
        .map(|r| r.query)
        .collect();
    assert!(queries.iter().any(|q| q.contains("Sku.eq=SKU-1")), "{queries:?}");
    assert!(queries.iter().any(|q| q.contains("Sku.eq=SKU-2")), "{queries:?}");
}

#[tokio::test]
async fn the_change_feed_asks_for_whole_days_and_keeps_only_transactions_inside_the_window() {
    // Given stock movements today: the seed's receipt of SKU-1 and a new SKU-2
    let lw = logiwa().await;
    add_sku(&lw, "SKU-2", "B-01", 5);
    let now = time::OffsetDateTime::now_utc();
    let window = ChangeWindow {
        from: now - time::Duration::minutes(5),
        to: now + time::Duration::seconds(1),
    };
    // When the feed is read for a window around now
    let changes = lw
        .client
        .inventory_changes(&warehouse(&lw), &window)
        .await
        .expect("feed")
        .expect("logiwa has a feed");
    // Then both SKUs changed, and the feed is whole
    assert_eq!(
        changes.skus.iter().map(Sku::as_str).collect::<Vec<_>>(),
        vec!["SKU-1", "SKU-2"]
    );
    assert_eq!(changes.transactions, 2);
    assert_eq!(changes.completeness, Completeness::Complete);
    // And the request carried whole days only (the filter is typed `date`), around today
    let sent = lw.state().requests().pop().expect("request");
    assert_eq!(sent.family, "report.transactionhistory");
    let bt = sent
        .query
        .split('&')
        .find_map(|kv| kv.strip_prefix("TransactionDate.bt="))
        .expect("date filter");
    assert!(bt.len() == 21 && !bt.contains('T'), "{bt}");
    // When the window lies an hour ahead (same days on the server's side)
    let later = ChangeWindow {
        from: now + time::Duration::hours(1),
        to: now + time::Duration::hours(2),
    };
    let none = lw
        .client
        .inventory_changes(&warehouse(&lw), &later)
        .await
        .expect("feed")
        .expect("feed");
    // Then the rows the day filter returned are dropped by their own time
    assert!(none.skus.is_empty(), "{:?}", none.skus);
    assert_eq!(none.completeness, Completeness::Complete);
}

#[tokio::test]
async fn a_change_feed_page_shorter_than_its_total_is_incomplete() {
    let lw = logiwa().await;
    add_sku(&lw, "SKU-2", "B-01", 5);
    lw.state().add_fault(
        FaultRule::truncate_list(0)
            .path_contains("/Report/TransactionHistory")
            .times(1),
    );
    let now = time::OffsetDateTime::now_utc();
    let window = ChangeWindow {
        from: now - time::Duration::minutes(5),
        to: now,
    };
    let changes = lw
        .client
        .inventory_changes(&warehouse(&lw), &window)
        .await
        .expect("feed")
        .expect("feed");
    assert!(changes.skus.is_empty());
    assert!(!changes.completeness.is_complete(), "{:?}", changes.completeness);
}

#[tokio::test]
async fn an_authentication_outage_fails_queued_calls_at_once_instead_of_each_retrying_the_token() {
    // Given Logiwa's token endpoint answering 503 to everything (an outage), and no token yet
    let lw = logiwa().await;
    lw.state()
        .add_fault(FaultRule::status(503).path_contains("/Authorize/token"));
    // When ten calls go out at once through one adapter (one batch's orders)
    let started = std::time::Instant::now();
    let results = futures::future::join_all((0..10).map(|n| {
        let client = &lw.client;
        async move { client.find_order(&format!("FO-{n:07}")).await }
    }))
    .await;
    // Then every call fails as retryable, only the first fetch ran its attempts (three), and the others
    // did not queue up a retry series each, so the batch fails in about one fetch's time
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(e) if waybill::error::Classified::is_retryable(e))),
        "{results:?}"
    );
    assert_eq!(lw.client.call_counts().family("auth"), 3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

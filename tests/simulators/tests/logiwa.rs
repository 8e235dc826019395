//! Logiwa simulator behaviour over HTTP: token, validation, lists, shipping and webhooks.

use crate::support::{send, Lw, Receiver, CLIENT, WAREHOUSE};
use serde_json::{json, Value};
use std::time::Duration;
use waybill_simulators::logiwa::{LogiwaConfig, LogiwaSeed, RateTier, ShipLine, ShipPackage, ShipRequest};

#[tokio::test]
async fn the_token_reply_is_a_single_token_field_and_bad_credentials_get_problem_details() {
    let lw = Lw::start_default().await;
    let url = lw.url("Authorize/token");
    // When the right credentials are sent
    let ok = send(
        lw.http
            .post(&url)
            .json(&json!({"email": "sim@waybill.test", "password": "sim-password"})),
    )
    .await;
    // Then the reply is OpenAPITokenResponse: exactly {token}
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.as_object().map(|m| m.len()), Some(1));
    assert!(ok.body["token"].as_str().is_some_and(|t| !t.is_empty()));
    // And wrong credentials get 401 ProblemDetails, missing ones 400 OpenAPIExceptionMessage
    let bad = send(
        lw.http
            .post(&url)
            .json(&json!({"email": "sim@waybill.test", "password": "x"})),
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["status"], json!(401));
    assert_eq!(bad.body["title"], json!("Unauthorized"));
    assert!(bad.body["traceId"].is_string());
    let missing = send(lw.http.post(&url).json(&json!({"email": "sim@waybill.test"}))).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, json!({"message": "The Password field is required."}));
}

#[tokio::test]
async fn calls_without_a_valid_token_get_401_problem_details() {
    let lw = Lw::start_default().await;
    let none = send(lw.http.get(lw.url("ShipmentOrder/list/i/0/s/10"))).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["status"], json!(401));
    // And a token stops working when sessions are expired
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/10").await.status, 200);
    lw.state().expire_sessions();
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/10").await.status, 401);
}

#[tokio::test]
async fn create_validation_names_the_missing_required_fields() {
    let lw = Lw::start_default().await;
    // When an order lacks code, currencyId and lines
    let r = lw
        .post(
            "ShipmentOrder/create",
            &json!({"clientIdentifier": CLIENT, "warehouseIdentifier": WAREHOUSE,
                "shipmentOrderDate": "2026-11-23T00:00:00Z", "shipmentOrderType": "Shipment Order"}),
        )
        .await;
    // Then a 400 OpenAPIExceptionMessage names each one
    assert_eq!(r.status, 400);
    let msg = r.body["message"].as_str().expect("message");
    assert!(msg.contains("The Code field is required."), "{msg}");
    assert!(msg.contains("The CurrencyId field is required."), "{msg}");
    assert!(msg.contains("The ShipmentOrderLineList field is required."), "{msg}");
    assert_eq!(r.body.as_object().map(|m| m.len()), Some(1));
}

#[tokio::test]
async fn create_rejects_unknown_skus_bad_pack_types_and_non_positive_quantities() {
    let lw = Lw::start_default().await;
    let mut unknown_sku = Lw::order("FO-1", 1);
    unknown_sku["shipmentOrderLineList"][0]["sku"] = json!("NOPE");
    let r = lw.post("ShipmentOrder/create", &unknown_sku).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        json!("shipmentOrderLineList[0].sku: Product not found. Sku: NOPE")
    );

    let mut bad_pack = Lw::order("FO-1", 1);
    bad_pack["shipmentOrderLineList"][0]["packType"] = json!("Crate");
    let r = lw.post("ShipmentOrder/create", &bad_pack).await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("packType")));

    let zero = lw.post("ShipmentOrder/create", &Lw::order("FO-1", 0)).await;
    assert_eq!(zero.status, 400);
    assert!(zero.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("packQuantity")));

    let mut fractional = Lw::order("FO-1", 1);
    fractional["shipmentOrderLineList"][0]["packQuantity"] = json!(1.5);
    let r = lw.post("ShipmentOrder/create", &fractional).await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("System.Int32")));

    let mut unknown_client = Lw::order("FO-1", 1);
    unknown_client["clientIdentifier"] = json!("00000000-0000-0000-0000-000000000001");
    assert_eq!(
        lw.post("ShipmentOrder/create", &unknown_client).await.body["message"],
        json!("Client not found.")
    );
    assert!(lw.state().shipment_orders().is_empty());
}

#[tokio::test]
async fn create_returns_a_guid_result_and_a_reused_code_makes_a_second_order() {
    let lw = Lw::start_default().await;
    // When an order is created and the same code is sent again
    let first = lw.post("ShipmentOrder/create", &Lw::order("FO-0000001", 2)).await;
    let again = lw.post("ShipmentOrder/create", &Lw::order("FO-0000001", 2)).await;
    // Then both answer 201 GuidResult: the spec documents no duplicate check, so the simulator is as
    // strict as the real system could be and makes a second order with the same code
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    let id = first.body["data"].as_str().expect("guid");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_ne!(again.body["data"], first.body["data"]);
    assert_eq!(
        lw.state()
            .shipment_orders()
            .iter()
            .filter(|o| o["code"] == "FO-0000001")
            .count(),
        2
    );
    // And the order reads back as Pending with its line
    let got = lw.get(&format!("ShipmentOrder/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["code"], json!("FO-0000001"));
    assert_eq!(got.body["shipmentOrderStatusId"], json!(10));
    assert_eq!(got.body["shipmentOrderStatusName"], json!("Pending"));
    assert_eq!(got.body["products"][0]["productSKU"], json!("SKU-1"));
    assert_eq!(got.body["products"][0]["quantity"], json!(2));
    assert_eq!(got.body["warehouseCode"], json!("WH1"));
}

#[tokio::test]
async fn list_filters_by_code_eq_and_caps_page_size_at_200() {
    let lw = Lw::start_default().await;
    for code in ["FO-A", "FO-B", "FO-C"] {
        assert_eq!(lw.post("ShipmentOrder/create", &Lw::order(code, 1)).await.status, 201);
    }
    let one = lw.get("ShipmentOrder/list/i/0/s/50?Code.eq=FO-B").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["totalCount"], json!(1));
    assert_eq!(one.body["data"][0]["code"], json!("FO-B"));
    let case = lw.get("ShipmentOrder/list/i/0/s/50?Code.eq=fo-b").await;
    assert_eq!(case.body["totalCount"], json!(0), "LQL strings are case-sensitive");
    let paged = lw.get("ShipmentOrder/list/i/1/s/2").await;
    assert_eq!(paged.body["totalCount"], json!(3));
    assert_eq!(paged.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(paged.body["data"][0]["code"], json!("FO-C"));
    let too_big = lw.get("ShipmentOrder/list/i/0/s/201").await;
    assert_eq!(too_big.status, 400);
    let bad_filter = lw.get("ShipmentOrder/list/i/0/s/10?Nope.eq=1").await;
    assert_eq!(bad_filter.status, 400);
    let by_status = lw.get("ShipmentOrder/list/i/0/s/10?Status.in=Pending,Shipped").await;
    assert_eq!(by_status.body["totalCount"], json!(3));
}

#[tokio::test]
async fn shipping_delivers_statuschange_and_shipment_webhooks_to_a_local_receiver() {
    // Given a receiver subscribed to both topics and an order for 3 units
    let lw = Lw::start_default().await;
    let rx = Receiver::start(vec![]).await;
    let sub_ship = lw
        .post("Webhook/create", &json!({"topic": "wms/shipmentorder/shipment", "address": format!("{}/shipment", rx.base_url), "ignoreClient": true}))
        .await;
    assert_eq!(sub_ship.status, 201);
    let sub_status = lw
        .post("Webhook/create", &json!({"topic": "wms/shipmentorder/statuschange", "address": format!("{}/status", rx.base_url), "clientIdentifier": CLIENT}))
        .await;
    assert_eq!(sub_status.status, 201);
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-7", 3)).await.status, 201);

    // When the warehouse ships 1 unit in a package with a known tracking number
    let req = ShipRequest {
        packages: Some(vec![ShipPackage {
            tracking_number: Some("TRK-1".into()),
            weight: Some(2.5),
            lines: vec![ShipLine {
                sku: "SKU-1".into(),
                quantity: 1,
            }],
        }]),
        carrier_name: Some("FedEx".into()),
        shipping_option_name: Some("Home".into()),
        partial: false,
    };
    let shipped = lw.state().ship("FO-7", None, req).expect("ship works");
    assert_eq!(shipped["shipmentOrderStatusName"], json!("Partially Shipped"));

    // Then the receiver gets a statuschange and a shipment body with the package, as wms-apis.md §1.6 shows them
    let hits = rx.wait_for(2).await;
    assert_eq!(hits.len(), 2, "{hits:?}");
    let status = hits
        .iter()
        .find(|(p, _)| p == "status")
        .map(|(_, b)| b.clone())
        .expect("statuschange");
    let order_id = lw.state().shipment_order_by_code("FO-7").expect("order")["identifier"].clone();
    assert_eq!(
        status,
        json!({"Identifier": order_id, "Code": "FO-7", "PreviousStatus": "Pending",
               "CurrentStatus": "PartiallyShipped", "ClientId": 10001}),
        "exactly the five documented keys"
    );
    let ship = hits
        .iter()
        .find(|(p, _)| p == "shipment")
        .map(|(_, b)| b.clone())
        .expect("shipment");
    assert_eq!(ship["ShipmentOrderIdentifier"], order_id);
    assert_eq!(ship["ShipmentOrderCode"], json!("FO-7"));
    assert_eq!(ship["WarehouseCode"], json!("WH1"));
    assert_eq!(ship["ClientIdentifier"], json!(CLIENT));
    assert_eq!(ship["ChannelOrderNumber"], Value::Null, "nulls are explicit");
    assert_eq!(ship["MasterTrackingNumber"], json!("TRK-1"));
    assert_eq!(ship["OrderCarrierTrackingNumbers"], json!("TRK-1"));
    assert!(ship.get("shipmentOrderStatusName").is_none() && ship.get("CurrentStatus").is_none());
    let date = ship["ShipmentDate"].as_str().expect("ShipmentDate");
    assert_eq!(fraction_digits(date), 7, "{date}");
    let package = &ship["ShipmentPackageList"][0];
    assert_eq!(ship["ShipmentPackageList"].as_array().map(Vec::len), Some(1));
    assert_eq!(package["TrackingNumber"], json!("TRK-1"));
    assert_eq!(package["Carrier"], json!("FedEx"));
    assert_eq!(package["CarrierSetupShippingOption"], json!("Home"));
    assert_eq!(package["Weight"], json!(2.5));
    assert_eq!(package["LabelUpdatedDateTime"], Value::Null);
    let label = package["LabelCreatedDateTime"].as_str().expect("LabelCreatedDateTime");
    assert_eq!(fraction_digits(label), 3, "{label}");
    assert_eq!(package["ProductList"][0]["Sku"], json!("SKU-1"));
    assert_eq!(package["ProductList"][0]["PackQuantity"], json!(1));
    assert_eq!(package["ProductList"][0]["PackTypeName"], json!("Unit"));

    // And Webhook/status shows one successful try
    let sub_id = sub_ship.body["data"].as_str().expect("id");
    let st = lw.get(&format!("Webhook/status/{sub_id}")).await;
    assert_eq!(st.status, 200);
    assert_eq!(st.body["tryCount"], json!(1));
    assert_eq!(st.body["httpLastHookStatus"], json!(200));

    // When the rest ships with the defaults
    lw.state()
        .ship("FO-7", None, ShipRequest::default())
        .expect("ship rest");
    let hits = rx.wait_for(4).await;
    let last_ship = hits
        .iter()
        .rev()
        .find(|(p, _)| p == "shipment")
        .map(|(_, b)| b.clone())
        .expect("second shipment");
    let last_status = hits
        .iter()
        .rev()
        .find(|(p, _)| p == "status")
        .map(|(_, b)| b.clone())
        .expect("second statuschange");
    // Then the order is Shipped, only the new package is in ShipmentPackageList, and the order-level
    // tracking string lists both packages
    assert_eq!(last_status["PreviousStatus"], json!("PartiallyShipped"));
    assert_eq!(last_status["CurrentStatus"], json!("Shipped"));
    assert_eq!(last_ship["ShipmentPackageList"].as_array().map(Vec::len), Some(1));
    let second = &last_ship["ShipmentPackageList"][0];
    assert_eq!(second["ProductList"][0]["PackQuantity"], json!(2));
    let tracking = second["TrackingNumber"].as_str().expect("tracking");
    assert_ne!(tracking, "TRK-1");
    assert_eq!(last_ship["MasterTrackingNumber"], json!(tracking));
    assert_eq!(
        last_ship["OrderCarrierTrackingNumbers"],
        json!(format!("TRK-1,{tracking}"))
    );
}

/// Digits after the decimal point of a `…:SS.fffZ` timestamp.
fn fraction_digits(t: &str) -> usize {
    t.split_once('.').map_or(0, |(_, f)| f.trim_end_matches('Z').len())
}

#[tokio::test]
async fn a_status_change_by_the_warehouse_posts_pascal_case_status_names() {
    // Given a receiver subscribed to statuschange and a Pending order
    let lw = Lw::start_default().await;
    let rx = Receiver::start(vec![]).await;
    let sub = lw
        .post("Webhook/create", &json!({"topic": "wms/shipmentorder/statuschange", "address": format!("{}/status", rx.base_url), "ignoreClient": true}))
        .await;
    assert_eq!(sub.status, 201);
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-S", 1)).await.status, 201);
    // When the warehouse moves it to "Ready to Pick", then sets the same status again
    lw.state().set_status("FO-S", None, "Ready to Pick").expect("status");
    lw.state()
        .set_status("FO-S", None, "Ready to Pick")
        .expect("same status");
    // Then one statuschange arrives, its names PascalCase without spaces (wms-apis.md §1.6 [WG])
    assert_eq!(
        lw.state().webhook_deliveries().len(),
        1,
        "no event for an unchanged status"
    );
    let hits = rx.wait_for(1).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].1["PreviousStatus"], json!("Pending"));
    assert_eq!(hits[0].1["CurrentStatus"], json!("ReadyToPick"));
    assert!(hits[0].1["ClientId"].is_i64());
}

#[tokio::test]
async fn webhook_delivery_is_retried_until_the_receiver_accepts() {
    // Given a receiver that fails twice
    let lw = Lw::start_default().await;
    let rx = Receiver::start(vec![500, 503]).await;
    let sub = lw
        .post("Webhook/create", &json!({"topic": "wms/shipmentorder/shipment", "address": format!("{}/hook", rx.base_url), "ignoreClient": true}))
        .await;
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-R", 1)).await.status, 201);
    // When the order ships
    lw.state().ship("FO-R", None, ShipRequest::default()).expect("ship");
    // Then the same body arrives three times and the third is accepted
    let hits = rx.wait_for(3).await;
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].1, hits[2].1);
    let sub_id = sub.body["data"].as_str().expect("id").to_string();
    let mut status = Value::Null;
    for _ in 0..100 {
        status = lw.get(&format!("Webhook/status/{sub_id}")).await.body;
        if status["httpLastHookStatus"] == json!(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status["tryCount"], json!(3));
    assert_eq!(status["httpLastHookStatus"], json!(200));
}

#[tokio::test]
async fn carrier_labels_and_order_reads_reflect_the_shipment() {
    let lw = Lw::start_default().await;
    let id = lw.post("ShipmentOrder/create", &Lw::order("FO-L", 2)).await.body["data"].clone();
    lw.state().ship("FO-L", None, ShipRequest::default()).expect("ship");
    let labels = lw
        .get("ShipmentOrder/carrierlabel/list/i/0/s/10?ShipmentOrderCode.eq=FO-L")
        .await;
    assert_eq!(labels.status, 200);
    assert_eq!(labels.body["totalCount"], json!(1));
    let tracking = labels.body["data"][0]["trackingNumber"]
        .as_str()
        .expect("tracking")
        .to_string();
    assert_eq!(labels.body["data"][0]["carrierName"], json!("UPS"));
    let got = lw.get(&format!("ShipmentOrder/{}", id.as_str().expect("id"))).await;
    assert_eq!(got.body["trackingNumbers"], json!([tracking]));
    assert_eq!(got.body["shipmentOrderStatusId"], json!(50));
    assert_eq!(got.body["products"][0]["shippedUOMQuantity"], json!(2));
    let by_tracking = lw
        .get(&format!(
            "ShipmentOrder/carrierlabel/list/i/0/s/10?TrackingNumber.eq={tracking}"
        ))
        .await;
    assert_eq!(by_tracking.body["data"][0]["shipmentOrderCode"], json!("FO-L"));
    let list = lw
        .get("ShipmentOrder/list/i/0/s/10?ActualShipmentDate.bt=2000-01-01,2999-12-31")
        .await;
    assert_eq!(list.body["totalCount"], json!(1));
    assert_eq!(list.body["data"][0]["shipmentInfo"][0]["productSku"], json!("SKU-1"));
}

#[tokio::test]
async fn inventory_list_filters_by_sku_and_shipping_decrements_available_quantity() {
    let lw = Lw::start_default().await;
    let before = lw
        .get(&format!(
            "Inventory/list/i/0/s/10?Sku.eq=SKU-1&WarehouseIdentifier.eq={WAREHOUSE}"
        ))
        .await;
    assert_eq!(before.status, 200);
    assert_eq!(before.body["data"][0]["availableQuantity"], json!(40));
    assert_eq!(before.body["data"][0]["warehouseLocationCode"], json!("A-01-01"));
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-I", 5)).await.status, 201);
    lw.state().ship("FO-I", None, ShipRequest::default()).expect("ship");
    let after = lw.get("Inventory/list/i/0/s/10?Sku.eq=SKU-1").await;
    assert_eq!(after.body["data"][0]["availableQuantity"], json!(35));
    assert_eq!(after.body["data"][0]["totalQuantity"], json!(35));
    let none = lw.get("Inventory/list/i/0/s/10?Sku.eq=OTHER").await;
    assert_eq!(none.body["totalCount"], json!(0));
}

#[tokio::test]
async fn the_basic_rate_limit_answers_429_without_retry_after() {
    let lw = Lw::start(LogiwaConfig {
        seed: LogiwaSeed::demo(),
        ..LogiwaConfig::default()
    })
    .await;
    lw.state().set_rate_limit(Some(RateTier::Basic));
    let a = lw.get("ShipmentOrder/list/i/0/s/1").await;
    let b = lw.get("ShipmentOrder/list/i/0/s/1").await;
    let c = lw.get("ShipmentOrder/list/i/0/s/1").await;
    assert_eq!((a.status, b.status, c.status), (200, 200, 429));
    assert!(c.header("retry-after").is_none());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(lw.get("ShipmentOrder/list/i/0/s/1").await.status, 200);
}

#[tokio::test]
async fn webhook_subscriptions_validate_and_can_be_listed_and_removed() {
    let lw = Lw::start_default().await;
    let bad_topic = lw
        .post(
            "Webhook/create",
            &json!({"topic": "wms/nope", "address": "http://x.test/", "ignoreClient": true}),
        )
        .await;
    assert_eq!(bad_topic.status, 400);
    let no_client = lw
        .post(
            "Webhook/create",
            &json!({"topic": "wms/shipmentorder/shipment", "address": "http://x.test/"}),
        )
        .await;
    assert_eq!(no_client.status, 400);
    let ok = lw
        .post(
            "Webhook/create",
            &json!({"topic": "wms/shipmentorder/shipment", "address": "http://x.test/", "clientIdentifier": CLIENT}),
        )
        .await;
    assert_eq!(ok.status, 201);
    let id = ok.body["data"].as_str().expect("id").to_string();
    assert_eq!(lw.get("Webhook/list").await.body["totalCount"], json!(1));
    let del = send(
        lw.http
            .delete(lw.url(&format!("Webhook/unsubscribe/{id}")))
            .bearer_auth(&lw.token),
    )
    .await;
    assert_eq!(del.status, 200);
    assert_eq!(lw.get("Webhook/list").await.body["totalCount"], json!(0));
}

fn today() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::now_utc().date().format(&fmt).expect("date")
}

#[tokio::test]
async fn every_stock_change_is_listed_in_the_transaction_history_newest_first() {
    // Given the demo seed (a receipt of 40 SKU-1) and a shipped order
    let lw = Lw::start_default().await;
    assert_eq!(lw.post("ShipmentOrder/create", &Lw::order("FO-T", 3)).await.status, 201);
    lw.state().ship("FO-T", None, ShipRequest::default()).expect("ship");
    // And an adjustment and a removal made by the warehouse
    let wh = uuid::Uuid::parse_str(WAREHOUSE).expect("uuid");
    lw.state()
        .adjust_inventory(waybill_simulators::logiwa::AdjustRequest {
            client_identifier: None,
            warehouse_identifier: wh,
            sku: "SKU-1".into(),
            location_code: None,
            delta: -2,
            reason: Some("cycle count".into()),
        })
        .expect("adjust");
    lw.state()
        .remove_inventory(waybill_simulators::logiwa::RemoveRequest {
            client_identifier: None,
            warehouse_identifier: wh,
            sku: "SKU-1".into(),
            location_code: Some("A-01-01".into()),
            reason: None,
        })
        .expect("remove");
    // When today's history is listed
    let day = today();
    let r = lw
        .get(&format!(
            "Report/TransactionHistory/i/0/s/10?TransactionDate.bt={day},{day}&WarehouseIdentifier.eq={WAREHOUSE}"
        ))
        .await;
    // Then it has the receipt, the shipment, the adjustment and the removal, newest first
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalCount"], json!(4));
    let kinds: Vec<&str> = r.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|t| t["transactionTypeDefinition"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, vec!["Inventory Removal", "Adjustment", "Shipment", "Receive"]);
    let shipment = &r.body["data"][2];
    assert_eq!(shipment["productSKU"], json!("SKU-1"));
    assert_eq!(shipment["shipmentOrderCode"], json!("FO-T"));
    assert_eq!(shipment["fromLocationCode"], json!("A-01-01"));
    assert_eq!(shipment["actionUOMQuantity"], json!(3));
    assert!(shipment["transactionDateTime"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(r.body["data"][0]["actionUOMQuantity"], json!(35));
    // And the removed row is gone from the inventory list
    let inv = lw.get("Inventory/list/i/0/s/10?Sku.eq=SKU-1").await;
    assert_eq!(inv.body["totalCount"], json!(0));
}

#[tokio::test]
async fn the_transaction_date_filter_takes_whole_days_only_and_is_required() {
    let lw = Lw::start_default().await;
    // A datetime bound is refused: the spec types TransactionDate as a date
    let precise = lw
        .get("Report/TransactionHistory/i/0/s/10?TransactionDate.bt=2026-11-23T10:00:00Z,2026-11-23T11:00:00Z")
        .await;
    assert_eq!(precise.status, 400);
    assert!(precise.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("TransactionDate")));
    // No date range at all is refused too
    assert_eq!(lw.get("Report/TransactionHistory/i/0/s/10").await.status, 400);
    // A day range in the past lists nothing; filters combine
    let past = lw
        .get("Report/TransactionHistory/i/0/s/10?TransactionDate.bt=2000-01-01,2000-01-02")
        .await;
    assert_eq!(past.body["totalCount"], json!(0));
    let day = today();
    let other_sku = lw
        .get(&format!(
            "Report/TransactionHistory/i/0/s/10?TransactionDate.bt={day},{day}&Sku.eq=OTHER&ClientIdentifier.eq={CLIENT}"
        ))
        .await;
    assert_eq!(other_sku.body["totalCount"], json!(0));
    // And the request log shows what was asked, for client tests to assert on
    let last = lw.state().requests().pop().expect("logged");
    assert_eq!(last.family, "report.transactionhistory");
    assert!(last.query.contains("Sku.eq=OTHER"), "{}", last.query);
}

#[tokio::test]
async fn a_truncated_list_page_keeps_its_total() {
    let lw = Lw::start_default().await;
    lw.state().add_fault(
        waybill_simulators::FaultRule::truncate_list(0)
            .path_contains("/Inventory/list")
            .times(1),
    );
    let short = lw.get("Inventory/list/i/0/s/10").await;
    assert_eq!(short.status, 200);
    assert_eq!(short.body["data"], json!([]));
    assert_eq!(short.body["totalCount"], json!(1));
    let whole = lw.get("Inventory/list/i/0/s/10").await;
    assert_eq!(whole.body["data"].as_array().map(Vec::len), Some(1));
}

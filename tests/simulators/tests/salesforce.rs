//! Salesforce simulator behaviour over HTTP: OAuth, sessions, limits, sObjects, upsert,
//! collections, composite and SOQL.

use crate::support::{send, Sf};
use serde_json::{json, Value};
use std::time::Duration;
use waybill_simulators::salesforce::{demo_seed, SalesforceConfig, SeedRecord};

fn demo() -> SalesforceConfig {
    SalesforceConfig {
        seed: demo_seed(),
        ..SalesforceConfig::default()
    }
}

#[tokio::test]
async fn oauth_client_credentials_returns_a_bearer_token_pointing_at_the_sim() {
    // Given a running simulator
    let sf = Sf::start(SalesforceConfig::default()).await;
    let base = sf.sim.base_url();
    let token_url = format!("{base}/services/oauth2/token");
    // When a client asks for a token with the right credentials
    let ok = send(sf.http.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "waybill-sim-client"),
        ("client_secret", "waybill-sim-secret"),
    ]))
    .await;
    // Then it gets the documented fields, with instance_url = the sim
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["token_type"], json!("Bearer"));
    assert_eq!(ok.body["instance_url"], json!(base));
    for field in ["access_token", "id", "issued_at", "signature", "scope"] {
        assert!(ok.body[field].is_string(), "missing {field}");
    }
    // And wrong secrets and unsupported grants get OAuth error bodies
    let bad = send(sf.http.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "waybill-sim-client"),
        ("client_secret", "nope"),
    ]))
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], json!("invalid_client"));
    let grant = send(sf.http.post(&token_url).form(&[("grant_type", "password")])).await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.body["error"], json!("unsupported_grant_type"));
}

#[tokio::test]
async fn an_expired_session_answers_401_invalid_session_id() {
    // Given a client with a working token
    let sf = Sf::start(demo()).await;
    assert_eq!(sf.get("sobjects/Account/describe").await.status, 200);
    // When every session is invalidated
    sf.state().expire_sessions();
    let r = sf.get("sobjects/Account/describe").await;
    // Then the next call gets Salesforce's 401 array body
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    // And a call with no Authorization header is refused the same way
    let none = send(sf.http.get(sf.url("query?q=SELECT+Id+FROM+Account"))).await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn an_idle_session_times_out() {
    // Given a 100 ms idle timeout
    let sf = Sf::start(SalesforceConfig {
        token_lifetime: Duration::from_millis(100),
        ..SalesforceConfig::default()
    })
    .await;
    // When the client waits longer than that
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Then its token no longer works
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 401);
}

#[tokio::test]
async fn every_data_response_reports_api_usage_and_the_daily_limit_is_enforced_with_403() {
    // Given an org one call below its limit
    let sf = Sf::start(SalesforceConfig {
        api_limit: 100,
        ..SalesforceConfig::default()
    })
    .await;
    sf.state().set_api_usage(99);
    // When two calls are made
    let last_ok = sf.query("SELECT Id FROM Account").await;
    let over = sf.query("SELECT Id FROM Account").await;
    // Then the header counts them and the second is REQUEST_LIMIT_EXCEEDED
    assert_eq!(last_ok.status, 200);
    assert_eq!(
        last_ok.header("sforce-limit-info").as_deref(),
        Some("api-usage=100/100")
    );
    assert_eq!(over.status, 403);
    assert_eq!(over.body[0]["errorCode"], json!("REQUEST_LIMIT_EXCEEDED"));
    assert_eq!(over.header("sforce-limit-info").as_deref(), Some("api-usage=101/100"));
}

#[tokio::test]
async fn versions_below_46_are_not_found() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let r = send(
        sf.http
            .get(format!("{}/services/data/v45.0/sobjects", sf.sim.base_url()))
            .bearer_auth(&sf.token),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body[0]["errorCode"], json!("NOT_FOUND"));
}

#[tokio::test]
async fn soql_returns_parent_paths_and_child_subquery_rows_like_salesforce() {
    // Given the demo org (one Allocated FO with one line)
    let sf = Sf::start(demo()).await;
    // When the FO is queried with parent paths and a child subquery
    let r = sf
        .query(
            "SELECT Id, FulfillmentOrderNumber, Status, DeliveryMethod.Carrier, FulfilledFromLocation.ExternalReference, \
             OrderSummary.Account.Name, \
             (SELECT Id, Quantity, Product2.StockKeepingUnit FROM FulfillmentOrderLineItems ORDER BY Quantity) \
             FROM FulfillmentOrder WHERE Status = 'Allocated' AND StatusCategory IN ('ACTIVATED') ORDER BY CreatedDate LIMIT 10",
        )
        .await;
    // Then the rows are nested exactly as the REST query resource returns them
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalSize"], json!(1));
    assert_eq!(r.body["done"], json!(true));
    let fo = &r.body["records"][0];
    assert_eq!(fo["attributes"]["type"], json!("FulfillmentOrder"));
    assert!(fo["attributes"]["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("/services/data/v62.0/sobjects/FulfillmentOrder/0a3")));
    assert_eq!(fo["FulfillmentOrderNumber"], json!("FO-0000001"));
    assert_eq!(fo["DeliveryMethod"]["Carrier"], json!("UPS"));
    assert_eq!(fo["DeliveryMethod"]["attributes"]["type"], json!("OrderDeliveryMethod"));
    assert_eq!(fo["FulfilledFromLocation"]["ExternalReference"], json!("WH1"));
    assert_eq!(fo["OrderSummary"]["Account"]["Name"], json!("Demo Customer"));
    let lines = &fo["FulfillmentOrderLineItems"];
    assert_eq!(lines["totalSize"], json!(1));
    assert_eq!(lines["records"][0]["Quantity"], json!(2.0));
    assert_eq!(lines["records"][0]["Product2"]["StockKeepingUnit"], json!("SKU-1"));
    // And fields that were not selected are absent
    assert!(fo.get("FulfilledToName").is_none());
}

#[tokio::test]
async fn soql_pages_through_next_records_url_in_batches() {
    // Given 450 inventory positions
    let sf = Sf::start(SalesforceConfig::default()).await;
    for i in 0..450 {
        sf.state()
            .seed(
                "Inventory_Position__c",
                json!({"Waybill_Position_Key__c": format!("K{i:04}"), "On_Hand__c": i}),
            )
            .expect("seeded");
    }
    // When queried with a 200-row batch size
    let first = send(
        sf.http
            .get(sf.url("query"))
            .query(&[(
                "q",
                "SELECT Id, Waybill_Position_Key__c FROM Inventory_Position__c ORDER BY Waybill_Position_Key__c",
            )])
            .header("Sforce-Query-Options", "batchSize=200")
            .bearer_auth(&sf.token),
    )
    .await;
    // Then the first batch points at the next one until done
    assert_eq!(first.body["totalSize"], json!(450));
    assert_eq!(first.body["done"], json!(false));
    assert_eq!(first.body["records"].as_array().map(Vec::len), Some(200));
    let mut next = first.body["nextRecordsUrl"].as_str().expect("next url").to_string();
    let mut seen = 200;
    let mut last_key;
    loop {
        let page = send(
            sf.http
                .get(format!("{}{next}", sf.sim.base_url()))
                .bearer_auth(&sf.token),
        )
        .await;
        assert_eq!(page.status, 200);
        let recs = page.body["records"].as_array().cloned().unwrap_or_default();
        seen += recs.len();
        last_key = recs
            .last()
            .map(|r| r["Waybill_Position_Key__c"].clone())
            .unwrap_or(Value::Null);
        if page.body["done"] == json!(true) {
            assert!(page.body.get("nextRecordsUrl").is_none());
            break;
        }
        next = page.body["nextRecordsUrl"].as_str().expect("next url").to_string();
    }
    assert_eq!(seen, 450);
    assert_eq!(last_key, json!("K0449"));
}

#[tokio::test]
async fn malformed_soql_and_unknown_fields_get_400_with_salesforce_codes() {
    let sf = Sf::start(demo()).await;
    let malformed = sf.query("SELECT Id FROM FulfillmentOrder WHERE").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body[0]["errorCode"], json!("MALFORMED_QUERY"));
    let field = sf.query("SELECT Id, Nope__c FROM FulfillmentOrder").await;
    assert_eq!(field.status, 400);
    assert_eq!(field.body[0]["errorCode"], json!("INVALID_FIELD"));
    let ty = sf.query("SELECT Id FROM Nope__c").await;
    assert_eq!(ty.body[0]["errorCode"], json!("INVALID_TYPE"));
}

#[tokio::test]
async fn records_can_be_created_read_by_15_char_id_updated_and_deleted() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    // Given a created account
    let created = sf.post("sobjects/Account", &json!({"Name": "Acme"})).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["success"], json!(true));
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 18);
    // When it is read by its 15-char id, updated and deleted
    let read = sf.get(&format!("sobjects/Account/{}?fields=Name", &id[..15])).await;
    let updated = sf
        .patch(&format!("sobjects/Account/{id}"), &json!({"Name": "Acme 2"}))
        .await;
    let reread = sf.get(&format!("sobjects/Account/{id}")).await;
    let deleted = sf.delete(&format!("sobjects/Account/{id}")).await;
    let gone = sf.get(&format!("sobjects/Account/{id}")).await;
    // Then each step answers like Salesforce
    assert_eq!(read.status, 200);
    assert_eq!(read.body["Id"], json!(id));
    assert!(
        read.body.get("CreatedDate").is_none(),
        "only the requested fields come back"
    );
    assert_eq!(read.body["Name"], json!("Acme"));
    assert_eq!(updated.status, 204);
    assert_eq!(reread.body["Name"], json!("Acme 2"));
    assert!(reread.body["LastModifiedDate"]
        .as_str()
        .is_some_and(|d| d.ends_with("+0000")));
    assert_eq!(deleted.status, 204);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body[0]["errorCode"], json!("NOT_FOUND"));
}

#[tokio::test]
async fn unknown_fields_and_missing_required_fields_are_rejected_on_create() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let unknown = sf
        .post("sobjects/Shipment", &json!({"ShipToName": "A", "Bogus": 1}))
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body[0]["errorCode"], json!("INVALID_FIELD"));
    assert_eq!(
        unknown.body[0]["message"],
        json!("No such column 'Bogus' on sobject of type Shipment")
    );
    let missing = sf.post("sobjects/Shipment", &json!({"TrackingNumber": "1Z"})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body[0]["errorCode"], json!("REQUIRED_FIELD_MISSING"));
    assert_eq!(missing.body[0]["fields"], json!(["ShipToName"]));
    let no_type = sf.post("sobjects/Nope__c", &json!({})).await;
    assert_eq!(no_type.status, 404);
}

#[tokio::test]
async fn upsert_by_external_id_creates_with_201_then_updates_with_200() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let path = "sobjects/Shipment/Waybill_External_Id__c/LW-FO-1-1Z1";
    // When the same external id is upserted twice
    let first = sf
        .patch(path, &json!({"ShipToName": "Ann", "TrackingNumber": "1Z1"}))
        .await;
    let second = sf.patch(path, &json!({"Status": "Shipped"})).await;
    // Then the first creates and the second updates the same record
    assert_eq!(first.status, 201);
    assert_eq!(first.body["created"], json!(true));
    assert_eq!(second.status, 200);
    assert_eq!(
        second.body,
        json!({"id": first.body["id"], "success": true, "errors": [], "created": false})
    );
    let rows = sf.state().find("Shipment", "Waybill_External_Id__c", "LW-FO-1-1Z1");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Status"], json!("Shipped"));
    assert_eq!(rows[0]["TrackingNumber"], json!("1Z1"));
}

#[tokio::test]
async fn upsert_update_can_be_switched_to_204() {
    let sf = Sf::start(SalesforceConfig {
        upsert_update_returns_204: true,
        ..SalesforceConfig::default()
    })
    .await;
    let path = "sobjects/Shipment/Waybill_External_Id__c/X1";
    assert_eq!(sf.patch(path, &json!({"ShipToName": "A"})).await.status, 201);
    let again = sf.patch(path, &json!({"ShipToName": "B"})).await;
    assert_eq!(again.status, 204);
    assert_eq!(again.body, Value::Null);
}

#[tokio::test]
async fn upsert_rejects_id_or_the_external_id_field_in_the_body() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let path = "sobjects/Shipment/Waybill_External_Id__c/X1";
    let ext = sf
        .patch(path, &json!({"ShipToName": "A", "Waybill_External_Id__c": "X1"}))
        .await;
    assert_eq!(ext.status, 400);
    assert_eq!(ext.body[0]["errorCode"], json!("INVALID_FIELD"));
    let id = sf
        .patch(path, &json!({"ShipToName": "A", "Id": "0OB000000000001"}))
        .await;
    assert_eq!(id.status, 400);
    let unknown_field = sf
        .patch("sobjects/Shipment/TrackingNumber/1Z", &json!({"ShipToName": "A"}))
        .await;
    assert_eq!(unknown_field.status, 404);
    assert!(sf.state().records("Shipment").is_empty());
}

#[tokio::test]
async fn upsert_with_several_matches_answers_300_and_writes_nothing() {
    // Given two shipments sharing a (non-unique) external id
    let sf = Sf::start(SalesforceConfig::default()).await;
    for _ in 0..2 {
        sf.state()
            .seed("Shipment", json!({"ShipToName": "A", "Waybill_External_Id__c": "DUP"}))
            .expect("seeded");
    }
    // When that value is upserted
    let r = sf
        .patch(
            "sobjects/Shipment/Waybill_External_Id__c/DUP",
            &json!({"ShipToName": "B"}),
        )
        .await;
    // Then Salesforce answers 300 with both record URLs and changes nothing
    assert_eq!(r.status, 300);
    assert_eq!(r.body.as_array().map(Vec::len), Some(2));
    assert!(sf
        .state()
        .records("Shipment")
        .iter()
        .all(|s| s["ShipToName"] == json!("A")));
}

fn shipment(ext: &str, name: Option<&str>) -> Value {
    let mut v = json!({"attributes": {"type": "Shipment"}, "Waybill_External_Id__c": ext, "TrackingNumber": "1Z"});
    if let Some(n) = name {
        v["ShipToName"] = json!(n);
    }
    v
}

#[tokio::test]
async fn collection_create_reports_per_record_errors_in_input_order() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    // When three records are created and the middle one lacks a required field
    let r = sf
        .post(
            "composite/sobjects",
            &json!({"records": [shipment("A", Some("Ann")), shipment("B", None), shipment("C", Some("Cy"))]}),
        )
        .await;
    // Then the call is 200 and each record has its own result, in order
    assert_eq!(r.status, 200);
    let results = r.body.as_array().cloned().expect("array");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[1]["success"], json!(false));
    assert_eq!(results[1]["errors"][0]["statusCode"], json!("REQUIRED_FIELD_MISSING"));
    assert_eq!(results[1]["errors"][0]["fields"], json!(["ShipToName"]));
    assert!(results[1].get("id").is_none());
    assert_eq!(results[2]["success"], json!(true));
    assert_eq!(sf.state().records("Shipment").len(), 2);
}

#[tokio::test]
async fn collection_create_with_all_or_none_rolls_every_record_back() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let r = sf
        .post(
            "composite/sobjects",
            &json!({"allOrNone": true, "records": [shipment("A", Some("Ann")), shipment("B", None)]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(r.body[1]["errors"][0]["statusCode"], json!("REQUIRED_FIELD_MISSING"));
    assert!(sf.state().records("Shipment").is_empty());
}

#[tokio::test]
async fn collection_upsert_over_200_records_is_rejected_with_exceeded_id_limit() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let records: Vec<Value> = (0..201).map(|i| shipment(&format!("E{i}"), Some("A"))).collect();
    let r = sf
        .patch(
            "composite/sobjects/Shipment/Waybill_External_Id__c",
            &json!({"records": records}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body[0]["errorCode"], json!("EXCEEDED_ID_LIMIT"));
    assert!(sf.state().records("Shipment").is_empty());
}

#[tokio::test]
async fn collection_upsert_creates_and_updates_with_created_flags() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    sf.state()
        .seed("Shipment", json!({"ShipToName": "Old", "Waybill_External_Id__c": "E1"}))
        .expect("seeded");
    let r = sf
        .patch(
            "composite/sobjects/Shipment/Waybill_External_Id__c",
            &json!({"records": [shipment("E1", Some("New")), shipment("E2", Some("Two")), {"attributes": {"type": "Shipment"}, "ShipToName": "no key"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["created"], json!(false));
    assert_eq!(r.body[0]["success"], json!(true));
    assert_eq!(r.body[1]["created"], json!(true));
    assert_eq!(r.body[2]["success"], json!(false));
    assert_eq!(
        sf.state().find("Shipment", "Waybill_External_Id__c", "E1")[0]["ShipToName"],
        json!("New")
    );
}

#[tokio::test]
async fn collection_update_by_id_updates_and_reports_unknown_ids() {
    let sf = Sf::start(demo()).await;
    let fo = sf.state().records("FulfillmentOrder")[0]["Id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = sf
        .patch(
            "composite/sobjects",
            &json!({"records": [
                {"attributes": {"type": "FulfillmentOrder"}, "id": fo, "Status": "Fulfilled"},
                {"attributes": {"type": "FulfillmentOrder"}, "Status": "Fulfilled"},
                {"attributes": {"type": "FulfillmentOrder"}, "id": fo, "Status": "Shipped-ish"}
            ]}),
        )
        .await;
    assert_eq!(r.body[0]["success"], json!(true));
    assert_eq!(r.body[1]["errors"][0]["statusCode"], json!("MISSING_ARGUMENT"));
    assert_eq!(
        r.body[2]["errors"][0]["statusCode"],
        json!("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    );
    let rec = sf.state().record("FulfillmentOrder", &fo).expect("fo");
    assert_eq!(rec["Status"], json!("Fulfilled"));
    assert_eq!(rec["StatusCategory"], json!("CLOSED"));
}

#[tokio::test]
async fn composite_resolves_references_between_subrequests() {
    let sf = Sf::start(demo()).await;
    // When a shipment, an item referring to it and a read of it run in one composite call
    let r = sf
        .post(
            "composite",
            &json!({"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Shipment", "referenceId": "ship",
                 "body": {"ShipToName": "Ann", "TrackingNumber": "1Z9"}},
                {"method": "POST", "url": "/services/data/v62.0/sobjects/ShipmentItem", "referenceId": "item",
                 "body": {"ShipmentId": "@{ship.id}", "Quantity": 2}},
                {"method": "GET", "url": "/services/data/v62.0/sobjects/Shipment/@{ship.id}?fields=TrackingNumber", "referenceId": "read"}
            ]}),
        )
        .await;
    // Then every subrequest succeeds and the reference was substituted
    assert_eq!(r.status, 200);
    let out = r.body["compositeResponse"].as_array().cloned().expect("array");
    let codes: Vec<Value> = out.iter().map(|x| x["httpStatusCode"].clone()).collect();
    assert_eq!(codes, vec![json!(201), json!(201), json!(200)]);
    assert_eq!(out[2]["body"]["TrackingNumber"], json!("1Z9"));
    let ship_id = out[0]["body"]["id"].clone();
    assert_eq!(sf.state().records("ShipmentItem")[0]["ShipmentId"], ship_id);
    assert!(out[0]["httpHeaders"]["Location"].as_str().is_some());
    // And the whole composite counted as one API call
    assert_eq!(sf.state().stats().family("composite"), 1);
}

#[tokio::test]
async fn composite_dependents_of_a_failed_subrequest_are_halted() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let r = sf
        .post(
            "composite",
            &json!({"allOrNone": false, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Shipment", "referenceId": "ship", "body": {"TrackingNumber": "1Z"}},
                {"method": "POST", "url": "/services/data/v62.0/sobjects/ShipmentItem", "referenceId": "item",
                 "body": {"ShipmentId": "@{ship.id}", "Quantity": 1}},
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "acct", "body": {"Name": "Independent"}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let out = &r.body["compositeResponse"];
    assert_eq!(out[0]["httpStatusCode"], json!(400));
    assert_eq!(out[0]["body"][0]["errorCode"], json!("REQUIRED_FIELD_MISSING"));
    assert_eq!(out[1]["httpStatusCode"], json!(400));
    assert_eq!(out[1]["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
    assert_eq!(out[2]["httpStatusCode"], json!(201));
    assert_eq!(sf.state().records("Account").len(), 1);
}

#[tokio::test]
async fn composite_all_or_none_rolls_back_earlier_subrequests() {
    let sf = Sf::start(SalesforceConfig::default()).await;
    let r = sf
        .post(
            "composite",
            &json!({"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "a", "body": {"Name": "Kept?"}},
                {"method": "POST", "url": "/services/data/v62.0/sobjects/Shipment", "referenceId": "s", "body": {}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["compositeResponse"][0]["body"][0]["errorCode"],
        json!("PROCESSING_HALTED")
    );
    assert_eq!(r.body["compositeResponse"][1]["httpStatusCode"], json!(400));
    assert!(sf.state().records("Account").is_empty());
}

#[tokio::test]
async fn seeding_accepts_fixed_ids_and_reset_restores_the_seed() {
    let config = SalesforceConfig {
        seed: vec![SeedRecord {
            sobject: "Account".into(),
            fields: json!({"Name": "Seeded"}),
        }],
        ..SalesforceConfig::default()
    };
    let sf = Sf::start(config).await;
    assert_eq!(sf.post("sobjects/Account", &json!({"Name": "Extra"})).await.status, 201);
    assert_eq!(sf.state().records("Account").len(), 2);
    sf.state().reset();
    let rows = sf.state().records("Account");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Name"], json!("Seeded"));
    assert_eq!(sf.state().stats().total, 0);
}

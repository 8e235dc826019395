//! Logiwa webhook parsing against the bodies the simulator actually sends for a create → ship flow.

use serde_json::json;
use time::OffsetDateTime;
use waybill::adapters::logiwa::webhook::{self, Topic, TOPIC_SHIPMENT, TOPIC_STATUS_CHANGE};
use waybill::ports::WmsConnector;
use waybill_simulators::logiwa::ShipRequest;

use crate::support::{logiwa, Lw};

/// Subscribes to a topic through the vendor API (deliveries are recorded, not sent: see `support`).
async fn subscribe(lw: &Lw, topic: &str) {
    let token = lw.state().issue_token();
    let resp = waybill_simulators::http_client()
        .post(format!("{}/v3.1/Webhook/create", lw.sim.base_url()))
        .bearer_auth(token)
        .json(&json!({"topic": topic, "address": "http://127.0.0.1:9/hook", "ignoreClient": true}))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);
}

/// Creates and ships an order, returning (topic, body) of every delivery.
async fn deliveries_for_a_shipped_order(lw: &Lw) -> Vec<(String, Vec<u8>)> {
    subscribe(lw, TOPIC_SHIPMENT).await;
    subscribe(lw, TOPIC_STATUS_CHANGE).await;
    let req = crate::logiwa::request("FO-0000001", "SKU-1", 2);
    lw.client.create_order(&req).await.expect("created");
    lw.state()
        .ship("FO-0000001", None, ShipRequest::default())
        .expect("shipped");
    lw.state()
        .webhook_deliveries()
        .into_iter()
        .map(|d| (d.topic, serde_json::to_vec(&d.body).expect("body")))
        .collect()
}

#[tokio::test]
async fn the_simulators_shipment_and_status_bodies_parse_into_fulfillment_events() {
    // Given the bodies Logiwa sends when an order ships
    let lw = logiwa().await;
    let bodies = deliveries_for_a_shipped_order(&lw).await;
    assert_eq!(bodies.len(), 2, "one statuschange, one shipment");
    let order = lw.client.find_order("FO-0000001").await.expect("find").expect("exists");
    // When each is parsed with its topic
    let mut keys = Vec::new();
    for (topic, body) in &bodies {
        let parsed = webhook::parse(Some(topic), body).expect("parses");
        let event = parsed.to_event(OffsetDateTime::UNIX_EPOCH);
        // Then it points at the order and carries a key
        assert_eq!(event.order_code, "FO-0000001");
        assert_eq!(event.wms_order_id.as_ref(), Some(&order.id));
        assert_eq!(event.topic, *topic);
        // And the status change carries CurrentStatus, while the shipment (§1.6: no status key) carries none
        match parsed.topic {
            Topic::StatusChange => {
                assert_eq!(event.status.as_deref(), Some("Shipped"));
                assert_eq!(parsed.previous_status.as_deref(), Some("Pending"));
            }
            Topic::Shipment => {
                assert_eq!(event.status, None);
                assert_eq!(parsed.event_tracking_numbers.len(), 1);
            }
        }
        // And without the topic the body alone says which topic it is
        assert_eq!(webhook::parse(None, body).expect("parses").topic, parsed.topic);
        keys.push(event.event_key);
    }
    // And the two events have different keys, stable on re-parse
    assert_ne!(keys[0], keys[1]);
    let again = webhook::parse(Some(&bodies[0].0), &bodies[0].1)
        .expect("parses")
        .event_key();
    assert_eq!(again, keys[0]);
}

#[tokio::test]
async fn an_unknown_topic_and_a_missing_field_give_distinct_errors() {
    // Given a real shipment body
    let lw = logiwa().await;
    let bodies = deliveries_for_a_shipped_order(&lw).await;
    let (_, body) = bodies.iter().find(|(t, _)| t == TOPIC_SHIPMENT).expect("shipment body");
    // When it arrives under a topic we do not handle
    let unsupported = webhook::parse(Some("wms/inventory/available"), body).expect_err("unsupported");
    // Then that is an unsupported topic (422), with no field
    assert!(unsupported.is_unsupported_topic());
    // When the order identifier is missing
    let mut v: serde_json::Value = serde_json::from_slice(body).expect("json");
    v.as_object_mut().expect("object").remove("ShipmentOrderIdentifier");
    let missing = webhook::parse(Some(TOPIC_SHIPMENT), &serde_json::to_vec(&v).expect("bytes")).expect_err("missing");
    // Then the error names the field as the documented body spells it (400)
    assert!(!missing.is_unsupported_topic());
    assert_eq!(missing.field(), Some("ShipmentOrderIdentifier"));
}

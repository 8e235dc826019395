//! shipment-writeback tests: the real Salesforce and Logiwa adapters against the in-process vendor
//! simulators, with in-memory AWS ports.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use shipment_writeback::{App, Config, Ports};
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::domain::{CorrelationId, SalesforceId};
use waybill::fakes::{MemoryMappings, MemoryQueue, MemorySecrets, MemoryXref};
use waybill::lease::{order_subject, Leases};
use waybill::mapping::{CachedMappings, MappingTables};
use waybill::messages::{ChangedObject, Envelope, FulfillmentEvent};
use waybill::ports::{SalesforceApi, WmsConnector, WmsRef, WmsSystem, XrefStore};
use waybill_simulators::demo::DemoSims;
use waybill_simulators::logiwa::ShipRequest;
use waybill_simulators::{FaultRule, LogiwaState, RunningSim, SalesforceState};

const DLQ: &str = "https://sqs.local/fulfillment-events-dlq";
const LOGIWA_WH: &str = waybill_simulators::demo::LOGIWA_WAREHOUSE;
const LOGIWA_CLIENT: &str = waybill_simulators::demo::LOGIWA_CLIENT;

struct Harness {
    app: App,
    xref: Arc<MemoryXref>,
    sf: RunningSim<SalesforceState>,
    logiwa: RunningSim<LogiwaState>,
    sf_api: Arc<SalesforceOm>,
    wms: Arc<Logiwa>,
    fo_id: SalesforceId,
}

fn tables() -> MappingTables {
    waybill::testing::demo_mapping_tables(LOGIWA_WH)
}

async fn harness() -> Harness {
    let sims = DemoSims::start().await.expect("simulators");
    let secrets = Arc::new(
        MemorySecrets::new()
            .with("sf", &sims.salesforce_credentials().to_string())
            .with("logiwa", &sims.logiwa_credentials().to_string()),
    );
    let DemoSims { salesforce: sf, logiwa } = sims;
    let sf_api = Arc::new(SalesforceOm::new(SalesforceConfig::new("sf"), secrets.clone()).expect("sf"));
    let wms = Arc::new(Logiwa::new(LogiwaConfig::new("logiwa"), secrets).expect("logiwa"));
    let xref = Arc::new(MemoryXref::new());
    let fo_id =
        SalesforceId::parse(sf.state().records("FulfillmentOrder")[0]["Id"].as_str().expect("id")).expect("fo id");
    let app = App {
        config: Config {
            dlq_url: DLQ.into(),
            max_receive_count: 3,
            status_on_shipped: Some("Fulfilled".into()),
            concurrency: 4,
        },
        ports: Ports {
            queue: Arc::new(MemoryQueue::new()),
            salesforce: sf_api.clone(),
            wms: Arc::new(
                waybill::registry::Registry::new().with(wms.clone() as Arc<dyn waybill::ports::WmsConnector>),
            ),
            xref: xref.clone(),
            idempotency: Arc::new(waybill::fakes::MemoryIdempotency::new()),
            order_state: Arc::new(waybill::fakes::MemoryOrderState::new()),
            mappings: Arc::new(CachedMappings::new(
                Arc::new(MemoryMappings::new(tables())),
                Duration::from_secs(60),
            )),
        },
    };
    Harness {
        app,
        xref,
        sf,
        logiwa,
        sf_api,
        wms,
        fo_id,
    }
}

/// Puts the seeded FulfillmentOrder into Logiwa (as the orders consumer would) and links it.
async fn create_in_logiwa(h: &Harness, link: bool) -> WmsRef {
    create_order_in_logiwa(h, &h.fo_id, link).await
}

async fn create_order_in_logiwa(h: &Harness, fo_id: &SalesforceId, link: bool) -> WmsRef {
    let graphs = h.sf_api.fetch_orders(std::slice::from_ref(fo_id)).await.expect("fetch");
    let order = graphs[fo_id].as_ref().expect("valid order");
    let created = h
        .wms
        .create_order(&tables().map_order(order).expect("mapped"))
        .await
        .expect("created");
    if link {
        h.xref.link(fo_id, &created).await.expect("link");
    }
    created
}

/// A second FulfillmentOrder like the seeded one (same customer, product and location), with its line.
fn seed_another_order(h: &Harness) -> SalesforceId {
    let sf = h.sf.state();
    let copy = |sobject: &str, id: &str, skip: &[&str]| -> serde_json::Map<String, Value> {
        let mut fields = sf
            .record(sobject, id)
            .expect("seeded")
            .as_object()
            .cloned()
            .expect("object");
        fields.retain(|k, v| !v.is_null() && !skip.contains(&k.as_str()));
        fields
    };
    let system = [
        "Id",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "StatusCategory",
    ];
    let mut fo = copy(
        "FulfillmentOrder",
        h.fo_id.as_str(),
        &[&system[..], &["FulfillmentOrderNumber"]].concat(),
    );
    fo.remove("attributes");
    let id = sf.seed("FulfillmentOrder", Value::Object(fo)).expect("second order");
    let item = sf.find("FulfillmentOrderLineItem", "FulfillmentOrderId", h.fo_id.as_str())[0]["Id"]
        .as_str()
        .expect("line id")
        .to_owned();
    let mut line = copy(
        "FulfillmentOrderLineItem",
        &item,
        &[&system[..], &["FulfillmentOrderLineItemNumber"]].concat(),
    );
    line.remove("attributes");
    line.insert("FulfillmentOrderId".into(), Value::String(id.clone()));
    sf.seed("FulfillmentOrderLineItem", Value::Object(line))
        .expect("second line");
    SalesforceId::parse(&id).expect("id")
}

fn event_for(r: &WmsRef, n: u32) -> SqsMessage {
    let body = Envelope::new(
        CorrelationId::generate(),
        FulfillmentEvent {
            system: WmsSystem::named("logiwa"),
            object: ChangedObject::Shipment,
            topic: "wms/shipmentorder/shipment".into(),
            event_key: format!("k-{n}"),
            order_code: r.code.clone(),
            wms_order_id: Some(r.id.clone()),
            status: Some("Shipped".into()),
            received_at: time::OffsetDateTime::now_utc(),
            wms_changed_at: None,
        },
    )
    .to_outbound()
    .expect("body")
    .body;
    waybill::testing::sqs_message(&format!("m{n}"), &body, 1)
}

/// The event the order sweep enqueues: it names the WMS version it found.
fn sweep_event_for(r: &WmsRef, n: u32, stamp: time::OffsetDateTime) -> SqsMessage {
    let body = Envelope::new(
        CorrelationId::generate(),
        FulfillmentEvent {
            system: WmsSystem::named("logiwa"),
            object: ChangedObject::Order,
            topic: "waybill/sweep".into(),
            event_key: format!("sweep-{n}"),
            order_code: r.code.clone(),
            wms_order_id: Some(r.id.clone()),
            status: Some("Shipped".into()),
            received_at: time::OffsetDateTime::now_utc(),
            wms_changed_at: Some(stamp),
        },
    )
    .to_outbound()
    .expect("body")
    .body;
    waybill::testing::sqs_message(&format!("m{n}"), &body, 1)
}

async fn run(h: &Harness, records: Vec<SqsMessage>) -> Value {
    let event = waybill::testing::sqs_event(records);
    h.app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("batch")
}

fn shipments_for(h: &Harness) -> Vec<Value> {
    h.sf.state().find("Shipment", "FulfillmentOrderId", h.fo_id.as_str())
}

fn ship(h: &Harness, code: &str) {
    let client = uuid::Uuid::parse_str(LOGIWA_CLIENT).expect("uuid");
    h.logiwa
        .state()
        .ship(code, Some(client), ShipRequest::default())
        .expect("shipped");
}

#[tokio::test]
async fn a_shipped_order_is_written_back_as_a_shipment_with_items_and_the_order_fulfilled() {
    // Given an order in Logiwa, linked, and shipped there
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    // When its shipment event is processed (twice: a redelivery)
    let first = run(&h, vec![event_for(&r, 1)]).await;
    let second = run(&h, vec![event_for(&r, 2)]).await;
    // Then Salesforce has exactly one Shipment with the tracking number and its items, and the FO is Fulfilled
    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    let shipments = shipments_for(&h);
    assert_eq!(shipments.len(), 1, "{shipments:?}");
    assert!(shipments[0]["TrackingNumber"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(shipments[0]["Provider"], "UPS");
    let items =
        h.sf.state()
            .find("ShipmentItem", "ShipmentId", shipments[0]["Id"].as_str().expect("id"));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Quantity"].as_f64(), Some(2.0));
    assert_eq!(
        h.sf.state().record("FulfillmentOrder", h.fo_id.as_str()).expect("fo")["Status"],
        "Fulfilled"
    );
}

#[tokio::test]
async fn a_write_back_records_the_wms_version_it_read_so_the_sweep_knows_that_change_is_written() {
    // Given an order in Logiwa, linked, and shipped there
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    let listed = h.wms.shipments(&r).await.expect("read").changed_at.expect("stamped");
    // When its shipment event is processed
    let resp = run(&h, vec![event_for(&r, 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    // Then the order's state holds Logiwa's own stamp of the version written back
    let state = h
        .app
        .ports
        .order_state
        .load(waybill::order_state::SALESFORCE_SOURCE, h.fo_id.as_str())
        .await
        .expect("load")
        .expect("state");
    assert_eq!(state.wms_changed_seen, Some(listed));
    assert!(state.wms_change_written(listed));
}

#[tokio::test]
async fn an_event_naming_a_wms_version_already_written_back_is_acknowledged_without_reading_again() {
    // Given a shipped order already written back from its webhook
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    let stamp = h.wms.shipments(&r).await.expect("read").changed_at.expect("stamped");
    let first = run(&h, vec![event_for(&r, 1)]).await;
    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    let wms_reads = h.logiwa.state().stats().total;
    let sf_calls = h.sf.state().stats().total;
    // When a sweep's event about that same version arrives, and one about a newer version
    let same = sweep_event_for(&r, 2, stamp);
    let newer = sweep_event_for(&r, 3, stamp + time::Duration::milliseconds(1));
    let second = run(&h, vec![same]).await;
    // Then the first is acknowledged with no call to either vendor
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    assert_eq!(h.logiwa.state().stats().total, wms_reads);
    assert_eq!(h.sf.state().stats().total, sf_calls);
    // And the newer one is read and written back as usual
    let third = run(&h, vec![newer]).await;
    assert_eq!(third["batchItemFailures"], json!([]), "{third}");
    assert!(h.logiwa.state().stats().total > wms_reads);
    assert_eq!(shipments_for(&h).len(), 1);
}

#[tokio::test]
async fn a_sweep_event_whose_status_write_failed_writes_the_status_when_it_comes_back() {
    // Given a shipped order, and Salesforce refusing every status update for now
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    let stamp = h.wms.shipments(&r).await.expect("read").changed_at.expect("stamped");
    let rule = h.sf.state().add_fault(
        FaultRule::status(503)
            .method("PATCH")
            .body_contains(r#""FulfillmentOrder""#),
    );
    // When the sweep's event is processed, it fails (the Shipment is written, the status is not)
    let first = run(&h, vec![sweep_event_for(&r, 1, stamp)]).await;
    assert_ne!(first["batchItemFailures"], json!([]), "{first}");
    assert_ne!(
        h.sf.state().record("FulfillmentOrder", h.fo_id.as_str()).expect("fo")["Status"],
        "Fulfilled"
    );
    // Then, when it comes back with Salesforce answering again, the status is written: the failed try
    // did not record this version as written back
    h.sf.state().remove_fault(rule);
    let again = run(&h, vec![sweep_event_for(&r, 1, stamp)]).await;
    assert_eq!(again["batchItemFailures"], json!([]), "{again}");
    assert_eq!(
        h.sf.state().record("FulfillmentOrder", h.fo_id.as_str()).expect("fo")["Status"],
        "Fulfilled"
    );
    assert_eq!(shipments_for(&h).len(), 1);
}

#[tokio::test]
async fn a_salesforce_5xx_that_committed_is_retried_and_leaves_one_shipment() {
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    // Salesforce applies the Shipment upsert, then answers 500
    h.sf.state().add_fault(
        FaultRule::commit_then_fail()
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/")
            .times(1),
    );
    let calls_before = h.sf.state().stats().family("composite/sobjects");
    let resp = run(&h, vec![event_for(&r, 1)]).await;
    // Then the upsert by external id, being idempotent, was sent again by the adapter itself (one call
    // more than the three a clean write-back makes: Shipment, ShipmentItems, status), the record
    // succeeded, and the retry updated the Shipment the first attempt had created instead of adding one
    let calls = h.sf.state().stats().family("composite/sobjects") - calls_before;
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(
        calls, 4,
        "Shipment upsert, its retry, ShipmentItem upsert, status update"
    );
    assert_eq!(shipments_for(&h).len(), 1);
}

#[tokio::test]
async fn a_shipment_for_an_order_not_linked_yet_is_retried_not_dropped() {
    let h = harness().await;
    let r = create_in_logiwa(&h, false).await;
    ship(&h, &r.code);
    let resp = run(&h, vec![event_for(&r, 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([{"itemIdentifier": "m1"}]));
    assert!(shipments_for(&h).is_empty());
}

#[tokio::test]
async fn a_bad_record_in_the_batch_does_not_stop_the_good_one() {
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    let poison =
        waybill::testing::sqs_message("poison", r#"{"messageType":"order.notification","schemaVersion":1}"#, 1);
    let resp = run(&h, vec![poison, event_for(&r, 1)]).await;
    // The poison body is parked (permanent), so neither is reported for retry; the good one is written.
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(shipments_for(&h).len(), 1);
}

#[tokio::test]
async fn two_events_for_one_order_in_a_batch_read_logiwa_once_and_write_one_shipment() {
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    let before = h.logiwa.state().stats().family("shipmentorder.list");
    let resp = run(&h, vec![event_for(&r, 1), event_for(&r, 2)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(h.logiwa.state().stats().family("shipmentorder.list") - before, 1);
    assert_eq!(shipments_for(&h).len(), 1);
}

#[tokio::test]
async fn no_retry_starts_that_could_not_finish_before_the_invocation_deadline() {
    // Given Salesforce answers the Shipment upsert slowly (700 ms) and with a 503
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    h.sf.state().add_fault(
        FaultRule::latency(700)
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/"),
    );
    h.sf.state().add_fault(
        FaultRule::status(503)
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/"),
    );
    let before = h.sf.state().stats().family("composite/sobjects");
    // When the batch runs with 2.5 s left in the invocation (1 s after the settling margin)
    let now_ms = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms");
    let mut ctx = Context::default();
    ctx.deadline = now_ms + 2_500;
    let event = waybill::testing::sqs_event(vec![event_for(&r, 1)]);
    let resp = h.app.handle(LambdaEvent::new(event, ctx)).await.expect("batch");
    // Then the record is handed back for retry after a single upsert attempt (without the deadline the
    // adapter makes three), so the invocation ends in time to report it
    assert_eq!(resp["batchItemFailures"], json!([{"itemIdentifier": "m1"}]), "{resp}");
    assert_eq!(h.sf.state().stats().family("composite/sobjects") - before, 1);
}

fn fo_status(h: &Harness) -> String {
    h.sf.state().record("FulfillmentOrder", h.fo_id.as_str()).expect("fo")["Status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn item_total(h: &Harness) -> f64 {
    shipments_for(h)
        .iter()
        .flat_map(|s| {
            h.sf.state()
                .find("ShipmentItem", "ShipmentId", s["Id"].as_str().unwrap_or_default())
        })
        .filter_map(|i| i["Quantity"].as_f64())
        .sum()
}

#[tokio::test]
async fn a_split_order_shipped_in_two_parts_has_one_shipment_per_package_and_counts_each_unit_once() {
    // Given an order of 2 units shipped in two parts, each written back as it ships (and redelivered)
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    let client = uuid::Uuid::parse_str(LOGIWA_CLIENT).expect("uuid");
    h.logiwa
        .state()
        .ship(
            &r.code,
            Some(client),
            ShipRequest {
                partial: true,
                ..ShipRequest::default()
            },
        )
        .expect("first part");
    assert_eq!(run(&h, vec![event_for(&r, 1)]).await["batchItemFailures"], json!([]));
    assert_eq!(shipments_for(&h).len(), 1);
    assert_ne!(fo_status(&h), "Fulfilled", "only part has shipped");
    ship(&h, &r.code);
    // When the second part's event arrives, and the first one's is redelivered
    assert_eq!(run(&h, vec![event_for(&r, 2)]).await["batchItemFailures"], json!([]));
    assert_eq!(run(&h, vec![event_for(&r, 1)]).await["batchItemFailures"], json!([]));
    // Then there are two Shipments (one per package) whose items add up to the 2 units ordered
    assert_eq!(shipments_for(&h).len(), 2, "{:?}", shipments_for(&h));
    assert!(
        (item_total(&h) - 2.0).abs() < f64::EPSILON,
        "items total {}",
        item_total(&h)
    );
    assert_eq!(fo_status(&h), "Fulfilled");
}

#[tokio::test]
async fn a_users_cancelled_status_is_not_overwritten_by_a_shipment() {
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    h.sf.state()
        .user_update("FulfillmentOrder", h.fo_id.as_str(), json!({"Status": "Cancelled"}))
        .expect("cancelled");
    ship(&h, &r.code);
    let resp = run(&h, vec![event_for(&r, 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    // The WMS owns what shipped, so the Shipment is recorded; the source owns the cancel, so it stays.
    assert_eq!(shipments_for(&h).len(), 1);
    assert_eq!(fo_status(&h), "Cancelled");
}

#[tokio::test]
async fn parallel_batches_about_one_order_write_its_shipment_once_and_its_status_once() {
    // Given a shipped order and six batches about it at the same time (with a slow Salesforce, so they
    // overlap)
    let h = harness().await;
    let r = create_in_logiwa(&h, true).await;
    ship(&h, &r.code);
    h.sf.state().add_fault(
        FaultRule::latency(150)
            .method("PATCH")
            .path_contains("/composite/sobjects/Shipment/"),
    );
    let runs = (0..6).map(|i| {
        let (h, r) = (&h, &r);
        async move { run(h, vec![event_for(r, i)]).await }
    });
    let responses = futures::future::join_all(runs).await;
    let retried: Vec<String> = responses
        .iter()
        .flat_map(|x| x["batchItemFailures"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect();
    // Then only batches that met the lease are retried, and after their retries there is one Shipment
    // and one status write
    for id in &retried {
        let n: u32 = id.trim_start_matches('m').parse().expect("n");
        assert_eq!(run(&h, vec![event_for(&r, n)]).await["batchItemFailures"], json!([]));
    }
    assert_eq!(shipments_for(&h).len(), 1);
    let history =
        h.sf.state()
            .field_history("FulfillmentOrder", h.fo_id.as_str(), "Status");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(fo_status(&h), "Fulfilled");
}

#[tokio::test]
async fn an_order_leased_elsewhere_does_not_hold_up_the_other_orders_of_its_batch() {
    // Given two shipped orders, and another invocation holding the first one's lease
    let h = harness().await;
    let second = seed_another_order(&h);
    let first_ref = create_in_logiwa(&h, true).await;
    let second_ref = create_order_in_logiwa(&h, &second, true).await;
    ship(&h, &first_ref.code);
    ship(&h, &second_ref.code);
    let leases = Leases::new(h.app.ports.idempotency.as_ref());
    let held = leases
        .try_acquire(&order_subject(&h.fo_id), 0)
        .await
        .expect("store")
        .expect("free");
    // When one batch holds an event for each, and the holder lets go only once the second order's
    // Shipment is in Salesforce
    let batch = run(&h, vec![event_for(&first_ref, 1), event_for(&second_ref, 2)]);
    let holder = async {
        while h
            .sf
            .state()
            .find("Shipment", "FulfillmentOrderId", second.as_str())
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        leases.release(held).await.expect("release");
    };
    let (response, ()) = tokio::join!(batch, holder);
    // Then the second order was written without waiting for the first one's lease, and the first was
    // written in the same invocation once its lease came free: nothing is retried
    assert_eq!(response["batchItemFailures"], json!([]));
    assert_eq!(shipments_for(&h).len(), 1);
    assert_eq!(
        h.sf.state()
            .find("Shipment", "FulfillmentOrderId", second.as_str())
            .len(),
        1
    );
}

//! Orders-queue consumer tests: the real Salesforce and Logiwa adapters against the in-process vendor
//! simulators, with in-memory AWS ports (the moto-backed path is covered end to end in tests/e2e).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use lambda_runtime::{Context, LambdaEvent};
use salesforce_webhook::{App, Config, Ports};
use serde_json::{json, Value};
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::batch::attrs;
use waybill::domain::{CorrelationId, EventId, SalesforceId, SourceSystem};
use waybill::fakes::{MemoryIdempotency, MemoryMappings, MemoryOrderState, MemoryQueue, MemorySecrets, MemoryXref};
use waybill::mapping::{CachedMappings, MappingTables};
use waybill::messages::{Envelope, OrderNotification};
use waybill_simulators::demo::DemoSims;
use waybill_simulators::{LogiwaState, RunningSim, SalesforceState};

const DLQ: &str = "https://sqs.local/orders-dlq";
const LOGIWA_WH: &str = waybill_simulators::demo::LOGIWA_WAREHOUSE;

struct Harness {
    app: App,
    queue: Arc<MemoryQueue>,
    xref: Arc<MemoryXref>,
    states: Arc<MemoryOrderState>,
    sf: RunningSim<SalesforceState>,
    logiwa: RunningSim<LogiwaState>,
    fo_id: String,
}

fn tables() -> MappingTables {
    waybill::testing::demo_mapping_tables(LOGIWA_WH)
}

async fn harness(tables: MappingTables) -> Harness {
    let sims = DemoSims::start().await.expect("simulators");
    let secrets = Arc::new(
        MemorySecrets::new()
            .with("sf", &sims.salesforce_credentials().to_string())
            .with("logiwa", &sims.logiwa_credentials().to_string()),
    );
    let DemoSims { salesforce: sf, logiwa } = sims;
    let queue = Arc::new(MemoryQueue::new());
    let xref = Arc::new(MemoryXref::new());
    let states = Arc::new(MemoryOrderState::new());
    let fo_id = sf.state().records("FulfillmentOrder")[0]["Id"]
        .as_str()
        .expect("fo id")
        .to_owned();
    let app = App {
        config: Config {
            orders_queue_url: "https://sqs.local/orders".into(),
            dlq_url: DLQ.into(),
            max_receive_count: 3,
            webhook_secret_id: "signing".into(),
            signature_tolerance: Duration::from_secs(300),
            max_body_bytes: 4096,
            event_dedup_window: Duration::from_secs(3600),
            submittable_statuses: vec!["Allocated".into(), "Assigned".into()],
            status_on_submit: Some("Assigned".into()),
            concurrency: 4,
        },
        ports: Ports {
            idempotency: Arc::new(MemoryIdempotency::new()),
            queue: queue.clone(),
            secrets: secrets.clone(),
            salesforce: Arc::new(SalesforceOm::new(SalesforceConfig::new("sf"), secrets.clone()).expect("sf")),
            wms: Arc::new(Logiwa::new(LogiwaConfig::new("logiwa"), secrets).expect("logiwa")),
            xref: xref.clone(),
            order_state: states.clone(),
            mappings: Arc::new(CachedMappings::new(
                Arc::new(MemoryMappings::new(tables)),
                Duration::from_secs(60),
            )),
            parser: Arc::new(waybill::adapters::salesforce::inbound::FlowCallout),
        },
    };
    Harness {
        app,
        queue,
        xref,
        states,
        sf,
        logiwa,
        fo_id,
    }
}

fn record(message_id: &str, body: String, receive_count: u32) -> SqsMessage {
    waybill::testing::sqs_message(message_id, &body, receive_count)
}

fn notification(fo_id: &str, event_id: &str) -> String {
    Envelope::new(
        CorrelationId::generate(),
        OrderNotification {
            event_id: EventId::parse(event_id).expect("event id"),
            source: SourceSystem::SalesforceOrderManagement,
            object: "FulfillmentOrder".into(),
            record_id: SalesforceId::parse(fo_id).expect("id"),
            received_at: time::OffsetDateTime::now_utc(),
        },
    )
    .to_outbound()
    .expect("body")
    .body
}

async fn run(h: &Harness, records: Vec<SqsMessage>) -> Value {
    let event = waybill::testing::sqs_event(records);
    h.app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("batch")
}

fn logiwa_codes(h: &Harness) -> Vec<String> {
    h.logiwa
        .state()
        .shipment_orders()
        .iter()
        .filter_map(|o| o["code"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_fulfillment_order_is_created_in_logiwa_once_linked_and_marked_assigned() {
    // Given a seeded FulfillmentOrder and two notifications for it in one batch plus a later redelivery
    let h = harness(tables()).await;
    let fo_number = h.sf.state().records("FulfillmentOrder")[0]["FulfillmentOrderNumber"]
        .as_str()
        .expect("number")
        .to_owned();
    // When the consumer processes them
    let resp = run(
        &h,
        vec![
            record("m1", notification(&h.fo_id, "e1"), 1),
            record("m2", notification(&h.fo_id, "e2"), 1),
        ],
    )
    .await;
    // Then the second notification of the same order in the same batch is handled with the first, not
    // raced into a second create (both are acknowledged)
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(logiwa_codes(&h), vec![fo_number.clone()]);
    // ...and a redelivery, like any later notification, is a no-op
    let again = run(
        &h,
        vec![
            record("m2", notification(&h.fo_id, "e2"), 2),
            record("m3", notification(&h.fo_id, "e3"), 1),
        ],
    )
    .await;
    assert_eq!(again["batchItemFailures"], json!([]), "{again}");
    // Logiwa has exactly one order, with the FulfillmentOrderNumber as its code
    assert_eq!(logiwa_codes(&h), vec![fo_number.clone()]);
    // ...the ids are linked, and the FulfillmentOrder moved to Assigned
    let links = h.xref.links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].1.code, fo_number);
    let fo = h.sf.state().record("FulfillmentOrder", &h.fo_id).expect("fo");
    assert_eq!(fo["Status"], "Assigned");
    assert!(h.queue.sent(DLQ).is_empty());
}

#[tokio::test]
async fn an_order_already_in_logiwa_but_not_linked_is_linked_instead_of_created_again() {
    // Given the order was created in Logiwa by an earlier attempt that crashed before linking
    let h = harness(tables()).await;
    run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    let h2 = Harness {
        xref: Arc::new(MemoryXref::new()),
        ..h
    };
    let mut app = h2.app.clone();
    app.ports.xref = h2.xref.clone();
    app.ports.idempotency = Arc::new(MemoryIdempotency::new());
    let h2 = Harness { app, ..h2 };
    // When a new notification arrives
    let resp = run(&h2, vec![record("m2", notification(&h2.fo_id, "e2"), 1)]).await;
    // Then Logiwa still has one order and the link is restored
    assert_eq!(resp["batchItemFailures"], json!([]));
    assert_eq!(logiwa_codes(&h2).len(), 1);
    assert_eq!(h2.xref.links().len(), 1);
}

#[tokio::test]
async fn an_unmapped_warehouse_is_parked_with_the_table_value_and_field() {
    let mut t = tables();
    t.warehouse.entries.clear();
    let h = harness(t).await;
    let resp = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]), "parked, not retried");
    let parked = h.queue.sent(DLQ);
    assert_eq!(parked.len(), 1);
    let attr = |k: &str| {
        parked[0]
            .attributes
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(attr(attrs::ERROR_CODE), "MAPPING_MISSING");
    assert!(
        attr(attrs::ERROR_REASON).contains("no warehouse mapping for 'WH1' (field fulfilled_from)"),
        "{}",
        attr(attrs::ERROR_REASON)
    );
    assert!(logiwa_codes(&h).is_empty());
}

#[tokio::test]
async fn a_poison_body_fails_only_itself_and_is_parked() {
    let h = harness(tables()).await;
    let resp = run(
        &h,
        vec![
            record("bad", "not json".into(), 1),
            record("good", notification(&h.fo_id, "e1"), 1),
        ],
    )
    .await;
    assert_eq!(resp["batchItemFailures"], json!([]));
    assert_eq!(logiwa_codes(&h).len(), 1);
    let parked = h.queue.sent(DLQ);
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body, "not json");
}

#[tokio::test]
async fn a_salesforce_outage_is_retried_and_never_creates_anything() {
    let h = harness(tables()).await;
    h.sf.state()
        .add_fault(waybill_simulators::FaultRule::status(503).path_contains("/query"));
    let resp = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    assert_eq!(resp["batchItemFailures"][0]["itemIdentifier"], "m1", "{resp}");
    assert!(logiwa_codes(&h).is_empty());
    assert!(h.queue.sent(DLQ).is_empty());
}

#[tokio::test]
async fn a_repeated_notification_in_a_batch_whose_first_failed_is_retried_too_not_acknowledged() {
    // Given Logiwa refusing every create for a moment, and two notifications of one order in one batch
    let h = harness(tables()).await;
    h.logiwa
        .state()
        .add_fault(waybill_simulators::FaultRule::status(503).path_contains("/ShipmentOrder/create"));
    let resp = run(
        &h,
        vec![
            record("m1", notification(&h.fo_id, "e1"), 1),
            record("m2", notification(&h.fo_id, "e2"), 1),
        ],
    )
    .await;
    // Then both go back to SQS (the repeat shares its first's failure rather than being dropped), and
    // nothing was created or parked
    let mut failed: Vec<String> = resp["batchItemFailures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect();
    failed.sort();
    assert_eq!(failed, vec!["m1".to_owned(), "m2".to_owned()], "{resp}");
    assert!(logiwa_codes(&h).is_empty());
    assert!(h.queue.sent(DLQ).is_empty());
}

#[tokio::test]
async fn a_record_that_no_longer_exists_in_salesforce_is_parked_as_order_not_found() {
    let h = harness(tables()).await;
    let resp = run(&h, vec![record("m1", notification("0a3000000000099", "e1"), 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]));
    let parked = h.queue.sent(DLQ);
    let code = parked[0]
        .attributes
        .iter()
        .find(|(n, _)| n == attrs::ERROR_CODE)
        .map(|(_, v)| v.clone());
    assert_eq!(code.as_deref(), Some("ORDER_NOT_FOUND"));
}

#[tokio::test]
async fn a_failed_status_update_converges_on_redelivery_without_a_second_order() {
    // Given Salesforce refuses the status update once (after every internal retry)
    let h = harness(tables()).await;
    h.sf.state().add_fault(
        waybill_simulators::FaultRule::status(503)
            .method("PATCH")
            .path_contains("/composite/sobjects")
            .times(3),
    );
    // When the notification is processed, then redelivered
    let first = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    let fo = h.sf.state().record("FulfillmentOrder", &h.fo_id).expect("fo");
    assert_eq!(first["batchItemFailures"], json!([{"itemIdentifier": "m1"}]), "{first}");
    assert_eq!(fo["Status"], "Allocated");
    let second = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 2)]).await;
    // Then the order exists once and the status is set
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    assert_eq!(logiwa_codes(&h).len(), 1);
    assert_eq!(
        h.sf.state().record("FulfillmentOrder", &h.fo_id).expect("fo")["Status"],
        "Assigned"
    );
}

#[tokio::test]
async fn a_batch_reads_salesforce_once_and_updates_statuses_in_one_call() {
    let h = harness(tables()).await;
    let before = h.sf.state().stats();
    run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    let after = h.sf.state().stats();
    assert_eq!(after.family("query") - before.family("query"), 1);
    assert_eq!(
        after.family("composite/sobjects") - before.family("composite/sobjects"),
        1
    );
}

#[tokio::test]
async fn the_mixed_sqs_fixture_parks_both_records_with_their_reasons() {
    // Given the events/ fixture: a notification for a record this org does not have, and a non-JSON body
    let h = harness(tables()).await;
    let event: Value = serde_json::from_str(include_str!(
        "../../../events/salesforce-webhook/sqs-order-notifications.json"
    ))
    .expect("fixture");
    // When the batch is processed
    let resp = h
        .app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("batch");
    // Then neither is retried; both are parked with a code saying why
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    let mut codes: Vec<String> = h
        .queue
        .sent(DLQ)
        .iter()
        .filter_map(|m| {
            m.attributes
                .iter()
                .find(|(k, _)| k == attrs::ERROR_CODE)
                .map(|(_, v)| v.clone())
        })
        .collect();
    codes.sort();
    assert_eq!(codes, vec!["MESSAGE_MALFORMED", "ORDER_NOT_FOUND"]);
}

fn fo_status(h: &Harness) -> String {
    h.sf.state().record("FulfillmentOrder", &h.fo_id).expect("fo")["Status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_repeated_notification_never_moves_a_fulfilled_order_back_to_assigned() {
    // Given the order went to Logiwa (Assigned) and then shipped (Fulfilled)
    let h = harness(tables()).await;
    run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    assert_eq!(fo_status(&h), "Assigned");
    h.sf.state()
        .user_update("FulfillmentOrder", &h.fo_id, json!({"Status": "Fulfilled"}))
        .expect("fulfilled");
    // When a new notification (another eventId, e.g. a forwarded FOStatusChangedEvent) arrives
    let resp = run(&h, vec![record("m2", notification(&h.fo_id, "e2"), 1)]).await;
    // Then nothing fails and the status stays Fulfilled: its history never returns to Assigned
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(fo_status(&h), "Fulfilled");
    let values: Vec<Value> =
        h.sf.state()
            .field_history("FulfillmentOrder", &h.fo_id, "Status")
            .into_iter()
            .map(|c| c.new)
            .collect();
    assert_eq!(values, vec![json!("Assigned"), json!("Fulfilled")]);
    assert_eq!(logiwa_codes(&h).len(), 1);
}

#[tokio::test]
async fn a_users_cancelled_status_is_never_overwritten() {
    let h = harness(tables()).await;
    run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    h.sf.state()
        .user_update("FulfillmentOrder", &h.fo_id, json!({"Status": "Cancelled"}))
        .expect("cancelled");
    let resp = run(&h, vec![record("m2", notification(&h.fo_id, "e2"), 1)]).await;
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    assert_eq!(fo_status(&h), "Cancelled");
}

#[tokio::test]
async fn a_notification_before_the_order_is_submittable_does_not_block_the_later_one() {
    // Given the order is still a Draft when it is first notified
    let h = harness(tables()).await;
    h.sf.state()
        .user_update("FulfillmentOrder", &h.fo_id, json!({"Status": "Draft"}))
        .expect("draft");
    let first = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    assert!(logiwa_codes(&h).is_empty(), "a draft is not sent");
    assert!(h.queue.sent(DLQ).is_empty(), "not parked either");
    // When it is allocated and notified again
    h.sf.state()
        .user_update("FulfillmentOrder", &h.fo_id, json!({"Status": "Allocated"}))
        .expect("allocated");
    let second = run(&h, vec![record("m2", notification(&h.fo_id, "e2"), 1)]).await;
    // Then it reaches the WMS
    assert_eq!(second["batchItemFailures"], json!([]), "{second}");
    assert_eq!(logiwa_codes(&h).len(), 1);
    assert_eq!(fo_status(&h), "Assigned");
}

#[tokio::test]
async fn the_order_state_item_holds_the_stage_both_ids_and_the_last_error() {
    let h = harness(tables()).await;
    run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    let states = h.states.all();
    assert_eq!(states.len(), 1);
    let st = &states[0];
    assert_eq!(st.source_id, SalesforceId::parse(&h.fo_id).expect("id").as_str());
    assert_eq!(
        st.stage.as_ref().map(|e| e.stage),
        Some(waybill::lifecycle::Stage::Submitted)
    );
    assert_eq!(
        st.wms.as_ref().map(|w| w.code.clone()),
        logiwa_codes(&h).first().cloned()
    );
    assert!(st.last_error.is_none());
}

#[tokio::test]
async fn parallel_batches_for_one_order_create_it_once_and_set_its_status_once() {
    // Given eight invocations about the same order running at the same time
    let h = harness(tables()).await;
    let runs = (0..8).map(|i| {
        let h = &h;
        async move {
            run(
                h,
                vec![record(&format!("m{i}"), notification(&h.fo_id, &format!("e{i}")), 1)],
            )
            .await
        }
    });
    let responses = futures::future::join_all(runs).await;
    // Then the ones that met the lease are retried, and their retries are no-ops
    let retried: Vec<String> = responses
        .iter()
        .flat_map(|r| r["batchItemFailures"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
        .collect();
    for id in &retried {
        let again = run(&h, vec![record(id, notification(&h.fo_id, id), 2)]).await;
        assert_eq!(again["batchItemFailures"], json!([]), "{again}");
    }
    assert_eq!(logiwa_codes(&h).len(), 1, "exactly one WMS order");
    let history = h.sf.state().field_history("FulfillmentOrder", &h.fo_id, "Status");
    assert_eq!(history.len(), 1, "one status write: {history:?}");
    assert_eq!(fo_status(&h), "Assigned");
}

#[tokio::test]
async fn a_notification_whose_order_another_invocation_holds_is_acknowledged_only_once_past_submitted() {
    // Given the order created and linked (stage submitted), and its lease held by another invocation
    let h = harness(tables()).await;
    let first = run(&h, vec![record("m1", notification(&h.fo_id, "e1"), 1)]).await;
    assert_eq!(first["batchItemFailures"], json!([]), "{first}");
    let id = SalesforceId::parse(&h.fo_id).expect("id");
    let leases = waybill::lease::Leases::new(h.app.ports.idempotency.as_ref());
    let _held = leases
        .try_acquire(&waybill::lease::order_subject(&id), 0)
        .await
        .expect("store")
        .expect("free");
    let statuses_before = h.sf.state().field_history("FulfillmentOrder", &h.fo_id, "Status").len();
    // When a redelivered notification arrives while the order is only submitted
    let busy = run(&h, vec![record("m2", notification(&h.fo_id, "e2"), 1)]).await;
    // Then it is retried, since its status on submit may still be owed
    assert_eq!(busy["batchItemFailures"], json!([{"itemIdentifier": "m2"}]), "{busy}");
    // And when the holder has moved the order past submitted, the next one is acknowledged without any
    // work: no second WMS order and no status write
    let now = time::OffsetDateTime::now_utc();
    waybill::order_state::Tracker::new(h.states.as_ref(), "salesforce")
        .written_back(
            id.as_str(),
            waybill::lifecycle::Stage::Shipped,
            now,
            "logiwa",
            Some(waybill::order_state::WmsRead {
                started: now,
                changed_at: None,
            }),
        )
        .await
        .expect("state");
    let covered = run(&h, vec![record("m3", notification(&h.fo_id, "e3"), 1)]).await;
    assert_eq!(covered["batchItemFailures"], json!([]), "{covered}");
    assert_eq!(logiwa_codes(&h).len(), 1);
    assert_eq!(
        h.sf.state().field_history("FulfillmentOrder", &h.fo_id, "Status").len(),
        statuses_before
    );
}

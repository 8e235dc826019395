//! The scheduled order sweep: the real Logiwa adapter against the Logiwa simulator (webhooks off, as if
//! Logiwa had given up on every one), with in-memory AWS ports, fed the schedule fixture from `events/`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use time::OffsetDateTime;
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::domain::{LocationCode, SalesforceId};
use waybill::fakes::{MemoryIdempotency, MemoryOrderState, MemoryQueue, MemorySecrets, MemoryWatermarks, MemoryXref};
use waybill::messages::{Envelope, FulfillmentEvent};
use waybill::order_state::{Tracker, WmsRead, SALESFORCE_SOURCE};
use waybill::ports::{WatermarkStore, WmsConnector, WmsRef, XrefStore};
use waybill_simulators::logiwa::{LogiwaSeed, ShipRequest};
use waybill_simulators::{FaultRule, LogiwaConfig as SimConfig, LogiwaSim, LogiwaState, RunningSim};
use wms_webhook::sweep::{SweepConfig, SweepPorts};
use wms_webhook::{App, Config, Ports};

const EVENTS: &str = "https://sqs.local/fulfillment-events";
const SCHEDULE: &str = include_str!("../../../events/wms-webhook/scheduled-sweep.json");
const STREAM: &str = "order-sweep#logiwa";

struct Harness {
    app: App,
    queue: Arc<MemoryQueue>,
    xref: Arc<MemoryXref>,
    states: Arc<MemoryOrderState>,
    watermarks: Arc<MemoryWatermarks>,
    wms: Arc<Logiwa>,
    sim: RunningSim<LogiwaState>,
}

async fn harness() -> Harness {
    harness_with(Duration::ZERO).await
}

async fn harness_with(grace: Duration) -> Harness {
    let seed = LogiwaSeed::demo();
    let client = seed.clients[0].identifier;
    let sim = LogiwaSim::start(SimConfig {
        seed,
        webhook_delivery: false,
        ..SimConfig::default()
    })
    .await
    .expect("logiwa simulator");
    let d = SimConfig::default();
    let creds = serde_json::json!({"base_url": sim.base_url(), "email": d.email, "password": d.password,
        "client_identifier": client.to_string()});
    let secrets = Arc::new(MemorySecrets::new().with("logiwa", &creds.to_string()));
    // Two rows a page, so a sweep of a few orders already pages; a plan faster than Basic and short
    // retry pauses, so the tests spend their time on the sweep rather than on the rate limit.
    let mut lw = LogiwaConfig::new("logiwa").with_rate(std::num::NonZeroU32::new(50).expect("rate"));
    lw.page_size = 2;
    lw.http.retry = waybill::adapters::http_client::RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    let wms = Arc::new(Logiwa::new(lw, secrets.clone()).expect("adapter"));
    let queue = Arc::new(MemoryQueue::new());
    let xref = Arc::new(MemoryXref::new());
    let states = Arc::new(MemoryOrderState::new());
    let watermarks = Arc::new(MemoryWatermarks::new());
    let app = App {
        config: Config {
            fulfillment_events_queue_url: EVENTS.into(),
            token_secret_id: "logiwa-token".into(),
            allowed_ips: Vec::new(),
            max_body_bytes: 65_536,
            dedup_window: Duration::from_secs(3600),
            sweep: SweepConfig {
                overlap: Duration::from_secs(300),
                first_lookback: Duration::from_secs(3600),
                grace,
                concurrency: 4,
            },
        },
        ports: Ports {
            idempotency: Arc::new(MemoryIdempotency::new()),
            queue: queue.clone(),
            secrets,
            parsers: Arc::new(waybill::adapters::inbound_parsers()),
            sweep: Some(SweepPorts {
                wms: Arc::new(waybill::registry::Registry::new().with(wms.clone() as Arc<dyn WmsConnector>)),
                xref: xref.clone(),
                order_state: states.clone(),
                watermarks: watermarks.clone(),
            }),
        },
    };
    Harness {
        app,
        queue,
        xref,
        states,
        watermarks,
        wms,
        sim,
    }
}

/// Creates order `n` in Logiwa as the orders consumer would, and links it when `link`.
async fn create(h: &Harness, n: u32, link: bool) -> (SalesforceId, WmsRef) {
    let tables = waybill::testing::demo_mapping_tables(waybill_simulators::demo::LOGIWA_WAREHOUSE);
    let mut order = waybill::testing::sample_order(vec![waybill::testing::sample_line(1, "SKU-1", "2", "Each")]);
    order.fulfilled_from = LocationCode::parse("WH1").expect("wh");
    order.service_level.method = "UPS Ground".into();
    let mut req = tables.map_order(&order).expect("mapped");
    req.code = format!("FO-{n:07}");
    let created = h.wms.create_order(&req).await.expect("created");
    let sf_id = SalesforceId::parse(&format!("0a3{n:012}")).expect("id");
    if link {
        h.xref.link(&sf_id, &created).await.expect("link");
    }
    (sf_id, created)
}

fn ship(h: &Harness, code: &str, tracking: &str, partial: bool) {
    h.sim
        .state()
        .ship(code, None, ShipRequest::one_package(tracking, "SKU-1", 1, partial))
        .expect("shipped");
}

async fn fire(h: &Harness) -> Result<Value, waybill::error::InvocationError> {
    let event: Value = serde_json::from_str(SCHEDULE).expect("fixture");
    h.app.handle(LambdaEvent::new(event, Context::default())).await
}

fn enqueued(h: &Harness) -> Vec<FulfillmentEvent> {
    h.queue
        .sent(EVENTS)
        .iter()
        .map(|m| Envelope::<FulfillmentEvent>::parse(&m.body).expect("envelope").data)
        .collect()
}

#[tokio::test]
async fn a_shipped_order_whose_webhooks_never_arrived_is_enqueued_once_however_often_the_sweep_runs() {
    // Given an order of ours that shipped, and Logiwa delivered none of its webhooks
    let h = harness().await;
    let (_, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZSWEEP1", false);
    // When the schedule fires twice (the second window overlaps the first)
    let first = fire(&h).await.expect("sweep");
    let second = fire(&h).await.expect("sweep");
    // Then one fulfilment event names the order, with its WMS id, and the repeat was a duplicate
    let events = enqueued(&h);
    assert_eq!(events.len(), 1, "{first} {second}");
    assert_eq!(events[0].order_code, order.code);
    assert_eq!(events[0].wms_order_id.as_ref(), Some(&order.id));
    assert_eq!(events[0].topic, wms_webhook::sweep::SWEEP_TOPIC);
    assert_eq!(first["systems"][0]["enqueued"], 1);
    assert_eq!(second["systems"][0]["duplicates"], 1);
    assert_eq!(second["systems"][0]["advanced"], true);
}

#[tokio::test]
async fn a_shipped_change_a_write_back_already_read_is_left_alone_but_the_next_change_is_not() {
    // Given a shipped order whose write-back read the WMS version with this change
    let h = harness().await;
    let (sf_id, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZSPLIT1", true);
    let read = h.wms.shipments(&order).await.expect("read");
    assert!(read.changed_at.is_some(), "Logiwa rows carry updatedDateTime");
    let now = OffsetDateTime::now_utc();
    Tracker::new(h.states.as_ref(), SALESFORCE_SOURCE)
        .written_back(
            sf_id.as_str(),
            waybill::lifecycle::Stage::PartiallyShipped,
            now,
            "logiwa",
            Some(WmsRead {
                started: now,
                changed_at: read.changed_at,
            }),
        )
        .await
        .expect("state");
    // When the sweep runs
    let report = fire(&h).await.expect("sweep");
    // Then nothing is enqueued: that change is in Salesforce already
    assert!(enqueued(&h).is_empty(), "{report}");
    assert_eq!(report["systems"][0]["written"], 1);
    // And when the second package of the split ships, the next sweep enqueues it
    tokio::time::sleep(Duration::from_millis(5)).await;
    ship(&h, &order.code, "1ZSPLIT2", false);
    fire(&h).await.expect("sweep");
    assert_eq!(enqueued(&h).len(), 1);
}

#[tokio::test]
async fn a_change_younger_than_the_grace_is_left_to_its_webhooks_and_taken_by_a_later_sweep() {
    // Given a sweep that leaves changes younger than 400 ms to their webhooks, and an order that just shipped
    let h = harness_with(Duration::from_millis(400)).await;
    let (_, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZGRACE1", false);
    // When the schedule fires at once
    let early = fire(&h).await.expect("sweep");
    // Then nothing is enqueued yet, though the window up to the grace is done
    assert!(enqueued(&h).is_empty(), "{early}");
    assert_eq!(early["systems"][0]["advanced"], true);
    // And a sweep after the grace has passed takes it
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = fire(&h).await.expect("sweep");
    assert_eq!(enqueued(&h).len(), 1, "{later}");
}

#[tokio::test]
async fn orders_that_have_not_shipped_or_are_not_ours_are_not_enqueued() {
    // Given an open order of ours, and a shipped order someone else created in Logiwa
    let h = harness().await;
    create(&h, 1, true).await;
    let (_, theirs) = create(&h, 2, false).await;
    ship(&h, &theirs.code, "1ZTHEIRS", false);
    // When the sweep runs
    let report = fire(&h).await.expect("sweep");
    // Then nothing is enqueued; the foreign order is counted as unlinked
    assert!(enqueued(&h).is_empty(), "{report}");
    assert_eq!(report["systems"][0]["changed"], 2);
    assert_eq!(report["systems"][0]["unlinked"], 1);
    assert_eq!(report["systems"][0]["advanced"], true);
}

#[tokio::test]
async fn a_failed_listing_fails_the_invocation_and_keeps_the_watermark_for_the_next_sweep() {
    // Given a sweep that completed, then an order that ships while Logiwa's listing answers 503
    let h = harness().await;
    fire(&h).await.expect("first sweep");
    let mark = h.watermarks.get(STREAM).await.expect("get").expect("stored");
    let (_, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZOUTAGE", false);
    let rule = h
        .sim
        .state()
        .add_fault(FaultRule::status(503).path_contains("/ShipmentOrder/list"));
    // When the schedule fires during the outage
    let err = fire(&h).await.expect_err("listing fails");
    // Then the invocation fails with a code (for the failure destination) and the watermark stays
    assert_eq!(err.code, "ORDER_SWEEP_FAILED", "{err:?}");
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), Some(mark));
    assert!(enqueued(&h).is_empty());
    // And once the listing answers, the next sweep finds the order
    h.sim.state().remove_fault(rule);
    fire(&h).await.expect("sweep");
    assert_eq!(enqueued(&h).len(), 1);
}

#[tokio::test]
async fn a_listing_cut_short_enqueues_what_it_saw_but_keeps_the_watermark() {
    // Given three shipped orders of ours, and a listing whose pages come back with one row only
    let h = harness().await;
    for n in 1..=3 {
        let (_, order) = create(&h, n, true).await;
        ship(&h, &order.code, &format!("1ZCUT{n}"), false);
    }
    let rule = h
        .sim
        .state()
        .add_fault(FaultRule::truncate_list(1).path_contains("/ShipmentOrder/list"));
    // When the sweep runs
    let report = fire(&h).await.expect("sweep");
    // Then it says why the listing is not whole, and does not move the watermark past what it missed
    assert!(report["systems"][0]["incomplete"].is_string(), "{report}");
    assert_eq!(report["systems"][0]["advanced"], false);
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), None);
    let seen = enqueued(&h).len();
    assert!(
        (1..3).contains(&seen),
        "what the short listing showed goes out at once: {report}"
    );
    // And the next whole sweep enqueues the rest, none twice
    h.sim.state().remove_fault(rule);
    fire(&h).await.expect("sweep");
    let mut codes: Vec<String> = enqueued(&h).into_iter().map(|e| e.order_code).collect();
    codes.sort();
    assert_eq!(codes, vec!["FO-0000001", "FO-0000002", "FO-0000003"]);
}

#[tokio::test]
async fn a_change_that_could_not_be_enqueued_holds_the_watermark_at_its_stamp_and_goes_out_with_the_next_sweep() {
    // Given a shipped order of ours, and a queue that refuses the next call
    let h = harness().await;
    let (_, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZQUEUE1", false);
    let stamp = h
        .wms
        .shipments(&order)
        .await
        .expect("read")
        .changed_at
        .expect("stamped");
    h.queue.fail_next_calls(1);
    // When the sweep runs
    let report = fire(&h).await.expect("sweep");
    // Then the order counts as failed, and the watermark stops at its change, not past it
    assert_eq!(report["systems"][0]["failed"], 1, "{report}");
    assert_eq!(h.watermarks.get(STREAM).await.expect("get"), Some(stamp));
    // And the next sweep enqueues it
    fire(&h).await.expect("sweep");
    assert_eq!(enqueued(&h).len(), 1);
}

#[tokio::test]
async fn a_sweep_near_its_deadline_defers_the_rest_and_the_next_sweep_resumes_from_the_oldest_deferred() {
    // Given three shipped orders of ours
    let h = harness().await;
    let mut stamps = Vec::new();
    for n in 1..=3 {
        let (_, order) = create(&h, n, true).await;
        ship(&h, &order.code, &format!("1ZLATE{n}"), false);
        stamps.push(
            h.wms
                .shipments(&order)
                .await
                .expect("read")
                .changed_at
                .expect("stamped"),
        );
    }
    // When the schedule fires with too little time left to check an order (4 s, less the margins)
    let mut ctx = Context::default();
    ctx.deadline = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms") + 4_000;
    let event: Value = serde_json::from_str(SCHEDULE).expect("fixture");
    let report = h.app.handle(LambdaEvent::new(event, ctx)).await.expect("sweep");
    // Then every order is deferred, and the watermark stops at the oldest of them
    assert_eq!(report["systems"][0]["deferred"], 3, "{report}");
    assert!(enqueued(&h).is_empty());
    assert_eq!(
        h.watermarks.get(STREAM).await.expect("get"),
        stamps.iter().min().copied()
    );
    // And a sweep with time enough enqueues all three
    fire(&h).await.expect("sweep");
    assert_eq!(enqueued(&h).len(), 3);
}

#[tokio::test]
async fn sweeps_running_at_once_enqueue_each_change_once() {
    // Given five shipped orders of ours
    let h = harness().await;
    for n in 1..=5 {
        let (_, order) = create(&h, n, true).await;
        ship(&h, &order.code, &format!("1ZPAR{n}"), false);
    }
    // When four sweeps run at the same time
    let runs = futures::future::join_all((0..4).map(|_| fire(&h))).await;
    assert!(runs.iter().all(Result::is_ok), "{runs:?}");
    // And one more after them, to pick up anything a concurrent run left in progress
    fire(&h).await.expect("sweep");
    // Then each order was enqueued exactly once
    let mut codes: Vec<String> = enqueued(&h).into_iter().map(|e| e.order_code).collect();
    codes.sort();
    assert_eq!(codes, (1..=5).map(|n| format!("FO-{n:07}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_scheduler_default_notification_runs_the_sweep_as_the_templates_input_does() {
    // Given a shipped order of ours, and a schedule set up without the template's Input
    let h = harness().await;
    let (_, order) = create(&h, 1, true).await;
    ship(&h, &order.code, "1ZDEFAULT", false);
    let event: Value = serde_json::from_str(include_str!(
        "../../../events/wms-webhook/scheduler-default-notification.json"
    ))
    .expect("fixture");
    // When Scheduler delivers its default notification
    let report = h
        .app
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .expect("sweep");
    // Then it sweeps
    assert_eq!(report["systems"][0]["enqueued"], 1, "{report}");
}

#[tokio::test]
async fn an_event_that_is_neither_http_nor_a_schedule_is_refused_with_a_code() {
    let h = harness().await;
    let err = h
        .app
        .handle(LambdaEvent::new(
            serde_json::json!({"hello": "world"}),
            Context::default(),
        ))
        .await
        .expect_err("refused");
    assert_eq!(err.code, "UNSUPPORTED_EVENT");
    assert!(enqueued(&h).is_empty());
}

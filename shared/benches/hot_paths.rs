//! Criterion benchmarks of the per-record hot paths: signature checks, message parsing, order mapping,
//! and the SQS batch helper's overhead. Run: `cargo bench -p waybill --bench hot_paths`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use time::macros::datetime;
use waybill::batch::{self, BatchOptions};
use waybill::domain::*;
use waybill::error::{Classified, FailureClass};
use waybill::fakes::MemoryQueue;
use waybill::mapping::{MappingTables, Target};
use waybill::messages::{Envelope, OrderNotification};
use waybill::webhook_auth::{sign, verify_signature};

fn order(lines: u32) -> Order {
    waybill::testing::sample_order(
        (0..lines)
            .map(|i| waybill::testing::sample_line(i, &format!("SKU-{i}"), "2", "Each"))
            .collect(),
    )
}

fn tables(lines: u32) -> MappingTables {
    let t = |v: &str| Target {
        value: v.into(),
        factor: None,
        service: None,
    };
    let mut m = MappingTables::default();
    for i in 0..lines {
        m.sku.entries.insert(format!("SKU-{i}"), t(&format!("LW-SKU-{i}")));
    }
    m.unit.entries.insert("Each".into(), t("Unit"));
    m.warehouse.entries.insert("LOC-EAST".into(), t("Main Warehouse"));
    m.carrier.entries.insert(
        "Ground".into(),
        Target {
            value: "UPS".into(),
            factor: None,
            service: Some("Ground".into()),
        },
    );
    m
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;
impl Classified for Never {
    fn class(&self) -> FailureClass {
        FailureClass::Transient
    }
    fn code(&self) -> &'static str {
        "NEVER"
    }
}

fn benches(c: &mut Criterion) {
    let body = vec![b'x'; 1024];
    let sig = sign(b"key", 1_700_000_000, &body);
    c.bench_function("verify_signature_1KiB", |b| {
        b.iter(|| {
            verify_signature(
                b"key",
                Some("1700000000"),
                Some(&sig),
                &body,
                1_700_000_000,
                Duration::from_secs(300),
            )
        })
    });

    let note = Envelope::new(
        CorrelationId::parse("c-1").expect("cid"),
        OrderNotification {
            event_id: EventId::parse("e-1").expect("e"),
            source: SourceSystem::SalesforceOrderManagement,
            object: "FulfillmentOrder".into(),
            record_id: SalesforceId::parse("0a3Dn000000TxyzIAC").expect("id"),
            received_at: datetime!(2026-11-23 0:00 UTC),
        },
    );
    let raw = note.to_outbound().expect("msg").body;
    c.bench_function("parse_order_notification", |b| {
        b.iter(|| Envelope::<OrderNotification>::parse(&raw))
    });

    let o = order(20);
    let t = tables(20);
    // Measure the success path: a mapping error would return early and flatter the number.
    if let Err(e) = t.map_order(&o) {
        panic!("benchmark input does not map: {e}");
    }
    c.bench_function("map_order_20_lines", |b| b.iter(|| t.map_order(&o)));

    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let opts = BatchOptions {
        function: "bench",
        concurrency: 5,
        dlq_url: Some("dlq".into()),
        max_receive_count: 5,
    };
    let queue = MemoryQueue::new();
    c.bench_function("batch_per_record_10_records", |b| {
        b.iter_batched(
            || {
                let mut e = aws_lambda_events::sqs::SqsEvent::default();
                e.records = (0..10)
                    .map(|i| {
                        let mut m = aws_lambda_events::sqs::SqsMessage::default();
                        m.message_id = Some(format!("m{i}"));
                        m.body = Some(raw.clone());
                        m
                    })
                    .collect();
                e
            },
            |event| {
                rt.block_on(batch::per_record(event, &opts, &queue, |_r| async {
                    Ok::<(), Never>(())
                }))
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(hot, benches);
criterion_main!(hot);

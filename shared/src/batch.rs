//! SQS consumer helper: per-record parsing, panic isolation, bounded concurrency, parking with reasons,
//! and an `SqsBatchResponse` that names exactly the records to retry.
//!
//! Semantics (Lambda + SQS with `ReportBatchItemFailures`):
//! - A record that succeeds is deleted by Lambda. A record listed in `batchItemFailures` becomes visible
//!   again after the visibility timeout and is retried; after `maxReceiveCount` receives SQS moves it to
//!   the DLQ.
//! - We never return `Err` for a record problem (that would fail the whole batch) and never emit an
//!   empty `itemIdentifier` (Lambda treats that as a full-batch failure).
//! - A **permanent** failure (bad input, missing mapping, validation) is parked at once: the original
//!   body and attributes are sent to the DLQ with `waybill.error.*` attributes giving the reason, and
//!   the record is reported as done so it is not retried pointlessly.
//! - A **transient** failure is retried; on its last allowed receive it is parked the same way, so the
//!   DLQ copy carries its reason. The redrive policy stays as the backstop for crashes and timeouts.
//! - A panic while processing a record fails that record only (transient: a bug may be fixed by a
//!   deploy; after `maxReceiveCount` it is parked with the panic message).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::{error, info, warn, Instrument};

use crate::domain::CorrelationId;
use crate::error::{chain, Classified, FailureClass};
use crate::ports::{OutboundMessage, QueuePublisher};

/// Attribute names on parked messages.
pub mod attrs {
    /// Stable error code.
    pub const ERROR_CODE: &str = "waybill.error.code";
    /// `transient` or `permanent`.
    pub const ERROR_CLASS: &str = "waybill.error.class";
    /// The error and its causes, truncated.
    pub const ERROR_REASON: &str = "waybill.error.reason";
    /// When it was parked.
    pub const FAILED_AT: &str = "waybill.failed_at";
    /// How many times SQS had delivered it.
    pub const RECEIVE_COUNT: &str = "waybill.receive_count";
    /// Which function parked it.
    pub const SOURCE_FUNCTION: &str = "waybill.source_function";
}

const MAX_REASON_CHARS: usize = 1024;

/// One SQS record as handlers see it.
#[derive(Debug, Clone)]
pub struct Record {
    /// SQS message id (the `itemIdentifier` when it fails).
    pub message_id: String,
    /// Raw body.
    pub body: String,
    /// `ApproximateReceiveCount` (1 on first delivery).
    pub receive_count: u32,
    /// `correlation_id` message attribute, when present.
    pub correlation_id: Option<String>,
    /// String message attributes.
    pub attributes: HashMap<String, String>,
}

impl Record {
    fn from_message(m: SqsMessage) -> Option<Self> {
        let message_id = m.message_id.filter(|id| !id.is_empty())?;
        let attributes: HashMap<String, String> = m
            .message_attributes
            .into_iter()
            .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
            .collect();
        Some(Self {
            message_id,
            body: m.body.unwrap_or_default(),
            receive_count: m
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            correlation_id: attributes.get("correlation_id").cloned(),
            attributes,
        })
    }
}

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Function name, stamped on parked records.
    pub function: &'static str,
    /// Records processed at once (per-record mode).
    pub concurrency: usize,
    /// DLQ to park in. `None` = never park; rely on the redrive policy alone.
    pub dlq_url: Option<String>,
    /// The source queue's `maxReceiveCount`: a transient failure on this receive is parked.
    pub max_receive_count: u32,
}

/// Why a record failed, as the helper records it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError<E: Classified + 'static> {
    /// The handler returned an error.
    #[error(transparent)]
    Handler(E),
    /// The handler panicked.
    #[error("handler panicked: {0}")]
    Panicked(String),
}

impl<E: Classified + 'static> Classified for RecordError<E> {
    fn class(&self) -> FailureClass {
        match self {
            Self::Handler(e) => e.class(),
            Self::Panicked(_) => FailureClass::Transient,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Handler(e) => e.code(),
            Self::Panicked(_) => "HANDLER_PANICKED",
        }
    }
}

/// What happened to each record, for tests and the local stack's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Records that succeeded.
    pub succeeded: Vec<String>,
    /// Records reported for retry.
    pub retried: Vec<String>,
    /// Records parked in the DLQ with their error code.
    pub parked: Vec<(String, String)>,
}

impl BatchReport {
    /// The Lambda response: the retried records.
    pub fn response(&self) -> SqsBatchResponse {
        let mut resp = SqsBatchResponse::default();
        resp.batch_item_failures = self
            .retried
            .iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id.clone();
                f
            })
            .collect();
        resp
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

async fn guarded<E, Fut>(fut: Fut) -> Result<(), RecordError<E>>
where
    E: Classified + 'static,
    Fut: Future<Output = Result<(), E>>,
{
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RecordError::Handler(e)),
        Err(p) => Err(RecordError::Panicked(panic_message(p.as_ref()))),
    }
}

fn split(event: SqsEvent) -> Vec<Record> {
    event
        .records
        .into_iter()
        .filter_map(|m| {
            let r = Record::from_message(m);
            if r.is_none() {
                // Without an id we cannot report it; Lambda deletes it only if the batch succeeds,
                // and SQS always sets ids, so this is a malformed test event.
                error!("sqs record without messageId skipped");
            }
            r
        })
        .collect()
}

/// Processes each record on its own with bounded concurrency.
pub async fn per_record<E, F, Fut>(
    event: SqsEvent,
    opts: &BatchOptions,
    publisher: &dyn QueuePublisher,
    handler: F,
) -> BatchReport
where
    E: Classified + Send + 'static,
    F: Fn(Record) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send,
{
    let records = split(event);
    let results: Vec<(Record, Result<(), RecordError<E>>)> = futures::stream::iter(records)
        .map(|r| {
            let span = tracing::info_span!("record", message_id = %r.message_id, correlation_id = r.correlation_id.as_deref().unwrap_or(""), receive_count = r.receive_count);
            let fut = guarded(handler(r.clone()));
            async move { (r, fut.await) }.instrument(span)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    settle(results, opts, publisher).await
}

/// Processes the records together (one downstream call for the batch), falling back to one record at a
/// time if the batch handler panics, so a poison record fails only itself.
///
/// The handler returns one result per record it was given, keyed by message id; a record it leaves out
/// counts as failed (transient), never as done.
pub async fn batched<E, F, Fut>(
    event: SqsEvent,
    opts: &BatchOptions,
    publisher: &dyn QueuePublisher,
    handler: F,
) -> BatchReport
where
    E: Classified + Send + 'static,
    F: Fn(Vec<Record>) -> Fut,
    Fut: Future<Output = HashMap<String, Result<(), E>>> + Send,
{
    let records = split(event);
    let whole = AssertUnwindSafe(handler(records.clone())).catch_unwind().await;
    let results = match whole {
        Ok(mut by_id) => records
            .into_iter()
            .map(|r| {
                let res = take_result(&mut by_id, &r.message_id);
                (r, res)
            })
            .collect(),
        Err(p) => {
            warn!(panic = %panic_message(p.as_ref()), "batch handler panicked; isolating records one by one");
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let one = AssertUnwindSafe(handler(vec![r.clone()])).catch_unwind().await;
                let res = match one {
                    Ok(mut m) => take_result(&mut m, &r.message_id),
                    Err(p) => Err(RecordError::Panicked(panic_message(p.as_ref()))),
                };
                out.push((r, res));
            }
            out
        }
    };
    settle(results, opts, publisher).await
}

/// This record's result from a batch handler's map; a record the handler left out counts as failed.
fn take_result<E: Classified + 'static>(
    by_id: &mut HashMap<String, Result<(), E>>,
    message_id: &str,
) -> Result<(), RecordError<E>> {
    match by_id.remove(message_id) {
        Some(res) => res.map_err(RecordError::Handler),
        None => Err(RecordError::Panicked(
            "handler returned no result for this record".into(),
        )),
    }
}

async fn settle<E: Classified + Send + 'static>(
    results: Vec<(Record, Result<(), RecordError<E>>)>,
    opts: &BatchOptions,
    publisher: &dyn QueuePublisher,
) -> BatchReport {
    let mut report = BatchReport::default();
    for (record, result) in results {
        let err = match result {
            Ok(()) => {
                report.succeeded.push(record.message_id);
                continue;
            }
            Err(e) => e,
        };
        let reason = chain(&err);
        let last_try = record.receive_count >= opts.max_receive_count;
        let permanent = err.class() == FailureClass::Permanent;
        error!(
            message_id = %record.message_id,
            correlation_id = record.correlation_id.as_deref().unwrap_or(""),
            error.code = err.code(),
            error.class = ?err.class(),
            error.message = %reason,
            receive_count = record.receive_count,
            max_receive_count = opts.max_receive_count,
            "record failed"
        );
        if (permanent || last_try) && opts.dlq_url.is_some() {
            match park(&record, &err, &reason, opts, publisher).await {
                Ok(()) => {
                    warn!(message_id = %record.message_id, error.code = err.code(), "record parked in DLQ");
                    report.parked.push((record.message_id, err.code().to_owned()));
                    continue;
                }
                Err(park_err) => {
                    // Leave it on the queue: the redrive policy moves it to the DLQ eventually.
                    error!(message_id = %record.message_id, error.message = %park_err, "parking failed; leaving record for retry");
                }
            }
        }
        report.retried.push(record.message_id);
    }
    info!(
        succeeded = report.succeeded.len(),
        retried = report.retried.len(),
        parked = report.parked.len(),
        "batch settled"
    );
    report
}

async fn park<E: Classified>(
    record: &Record,
    err: &E,
    reason: &str,
    opts: &BatchOptions,
    publisher: &dyn QueuePublisher,
) -> Result<(), String> {
    let Some(dlq) = opts.dlq_url.as_deref() else {
        return Err("no DLQ configured".into());
    };
    let correlation_id = record
        .correlation_id
        .as_deref()
        .and_then(|c| CorrelationId::parse(c).ok())
        .unwrap_or_else(CorrelationId::generate);
    let mut attributes: Vec<(String, String)> = record
        .attributes
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "correlation_id" | "message_type" | "schema_version"))
        .filter(|(k, _)| !k.starts_with("waybill."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    attributes.extend([
        (attrs::ERROR_CODE.to_owned(), err.code().to_owned()),
        (
            attrs::ERROR_CLASS.to_owned(),
            format!("{:?}", err.class()).to_lowercase(),
        ),
        (
            attrs::ERROR_REASON.to_owned(),
            reason.chars().take(MAX_REASON_CHARS).collect(),
        ),
        (attrs::FAILED_AT.to_owned(), now),
        (attrs::RECEIVE_COUNT.to_owned(), record.receive_count.to_string()),
        (attrs::SOURCE_FUNCTION.to_owned(), opts.function.to_owned()),
    ]);
    let message = OutboundMessage {
        body: record.body.clone(),
        correlation_id,
        message_type: record
            .attributes
            .get("message_type")
            .cloned()
            .unwrap_or_else(|| "unknown".into()),
        schema_version: record
            .attributes
            .get("schema_version")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        attributes,
    };
    match publisher.publish(dlq, std::slice::from_ref(&message)).await {
        Ok(failed) if failed.is_empty() => Ok(()),
        Ok(failed) => Err(failed
            .iter()
            .map(|f| format!("{}: {}", f.code, f.message))
            .collect::<Vec<_>>()
            .join("; ")),
        Err(e) => Err(chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryQueue;
    use aws_lambda_events::sqs::SqsMessageAttribute;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const DLQ: &str = "https://sqs.local/dlq";

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct TestError(&'static str, FailureClass);

    impl Classified for TestError {
        fn class(&self) -> FailureClass {
            self.1
        }
        fn code(&self) -> &'static str {
            "TEST_ERROR"
        }
    }

    fn msg(id: &str, body: &str, receive_count: u32) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = Some(body.to_owned());
        m.attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        let mut a = SqsMessageAttribute::default();
        a.string_value = Some("cid-1".into());
        a.data_type = Some("String".into());
        m.message_attributes.insert("correlation_id".into(), a);
        m
    }

    fn event(msgs: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = msgs;
        e
    }

    fn opts() -> BatchOptions {
        BatchOptions {
            function: "test-fn",
            concurrency: 4,
            dlq_url: Some(DLQ.into()),
            max_receive_count: 3,
        }
    }

    async fn outcome(body: &str) -> Result<(), TestError> {
        match body {
            "ok" => Ok(()),
            "transient" => Err(TestError("downstream timed out", FailureClass::Transient)),
            "permanent" => Err(TestError("no mapping for SKU X", FailureClass::Permanent)),
            "panic" => panic!("poison record"),
            _ => Ok(()),
        }
    }

    #[tokio::test]
    async fn a_transient_failure_is_reported_for_retry_and_the_rest_succeed() {
        let q = MemoryQueue::new();
        let report = per_record(
            event(vec![msg("a", "ok", 1), msg("b", "transient", 1), msg("c", "ok", 1)]),
            &opts(),
            &q,
            |r| async move { outcome(&r.body).await },
        )
        .await;
        assert_eq!(report.retried, vec!["b".to_owned()]);
        let mut ok = report.succeeded.clone();
        ok.sort();
        assert_eq!(ok, vec!["a", "c"]);
        let resp = report.response();
        assert_eq!(resp.batch_item_failures.len(), 1);
        assert_eq!(resp.batch_item_failures[0].item_identifier, "b");
        assert!(q.sent(DLQ).is_empty());
    }

    #[tokio::test]
    async fn a_permanent_failure_is_parked_at_once_with_its_reason() {
        let q = MemoryQueue::new();
        let report = per_record(event(vec![msg("a", "permanent", 1)]), &opts(), &q, |r| async move {
            outcome(&r.body).await
        })
        .await;
        assert!(report.retried.is_empty());
        assert_eq!(report.parked, vec![("a".to_owned(), "TEST_ERROR".to_owned())]);
        let parked = q.sent(DLQ);
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].body, "permanent");
        assert_eq!(parked[0].correlation_id.as_str(), "cid-1");
        let attr = |k: &str| {
            parked[0]
                .attributes
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(attr(attrs::ERROR_CODE).as_deref(), Some("TEST_ERROR"));
        assert_eq!(attr(attrs::ERROR_CLASS).as_deref(), Some("permanent"));
        assert_eq!(attr(attrs::ERROR_REASON).as_deref(), Some("no mapping for SKU X"));
        assert_eq!(attr(attrs::SOURCE_FUNCTION).as_deref(), Some("test-fn"));
    }

    #[tokio::test]
    async fn a_transient_failure_on_its_last_receive_is_parked_instead_of_retried() {
        let q = MemoryQueue::new();
        let report = per_record(event(vec![msg("a", "transient", 3)]), &opts(), &q, |r| async move {
            outcome(&r.body).await
        })
        .await;
        assert!(report.retried.is_empty());
        assert_eq!(q.sent(DLQ).len(), 1);
        let receive = q.sent(DLQ)[0]
            .attributes
            .iter()
            .find(|(k, _)| k == attrs::RECEIVE_COUNT)
            .map(|(_, v)| v.clone());
        assert_eq!(receive.as_deref(), Some("3"));
    }

    #[tokio::test]
    async fn a_panicking_record_fails_only_itself() {
        let q = MemoryQueue::new();
        let report = per_record(
            event(vec![msg("a", "ok", 1), msg("p", "panic", 1), msg("c", "ok", 1)]),
            &opts(),
            &q,
            |r| async move { outcome(&r.body).await },
        )
        .await;
        assert_eq!(report.retried, vec!["p".to_owned()]);
        assert_eq!(report.succeeded.len(), 2);
    }

    #[tokio::test]
    async fn a_panicking_batch_handler_is_retried_record_by_record_so_only_the_poison_fails() {
        let q = MemoryQueue::new();
        let calls = AtomicUsize::new(0);
        let report = batched(
            event(vec![msg("a", "ok", 1), msg("p", "panic", 1), msg("c", "ok", 1)]),
            &opts(),
            &q,
            |records: Vec<Record>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut out = HashMap::new();
                    for r in records {
                        let res = outcome(&r.body).await;
                        out.insert(r.message_id, res);
                    }
                    out
                }
            },
        )
        .await;
        // One whole-batch call, then one per record.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(report.retried, vec!["p".to_owned()]);
        assert_eq!(report.succeeded.len(), 2);
    }

    #[tokio::test]
    async fn a_record_the_batch_handler_forgot_is_retried_not_dropped() {
        let q = MemoryQueue::new();
        let report = batched(
            event(vec![msg("a", "ok", 1), msg("b", "ok", 1)]),
            &opts(),
            &q,
            |_records: Vec<Record>| async move {
                let mut out: HashMap<String, Result<(), TestError>> = HashMap::new();
                out.insert("a".into(), Ok(()));
                out
            },
        )
        .await;
        assert_eq!(report.retried, vec!["b".to_owned()]);
    }

    #[tokio::test]
    async fn when_parking_fails_the_record_is_left_for_the_redrive_policy() {
        let q = MemoryQueue::new();
        q.fail_next_calls(1);
        let report = per_record(event(vec![msg("a", "permanent", 1)]), &opts(), &q, |r| async move {
            outcome(&r.body).await
        })
        .await;
        assert_eq!(report.retried, vec!["a".to_owned()]);
        assert!(report.parked.is_empty());
    }
}

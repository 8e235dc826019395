//! Event source mapping emulator: polls a queue like Lambda's SQS poller, builds the exact SQS event,
//! invokes the function, and deletes what Lambda would delete (honouring `ReportBatchItemFailures`).
//!
//! Like Lambda, it keeps up to `ScalingConfig.MaximumConcurrency` batches in flight at once, so every
//! end-to-end run exercises parallel batches of one queue. One receiver per mapping gathers the batches
//! (Lambda's pollers scale with the backlog; a fixed crowd of long-polling receivers would only burn the
//! emulator's CPU) and hands each to its own invocation while a slot is free.
//!
//! The one deliberate deviation is the time-compression knob: after a failed batch, the failed
//! records' visibility is set to `visibility_override` seconds (instead of waiting the queue's full
//! VisibilityTimeout), so retry and dead-letter paths run in seconds.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::functions::LocalFunction;
use crate::template::{SqsEventSpec, REGION};

/// Counters of one mapping.
#[derive(Debug, Default)]
pub struct EsmStats {
    /// Invocations.
    pub invocations: AtomicU64,
    /// Records delivered (a redelivery counts again).
    pub records: AtomicU64,
    /// Records that failed (listed in `batchItemFailures`, or in a failed invocation).
    pub failures: AtomicU64,
    /// Records deleted after success.
    pub deleted: AtomicU64,
    /// Batches being processed right now.
    pub in_flight: AtomicU64,
    /// The most batches ever processed at once (proof the run was parallel).
    pub max_in_flight: AtomicU64,
}

/// One running mapping.
#[derive(Debug)]
pub struct EventSourceMapping {
    /// Its declaration.
    pub spec: SqsEventSpec,
    /// Queue URL.
    pub queue_url: String,
    /// Counters.
    pub stats: Arc<EsmStats>,
    tasks: Vec<JoinHandle<()>>,
    /// Asks the poller to gather no more batches (`stop_after_in_flight`).
    stopping: tokio::sync::watch::Sender<bool>,
    /// Becomes true when the poller has gathered its last batch and every batch it started has settled.
    settled: tokio::sync::watch::Receiver<bool>,
}

impl EventSourceMapping {
    /// Starts polling.
    pub fn start(
        spec: SqsEventSpec,
        queue_url: String,
        sqs: aws_sdk_sqs::Client,
        function: Arc<LocalFunction>,
        visibility_override: Option<u32>,
    ) -> Self {
        let stats = Arc::new(EsmStats::default());
        let (stopping, stop_asked) = tokio::sync::watch::channel(false);
        let (settled_tx, settled) = tokio::sync::watch::channel(false);
        let poller = Arc::new(Poller {
            spec: spec.clone(),
            queue_url: queue_url.clone(),
            sqs,
            function,
            visibility_override,
            stats: stats.clone(),
        });
        let tasks = vec![tokio::spawn(async move {
            poller.run(stop_asked).await;
            let _ = settled_tx.send(true);
        })];
        Self {
            spec,
            queue_url,
            stats,
            tasks,
            stopping,
            settled,
        }
    }

    /// Stops polling the way disabling a mapping does in Lambda: no new batch is gathered, and the
    /// batches already handed to the function run to their end (settled, their order leases given
    /// back) before this returns. A gather in progress is still handed over.
    pub async fn stop_after_in_flight(&self) {
        let _ = self.stopping.send(true);
        let mut settled = self.settled.clone();
        let _ = settled.wait_for(|done| *done).await;
    }

    /// Stops polling (an in-flight batch is abandoned; its messages reappear after the visibility timeout).
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for EventSourceMapping {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Poller {
    spec: SqsEventSpec,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
    function: Arc<LocalFunction>,
    visibility_override: Option<u32>,
    stats: Arc<EsmStats>,
}

impl Poller {
    /// Gathers batches one after another and runs each in its own task, at most `MaximumConcurrency` at
    /// once, until `stop_asked`; then waits for the batches it started. Aborting this task drops the set,
    /// which abandons the in-flight batches too.
    async fn run(self: Arc<Self>, stop_asked: tokio::sync::watch::Receiver<bool>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(self.spec.maximum_concurrency.max(1)).unwrap_or(1),
        ));
        let mut running = tokio::task::JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            while running.try_join_next().is_some() {}
            if *stop_asked.borrow() {
                while running.join_next().await.is_some() {}
                return;
            }
            match self.next_batch().await {
                Ok(Some(batch)) => {
                    backoff = Duration::from_millis(200);
                    let me = self.clone();
                    running.spawn(async move {
                        if let Err(e) = me.invoke(batch).await {
                            warn!(queue = %me.spec.queue, error.message = %e, "settling a batch failed");
                        }
                        drop(slot);
                    });
                }
                Ok(None) => drop(slot),
                Err(e) => {
                    drop(slot);
                    warn!(queue = %self.spec.queue, error.message = %e, "poll failed; backing off");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn receive(&self, max: i32, wait: i32) -> anyhow::Result<Vec<Message>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await?;
        Ok(out.messages.unwrap_or_default())
    }

    /// One batch: wait for the first messages, then gather more until the batch is full or the batching
    /// window closes (Lambda's `MaximumBatchingWindowInSeconds`).
    async fn next_batch(&self) -> anyhow::Result<Option<Vec<Message>>> {
        let batch_size = usize::try_from(self.spec.batch_size.max(1)).unwrap_or(10);
        let per_call = i32::try_from(batch_size.min(10)).unwrap_or(10);
        let mut batch = self.receive(per_call, 1).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        let window = Duration::from_secs(u64::from(self.spec.batching_window_secs));
        let started = Instant::now();
        while batch.len() < batch_size && started.elapsed() < window {
            let want = i32::try_from((batch_size - batch.len()).min(10)).unwrap_or(10);
            let more = self.receive(want, 0).await?;
            if more.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            batch.extend(more);
        }
        Ok(Some(batch))
    }

    async fn invoke(&self, batch: Vec<Message>) -> anyhow::Result<()> {
        let records: Vec<Value> = batch.iter().map(|m| record_json(m, &self.spec.queue_arn)).collect();
        let ids: Vec<String> = batch.iter().filter_map(|m| m.message_id.clone()).collect();
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        self.stats.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
        debug!(queue = %self.spec.queue, records = batch.len(), "invoking with batch");
        let now = self.stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let result = self.function.invoke(json!({ "Records": records })).await;
        self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);

        let failed: HashSet<String> = match &result {
            Err(e) => {
                warn!(queue = %self.spec.queue, function = %self.function.spec.name, error.message = %e, records = batch.len(), "invocation failed: whole batch returns to the queue");
                ids.iter().cloned().collect()
            }
            Ok(resp) if self.spec.report_batch_item_failures => match batch_item_failures(resp, &ids) {
                Some(f) => f,
                None => {
                    warn!(queue = %self.spec.queue, "batchItemFailures names an unknown or empty id: whole batch treated as failed");
                    ids.iter().cloned().collect()
                }
            },
            // Without ReportBatchItemFailures a successful invocation deletes the whole batch.
            Ok(_) => HashSet::new(),
        };
        self.stats.failures.fetch_add(failed.len() as u64, Ordering::Relaxed);

        let mut deletes = Vec::new();
        for m in &batch {
            let (Some(id), Some(handle)) = (m.message_id.as_deref(), m.receipt_handle.as_deref()) else {
                continue;
            };
            if failed.contains(id) {
                if let Some(secs) = self.visibility_override {
                    // Time compression: the record becomes visible again after `secs` instead of the
                    // queue's VisibilityTimeout. Receive counts and redrive are untouched.
                    if let Err(e) = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
                        .send()
                        .await
                    {
                        warn!(message_id = %id, error.message = %e, "could not shorten visibility");
                    }
                }
                continue;
            }
            deletes.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{}", deletes.len()))
                    .receipt_handle(handle)
                    .build()?,
            );
        }
        if !deletes.is_empty() {
            let n = deletes.len() as u64;
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(deletes))
                .send()
                .await?;
            let refused = out.failed.len() as u64;
            if refused > 0 {
                warn!(queue = %self.spec.queue, refused, "some deletes failed; those records will be redelivered");
            }
            self.stats.deleted.fetch_add(n - refused, Ordering::Relaxed);
        }
        info!(queue = %self.spec.queue, records = batch.len(), failed = failed.len(), "batch done");
        Ok(())
    }
}

/// The failed ids, or None when an identifier is empty or not in the batch (Lambda then fails the whole
/// batch).
fn batch_item_failures(resp: &Value, ids: &[String]) -> Option<HashSet<String>> {
    let Some(list) = resp.get("batchItemFailures") else {
        return Some(HashSet::new());
    };
    if list.is_null() {
        return Some(HashSet::new());
    }
    let mut out = HashSet::new();
    for f in list.as_array()? {
        let id = f.get("itemIdentifier").and_then(Value::as_str)?;
        if id.is_empty() || !ids.iter().any(|x| x == id) {
            return None;
        }
        out.insert(id.to_owned());
    }
    Some(out)
}

/// One record of the SQS event, shaped as Lambda delivers it.
fn record_json(m: &Message, queue_arn: &str) -> Value {
    let mut attributes = Map::new();
    if let Some(attrs) = &m.attributes {
        for (k, v) in attrs {
            attributes.insert(k.as_str().to_owned(), Value::String(v.clone()));
        }
    }
    let mut message_attributes = Map::new();
    if let Some(attrs) = &m.message_attributes {
        for (k, v) in attrs {
            let mut a = Map::new();
            if let Some(s) = &v.string_value {
                a.insert("stringValue".into(), Value::String(s.clone()));
            }
            if let Some(b) = &v.binary_value {
                use base64::Engine;
                a.insert(
                    "binaryValue".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref())),
                );
            }
            a.insert("stringListValues".into(), json!([]));
            a.insert("binaryListValues".into(), json!([]));
            a.insert("dataType".into(), Value::String(v.data_type.clone()));
            message_attributes.insert(k.clone(), Value::Object(a));
        }
    }
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body,
        "md5OfMessageAttributes": m.md5_of_message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    })
}

/// A queue's messages: visible (`ApproximateNumberOfMessages`) and in flight
/// (`ApproximateNumberOfMessagesNotVisible`: a batch still running, or a record that failed and waits
/// out its visibility).
///
/// # Errors
/// When SQS refuses the call.
pub async fn queue_counts(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<(u64, u64)> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |k: &QueueAttributeName| attrs.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok((
        n(&QueueAttributeName::ApproximateNumberOfMessages),
        n(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_or_empty_item_identifier_fails_the_whole_batch() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": [{"itemIdentifier": "b"}]}), &ids),
            Some(HashSet::from(["b".to_owned()]))
        );
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": [{"itemIdentifier": ""}]}), &ids),
            None
        );
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}), &ids),
            None
        );
        assert_eq!(
            batch_item_failures(&json!({"batchItemFailures": []}), &ids),
            Some(HashSet::new())
        );
        assert_eq!(batch_item_failures(&json!(null), &ids), Some(HashSet::new()));
    }
}

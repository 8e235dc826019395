//! SQS adapter for `QueuePublisher`: size-checked `SendMessageBatch` calls with per-message failures mapped back to input indexes.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use aws_types::SdkConfig;
use tracing::{debug, instrument, warn};

use crate::ports::{OutboundMessage, PublishFailure, QueueError, QueuePublisher};

/// SQS's per-message limit, which is also the per-batch total (body plus attributes).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// SQS's per-call entry limit.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS's per-message attribute limit.
pub const MAX_ATTRIBUTES: usize = 10;

/// The attributes SQS will carry for a message, as `(name, data type, value)`. The three standard
/// attributes come last, so an extra attribute of the same name cannot override them.
pub fn message_attributes(m: &OutboundMessage) -> Vec<(&str, &'static str, String)> {
    let standard = ["correlation_id", "message_type", "schema_version"];
    let mut out: Vec<(&str, &'static str, String)> = m
        .attributes
        .iter()
        .filter(|(name, _)| !standard.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), "String", value.clone()))
        .collect();
    out.push(("correlation_id", "String", m.correlation_id.as_str().to_owned()));
    out.push(("message_type", "String", m.message_type.clone()));
    out.push(("schema_version", "Number", m.schema_version.to_string()));
    out
}

/// How SQS counts a message against its size limit: body plus each attribute's name, type and value.
pub fn message_size(m: &OutboundMessage) -> usize {
    m.body.len()
        + message_attributes(m)
            .iter()
            .map(|(name, ty, value)| name.len() + ty.len() + value.len())
            .sum::<usize>()
}

/// `TooLarge` for the first message over the limit, checked before anything is sent so a call never
/// half-publishes because of a size problem.
///
/// # Errors
/// `QueueError::TooLarge`.
pub fn check_sizes(messages: &[OutboundMessage]) -> Result<(), QueueError> {
    match messages
        .iter()
        .enumerate()
        .find(|(_, m)| message_size(m) > MAX_MESSAGE_BYTES)
    {
        Some((index, m)) => Err(QueueError::TooLarge {
            index,
            size: message_size(m),
            limit: MAX_MESSAGE_BYTES,
        }),
        None => Ok(()),
    }
}

/// A message SQS would refuse for its shape (empty body, too many or empty attributes), as the failure
/// SQS would report. Refused locally so one bad message does not fail its whole batch call.
pub fn rejection(index: usize, m: &OutboundMessage) -> Option<PublishFailure> {
    let attrs = message_attributes(m);
    let problem = if m.body.is_empty() {
        Some("message body must not be empty")
    } else if attrs.len() > MAX_ATTRIBUTES {
        Some("more than 10 message attributes")
    } else if attrs.iter().any(|(name, _, value)| name.is_empty() || value.is_empty()) {
        Some("message attribute names and values must not be empty")
    } else {
        None
    };
    problem.map(|p| PublishFailure {
        index,
        code: "InvalidMessageContents".into(),
        message: p.into(),
        sender_fault: true,
    })
}

/// Groups message indexes into batches of at most 10 entries and 256 KiB in total, in input order.
pub fn plan_batches(messages: &[OutboundMessage], indexes: impl IntoIterator<Item = usize>) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for i in indexes {
        let size = messages.get(i).map_or(0, message_size);
        if !current.is_empty() && (current.len() == MAX_BATCH_ENTRIES || bytes + size > MAX_MESSAGE_BYTES) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Publishes to SQS standard queues.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: Client,
}

impl SqsPublisher {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Builds the client from an SDK configuration.
    pub fn from_conf(conf: &SdkConfig) -> Self {
        Self::new(Client::new(conf))
    }

    fn entry(index: usize, m: &OutboundMessage) -> Result<SendMessageBatchRequestEntry, QueueError> {
        let build_err = |e| QueueError::Unavailable(Box::new(e));
        let mut attributes = HashMap::new();
        for (name, ty, value) in message_attributes(m) {
            let v = MessageAttributeValue::builder()
                .data_type(ty)
                .string_value(value)
                .build()
                .map_err(build_err)?;
            attributes.insert(name.to_owned(), v);
        }
        SendMessageBatchRequestEntry::builder()
            // Entry ids are input indexes, so a `Failed` entry maps straight back to the caller's slice.
            .id(index.to_string())
            .message_body(&m.body)
            .set_message_attributes(Some(attributes))
            .build()
            .map_err(build_err)
    }
}

#[async_trait]
impl QueuePublisher for SqsPublisher {
    /// At-least-once: when a later batch call fails as a whole, earlier batches have been sent; the
    /// caller retries everything and consumers are idempotent.
    #[instrument(skip_all, fields(queue_url = %queue_url, messages = messages.len(), failed))]
    async fn publish(&self, queue_url: &str, messages: &[OutboundMessage]) -> Result<Vec<PublishFailure>, QueueError> {
        check_sizes(messages)?;
        let mut failures: Vec<PublishFailure> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| rejection(i, m))
            .collect();
        let sendable = (0..messages.len()).filter(|i| !failures.iter().any(|f| f.index == *i));

        for batch in plan_batches(messages, sendable) {
            let mut entries = Vec::with_capacity(batch.len());
            for &i in &batch {
                if let Some(m) = messages.get(i) {
                    entries.push(Self::entry(i, m)?);
                }
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(Box::new(e)))?;
            for failed in out.failed() {
                let Some(index) = failed.id().parse::<usize>().ok().filter(|i| batch.contains(i)) else {
                    warn!(entry_id = failed.id(), "sqs reported a failure for an unknown entry id");
                    continue;
                };
                failures.push(PublishFailure {
                    index,
                    code: failed.code().to_owned(),
                    message: failed.message().unwrap_or_default().to_owned(),
                    sender_fault: failed.sender_fault(),
                });
            }
        }
        failures.sort_by_key(|f| f.index);
        tracing::Span::current().record("failed", failures.len());
        debug!("messages published");
        Ok(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CorrelationId;

    fn message(body_len: usize) -> OutboundMessage {
        OutboundMessage {
            body: "x".repeat(body_len),
            correlation_id: CorrelationId::parse("c-1").expect("id"),
            message_type: "order.notification".into(),
            schema_version: 1,
            attributes: vec![],
        }
    }

    #[test]
    fn the_size_counts_the_body_and_every_attribute_name_type_and_value() {
        let m = message(10);
        // correlation_id/String/c-1, message_type/String/order.notification, schema_version/Number/1
        let attrs = (14 + 6 + 3) + (12 + 6 + 18) + (14 + 6 + 1);
        assert_eq!(message_size(&m), 10 + attrs);
    }

    #[test]
    fn batches_hold_at_most_ten_messages_and_256_kib() {
        let small: Vec<_> = (0..23).map(|_| message(10)).collect();
        let sizes: Vec<usize> = plan_batches(&small, 0..small.len()).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 3]);

        // Three 100 KB messages: two fit in 256 KiB, the third starts a new batch.
        let big: Vec<_> = (0..3).map(|_| message(100_000)).collect();
        assert_eq!(plan_batches(&big, 0..3), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn an_oversized_message_is_refused_with_its_index_before_anything_is_sent() {
        let msgs = vec![message(10), message(MAX_MESSAGE_BYTES)];
        let err = check_sizes(&msgs).expect_err("too large");
        assert!(
            matches!(
                err,
                QueueError::TooLarge {
                    index: 1,
                    limit: MAX_MESSAGE_BYTES,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_message_with_an_empty_body_or_too_many_attributes_is_rejected_locally() {
        assert!(rejection(0, &message(1)).is_none());
        assert!(rejection(0, &message(0)).is_some_and(|f| f.sender_fault));
        let mut many = message(1);
        many.attributes = (0..8).map(|i| (format!("a{i}"), "v".to_owned())).collect();
        assert_eq!(rejection(3, &many).map(|f| f.index), Some(3));
    }

    #[test]
    fn the_standard_attributes_cannot_be_overridden_by_extras() {
        let mut m = message(1);
        m.attributes = vec![("message_type".into(), "spoofed".into()), ("reason".into(), "r".into())];
        let attrs = message_attributes(&m);
        assert_eq!(attrs.iter().filter(|(n, _, _)| *n == "message_type").count(), 1);
        assert!(attrs.contains(&("message_type", "String", "order.notification".to_owned())));
        assert!(attrs.contains(&("reason", "String", "r".to_owned())));
    }
}

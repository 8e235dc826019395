//! The tail every webhook route shares: deduplicate on the sender's event key, enqueue once, and turn
//! each failure into the HTTP answer a sender acts on (409 for a live duplicate or a reused key, 503 to
//! retry later).

use std::time::Duration;

use serde::Serialize;
use tracing::warn;

use crate::domain::CorrelationId;
use crate::error::{chain, Classified, FailureClass};
use crate::http::ApiError;
use crate::idempotency::{Idempotency, Outcome, RunError};
use crate::ports::{IdempotencyError, IdempotencyStore, OutboundMessage, QueueError, QueuePublisher};

/// Where and how a route enqueues.
#[derive(Clone, Copy)]
pub struct Enqueue<'a> {
    /// Idempotency records.
    pub store: &'a dyn IdempotencyStore,
    /// Queue publisher.
    pub queue: &'a dyn QueuePublisher,
    /// Function name (idempotency key prefix).
    pub function: &'a str,
    /// How long an event key is remembered.
    pub window: Duration,
    /// Destination queue.
    pub queue_url: &'a str,
}

#[derive(Debug, thiserror::Error)]
enum EnqueueError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("queue refused the message: {0}")]
    Refused(String),
}

impl Classified for EnqueueError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Queue(e) => e.class(),
            Self::Refused(_) => FailureClass::Transient,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Queue(e) => e.code(),
            Self::Refused(_) => "QUEUE_REFUSED",
        }
    }
}

impl Enqueue<'_> {
    /// Enqueues `message` unless `event_key` was already enqueued with the same `payload`.
    /// Returns `true` when it was a duplicate.
    ///
    /// # Errors
    /// 409 `EVENT_IN_PROGRESS` (a concurrent duplicate holds the lock), 409 `EVENT_ID_REUSED` naming
    /// `key_field` (same key, other payload), 503 `TEMPORARILY_UNAVAILABLE` (queue or store down; the lock
    /// was released, so the sender's retry goes through).
    pub async fn once<P: Serialize + ?Sized>(
        &self,
        event_key: &str,
        key_field: &str,
        payload: &P,
        message: &OutboundMessage,
        correlation_id: &CorrelationId,
    ) -> Result<bool, ApiError> {
        let idem = Idempotency::new(self.store, self.function, self.window);
        let outcome = idem
            .run(&format!("event#{event_key}"), payload, 0, || async {
                let failed = self
                    .queue
                    .publish(self.queue_url, std::slice::from_ref(message))
                    .await?;
                match failed.first() {
                    None => Ok::<_, EnqueueError>(true),
                    Some(f) => Err(EnqueueError::Refused(format!("{}: {}", f.code, f.message))),
                }
            })
            .await;
        match outcome {
            Ok(Outcome::Executed(_)) => Ok(false),
            Ok(Outcome::Replayed(_)) => Ok(true),
            Err(RunError::InProgress { .. }) => {
                Err(
                    ApiError::new(409, "EVENT_IN_PROGRESS", "this event is being processed; retry shortly")
                        .field(key_field),
                )
            }
            Err(RunError::Store(IdempotencyError::PayloadMismatch { .. })) => Err(ApiError::new(
                409,
                "EVENT_ID_REUSED",
                "this event id was already used with different content",
            )
            .field(key_field)),
            Err(e) => {
                warn!(correlation_id = %correlation_id, error.code = e.code(), error.message = %chain(&e), "could not enqueue event");
                Err(ApiError::new(
                    503,
                    "TEMPORARILY_UNAVAILABLE",
                    "could not accept the event right now; retry later",
                ))
            }
        }
    }
}

//! Queues: publishing messages, and what a queue refuses.

use async_trait::async_trait;

use crate::error::{BoxError, Classified, FailureClass};
use crate::messages::OutboundMessage;

/// One message the queue refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    /// Index into the slice passed to `publish`.
    pub index: usize,
    /// The queue's error code.
    pub code: String,
    /// Its message.
    pub message: String,
    /// True when the queue blames the sender (do not retry as is).
    pub sender_fault: bool,
}

/// Queue errors for a whole call.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the call.
    #[error("queue unavailable")]
    Unavailable(#[source] BoxError),
    /// A message is larger than the queue accepts (256 KiB for SQS).
    #[error("message {index} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Index of the message.
        index: usize,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl Classified for QueueError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Unavailable(_) => FailureClass::Transient,
            Self::TooLarge { .. } => FailureClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "QUEUE_UNAVAILABLE",
            Self::TooLarge { .. } => "MESSAGE_TOO_LARGE",
        }
    }
}

/// Sends messages to a queue.
#[async_trait]
pub trait QueuePublisher: Send + Sync {
    /// Sends all messages (in batches of at most 10) and returns the ones the queue refused.
    ///
    /// # Errors
    /// `TooLarge` before sending anything if a message is over the limit; `Unavailable` when a call fails as a whole.
    async fn publish(&self, queue_url: &str, messages: &[OutboundMessage]) -> Result<Vec<PublishFailure>, QueueError>;
}

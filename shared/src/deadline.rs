//! The invocation deadline as a task-local: a handler sets it once around its work, and the HTTP
//! adapters stop starting retries that could not finish before Lambda ends the invocation.
//!
//! Ports stay free of a deadline parameter; the deadline follows the task, including the futures a
//! batch helper runs concurrently with `buffer_unordered` (same task). Work moved to another task with
//! `tokio::spawn` does not see it, and none of ours is.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Leave this much time for settling the batch (parking records, answering Lambda) after the last call.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(1500);

/// The deadline of the current task, if a handler set one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Converts a Lambda deadline (epoch milliseconds, `Context::deadline`) into a monotonic instant.
pub fn from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// Runs `fut` with the invocation deadline (Lambda `Context.deadline`, epoch ms) minus the safety margin.
/// A deadline of 0 (tests, local invokes without one) runs `fut` unbounded.
pub async fn scope<F: Future>(deadline_ms: u64, fut: F) -> F::Output {
    if deadline_ms == 0 {
        return fut.await;
    }
    let at = from_epoch_ms(deadline_ms);
    let at = at.checked_sub(SAFETY_MARGIN).unwrap_or(at);
    DEADLINE.scope(at, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_visible_inside_the_scope_only() {
        assert!(current().is_none());
        let now_ms = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms");
        let seen = scope(now_ms + 10_000, async { current() }).await.expect("set inside");
        let left = seen.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(7) && left <= Duration::from_secs(9),
            "{left:?}"
        );
        assert!(current().is_none());
    }

    #[tokio::test]
    async fn no_deadline_means_unbounded() {
        assert!(scope(0, async { current() }).await.is_none());
    }
}

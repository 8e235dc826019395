//! The Powertools idempotency protocol on DynamoDB (moto): lock, duplicates, completion, expiry, units, concurrency.

use std::error::Error as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use waybill::adapters::dynamodb::DynamoState;
use waybill::fakes::MemoryIdempotency;
use waybill::ports::{Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, LockRequest};

use crate::support::{self, n, s};

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit in i64")
}

fn request(hash: &str, now_ms: i64) -> LockRequest {
    LockRequest {
        key: IdempotencyKey::new("salesforce-webhook", "event#E-1").expect("key"),
        payload_hash: hash.into(),
        now_ms,
        expires_after: Duration::from_secs(3600),
        lock_until_ms: now_ms + 30_000,
        token: rand::random(),
    }
}

const PK: &str = "idem#salesforce-webhook#event#E-1";

#[tokio::test]
async fn a_first_begin_executes_and_a_duplicate_is_in_progress_while_the_lock_is_live() {
    // Given an empty table
    let store = support::state().await;
    let now = now_ms();
    // When the first invocation takes the lock
    let first = store.begin(&request("h", now)).await.expect("begin");
    // Then it executes, and a duplicate a second later finds the lock held
    assert_eq!(first, Begin::Execute);
    assert_eq!(
        store.begin(&request("h", now + 1_000)).await.expect("begin"),
        Begin::InProgress
    );
}

#[tokio::test]
async fn after_complete_a_duplicate_receives_the_stored_result() {
    // Given an operation that ran and completed with a result
    let store = support::state().await;
    let now = now_ms();
    store.begin(&request("h", now)).await.expect("begin");
    store
        .complete(&request("h", now), r#"{"wms_id":"W-1"}"#)
        .await
        .expect("complete");
    // When the same event arrives again
    let again = store.begin(&request("h", now + 5_000)).await.expect("begin");
    // Then it gets the stored result instead of running
    assert_eq!(again, Begin::Completed(Some(r#"{"wms_id":"W-1"}"#.into())));
}

#[tokio::test]
async fn a_different_payload_under_the_same_key_is_a_payload_mismatch() {
    // Given a key locked, then completed, with payload hash "h"
    let store = support::state().await;
    let now = now_ms();
    store.begin(&request("h", now)).await.expect("begin");
    // When the key arrives with another payload, while in progress and after completion
    let while_locked = store.begin(&request("other", now + 1)).await;
    store.complete(&request("h", now), "done").await.expect("complete");
    let after = store.begin(&request("other", now + 2)).await;
    // Then both are refused as a permanent mismatch
    assert!(
        matches!(while_locked, Err(IdempotencyError::PayloadMismatch { .. })),
        "{while_locked:?}"
    );
    assert!(
        matches!(after, Err(IdempotencyError::PayloadMismatch { .. })),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_lapsed_lock_lets_a_new_begin_execute() {
    // Given an invocation that took the lock and timed out (its deadline is already past)
    let store = support::state().await;
    let now = now_ms();
    let timed_out = LockRequest {
        lock_until_ms: now - 1_000,
        ..request("h", now - 10_000)
    };
    assert_eq!(store.begin(&timed_out).await.expect("begin"), Begin::Execute);
    // When the retry arrives
    let retry = store.begin(&request("h", now)).await.expect("begin");
    // Then it takes over instead of waiting for the one-hour expiration
    assert_eq!(retry, Begin::Execute);
}

#[tokio::test]
async fn release_lets_the_next_begin_execute() {
    // Given an invocation that failed and released its lock
    let store = support::state().await;
    let now = now_ms();
    let req = request("h", now);
    store.begin(&req).await.expect("begin");
    store.release(&req.key).await.expect("release");
    // When the retry arrives
    let retry = store.begin(&request("h", now + 1)).await.expect("begin");
    // Then it runs again, and the record is gone in between
    assert_eq!(retry, Begin::Execute);
}

#[tokio::test]
async fn an_expired_completed_record_is_executed_again() {
    // Given a record completed two hours ago with a one-hour window (TTL has not deleted it yet)
    let store = support::state().await;
    let now = now_ms();
    let old = request("h", now - 7_200_000);
    store.begin(&old).await.expect("begin");
    store.complete(&old, "old result").await.expect("complete");
    assert!(
        support::raw_item(&store, PK, "idem").await.is_some(),
        "the expired record is still stored"
    );
    // When the key arrives again
    let again = store.begin(&request("h", now)).await.expect("begin");
    // Then the expiry is enforced client-side and the operation runs again
    assert_eq!(again, Begin::Execute);
}

#[tokio::test]
async fn the_stored_item_uses_seconds_for_expiration_and_milliseconds_for_the_lock() {
    // Given a lock taken now
    let store = support::state().await;
    let now = now_ms();
    let req = request("h", now);
    store.begin(&req).await.expect("begin");
    // When the raw item is read
    let item = support::raw_item(&store, PK, "idem").await.expect("item");
    // Then expiration is epoch seconds (10 digits) and in_progress_expiration epoch ms (13 digits)
    let expiration = n(&item, "expiration");
    let lock = n(&item, "in_progress_expiration");
    assert_eq!(expiration, now / 1000 + 3600);
    assert!(
        (1_000_000_000..10_000_000_000).contains(&expiration),
        "seconds: {expiration}"
    );
    assert_eq!(lock, req.lock_until_ms);
    assert!(
        (1_000_000_000_000..10_000_000_000_000).contains(&lock),
        "milliseconds: {lock}"
    );
    assert_eq!(s(&item, "status"), "INPROGRESS");
    assert_eq!(s(&item, "validation"), "h");
    assert!(matches!(item.get("expiration"), Some(AttributeValue::N(_))));

    // And after completion the lock attribute is gone and the result is stored
    store.complete(&req, "result").await.expect("complete");
    let item = support::raw_item(&store, PK, "idem").await.expect("item");
    assert_eq!(s(&item, "status"), "COMPLETED");
    assert_eq!(s(&item, "data"), "result");
    assert_eq!(s(&item, "validation"), "h");
    assert_eq!(n(&item, "expiration"), now / 1000 + 3600);
    assert!(!item.contains_key("in_progress_expiration"), "{item:?}");
}

#[tokio::test]
async fn concurrent_begins_on_one_key_let_exactly_one_execute() {
    // Given eight invocations of the same event at the same moment
    let store = support::state().await;
    let now = now_ms();
    // When they all try to take the lock
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        async move { store.begin(&request("h", now + i)).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    // Then exactly one executes and the others see the lock
    let executes = outcomes.iter().filter(|o| matches!(o, Ok(Begin::Execute))).count();
    let in_progress = outcomes.iter().filter(|o| matches!(o, Ok(Begin::InProgress))).count();
    assert_eq!((executes, in_progress), (1, 7), "{outcomes:?}");
}

#[tokio::test]
async fn a_duplicate_is_answered_from_the_failed_put_without_a_second_read() {
    // Given a table reached through a client that counts requests
    let (client, calls) = support::counted_dynamodb().await;
    let store = support::state_with(client).await;
    let now = now_ms();
    store.begin(&request("h", now)).await.expect("begin");
    let before = calls.total();
    // When a duplicate arrives
    let dup = store.begin(&request("h", now + 1)).await.expect("begin");
    // Then the existing record came back with the conditional failure (ALL_OLD): one PutItem, no GetItem
    assert_eq!(dup, Begin::InProgress);
    assert_eq!(calls.total() - before, 1);
    assert_eq!(calls.of("GetItem"), 0);
    assert_eq!(calls.of("PutItem"), 2);
}

#[tokio::test]
async fn a_store_failure_keeps_the_sdk_error_as_its_source() {
    // Given a state table that does not exist
    let conf = support::sdk().await;
    let store = DynamoState::new(
        aws_sdk_dynamodb::Client::new(&conf),
        waybill::testing::unique_name("missing"),
    );
    // When a lock is attempted
    let err = store.begin(&request("h", now_ms())).await.expect_err("no table");
    // Then it is a transient Store error whose source is the SDK's ResourceNotFoundException
    let IdempotencyError::Store(source) = &err else {
        panic!("expected Store, got {err:?}")
    };
    let sdk = source
        .downcast_ref::<SdkError<PutItemError>>()
        .expect("the SDK error is the source");
    assert!(
        matches!(sdk.as_service_error(), Some(PutItemError::ResourceNotFoundException(_))),
        "{sdk:?}"
    );
    assert!(err.source().is_some());
}

/// Runs one script of idempotency calls and labels every outcome.
async fn script(store: &dyn IdempotencyStore, now: i64) -> Vec<String> {
    let label = |r: Result<Begin, IdempotencyError>| match r {
        Ok(Begin::Execute) => "execute".to_owned(),
        Ok(Begin::InProgress) => "in_progress".to_owned(),
        Ok(Begin::Completed(d)) => format!("completed:{}", d.unwrap_or_default()),
        Err(IdempotencyError::PayloadMismatch { .. }) => "mismatch".to_owned(),
        Err(IdempotencyError::Inconsistent { .. }) => "inconsistent".to_owned(),
        Err(IdempotencyError::Store(e)) => format!("store:{e}"),
    };
    let mut out = Vec::new();
    let lapsed = LockRequest {
        lock_until_ms: now - 1,
        ..request("h", now - 60_000)
    };
    out.push(label(store.begin(&lapsed).await));
    out.push(label(store.begin(&request("h", now)).await));
    out.push(label(store.begin(&request("h", now + 1)).await));
    out.push(label(store.begin(&request("x", now + 2)).await));
    store.complete(&request("h", now), "r1").await.expect("complete");
    out.push(label(store.begin(&request("h", now + 3)).await));
    out.push(label(store.begin(&request("h", now + 3_601_000)).await));
    store.release(&request("h", now).key).await.expect("release");
    out.push(label(store.begin(&request("x", now + 4)).await));
    out
}

#[tokio::test]
async fn the_in_memory_fake_and_dynamodb_answer_the_same_script_identically() {
    // Given the DynamoDB adapter and the fake handler tests use
    let dynamo = support::state().await;
    let fake = MemoryIdempotency::new();
    let now = now_ms();
    // When both run the same sequence of lapsed locks, duplicates, mismatches, completion, expiry and release
    let from_dynamo = script(&dynamo, now).await;
    let from_fake = script(&fake, now).await;
    // Then they agree call for call
    assert_eq!(from_dynamo, from_fake);
    assert_eq!(
        from_fake,
        [
            "execute",
            "execute",
            "in_progress",
            "mismatch",
            "completed:r1",
            "execute",
            "execute"
        ],
    );
}

#[tokio::test]
async fn a_held_lock_looks_taken_to_a_read_and_free_once_released_or_lapsed_without_any_write() {
    // Given a table reached through a client that counts requests, and a live lock
    let (client, calls) = support::counted_dynamodb().await;
    let store = support::state_with(client).await;
    let now = now_ms();
    let req = request("h", now);
    assert!(store.looks_free(&req).await.expect("read"), "no record: free");
    store.begin(&req).await.expect("begin");
    let writes_before = calls.of("PutItem") + calls.of("UpdateItem") + calls.of("DeleteItem");
    // When a waiter polls it
    let held = store.looks_free(&request("h", now + 1)).await.expect("read");
    // Then it is seen taken with reads alone
    assert!(!held, "a live lock is not free");
    assert_eq!(
        calls.of("PutItem") + calls.of("UpdateItem") + calls.of("DeleteItem"),
        writes_before,
        "polling writes nothing"
    );
    // And seen free once its holder's deadline has passed, or once released
    assert!(store
        .looks_free(&request("h", req.lock_until_ms + 1))
        .await
        .expect("read"));
    store.release(&req.key).await.expect("release");
    assert!(store.looks_free(&request("h", now + 2)).await.expect("read"));
}

#[tokio::test]
async fn a_lock_whose_answer_was_lost_is_taken_by_the_sdks_retry_and_still_refused_to_others() {
    // Given a table reached through a client whose every call loses its first answer (moto carries the
    // call out; the SDK sees a 503 and sends it again)
    let (client, lose) = support::losing_dynamodb().await;
    let store = support::state_with(client).await;
    let now = now_ms();
    let lost_before = lose.lost();
    // When a request takes the lock
    let first = store.begin(&request("h", now)).await.expect("begin");
    // Then the retry found the lock its first attempt wrote and executes, instead of waiting for itself
    assert_eq!(lose.lost() - lost_before, 1, "the first put's answer was lost");
    assert_eq!(first, Begin::Execute);
    // And another request for the key, with the same payload, still finds it held
    let other = store.begin(&request("h", now + 1)).await.expect("begin");
    assert_eq!(other, Begin::InProgress);
}

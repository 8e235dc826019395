//! State-store semantics as pure functions, shared by the DynamoDB adapter and the in-memory fakes so both behave alike.
//!
//! The DynamoDB adapter expresses these rules as condition expressions (evaluated atomically by DynamoDB)
//! and as client-side checks on the item it gets back; the fakes evaluate the very same functions under a
//! mutex. Keeping them here means a handler test against the fakes exercises the production rules.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::domain::{SalesforceId, WmsOrderId};
use crate::ports::{Begin, IdempotencyError, LockRequest, StoreError, WmsSystem};

// ---------------------------------------------------------------------------------------------
// Idempotency (AWS Lambda Powertools semantics)
// ---------------------------------------------------------------------------------------------

/// `status` of an idempotency record. `EXPIRED` is never stored; it is derived from `expiration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdemStatus {
    /// Someone holds the lock until `in_progress_expiration`.
    InProgress,
    /// The operation ran; `data` holds its result.
    Completed,
}

impl IdemStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Completed => "COMPLETED",
        }
    }

    /// Parses the stored value.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "INPROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// An idempotency record, with Powertools' units: `expiration` in seconds, `in_progress_expiration` in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRecord {
    /// INPROGRESS or COMPLETED.
    pub status: IdemStatus,
    /// When the record stops counting, epoch **seconds** (the TTL attribute).
    pub expiration_s: i64,
    /// When the INPROGRESS lock lapses, epoch **milliseconds**.
    pub in_progress_expiration_ms: Option<i64>,
    /// The stored result of a completed run.
    pub data: Option<String>,
    /// The payload hash.
    pub validation: Option<String>,
    /// The INPROGRESS lock's `LockRequest::token`.
    pub token: Option<u64>,
}

/// Epoch milliseconds to epoch seconds (floor, so a negative clock cannot round towards the future).
pub fn epoch_s(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000)
}

/// `expiration` for a request: now (s) + `expires_after`.
pub fn expiration_for(req: &LockRequest) -> i64 {
    let window = i64::try_from(req.expires_after.as_secs()).unwrap_or(i64::MAX);
    epoch_s(req.now_ms).saturating_add(window)
}

impl IdemRecord {
    /// The INPROGRESS record `begin` writes.
    pub fn in_progress(req: &LockRequest) -> Self {
        Self {
            status: IdemStatus::InProgress,
            expiration_s: expiration_for(req),
            in_progress_expiration_ms: Some(req.lock_until_ms),
            data: None,
            validation: Some(req.payload_hash.clone()),
            token: Some(req.token),
        }
    }

    /// The COMPLETED record `complete` leaves. `expiration` is renewed from `req.now_ms`, the only clock the
    /// port gives us (the begin time), so a record counts for `expires_after` minus the run time.
    pub fn completed(req: &LockRequest, data: &str) -> Self {
        Self {
            status: IdemStatus::Completed,
            expiration_s: expiration_for(req),
            in_progress_expiration_ms: None,
            data: Some(data.to_owned()),
            validation: Some(req.payload_hash.clone()),
            token: None,
        }
    }
}

/// The lock condition: may `begin` overwrite `existing` at `now_ms`?
///
/// Mirrors the `PutItem` condition `attribute_not_exists(pk) OR expiration < :now_s OR (status = INPROGRESS
/// AND attribute_exists(in_progress_expiration) AND in_progress_expiration < :now_ms)`.
pub fn lock_available(existing: Option<&IdemRecord>, now_ms: i64) -> bool {
    match existing {
        None => true,
        Some(r) => {
            r.expiration_s < epoch_s(now_ms)
                || (r.status == IdemStatus::InProgress && r.in_progress_expiration_ms.is_some_and(|t| t < now_ms))
        }
    }
}

/// What `begin` answers when the lock condition failed and `existing` is the record found (ALL_OLD or a
/// consistent read). `None` means it vanished in between.
///
/// Order as in Powertools: payload hash first, then status and client-side expiry.
///
/// # Errors
/// `PayloadMismatch` when the stored hash differs; `Inconsistent` when the record is gone, expired, or an
/// INPROGRESS record whose lock has lapsed (the caller retries `begin`). An INPROGRESS record bearing the
/// request's own token is `Execute`: the put this answers was a retry of one that had succeeded.
pub fn outcome_for_existing(existing: Option<&IdemRecord>, req: &LockRequest) -> Result<Begin, IdempotencyError> {
    let key = || req.key.as_str().to_owned();
    let Some(record) = existing else {
        return Err(IdempotencyError::Inconsistent { key: key() });
    };
    if record.validation.as_deref().unwrap_or_default() != req.payload_hash {
        return Err(IdempotencyError::PayloadMismatch { key: key() });
    }
    if record.expiration_s < epoch_s(req.now_ms) {
        return Err(IdempotencyError::Inconsistent { key: key() });
    }
    match record.status {
        IdemStatus::Completed => Ok(Begin::Completed(record.data.clone())),
        // Our own lock: this was the SDK's retry of a put that went through but whose answer was lost.
        IdemStatus::InProgress if record.token == Some(req.token) => Ok(Begin::Execute),
        // Powertools treats an INPROGRESS record without a lock expiry as locked until `expiration`
        // (the put condition cannot take it over either), so it is InProgress, not Inconsistent.
        IdemStatus::InProgress => match record.in_progress_expiration_ms {
            Some(until) if until < req.now_ms => Err(IdempotencyError::Inconsistent { key: key() }),
            _ => Ok(Begin::InProgress),
        },
    }
}

/// A short label of a `begin` result for logs (never the stored data).
pub fn outcome_label(outcome: &Result<Begin, IdempotencyError>) -> &'static str {
    match outcome {
        Ok(Begin::Execute) => "execute",
        Ok(Begin::Completed(_)) => "completed",
        Ok(Begin::InProgress) => "in_progress",
        Err(IdempotencyError::PayloadMismatch { .. }) => "payload_mismatch",
        Err(IdempotencyError::Inconsistent { .. }) => "inconsistent",
        Err(IdempotencyError::Store(_)) => "store_error",
    }
}

// ---------------------------------------------------------------------------------------------
// Cross-references
// ---------------------------------------------------------------------------------------------

/// May a side currently pointing at `existing` be (re)linked to `wanted`? Absent or identical only.
pub fn link_allowed(existing: Option<&str>, wanted: &str) -> bool {
    existing.is_none_or(|e| e == wanted)
}

/// The conflict when a Salesforce record is already linked to another order in `system`.
pub fn salesforce_conflict(salesforce: &SalesforceId, system: WmsSystem, existing_wms_id: &str) -> StoreError {
    StoreError::Conflict {
        key: format!("sf:{}", salesforce.as_str()),
        existing: format!("{}:{existing_wms_id}", system.as_str()),
    }
}

/// The conflict when a WMS order is already linked to another Salesforce record.
pub fn wms_conflict(system: WmsSystem, wms_id: &WmsOrderId, existing_sf_id: &str) -> StoreError {
    StoreError::Conflict {
        key: format!("{}:{}", system.as_str(), wms_id.as_str()),
        existing: format!("sf:{existing_sf_id}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Watermarks
// ---------------------------------------------------------------------------------------------

/// Watermarks are stored in epoch milliseconds: sub-millisecond precision is dropped (floor).
pub fn to_epoch_ms(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// Epoch milliseconds back to a timestamp; `None` when out of `time`'s range.
pub fn from_epoch_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Does `new_ms` move a watermark standing at `current_ms` forward? Strictly later only.
pub fn advances(current_ms: Option<i64>, new_ms: i64) -> bool {
    current_ms.is_none_or(|c| c < new_ms)
}

// ---------------------------------------------------------------------------------------------
// Inventory snapshots
// ---------------------------------------------------------------------------------------------

/// Drops repeated position keys, keeping the last value (a batch write rejects duplicate keys, and
/// "last write wins" is what sequential puts would do).
pub fn dedupe_last_wins<V>(entries: &[(String, V)]) -> Vec<(&str, &V)> {
    let last: HashMap<&str, usize> = entries.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();
    entries
        .iter()
        .enumerate()
        .filter(|(i, (k, _))| last.get(k.as_str()) == Some(i))
        .map(|(_, (k, v))| (k.as_str(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::ports::IdempotencyKey;

    const NOW_MS: i64 = 1_800_000_000_123;

    fn req(hash: &str, now_ms: i64) -> LockRequest {
        LockRequest {
            key: IdempotencyKey::new("fn", "k").expect("key"),
            payload_hash: hash.into(),
            now_ms,
            expires_after: Duration::from_secs(3600),
            lock_until_ms: now_ms + 30_000,
            token: rand::random(),
        }
    }

    fn record(status: IdemStatus, expiration_s: i64, ipe: Option<i64>, validation: &str) -> IdemRecord {
        IdemRecord {
            status,
            expiration_s,
            in_progress_expiration_ms: ipe,
            data: Some("result".into()),
            validation: Some(validation.into()),
            token: None,
        }
    }

    #[test]
    fn a_new_lock_stores_expiration_in_seconds_and_the_lock_in_milliseconds() {
        // Given a request at NOW_MS with a one-hour window
        let r = req("h", NOW_MS);
        // When the INPROGRESS record is built
        let rec = IdemRecord::in_progress(&r);
        // Then expiration is seconds and the lock is the deadline in ms
        assert_eq!(rec.expiration_s, 1_800_000_000 + 3600);
        assert_eq!(rec.in_progress_expiration_ms, Some(NOW_MS + 30_000));
        assert_eq!(rec.validation.as_deref(), Some("h"));
        assert_eq!(rec.status.as_str(), "INPROGRESS");
    }

    #[test]
    fn the_lock_is_free_when_absent_expired_or_lapsed_and_taken_otherwise() {
        let now_s = epoch_s(NOW_MS);
        assert!(lock_available(None, NOW_MS));
        // Expired records (either status) can be taken over.
        assert!(lock_available(
            Some(&record(IdemStatus::Completed, now_s - 1, None, "h")),
            NOW_MS
        ));
        assert!(lock_available(
            Some(&record(IdemStatus::InProgress, now_s - 1, Some(NOW_MS + 1), "h")),
            NOW_MS
        ));
        // A lapsed lock can be taken over even though the record has not expired.
        assert!(lock_available(
            Some(&record(IdemStatus::InProgress, now_s + 10, Some(NOW_MS - 1), "h")),
            NOW_MS
        ));
        // A live lock, a live completed record, and a lock-less INPROGRESS record block.
        assert!(!lock_available(
            Some(&record(IdemStatus::InProgress, now_s + 10, Some(NOW_MS), "h")),
            NOW_MS
        ));
        assert!(!lock_available(
            Some(&record(IdemStatus::Completed, now_s, None, "h")),
            NOW_MS
        ));
        assert!(!lock_available(
            Some(&record(IdemStatus::InProgress, now_s + 10, None, "h")),
            NOW_MS
        ));
    }

    #[test]
    fn an_existing_record_is_judged_by_hash_first_then_status_and_expiry() {
        let now_s = epoch_s(NOW_MS);
        let r = req("h", NOW_MS);
        let completed = record(IdemStatus::Completed, now_s, None, "h");
        assert_eq!(
            outcome_for_existing(Some(&completed), &r).expect("ok"),
            Begin::Completed(Some("result".into()))
        );
        let live = record(IdemStatus::InProgress, now_s + 5, Some(NOW_MS), "h");
        assert_eq!(outcome_for_existing(Some(&live), &r).expect("ok"), Begin::InProgress);
        let lockless = record(IdemStatus::InProgress, now_s + 5, None, "h");
        assert_eq!(
            outcome_for_existing(Some(&lockless), &r).expect("ok"),
            Begin::InProgress
        );

        // The hash is checked before anything else, even on an expired record.
        let other = record(IdemStatus::Completed, now_s - 100, None, "other");
        assert!(matches!(
            outcome_for_existing(Some(&other), &r),
            Err(IdempotencyError::PayloadMismatch { .. })
        ));
        let missing_hash = IdemRecord {
            validation: None,
            ..completed.clone()
        };
        assert!(matches!(
            outcome_for_existing(Some(&missing_hash), &r),
            Err(IdempotencyError::PayloadMismatch { .. })
        ));

        for inconsistent in [
            None,
            Some(record(IdemStatus::Completed, now_s - 1, None, "h")),
            Some(record(IdemStatus::InProgress, now_s + 5, Some(NOW_MS - 1), "h")),
        ] {
            assert!(
                matches!(
                    outcome_for_existing(inconsistent.as_ref(), &r),
                    Err(IdempotencyError::Inconsistent { .. })
                ),
                "{inconsistent:?}"
            );
        }
    }

    #[test]
    fn a_completed_record_keeps_data_and_drops_the_lock() {
        let rec = IdemRecord::completed(&req("h", NOW_MS), "{\"ok\":true}");
        assert_eq!(rec.status, IdemStatus::Completed);
        assert_eq!(rec.in_progress_expiration_ms, None);
        assert_eq!(rec.data.as_deref(), Some("{\"ok\":true}"));
        assert_eq!(IdemStatus::parse("COMPLETED"), Some(IdemStatus::Completed));
        assert_eq!(IdemStatus::parse("EXPIRED"), None);
    }

    #[test]
    fn a_lock_bearing_the_requests_own_token_is_its_own_retried_put_and_executes() {
        // Given the lock a request's put wrote, whose answer was lost
        let r = req("h", NOW_MS);
        let own = IdemRecord::in_progress(&r);
        // Then the SDK's retry of that put, refused by the condition, executes; anyone else's put waits
        assert_eq!(outcome_for_existing(Some(&own), &r).expect("own"), Begin::Execute);
        let other = LockRequest {
            token: r.token.wrapping_add(1),
            ..r.clone()
        };
        assert_eq!(
            outcome_for_existing(Some(&own), &other).expect("other"),
            Begin::InProgress
        );
        // And a completed record is completed, whoever asks
        let done = IdemRecord::completed(&r, "{}");
        assert!(matches!(outcome_for_existing(Some(&done), &r), Ok(Begin::Completed(_))));
    }

    fn arb_record() -> impl Strategy<Value = IdemRecord> {
        (
            prop_oneof![Just(IdemStatus::InProgress), Just(IdemStatus::Completed)],
            -5i64..5,
            proptest::option::of(-5_000i64..5_000),
            prop_oneof![Just("h".to_owned()), Just("x".to_owned())],
        )
            .prop_map(|(status, exp_delta, ipe_delta, validation)| IdemRecord {
                status,
                expiration_s: epoch_s(NOW_MS) + exp_delta,
                in_progress_expiration_ms: ipe_delta.map(|d| NOW_MS + d),
                data: None,
                validation: Some(validation),
                token: None,
            })
    }

    proptest! {
        /// The put condition and the client-side decision agree: whenever the condition refuses the
        /// lock for a record with the same hash, the answer is Completed or InProgress, never
        /// Inconsistent (which would make the caller retry a put that cannot succeed).
        #[test]
        fn the_put_condition_and_the_client_side_decision_never_disagree(rec in arb_record(), dt in -3_000i64..3_000) {
            let r = req("h", NOW_MS + dt);
            let available = lock_available(Some(&rec), r.now_ms);
            let outcome = outcome_for_existing(Some(&rec), &r);
            if rec.validation.as_deref() != Some("h") {
                let mismatch = matches!(outcome, Err(IdempotencyError::PayloadMismatch { .. }));
                prop_assert!(mismatch, "{:?}", outcome);
            } else if available {
                let inconsistent = matches!(outcome, Err(IdempotencyError::Inconsistent { .. }));
                prop_assert!(inconsistent, "{:?}", outcome);
            } else {
                let answered = matches!(outcome, Ok(Begin::Completed(_)) | Ok(Begin::InProgress));
                prop_assert!(answered, "{:?}", outcome);
            }
        }

        #[test]
        fn a_fresh_lock_always_blocks_a_second_begin_until_it_lapses(dt in 0i64..30_000) {
            let first = req("h", NOW_MS);
            let rec = IdemRecord::in_progress(&first);
            let second = req("h", NOW_MS + dt);
            prop_assert!(!lock_available(Some(&rec), second.now_ms));
            prop_assert_eq!(outcome_for_existing(Some(&rec), &second).expect("in progress"), Begin::InProgress);
            prop_assert!(lock_available(Some(&rec), first.lock_until_ms + 1));
        }

        #[test]
        fn watermarks_round_trip_through_epoch_milliseconds(ms in -10_000_000_000_000i64..10_000_000_000_000) {
            let t = from_epoch_ms(ms).expect("in range");
            prop_assert_eq!(to_epoch_ms(t), ms);
        }
    }

    #[test]
    fn a_watermark_moves_only_strictly_forward() {
        assert!(advances(None, 0));
        assert!(advances(Some(1), 2));
        assert!(!advances(Some(2), 2));
        assert!(!advances(Some(3), 2));
    }

    #[test]
    fn a_link_is_allowed_only_when_absent_or_identical() {
        assert!(link_allowed(None, "a"));
        assert!(link_allowed(Some("a"), "a"));
        assert!(!link_allowed(Some("b"), "a"));
        let sf = SalesforceId::parse("0a3000000000001").expect("id");
        let StoreError::Conflict { key, existing } = salesforce_conflict(&sf, WmsSystem::named("logiwa"), "W-2") else {
            panic!("conflict expected");
        };
        assert_eq!(key, format!("sf:{}", sf.as_str()));
        assert_eq!(existing, "logiwa:W-2");
    }

    #[test]
    fn repeated_position_keys_keep_only_the_last_fingerprint() {
        let e = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let entries = vec![e("a", "1"), e("b", "1"), e("a", "2"), e("c", "1")];
        let kept: Vec<(&str, &str)> = dedupe_last_wins(&entries)
            .into_iter()
            .map(|(k, v)| (k, v.as_str()))
            .collect();
        assert_eq!(kept, vec![("b", "1"), ("a", "2"), ("c", "1")]);
    }
}

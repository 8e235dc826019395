//! In-memory fakes of the AWS-backed ports, sharing the adapters' rules (`adapters::dynamodb::rules`, `adapters::sqs`) so handler tests see production semantics.
//!
//! Every fake is `Send + Sync`, deterministic, and inspectable. Each can be told to fail its next N calls
//! with a transient error (`fail_next_calls`), so handler tests can cover "the store is down" paths.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::adapters::dynamodb::rules::{self, IdemRecord};
use crate::adapters::sqs;
use crate::domain::{SalesforceId, WmsOrderId};
use crate::mapping::MappingTables;
use crate::ports::{
    Advance, Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, LockRequest, MappingSource, OrderState,
    OrderStateStore, OutboundMessage, PositionStore, PublishFailure, QueueError, QueuePublisher, RateGate, Saved,
    SecretError, SecretProvider, SentPosition, StoreError, WatermarkStore, WmsRef, WmsSystem, XrefStore,
};

/// The error a fake returns (as a source) when told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected failure")]
pub struct InjectedFailure;

/// A poisoned mutex only means another test thread panicked; the data is still what it wrote.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// "Fail the next N calls".
#[derive(Debug, Default)]
struct Faults(AtomicUsize);

impl Faults {
    fn set(&self, n: usize) {
        self.0.store(n, Ordering::SeqCst);
    }

    /// True (and one fewer pending) when this call must fail.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

/// `IdempotencyStore` in memory, with the Powertools rules of the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryIdempotency {
    records: Mutex<HashMap<IdempotencyKey, IdemRecord>>,
    faults: Faults,
}

impl MemoryIdempotency {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored record of a key.
    pub fn record(&self, key: &IdempotencyKey) -> Option<IdemRecord> {
        lock(&self.records).get(key).cloned()
    }

    /// Stores a record as is (to set up expired or foreign records).
    pub fn insert(&self, key: IdempotencyKey, record: IdemRecord) {
        lock(&self.records).insert(key, record);
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        lock(&self.records).len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next `n` calls fail with `IdempotencyError::Store`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }

    fn fault(&self) -> Result<(), IdempotencyError> {
        if self.faults.take() {
            return Err(IdempotencyError::Store(Box::new(InjectedFailure)));
        }
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn begin(&self, req: &LockRequest) -> Result<Begin, IdempotencyError> {
        self.fault()?;
        let mut records = lock(&self.records);
        let existing = records.get(&req.key);
        // The mutex plays the role of DynamoDB's atomic conditional put.
        if rules::lock_available(existing, req.now_ms) {
            records.insert(req.key.clone(), IdemRecord::in_progress(req));
            return Ok(Begin::Execute);
        }
        rules::outcome_for_existing(existing, req)
    }

    async fn complete(&self, req: &LockRequest, data: &str) -> Result<(), IdempotencyError> {
        self.fault()?;
        lock(&self.records).insert(req.key.clone(), IdemRecord::completed(req, data));
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), IdempotencyError> {
        self.fault()?;
        lock(&self.records).remove(key);
        Ok(())
    }

    async fn looks_free(&self, req: &LockRequest) -> Result<bool, IdempotencyError> {
        self.fault()?;
        Ok(rules::lock_available(lock(&self.records).get(&req.key), req.now_ms))
    }
}

fn store_fault(faults: &Faults) -> Result<(), StoreError> {
    if faults.take() {
        return Err(StoreError::Unavailable(Box::new(InjectedFailure)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cross-references
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Links {
    by_salesforce: HashMap<(SalesforceId, WmsSystem), WmsRef>,
    by_wms: HashMap<(WmsSystem, WmsOrderId), SalesforceId>,
}

/// `XrefStore` in memory: both directions, same conflict rules as the DynamoDB transaction.
#[derive(Debug, Default)]
pub struct MemoryXref {
    links: Mutex<Links>,
    faults: Faults,
}

impl MemoryXref {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every Salesforce → WMS link.
    pub fn links(&self) -> Vec<(SalesforceId, WmsRef)> {
        lock(&self.links)
            .by_salesforce
            .iter()
            .map(|((sf, _), w)| (sf.clone(), w.clone()))
            .collect()
    }

    /// The next `n` calls fail with `StoreError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

#[async_trait]
impl XrefStore for MemoryXref {
    async fn link(&self, salesforce: &SalesforceId, wms: &WmsRef) -> Result<(), StoreError> {
        store_fault(&self.faults)?;
        let mut links = lock(&self.links);
        let sf_key = (salesforce.clone(), wms.system);
        let wms_key = (wms.system, wms.id.clone());
        // Both checks before any write: the DynamoDB transaction writes both sides or neither.
        if let Some(existing) = links.by_salesforce.get(&sf_key).map(|w| w.id.as_str()) {
            if !rules::link_allowed(Some(existing), wms.id.as_str()) {
                return Err(rules::salesforce_conflict(salesforce, wms.system, existing));
            }
        }
        if let Some(existing) = links.by_wms.get(&wms_key).map(SalesforceId::as_str) {
            if !rules::link_allowed(Some(existing), salesforce.as_str()) {
                return Err(rules::wms_conflict(wms.system, &wms.id, existing));
            }
        }
        links.by_salesforce.insert(sf_key, wms.clone());
        links.by_wms.insert(wms_key, salesforce.clone());
        Ok(())
    }

    async fn wms_for(&self, salesforce: &SalesforceId, system: WmsSystem) -> Result<Option<WmsRef>, StoreError> {
        store_fault(&self.faults)?;
        Ok(lock(&self.links)
            .by_salesforce
            .get(&(salesforce.clone(), system))
            .cloned())
    }

    async fn salesforce_for(&self, system: WmsSystem, wms_id: &WmsOrderId) -> Result<Option<SalesforceId>, StoreError> {
        store_fault(&self.faults)?;
        Ok(lock(&self.links).by_wms.get(&(system, wms_id.clone())).cloned())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-order state
// ---------------------------------------------------------------------------------------------

/// `OrderStateStore` in memory, with the same versioned-write condition as the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryOrderState {
    items: Mutex<HashMap<(String, String), OrderState>>,
    faults: Faults,
}

impl MemoryOrderState {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored state.
    pub fn all(&self) -> Vec<OrderState> {
        lock(&self.items).values().cloned().collect()
    }

    /// The next `n` calls fail with `StoreError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

#[async_trait]
impl OrderStateStore for MemoryOrderState {
    async fn load(&self, source_system: &str, source_id: &str) -> Result<Option<OrderState>, StoreError> {
        store_fault(&self.faults)?;
        Ok(lock(&self.items)
            .get(&(source_system.to_owned(), source_id.to_owned()))
            .cloned())
    }

    async fn save(&self, state: &OrderState) -> Result<Saved, StoreError> {
        store_fault(&self.faults)?;
        let mut items = lock(&self.items);
        let key = (state.source_system.clone(), state.source_id.clone());
        let stored = items.get(&key).map(|s| s.version);
        let expected = state.version.checked_sub(1).filter(|v| *v > 0);
        if stored != expected {
            return Ok(Saved::Conflict);
        }
        items.insert(key, state.clone());
        Ok(Saved::Written)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared rate limits
// ---------------------------------------------------------------------------------------------

/// `RateGate` in memory: the DynamoDB adapter's slot arithmetic under a mutex.
#[derive(Debug, Default)]
pub struct MemoryRateGate {
    next_ms: Mutex<HashMap<String, i64>>,
}

impl MemoryRateGate {
    /// An empty gate.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateGate for MemoryRateGate {
    async fn reserve_many(
        &self,
        bucket: &str,
        interval: std::time::Duration,
        lead: std::time::Duration,
        count: std::num::NonZeroU32,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
        let span = step.saturating_mul(i64::from(count.get()));
        let now = rules::to_epoch_ms(OffsetDateTime::now_utc()) + i64::try_from(lead.as_millis()).unwrap_or(0);
        let mut next = lock(&self.next_ms);
        // Same arithmetic as the DynamoDB adapter: a bucket whose next slot is still ahead gives it out,
        // one whose next slot has passed starts again from now.
        let (first, after) = match next.get(bucket).copied().filter(|n| *n >= now) {
            Some(n) => (n, n.saturating_add(span)),
            None => (now, now.saturating_add(span)),
        };
        next.insert(bucket.to_owned(), after);
        (0..i64::from(count.get()))
            .map(|i| {
                rules::from_epoch_ms(first.saturating_add(step.saturating_mul(i))).ok_or_else(|| {
                    StoreError::Malformed {
                        key: bucket.to_owned(),
                        reason: "slot out of range".into(),
                    }
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Watermarks
// ---------------------------------------------------------------------------------------------

/// `WatermarkStore` in memory, in epoch milliseconds like DynamoDB (so sub-ms differences do not count).
#[derive(Debug, Default)]
pub struct MemoryWatermarks {
    marks: Mutex<HashMap<String, i64>>,
    faults: Faults,
}

impl MemoryWatermarks {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a watermark unconditionally (test setup).
    pub fn set(&self, stream: &str, at: OffsetDateTime) {
        lock(&self.marks).insert(stream.to_owned(), rules::to_epoch_ms(at));
    }

    /// The next `n` calls fail with `StoreError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

fn ms_to_time(stream: &str, ms: i64) -> Result<OffsetDateTime, StoreError> {
    rules::from_epoch_ms(ms).ok_or_else(|| StoreError::Malformed {
        key: format!("wm#{stream}"),
        reason: "watermark is out of range".into(),
    })
}

#[async_trait]
impl WatermarkStore for MemoryWatermarks {
    async fn get(&self, stream: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        store_fault(&self.faults)?;
        lock(&self.marks)
            .get(stream)
            .map(|ms| ms_to_time(stream, *ms))
            .transpose()
    }

    async fn advance(&self, stream: &str, to: OffsetDateTime) -> Result<Advance, StoreError> {
        store_fault(&self.faults)?;
        let mut marks = lock(&self.marks);
        let new = rules::to_epoch_ms(to);
        let current = marks.get(stream).copied();
        match current {
            Some(c) if !rules::advances(Some(c), new) => Ok(Advance::NotForward {
                current: ms_to_time(stream, c)?,
            }),
            _ => {
                marks.insert(stream.to_owned(), new);
                Ok(Advance::Moved)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inventory snapshots
// ---------------------------------------------------------------------------------------------

/// `PositionStore` in memory.
#[derive(Debug, Default)]
pub struct MemoryPositions {
    scopes: Mutex<HashMap<String, HashMap<String, SentPosition>>>,
    faults: Faults,
}

impl MemoryPositions {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The positions of a scope.
    pub fn snapshot(&self, scope: &str) -> HashMap<String, SentPosition> {
        lock(&self.scopes).get(scope).cloned().unwrap_or_default()
    }

    /// Replaces one position as is (test setup, e.g. an item saved before the WMS identity existed).
    pub fn put(&self, scope: &str, key: &str, sent: SentPosition) {
        lock(&self.scopes)
            .entry(scope.to_owned())
            .or_default()
            .insert(key.to_owned(), sent);
    }

    /// The next `n` calls fail with `StoreError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

#[async_trait]
impl PositionStore for MemoryPositions {
    async fn load(&self, scope: &str) -> Result<HashMap<String, SentPosition>, StoreError> {
        store_fault(&self.faults)?;
        Ok(self.snapshot(scope))
    }

    async fn save(&self, scope: &str, entries: &[(String, SentPosition)]) -> Result<(), StoreError> {
        store_fault(&self.faults)?;
        let mut scopes = lock(&self.scopes);
        let stored = scopes.entry(scope.to_owned()).or_default();
        for (key, sent) in rules::dedupe_last_wins(entries) {
            stored.insert(key.to_owned(), sent.clone());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping tables
// ---------------------------------------------------------------------------------------------

/// `MappingSource` in memory: hands out a copy of the tables it holds.
#[derive(Debug, Default)]
pub struct MemoryMappings {
    tables: Mutex<MappingTables>,
    faults: Faults,
    loads: AtomicUsize,
}

impl MemoryMappings {
    /// A source holding `tables`.
    pub fn new(tables: MappingTables) -> Self {
        Self {
            tables: Mutex::new(tables),
            ..Self::default()
        }
    }

    /// Replaces the tables (an operator edit).
    pub fn set(&self, tables: MappingTables) {
        *lock(&self.tables) = tables;
    }

    /// How many times `load` was called.
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// The next `n` calls fail with `StoreError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

#[async_trait]
impl MappingSource for MemoryMappings {
    // One set of tables for every system: handler tests drive one WMS.
    async fn load(&self, _system: WmsSystem) -> Result<MappingTables, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        store_fault(&self.faults)?;
        Ok(lock(&self.tables).clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct QueueState {
    sent: HashMap<String, Vec<OutboundMessage>>,
    failing_indexes: BTreeSet<usize>,
    calls: usize,
}

/// `QueuePublisher` in memory: records what was published per queue URL, with SQS's size and shape
/// checks, and can fail whole calls or chosen messages.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<QueueState>,
    faults: Faults,
}

impl MemoryQueue {
    /// An empty queue set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages published to a queue, in order.
    pub fn sent(&self, queue_url: &str) -> Vec<OutboundMessage> {
        lock(&self.state).sent.get(queue_url).cloned().unwrap_or_default()
    }

    /// Removes and returns the messages published to a queue (like a consumer receiving them).
    pub fn take(&self, queue_url: &str) -> Vec<OutboundMessage> {
        lock(&self.state).sent.remove(queue_url).unwrap_or_default()
    }

    /// Messages published to every queue.
    pub fn all_sent(&self) -> HashMap<String, Vec<OutboundMessage>> {
        lock(&self.state).sent.clone()
    }

    /// How many `publish` calls were made (failed ones included).
    pub fn calls(&self) -> usize {
        lock(&self.state).calls
    }

    /// The next `n` calls fail as a whole with `QueueError::Unavailable`, sending nothing.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }

    /// In the next call, the messages at these input indexes are refused (a `PublishFailure` with code
    /// `InjectedFailure`, not the sender's fault); the others are sent.
    pub fn fail_indexes(&self, indexes: impl IntoIterator<Item = usize>) {
        lock(&self.state).failing_indexes = indexes.into_iter().collect();
    }
}

#[async_trait]
impl QueuePublisher for MemoryQueue {
    async fn publish(&self, queue_url: &str, messages: &[OutboundMessage]) -> Result<Vec<PublishFailure>, QueueError> {
        let mut state = lock(&self.state);
        state.calls += 1;
        sqs::check_sizes(messages)?;
        if self.faults.take() {
            return Err(QueueError::Unavailable(Box::new(InjectedFailure)));
        }
        let failing = std::mem::take(&mut state.failing_indexes);
        let mut failures = Vec::new();
        for (index, m) in messages.iter().enumerate() {
            if let Some(f) = sqs::rejection(index, m) {
                failures.push(f);
            } else if failing.contains(&index) {
                failures.push(PublishFailure {
                    index,
                    code: "InjectedFailure".into(),
                    message: "injected failure".into(),
                    sender_fault: false,
                });
            } else {
                state.sent.entry(queue_url.to_owned()).or_default().push(m.clone());
            }
        }
        Ok(failures)
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// `SecretProvider` in memory: id → value, with a read counter.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<String, SecretString>>,
    reads: AtomicUsize,
    faults: Faults,
}

impl MemorySecrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret (builder style).
    #[must_use]
    pub fn with(self, id: &str, value: &str) -> Self {
        self.insert(id, value);
        self
    }

    /// Adds or replaces a secret (rotation).
    pub fn insert(&self, id: &str, value: &str) {
        lock(&self.values).insert(id.to_owned(), SecretString::from(value));
    }

    /// Removes a secret.
    pub fn remove(&self, id: &str) {
        lock(&self.values).remove(id);
    }

    /// How many reads were made.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The next `n` reads fail with `SecretError::Unavailable`.
    pub fn fail_next_calls(&self, n: usize) {
        self.faults.set(n);
    }
}

#[async_trait]
impl SecretProvider for MemorySecrets {
    async fn secret(&self, id: &str) -> Result<SecretString, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.faults.take() {
            return Err(SecretError::Unavailable(Box::new(InjectedFailure)));
        }
        lock(&self.values)
            .get(id)
            .cloned()
            .ok_or_else(|| SecretError::NotFound { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;
    use time::macros::datetime;

    use super::*;
    use crate::domain::CorrelationId;

    const NOW_MS: i64 = 1_800_000_000_000;

    fn req(hash: &str, now_ms: i64) -> LockRequest {
        LockRequest {
            key: IdempotencyKey::new("fn", "order-1").expect("key"),
            payload_hash: hash.into(),
            now_ms,
            expires_after: Duration::from_secs(3600),
            lock_until_ms: now_ms + 10_000,
            token: rand::random(),
        }
    }

    #[tokio::test]
    async fn the_idempotency_fake_walks_the_whole_powertools_lifecycle() {
        let store = MemoryIdempotency::new();
        // Given a first begin
        assert_eq!(store.begin(&req("h", NOW_MS)).await.expect("begin"), Begin::Execute);
        // When a duplicate arrives while the lock is live, Then it is InProgress
        assert_eq!(
            store.begin(&req("h", NOW_MS + 1)).await.expect("begin"),
            Begin::InProgress
        );
        // When the first completes, Then duplicates get the stored result
        store.complete(&req("h", NOW_MS), "done").await.expect("complete");
        assert_eq!(
            store.begin(&req("h", NOW_MS + 2)).await.expect("begin"),
            Begin::Completed(Some("done".into()))
        );
        // And a different payload under the same key is refused
        assert!(matches!(
            store.begin(&req("other", NOW_MS + 3)).await,
            Err(IdempotencyError::PayloadMismatch { .. })
        ));
        // And once the record expires, the key runs again
        assert_eq!(
            store.begin(&req("h", NOW_MS + 3_601_000)).await.expect("begin"),
            Begin::Execute
        );
    }

    #[tokio::test]
    async fn a_released_or_lapsed_idempotency_lock_lets_the_next_begin_execute() {
        let store = MemoryIdempotency::new();
        let first = req("h", NOW_MS);
        store.begin(&first).await.expect("begin");
        store.release(&first.key).await.expect("release");
        assert!(store.is_empty());
        assert_eq!(store.begin(&first).await.expect("begin"), Begin::Execute);
        // Past the lock deadline, a retry takes over.
        assert_eq!(
            store.begin(&req("h", first.lock_until_ms + 1)).await.expect("begin"),
            Begin::Execute
        );
    }

    #[tokio::test]
    async fn an_injected_idempotency_failure_is_transient_and_happens_once() {
        let store = MemoryIdempotency::new();
        store.fail_next_calls(1);
        assert!(matches!(
            store.begin(&req("h", NOW_MS)).await,
            Err(IdempotencyError::Store(_))
        ));
        assert_eq!(store.begin(&req("h", NOW_MS)).await.expect("begin"), Begin::Execute);
    }

    fn sf(id: &str) -> SalesforceId {
        SalesforceId::parse(id).expect("sf id")
    }

    fn wms(id: &str) -> WmsRef {
        WmsRef {
            system: WmsSystem::named("logiwa"),
            id: WmsOrderId::parse(id).expect("wms id"),
            code: "FO-1".into(),
        }
    }

    #[tokio::test]
    async fn the_xref_fake_links_both_ways_and_refuses_a_different_pair_without_writing() {
        let store = MemoryXref::new();
        let (a, b) = (sf("0a3000000000001"), sf("0a3000000000002"));
        store.link(&a, &wms("W-1")).await.expect("link");
        store.link(&a, &wms("W-1")).await.expect("relink is a no-op");
        assert_eq!(
            store.wms_for(&a, WmsSystem::named("logiwa")).await.expect("read"),
            Some(wms("W-1"))
        );
        assert_eq!(
            store
                .salesforce_for(WmsSystem::named("logiwa"), &WmsOrderId::parse("W-1").expect("id"))
                .await
                .expect("read"),
            Some(a.clone())
        );
        // The same Salesforce record to another order, and another record to the same order, conflict.
        assert!(matches!(
            store.link(&a, &wms("W-2")).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            store.link(&b, &wms("W-1")).await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(store.links().len(), 1);
        assert_eq!(
            store
                .salesforce_for(WmsSystem::named("logiwa"), &WmsOrderId::parse("W-2").expect("id"))
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn the_watermark_fake_only_moves_forward_at_millisecond_precision() {
        let store = MemoryWatermarks::new();
        let t = datetime!(2026-11-23 10:00:00.000 UTC);
        assert_eq!(store.advance("s", t).await.expect("advance"), Advance::Moved);
        assert_eq!(
            store.advance("s", t).await.expect("advance"),
            Advance::NotForward { current: t }
        );
        // Half a millisecond later is the same millisecond: not forward.
        let sub_ms = t + time::Duration::microseconds(500);
        assert_eq!(
            store.advance("s", sub_ms).await.expect("advance"),
            Advance::NotForward { current: t }
        );
        let later = t + time::Duration::seconds(1);
        assert_eq!(store.advance("s", later).await.expect("advance"), Advance::Moved);
        assert_eq!(store.get("s").await.expect("get"), Some(later));
    }

    #[tokio::test]
    async fn the_position_fake_merges_saves_with_the_last_fingerprint_winning() {
        let store = MemoryPositions::new();
        let e = |k: &str, v: &str| {
            (
                k.to_owned(),
                SentPosition {
                    fingerprint: v.to_owned(),
                    wms: None,
                },
            )
        };
        store
            .save("logiwa#WH1", &[e("a", "1"), e("b", "1"), e("a", "2")])
            .await
            .expect("save");
        store.save("logiwa#WH1", &[e("c", "1")]).await.expect("save");
        let loaded = store.load("logiwa#WH1").await.expect("load");
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded.get("a").map(|p| p.fingerprint.as_str()), Some("2"));
        assert!(store.load("other").await.expect("load").is_empty());
    }

    fn message(body: &str) -> OutboundMessage {
        OutboundMessage {
            body: body.into(),
            correlation_id: CorrelationId::parse("c-1").expect("id"),
            message_type: "t".into(),
            schema_version: 1,
            attributes: vec![],
        }
    }

    #[tokio::test]
    async fn the_queue_fake_records_messages_and_fails_calls_or_indexes_on_demand() {
        let q = MemoryQueue::new();
        q.fail_indexes([1]);
        let failures = q
            .publish("q", &[message("a"), message("b"), message("c")])
            .await
            .expect("publish");
        assert_eq!(failures.iter().map(|f| f.index).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            q.sent("q").iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            vec!["a", "c"]
        );

        q.fail_next_calls(1);
        assert!(matches!(
            q.publish("q", &[message("d")]).await,
            Err(QueueError::Unavailable(_))
        ));
        assert!(q.publish("q", &[message("d")]).await.expect("publish").is_empty());
        assert_eq!(q.sent("q").len(), 3);
        assert_eq!(q.calls(), 3);
    }

    #[tokio::test]
    async fn the_queue_fake_refuses_an_oversized_batch_before_recording_anything() {
        let q = MemoryQueue::new();
        let big = message(&"x".repeat(sqs::MAX_MESSAGE_BYTES));
        let err = q.publish("q", &[message("a"), big]).await.expect_err("too large");
        assert!(matches!(err, QueueError::TooLarge { index: 1, .. }));
        assert!(q.sent("q").is_empty());
    }

    #[tokio::test]
    async fn the_secret_fake_returns_values_counts_reads_and_reports_missing_ids() {
        let secrets = MemorySecrets::new().with("sf", "s3cr3t");
        assert_eq!(secrets.secret("sf").await.expect("secret").expose_secret(), "s3cr3t");
        assert!(matches!(
            secrets.secret("nope").await,
            Err(SecretError::NotFound { .. })
        ));
        assert_eq!(secrets.reads(), 2);
    }

    #[tokio::test]
    async fn the_mapping_fake_hands_out_the_current_tables() {
        let mut tables = MappingTables::default();
        tables.sku.passthrough = true;
        let source = MemoryMappings::new(tables.clone());
        assert_eq!(source.load(WmsSystem::named("logiwa")).await.expect("load"), tables);
        source.set(MappingTables::default());
        assert_eq!(
            source.load(WmsSystem::named("logiwa")).await.expect("load"),
            MappingTables::default()
        );
        assert_eq!(source.loads(), 2);
    }
}

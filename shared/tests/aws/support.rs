//! Shared setup for the moto tests: SDK config, a fresh state table per test, raw item reads, call counters, and lost answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::http::StatusCode;
use aws_types::SdkConfig;
use waybill::adapters::dynamodb::DynamoState;
use waybill::error::BoxError;
use waybill::testing::{self, Moto};

/// SDK configuration for the shared moto server (started on first use).
pub async fn sdk() -> SdkConfig {
    match Moto::shared().await {
        Ok(moto) => moto.sdk_config().await,
        // `{:#}` prints the whole context chain, including the `make venv` hint.
        Err(e) => panic!("{e:#}"),
    }
}

/// A state table of its own for one test.
pub async fn state() -> DynamoState {
    state_with(aws_sdk_dynamodb::Client::new(&sdk().await)).await
}

/// A state table of its own, reached through `client` (e.g. one with a call counter).
pub async fn state_with(client: aws_sdk_dynamodb::Client) -> DynamoState {
    let table = testing::create_state_table(&client).await.expect("state table");
    DynamoState::new(client, table)
}

/// A DynamoDB client that counts the operations it starts.
pub async fn counted_dynamodb() -> (aws_sdk_dynamodb::Client, CallCounter) {
    let counter = CallCounter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk().await)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(conf), counter)
}

/// A DynamoDB client whose every operation loses its first answer (see [`LoseFirstAnswers`]).
pub async fn losing_dynamodb() -> (aws_sdk_dynamodb::Client, LoseFirstAnswers) {
    let lose = LoseFirstAnswers::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk().await)
        .interceptor(lose.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(conf), lose)
}

/// Turns the first answer of every operation into a 503, so its first attempt is carried out but its
/// answer lost, and its retries are answered as they are. Counts what it dropped.
#[derive(Debug, Clone, Default)]
pub struct LoseFirstAnswers {
    /// Set when an operation starts, taken by its first answer.
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
}

impl LoseFirstAnswers {
    /// Answers dropped so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Intercept for LoseFirstAnswers {
    fn name(&self) -> &'static str {
        "LoseFirstAnswers"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.armed.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.lost.fetch_add(1, Ordering::SeqCst);
            *context.response_mut().status_mut() = StatusCode::try_from(503u16)?;
        }
        Ok(())
    }
}

/// The item at `pk`/`sk` as stored, for checking the key design and attribute types.
pub async fn raw_item(state: &DynamoState, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    state
        .client()
        .get_item()
        .table_name(state.table())
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

/// Writes an item as is (to plant malformed or expired records).
pub async fn put_raw(state: &DynamoState, item: HashMap<String, AttributeValue>) {
    state
        .client()
        .put_item()
        .table_name(state.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("put item");
}

/// A string attribute's value.
pub fn s<'a>(item: &'a HashMap<String, AttributeValue>, attr: &str) -> &'a str {
    item.get(attr)
        .and_then(|v| v.as_s().ok())
        .unwrap_or_else(|| panic!("{attr} is not a string in {item:?}"))
}

/// A number attribute's value.
pub fn n(item: &HashMap<String, AttributeValue>, attr: &str) -> i64 {
    item.get(attr)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{attr} is not an integer in {item:?}"))
}

/// Counts the SDK operations started, by name. An operation the SDK retries counts once: these tests
/// count what our code asks for, and a transient retry (a loaded machine) must not change the count.
/// Works with every AWS SDK client.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    total: Arc<AtomicUsize>,
    by_operation: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl CallCounter {
    /// All operations so far.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Operations with this name (e.g. `GetItem`).
    pub fn of(&self, operation: &str) -> usize {
        self.by_operation
            .lock()
            .map(|m| m.get(operation).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    /// Counted on each operation's first attempt, from `x-amz-target` (`DynamoDB_20120810.GetItem`,
    /// `AmazonSQS.SendMessageBatch`, …): every SDK used here speaks an AWS JSON protocol.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            return Ok(());
        }
        self.total.fetch_add(1, Ordering::SeqCst);
        let target = context.request().headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        if let Ok(mut m) = self.by_operation.lock() {
            *m.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}

//! The per-test set-up itself, against the SDK retrying a create whose first answer was lost.
//!
//! A fresh CI machine once failed two tests before they began: the SDK retried `CreateTable` after its
//! first attempt had gone through, and the retry was refused as "Table already exists". These tests lose
//! the first answer of every call on purpose (moto does the work; the SDK sees a 503 and retries).
//! (`CreateSecret` is safe without help: the SDK repeats its `ClientRequestToken`, so a retry is answered
//! as the first.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::TimeToLiveStatus;
use aws_smithy_runtime_api::http::StatusCode;
use waybill::error::BoxError;
use waybill::testing;

use crate::support;

/// Turns the first answer of every operation into a 503, so its first attempt is carried out but its
/// answer lost, and its retries are answered as they are. Counts what it dropped.
#[derive(Debug, Clone, Default)]
struct LoseFirstAnswers {
    /// Set when an operation starts, taken by its first answer.
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
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

#[tokio::test]
async fn a_state_table_whose_create_and_ttl_answers_are_lost_is_still_created_with_ttl() {
    // Given a DynamoDB client whose every call loses its first answer
    let lose = LoseFirstAnswers::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&support::sdk().await)
        .interceptor(lose.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    // When the set-up creates a state table
    let table = testing::create_state_table(&client).await.expect("state table");
    // Then both calls were retried after moto had carried them out, and the table has TTL on `expiration`
    assert_eq!(
        lose.lost.load(Ordering::SeqCst),
        2,
        "CreateTable and UpdateTimeToLive each lost one answer"
    );
    let plain = aws_sdk_dynamodb::Client::new(&support::sdk().await);
    let ttl = plain
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("describe ttl")
        .time_to_live_description
        .expect("a ttl description");
    assert_eq!(ttl.attribute_name.as_deref(), Some("expiration"));
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
}

//! The per-test set-up and counters themselves, against the SDK retrying a call whose first answer was lost.
//!
//! A fresh CI machine once failed two tests before they began: the SDK retried `CreateTable` after its
//! first attempt had gone through, and the retry was refused as "Table already exists". These tests lose
//! the first answer of every call on purpose (moto does the work; the SDK sees a 503 and retries).
//! (`CreateSecret` is safe without help: the SDK repeats its `ClientRequestToken`, so a retry is answered
//! as the first.)

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use waybill::testing;

use crate::support;

#[tokio::test]
async fn a_state_table_whose_create_and_ttl_answers_are_lost_is_still_created_with_ttl() {
    // Given a DynamoDB client whose every call loses its first answer
    let (client, lose) = support::losing_dynamodb().await;
    // When the set-up creates a state table
    let table = testing::create_state_table(&client).await.expect("state table");
    // Then both calls were retried after moto had carried them out, and the table has TTL on `expiration`
    assert_eq!(lose.lost(), 2, "CreateTable and UpdateTimeToLive each lost one answer");
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

#[tokio::test]
async fn the_call_counter_counts_an_operation_the_sdk_retried_once() {
    // Given a client that counts operations and loses every first answer
    let counter = support::CallCounter::default();
    let lose = support::LoseFirstAnswers::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&support::sdk().await)
        .interceptor(counter.clone())
        .interceptor(lose.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    // When one ListTables is sent twice (its first answer lost)
    client.list_tables().send().await.expect("list tables");
    // Then it counts once: the counts the other tests assert do not move with a transient retry
    assert_eq!(lose.lost(), 1);
    assert_eq!((counter.of("ListTables"), counter.total()), (1, 1));
}

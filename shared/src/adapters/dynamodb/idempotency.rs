//! `IdempotencyStore` on DynamoDB: the Powertools lock protocol (conditional put with ALL_OLD, consistent-read fallback).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use tracing::{debug, instrument};

use super::item::{n, opt_n, opt_s, req_n, req_s, s, AttrError, Item};
use super::rules::{self, IdemRecord, IdemStatus};
use super::{boxed, keys, DynamoState};
use crate::ports::{Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, LockRequest};

const STATUS: &str = "status";
const EXPIRATION: &str = "expiration";
const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
const DATA: &str = "data";
const VALIDATION: &str = "validation";
const TOKEN: &str = "lock_token";

/// Powertools' three-clause lock condition. `status` and `data` are DynamoDB reserved words, hence the
/// `#` placeholders.
const LOCK_CONDITION: &str = "attribute_not_exists(pk) OR #exp < :now_s \
     OR (#status = :inprogress AND attribute_exists(#ipe) AND #ipe < :now_ms)";

/// A stored idempotency record that cannot be decoded (manual edit or another writer's schema).
#[derive(Debug, thiserror::Error)]
#[error("idempotency record {key} is malformed")]
pub struct MalformedRecord {
    /// The `pk`.
    pub key: String,
    /// Which attribute is wrong.
    #[source]
    pub source: AttrError,
}

#[async_trait]
impl IdempotencyStore for DynamoState {
    #[instrument(skip_all, fields(idempotency_key = %req.key.as_str(), outcome))]
    async fn begin(&self, req: &LockRequest) -> Result<Begin, IdempotencyError> {
        let pk = keys::idempotency(&req.key);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(&pk, &IdemRecord::in_progress(req))))
            .condition_expression(LOCK_CONDITION)
            .expression_attribute_names("#exp", EXPIRATION)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":now_s", n(rules::epoch_s(req.now_ms)))
            .expression_attribute_values(":now_ms", n(req.now_ms))
            .expression_attribute_values(":inprogress", s(IdemStatus::InProgress.as_str()))
            // The existing item comes back with the failure: no extra read in the common duplicate case.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;

        let outcome = match put {
            Ok(_) => Ok(Begin::Execute),
            Err(err) => {
                let old = match err.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => {
                        e.item().filter(|i| !i.is_empty()).cloned()
                    }
                    _ => return Err(IdempotencyError::Store(boxed(err))),
                };
                let old = match old {
                    Some(item) => Some(item),
                    None => self.read(&pk).await?,
                };
                let existing = old.map(|item| decode(&pk, &item)).transpose()?;
                rules::outcome_for_existing(existing.as_ref(), req)
            }
        };
        tracing::Span::current().record("outcome", rules::outcome_label(&outcome));
        debug!("idempotency lock attempted");
        outcome
    }

    #[instrument(skip_all, fields(idempotency_key = %req.key.as_str()))]
    async fn complete(&self, req: &LockRequest, data: &str) -> Result<(), IdempotencyError> {
        let record = IdemRecord::completed(req, data);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::idempotency(&req.key)))
            .key("sk", s(keys::IDEMPOTENCY_SK))
            .update_expression("SET #status = :completed, #data = :data, #exp = :exp, #val = :val REMOVE #ipe, #tok")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#data", DATA)
            .expression_attribute_names("#exp", EXPIRATION)
            .expression_attribute_names("#val", VALIDATION)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_names("#tok", TOKEN)
            .expression_attribute_values(":completed", s(IdemStatus::Completed.as_str()))
            .expression_attribute_values(":data", s(data))
            .expression_attribute_values(":exp", n(record.expiration_s))
            .expression_attribute_values(":val", s(&req.payload_hash))
            .send()
            .await
            .map_err(|e| IdempotencyError::Store(boxed(e)))?;
        debug!("idempotency record completed");
        Ok(())
    }

    #[instrument(skip_all, fields(idempotency_key = %key.as_str()))]
    async fn release(&self, key: &IdempotencyKey) -> Result<(), IdempotencyError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::idempotency(key)))
            .key("sk", s(keys::IDEMPOTENCY_SK))
            .send()
            .await
            .map_err(|e| IdempotencyError::Store(boxed(e)))?;
        debug!("idempotency record released");
        Ok(())
    }

    #[instrument(skip_all, fields(idempotency_key = %req.key.as_str()))]
    async fn looks_free(&self, req: &LockRequest) -> Result<bool, IdempotencyError> {
        let pk = keys::idempotency(&req.key);
        let existing = self.read(&pk).await?.map(|item| decode(&pk, &item)).transpose()?;
        Ok(rules::lock_available(existing.as_ref(), req.now_ms))
    }
}

impl DynamoState {
    /// Consistent read of an idempotency item: an eventually consistent read could miss the record that
    /// just made our put fail.
    async fn read(&self, pk: &str) -> Result<Option<Item>, IdempotencyError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(keys::IDEMPOTENCY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| IdempotencyError::Store(boxed(e)))?;
        Ok(out.item.filter(|i| !i.is_empty()))
    }
}

/// The item for a record.
fn encode(pk: &str, r: &IdemRecord) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(keys::IDEMPOTENCY_SK)),
        (STATUS.to_owned(), s(r.status.as_str())),
        (EXPIRATION.to_owned(), n(r.expiration_s)),
    ]);
    if let Some(t) = r.in_progress_expiration_ms {
        item.insert(IN_PROGRESS_EXPIRATION.to_owned(), n(t));
    }
    if let Some(d) = &r.data {
        item.insert(DATA.to_owned(), s(d));
    }
    if let Some(v) = &r.validation {
        item.insert(VALIDATION.to_owned(), s(v));
    }
    if let Some(t) = r.token {
        // A string: a u64 can exceed what an i64 number attribute round-trips through our helpers.
        item.insert(TOKEN.to_owned(), s(t.to_string()));
    }
    item
}

/// The record in an item.
fn decode(pk: &str, item: &Item) -> Result<IdemRecord, IdempotencyError> {
    let malformed = |source| {
        IdempotencyError::Store(Box::new(MalformedRecord {
            key: pk.to_owned(),
            source,
        }))
    };
    let status = req_s(item, STATUS).map_err(malformed)?;
    let status = IdemStatus::parse(status).ok_or_else(|| {
        malformed(AttrError {
            attr: STATUS,
            problem: "is not INPROGRESS or COMPLETED",
        })
    })?;
    Ok(IdemRecord {
        status,
        expiration_s: req_n(item, EXPIRATION).map_err(malformed)?,
        in_progress_expiration_ms: opt_n(item, IN_PROGRESS_EXPIRATION).map_err(malformed)?,
        data: opt_s(item, DATA).map_err(malformed)?.map(str::to_owned),
        validation: opt_s(item, VALIDATION).map_err(malformed)?.map(str::to_owned),
        token: opt_s(item, TOKEN)
            .map_err(malformed)?
            .map(|t| {
                t.parse().map_err(|_| AttrError {
                    attr: TOKEN,
                    problem: "is not an unsigned integer",
                })
            })
            .transpose()
            .map_err(malformed)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn request() -> LockRequest {
        LockRequest {
            key: IdempotencyKey::new("fn", "k").expect("key"),
            payload_hash: "h".into(),
            now_ms: 1_800_000_000_500,
            expires_after: Duration::from_secs(60),
            lock_until_ms: 1_800_000_030_000,
            token: u64::MAX,
        }
    }

    #[test]
    fn a_record_survives_the_round_trip_through_an_item() {
        for record in [
            IdemRecord::in_progress(&request()),
            IdemRecord::completed(&request(), "{}"),
        ] {
            let item = encode("idem#fn#k", &record);
            assert_eq!(decode("idem#fn#k", &item).expect("decodes"), record);
        }
    }

    #[test]
    fn an_unknown_status_is_a_store_error_naming_the_record() {
        let mut item = encode("idem#fn#k", &IdemRecord::in_progress(&request()));
        item.insert(STATUS.into(), AttributeValue::S("EXPIRED".into()));
        let err = decode("idem#fn#k", &item).expect_err("malformed");
        assert!(matches!(err, IdempotencyError::Store(_)));
        assert!(
            crate::error::chain(&err).contains("idem#fn#k"),
            "{}",
            crate::error::chain(&err)
        );
    }
}

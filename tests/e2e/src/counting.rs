//! Counts every AWS request the local stack sends (the functions' and Lambda's own SQS polling), by service
//! and operation, with what AWS bills by: DynamoDB request units, SQS 64 KB chunks. `make cost` prices it.
//!
//! It is an SDK interceptor on the stack's clients, so every attempt (retries included) is counted once,
//! as AWS bills it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

/// What one operation cost.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct OpCount {
    /// Requests sent (each attempt).
    pub requests: u64,
    /// Billed requests (SQS: one per started 64 KB of payload; others: one per request).
    pub billed_requests: u64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// DynamoDB write request units.
    pub write_units: f64,
    /// SQS receives that returned nothing.
    pub empty_receives: u64,
}

/// The counts of a run, by (service, operation).
#[derive(Debug, Default)]
pub struct AwsCounts {
    ops: Mutex<BTreeMap<(String, String), OpCount>>,
}

impl AwsCounts {
    /// A snapshot.
    pub fn snapshot(&self) -> BTreeMap<(String, String), OpCount> {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets everything counted so far (setup traffic is not the run's).
    pub fn reset(&self) {
        self.ops.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    fn add(&self, service: &str, op: &str, c: OpCount) {
        let mut ops = self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        *ops.entry((service.to_owned(), op.to_owned())).or_default() += c;
    }
}

impl std::ops::AddAssign for OpCount {
    fn add_assign(&mut self, c: Self) {
        self.requests += c.requests;
        self.billed_requests += c.billed_requests;
        self.read_units += c.read_units;
        self.write_units += c.write_units;
        self.empty_receives += c.empty_receives;
    }
}

/// The interceptor: put it on each client of the stack.
#[derive(Debug, Clone)]
pub struct Counter(pub Arc<AwsCounts>);

/// The request body, kept from transmit to the response.
#[derive(Debug, Clone)]
struct SentBody(Vec<u8>);

impl Storable for SentBody {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "waybill-e2e-request-counter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = ctx.request().body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
        cfg.interceptor_state().store_put(SentBody(body));
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let (service, mut op) = (meta.service().to_owned(), meta.name().to_owned());
        let sent = cfg.load::<SentBody>().map(|b| b.0.clone()).unwrap_or_default();
        let received = ctx.response().body().bytes().unwrap_or_default();
        let ok = ctx.response().status().is_success();
        let c = cost(&service, &op, &sent, received, ok);
        // DynamoDB operations are also told apart by what they touch (the key's prefix), so the bill
        // shows which rule pays for which writes.
        if let Some(prefix) = key_prefix(&sent) {
            op = format!("{op} {prefix}");
        }
        self.0.add(&service, &op, c);
        Ok(())
    }
}

/// The item kind a DynamoDB request touches: its `pk` up to the first `#` (`event`, `lease`, `order`…).
fn key_prefix(sent: &[u8]) -> Option<String> {
    let v = json(sent);
    let pk = v
        .get("Key")
        .or_else(|| v.get("Item"))
        .and_then(|k| k.get("pk"))
        .and_then(|pk| pk.get("S"))
        .and_then(Value::as_str)?;
    Some(pk.split('#').next().unwrap_or(pk).to_owned())
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// Units of `bytes` in steps of `unit` bytes, at least one.
fn units(bytes: usize, unit: usize) -> f64 {
    bytes.div_ceil(unit).max(1) as f64
}

/// What one request costs. DynamoDB units are estimated from the JSON on the wire, which is larger than
/// the item size AWS bills (attribute names and type tags count in both, JSON punctuation only here), so
/// the estimate errs high.
fn cost(service: &str, op: &str, sent: &[u8], received: &[u8], ok: bool) -> OpCount {
    let mut c = OpCount {
        requests: 1,
        billed_requests: 1,
        ..OpCount::default()
    };
    match service.to_ascii_lowercase().as_str() {
        "sqs" => {
            c.billed_requests = sent.len().max(received.len()).div_ceil(65_536).max(1) as u64;
            if op == "ReceiveMessage" {
                let v = json(received);
                if v.get("Messages").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                    c.empty_receives = 1;
                }
            }
        }
        "dynamodb" => {
            let req = json(sent);
            let strong = req.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
            let read_factor = if strong { 1.0 } else { 0.5 };
            match op {
                // A failed conditional write still consumes its write units.
                "PutItem" | "UpdateItem" | "DeleteItem" => c.write_units = units(sent.len(), 1024),
                "GetItem" | "Query" | "Scan" => {
                    c.read_units = units(if ok { received.len() } else { 0 }, 4096) * read_factor;
                }
                "BatchGetItem" => {
                    let keys: usize = req
                        .get("RequestItems")
                        .and_then(Value::as_object)
                        .map(|t| {
                            t.values()
                                .filter_map(|v| v.get("Keys").and_then(Value::as_array).map(Vec::len))
                                .sum()
                        })
                        .unwrap_or(1);
                    c.read_units = (keys as f64).max(units(received.len(), 4096)) * read_factor;
                }
                "BatchWriteItem" => {
                    let items: usize = req
                        .get("RequestItems")
                        .and_then(Value::as_object)
                        .map(|t| t.values().filter_map(Value::as_array).map(Vec::len).sum())
                        .unwrap_or(1);
                    c.write_units = (items as f64).max(units(sent.len(), 1024));
                }
                "TransactWriteItems" => {
                    let items = req.get("TransactItems").and_then(Value::as_array).map_or(1, Vec::len);
                    c.write_units = 2.0 * (items as f64).max(units(sent.len(), 1024));
                }
                _ => {}
            }
        }
        _ => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_put_is_one_write_unit_and_a_large_one_more() {
        assert!((cost("dynamodb", "PutItem", &[b' '; 300], b"{}", true).write_units - 1.0).abs() < f64::EPSILON);
        assert!((cost("dynamodb", "PutItem", &[b' '; 2500], b"{}", true).write_units - 3.0).abs() < f64::EPSILON);
    }

    #[test]
    fn an_eventually_consistent_read_is_half_a_unit_and_a_strong_one_a_whole() {
        let weak = cost("dynamodb", "GetItem", br#"{"TableName":"t"}"#, b"{}", true);
        let strong = cost(
            "dynamodb",
            "GetItem",
            br#"{"TableName":"t","ConsistentRead":true}"#,
            b"{}",
            true,
        );
        assert!((weak.read_units - 0.5).abs() < f64::EPSILON);
        assert!((strong.read_units - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn an_sqs_request_is_billed_per_started_64_kb_and_an_empty_receive_is_marked() {
        let big = cost("SQS", "SendMessageBatch", &vec![b'x'; 70_000], b"{}", true);
        assert_eq!(big.billed_requests, 2);
        let empty = cost("SQS", "ReceiveMessage", b"{}", b"{}", true);
        assert_eq!(empty.empty_receives, 1);
        let full = cost("SQS", "ReceiveMessage", b"{}", br#"{"Messages":[{"Body":"x"}]}"#, true);
        assert_eq!(full.empty_receives, 0);
    }
}

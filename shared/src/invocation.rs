//! Tells apart the event shapes a function can receive (API Gateway HTTP API v2, SQS, EventBridge
//! Scheduler), so one binary can serve a webhook route and consume a queue, as `salesforce-webhook` does.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use crate::error::InvocationError;

/// A decoded invocation.
#[derive(Debug)]
pub enum Invocation {
    /// An HTTP API (payload format 2.0) request.
    Http(Box<ApiGatewayV2httpRequest>),
    /// An SQS batch from an event source mapping.
    Sqs(SqsEvent),
    /// Anything else (schedules, manual invokes): left as JSON for the function to read.
    Other(Value),
}

impl Invocation {
    /// Classifies the raw event.
    ///
    /// # Errors
    /// `INVALID_EVENT` when the event looks like HTTP or SQS but does not decode as one.
    pub fn classify(event: Value) -> Result<Self, InvocationError> {
        let is_sqs = event.get("Records").and_then(Value::as_array).is_some_and(|r| {
            r.iter()
                .all(|m| m.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        });
        if is_sqs {
            return serde_json::from_value(event)
                .map(Invocation::Sqs)
                .map_err(|e| InvocationError::new("INVALID_EVENT", format!("not an SQS event: {e}")));
        }
        let is_http = event.get("requestContext").and_then(|c| c.get("http")).is_some();
        if is_http {
            return serde_json::from_value(event)
                .map(|r| Invocation::Http(Box::new(r)))
                .map_err(|e| InvocationError::new("INVALID_EVENT", format!("not an HTTP API v2 event: {e}")));
        }
        Ok(Invocation::Other(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_sqs_batch_is_recognised() {
        let ev = json!({"Records":[{"messageId":"m1","body":"{}","eventSource":"aws:sqs","attributes":{},"messageAttributes":{}}]});
        assert!(matches!(Invocation::classify(ev), Ok(Invocation::Sqs(e)) if e.records.len() == 1));
    }

    #[test]
    fn an_http_api_request_is_recognised() {
        let ev = json!({"version":"2.0","rawPath":"/webhooks/salesforce","requestContext":{"http":{"method":"POST","path":"/webhooks/salesforce"},"timeEpoch":0},"isBase64Encoded":false});
        assert!(matches!(Invocation::classify(ev), Ok(Invocation::Http(_))));
    }

    #[test]
    fn a_schedule_event_is_left_as_json() {
        assert!(matches!(
            Invocation::classify(json!({"source":"aws.scheduler"})),
            Ok(Invocation::Other(_))
        ));
    }
}

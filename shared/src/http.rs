//! API Gateway (HTTP API, payload v2) plumbing for webhook functions: body decoding, size limits, and
//! JSON error answers that always carry a code and, where one is at fault, the failing field.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::Serialize;

use crate::domain::CorrelationId;

pub use ::http::Method;

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable error code, e.g. `INVALID_SIGNATURE`.
    pub code: &'static str,
    /// Human message (never echoes secrets or whole payloads).
    pub message: String,
    /// The failing field or header, when one is at fault.
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the failing field.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 for a body that is not what the route takes.
    pub fn bad_request(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message).field(field)
    }

    /// Renders the answer.
    pub fn into_response(self, correlation_id: &CorrelationId) -> ApiGatewayV2httpResponse {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
            correlation_id: &'a str,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        json_response(
            self.status,
            &Outer {
                error: Inner {
                    code: self.code,
                    message: &self.message,
                    field: self.field.as_deref(),
                    correlation_id: correlation_id.as_str(),
                },
            },
            correlation_id,
        )
    }
}

/// A JSON answer with the correlation id header.
pub fn json_response<T: Serialize>(status: u16, body: &T, correlation_id: &CorrelationId) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(correlation_id.as_str()) {
        headers.insert("x-correlation-id", v);
    }
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(status);
    resp.headers = headers;
    resp.body = Some(Body::Text(serde_json::to_string(body).unwrap_or_else(|_| "{}".into())));
    resp.is_base64_encoded = false;
    resp
}

/// The raw body bytes (API Gateway base64-encodes non-text bodies), bounded by `max_bytes`.
///
/// # Errors
/// 413 `PAYLOAD_TOO_LARGE` over the limit; 400 `BODY_NOT_BASE64` for a corrupt encoded body; 400 `BODY_MISSING`.
pub fn body_bytes(req: &ApiGatewayV2httpRequest, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let raw = req.body.as_deref().unwrap_or("");
    // Check the encoded size first so a huge body is refused before we allocate a decoded copy.
    let too_large = || ApiError::new(413, "PAYLOAD_TOO_LARGE", format!("body exceeds {max_bytes} bytes"));
    let encoded_limit = if req.is_base64_encoded {
        max_bytes.div_ceil(3) * 4 + 4
    } else {
        max_bytes
    };
    if raw.len() > encoded_limit {
        return Err(too_large());
    }
    let bytes = if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD.decode(raw).map_err(|_| {
            ApiError::bad_request("BODY_NOT_BASE64", "body", "body is flagged base64 but does not decode")
        })?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > max_bytes {
        return Err(too_large());
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("BODY_MISSING", "body", "request body is empty"));
    }
    Ok(bytes)
}

/// A header value as text (header names are case-insensitive).
pub fn header<'a>(req: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The correlation id the caller sent (`x-correlation-id`), or a new one.
pub fn correlation_id(req: &ApiGatewayV2httpRequest) -> CorrelationId {
    header(req, "x-correlation-id")
        .and_then(|v| CorrelationId::parse(v).ok())
        .unwrap_or_else(CorrelationId::generate)
}

/// Requires a JSON content type when one is given (absent is tolerated: Flow callouts may omit it).
///
/// # Errors
/// 415 `UNSUPPORTED_MEDIA_TYPE`.
pub fn require_json(req: &ApiGatewayV2httpRequest) -> Result<(), ApiError> {
    match header(req, "content-type") {
        None => Ok(()),
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/json") => Ok(()),
        Some(ct) => Err(ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("expected application/json, got {ct}"),
        )
        .field("content-type")),
    }
}

/// Parses a JSON body into `T`, reporting the failing field path when serde names one.
///
/// # Errors
/// 400 `MALFORMED_JSON` (not JSON) or `INVALID_FIELD` (wrong or missing field).
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("MALFORMED_JSON", "body", format!("body is not valid JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let field = field_from_serde_message(&msg).unwrap_or_else(|| "body".to_owned());
        ApiError::bad_request("INVALID_FIELD", field, msg)
    })
}

/// The answer to an inbound form a parser refused: 400 `MALFORMED_JSON` (field `body`), 400
/// `INVALID_FIELD` naming the field, or 422 `UNSUPPORTED_OBJECT` / `UNSUPPORTED_TOPIC` naming what the
/// parser does not handle.
pub fn inbound_error(e: &crate::ports::InboundError) -> ApiError {
    use crate::ports::InboundError;
    match e {
        InboundError::Malformed { message } => ApiError::bad_request("MALFORMED_JSON", "body", message.clone()),
        InboundError::Invalid { field, message } => ApiError::bad_request("INVALID_FIELD", field, message.clone()),
        InboundError::Unsupported { what, message } => {
            let code = match what.as_str() {
                "object" => "UNSUPPORTED_OBJECT",
                "topic" => "UNSUPPORTED_TOPIC",
                _ => "UNSUPPORTED_EVENT",
            };
            ApiError::new(422, code, message.clone()).field(what.as_str())
        }
    }
}

/// serde says "missing field `recordId`" or "...: recordId: ..." — pull the field name out for the answer.
pub(crate) fn field_from_serde_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_owned())
}

/// The caller's IP as API Gateway saw it.
pub fn source_ip(req: &ApiGatewayV2httpRequest) -> Option<&str> {
    req.request_context.http.source_ip.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str, b64: bool) -> ApiGatewayV2httpRequest {
        let mut r = ApiGatewayV2httpRequest::default();
        r.body = Some(body.to_owned());
        r.is_base64_encoded = b64;
        r
    }

    #[test]
    fn a_body_over_the_limit_is_refused_with_413() {
        let err = body_bytes(&req(&"x".repeat(11), false), 10).expect_err("too large");
        assert_eq!((err.status, err.code), (413, "PAYLOAD_TOO_LARGE"));
    }

    #[test]
    fn a_base64_body_is_decoded() {
        let enc = base64::engine::general_purpose::STANDARD.encode(b"{\"a\":1}");
        assert_eq!(body_bytes(&req(&enc, true), 100).expect("ok"), b"{\"a\":1}");
    }

    #[test]
    fn a_missing_field_is_named_in_the_400() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct B {
            record_id: String,
        }
        let err = parse_json::<B>(b"{}").expect_err("missing");
        assert_eq!(
            (err.status, err.code, err.field.as_deref()),
            (400, "INVALID_FIELD", Some("recordId"))
        );
    }

    #[test]
    fn an_error_answer_carries_code_field_and_correlation_id() {
        let cid = CorrelationId::parse("c-1").expect("cid");
        let resp = ApiError::bad_request("INVALID_FIELD", "recordId", "bad").into_response(&cid);
        assert_eq!(resp.status_code, 400);
        let Some(Body::Text(body)) = resp.body else {
            panic!("text body")
        };
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["error"]["code"], "INVALID_FIELD");
        assert_eq!(v["error"]["field"], "recordId");
        assert_eq!(v["error"]["correlationId"], "c-1");
    }
}

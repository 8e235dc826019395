//! Salesforce error bodies: top-level calls answer a JSON array of `{message, errorCode, fields}`
//! (salesforce-api.md §2 [34][35]); collection results carry `{statusCode, message, fields}` per record [22].

use serde_json::{json, Value};

/// One Salesforce error entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn bad(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn invalid_field(field: &str, sobject: &str) -> Self {
        Self::bad(
            "INVALID_FIELD",
            format!("No such column '{field}' on sobject of type {sobject}"),
        )
    }

    pub fn json_parser(message: impl Into<String>) -> Self {
        Self::bad("JSON_PARSER_ERROR", message)
    }

    pub fn malformed_query(message: impl Into<String>) -> Self {
        Self::bad("MALFORMED_QUERY", message)
    }

    /// The top-level array body: `[{"message","errorCode","fields"}]`.
    pub fn body(&self) -> Value {
        json!([{ "message": self.message, "errorCode": self.code, "fields": self.fields }])
    }

    /// The per-record error inside a collections result: `{"statusCode","message","fields"}`.
    pub fn record_error(&self) -> Value {
        json!({ "statusCode": self.code, "message": self.message, "fields": self.fields })
    }
}

//! The retryable/permanent split every error in waybill declares, and the boxed source type ports use.

/// A boxed error kept as a source, so cause chains survive across port boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether trying again later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Network blips, 5xx, throttling, lock contention: retry with back-off, then park.
    Transient,
    /// Bad input, missing mapping, validation or authorisation failures: park at once with the reason.
    Permanent,
}

/// Implemented by every error that can end the processing of a record, so the batch helper
/// can decide between "retry" and "park", and log a stable code.
pub trait Classified: std::error::Error {
    /// Transient or permanent.
    fn class(&self) -> FailureClass;
    /// A stable, upper-snake code for logs, metrics and parked-record attributes (e.g. `MAPPING_MISSING`).
    fn code(&self) -> &'static str;

    /// Shorthand for `class() == Transient`.
    fn is_retryable(&self) -> bool {
        self.class() == FailureClass::Transient
    }
}

/// Renders an error with its whole `source()` chain, for logs and parked-record reasons.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// An error that fails a whole Lambda invocation (configuration, unknown event shape). Record-level
/// problems never become this: they go into the batch response or an HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct InvocationError {
    /// Reported to Lambda as `errorType`, so CloudWatch shows a meaningful type instead of a Rust path.
    pub code: &'static str,
    /// Reported as `errorMessage`.
    pub message: String,
}

impl InvocationError {
    /// An invocation error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// From any classified error, keeping its code and cause chain.
    pub fn from_classified<E: Classified + 'static>(e: &E) -> Self {
        Self {
            code: e.code(),
            message: chain(e),
        }
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.code.to_owned(),
            error_message: e.message,
        }
    }
}

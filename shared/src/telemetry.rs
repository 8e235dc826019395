//! Tracing setup: JSON logs for Lambda (the runtime's default subscriber), readable logs for the local stack.

/// Installs the Lambda runtime's subscriber: level from `AWS_LAMBDA_LOG_LEVEL`/`RUST_LOG`, JSON when
/// `AWS_LAMBDA_LOG_FORMAT=JSON` (set by the SAM template's `LoggingConfig`).
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Installs a compact subscriber for local runs and tests; `RUST_LOG` overrides `default_filter`.
/// Safe to call more than once (later calls are ignored).
pub fn init_local(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .compact()
        .try_init();
}

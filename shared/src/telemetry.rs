//! Tracing setup: JSON logs for Lambda (Lambda's advanced logging controls), readable logs for the local stack.
//!
//! Filters are `Targets` (`info`, `warn,waybill=debug`), not `EnvFilter`: the same directives without a
//! regex engine in every bootstrap. Span-field filters (`[span{field=x}]`) are the one thing given up.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Parses `RUST_LOG`-style directives; anything unparsable falls back to `fallback` for every target.
/// Lambda's `FATAL` level is read as `error`.
pub fn filter(directives: &str, fallback: LevelFilter) -> Targets {
    let d = directives.trim().to_ascii_lowercase().replace("fatal", "error");
    d.parse::<Targets>()
        .unwrap_or_else(|_| Targets::new().with_default(fallback))
}

/// Installs the Lambda subscriber: level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`; JSON
/// when `AWS_LAMBDA_LOG_FORMAT=JSON` (set by the SAM template's `LoggingConfig`). No timestamps: Lambda
/// stamps every line. Safe to call more than once.
pub fn init_lambda() {
    let directives = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter(&directives, LevelFilter::INFO));
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(false)
                    .without_time(),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .without_time()
                    .with_ansi(false),
            )
            .try_init()
    };
}

/// Installs a compact subscriber for local runs and tests; `RUST_LOG` overrides `default_filter`.
/// Safe to call more than once (later calls are ignored).
pub fn init_local(default_filter: &str) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_owned());
    let _ = tracing_subscriber::registry()
        .with(filter(&directives, LevelFilter::WARN))
        .with(tracing_subscriber::fmt::layer().with_target(false).compact())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn lambda_levels_and_rust_log_directives_both_parse() {
        let f = filter("WARN", LevelFilter::INFO);
        assert!(f.would_enable("waybill", &Level::WARN));
        assert!(!f.would_enable("waybill", &Level::INFO));
        let f = filter("warn,waybill_e2e=info", LevelFilter::INFO);
        assert!(f.would_enable("waybill_e2e::chaos", &Level::INFO));
        assert!(!f.would_enable("hyper", &Level::INFO));
    }

    #[test]
    fn fatal_reads_as_error_and_garbage_falls_back() {
        let f = filter("FATAL", LevelFilter::INFO);
        assert!(f.would_enable("x", &Level::ERROR));
        assert!(!f.would_enable("x", &Level::WARN));
        let f = filter("=[", LevelFilter::INFO);
        assert!(f.would_enable("x", &Level::INFO));
    }
}

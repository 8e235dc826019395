//! Typed configuration loading: every function reads its settings once at cold start through `Env`,
//! failing fast with the name of the missing or invalid variable.
//!
//! `Env` abstracts the lookup so the local stack can run all four functions in one process, each with
//! the environment the SAM template gives it.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("missing required environment variable {key}")]
    Missing {
        /// Variable name.
        key: String,
    },
    /// A variable is set but cannot be parsed.
    #[error("environment variable {key} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        key: String,
        /// Why.
        reason: String,
    },
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where configuration values come from.
pub struct Env {
    lookup: Lookup,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl Env {
    /// The process environment (Lambda).
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|k| std::env::var(k).ok()),
        }
    }

    /// A fixed map (local stack, tests).
    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self {
            lookup: Box::new(move |k| map.get(k).cloned()),
        }
    }

    /// Fixed `(name, value)` pairs (tests, examples).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A required string.
    ///
    /// # Errors
    /// `Missing` when unset or empty.
    pub fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.get(key)
            .ok_or_else(|| ConfigError::Missing { key: key.to_owned() })
    }

    /// An optional string.
    pub fn optional(&self, key: &str) -> Option<String> {
        self.get(key)
    }

    /// A string with a default.
    pub fn or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_owned())
    }

    /// A parsed value with a default.
    ///
    /// # Errors
    /// `Invalid` when set but unparsable.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid {
                key: key.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// A required parsed value.
    ///
    /// # Errors
    /// `Missing` or `Invalid`.
    pub fn parse_required<T>(&self, key: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v = self.required(key)?;
        v.parse().map_err(|e: T::Err| ConfigError::Invalid {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Seconds as a `Duration`, with a default.
    ///
    /// # Errors
    /// `Invalid` when set but not a whole number.
    pub fn seconds_or(&self, key: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_or::<u64>(key, default).map(Duration::from_secs)
    }

    /// A comma-separated list (empty when unset).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Variable names shared by several functions.
pub mod keys {
    /// Deployment environment (dev, prod).
    pub const ENVIRONMENT: &str = "WAYBILL_ENV";
    /// DynamoDB state table.
    pub const STATE_TABLE: &str = "STATE_TABLE";
    /// Salesforce credentials secret.
    pub const SALESFORCE_SECRET_ARN: &str = "SALESFORCE_SECRET_ARN";
    /// Salesforce REST API version, e.g. v62.0.
    pub const SALESFORCE_API_VERSION: &str = "SALESFORCE_API_VERSION";
    /// Logiwa credentials secret.
    pub const LOGIWA_SECRET_ARN: &str = "LOGIWA_SECRET_ARN";
    /// DLQ of the queue a consumer reads.
    pub const DLQ_URL: &str = "DLQ_URL";
    /// The redrive policy's maxReceiveCount of that queue.
    pub const MAX_RECEIVE_COUNT: &str = "MAX_RECEIVE_COUNT";
    /// Largest webhook body accepted.
    pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
    /// Secrets cache TTL.
    pub const SECRETS_TTL_SECONDS: &str = "SECRETS_TTL_SECONDS";
    /// Idempotency window.
    pub const IDEMPOTENCY_TTL_SECONDS: &str = "IDEMPOTENCY_TTL_SECONDS";
    /// Records processed at once per batch.
    pub const BATCH_CONCURRENCY: &str = "BATCH_CONCURRENCY";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named_in_the_error() {
        let err = Env::from_pairs(&[]).required("STATE_TABLE").expect_err("missing");
        assert_eq!(err.to_string(), "missing required environment variable STATE_TABLE");
    }

    #[test]
    fn an_empty_variable_counts_as_missing() {
        assert!(Env::from_pairs(&[("STATE_TABLE", "  ")])
            .required("STATE_TABLE")
            .is_err());
    }

    #[test]
    fn an_unparsable_number_is_reported_with_its_variable() {
        let err = Env::from_pairs(&[("MAX_RECEIVE_COUNT", "five")])
            .parse_or::<u32>("MAX_RECEIVE_COUNT", 5)
            .expect_err("bad");
        assert!(
            matches!(err, ConfigError::Invalid { ref key, .. } if key == "MAX_RECEIVE_COUNT"),
            "{err}"
        );
    }

    #[test]
    fn lists_are_split_on_commas_and_trimmed() {
        assert_eq!(
            Env::from_pairs(&[("IPS", " 1.2.3.4, ,5.6.7.8 ")]).list("IPS"),
            vec!["1.2.3.4", "5.6.7.8"]
        );
    }
}

//! Secrets: reading them, and reading a JSON secret into a type.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::error::{BoxError, Classified, FailureClass};

/// Secret errors.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No such secret, or no permission to read it. Permanent: fix the configuration.
    #[error("secret {id} not found or not readable")]
    NotFound {
        /// The secret id/ARN.
        id: String,
    },
    /// The secret exists but its value is not what the reader expects.
    #[error("secret {id} is malformed: {reason}")]
    Malformed {
        /// The secret id/ARN.
        id: String,
        /// What is wrong (never the value).
        reason: String,
    },
    /// Secrets Manager could not be reached.
    #[error("secret store unavailable")]
    Unavailable(#[source] BoxError),
}

impl Classified for SecretError {
    fn class(&self) -> FailureClass {
        match self {
            Self::Unavailable(_) => FailureClass::Transient,
            _ => FailureClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "SECRET_NOT_FOUND",
            Self::Malformed { .. } => "SECRET_MALFORMED",
            Self::Unavailable(_) => "SECRET_STORE_UNAVAILABLE",
        }
    }
}

/// Reads secrets.
#[async_trait]
pub trait SecretProvider: Send + Sync {
    /// The secret's string value.
    ///
    /// # Errors
    /// `NotFound`, `Malformed` (binary-only secret), or `Unavailable`.
    async fn secret(&self, id: &str) -> Result<SecretString, SecretError>;
}

/// Reads a JSON secret into `T`.
///
/// # Errors
/// The provider's errors, or `Malformed` when the value is not the expected JSON (the value is never echoed).
pub async fn secret_json<T: serde::de::DeserializeOwned>(
    provider: &dyn SecretProvider,
    id: &str,
) -> Result<T, SecretError> {
    use secrecy::ExposeSecret;
    let raw = provider.secret(id).await?;
    serde_json::from_str(raw.expose_secret()).map_err(|e| SecretError::Malformed {
        id: id.to_owned(),
        // serde's message names the missing/wrong field but not the value.
        reason: format!(
            "not the expected JSON: {}",
            e.to_string().split(" at line").next().unwrap_or("invalid")
        ),
    })
}

//! Secrets Manager adapter for `SecretProvider`: `GetSecretValue` with a per-id TTL cache that a warm Lambda reuses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::SdkConfig;
use secrecy::SecretString;
use tracing::{debug, instrument, warn};

use crate::ports::{SecretError, SecretProvider};

/// How long a secret is reused before it is read again (rotation shows up within this window, or at
/// once after `invalidate`).
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Cached {
    value: SecretString,
    fetched_at: Instant,
}

/// One cache slot per secret id. The async mutex makes concurrent cold-start callers for the same id
/// wait for the first caller's read instead of all calling Secrets Manager.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// Reads secrets from AWS Secrets Manager, caching each value in memory for `ttl`.
#[derive(Debug)]
pub struct SecretsManagerProvider {
    client: Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, Slot>>,
}

impl SecretsManagerProvider {
    /// A provider with the default TTL (5 minutes).
    pub fn new(client: Client) -> Self {
        Self::with_ttl(client, DEFAULT_SECRET_TTL)
    }

    /// A provider with a custom TTL (`Duration::ZERO` disables caching).
    pub fn with_ttl(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the client from an SDK configuration, with the default TTL.
    pub fn from_conf(conf: &SdkConfig) -> Self {
        Self::new(Client::new(conf))
    }

    /// Drops the cached value of `id`, so the next read goes to Secrets Manager (call it after the
    /// credentials it holds were refused: they may have been rotated).
    pub fn invalidate(&self, id: &str) {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        debug!(secret_id = %id, "secret invalidated");
    }

    fn slot(&self, id: &str) -> Slot {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cache.entry(id.to_owned()).or_default())
    }

    async fn fetch(&self, id: &str) -> Result<SecretString, SecretError> {
        let out = self.client.get_secret_value().secret_id(id).send().await.map_err(|err| {
            let not_found = matches!(err.as_service_error(), Some(GetSecretValueError::ResourceNotFoundException(_)))
                || err.code() == Some("AccessDeniedException");
            if not_found {
                warn!(secret_id = %id, error.message = %DisplayErrorContext(&err), "secret not found or not readable");
                SecretError::NotFound { id: id.to_owned() }
            } else {
                SecretError::Unavailable(Box::new(err))
            }
        })?;
        match out.secret_string {
            Some(value) => Ok(SecretString::from(value)),
            None => Err(SecretError::Malformed {
                id: id.to_owned(),
                reason: "the secret has no SecretString (binary secrets are not supported)".into(),
            }),
        }
    }
}

#[async_trait]
impl SecretProvider for SecretsManagerProvider {
    #[instrument(skip_all, fields(secret_id = %id, cached))]
    async fn secret(&self, id: &str) -> Result<SecretString, SecretError> {
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fetched_at.elapsed() < self.ttl) {
            tracing::Span::current().record("cached", true);
            return Ok(c.value.clone());
        }
        tracing::Span::current().record("cached", false);
        let value = self.fetch(id).await?;
        *cached = Some(Cached {
            value: value.clone(),
            fetched_at: Instant::now(),
        });
        debug!("secret read");
        Ok(value)
    }
}

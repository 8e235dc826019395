//! Composition helpers: build the production adapters once per cold start from configuration.
//! Every function's `wire.rs` uses these, and so does the local stack (with moto's endpoint).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aws_types::SdkConfig;

use crate::adapters::dynamodb::DynamoState;
use crate::adapters::http_client::{plan_share, PlanShare, SharedRate};
use crate::adapters::logiwa::{Logiwa, LogiwaConfig};
use crate::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use crate::adapters::secrets::SecretsManagerProvider;
#[cfg(feature = "sqs")]
use crate::adapters::sqs::SqsPublisher;
use crate::config::{keys, ConfigError, Env};
use crate::domain::CurrencyCode;
use crate::mapping::CachedMappings;
use crate::ports::{RateGate, SecretProvider};

/// The AWS SDK clients, built once (they hold connection pools).
#[derive(Debug, Clone)]
pub struct Aws {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS (feature `sqs`).
    #[cfg(feature = "sqs")]
    pub sqs: aws_sdk_sqs::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Aws {
    /// Clients from an SDK configuration.
    pub fn new(conf: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(conf),
            #[cfg(feature = "sqs")]
            sqs: aws_sdk_sqs::Client::new(conf),
            secrets: aws_sdk_secretsmanager::Client::new(conf),
        }
    }

    /// Clients from the Lambda environment (region, role credentials; `AWS_ENDPOINT_URL` for moto).
    ///
    /// # Errors
    /// `ConfigError` naming a missing AWS variable or an unusable `SSL_CERT_FILE`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            &crate::adapters::aws::AwsSettings::from_env(env)?.sdk_config()?,
        ))
    }
}

/// The state table (`STATE_TABLE`).
///
/// # Errors
/// `Missing` when `STATE_TABLE` is unset.
pub fn state(aws: &Aws, env: &Env) -> Result<Arc<DynamoState>, ConfigError> {
    Ok(Arc::new(DynamoState::new(
        aws.dynamodb.clone(),
        env.required(keys::STATE_TABLE)?,
    )))
}

/// The queue publisher.
#[cfg(feature = "sqs")]
pub fn queue(aws: &Aws) -> Arc<SqsPublisher> {
    Arc::new(SqsPublisher::new(aws.sqs.clone()))
}

/// Secrets Manager with a TTL cache (`SECRETS_TTL_SECONDS`, default 300).
///
/// # Errors
/// `Invalid` when the TTL is not a number.
pub fn secrets(aws: &Aws, env: &Env) -> Result<Arc<SecretsManagerProvider>, ConfigError> {
    Ok(Arc::new(SecretsManagerProvider::with_ttl(
        aws.secrets.clone(),
        env.seconds_or(keys::SECRETS_TTL_SECONDS, 300)?,
    )))
}

/// Mapping tables from the state table, cached for `MAPPING_CACHE_TTL_SECONDS` (default 60).
///
/// # Errors
/// `Invalid` when the TTL is not a number.
pub fn mappings(state: Arc<DynamoState>, env: &Env) -> Result<Arc<CachedMappings>, ConfigError> {
    Ok(Arc::new(CachedMappings::new(
        state,
        env.seconds_or("MAPPING_CACHE_TTL_SECONDS", 60)?,
    )))
}

/// Whole-request timeout of every vendor call, in seconds (default 20; always cut to the time left before
/// the invocation deadline).
const VENDOR_TIMEOUT: &str = "VENDOR_REQUEST_TIMEOUT_SECONDS";

fn invalid(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

/// The Salesforce Order Management adapter.
///
/// Variables: `SALESFORCE_SECRET_ARN` (required), `SALESFORCE_API_VERSION`, `SHIPMENT_EXTERNAL_ID_FIELD`,
/// `SALESFORCE_WRITE_PROFILE` (`order-management`, the default, or a JSON `WriteProfile`),
/// `INVENTORY_OBJECT`, `INVENTORY_EXTERNAL_ID_FIELD`, `SALESFORCE_CURRENCY_FIELD` (`none` for
/// single-currency orgs), `SALESFORCE_DEFAULT_CURRENCY`, `SALESFORCE_REQUESTS_PER_SECOND`.
///
/// # Errors
/// `ConfigError` naming the variable.
pub fn salesforce(env: &Env, secrets: Arc<dyn SecretProvider>) -> Result<Arc<SalesforceOm>, ConfigError> {
    let mut c = SalesforceConfig::new(env.required(keys::SALESFORCE_SECRET_ARN)?);
    c.api_version = env.or(keys::SALESFORCE_API_VERSION, &c.api_version);
    c.shipment_external_id_field = env.or("SHIPMENT_EXTERNAL_ID_FIELD", &c.shipment_external_id_field);
    if let Some(profile) = env.optional("SALESFORCE_WRITE_PROFILE") {
        c.profile = crate::adapters::salesforce::WriteProfile::parse(&profile)
            .map_err(|e| invalid("SALESFORCE_WRITE_PROFILE", e))?;
    }
    c.inventory_object = env.or("INVENTORY_OBJECT", &c.inventory_object);
    c.inventory_external_id_field = env.or("INVENTORY_EXTERNAL_ID_FIELD", &c.inventory_external_id_field);
    if let Some(f) = env.optional("SALESFORCE_CURRENCY_FIELD") {
        c.currency_field = (!f.eq_ignore_ascii_case("none")).then_some(f);
    }
    if let Some(cur) = env.optional("SALESFORCE_DEFAULT_CURRENCY") {
        c.default_currency = Some(CurrencyCode::parse(&cur).map_err(|e| invalid("SALESFORCE_DEFAULT_CURRENCY", e))?);
    }
    c.http.request_timeout = env.seconds_or(VENDOR_TIMEOUT, 20)?;
    if let Some(rps) = env.optional("SALESFORCE_REQUESTS_PER_SECOND") {
        c.http.requests_per_second = rps
            .parse::<NonZeroU32>()
            .map_err(|e| invalid("SALESFORCE_REQUESTS_PER_SECOND", e))?;
    }
    SalesforceOm::new(c, secrets)
        .map(Arc::new)
        .map_err(|e| invalid(keys::SALESFORCE_SECRET_ARN, e))
}

/// The Logiwa IO adapter. Variables: `LOGIWA_SECRET_ARN` (required), `LOGIWA_REQUESTS_PER_SECOND`
/// (default 2, the Basic plan; 6 on Premium), `LOGIWA_RATE_BUCKET` (the shared bucket of the account;
/// default `logiwa#<secret ARN>`, so every function using the same credentials shares one limit).
///
/// The plan's limit is per account. `LOGIWA_ACCOUNT_ENVIRONMENTS` (default 22, the template's 10 + 10
/// batch concurrency plus the poll and the order sweep) is how many execution environments can call at once; when the plan
/// divided among them still leaves each a useful fixed rate ([`plan_share`]), each keeps to its share
/// with no store round trip; otherwise every call waits for a slot in the bucket in `gate` (the state
/// table), shared by every execution environment of every function.
///
/// # Errors
/// `ConfigError` naming the variable.
pub fn logiwa(
    env: &Env,
    secrets: Arc<dyn SecretProvider>,
    gate: Arc<dyn RateGate>,
) -> Result<Arc<Logiwa>, ConfigError> {
    let secret_id = env.required(keys::LOGIWA_SECRET_ARN)?;
    let bucket = env.or("LOGIWA_RATE_BUCKET", &format!("logiwa#{secret_id}"));
    let mut c = LogiwaConfig::new(secret_id);
    c.http.request_timeout = env.seconds_or(VENDOR_TIMEOUT, 20)?;
    let plan = match env.optional("LOGIWA_REQUESTS_PER_SECOND") {
        Some(rps) => rps
            .parse::<NonZeroU32>()
            .map_err(|e| invalid("LOGIWA_REQUESTS_PER_SECOND", e))?,
        None => c.http.requests_per_second,
    };
    let environments = env
        .or("LOGIWA_ACCOUNT_ENVIRONMENTS", "22")
        .parse::<NonZeroU32>()
        .map_err(|e| invalid("LOGIWA_ACCOUNT_ENVIRONMENTS", e))?;
    let share = plan_share(plan, environments);
    tracing::info!(plan, environments, ?share, "logiwa rate limit");
    match share {
        PlanShare::Split(own) => Logiwa::new(c.with_rate(own), secrets).map(Arc::new),
        PlanShare::Shared => {
            // The records of a batch call Logiwa in parallel: their reservations go to the bucket together.
            let gate: Arc<dyn RateGate> = Arc::new(crate::rate::Coalescing::new(gate));
            Logiwa::new(c.with_rate(plan), secrets).map(|l| Arc::new(l.with_shared_rate(SharedRate { gate, bucket })))
        }
    }
    .map_err(|e| invalid(keys::LOGIWA_SECRET_ARN, e))
}

/// Every WMS connector this deployment is configured for, keyed by system (Logiwa when
/// `LOGIWA_SECRET_ARN` is set).
///
/// # Errors
/// `ConfigError` naming the variable; `Missing` when no WMS is configured at all.
pub fn wms_connectors(
    env: &Env,
    secrets: Arc<dyn SecretProvider>,
    gate: Arc<dyn RateGate>,
) -> Result<Arc<crate::registry::Registry<dyn crate::ports::WmsConnector>>, ConfigError> {
    let mut reg = crate::registry::Registry::new();
    if env.optional(keys::LOGIWA_SECRET_ARN).is_some() {
        let lw: Arc<dyn crate::ports::WmsConnector> = logiwa(env, secrets, gate)?;
        reg = reg.with(lw);
    }
    if reg.systems().next().is_none() {
        return Err(ConfigError::Missing {
            key: keys::LOGIWA_SECRET_ARN.to_owned(),
        });
    }
    Ok(Arc::new(reg))
}

/// The one WMS a function drives: the system named by `key` (e.g. `ORDER_WMS`), or the only one
/// configured.
///
/// # Errors
/// `Invalid` when `key` names a system without a connector, `Missing` when several are configured and
/// `key` is unset.
pub fn one_wms(
    env: &Env,
    key: &str,
    connectors: &crate::registry::Registry<dyn crate::ports::WmsConnector>,
) -> Result<Arc<dyn crate::ports::WmsConnector>, ConfigError> {
    if let Some(system) = env.optional(key) {
        return connectors
            .get(&system)
            .cloned()
            .ok_or_else(|| invalid(key, format!("no connector is configured for '{system}'")));
    }
    let mut all = connectors.systems();
    match (all.next(), all.next()) {
        (Some(only), None) => connectors
            .get(only)
            .cloned()
            .ok_or_else(|| ConfigError::Missing { key: key.to_owned() }),
        _ => Err(ConfigError::Missing { key: key.to_owned() }),
    }
}

/// The idempotency window (`IDEMPOTENCY_TTL_SECONDS`) with a per-function default.
///
/// # Errors
/// `Invalid` when not a number.
pub fn idempotency_window(env: &Env, default_secs: u64) -> Result<Duration, ConfigError> {
    env.seconds_or(keys::IDEMPOTENCY_TTL_SECONDS, default_secs)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use crate::config::{ConfigError, Env};
    use crate::fakes::MemorySecrets;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn a_write_profile_that_does_not_parse_fails_the_cold_start_naming_the_variable() {
        let e = env(&[
            ("SALESFORCE_SECRET_ARN", "sf"),
            ("SALESFORCE_WRITE_PROFILE", "{\"order\":1}"),
        ]);
        match super::salesforce(&e, Arc::new(MemorySecrets::new())) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "SALESFORCE_WRITE_PROFILE"),
            other => panic!("expected Invalid, got {:?}", other.map(|_| ())),
        }
        let named = env(&[
            ("SALESFORCE_SECRET_ARN", "sf"),
            ("SALESFORCE_WRITE_PROFILE", "order-management"),
        ]);
        assert!(super::salesforce(&named, Arc::new(MemorySecrets::new())).is_ok());
    }
}

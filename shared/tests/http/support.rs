//! Test support: an in-memory secret provider and adapters wired to freshly started simulators.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::json;
use waybill::adapters::http_client::{HttpSettings, RetryPolicy};
use waybill::adapters::logiwa::{Logiwa, LogiwaConfig};
use waybill::adapters::salesforce::{SalesforceConfig, SalesforceOm};
use waybill::ports::{SecretError, SecretProvider};
use waybill_simulators::logiwa::LogiwaSeed;
use waybill_simulators::{LogiwaConfig as LogiwaSimConfig, LogiwaSim, LogiwaState, RunningSim};
use waybill_simulators::{SalesforceConfig as SalesforceSimConfig, SalesforceSim, SalesforceState};

/// Secrets held in memory, by id.
#[derive(Debug, Default)]
pub struct MemorySecrets(HashMap<String, String>);

impl MemorySecrets {
    pub fn with(id: &str, value: serde_json::Value) -> Arc<Self> {
        Arc::new(Self(HashMap::from([(id.to_owned(), value.to_string())])))
    }
}

#[async_trait]
impl SecretProvider for MemorySecrets {
    async fn secret(&self, id: &str) -> Result<SecretString, SecretError> {
        self.0
            .get(id)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| SecretError::NotFound { id: id.to_owned() })
    }
}

/// Fast settings for tests: a high rate and short back-off, so retries don't slow the suite.
pub fn fast_http(rps: u32) -> HttpSettings {
    let mut s = HttpSettings::with_rate(NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN));
    s.burst = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
    s.request_timeout = Duration::from_secs(5);
    s.retry = RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    s
}

pub struct Sf {
    pub sim: RunningSim<SalesforceState>,
    pub client: SalesforceOm,
}

impl Sf {
    pub fn state(&self) -> &SalesforceState {
        self.sim.state()
    }
}

/// A Salesforce simulator and an adapter with good credentials.
pub async fn salesforce() -> Sf {
    salesforce_with_secret("waybill-sim-secret").await
}

pub async fn salesforce_with_secret(client_secret: &str) -> Sf {
    let sim = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .expect("salesforce sim starts");
    let secrets = MemorySecrets::with(
        "sf",
        json!({"login_url": sim.base_url(), "client_id": "waybill-sim-client", "client_secret": client_secret}),
    );
    let mut config = SalesforceConfig::new("sf");
    config.http = fast_http(200);
    let client = SalesforceOm::new(config, secrets).expect("adapter builds");
    Sf { sim, client }
}

pub struct Lw {
    pub sim: RunningSim<LogiwaState>,
    pub client: Logiwa,
    pub creds: Arc<MemorySecrets>,
    pub warehouse: uuid::Uuid,
    pub client_id: uuid::Uuid,
}

impl Lw {
    /// The adapter's credentials, for building another adapter against the same simulator.
    pub fn secrets(&self) -> Arc<MemorySecrets> {
        self.creds.clone()
    }

    pub fn state(&self) -> &LogiwaState {
        self.sim.state()
    }
}

/// A Logiwa simulator with the demo catalogue and an adapter configured with the demo client's identifier.
pub async fn logiwa() -> Lw {
    logiwa_with(|_| {}).await
}

pub async fn logiwa_with(tweak: impl FnOnce(&mut LogiwaSimConfig)) -> Lw {
    let seed = LogiwaSeed::demo();
    let warehouse = seed.warehouses[0].identifier;
    let client_id = seed.clients[0].identifier;
    let mut cfg = LogiwaSimConfig {
        seed,
        webhook_delivery: false,
        ..LogiwaSimConfig::default()
    };
    tweak(&mut cfg);
    let sim = LogiwaSim::start(cfg).await.expect("logiwa sim starts");
    let secrets = MemorySecrets::with(
        "lw",
        json!({"base_url": sim.base_url(), "email": "sim@waybill.test", "password": "sim-password",
               "client_identifier": client_id.to_string()}),
    );
    let mut config = LogiwaConfig::new("lw");
    config.http = fast_http(200);
    let client = Logiwa::new(config, secrets.clone()).expect("adapter builds");
    Lw {
        sim,
        client,
        creds: secrets,
        warehouse,
        client_id,
    }
}

//! A demo org and warehouse for tests: both simulators started with their demo seeds, plus the connection
//! details a client needs to reach them (so test files do not each restate URLs, ids and credentials).

use serde_json::{json, Value};

use crate::logiwa::LogiwaSeed;
use crate::{LogiwaConfig, LogiwaSim, LogiwaState, RunningSim, SalesforceConfig, SalesforceSim, SalesforceState};

/// Identifier of the demo seed's warehouse `WH1` (fixed in `LogiwaSeed::demo`).
pub const LOGIWA_WAREHOUSE: &str = "4b8aa8cc-2685-4cbd-87c6-4fa90c14b70c";
/// Identifier of the demo seed's client `Waybill Demo`.
pub const LOGIWA_CLIENT: &str = "7546ad2f-81d1-4308-b744-2e29af43fc16";

/// Both simulators, seeded with their demo data.
pub struct DemoSims {
    /// Salesforce with one Allocated FulfillmentOrder (SKU-1, location WH1, method "UPS Ground").
    pub salesforce: RunningSim<SalesforceState>,
    /// Logiwa with warehouse WH1, client "Waybill Demo", SKU-1 (40 on hand).
    pub logiwa: RunningSim<LogiwaState>,
}

impl DemoSims {
    /// Starts both on ephemeral ports.
    ///
    /// # Errors
    /// When a simulator cannot bind or its seed is invalid.
    pub async fn start() -> anyhow::Result<Self> {
        let salesforce = SalesforceSim::start(SalesforceConfig {
            seed: crate::salesforce::demo_seed(),
            ..SalesforceConfig::default()
        })
        .await?;
        let logiwa = LogiwaSim::start(LogiwaConfig {
            seed: LogiwaSeed::demo(),
            ..LogiwaConfig::default()
        })
        .await?;
        Ok(Self { salesforce, logiwa })
    }

    /// OAuth client-credentials connection details: `{login_url, client_id, client_secret}`.
    pub fn salesforce_credentials(&self) -> Value {
        let d = SalesforceConfig::default();
        json!({"login_url": self.salesforce.base_url(), "client_id": d.client_id, "client_secret": d.client_secret})
    }

    /// Logiwa connection details: `{base_url, email, password, client_identifier}`.
    pub fn logiwa_credentials(&self) -> Value {
        let d = LogiwaConfig::default();
        json!({"base_url": self.logiwa.base_url(), "email": d.email, "password": d.password, "client_identifier": LOGIWA_CLIENT})
    }
}

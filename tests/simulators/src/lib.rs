//! Vendor sandbox simulators: Salesforce REST and Logiwa IO over real HTTP, with fault knobs.
//!
//! Each simulator is an axum [`Router`](axum::Router) over a shared, cloneable state handle. Tests
//! start one in-process with `SalesforceSim::start` / `LogiwaSim::start` (binding `127.0.0.1`), then
//! drive it over HTTP like the real vendor and steer it through the state handle (faults, seeds,
//! stats). The same knobs are exposed over HTTP under `/__sim/...` for the local stack.
//!
//! The simulators imitate the vendor, not our client: shapes, status codes and error bodies follow
//! `shared/reference/salesforce-api.md` and `shared/reference/wms-apis.md`; see the README for every
//! shape, its source and the assumptions made where the docs are silent.

#![recursion_limit = "256"]

pub mod common;
pub mod demo;
pub mod logiwa;
pub mod salesforce;

pub use common::faults::{FaultAction, FaultRule};

/// A reqwest client builder for the simulators and their tests. The workspace links rustls without a
/// default crypto provider (the functions configure theirs once), so every client names its TLS
/// configuration: ring, and no trusted roots, since simulators and tests only speak plain HTTP on
/// 127.0.0.1.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
    match config {
        Ok(c) => reqwest::Client::builder().tls_backend_preconfigured(c),
        // ring supports the safe default versions; this arm only keeps the builder infallible.
        Err(_) => reqwest::Client::builder(),
    }
}

/// A reqwest client from [`http_client_builder`].
///
/// # Panics
/// Never in practice: building fails only when the TLS backend cannot initialise.
#[allow(clippy::expect_used)]
pub fn http_client() -> reqwest::Client {
    http_client_builder()
        .build()
        .expect("a reqwest client with a preconfigured TLS backend builds")
}
pub use common::server::RunningSim;
pub use common::stats::StatsSnapshot;
pub use logiwa::{LogiwaConfig, LogiwaSim, LogiwaState, RateTier};
pub use salesforce::{SalesforceConfig, SalesforceSim, SalesforceState};

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
pub use common::server::RunningSim;
pub use common::stats::StatsSnapshot;
pub use logiwa::{LogiwaConfig, LogiwaSim, LogiwaState, RateTier};
pub use salesforce::{SalesforceConfig, SalesforceSim, SalesforceState};

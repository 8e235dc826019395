//! waybill's hexagon: canonical domain types, ports, the adapters for AWS, Salesforce and WMSs, and the
//! Lambda plumbing (SQS batch helper, idempotency runner, config, telemetry) the four functions share.

pub mod adapters;
pub mod batch;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
#[cfg(any(test, feature = "testing"))]
pub mod fakes;
pub mod http;
pub mod idempotency;
pub mod ingest;
pub mod invocation;
pub mod lease;
pub mod lifecycle;
pub mod mapping;
pub mod messages;
pub mod order_state;
pub mod ports;
pub mod rate;
pub mod registry;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhook_auth;
pub mod wiring;

//! waybill-e2e: the local stack (moto + vendor simulators + the four functions, wired from
//! `infra/template.yaml`) and the library API the end-to-end tests drive it with.
//!
//! Modules: `template` (SAM reader and intrinsic resolver), `provision` (queues, table, secrets,
//! mapping tables in moto), `vendors` (vendor-native seeding and inspection), `functions` (in-process
//! Lambda invocation), `front` (API Gateway HTTP API emulation), `esm` (SQS event source mappings),
//! `stack` (all of it together), `scenario` (the reconciling end-to-end run), `serve` (manual mode),
//! `bench_init` and `timing_proxy` (`make bench-init`), `cost` and `counting` (`make cost`).

pub mod bench_init;
pub mod chaos;
pub mod cost;
pub mod counting;
pub mod esm;
pub mod front;
pub mod functions;
pub mod moto;
pub mod provision;
pub mod scenario;
pub mod serve;
pub mod stack;
pub mod template;
pub mod timing_proxy;
pub mod vendors;

pub use scenario::{Outcome, ScenarioOptions};
pub use stack::{wait_until, CreatedOrder, HttpAnswer, Stack, StackOptions};

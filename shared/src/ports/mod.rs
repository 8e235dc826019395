//! Ports: the capabilities handlers depend on, as object-safe async traits with documented errors.
//!
//! Style: `#[async_trait]` traits used as `&dyn Port` / `Arc<dyn Port>`. We chose dynamic dispatch
//! over generics because the local stack and tests wire different adapters (moto-backed AWS,
//! in-memory fakes, several WMS connectors) at run time, and handler signatures stay readable.
//! Every port has one production adapter in `adapters/` and an in-memory fake in `fakes`.

mod idempotency;
mod inbound;
mod order_state;
mod queue;
mod rate;
mod salesforce;
mod secrets;
mod state;
mod wms;

pub use idempotency::*;
pub use inbound::*;
pub use order_state::*;
pub use queue::*;
pub use rate::*;
pub use salesforce::*;
pub use secrets::*;
pub use state::*;
pub use wms::*;

pub use crate::domain::WmsSystem;
pub use crate::messages::OutboundMessage;

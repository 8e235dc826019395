//! HTTP adapter tests: the Salesforce and Logiwa clients against the in-process vendor simulators.
//!
//! One binary (zero2prod style) so the simulators and adapters link once.

mod logiwa;
mod salesforce;
mod support;
mod webhook;

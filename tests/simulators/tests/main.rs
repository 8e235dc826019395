//! Integration tests: each simulator started in-process on an ephemeral port and driven over HTTP.

mod faults;
mod logiwa;
mod salesforce;
mod support;

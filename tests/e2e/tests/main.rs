//! End-to-end tests: each starts its own local stack (simulators, functions, front, pollers) on one
//! shared moto, drives it only through its public surfaces, and checks vendor-visible outcomes.

mod support;

mod binaries;
mod chaos;
mod delivery;
mod http_edge;
mod lifecycle;
mod poison;
mod scenario;
mod sweep;
mod writeback;

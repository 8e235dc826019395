//! Adapter tests against moto (the AWS emulator from the project venv): one test binary, one moto per run.
//!
//! Run with `cargo test -p waybill --test aws`. moto comes from `$WAYBILL_MOTO_BIN` (default
//! `tests/moto/moto_server`, the venv's moto installed by `make venv`); a missing binary fails the run with that hint.
//! Every test creates its own uniquely named table, queue or secret, so tests run in parallel on one server.

mod idempotency;
mod launcher;
mod lease;
mod mappings;
mod order_state;
mod positions;
mod rate;
mod secrets;
mod setup;
mod sqs;
mod support;
mod watermarks;
mod xref;

//! Pieces shared by both simulators: fault rules, call statistics, time formats and the server handle.

pub mod admin;
pub mod faults;
pub mod gate;
pub mod server;
pub mod stats;
pub mod timefmt;

//! Call counters per endpoint family, so tests can assert how many vendor calls a flow made, plus a
//! short log of recent requests (method, path, decoded query) so they can assert which filters it sent.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// How many recent requests the log keeps.
const RECENT: usize = 1000;

/// One vendor request as the gate saw it (never the body: it may carry credentials or PII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub family: String,
    pub method: String,
    pub path: String,
    /// Percent-decoded query string, `k=v&k=v`.
    pub query: String,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    pub total: u64,
    pub by_family: BTreeMap<String, u64>,
}

impl StatsSnapshot {
    /// Calls counted for one family (0 when none).
    pub fn family(&self, name: &str) -> u64 {
        self.by_family.get(name).copied().unwrap_or(0)
    }
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    snapshot: StatsSnapshot,
    recent: VecDeque<RecordedRequest>,
}

impl Stats {
    pub fn record(&mut self, family: &str) {
        self.snapshot.total += 1;
        *self.snapshot.by_family.entry(family.to_string()).or_insert(0) += 1;
    }

    /// Counts the request (as `record`) and keeps it in the recent-request log.
    pub fn record_request(&mut self, family: &str, method: &str, path: &str, query: &str) {
        self.record(family);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(RecordedRequest {
            family: family.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
        });
    }

    /// Recent requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recent.iter().cloned().collect()
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.snapshot.clone()
    }

    pub fn reset(&mut self) {
        self.snapshot = StatsSnapshot::default();
        self.recent.clear();
    }
}

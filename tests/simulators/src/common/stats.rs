//! Call counters per endpoint family, so tests can assert how many vendor calls a flow made.

use serde::Serialize;
use std::collections::BTreeMap;

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
}

impl Stats {
    pub fn record(&mut self, family: &str) {
        self.snapshot.total += 1;
        *self.snapshot.by_family.entry(family.to_string()).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.snapshot.clone()
    }

    pub fn reset(&mut self) {
        self.snapshot = StatsSnapshot::default();
    }
}

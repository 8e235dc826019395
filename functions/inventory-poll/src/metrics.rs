//! CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on stdout, which CloudWatch
//! Logs turns into a metric as it ingests the log, with no API call and no extra permission. The alarm on
//! `InventoryGuardTripped` lives in `infra/template.yaml`.

use std::io::Write;

use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::GuardTrip;

/// The metric namespace of every waybill metric.
pub const NAMESPACE: &str = "waybill";
/// Emitted (value 1) each time the inventory guard stops a warehouse's poll.
pub const GUARD_TRIPPED: &str = "InventoryGuardTripped";

/// The EMF object for one guard trip. Two dimension sets: `Environment` alone, which the alarm watches
/// (warehouses are configuration, an alarm needs fixed dimensions), and `Environment` + `Warehouse` to
/// see which one. The numbers ride along as properties for Logs Insights.
pub fn guard_tripped(environment: &str, warehouse: &str, trip: &GuardTrip, at: OffsetDateTime) -> Value {
    let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    json!({
        "_aws": {
            "Timestamp": ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Environment"], ["Environment", "Warehouse"]],
                "Metrics": [{"Name": GUARD_TRIPPED, "Unit": "Count"}]
            }]
        },
        "Environment": environment,
        "Warehouse": warehouse,
        GUARD_TRIPPED: 1,
        "function": crate::FUNCTION,
        "wouldZero": trip.would_zero,
        "wouldDrop": trip.would_drop,
        "positions": trip.positions,
        "share": trip.share.to_f64(),
        "maxShare": trip.max_share.to_f64(),
    })
}

/// Writes one EMF object as its own stdout line (beside, not inside, the tracing output: CloudWatch
/// only extracts metrics from a log event that *is* the EMF object).
pub fn emit(line: &Value) {
    let mut out = std::io::stdout().lock();
    // A lost metric line must not fail the poll; the structured warning next to it still says why.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn a_guard_trip_is_an_emf_object_with_the_metric_its_dimensions_and_the_numbers() {
        let trip = GuardTrip {
            would_zero: 2,
            would_drop: 1,
            positions: 5,
            share: Decimal::new(6, 1),
            max_share: Decimal::new(2, 1),
            overridden: false,
        };
        let v = guard_tripped("prod", "WH-1", &trip, time::macros::datetime!(2026-11-23 10:00 UTC));
        let spec = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "waybill");
        assert_eq!(spec["Metrics"][0]["Name"], GUARD_TRIPPED);
        // Every dimension named in a set must be a top-level string member, or CloudWatch drops the metric.
        for set in spec["Dimensions"].as_array().expect("sets") {
            for d in set.as_array().expect("set") {
                assert!(v[d.as_str().expect("name")].is_string(), "{d}");
            }
        }
        assert_eq!(v[GUARD_TRIPPED], 1);
        assert_eq!(v["_aws"]["Timestamp"], 1_795_428_000_000_i64);
        assert_eq!(v["wouldZero"], 2);
        assert_eq!(v["share"].as_f64(), Some(0.6));
        assert!(!v.to_string().contains('\n'));
    }
}

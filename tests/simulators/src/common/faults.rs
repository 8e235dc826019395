//! Fault rules: make matching requests fail, slow down, fail after committing their write, or come back
//! as a list page shorter than the total it claims.
//!
//! Rules are matched on method, a path substring and a substring of the query string or body, so a
//! single record can be made to fail persistently (omit `times`) while everything else works.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// What a matching rule does to the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer `status` without running the request. `body` overrides the vendor-shaped default.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
    },
    /// Sleep `ms` before running the request normally.
    Latency { ms: u64 },
    /// Run the request (its write is committed), then throw the answer away and reply `status`.
    CommitThenFail {
        #[serde(default = "default_commit_status")]
        status: u16,
    },
    /// Run the request, then cut the `data` array of its JSON answer to the first `keep` rows and leave
    /// `totalCount` as it was: a short (or, with `keep: 0`, empty) page that contradicts its own total,
    /// as a list served from a lagging replica or a snapshot taken mid-update would look.
    TruncateList { keep: usize },
}

fn default_commit_status() -> u16 {
    500
}

/// A fault rule; every filter that is set must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// HTTP method, case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Substring of the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    /// Substring of the (decoded) query string or of the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// How many matching requests the rule hits; `None` = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Share of matching requests it hits (0..=1), drawn from the fault set's seeded generator so a
    /// chaos run can be replayed; `None` = every matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub action: FaultAction,
}

impl FaultRule {
    /// Answer `status` (vendor-shaped default body) for matching requests.
    pub fn status(status: u16) -> Self {
        Self::with_action(FaultAction::Status { status, body: None })
    }

    /// Delay matching requests by `ms` milliseconds.
    pub fn latency(ms: u64) -> Self {
        Self::with_action(FaultAction::Latency { ms })
    }

    /// Apply the write, then answer 500.
    pub fn commit_then_fail() -> Self {
        Self::with_action(FaultAction::CommitThenFail { status: 500 })
    }

    /// Answer with only the first `keep` rows of the list page, `totalCount` unchanged.
    pub fn truncate_list(keep: usize) -> Self {
        Self::with_action(FaultAction::TruncateList { keep })
    }

    fn with_action(action: FaultAction) -> Self {
        Self {
            method: None,
            path_contains: None,
            body_contains: None,
            times: None,
            probability: None,
            action,
        }
    }

    /// Hits only this share of matching requests (seeded, see [`FaultSet::seed`]).
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p.clamp(0.0, 1.0));
        self
    }

    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_string());
        self
    }

    pub fn path_contains(mut self, p: &str) -> Self {
        self.path_contains = Some(p.to_string());
        self
    }

    pub fn body_contains(mut self, b: &str) -> Self {
        self.body_contains = Some(b.to_string());
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Overrides the response body of a `Status` rule.
    pub fn with_body(mut self, body: Value) -> Self {
        if let FaultAction::Status { body: b, .. } = &mut self.action {
            *b = Some(body);
        }
        self
    }

    fn matches(&self, req: &RequestView<'_>) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(req.method) {
                return false;
            }
        }
        if let Some(p) = &self.path_contains {
            if !req.path.contains(p.as_str()) {
                return false;
            }
        }
        if let Some(b) = &self.body_contains {
            if !req.query.contains(b.as_str()) && !req.body.contains(b.as_str()) {
                return false;
            }
        }
        !matches!(self.times, Some(0))
    }
}

/// The parts of a request the rules look at.
#[derive(Debug)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Percent-decoded query string (so SOQL text can be matched).
    pub query: &'a str,
    /// Body as (lossy) UTF-8.
    pub body: &'a str,
}

/// The verdict for one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FaultOutcome {
    pub latency: Duration,
    /// Fail without running the request.
    pub fail_before: Option<(u16, Option<Value>)>,
    /// Run the request, then fail with this status.
    pub fail_after: Option<u16>,
    /// Run the request, then keep only this many rows of its `data` array.
    pub truncate_list: Option<usize>,
}

/// The ordered rule list of one simulator.
#[derive(Debug)]
pub struct FaultSet {
    next_id: u64,
    rules: Vec<(u64, FaultRule)>,
    rng: rand::rngs::StdRng,
}

impl Default for FaultSet {
    fn default() -> Self {
        Self {
            next_id: 0,
            rules: Vec::new(),
            rng: rand::SeedableRng::seed_from_u64(0),
        }
    }
}

impl FaultSet {
    /// Reseeds the generator behind `probability` rules.
    pub fn seed(&mut self, seed: u64) {
        self.rng = rand::SeedableRng::seed_from_u64(seed);
    }

    pub fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        self.rules.push((self.next_id, rule));
        self.next_id
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn remove(&mut self, id: u64) {
        self.rules.retain(|(i, _)| *i != id);
    }

    pub fn list(&self) -> Vec<(u64, FaultRule)> {
        self.rules.clone()
    }

    /// Decides what happens to a request and consumes one use of every rule that fires.
    /// All matching latency rules add up; the first matching failure rule wins.
    pub fn evaluate(&mut self, req: &RequestView<'_>) -> FaultOutcome {
        let mut out = FaultOutcome::default();
        for (_, rule) in self.rules.iter_mut() {
            if !rule.matches(req) {
                continue;
            }
            if let Some(p) = rule.probability {
                if !rand::Rng::random_bool(&mut self.rng, p) {
                    continue;
                }
            }
            let fires = match &rule.action {
                FaultAction::Latency { ms } => {
                    out.latency += Duration::from_millis(*ms);
                    true
                }
                FaultAction::Status { status, body } => {
                    if out.fail_before.is_none() && out.fail_after.is_none() {
                        out.fail_before = Some((*status, body.clone()));
                        true
                    } else {
                        false
                    }
                }
                FaultAction::CommitThenFail { status } => {
                    if out.fail_before.is_none() && out.fail_after.is_none() {
                        out.fail_after = Some(*status);
                        true
                    } else {
                        false
                    }
                }
                FaultAction::TruncateList { keep } => {
                    if out.truncate_list.is_none() {
                        out.truncate_list = Some(*keep);
                        true
                    } else {
                        false
                    }
                }
            };
            if fires {
                if let Some(n) = rule.times.as_mut() {
                    *n = n.saturating_sub(1);
                }
            }
        }
        // Spent rules are dropped so listings show what is still armed.
        self.rules.retain(|(_, r)| r.times != Some(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(method: &'a str, path: &'a str, body: &'a str) -> RequestView<'a> {
        RequestView {
            method,
            path,
            query: "",
            body,
        }
    }

    #[test]
    fn a_status_rule_with_times_fires_exactly_that_many_times() {
        // Given a 503 rule limited to two hits
        let mut set = FaultSet::default();
        set.add(FaultRule::status(503).times(2));
        // When three requests arrive
        let hits: Vec<_> = (0..3)
            .map(|_| set.evaluate(&view("GET", "/x", "")).fail_before.map(|f| f.0))
            .collect();
        // Then only the first two fail
        assert_eq!(hits, vec![Some(503), Some(503), None]);
        assert!(set.list().is_empty());
    }

    #[test]
    fn a_body_filter_only_hits_requests_carrying_that_text() {
        // Given an unlimited rule for one record
        let mut set = FaultSet::default();
        set.add(FaultRule::status(500).method("patch").body_contains("FO-7"));
        // When requests for other records and for that record arrive
        let other = set.evaluate(&view("PATCH", "/a", "{\"code\":\"FO-8\"}"));
        let wrong_method = set.evaluate(&view("POST", "/a", "FO-7"));
        let hit1 = set.evaluate(&view("PATCH", "/a", "{\"code\":\"FO-7\"}"));
        let hit2 = set.evaluate(&view("PATCH", "/a", "{\"code\":\"FO-7\"}"));
        // Then only that record fails, persistently
        assert_eq!(other.fail_before, None);
        assert_eq!(wrong_method.fail_before, None);
        assert_eq!(hit1.fail_before, Some((500, None)));
        assert_eq!(hit2.fail_before, Some((500, None)));
    }

    #[test]
    fn latency_rules_add_up_and_do_not_block_a_failure_rule() {
        let mut set = FaultSet::default();
        set.add(FaultRule::latency(30));
        set.add(FaultRule::latency(20));
        set.add(FaultRule::commit_then_fail().times(1));
        let out = set.evaluate(&view("POST", "/", ""));
        assert_eq!(out.latency, Duration::from_millis(50));
        assert_eq!(out.fail_after, Some(500));
    }

    #[test]
    fn a_probability_rule_hits_about_that_share_and_replays_with_the_same_seed() {
        let run = |seed| {
            let mut set = FaultSet::default();
            set.seed(seed);
            set.add(FaultRule::status(503).probability(0.1));
            (0..2000)
                .map(|_| set.evaluate(&view("GET", "/x", "")).fail_before.is_some())
                .collect::<Vec<_>>()
        };
        let a = run(7);
        let hits = a.iter().filter(|h| **h).count();
        assert!((140..=260).contains(&hits), "{hits} of 2000");
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
    }

    #[test]
    fn a_truncating_rule_fires_alongside_latency_and_only_as_often_as_asked() {
        let mut set = FaultSet::default();
        set.add(FaultRule::truncate_list(1).path_contains("/Inventory/list").times(1));
        let other = set.evaluate(&view("GET", "/v3.1/ShipmentOrder/list/i/0/s/10", ""));
        let hit = set.evaluate(&view("GET", "/v3.1/Inventory/list/i/0/s/10", ""));
        let spent = set.evaluate(&view("GET", "/v3.1/Inventory/list/i/0/s/10", ""));
        assert_eq!(other.truncate_list, None);
        assert_eq!(hit.truncate_list, Some(1));
        assert_eq!(hit.fail_before, None);
        assert_eq!(spent.truncate_list, None);
        let rule: FaultRule =
            serde_json::from_value(serde_json::json!({"action":{"kind":"truncateList","keep":0}})).expect("valid");
        assert_eq!(rule.action, FaultAction::TruncateList { keep: 0 });
    }

    #[test]
    fn rules_round_trip_through_the_admin_json_shape() {
        let json = serde_json::json!({"method":"PATCH","pathContains":"/composite","times":2,
            "action":{"kind":"status","status":503}});
        let rule: FaultRule = serde_json::from_value(json).expect("valid rule");
        assert_eq!(
            rule,
            FaultRule::status(503)
                .method("PATCH")
                .path_contains("/composite")
                .times(2)
        );
        let ctf: FaultRule =
            serde_json::from_value(serde_json::json!({"action":{"kind":"commitThenFail"}})).expect("valid");
        assert_eq!(ctf.action, FaultAction::CommitThenFail { status: 500 });
    }
}

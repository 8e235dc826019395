//! The one fulfilment lifecycle: canonical stages with a rank, the field-ownership table, per-system
//! status tables, and the single transition function every status writer goes through.
//!
//! Rules (README "Lifecycle and ownership"):
//! - a status never moves backwards: a stage is applied only when it ranks above the current one;
//! - a terminal stage (cancelled, rejected, returned) is never left;
//! - a status the other side owns is never overwritten (a user's `Cancelled` in Salesforce stays);
//! - an observation older than the one already applied is recorded and ignored.
//!
//! Systems map their own status values onto stages with a [`StatusTable`] (data, in each adapter),
//! never with code paths in the functions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A stage of the fulfilment order, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Known to waybill (the source notified it), not yet in the WMS.
    Received,
    /// Created in the WMS by waybill.
    Submitted,
    /// The WMS acknowledged or released it (pending, ready to pick).
    Accepted,
    /// Picking started or finished.
    Picked,
    /// Packed, labels printed.
    Packed,
    /// Some packages have left the warehouse.
    PartiallyShipped,
    /// Every line has shipped.
    Shipped,
    /// The carrier delivered it.
    Delivered,
    /// Cancelled (by a user in the source, or in the WMS). Terminal.
    Cancelled,
    /// Rejected by the WMS or the source. Terminal.
    Rejected,
    /// Came back. Terminal.
    Returned,
}

impl Stage {
    /// Every stage, in rank order.
    pub const ALL: [Self; 11] = [
        Self::Received,
        Self::Submitted,
        Self::Accepted,
        Self::Picked,
        Self::Packed,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Rejected,
        Self::Returned,
    ];

    /// The rank: a stage is only ever replaced by one of higher rank. Terminal stages share the top rank,
    /// so none of them replaces another.
    pub fn rank(self) -> u8 {
        match self {
            Self::Received => 10,
            Self::Submitted => 20,
            Self::Accepted => 30,
            Self::Picked => 40,
            Self::Packed => 50,
            Self::PartiallyShipped => 60,
            Self::Shipped => 70,
            Self::Delivered => 80,
            Self::Cancelled | Self::Rejected | Self::Returned => 100,
        }
    }

    /// True for a stage nothing follows.
    pub fn is_terminal(self) -> bool {
        self.rank() == 100
    }

    /// snake_case name (stored in DynamoDB, logged).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Picked => "picked",
            Self::Packed => "packed",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Returned => "returned",
        }
    }

    /// Parses [`Stage::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two sides of every exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The order source (Salesforce): owns commercial data.
    Source,
    /// The warehouse: owns fulfilment truth.
    Wms,
}

/// The kinds of data that flow between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Account, addresses, lines, prices, taxes, requested service level.
    Commercial,
    /// Whether the order should be fulfilled at all (a user's cancel or hold).
    OrderIntent,
    /// Fulfilment progress: accepted, picked, packed, shipped.
    FulfilmentStatus,
    /// Packages, carrier, service, tracking numbers, ship dates.
    Shipments,
    /// Stock per SKU and location.
    Inventory,
}

/// Who owns what: the one table every writer consults (cited in the README). The owner's value is
/// never overwritten by the other side; waybill only copies it across.
pub const OWNERSHIP: &[(Field, Side)] = &[
    (Field::Commercial, Side::Source),
    (Field::OrderIntent, Side::Source),
    (Field::FulfilmentStatus, Side::Wms),
    (Field::Shipments, Side::Wms),
    (Field::Inventory, Side::Wms),
];

/// The side that owns a field.
pub fn owner(field: Field) -> Side {
    OWNERSHIP
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(Side::Source, |(_, s)| *s)
}

/// The field a stage belongs to: the intent stages (received, cancelled by the source) are the source's;
/// everything the warehouse does is fulfilment status.
pub fn stage_field(stage: Stage, observed_on: Side) -> Field {
    match (stage, observed_on) {
        (Stage::Received, _) | (Stage::Cancelled | Stage::Rejected, Side::Source) => Field::OrderIntent,
        _ => Field::FulfilmentStatus,
    }
}

/// One system's status values mapped onto stages. Data, declared by each adapter.
#[derive(Debug, Clone, Copy)]
pub struct StatusTable {
    /// System name, for logs.
    pub system: &'static str,
    /// Which side the system is.
    pub side: Side,
    /// `(status value, stage)`, compared case-insensitively and ignoring spaces, `_` and `-`
    /// (Logiwa spells `Ready to Pick` in its API and `ReadyToPick` in webhooks).
    pub entries: &'static [(&'static str, Stage)],
    /// For writing a stage back into this system: the value to write, per stage.
    pub writes: &'static [(Stage, &'static str)],
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl StatusTable {
    /// The stage of a status value; None for a value the table does not know (treated as "no information").
    pub fn stage(&self, status: &str) -> Option<Stage> {
        let s = squash(status);
        self.entries.iter().find(|(v, _)| squash(v) == s).map(|(_, st)| *st)
    }

    /// The value to write into this system for a stage, when the table declares one.
    pub fn value_for(&self, stage: Stage) -> Option<&'static str> {
        self.writes.iter().find(|(st, _)| *st == stage).map(|(_, v)| *v)
    }
}

/// What the transition function decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it: it moves the order forward.
    Advance,
    /// Already at this stage: nothing to do.
    Same,
    /// It ranks below the current stage: ignored (never backwards).
    Backwards {
        /// Where the order stands.
        current: Stage,
    },
    /// The current stage is terminal: ignored.
    Terminal {
        /// Where the order stands.
        current: Stage,
    },
    /// The observation is older than the one already applied: recorded and ignored.
    Stale,
}

impl Verdict {
    /// True when the stage should be written.
    pub fn applies(self) -> bool {
        self == Self::Advance
    }
}

/// The transition function: may the order move from `current` (applied at `current_at`) to `next`
/// (observed at `next_at`)?
///
/// Rank decides first (a higher stage is applied even if its clock is behind, because ranks encode
/// causality the clocks of two systems do not), then terminal stages, then time for same-rank reports.
pub fn decide(current: Option<(Stage, OffsetDateTime)>, next: Stage, next_at: OffsetDateTime) -> Verdict {
    let Some((cur, cur_at)) = current else {
        return Verdict::Advance;
    };
    if cur.is_terminal() {
        return if cur == next {
            Verdict::Same
        } else {
            Verdict::Terminal { current: cur }
        };
    }
    match next.rank().cmp(&cur.rank()) {
        std::cmp::Ordering::Greater => Verdict::Advance,
        std::cmp::Ordering::Less => Verdict::Backwards { current: cur },
        std::cmp::Ordering::Equal if next_at < cur_at => Verdict::Stale,
        std::cmp::Ordering::Equal => Verdict::Same,
    }
}

/// The value to write into a system whose record shows `current_value` to move it to `target`, using the
/// table's own value for that stage. None when no write may happen (see [`may_write`]).
pub fn write_back(table: &StatusTable, current_value: &str, target: Stage) -> Option<&'static str> {
    let value = table.value_for(target)?;
    may_write(table, current_value, target, value).then_some(value)
}

/// Whether waybill may write `value` (which stands for `target`) into a system whose record currently
/// shows `current_value`.
///
/// False when the write would move the record backwards or sideways, leave a terminal state, or overwrite
/// a status the record's own side owns (a user's `Cancelled`). A current value the table does not know is
/// left alone too: somebody set it on purpose, and only a person knows why.
pub fn may_write(table: &StatusTable, current_value: &str, target: Stage, value: &str) -> bool {
    if squash(value) == squash(current_value) {
        return false;
    }
    let Some(current) = table.stage(current_value) else {
        return false;
    };
    if current.is_terminal() || current.rank() >= target.rank() {
        return false;
    }
    // The record's own side owns its intent stages: those are replaced only by a fulfilment stage the
    // other side owns (Received → Submitted is the hand-over), never by another intent stage.
    let own = table.side;
    !(owner(stage_field(target, own)) == own && owner(stage_field(current, own)) == own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SF: StatusTable = StatusTable {
        system: "test-source",
        side: Side::Source,
        entries: &[
            ("Draft", Stage::Received),
            ("Allocated", Stage::Received),
            ("Assigned", Stage::Submitted),
            ("Pickpack", Stage::Picked),
            ("Fulfilled", Stage::Shipped),
            ("Cancelled", Stage::Cancelled),
        ],
        writes: &[(Stage::Submitted, "Assigned"), (Stage::Shipped, "Fulfilled")],
    };

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    #[test]
    fn a_fulfilled_record_is_never_moved_back_to_assigned() {
        assert_eq!(write_back(&SF, "Fulfilled", Stage::Submitted), None);
    }

    #[test]
    fn a_users_cancelled_status_is_never_overwritten() {
        assert_eq!(write_back(&SF, "Cancelled", Stage::Submitted), None);
        assert_eq!(write_back(&SF, "Cancelled", Stage::Shipped), None);
    }

    #[test]
    fn an_allocated_record_moves_to_assigned_and_then_to_fulfilled() {
        assert_eq!(write_back(&SF, "Allocated", Stage::Submitted), Some("Assigned"));
        assert_eq!(write_back(&SF, "Assigned", Stage::Shipped), Some("Fulfilled"));
        assert_eq!(write_back(&SF, "Fulfilled", Stage::Shipped), None);
    }

    #[test]
    fn an_unknown_current_value_is_left_alone() {
        assert_eq!(write_back(&SF, "On Hold By Finance", Stage::Shipped), None);
    }

    #[test]
    fn a_configured_value_is_checked_against_the_stage_it_stands_for() {
        assert!(may_write(&SF, "Allocated", Stage::Submitted, "Sent To Warehouse"));
        assert!(!may_write(&SF, "Fulfilled", Stage::Submitted, "Sent To Warehouse"));
        assert!(!may_write(&SF, "Allocated", Stage::Received, "Draft"));
    }

    #[test]
    fn status_names_match_whatever_the_spacing() {
        let lw = StatusTable {
            system: "w",
            side: Side::Wms,
            entries: &[("Ready to Pick", Stage::Accepted)],
            writes: &[],
        };
        assert_eq!(lw.stage("ReadyToPick"), Some(Stage::Accepted));
        assert_eq!(lw.stage("ready_to_pick"), Some(Stage::Accepted));
        assert_eq!(lw.stage("Shipped"), None);
    }

    #[test]
    fn an_older_report_of_the_same_stage_is_stale_and_a_lower_stage_is_backwards() {
        assert_eq!(
            decide(Some((Stage::Shipped, t(10))), Stage::Shipped, t(5)),
            Verdict::Stale
        );
        assert_eq!(
            decide(Some((Stage::Shipped, t(10))), Stage::Shipped, t(10)),
            Verdict::Same
        );
        assert_eq!(
            decide(Some((Stage::Shipped, t(10))), Stage::Accepted, t(99)),
            Verdict::Backwards {
                current: Stage::Shipped
            }
        );
        assert_eq!(
            decide(Some((Stage::Cancelled, t(10))), Stage::Delivered, t(99)),
            Verdict::Terminal {
                current: Stage::Cancelled
            }
        );
        assert_eq!(decide(None, Stage::Picked, t(0)), Verdict::Advance);
    }

    fn any_stage() -> impl Strategy<Value = Stage> {
        (0..Stage::ALL.len()).prop_map(|i| Stage::ALL[i])
    }

    proptest! {
        /// Whatever order the observations arrive in, the applied stage never drops in rank and never
        /// leaves a terminal stage.
        #[test]
        fn applying_observations_in_any_order_never_moves_backwards(
            seq in proptest::collection::vec((any_stage(), 0i64..100), 1..40)
        ) {
            let mut cur: Option<(Stage, OffsetDateTime)> = None;
            for (stage, at) in seq {
                let before = cur;
                if decide(cur, stage, t(at)).applies() {
                    cur = Some((stage, t(at)));
                }
                if let (Some((b, _)), Some((a, _))) = (before, cur) {
                    prop_assert!(a.rank() >= b.rank());
                    if b.is_terminal() {
                        prop_assert_eq!(a, b);
                    }
                }
            }
        }
    }
}

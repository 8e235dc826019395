//! Which read a poll makes — a full listing or the WMS change feed — and which window of the feed it asks
//! for: pure functions of the stored watermarks and the clock, so the property test below drives exactly
//! the code a poll runs.
//!
//! The watermark is the start of the last poll whose changes Salesforce accepted in full. The next feed
//! read starts `overlap` before it: a transaction stamped at (or just before) that instant may be recorded
//! only after the poll read the feed — two changes sharing a timestamp, one visible and one not yet — and
//! re-reading a few minutes costs one re-read per SKU at most, while missing one leaves Salesforce wrong
//! until the next full listing.

use std::time::Duration;

use time::OffsetDateTime;
use waybill::ports::ChangeWindow;

/// Why a poll lists the warehouse in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullReason {
    /// No watermark yet.
    FirstRun,
    /// No full listing within `full_scan_every`.
    Periodic,
    /// The watermark is older than `full_scan_every` (e.g. Salesforce kept rejecting a position): reading
    /// the feed that far back costs more than a listing.
    Behind,
}

impl FullReason {
    /// Name used in logs and the poll report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstRun => "firstRun",
            Self::Periodic => "periodic",
            Self::Behind => "behind",
        }
    }
}

/// What one poll reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// List the warehouse in full.
    Full(FullReason),
    /// Read the change feed over this window and re-read the SKUs it names.
    Changes(ChangeWindow),
}

/// The knobs of the plan (from `Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How far before the watermark a feed read starts.
    pub overlap: Duration,
    /// How often a full listing happens at the latest.
    pub full_scan_every: Duration,
}

/// The plan for a poll starting at `now`, given the change watermark and the time of the last full
/// listing (both as stored: whole milliseconds, only ever moved forward).
pub fn plan(
    watermark: Option<OffsetDateTime>,
    last_full: Option<OffsetDateTime>,
    now: OffsetDateTime,
    settings: &Settings,
) -> Plan {
    let Some(mark) = watermark else {
        return Plan::Full(FullReason::FirstRun);
    };
    let every = time::Duration::try_from(settings.full_scan_every).unwrap_or(time::Duration::MAX);
    if last_full.is_none_or(|f| now - f >= every) {
        return Plan::Full(FullReason::Periodic);
    }
    if now - mark >= every {
        return Plan::Full(FullReason::Behind);
    }
    Plan::Changes(window(mark, now, settings.overlap))
}

/// The feed window from a watermark (the rule lives in [`ChangeWindow::after`], shared with the order
/// sweep).
pub fn window(mark: OffsetDateTime, now: OffsetDateTime, overlap: Duration) -> ChangeWindow {
    ChangeWindow::after(mark, now, overlap)
}

/// The watermark a poll may store once Salesforce accepted everything it sent: the poll's own start,
/// never the newest transaction it saw (a transaction can be recorded after the read, stamped earlier).
pub fn next_watermark(started_at: OffsetDateTime) -> OffsetDateTime {
    started_at
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use time::macros::datetime;
    use waybill::fakes::MemoryWatermarks;
    use waybill::ports::WatermarkStore;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);
    const HOUR: Duration = Duration::from_secs(3600);

    fn settings(overlap_ms: u64) -> Settings {
        Settings {
            overlap: Duration::from_millis(overlap_ms),
            full_scan_every: HOUR,
        }
    }

    #[test]
    fn the_first_poll_lists_in_full_and_later_ones_read_the_feed_from_before_the_watermark() {
        let s = settings(300_000);
        assert_eq!(plan(None, None, T0, &s), Plan::Full(FullReason::FirstRun));
        let mark = T0 - time::Duration::minutes(15);
        assert_eq!(
            plan(Some(mark), Some(mark), T0, &s),
            Plan::Changes(ChangeWindow {
                from: mark - time::Duration::minutes(5),
                to: T0
            })
        );
    }

    #[test]
    fn a_full_listing_comes_back_periodically_and_when_the_watermark_is_far_behind() {
        let s = settings(300_000);
        let mark = T0 - time::Duration::minutes(15);
        assert_eq!(plan(Some(mark), None, T0, &s), Plan::Full(FullReason::Periodic));
        assert_eq!(
            plan(Some(mark), Some(T0 - time::Duration::hours(1)), T0, &s),
            Plan::Full(FullReason::Periodic)
        );
        assert_eq!(
            plan(Some(T0 - time::Duration::hours(2)), Some(T0), T0, &s),
            Plan::Full(FullReason::Behind)
        );
    }

    #[test]
    fn a_watermark_ahead_of_the_clock_still_gives_a_window_ending_now() {
        let w = window(T0 + time::Duration::hours(1), T0, Duration::from_secs(300));
        assert_eq!(w.to, T0);
        assert_eq!(w.from, T0 - time::Duration::minutes(5));
    }

    /// One transaction: stamped `at`, visible in the feed from `visible` on (`visible >= at`).
    #[derive(Debug, Clone)]
    struct Tx {
        at: OffsetDateTime,
        visible: OffsetDateTime,
    }

    /// One poll: when it starts, and whether Salesforce then accepted everything (else the watermark holds).
    #[derive(Debug, Clone)]
    struct Poll {
        at: OffsetDateTime,
        accepted: bool,
    }

    /// Runs the polls against the production plan and the watermark fake (millisecond truncation,
    /// forward-only writes, like DynamoDB), and returns, per transaction, whether a poll that went on to
    /// advance the watermark saw it. A full listing sees every transaction visible when it runs (their
    /// effect is in the stock it lists); a feed read sees the visible ones its window contains.
    fn run(txs: &[Tx], polls: &[Poll], s: &Settings) -> Vec<bool> {
        let marks = MemoryWatermarks::new();
        let mut seen = vec![false; txs.len()];
        for p in polls {
            let mark = futures::executor::block_on(marks.get("inventory")).expect("get");
            let last_full = futures::executor::block_on(marks.get("inventory-full")).expect("get");
            let plan = plan(mark, last_full, p.at, s);
            let read: BTreeSet<usize> = txs
                .iter()
                .enumerate()
                .filter(|(_, t)| t.visible <= p.at)
                .filter(|(_, t)| match plan {
                    Plan::Full(_) => true,
                    Plan::Changes(w) => w.contains(t.at),
                })
                .map(|(i, _)| i)
                .collect();
            if !p.accepted {
                continue;
            }
            for i in read {
                seen[i] = true;
            }
            futures::executor::block_on(marks.advance("inventory", next_watermark(p.at))).expect("advance");
            if matches!(plan, Plan::Full(_)) {
                futures::executor::block_on(marks.advance("inventory-full", next_watermark(p.at))).expect("advance");
            }
        }
        seen
    }

    fn ms(n: i64) -> time::Duration {
        time::Duration::milliseconds(n)
    }

    /// Timelines on a coarse grid (so many transactions, and polls, share an instant), each transaction
    /// becoming visible up to `overlap` after its stamp, polls with sub-millisecond starts.
    fn timeline() -> impl Strategy<Value = (u64, Vec<Tx>, Vec<Poll>)> {
        (1u64..=5_000).prop_flat_map(|overlap_ms| {
            let lag = i64::try_from(overlap_ms).unwrap_or(i64::MAX);
            let txs = prop::collection::vec((0i64..60, 0..=lag), 0..40).prop_map(|v| {
                v.into_iter()
                    .map(|(slot, lag)| {
                        let at = T0 + ms(slot * 500);
                        Tx {
                            at,
                            visible: at + ms(lag),
                        }
                    })
                    .collect::<Vec<_>>()
            });
            let polls = prop::collection::vec((0i64..80, 0i64..1_000_000, prop::bool::weighted(0.8)), 1..25).prop_map(
                |mut v| {
                    v.sort_unstable();
                    v.into_iter()
                        .map(|(slot, nanos, accepted)| Poll {
                            at: T0 + ms(slot * 500) + time::Duration::nanoseconds(nanos),
                            accepted,
                        })
                        .collect::<Vec<_>>()
                },
            );
            (Just(overlap_ms), txs, polls)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every transaction visible by the time of the last accepted poll is seen by an accepted poll,
        /// however timestamps collide with each other and with poll starts, and however polls fail.
        #[test]
        fn every_change_is_seen_by_an_accepted_poll((overlap_ms, txs, polls) in timeline()) {
            let s = settings(overlap_ms);
            let seen = run(&txs, &polls, &s);
            let last_accepted = polls.iter().filter(|p| p.accepted).map(|p| p.at).max();
            for (tx, seen) in txs.iter().zip(seen) {
                if last_accepted.is_some_and(|last| tx.visible <= last) {
                    prop_assert!(seen, "{tx:?} missed with overlap {overlap_ms} ms and polls {polls:?}");
                }
            }
        }
    }

    #[test]
    fn without_the_overlap_a_change_sharing_the_boundary_instant_is_missed() {
        // Two transactions share a stamp just before a feed poll starts; the first is in the feed when
        // that poll reads it, the second is recorded a moment later. With no overlap the next window
        // starts at that poll's start, after their shared stamp, and the second is never read.
        let stamp = T0 + time::Duration::minutes(1);
        let txs = [
            Tx {
                at: stamp,
                visible: stamp,
            },
            Tx {
                at: stamp,
                visible: stamp + ms(3),
            },
        ];
        let polls = [
            Poll { at: T0, accepted: true },
            Poll {
                at: stamp + ms(2),
                accepted: true,
            },
            Poll {
                at: stamp + time::Duration::minutes(1),
                accepted: true,
            },
        ];
        let missed = run(&txs, &polls, &settings(0));
        assert_eq!(missed, vec![true, false], "the property test would catch this");
        let with_overlap = run(&txs, &polls, &settings(300_000));
        assert_eq!(with_overlap, vec![true, true]);
    }
}

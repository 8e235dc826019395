//! Logiwa Query Language filters: `Field.op=value` with `eq|gt|gte|lt|lte|bt|in`
//! (wms-apis.md §1 [SW]); dates are `YYYY-MM-DD`, string matches are case-sensitive.

use crate::common::timefmt::{parse_date, parse_datetime};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
    Bt,
    In,
}

impl Op {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "bt" => Op::Bt,
            "in" => Op::In,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    /// The field as declared by the endpoint (canonical case).
    pub field: &'static str,
    pub op: Op,
    pub value: String,
}

/// A filterable field and the operators the endpoint supports for it.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ops: &'static [Op],
}

/// Parses the query string against the endpoint's filter list. An unknown field or operator is a
/// 400 (ASSUMPTION: strict, see README).
pub fn parse(query: Option<&str>, allowed: &[FieldSpec]) -> Result<Vec<Filter>, String> {
    let mut out = Vec::new();
    let Some(q) = query else { return Ok(out) };
    for (key, value) in url::form_urlencoded::parse(q.as_bytes()) {
        let Some((field, op)) = key.rsplit_once('.') else {
            return Err(format!("Invalid filter: {key}"));
        };
        let spec = allowed
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(field))
            .ok_or_else(|| format!("Invalid filter: {key}"))?;
        let op = Op::parse(op)
            .filter(|o| spec.ops.contains(o))
            .ok_or_else(|| format!("Invalid filter operator: {key}"))?;
        out.push(Filter {
            field: spec.name,
            op,
            value: value.into_owned(),
        });
    }
    Ok(out)
}

impl Filter {
    /// Case-sensitive string match for `eq` / `in`.
    pub fn matches_str(&self, actual: Option<&str>) -> bool {
        let Some(actual) = actual else { return false };
        match self.op {
            Op::Eq => actual == self.value,
            Op::In => self.value.split(',').any(|v| v.trim() == actual),
            _ => false,
        }
    }

    pub fn uuids(&self) -> Result<Vec<Uuid>, String> {
        self.value
            .split(',')
            .map(|v| Uuid::parse_str(v.trim()).map_err(|_| format!("Invalid filter value for {}: {v}", self.field)))
            .collect()
    }

    /// `bt=a,b` over a field the spec types `date` (e.g. `Report/TransactionHistory`'s
    /// `TransactionDate`): both bounds must be `YYYY-MM-DD`, and whole days match, inclusive, in UTC.
    /// A datetime bound is refused rather than read to the second: the spec documents day precision
    /// here, and a real tenant may well truncate or reject anything finer (ASSUMPTION, see README).
    pub fn matches_date_only(&self, actual: OffsetDateTime) -> Result<bool, String> {
        let bad = || {
            format!(
                "Invalid filter value for {}: {} (expected YYYY-MM-DD,YYYY-MM-DD)",
                self.field, self.value
            )
        };
        if self.op != Op::Bt {
            return Err(bad());
        }
        let (a, b) = self.value.split_once(',').ok_or_else(bad)?;
        let (from, to) = (parse_date(a).ok_or_else(bad)?, parse_date(b).ok_or_else(bad)?);
        let day = actual.to_offset(time::UtcOffset::UTC).date();
        Ok(day >= from && day <= to)
    }

    /// `bt=a,b` over dates (inclusive whole days) or datetimes; `gt`/`lt`... over one bound.
    pub fn matches_time(&self, actual: Option<OffsetDateTime>) -> Result<bool, String> {
        let bad = || format!("Invalid filter value for {}: {}", self.field, self.value);
        let start_of = |s: &str| -> Option<OffsetDateTime> {
            parse_date(s)
                .map(|d| d.midnight().assume_utc())
                .or_else(|| parse_datetime(s))
        };
        let end_of = |s: &str| -> Option<OffsetDateTime> {
            match parse_date(s) {
                Some(d) => Some(d.midnight().assume_utc() + Duration::days(1) - Duration::nanoseconds(1)),
                None => parse_datetime(s),
            }
        };
        let Some(t) = actual else {
            // Validate the value even when the row has no date.
            return match self.op {
                Op::Bt => {
                    let (a, b) = self.value.split_once(',').ok_or_else(bad)?;
                    start_of(a).zip(end_of(b)).map(|_| false).ok_or_else(bad)
                }
                _ => start_of(&self.value).map(|_| false).ok_or_else(bad),
            };
        };
        Ok(match self.op {
            Op::Bt => {
                let (a, b) = self.value.split_once(',').ok_or_else(bad)?;
                let (from, to) = (start_of(a.trim()).ok_or_else(bad)?, end_of(b.trim()).ok_or_else(bad)?);
                t >= from && t <= to
            }
            Op::Eq => t >= start_of(&self.value).ok_or_else(bad)? && t <= end_of(&self.value).ok_or_else(bad)?,
            Op::Gt => t > end_of(&self.value).ok_or_else(bad)?,
            Op::Gte => t >= start_of(&self.value).ok_or_else(bad)?,
            Op::Lt => t < start_of(&self.value).ok_or_else(bad)?,
            Op::Lte => t <= end_of(&self.value).ok_or_else(bad)?,
            Op::In => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SPECS: &[FieldSpec] = &[
        FieldSpec {
            name: "Code",
            ops: &[Op::Eq],
        },
        FieldSpec {
            name: "UpdatedDateTime",
            ops: &[Op::Bt],
        },
    ];

    #[test]
    fn unknown_fields_and_unsupported_operators_are_rejected() {
        assert!(parse(Some("Nope.eq=1"), SPECS).is_err());
        assert!(parse(Some("Code.bt=1,2"), SPECS).is_err());
        let ok = parse(Some("code.eq=FO-1"), SPECS).expect("valid");
        assert_eq!(ok[0].field, "Code");
        assert_eq!(ok[0].value, "FO-1");
    }

    #[test]
    fn between_dates_includes_both_whole_days() {
        let f = parse(Some("UpdatedDateTime.bt=2026-11-01,2026-11-02"), SPECS)
            .expect("valid")
            .remove(0);
        assert_eq!(f.matches_time(Some(datetime!(2026-11-02 23:59:59 UTC))), Ok(true));
        assert_eq!(f.matches_time(Some(datetime!(2026-11-01 00:00:00 UTC))), Ok(true));
        assert_eq!(f.matches_time(Some(datetime!(2026-11-03 00:00:00 UTC))), Ok(false));
        assert_eq!(f.matches_time(None), Ok(false));
    }

    #[test]
    fn a_date_only_filter_matches_whole_days_and_refuses_datetimes() {
        const DATES: &[FieldSpec] = &[FieldSpec {
            name: "TransactionDate",
            ops: &[Op::Bt],
        }];
        let f = parse(Some("TransactionDate.bt=2026-11-02,2026-11-02"), DATES)
            .expect("valid")
            .remove(0);
        assert_eq!(f.matches_date_only(datetime!(2026-11-02 00:00:00 UTC)), Ok(true));
        assert_eq!(f.matches_date_only(datetime!(2026-11-02 23:59:59.999 UTC)), Ok(true));
        assert_eq!(f.matches_date_only(datetime!(2026-11-03 00:00:00 UTC)), Ok(false));
        let precise = parse(
            Some("TransactionDate.bt=2026-11-02T10:00:00Z,2026-11-02T11:00:00Z"),
            DATES,
        )
        .expect("parses")
        .remove(0);
        assert!(precise.matches_date_only(datetime!(2026-11-02 10:30:00 UTC)).is_err());
    }

    #[test]
    fn string_equality_is_case_sensitive() {
        let f = parse(Some("Code.eq=FO-1"), SPECS).expect("valid").remove(0);
        assert!(f.matches_str(Some("FO-1")));
        assert!(!f.matches_str(Some("fo-1")));
    }
}

//! Timestamp formats the vendors use, so fixtures and responses look like the real thing.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Salesforce REST datetime: `2026-11-23T01:02:03.000+0000` (millis, offset without colon).
pub fn sf_datetime(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
    );
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000+0000".to_string())
}

/// Logiwa (.NET) datetime as the sim emits it: RFC 3339 UTC with milliseconds, e.g. `2026-11-23T01:02:03.000Z`.
pub fn logiwa_datetime(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// Logiwa datetime with .NET's full tick precision, as the `wms/shipmentorder/shipment` webhook's
/// `ShipmentDate` carries it (wms-apis.md §1.6 [WG]: 7 fractional digits), e.g. `2026-11-23T01:02:03.1234567Z`.
pub fn logiwa_datetime_ticks(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.0000000Z".to_string())
}

/// Parses the datetime spellings both vendors accept on input: RFC 3339, Salesforce's `+0000`
/// offset form, and an offset-less `2026-11-23T01:02:03` (read as UTC, like .NET's DateTime).
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // Salesforce form: offset without a colon, optional millis.
    let sf = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    if let Ok(t) = OffsetDateTime::parse(s, &sf) {
        return Some(t);
    }
    let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &naive) {
        return Some(t.assume_utc());
    }
    None
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt).ok()
}

/// Formats a `YYYY-MM-DD` date.
pub fn format_date(d: Date) -> String {
    let fmt = format_description!("[year]-[month]-[day]");
    d.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn salesforce_datetimes_use_millis_and_a_colonless_offset() {
        // Given a UTC instant
        let t = datetime!(2026-11-23 01:02:03.004 UTC);
        // When formatted the Salesforce way
        let s = sf_datetime(t);
        // Then it matches the REST API's format exactly
        assert_eq!(s, "2026-11-23T01:02:03.004+0000");
        // And it parses back to the same instant
        assert_eq!(parse_datetime(&s), Some(t));
    }

    #[test]
    fn logiwa_datetimes_carry_millis_or_full_ticks() {
        let t = datetime!(2026-11-23 01:02:03.123_456_789 UTC);
        assert_eq!(logiwa_datetime(t), "2026-11-23T01:02:03.123Z");
        assert_eq!(logiwa_datetime_ticks(t), "2026-11-23T01:02:03.1234567Z");
    }

    #[test]
    fn offsetless_and_rfc3339_datetimes_both_parse_as_utc() {
        assert_eq!(
            parse_datetime("2026-01-02T03:04:05"),
            Some(datetime!(2026-01-02 03:04:05 UTC))
        );
        assert_eq!(
            parse_datetime("2026-01-02T03:04:05Z"),
            Some(datetime!(2026-01-02 03:04:05 UTC))
        );
        assert_eq!(parse_datetime("not a date"), None);
    }
}

//! When: the one clock of lock holders, history records, log windows and
//! file names, in the formats pitwall writes (RFC 3339, UTC) and reads
//! (Docker's and Swarm's RFC 3339 with nanoseconds).

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, as checks see time.
pub fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Now, as RFC 3339 (UTC, as many fractional digits as the clock gives).
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time in ms since the epoch, as RFC 3339 (UTC, milliseconds).
pub fn rfc3339_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `20261126T130501Z`, for file names.
pub fn now_compact() -> String {
    Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// An RFC 3339 time (any offset) in ns since the epoch; `None` when `text`
/// is not one.
pub fn parse_rfc3339_ns(text: &str) -> Option<i128> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_and_read_as_rfc_3339() {
        assert_eq!(rfc3339_ms(1_796_649_125_120), "2026-12-07T13:12:05.120Z");
        assert_eq!(
            parse_rfc3339_ns("2026-11-26T13:00:00.123456789Z"),
            Some(1_795_698_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339_ns("2026-11-26T14:00:00+01:00"),
            parse_rfc3339_ns("2026-11-26T13:00:00Z")
        );
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
        let now = now_rfc3339();
        assert!(parse_rfc3339_ns(&now).is_some(), "{now}");
        assert_eq!(now_compact().len(), "20261126T130501Z".len());
    }
}

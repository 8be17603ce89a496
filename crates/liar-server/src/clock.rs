//! Wall-clock helpers for the wire format (RFC 3339 UTC with milliseconds).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix milliseconds as RFC 3339 UTC.
pub fn rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn rfc3339_now() -> String {
    let now = OffsetDateTime::now_utc();
    let truncated = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    truncated.format(&Rfc3339).unwrap_or_default()
}

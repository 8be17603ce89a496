//! Points in time as the rules see them.
//!
//! The rules never read a clock: the caller passes `now` with every input, and every deadline the
//! rules hand out is a [`Millis`]. On the wire a `Millis` is an RFC 3339 UTC string with
//! millisecond precision, which is what SPEC §4 asks of every deadline.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// Milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub i64);

impl Millis {
    /// This instant plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: u32) -> Millis {
        Millis(self.0.saturating_add(i64::from(secs) * 1000))
    }

    /// The RFC 3339 form, e.g. `2026-11-23T10:00:00.000Z`; `None` outside the years 1–9999.
    pub fn to_rfc3339(self) -> Option<String> {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).ok()?;
        let fmt = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        at.format(&fmt).ok()
    }

    /// Parses any RFC 3339 time (any offset); sub-millisecond digits are truncated.
    pub fn parse_rfc3339(text: &str) -> Option<Millis> {
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Millis)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(text) => f.write_str(&text),
            None => write!(f, "{}ms", self.0),
        }
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self
            .to_rfc3339()
            .ok_or_else(|| serde::ser::Error::custom("time outside the years 1-9999"))?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Millis::parse_rfc3339(&text).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Str(&text), &"an RFC 3339 time")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc_with_milliseconds() {
        assert_eq!(Millis(0).to_rfc3339().unwrap(), "1970-01-01T00:00:00.000Z");
        let t = Millis(1_795_428_000_123);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-23T10:00:00.123Z\""
        );
        assert_eq!(
            serde_json::from_str::<Millis>("\"2026-11-23T10:00:00.123Z\"").unwrap(),
            t
        );
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        assert_eq!(
            Millis::parse_rfc3339("1970-01-01T01:00:00+01:00"),
            Some(Millis(0))
        );
        assert!(serde_json::from_str::<Millis>("\"yesterday\"").is_err());
    }

    #[test]
    fn plus_secs_adds_seconds() {
        assert_eq!(Millis(500).plus_secs(2), Millis(2500));
        assert_eq!(Millis(i64::MAX).plus_secs(1), Millis(i64::MAX));
    }
}

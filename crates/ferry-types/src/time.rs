//! Timestamps in RFC 3339 (as Docker's API prints them) and human durations (as `docker ps` does).

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the nanosecond. Written (in records and JSON) as RFC 3339 with nine
/// fractional digits, as Docker's API prints times; read back from that form, or from one with
/// fewer fractional digits or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }

    /// A moment given in seconds and nanoseconds since the epoch.
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs,
            nanos: nanos.min(999_999_999),
        }
    }

    /// Seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.secs
    }

    /// The nanoseconds past [`Timestamp::secs`].
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Parses RFC 3339 UTC (`2026-12-06T01:02:03.123456789Z`, fraction optional).
    pub fn parse(s: &str) -> Option<Self> {
        let secs = parse_rfc3339(s)?;
        let rest = s.get(19..)?;
        let nanos = match rest.strip_prefix('.') {
            Some(frac) => {
                let digits = frac.strip_suffix('Z')?;
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                let n: u32 = digits.parse().ok()?;
                n * 10u32.pow(9 - digits.len() as u32)
            }
            None if rest == "Z" => 0,
            None => return None,
        };
        Some(Timestamp { secs, nanos })
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.secs, self.nanos))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Records of the first versions left some times empty: the epoch stands for them.
        if s.is_empty() {
            return Ok(Timestamp::default());
        }
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {s:?}")))
    }
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses the RFC 3339 UTC form [`rfc3339`] writes back into seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A duration in words, as `docker ps` prints it ("5 seconds", "About a minute", "3 hours").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a duration as Docker's flags take it (Go's syntax: `500ms`, `10s`, `1m30s`, `2h`,
/// or `0`), in milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, crate::FerryError> {
    let bad = || {
        crate::FerryError::invalid(format!(
            "invalid duration {s:?}: use a number with a unit, e.g. 500ms, 10s, 1m30s, 2h"
        ))
    };
    if s == "0" {
        return Ok(0);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_000_000, 5), "2026-11-18T11:06:40.000000005Z");
        assert_eq!(
            parse_rfc3339("2026-11-18T11:06:40.000000005Z"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::*;

    #[test]
    fn a_timestamp_round_trips_through_its_text() {
        let t = Timestamp::from_unix(1_796_000_000, 123_456_789);
        let text = t.to_string();
        assert_eq!(Timestamp::parse(&text), Some(t));
        assert_eq!(
            serde_json::from_str::<Timestamp>(&serde_json::to_string(&t).unwrap()).unwrap(),
            t
        );
        assert_eq!(
            Timestamp::parse("2026-12-06T01:02:03Z").map(|t| t.nanos),
            Some(0)
        );
        assert_eq!(
            Timestamp::parse("2026-12-06T01:02:03.5Z").map(|t| t.nanos),
            Some(500_000_000)
        );
        assert!(Timestamp::parse("2026-12-06T01:02:03.Z").is_none());
        assert!(Timestamp::parse("2026-12-06 01:02:03").is_none());
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert_eq!(
            serde_json::from_str::<Timestamp>("\"\"").unwrap(),
            Timestamp::default()
        );
        assert!(Timestamp::now() > t);
    }

    #[test]
    fn durations_parse_as_docker_flags_take_them() {
        assert_eq!(parse_duration_ms("0").unwrap(), 0);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("10s").unwrap(), 10_000);
        assert_eq!(parse_duration_ms("1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        for bad in ["", "10", "s", "1x", "-1s", "1.5s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}

//! Timestamps on the wire: read as ISO 8601 text or epoch seconds, written as each protocol
//! wants (ISO 8601 in queries, epoch seconds in JSON bodies) and rendered as ISO 8601 text in
//! outputs.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Reads ISO 8601 / RFC 3339 text (`2024-05-01T10:00:00Z`, with or without fraction and
/// offset, or a bare date), RFC 2822 (HTTP dates) or epoch seconds given as text.
#[must_use]
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&Utc));
    }
    text.parse::<f64>().ok().and_then(from_epoch)
}

/// Epoch seconds (with a fraction) as a time, rounded to the microsecond as botocore reads them
/// (`1714557600.441` is `.441`, not `.440999985`).
#[must_use]
pub fn from_epoch(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    let micros = (seconds * 1e6).round();
    #[allow(
        clippy::cast_possible_truncation,
        reason = "microseconds of dates within chrono's range fit an i64; others are rejected below"
    )]
    let micros = micros as i64;
    DateTime::from_timestamp_micros(micros)
}

/// An input value (text or epoch number) as a time.
#[must_use]
pub fn from_value(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse(s),
        Value::Number(n) => n.as_f64().and_then(from_epoch),
        _ => None,
    }
}

/// ISO 8601 as botocore writes it into queries: `%Y-%m-%dT%H:%M:%SZ`, with microseconds when
/// there are any.
#[must_use]
pub fn iso8601(time: DateTime<Utc>) -> String {
    if time.timestamp_subsec_micros() == 0 {
        time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Epoch seconds as botocore writes them into JSON bodies: an integer, with a millisecond
/// fraction when there is one.
#[must_use]
pub fn epoch(time: DateTime<Utc>) -> Value {
    let millis = time.timestamp_subsec_millis();
    if millis == 0 {
        Value::from(time.timestamp())
    } else {
        #[allow(
            clippy::cast_precision_loss,
            reason = "epoch seconds of real dates fit a double's mantissa"
        )]
        let seconds = time.timestamp() as f64 + f64::from(millis) / 1000.0;
        Value::from(seconds)
    }
}

/// An output time as text: RFC 3339 in UTC (`2024-05-01T10:00:00Z`, a fraction when there is
/// one).
#[must_use]
pub fn render(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_every_form_and_write_as_botocore_does() {
        let t = parse("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(parse("2024-05-01T10:00:00"), Some(t));
        assert_eq!(parse("2024-05-01T12:00:00+02:00"), Some(t));
        assert_eq!(parse("1714557600"), Some(t));
        assert_eq!(from_value(&Value::from(1_714_557_600)), Some(t));
        assert_eq!(iso8601(t), "2024-05-01T10:00:00Z");
        assert_eq!(epoch(t), Value::from(1_714_557_600));
        assert_eq!(render(t), "2024-05-01T10:00:00Z");
        let fraction = parse("2024-05-01T10:00:00.250Z").unwrap();
        assert_eq!(iso8601(fraction), "2024-05-01T10:00:00.250000Z");
        assert_eq!(epoch(fraction), Value::from(1_714_557_600.25));
        assert_eq!(parse("yesterday"), None);
        let float = from_epoch(1_764_561_305.441).unwrap();
        assert_eq!(render(float), "2025-12-01T03:55:05.441Z");
    }
}

//! One duration format for every flag: humantime's (`500ms`, `30s`, `15m`, `1h30m`, `2d`).

use std::time::Duration;

/// The longest duration a flag takes: a year is longer than any wait or watch needs, and keeps
/// deadlines far from the clock's limits.
pub const MAX: Duration = Duration::from_secs(365 * 86_400);

/// Parses `text` with humantime; overflow and anything past [`MAX`] are errors.
///
/// # Errors
/// Not a duration, or too long.
pub fn parse(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); e.g. 500ms, 30s, 15m, 1h30m"))?;
    if duration > MAX {
        return Err(format!(
            "`{text}` is longer than the longest allowed (365d)"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses_and_overflow_is_an_error() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("99999999999999999999999s").is_err());
        assert!(parse("366d").unwrap_err().contains("longest"));
        assert!(parse("1.5").is_err());
        assert!(parse("fast").is_err());
    }
}

//! A clock the test moves by hand.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::event::payload::DEFAULT_TIME;
use crate::handler::Clock;

/// A [`Clock`] that stands still until the test advances it; it starts at the time of the built
/// events ([`DEFAULT_TIME`]).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock at [`DEFAULT_TIME`].
    ///
    /// # Panics
    /// Never: the start time is a valid constant.
    #[must_use]
    pub fn new() -> Self {
        let start = DateTime::parse_from_rfc3339(DEFAULT_TIME)
            .expect("a valid start time")
            .with_timezone(&Utc);
        Self(Mutex::new(start))
    }

    /// Moves the clock forward.
    ///
    /// # Panics
    /// When `by` is too large for a date.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).expect("a duration that fits a date");
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

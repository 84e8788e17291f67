//! When the sweep heartbeats a held lifecycle action, and which hooks are too short for the
//! sweep to keep alive.
//!
//! # Guarantees
//! - A held action is heartbeated at every sweep that may be the last before its hook lapses:
//!   when less than two sweep periods plus the allowed lateness remain. A sweep that starts late
//!   (by up to `sweep_lateness`), or a tick lost whole, still leaves a sweep in time.
//! - Time runs from when Auto Scaling started the action (the event's `time`) or from the last
//!   heartbeat, never from when a late event happened to be processed.
//! - A hook whose heartbeat timeout is not longer than one sweep period plus the lateness (and a
//!   safety margin) cannot be kept alive by the sweep: [`shortest_hook`] names it, so the
//!   deployment says so at start-up instead of losing instances.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::HandlerConfig;
use crate::record::LifecycleAction;

/// Kept between a heartbeat's due time and the hook's expiry: one slow control-plane call.
const SAFETY: Duration = Duration::from_secs(30);

/// A hook too short for the sweep schedule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "lifecycle hook `{hook}` of group `{group}` has a heartbeat timeout of {timeout_s} s, but the sweep runs every {period_s} s and may start {lateness_s} s late: its instances would lose their hook between two sweeps; raise the hook's HeartbeatTimeout above {needed_s} s or run the sweep more often (SweepSchedule)"
)]
pub struct HookTooShort {
    /// The group.
    pub group: String,
    /// The hook.
    pub hook: String,
    /// Its heartbeat timeout, seconds.
    pub timeout_s: u64,
    /// The sweep period, seconds.
    pub period_s: u64,
    /// The allowed lateness, seconds.
    pub lateness_s: u64,
    /// The shortest timeout the schedule can keep alive, seconds.
    pub needed_s: u64,
}

/// The shortest heartbeat timeout the sweep schedule can keep alive: one period, the lateness
/// of a sweep (never more than another period: the next tick comes then anyway) and a reserve.
#[must_use]
pub fn shortest_hook(config: &HandlerConfig) -> Duration {
    config.sweep_period + config.sweep_lateness.min(config.sweep_period) + SAFETY
}

impl HandlerConfig {
    /// Checks that the sweep can keep a hook with `timeout` alive.
    ///
    /// # Errors
    /// [`HookTooShort`], naming the hook and the fix.
    pub fn check_hook(
        &self,
        group: &str,
        hook: &str,
        timeout: Duration,
    ) -> Result<(), HookTooShort> {
        let needed = shortest_hook(self);
        if timeout > needed {
            return Ok(());
        }
        Err(HookTooShort {
            group: group.to_string(),
            hook: hook.to_string(),
            timeout_s: timeout.as_secs(),
            period_s: self.sweep_period.as_secs(),
            lateness_s: self.sweep_lateness.as_secs(),
            needed_s: needed.as_secs(),
        })
    }
}

/// True when the sweep at `now` must heartbeat `action` (hook heartbeat timeout `timeout`)
/// because the next sweep may come too late.
#[must_use]
pub fn heartbeat_due(
    action: &LifecycleAction,
    timeout: Duration,
    now: DateTime<Utc>,
    config: &HandlerConfig,
) -> bool {
    let last = action.last_heartbeat.unwrap_or(action.started_at);
    let expires = last + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    // Heartbeat when the hook could lapse before the sweep after next: a tick lost whole (every
    // retry of it failed) is then survived too.
    let window = config.sweep_period + shortest_hook(config);
    let next_chance = now + chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    next_chance >= expires
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(started: DateTime<Utc>) -> LifecycleAction {
        LifecycleAction {
            token: Some("t".into()),
            hook: "launch-hook".into(),
            group: "web".into(),
            transition: "autoscaling:EC2_INSTANCE_LAUNCHING".into(),
            event_id: "e".into(),
            metadata: None,
            started_at: started,
            last_heartbeat: None,
            origin: None,
            destination: None,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_hook_is_heartbeated_while_the_sweep_after_next_could_come_too_late() {
        let config = HandlerConfig::default();
        let hook = Duration::from_secs(900);
        let held = action(at(0));
        // Two 300 s periods + 240 s lateness + 30 s safety = 870 s: due once 30 s are spent.
        assert!(!heartbeat_due(&held, hook, at(29), &config));
        assert!(heartbeat_due(&held, hook, at(30), &config));
        let mut beaten = held.clone();
        beaten.last_heartbeat = Some(at(300));
        assert!(!heartbeat_due(&beaten, hook, at(329), &config));
        assert!(heartbeat_due(&beaten, hook, at(330), &config));
        // An hour-long hook waits much longer.
        let hour = Duration::from_secs(3600);
        assert!(!heartbeat_due(&held, hour, at(2729), &config));
        assert!(heartbeat_due(&held, hour, at(2730), &config));
    }

    #[test]
    fn time_runs_from_when_auto_scaling_started_the_action() {
        let config = HandlerConfig::default();
        // Announced at 0 s, first seen by a sweep at 500 s: due already.
        assert!(heartbeat_due(
            &action(at(0)),
            Duration::from_secs(900),
            at(500),
            &config
        ));
    }

    #[test]
    fn a_hook_shorter_than_the_sweep_can_keep_alive_is_named_with_the_fix() {
        let config = HandlerConfig::default();
        let err = config
            .check_hook("web", "launch-hook", Duration::from_secs(300))
            .unwrap_err();
        assert_eq!(err.needed_s, 570);
        let message = err.to_string();
        assert!(
            message.contains("`launch-hook`") && message.contains("`web`"),
            "{message}"
        );
        assert!(message.contains("SweepSchedule"), "{message}");
        assert!(
            config
                .check_hook("web", "h", Duration::from_secs(600))
                .is_ok()
        );
        let fast = HandlerConfig {
            sweep_period: Duration::from_secs(60),
            ..HandlerConfig::default()
        };
        assert!(
            fast.check_hook("web", "h", Duration::from_secs(300))
                .is_ok()
        );
    }
}

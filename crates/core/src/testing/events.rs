//! Decoded events for tests: one-line shortcuts over the production payload builders of
//! [`event::payload`](crate::event::payload), all with the event id first, then the instance,
//! then what is specific. Set anything else (group, hook, token, time, kind) on the builders.

use crate::event::payload::{CommandStatusChange, LifecycleAction, Scheduled};
use crate::event::{CommandStatus, Event};

/// The launch of `instance`: group `web-asg`, hook `launch-hook`, token `token-{id}`.
#[must_use]
pub fn launch(id: &str, instance: &str) -> Event {
    LifecycleAction::launching(id, instance).event()
}

/// The termination of `instance`: group `web-asg`, hook `terminate-hook`, token `token-{id}`.
#[must_use]
pub fn terminate(id: &str, instance: &str) -> Event {
    LifecycleAction::terminating(id, instance).event()
}

/// The invocation notification of command `command_id` on `instance` reaching `status`.
#[must_use]
pub fn command(id: &str, instance: &str, command_id: &str, status: CommandStatus) -> Event {
    CommandStatusChange::new(id, instance, command_id, status).event()
}

/// The scheduled event of rule `rule` (the sweep's is `reconcile` by default).
#[must_use]
pub fn scheduled(id: &str, rule: &str) -> Event {
    Scheduled::new(id, rule).event()
}

//! Instance status and the group aggregate: the kstatus idea for Auto Scaling instances.
//!
//! Each instance's [`InstanceStatus`] is computed from its record and the model's [`Graph`] by
//! [`StatusRules`]; [`aggregate`] folds the statuses of a group into one; the [`Resolver`] reads
//! records (and group membership) and waits for a desired status as a stream of [`WaitEvent`]s.
//!
//! # Rules, from the graph's data
//!
//! | the record | status |
//! |---|---|
//! | no state yet, a pending state (`new`) | `InProgress` |
//! | the failure state, or a state reachable from it (`abandoned`) | `Failed` |
//! | a stable state (`ready`) | `Current` |
//! | a terminal state off the failure path (`terminated`) | `Terminated` (`Current` in a model without stable states, whose lifecycle ends at launch) |
//! | marked gone (left its group before a terminal state), off the failure path | `Terminated` |
//! | any other state from which a stable state can still be reached (`join_cluster`) | `InProgress` |
//! | any other state, which can only end in a terminal state or back in the warm pool (`draining`) | `Terminating` |
//! | a state the model does not declare | `Unknown` |
//!
//! The [`Resolver`] adds `NotFound` (a group member with no record) and `Unknown` (the record
//! could not be read; the error is kept in the message).
//!
//! `Terminated` is a seventh status beside the six of kstatus: a wait for termination must tell an
//! instance still draining (`Terminating`) from one that is done. When waiting for `Terminated`,
//! `NotFound` counts as reached (the record expired and the instance left), as kstatus counts a
//! deleted object when waiting for deletion.

mod membership;
mod resolver;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use membership::{GroupMembership, MembershipError};
pub use resolver::{AbortReason, Resolver, Targets, WaitEvent};

use crate::machine::Graph;
use crate::record::InstanceRecord;

/// The status of one instance (or, aggregated, of a group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InstanceStatus {
    /// On its way to a stable state.
    InProgress,
    /// In a stable (healthy, in service) state.
    Current,
    /// In the failure state or on its path (abandoned).
    Failed,
    /// On the terminate path: can only end in a terminal state.
    Terminating,
    /// Terminated: a terminal state off the failure path, or gone from its group.
    Terminated,
    /// A member of the group with no record.
    NotFound,
    /// The record could not be read, or its state is not in the model.
    Unknown,
}

impl InstanceStatus {
    /// Every status, in display order.
    pub const ALL: [Self; 7] = [
        Self::InProgress,
        Self::Current,
        Self::Failed,
        Self::Terminating,
        Self::Terminated,
        Self::NotFound,
        Self::Unknown,
    ];

    /// The status name (`InProgress`, `Current`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Current => "Current",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
            Self::Terminated => "Terminated",
            Self::NotFound => "NotFound",
            Self::Unknown => "Unknown",
        }
    }

    /// True when this status satisfies a wait for `desired` (`NotFound` satisfies `Terminated`).
    #[must_use]
    pub fn reaches(self, desired: Self) -> bool {
        self == desired || (desired == Self::Terminated && self == Self::NotFound)
    }
}

impl std::fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The group aggregate: any `Failed` → `Failed`; else any `Unknown` → `Unknown`; else all at the
/// desired status → the desired status; else `InProgress`. An empty set is at the desired status.
#[must_use]
pub fn aggregate(
    statuses: impl IntoIterator<Item = InstanceStatus>,
    desired: InstanceStatus,
) -> InstanceStatus {
    let mut unknown = false;
    let mut all_desired = true;
    for status in statuses {
        match status {
            InstanceStatus::Failed => return InstanceStatus::Failed,
            InstanceStatus::Unknown => unknown = true,
            s => all_desired &= s.reaches(desired),
        }
    }
    if unknown {
        InstanceStatus::Unknown
    } else if all_desired {
        desired
    } else {
        InstanceStatus::InProgress
    }
}

/// The states reachable from `state` without a transition into the warm pool (conditioned on
/// `into_warm_pool`): such a transition takes the instance out of service, so a scale-in that
/// may return it to the pool is still `Terminating`.
fn back_in_service_from(graph: &Graph, state: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![state.to_string()];
    while let Some(state) = stack.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        for t in graph.outgoing(&state) {
            let into_pool = t
                .trigger
                .conditions
                .iter()
                .any(|c| c.name == "into_warm_pool");
            if let Some(dest) = t.dest.as_ref().filter(|_| !into_pool) {
                stack.push(dest.clone());
            }
        }
    }
    seen
}

/// The status rules of one model, precomputed from its graph.
#[derive(Clone, Debug)]
pub struct StatusRules {
    declared: BTreeSet<String>,
    failed: BTreeSet<String>,
    current: BTreeSet<String>,
    terminated: BTreeSet<String>,
    in_progress: BTreeSet<String>,
}

impl StatusRules {
    /// Classifies every state of the graph (see the module doc for the rules).
    #[must_use]
    pub fn new(graph: &Graph) -> Self {
        let failed = graph.failure_path();
        let mut current: BTreeSet<String> = graph
            .stable
            .iter()
            .filter(|s| !failed.contains(*s))
            .cloned()
            .collect();
        let mut terminated = BTreeSet::new();
        for state in graph.terminal.iter().filter(|s| !failed.contains(*s)) {
            if graph.stable.is_empty() {
                current.insert(state.clone());
            } else {
                terminated.insert(state.clone());
            }
        }
        let in_progress = graph
            .states
            .iter()
            .filter(|s| !failed.contains(*s) && !current.contains(*s) && !terminated.contains(*s))
            .filter(|s| {
                graph.is_pending(s)
                    || back_in_service_from(graph, s)
                        .iter()
                        .any(|r| current.contains(r))
            })
            .cloned()
            .collect();
        Self {
            declared: graph.states.iter().cloned().collect(),
            failed,
            current,
            terminated,
            in_progress,
        }
    }

    /// The status of an instance in `state` (`""`: no state written yet).
    #[must_use]
    pub fn status_of_state(&self, state: &str) -> InstanceStatus {
        if state.is_empty() || self.in_progress.contains(state) {
            InstanceStatus::InProgress
        } else if self.failed.contains(state) {
            InstanceStatus::Failed
        } else if self.current.contains(state) {
            InstanceStatus::Current
        } else if self.terminated.contains(state) {
            InstanceStatus::Terminated
        } else if self.declared.contains(state) {
            InstanceStatus::Terminating
        } else {
            InstanceStatus::Unknown
        }
    }

    /// The status of an instance from its record.
    #[must_use]
    pub fn status_of(&self, record: &InstanceRecord) -> InstanceStatus {
        let status = self.status_of_state(record.state());
        match status {
            InstanceStatus::Failed | InstanceStatus::Unknown => status,
            _ if record.gone => InstanceStatus::Terminated,
            _ => status,
        }
    }

    /// The full result for a record.
    #[must_use]
    pub fn resolve(&self, record: &InstanceRecord) -> ResourceResult {
        let status = self.status_of(record);
        let state = record.state();
        let mut message = if state.is_empty() {
            "no state written yet".to_string()
        } else {
            format!("in `{state}`")
        };
        if !state.is_empty() && status == InstanceStatus::Unknown {
            message.push_str(" (not a state of the model)");
        }
        if let Some(at) = record.entered_at {
            message.push_str(&format!(
                " since {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        if record.gone && status == InstanceStatus::Terminated && !self.terminated.contains(state) {
            message.push_str("; left its group before finishing");
        }
        if let Some(error) = &record.last_error {
            message.push_str(&format!("; last error: {error}"));
        }
        ResourceResult {
            instance: record.ident.clone(),
            status,
            state: record.status.clone(),
            entered_at: record.entered_at,
            last_error: record.last_error.clone(),
            group: record.group.clone(),
            message,
        }
    }
}

/// The status of one instance with what explains it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceResult {
    /// The instance id.
    pub instance: String,
    /// Its status.
    pub status: InstanceStatus,
    /// Its state, when it has a record with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When it entered the state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entered_at: Option<DateTime<Utc>>,
    /// The last error on its record, or why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Its Auto Scaling group, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A human message: the state, since when, the last error. It holds no elapsed time, so that
    /// it changes only when the instance does (see [`ResourceResult::time_in_state`]).
    pub message: String,
}

impl ResourceResult {
    /// A group member with no record.
    #[must_use]
    pub fn not_found(instance: impl Into<String>) -> Self {
        Self::bare(
            instance.into(),
            InstanceStatus::NotFound,
            "no record".into(),
            None,
        )
    }

    /// An instance whose record could not be read.
    #[must_use]
    pub fn unknown(instance: impl Into<String>, error: impl std::fmt::Display) -> Self {
        let error = error.to_string();
        Self::bare(
            instance.into(),
            InstanceStatus::Unknown,
            format!("failed to read the record: {error}"),
            Some(error),
        )
    }

    fn bare(
        instance: String,
        status: InstanceStatus,
        message: String,
        last_error: Option<String>,
    ) -> Self {
        Self {
            instance,
            status,
            state: None,
            entered_at: None,
            last_error,
            group: None,
            message,
        }
    }

    /// How long the instance has been in its state at `now`.
    #[must_use]
    pub fn time_in_state(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.entered_at
            .map(|at| (now - at).to_std().unwrap_or(Duration::ZERO))
    }

    /// The message with the time in state: `in `join_cluster` for 3m12s; last error: ...`.
    #[must_use]
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        match self.time_in_state(now) {
            Some(elapsed) => format!("{} ({} ago)", self.message, format_duration(elapsed)),
            None => self.message.clone(),
        }
    }
}

/// A short human duration: `45s`, `3m12s`, `2h05m`, `3d04h`.
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;
    use InstanceStatus::*;

    fn rules() -> StatusRules {
        StatusRules::new(Machine::example().graph())
    }

    fn record(state: &str) -> InstanceRecord {
        let mut r = InstanceRecord::new("i-1");
        r.status = (!state.is_empty()).then(|| state.to_string());
        r
    }

    #[test]
    fn pending_and_launch_states_are_in_progress() {
        let rules = rules();
        for state in [
            "",
            "new",
            "finished_cloud_init",
            "join_cluster",
            "joined_cluster",
            "updating_dns",
            "dns_updated",
            "completing_lifecycle",
        ] {
            assert_eq!(rules.status_of(&record(state)), InProgress, "{state}");
        }
    }

    #[test]
    fn stable_states_are_current() {
        assert_eq!(rules().status_of(&record("ready")), Current);
    }

    #[test]
    fn the_failure_state_and_its_path_are_failed() {
        assert_eq!(rules().status_of(&record("failure")), Failed);
        assert_eq!(rules().status_of(&record("abandoned")), Failed);
    }

    #[test]
    fn states_that_can_only_end_terminal_are_terminating() {
        for state in ["draining", "leaving_cluster", "completing_termination"] {
            assert_eq!(rules().status_of(&record(state)), Terminating, "{state}");
        }
    }

    #[test]
    fn terminal_success_is_terminated() {
        assert_eq!(rules().status_of(&record("terminated")), Terminated);
    }

    #[test]
    fn a_gone_instance_is_terminated_unless_it_failed() {
        let mut r = record("join_cluster");
        r.gone = true;
        assert_eq!(rules().status_of(&r), Terminated);
        assert!(rules().resolve(&r).message.contains("left its group"));
        let mut r = record("failure");
        r.gone = true;
        assert_eq!(rules().status_of(&r), Failed);
    }

    #[test]
    fn an_undeclared_state_is_unknown() {
        assert_eq!(rules().status_of(&record("warp_drive")), Unknown);
    }

    #[test]
    fn a_model_without_stable_states_is_current_at_its_terminal_success() {
        let yaml = "initial: a\nterminal: [done, abandoned]\nfailure: failure\nstates: [a, b, done, failure, abandoned]\n\
                    transitions:\n  - {source: a, dest: b, triggers: [{name: go}]}\n  - {source: b, dest: done, triggers: [{name: finish}]}\n\
                    \x20 - {source: failure, dest: abandoned, triggers: [{name: abandon}]}\n";
        let machine = Machine::from_yaml("batch.yaml", yaml).unwrap();
        let rules = StatusRules::new(machine.graph());
        assert_eq!(rules.status_of(&record("b")), InProgress);
        assert_eq!(rules.status_of(&record("done")), Current);
        assert_eq!(rules.status_of(&record("abandoned")), Failed);
    }

    #[test]
    fn the_message_names_state_entry_time_and_last_error() {
        let mut r = record("join_cluster");
        r.entered_at = Some("2024-05-01T12:00:00Z".parse().unwrap());
        r.last_error = Some("SendCommand throttled".into());
        let result = rules().resolve(&r);
        assert_eq!(
            result.message,
            "in `join_cluster` since 2024-05-01T12:00:00Z; last error: SendCommand throttled"
        );
        let now = "2024-05-01T12:03:12Z".parse().unwrap();
        assert_eq!(result.time_in_state(now), Some(Duration::from_secs(192)));
        assert!(result.describe(now).ends_with("(3m12s ago)"));
    }

    #[test]
    fn any_failed_makes_the_aggregate_failed() {
        assert_eq!(aggregate([Current, Unknown, Failed], Current), Failed);
    }

    #[test]
    fn unknown_wins_over_progress_but_not_over_failure() {
        assert_eq!(aggregate([Current, Unknown, InProgress], Current), Unknown);
    }

    #[test]
    fn all_at_the_desired_status_is_that_status() {
        assert_eq!(aggregate([Current, Current], Current), Current);
        assert_eq!(aggregate([Terminated, NotFound], Terminated), Terminated);
    }

    #[test]
    fn a_mix_without_failure_or_unknown_is_in_progress() {
        assert_eq!(aggregate([Current, InProgress], Current), InProgress);
        assert_eq!(aggregate([Current, NotFound], Current), InProgress);
        assert_eq!(aggregate([Terminating, Terminated], Terminated), InProgress);
    }

    #[test]
    fn an_empty_set_is_at_the_desired_status() {
        assert_eq!(aggregate([], Current), Current);
        assert_eq!(aggregate([], Terminated), Terminated);
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(format_duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(format_duration(Duration::from_secs(273_600)), "3d04h");
    }
}

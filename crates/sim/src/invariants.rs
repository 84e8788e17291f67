//! The guarantees of ARCHITECTURE.md as checks, run during and after a simulation. Every
//! violation names the instance, the simulated time and the instance's recent event trail.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::asg::{ActionEnd, Lifecycle, SimInstance};
use super::trail::TrailLine;
use super::world::{Millis, secs};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::record::{HistoryEntry, InstanceRecord, SharedName};
use asg_lifecycle::store::Commit;

/// How many trail lines are kept per instance.
const TRAIL_LIMIT: usize = 40;
/// How many violations are kept in full (the count goes on).
const VIOLATION_LIMIT: usize = 200;

/// One broken guarantee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The instance.
    pub instance: String,
    /// Simulated time, e.g. `"312.5s"`.
    pub at: String,
    /// What was broken.
    pub message: String,
    /// The instance's recent events, oldest first.
    pub trail: Vec<String>,
}

/// Collects trails, transitions and violations.
pub struct Checker {
    machine: Arc<Machine>,
    /// Edges on a cycle of the graph: only those may be taken twice (destinations by source).
    cyclic: HashMap<SharedName, HashSet<SharedName>>,
    /// Per instance (looked up by id, never iterated: a hash map).
    trails: HashMap<String, VecDeque<(Millis, TrailLine)>>,
    histories: HashMap<String, Vec<HistoryEntry>>,
    /// Violations, the first [`VIOLATION_LIMIT`] in full.
    pub violations: Vec<Violation>,
    /// All violations found.
    pub violation_count: u64,
    /// Transitions written.
    pub transitions: u64,
    /// When each instance first reached a stable state.
    pub ready_at: HashMap<String, Millis>,
    /// SSM intents: the last unsent intent written per instance, and the attempts taken over.
    intents: Intents,
}

/// The SSM intents the checker has seen written: an intent renewed unsent (same attempt, new
/// `intent_at`) was taken over from a presumed-crashed writer; only then may the handler list
/// commands for its attempt.
#[derive(Default)]
struct Intents {
    /// The last unsent intent per instance: (attempt id, `intent_at`).
    unsent: HashMap<String, (String, chrono::DateTime<chrono::Utc>)>,
    /// Attempts whose intent was taken over.
    taken_over: HashSet<String>,
}

impl Checker {
    /// A checker for a model.
    #[must_use]
    pub fn new(machine: &Arc<Machine>) -> Self {
        let graph = machine.graph();
        let mut cyclic: HashMap<SharedName, HashSet<SharedName>> = HashMap::new();
        for state in &graph.states {
            let mut dests: Vec<String> = graph
                .outgoing(state)
                .map(|t| t.dest.clone().unwrap_or_else(|| state.clone()))
                .collect();
            dests.push(graph.failure.clone());
            for dest in dests {
                if graph.reachable_from([dest.clone()]).contains(state) {
                    cyclic
                        .entry(state.as_str().into())
                        .or_default()
                        .insert(dest.into());
                }
            }
        }
        Self {
            machine: machine.clone(),
            cyclic,
            trails: HashMap::new(),
            histories: HashMap::new(),
            violations: Vec::new(),
            violation_count: 0,
            transitions: 0,
            ready_at: HashMap::new(),
            intents: Intents::default(),
        }
    }

    /// Starts the trail of an instance.
    pub fn register(&mut self, ident: &str) {
        self.trails.entry(ident.to_string()).or_default();
    }

    /// Adds a line to an instance's trail (ignored for unknown instances).
    pub fn trail(&mut self, ident: &str, at: Millis, line: impl Into<TrailLine>) {
        if let Some(trail) = self.trails.get_mut(ident) {
            if trail.len() == TRAIL_LIMIT {
                trail.pop_front();
            }
            trail.push_back((at, line.into()));
        }
    }

    /// Records a violation with the instance's trail.
    pub fn violation(&mut self, ident: &str, at: Millis, message: impl Into<String>) {
        self.violation_count += 1;
        if self.violations.len() < VIOLATION_LIMIT {
            let trail = self.trail_of(ident);
            self.violations.push(Violation {
                instance: ident.to_string(),
                at: secs(at),
                message: message.into(),
                trail,
            });
        }
    }

    /// Checks a successful write: every transition is an edge of the model, continues from the
    /// last one, and no step is recorded twice; transitions written together share the write's
    /// version.
    pub fn on_commit(&mut self, commit: &Commit, written: &InstanceRecord, now: Millis) {
        self.note_intent(written, now);
        let before = self
            .histories
            .get(commit.ident.as_str())
            .and_then(|h| h.last())
            .map(|last| last.version);
        for entry in &commit.history {
            self.on_transition(commit.ident.as_str(), entry, before, written, now);
        }
    }

    /// Checks one transition of a write; `before` is the version of the last transition written
    /// by an earlier write.
    fn on_transition(
        &mut self,
        ident: &str,
        entry: &HistoryEntry,
        before: Option<u64>,
        written: &InstanceRecord,
        now: Millis,
    ) {
        self.transitions += 1;
        let (from, to, trigger, event_id) = (
            entry.from.clone(),
            entry.to.clone(),
            entry.trigger.clone(),
            entry.event_id.clone(),
        );
        let version = written.version;
        self.trail(
            ident,
            now,
            TrailLine::lazy(move |f| {
                write!(
                    f,
                    "transition {from} → {to} ({trigger}) v{version} by {event_id}"
                )
            }),
        );
        let graph = self.machine.graph();
        let mut problems = Vec::new();
        if !graph.has_edge(&entry.from, &entry.to) {
            problems.push(format!(
                "transition {} → {} is not an edge of the model",
                entry.from, entry.to
            ));
        }
        if !self.histories.contains_key(ident) {
            self.histories.insert(ident.to_string(), Vec::new());
        }
        let history = self
            .histories
            .get_mut(ident)
            .unwrap_or_else(|| unreachable!());
        if let Some(last) = history.last() {
            if last.to != entry.from {
                problems.push(format!(
                    "transition {} → {} does not continue from the last recorded state `{}`",
                    entry.from, entry.to, last.to
                ));
            }
            if before.is_some_and(|v| entry.version <= v) || entry.version < last.version {
                problems.push(format!(
                    "transition {} → {} recorded at version {} after version {}",
                    entry.from, entry.to, entry.version, last.version
                ));
            }
        }
        let cyclic = self
            .cyclic
            .get(&*entry.from)
            .is_some_and(|dests| dests.contains(&*entry.to));
        if !cyclic
            && history
                .iter()
                .any(|h| h.from == entry.from && h.to == entry.to && h.trigger == entry.trigger)
        {
            problems.push(format!(
                "step {} → {} ({}) recorded twice",
                entry.from, entry.to, entry.trigger
            ));
        }
        history.push(entry.clone());
        if graph.stable.contains(&*entry.to) && !self.ready_at.contains_key(ident) {
            self.ready_at.insert(ident.to_string(), now);
        }
        for problem in problems {
            self.violation(ident, now, problem);
        }
    }

    /// Notes the unsent SSM intent a write left on the record; the same attempt renewed with a
    /// new `intent_at` is a takeover.
    fn note_intent(&mut self, written: &InstanceRecord, now: Millis) {
        let ident = written.ident.as_str();
        let unsent = written
            .pending_command
            .as_ref()
            .filter(|p| p.command_id.is_none())
            .map(|p| (p.attempt_id.clone(), p.intent_at));
        let Some((attempt, at)) = unsent else {
            self.intents.unsent.remove(ident);
            return;
        };
        let renewed = self
            .intents
            .unsent
            .get(ident)
            .is_some_and(|(a, t)| *a == attempt && *t != at);
        if renewed {
            self.trail(ident, now, format!("SSM intent [{attempt}] taken over"));
            self.intents.taken_over.insert(attempt.clone());
        }
        match self.intents.unsent.get_mut(ident) {
            Some(unsent) => *unsent = (attempt, at),
            None => {
                self.intents.unsent.insert(ident.to_string(), (attempt, at));
            }
        }
    }

    /// Checks a `ListCommands` for the attempt `tag`: only an invocation taking over an intent
    /// looks for an earlier command; on the happy path the fresh intent's command is sent
    /// without one.
    pub fn on_list_commands(&mut self, ident: &str, tag: &str, now: Millis) {
        self.trail(ident, now, format!("ListCommands [{tag}]"));
        if !self.intents.taken_over.contains(tag) {
            self.violation(
                ident,
                now,
                format!("ListCommands for attempt `{tag}`, whose intent was never taken over (no ListCommands on the happy path)"),
            );
        }
    }

    /// A lifecycle action timed out: a violation unless the instance never reached the initial
    /// state (cloud-init never finished), where the timeout is the expected end.
    pub fn on_timeout(
        &mut self,
        ident: &str,
        now: Millis,
        launching: bool,
        record: Option<&InstanceRecord>,
    ) {
        let state = record.map_or("", InstanceRecord::state);
        let kind = if launching { "launch" } else { "terminate" };
        self.trail(
            ident,
            now,
            format!("{kind} lifecycle action timed out (state `{state}`)"),
        );
        if !self.machine.graph().is_pending(state) {
            let waiting = record
                .map(|r| {
                    format!(
                        "pending command {:?}, in flight {:?}",
                        r.pending_command,
                        r.in_flight
                            .as_ref()
                            .map(|f| (&f.event_id, &f.pending_after))
                    )
                })
                .unwrap_or_default();
            self.trail(ident, now, waiting);
            self.violation(ident, now, format!("the {kind} lifecycle action timed out while the instance was in `{state}` (the machine should have completed it)"));
        }
    }

    /// Checks that an instance has settled: not held by a hook, and the group and the store
    /// agree (in service ⇔ a stable state; terminated ⇔ a terminal state, marked gone, or never
    /// initialized).
    ///
    /// # Errors
    /// What does not hold.
    pub fn settled(
        &self,
        instance: &SimInstance,
        record: Option<&InstanceRecord>,
    ) -> Result<(), String> {
        let graph = self.machine.graph();
        let state = record.map_or("", InstanceRecord::state);
        match instance.lifecycle {
            Lifecycle::PendingWait | Lifecycle::TerminatingWait | Lifecycle::WarmedPendingWait => {
                Err(format!(
                    "still held by its lifecycle hook ({:?}); the store says `{state}`",
                    instance.lifecycle
                ))
            }
            Lifecycle::InService if graph.stable.contains(state) => Ok(()),
            // Prepared in the warm pool: the record rests, neither ended nor failed nor pending.
            Lifecycle::Warmed
                if record.is_some()
                    && !graph.is_terminal(state)
                    && !graph.is_pending(state)
                    && !self.machine.is_on_failure_path(state)
                    && !graph.stable.contains(state) =>
            {
                Ok(())
            }
            Lifecycle::Warmed => Err(format!(
                "in the warm pool, but the store says `{state}`, not a resting state"
            )),
            Lifecycle::InService => Err(format!(
                "in service, but the store says `{state}`, not a stable state"
            )),
            Lifecycle::Terminated if graph.is_terminal(state) => Ok(()),
            // The sweep found it gone from its group and marked the record so: they agree.
            Lifecycle::Terminated if record.is_some_and(|r| r.gone) => Ok(()),
            Lifecycle::Terminated if graph.is_pending(state) && instance.cloud_init_never => Ok(()),
            Lifecycle::Terminated => Err(format!(
                "terminated, but the store says `{state}`, not a terminal state"
            )),
        }
    }

    /// The final checks: every lifecycle action the machine finished was completed.
    pub fn finish(
        &mut self,
        ident: &str,
        instance: &SimInstance,
        record: Option<&InstanceRecord>,
        now: Millis,
    ) {
        let graph = self.machine.graph();
        let state = record.map_or("", InstanceRecord::state);
        let finished = graph.is_terminal(state) || graph.stable.contains(state);
        if let Some(action) = instance.actions.last()
            && finished
            && action.end == ActionEnd::Active
            && record.is_some_and(|r| r.lifecycle_action.is_none())
        {
            self.violation(
                ident,
                now,
                format!(
                    "the machine finished in `{state}` but the lifecycle action was never completed"
                ),
            );
        }
    }

    /// The instance's trail.
    #[must_use]
    pub fn trail_of(&self, ident: &str) -> Vec<String> {
        self.trails
            .get(ident)
            .map(|t| {
                t.iter()
                    .map(|(at, line)| format!("{} {line}", secs(*at)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::record::PendingCommand;

    fn with_intent(attempt: &str, at_secs: i64) -> InstanceRecord {
        let mut record = InstanceRecord::new("i-1");
        let at = chrono::DateTime::from_timestamp(at_secs, 0).unwrap_or_default();
        record.pending_command = Some(PendingCommand::intent(attempt, "join", at));
        record
    }

    fn checker() -> Checker {
        let mut checker = Checker::new(&Arc::new(Machine::example()));
        checker.register("i-1");
        checker
    }

    #[test]
    fn listing_commands_for_a_freshly_written_intent_is_a_violation() {
        let mut checker = checker();
        checker.note_intent(&with_intent("i-1:a:join:v1", 10), 10_000);
        checker.on_list_commands("i-1", "i-1:a:join:v1", 11_000);
        assert_eq!(checker.violation_count, 1);
        assert!(checker.violations[0].message.contains("never taken over"));
    }

    #[test]
    fn listing_commands_after_a_takeover_is_no_violation() {
        let mut checker = checker();
        checker.note_intent(&with_intent("i-1:a:join:v1", 10), 10_000);
        checker.note_intent(&with_intent("i-1:a:join:v1", 100), 100_000);
        checker.on_list_commands("i-1", "i-1:a:join:v1", 101_000);
        assert_eq!(checker.violation_count, 0);
    }
}

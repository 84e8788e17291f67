//! The pure step: `(graph, record, stimulus) → Decision`.

use std::fmt::Write as _;

use super::Machine;
use super::graph::Transition;
use super::index::{Guarded, StateHint};
use crate::event::Stimulus;
use crate::record::{InstanceRecord, SharedName};
use crate::tasks::ConditionContext;

/// A trigger that fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing<'m> {
    /// The transition (and its trigger).
    pub transition: &'m Transition,
    /// The state it leaves (the model's copy of the name: clone it to keep it).
    pub from: &'m SharedName,
    /// The state it enters (`from` for an internal transition).
    pub to: &'m SharedName,
    /// The trigger's name (the model's copy).
    pub trigger_name: &'m SharedName,
    /// Condition errors passed over because of `ignore_errors`.
    pub ignored_errors: Vec<String>,
    /// Where the state it enters is among the model's: where the next step looks first.
    pub(crate) entered: StateHint,
}

impl Firing<'_> {
    /// The trigger's name.
    #[must_use]
    pub fn trigger(&self) -> &str {
        &self.transition.trigger.name
    }

    /// True for an internal transition (tasks run, the state stays).
    #[must_use]
    pub fn is_internal(&self) -> bool {
        self.transition.dest.is_none()
    }
}

/// What the machine decides for a record and a stimulus.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision<'m> {
    /// A trigger fires.
    Fire(Firing<'m>),
    /// Nothing fires; the reason says why.
    Stay {
        /// Why nothing fires.
        reason: String,
    },
    /// A condition failed to evaluate (without `ignore_errors`): the instance goes to failure.
    ConditionError {
        /// The trigger being evaluated.
        trigger: String,
        /// The condition that failed.
        condition: String,
        /// Its error.
        error: String,
    },
    /// The record's state is not a state of the model.
    UnknownState {
        /// The state found on the record.
        state: String,
    },
}

/// A transition a look-ahead found would fire ([`Machine::look_ahead`]): fired by
/// [`Machine::fire_found`] without deciding again, when the record and the stimulus are as the
/// look-ahead saw them.
pub(crate) struct Found<'m> {
    k: usize,
    state_name: &'m SharedName,
    at: StateHint,
    ignored_errors: Vec<String>,
}

/// What [`Machine::look_ahead`] found.
pub(crate) enum LookAhead<'m> {
    /// Nothing fires: [`Decision::Stay`].
    Quiescent,
    /// This fires.
    Fires(Found<'m>),
    /// A condition error or an unknown state.
    Other,
}

/// What [`Machine::decide`] found: the transition that fires (by index, named by the caller
/// only when it needs the names), or another decision.
enum Decided<'m> {
    Fires {
        k: usize,
        state_name: &'m SharedName,
        at: StateHint,
        ignored_errors: Vec<String>,
    },
    Other(Decision<'m>),
}

enum Guard {
    Pass(Vec<String>),
    Blocked(String),
    Error { condition: String, error: String },
}

/// `explain`: whether a blocked guard says why (a caller asking only whether anything fires
/// does not need it).
fn evaluate_guard(machine: &Machine, k: usize, ctx: ConditionContext<'_>, explain: bool) -> Guard {
    let trigger = &machine.graph().transitions[k].trigger;
    let mut ignored = Vec::new();
    let mut check = |guarded: Guarded<'_>, want: bool| -> Result<bool, Guard> {
        let call = guarded.call;
        let Some(condition) = guarded.condition else {
            return Err(Guard::Error {
                condition: call.name.clone(),
                error: "unknown condition".into(),
            });
        };
        match condition.evaluate(ctx, &call.args) {
            Ok(value) => Ok(value == want),
            Err(error) if trigger.ignore_errors => {
                ignored.push(format!("condition `{}`: {error}", call.name));
                Ok(true)
            }
            Err(error) => Err(Guard::Error {
                condition: call.name.clone(),
                error,
            }),
        }
    };
    for guarded in machine.index.guards(machine.graph(), k, false) {
        let name = guarded.call;
        match check(guarded, true) {
            Ok(true) => {}
            Ok(false) if !explain => return Guard::Blocked(String::new()),
            Ok(false) => return Guard::Blocked(format!("`{}` is false", name.name)),
            Err(e) => return e,
        }
    }
    for guarded in machine.index.guards(machine.graph(), k, true) {
        let name = guarded.call;
        match check(guarded, false) {
            Ok(true) => {}
            Ok(false) if !explain => return Guard::Blocked(String::new()),
            Ok(false) => return Guard::Blocked(format!("unless `{}` is true", name.name)),
            Err(e) => return e,
        }
    }
    Guard::Pass(ignored)
}

impl Machine {
    /// Decides what happens to `record` on `stimulus`. Pure: runs no task, writes nothing.
    ///
    /// Triggers leaving the record's state are tried in declaration order; the first whose
    /// `conditions` all hold and whose `unless` conditions all fail fires. A scheduled event whose
    /// rule names a state or a trigger of the model targets it: from a state with a transition
    /// into that state (or a trigger of that name), only those transitions are considered.
    #[must_use]
    pub fn step<'m>(&'m self, record: &InstanceRecord, stimulus: &Stimulus) -> Decision<'m> {
        self.step_resolved(record, stimulus, None)
    }

    /// [`Self::step`] with the answers of the model's asynchronous conditions
    /// ([`crate::tasks::resolve`]); without them such a condition is an error.
    #[must_use]
    pub fn step_resolved<'m>(
        &'m self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        resolved: Option<&crate::tasks::Resolved>,
    ) -> Decision<'m> {
        self.step_hinted(record, stimulus, resolved, None)
    }

    /// [`Self::step_resolved`], with where the record's state probably is among the model's (the
    /// state the last firing entered: [`Firing::entered`]).
    pub(crate) fn step_hinted<'m>(
        &'m self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        resolved: Option<&crate::tasks::Resolved>,
        hint: Option<StateHint>,
    ) -> Decision<'m> {
        match self.decide(record, stimulus, resolved, true, hint) {
            Decided::Fires {
                k,
                state_name,
                at,
                ignored_errors,
            } => self.fire_found(Found {
                k,
                state_name,
                at,
                ignored_errors,
            }),
            Decided::Other(decision) => decision,
        }
    }

    /// The decision [`Self::step`] takes for a transition a look-ahead found.
    pub(crate) fn fire_found<'m>(&'m self, found: Found<'m>) -> Decision<'m> {
        let Found {
            k,
            state_name,
            at,
            ignored_errors,
        } = found;
        let (trigger_name, dest) = self.index.names(k);
        Decision::Fire(Firing {
            transition: &self.graph().transitions[k],
            from: state_name,
            to: dest.unwrap_or(state_name),
            trigger_name,
            ignored_errors,
            entered: self.index.entered(k, at),
        })
    }

    /// What [`Self::step`] would decide for `record` on `stimulus`, without naming it: whether
    /// nothing fires and, when something does, which transition ([`Self::fire_found`] fires it).
    /// Conditions that ask AWS are errors here, as in [`Self::step`]. `hint`: where the record's
    /// state probably is among the model's ([`Firing::entered`]).
    pub(crate) fn look_ahead<'m>(
        &'m self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        hint: Option<StateHint>,
    ) -> LookAhead<'m> {
        match self.decide(record, stimulus, None, false, hint) {
            Decided::Fires {
                k,
                state_name,
                at,
                ignored_errors,
            } => LookAhead::Fires(Found {
                k,
                state_name,
                at,
                ignored_errors,
            }),
            Decided::Other(Decision::Stay { .. }) => LookAhead::Quiescent,
            Decided::Other(_) => LookAhead::Other,
        }
    }

    /// True when nothing fires for `record` on `stimulus`: [`Self::step`] decides
    /// [`Decision::Stay`]. Cheaper than stepping: the reason is not written.
    #[must_use]
    pub fn is_quiescent(&self, record: &InstanceRecord, stimulus: &Stimulus) -> bool {
        matches!(
            self.look_ahead(record, stimulus, None),
            LookAhead::Quiescent
        )
    }

    /// [`Self::step_resolved`]; only when `explain` does a [`Decision::Stay`] say why and a
    /// firing trigger is only identified (the caller names it: [`Decided`]).
    fn decide<'m>(
        &'m self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        resolved: Option<&crate::tasks::Resolved>,
        explain: bool,
        hint: Option<StateHint>,
    ) -> Decided<'m> {
        let quiet = |reason: &dyn Fn() -> String| {
            Decided::Other(Decision::Stay {
                reason: if explain { reason() } else { String::new() },
            })
        };
        let graph = self.graph();
        let state = record.state();
        let Some((state_name, terminal, outgoing, at)) = self.index.state(state, hint) else {
            return Decided::Other(Decision::UnknownState {
                state: state.to_string(),
            });
        };
        if terminal {
            return quiet(&|| format!("`{state}` is terminal"));
        }
        if outgoing.is_empty() {
            return quiet(&|| format!("no transition leaves `{state}`"));
        }
        // A scheduled event naming a destination or trigger out of this state (its rule) tries
        // those transitions only.
        let targeted = |t: &Transition| match stimulus {
            Stimulus::Scheduled(event) if event.rule != state => {
                t.dest.as_deref() == Some(event.rule.as_str()) || t.trigger.name == event.rule
            }
            _ => false,
        };
        let any_targeted = matches!(stimulus, Stimulus::Scheduled(_))
            && outgoing.iter().any(|&k| targeted(&graph.transitions[k]));
        let candidates = outgoing
            .iter()
            .map(|&k| (k, &graph.transitions[k]))
            .filter(|(_, t)| !any_targeted || targeted(t));
        let mut blocked = String::new();
        for (k, transition) in candidates {
            let ctx = ConditionContext {
                record,
                stimulus,
                trigger: &transition.trigger.name,
                dest: transition.dest.as_deref(),
                resolved,
            };
            match evaluate_guard(self, k, ctx, explain) {
                Guard::Pass(ignored_errors) => {
                    return Decided::Fires {
                        k,
                        state_name,
                        at,
                        ignored_errors,
                    };
                }
                Guard::Blocked(_) if !explain => {}
                Guard::Blocked(why) => {
                    if !blocked.is_empty() {
                        blocked.push_str("; ");
                    }
                    let _ = write!(blocked, "`{}`: {why}", transition.trigger.name);
                }
                Guard::Error { condition, error } => {
                    return Decided::Other(Decision::ConditionError {
                        trigger: transition.trigger.name.clone(),
                        condition,
                        error,
                    });
                }
            }
        }
        quiet(&|| format!("no trigger of `{state}` is enabled ({blocked})"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;

    use super::*;
    use crate::event::{
        CommandEvent, CommandEventKind, CommandStatus, LifecycleEvent, LifecycleTransition,
        ScheduledEvent,
    };
    use crate::machine::{FileModel, Model, ModelSpec};
    use crate::record::PendingCommand;
    use crate::tasks::Condition;

    fn lifecycle(transition: LifecycleTransition) -> Stimulus {
        Stimulus::Lifecycle(LifecycleEvent {
            transition,
            instance_id: "i-1".into(),
            group: "g".into(),
            hook: "h".into(),
            token: Some("t".into()),
            metadata: None,
            origin: None,
            destination: None,
            time: None,
        })
    }

    fn command(id: &str, status: CommandStatus) -> Stimulus {
        Stimulus::Command(CommandEvent {
            kind: CommandEventKind::Invocation,
            command_id: id.into(),
            instance_ids: vec!["i-1".into()],
            status,
            document_name: None,
        })
    }

    fn at(state: &str) -> InstanceRecord {
        let mut record = InstanceRecord::new("i-1");
        record.status = Some(state.into());
        record
    }

    fn fired(decision: &Decision<'_>) -> Option<(String, String, String)> {
        match decision {
            Decision::Fire(f) => Some((
                f.from.to_string(),
                f.to.to_string(),
                f.trigger().to_string(),
            )),
            _ => None,
        }
    }

    #[test]
    fn the_first_enabled_trigger_in_declaration_order_fires() {
        let machine = Machine::example();
        let decision = machine.step(
            &at("finished_cloud_init"),
            &lifecycle(LifecycleTransition::Launching),
        );
        assert_eq!(
            fired(&decision),
            Some((
                "finished_cloud_init".into(),
                "join_cluster".into(),
                "join".into()
            ))
        );
        let decision = machine.step(
            &at("finished_cloud_init"),
            &lifecycle(LifecycleTransition::Terminating),
        );
        assert_eq!(fired(&decision).unwrap().2, "terminate_early");
    }

    #[test]
    fn a_terminal_state_stays_with_a_reason() {
        let machine = Machine::example();
        let decision = machine.step(
            &at("terminated"),
            &lifecycle(LifecycleTransition::Launching),
        );
        assert!(matches!(decision, Decision::Stay { ref reason } if reason.contains("terminal")));
    }

    #[test]
    fn a_state_outside_the_model_is_reported() {
        let machine = Machine::example();
        let decision = machine.step(&at("bogus"), &lifecycle(LifecycleTransition::Launching));
        assert_eq!(
            decision,
            Decision::UnknownState {
                state: "bogus".into()
            }
        );
    }

    #[test]
    fn nothing_fires_when_no_condition_holds_and_the_reason_lists_each_trigger() {
        let machine = Machine::example();
        let decision = machine.step(
            &at("join_cluster"),
            &lifecycle(LifecycleTransition::Launching),
        );
        let Decision::Stay { reason } = decision else {
            panic!("{decision:?}")
        };
        assert!(
            reason.contains("`joined`: `command_succeeded` is false"),
            "{reason}"
        );
        assert!(reason.contains("`terminate_early`"), "{reason}");
    }

    #[test]
    fn command_conditions_only_match_the_pending_command() {
        let machine = Machine::example();
        let mut record = at("join_cluster");
        record.pending_command = Some(PendingCommand {
            attempt_id: "a".into(),
            command_id: Some("cmd-1".into()),
            trigger: "join".into(),
            deadline: None,
            intent_at: chrono::Utc::now(),
        });
        assert_eq!(
            fired(&machine.step(&record, &command("cmd-1", CommandStatus::Success)))
                .unwrap()
                .1,
            "joined_cluster"
        );
        assert_eq!(
            fired(&machine.step(&record, &command("cmd-1", CommandStatus::Failed)))
                .unwrap()
                .1,
            "failure"
        );
        assert_eq!(
            fired(&machine.step(&record, &command("cmd-1", CommandStatus::TimedOut)))
                .unwrap()
                .2,
            "command_timed_out"
        );
        assert!(matches!(
            machine.step(&record, &command("cmd-2", CommandStatus::Success)),
            Decision::Stay { .. }
        ));
        assert!(matches!(
            machine.step(&record, &command("cmd-1", CommandStatus::InProgress)),
            Decision::Stay { .. }
        ));
    }

    #[test]
    fn an_automatic_trigger_fires_on_any_stimulus() {
        let machine = Machine::example();
        let decision = machine.step(
            &at("dns_updated"),
            &Stimulus::Scheduled(ScheduledEvent {
                rule: "reconcile".into(),
            }),
        );
        assert_eq!(fired(&decision).unwrap().1, "completing_lifecycle");
    }

    struct Erring(FileModel);

    impl Model for Erring {
        fn transitions(&self) -> ModelSpec {
            self.0.transitions()
        }
        fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
            let erring =
                |_: ConditionContext<'_>, _: &Value| -> Result<bool, String> { Err("no".into()) };
            vec![("erring".into(), Arc::new(erring))]
        }
    }

    fn erring_machine(ignore: bool) -> Machine {
        let text = format!(
            "initial: a\nfailure: f\nterminal: [z]\nstates: [a, b, f, z]\ntransitions:\n  - source: a\n    dest: b\n    triggers: [{{name: go, ignore_errors: {ignore}, conditions: [erring]}}]\n  - source: [b, f]\n    dest: z\n    triggers: [{{name: end}}]\n"
        );
        Machine::from_model(&Erring(FileModel::parse("m.yaml", &text).unwrap())).unwrap()
    }

    #[test]
    fn a_condition_error_is_a_decision_of_its_own() {
        let machine = erring_machine(false);
        let decision = machine.step(&at("a"), &lifecycle(LifecycleTransition::Launching));
        assert_eq!(
            decision,
            Decision::ConditionError {
                trigger: "go".into(),
                condition: "erring".into(),
                error: "no".into()
            }
        );
    }

    #[test]
    fn ignore_errors_passes_a_failing_condition_and_notes_it() {
        let machine = erring_machine(true);
        let decision = machine.step(&at("a"), &lifecycle(LifecycleTransition::Launching));
        let Decision::Fire(firing) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(&**firing.to, "b");
        assert_eq!(firing.ignored_errors, ["condition `erring`: no"]);
    }

    #[test]
    fn an_internal_transition_keeps_the_state() {
        let machine = Machine::from_yaml(
            "m.yaml",
            "initial: a\nfailure: f\nterminal: [z]\nstates: [a, f, z]\ntransitions:\n  - source: a\n    triggers: [{name: ping, conditions: [is_launching]}]\n  - source: [a, f]\n    dest: z\n    triggers: [{name: end, conditions: [is_terminating]}]\n",
        )
        .unwrap();
        let Decision::Fire(firing) =
            machine.step(&at("a"), &lifecycle(LifecycleTransition::Launching))
        else {
            panic!()
        };
        assert!(firing.is_internal());
        assert_eq!((&**firing.from, &**firing.to), ("a", "a"));
    }

    #[test]
    fn a_scheduled_rule_naming_a_state_targets_the_transition_into_it() {
        let machine = Machine::from_yaml(
            "m.yaml",
            "initial: ready\nfailure: f\nterminal: [z]\nstable: [ready]\nstates: [ready, backup, other, f, z]\ntransitions:\n  - source: ready\n    dest: other\n    triggers: [{name: elsewhere}]\n  - source: ready\n    dest: backup\n    triggers: [{name: start_backup, conditions: [is_scheduled]}]\n  - source: [backup, other, f]\n    dest: z\n    triggers: [{name: end}]\n",
        )
        .unwrap();
        let backup = Stimulus::Scheduled(ScheduledEvent {
            rule: "backup".into(),
        });
        assert_eq!(
            fired(&machine.step(&at("ready"), &backup)).unwrap().1,
            "backup"
        );
        let other = Stimulus::Scheduled(ScheduledEvent {
            rule: "reconcile".into(),
        });
        assert_eq!(
            fired(&machine.step(&at("ready"), &other)).unwrap().1,
            "other",
            "is_scheduled is false for other rules"
        );
    }
}

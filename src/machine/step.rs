//! The pure step: `(graph, record, stimulus) → Decision`.

use std::fmt::Write as _;

use super::Machine;
use super::graph::{Call, Transition};
use crate::event::Stimulus;
use crate::record::InstanceRecord;
use crate::tasks::ConditionContext;

/// A trigger that fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing<'m> {
    /// The transition (and its trigger).
    pub transition: &'m Transition,
    /// The state it leaves.
    pub from: String,
    /// The state it enters (`from` for an internal transition).
    pub to: String,
    /// Condition errors passed over because of `ignore_errors`.
    pub ignored_errors: Vec<String>,
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

enum Guard {
    Pass(Vec<String>),
    Blocked(String),
    Error { condition: String, error: String },
}

fn evaluate_guard(machine: &Machine, transition: &Transition, ctx: ConditionContext<'_>) -> Guard {
    let trigger = &transition.trigger;
    let mut ignored = Vec::new();
    let mut check = |call: &Call, want: bool| -> Result<bool, Guard> {
        let Some(condition) = machine.registry().condition(&call.name) else {
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
    for call in &trigger.conditions {
        match check(call, true) {
            Ok(true) => {}
            Ok(false) => return Guard::Blocked(format!("`{}` is false", call.name)),
            Err(e) => return e,
        }
    }
    for call in &trigger.unless {
        match check(call, false) {
            Ok(true) => {}
            Ok(false) => return Guard::Blocked(format!("unless `{}` is true", call.name)),
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
        let graph = self.graph();
        let state = record.state();
        if !graph.has_state(state) {
            return Decision::UnknownState {
                state: state.to_string(),
            };
        }
        if graph.is_terminal(state) {
            return Decision::Stay {
                reason: format!("`{state}` is terminal"),
            };
        }
        let outgoing: Vec<&Transition> = graph.outgoing(state).collect();
        if outgoing.is_empty() {
            return Decision::Stay {
                reason: format!("no transition leaves `{state}`"),
            };
        }
        let targeted: Vec<&Transition> = match stimulus {
            Stimulus::Scheduled(event) if event.rule != state => outgoing
                .iter()
                .copied()
                .filter(|t| {
                    t.dest.as_deref() == Some(event.rule.as_str()) || t.trigger.name == event.rule
                })
                .collect(),
            _ => Vec::new(),
        };
        let candidates = if targeted.is_empty() {
            outgoing
        } else {
            targeted
        };
        let ctx = ConditionContext { record, stimulus };
        let mut blocked = String::new();
        for transition in candidates {
            match evaluate_guard(self, transition, ctx) {
                Guard::Pass(ignored_errors) => {
                    return Decision::Fire(Firing {
                        transition,
                        from: state.to_string(),
                        to: transition.dest.clone().unwrap_or_else(|| state.to_string()),
                        ignored_errors,
                    });
                }
                Guard::Blocked(why) => {
                    if !blocked.is_empty() {
                        blocked.push_str("; ");
                    }
                    let _ = write!(blocked, "`{}`: {why}", transition.trigger.name);
                }
                Guard::Error { condition, error } => {
                    return Decision::ConditionError {
                        trigger: transition.trigger.name.clone(),
                        condition,
                        error,
                    };
                }
            }
        }
        Decision::Stay {
            reason: format!("no trigger of `{state}` is enabled ({blocked})"),
        }
    }
}

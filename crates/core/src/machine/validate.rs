//! From an unchecked [`ModelSpec`] to a [`Graph`], collecting every problem.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::{Call, Graph, Transition, Trigger};
use super::spec::{CallSpec, Loc, ModelSpec, Named};
use crate::diag::{Code, Problem, ValidationReport};
use crate::tasks::Registry;

struct Checker<'a> {
    spec: &'a ModelSpec,
    registry: &'a Registry,
    problems: Vec<Problem>,
    states: BTreeSet<&'a str>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, code: Code, message: String, loc: Option<&Loc>) {
        self.problems.push(Problem {
            code,
            message,
            loc: loc.cloned(),
            file: self.spec.file.clone(),
        });
    }

    fn state(&mut self, named: &Named, role: &str) {
        if !self.states.contains(named.name.as_str()) {
            let known: Vec<&str> = self.states.iter().copied().collect();
            self.push(
                Code::UnknownState,
                format!(
                    "{role} `{}` is not a declared state (states: {})",
                    named.name,
                    known.join(", ")
                ),
                named.loc.as_ref(),
            );
        }
    }

    fn condition(&mut self, call: &CallSpec) -> Call {
        match self.registry.condition(&call.name.name) {
            None => {
                let known: Vec<&str> = self.registry.condition_names().collect();
                self.push(
                    Code::UnknownCondition,
                    format!(
                        "unknown condition `{}` (known: {})",
                        call.name.name,
                        known.join(", ")
                    ),
                    call.name.loc.as_ref(),
                );
            }
            Some(c) => {
                if let Err(message) = c.check_args(&call.args) {
                    self.push(
                        Code::InvalidArguments,
                        format!("condition `{}`: {message}", call.name.name),
                        call.name.loc.as_ref(),
                    );
                }
            }
        }
        Call {
            name: call.name.name.clone(),
            args: call.args.clone(),
        }
    }

    fn task(&mut self, call: &CallSpec) -> Call {
        match self.registry.task(&call.name.name) {
            None => {
                let known: Vec<&str> = self.registry.task_names().collect();
                self.push(
                    Code::UnknownTask,
                    format!(
                        "unknown task `{}` (known: {})",
                        call.name.name,
                        known.join(", ")
                    ),
                    call.name.loc.as_ref(),
                );
            }
            Some(t) => {
                for problem in t.check_arguments(&call.args) {
                    // At the argument at fault when the file located it, else at the task.
                    let loc = Some(&problem.pointer)
                        .filter(|p| !p.is_empty())
                        .and_then(|p| call.arg_locs.get(p))
                        .or(call.name.loc.as_ref());
                    self.push(
                        problem.code,
                        format!("task `{}`: {}", call.name.name, problem.message),
                        loc,
                    );
                }
            }
        }
        Call {
            name: call.name.name.clone(),
            args: call.args.clone(),
        }
    }
}

fn guard_key(trigger: &Trigger) -> String {
    let mut conditions: Vec<String> = trigger
        .conditions
        .iter()
        .map(|c| format!("{}{}", c.name, c.args))
        .collect();
    let mut unless: Vec<String> = trigger
        .unless
        .iter()
        .map(|c| format!("{}{}", c.name, c.args))
        .collect();
    conditions.sort();
    unless.sort();
    format!("{conditions:?}/{unless:?}")
}

/// Checks a model against the registry of conditions and tasks.
///
/// # Errors
/// A [`ValidationReport`] with every problem found.
pub fn validate(spec: &ModelSpec, registry: &Registry) -> Result<Graph, ValidationReport> {
    let mut checker = Checker {
        spec,
        registry,
        problems: Vec::new(),
        states: BTreeSet::new(),
    };
    for state in &spec.states {
        if !checker.states.insert(state.name.name.as_str()) {
            checker.push(
                Code::DuplicateState,
                format!("state `{}` is declared twice", state.name.name),
                state.name.loc.as_ref(),
            );
        }
    }
    let initial = spec.initial.clone().unwrap_or_default();
    if spec.initial.is_some() {
        checker.state(&initial, "initial state");
    }
    let failure = spec.failure.clone().unwrap_or_default();
    if spec.failure.is_some() {
        checker.state(&failure, "failure state");
    }
    for named in &spec.pending {
        checker.state(named, "pending state");
    }
    for named in &spec.terminal {
        checker.state(named, "terminal state");
    }
    for named in &spec.stable {
        checker.state(named, "stable state");
    }

    let mut transitions = Vec::new();
    // (state, trigger name) → first location, to find duplicates.
    let mut trigger_names: BTreeMap<(String, String), ()> = BTreeMap::new();
    // (state, guard) → trigger name, to find triggers that can fire together.
    let mut guards: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in &spec.transitions {
        for source in &entry.source {
            checker.state(source, "source");
        }
        if let Some(dest) = &entry.dest {
            checker.state(dest, "dest");
        }
        if entry.source.is_empty() {
            checker.push(
                Code::InvalidValue,
                "`source` names no state".into(),
                entry.loc.as_ref(),
            );
        }
        for trigger in &entry.triggers {
            let checked = Trigger {
                name: trigger.name.name.clone(),
                conditions: trigger
                    .conditions
                    .iter()
                    .map(|c| checker.condition(c))
                    .collect(),
                unless: trigger
                    .unless
                    .iter()
                    .map(|c| checker.condition(c))
                    .collect(),
                prepare: trigger.prepare.iter().map(|t| checker.task(t)).collect(),
                before: trigger.before.iter().map(|t| checker.task(t)).collect(),
                after: trigger.after.iter().map(|t| checker.task(t)).collect(),
                last: trigger.last.iter().map(|t| checker.task(t)).collect(),
                ignore_errors: trigger.ignore_errors,
                stop_after_state_change: trigger.stop_after_state_change,
                stop_after_trigger: trigger.stop_after_trigger,
            };
            let commands = trigger
                .before
                .iter()
                .chain(&trigger.after)
                .filter(|c| {
                    registry
                        .task(&c.name.name)
                        .is_some_and(|t| t.needs_intent())
                })
                .count();
            // `prepare` runs before anything is decided and `last` after the chain's intent is
            // settled: neither has an attempt whose intent could guard an SSM command.
            for (list, call) in [("prepare", &trigger.prepare), ("last", &trigger.last)]
                .into_iter()
                .flat_map(|(list, calls)| calls.iter().map(move |c| (list, c)))
            {
                let sends = registry
                    .task(&call.name.name)
                    .is_some_and(|t| t.needs_intent() || t.starts_async_work());
                if sends {
                    checker.push(
                        Code::CommandOutOfPlace,
                        format!(
                            "task `{}` of trigger `{}` starts asynchronous work (an SSM command): it may run in `before` or `after`, not in `{list}`",
                            call.name.name, checked.name
                        ),
                        call.name.loc.as_ref(),
                    );
                }
            }
            if commands > 1 {
                checker.push(
                    Code::MultipleCommands,
                    format!(
                        "trigger `{}` sends {commands} SSM commands: one transition attempt sends at most one (split it into states)",
                        checked.name
                    ),
                    trigger.name.loc.as_ref(),
                );
            }
            for source in &entry.source {
                let key = (source.name.clone(), checked.name.clone());
                if trigger_names.insert(key, ()).is_some() {
                    checker.push(
                        Code::DuplicateTrigger,
                        format!(
                            "trigger `{}` is defined twice for state `{}`",
                            checked.name, source.name
                        ),
                        trigger.name.loc.as_ref(),
                    );
                }
                let guard = (source.name.clone(), guard_key(&checked));
                if let Some(other) = guards.get(&guard) {
                    if *other != checked.name {
                        checker.push(
                            Code::AmbiguousTriggers,
                            format!(
                                "triggers `{other}` and `{}` leave `{}` under the same conditions: both could fire",
                                checked.name, source.name
                            ),
                            trigger.name.loc.as_ref(),
                        );
                    }
                } else {
                    guards.insert(guard, checked.name.clone());
                }
            }
            transitions.push(Transition {
                sources: entry.source.iter().map(|s| s.name.clone()).collect(),
                dest: entry.dest.as_ref().map(|d| d.name.clone()),
                trigger: checked,
            });
        }
    }

    let graph = Graph {
        states: spec.states.iter().map(|s| s.name.name.clone()).collect(),
        initial: initial.name.clone(),
        pending: spec.pending.iter().map(|n| n.name.clone()).collect(),
        stable: spec.stable.iter().map(|n| n.name.clone()).collect(),
        terminal: spec.terminal.iter().map(|n| n.name.clone()).collect(),
        failure: failure.name.clone(),
        timeouts: spec
            .states
            .iter()
            .filter_map(|s| s.timeout.map(|t| (s.name.name.clone(), t)))
            .collect(),
        transitions,
    };

    // Structure checks only make sense once every name is known.
    if checker.problems.is_empty() {
        let mut starts = vec![graph.initial.clone(), graph.failure.clone()];
        starts.extend(graph.pending.iter().cloned());
        let reachable = graph.reachable_from(starts);
        for state in &spec.states {
            let name = &state.name.name;
            if !reachable.contains(name) {
                checker.push(
                    Code::UnreachableState,
                    format!("state `{name}` cannot be reached from `{}`", graph.initial),
                    state.name.loc.as_ref(),
                );
            }
            let leaves = graph
                .outgoing(name)
                .any(|t| t.dest.as_deref().is_some_and(|d| d != name));
            if !leaves && !graph.is_terminal(name) && !graph.pending.contains(name) {
                let code = if *name == graph.failure {
                    Code::MissingFailurePath
                } else {
                    Code::DeadEnd
                };
                checker.push(
                    code,
                    format!("state `{name}` is not terminal but no transition leaves it"),
                    state.name.loc.as_ref(),
                );
            }
            if graph.is_terminal(name) && graph.outgoing(name).any(|t| t.dest.is_some()) {
                checker.push(
                    Code::InvalidValue,
                    format!("terminal state `{name}` has transitions leaving it"),
                    state.name.loc.as_ref(),
                );
            }
        }
        if spec.failure.is_some() && !graph.failure_path().iter().any(|s| graph.is_terminal(s)) {
            checker.push(
                Code::MissingFailurePath,
                format!(
                    "no terminal state can be reached from the failure state `{}`",
                    graph.failure
                ),
                failure.loc.as_ref(),
            );
        }
    }

    if checker.problems.is_empty() {
        Ok(graph)
    } else {
        let mut problems = checker.problems;
        problems.sort_by_key(|p| p.loc.as_ref().map(|l| (l.line, l.column)));
        problems.dedup();
        Err(ValidationReport { problems })
    }
}

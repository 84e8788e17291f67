//! The unchecked model: what a file or a [`crate::Model`] declares, with source locations.

pub use crate::diag::Loc;

use std::collections::BTreeMap;

use serde_json::Value;

/// A name with the place it was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Where it was written, when it came from a file.
    pub loc: Option<Loc>,
}

impl Named {
    /// A name without a location (from code).
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            loc: None,
        }
    }
}

/// A reference to a condition or task, with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct CallSpec {
    /// The condition's or task's name.
    pub name: Named,
    /// Its arguments (`null` when none).
    pub args: Value,
    /// Where each argument was written, by JSON pointer (`/commands/0`), when it came from a
    /// file: validation locates a problem with an argument there.
    pub arg_locs: BTreeMap<String, Loc>,
}

impl CallSpec {
    /// A call without arguments.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Named::new(name),
            args: Value::Null,
            arg_locs: BTreeMap::new(),
        }
    }

    /// A call with arguments.
    #[must_use]
    pub fn with_args(name: impl Into<String>, args: Value) -> Self {
        Self {
            name: Named::new(name),
            args,
            arg_locs: BTreeMap::new(),
        }
    }
}

/// A trigger of a transition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriggerSpec {
    /// The trigger's name.
    pub name: Named,
    /// All must hold.
    pub conditions: Vec<CallSpec>,
    /// None may hold.
    pub unless: Vec<CallSpec>,
    /// Run each time the trigger is considered, before its conditions are evaluated.
    pub prepare: Vec<CallSpec>,
    /// Run before the state is written.
    pub before: Vec<CallSpec>,
    /// Run after the state is written.
    pub after: Vec<CallSpec>,
    /// Run last, after the `after` tasks, also when the trigger's tasks failed; their own errors
    /// are logged and never fail the instance.
    pub last: Vec<CallSpec>,
    /// Task and condition errors are logged and the transition proceeds.
    pub ignore_errors: bool,
    /// Stop the chain after this transition changed the state.
    pub stop_after_state_change: bool,
    /// Stop the chain after this trigger fired (even for an internal transition).
    pub stop_after_trigger: bool,
}

impl TriggerSpec {
    /// A trigger with a name and nothing else.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Named::new(name),
            ..Self::default()
        }
    }

    /// Adds a condition.
    #[must_use]
    pub fn when(mut self, condition: CallSpec) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Adds an `unless` condition.
    #[must_use]
    pub fn unless(mut self, condition: CallSpec) -> Self {
        self.unless.push(condition);
        self
    }

    /// Adds a `prepare` task.
    #[must_use]
    pub fn prepare(mut self, task: CallSpec) -> Self {
        self.prepare.push(task);
        self
    }

    /// Adds a `last` task.
    #[must_use]
    pub fn last(mut self, task: CallSpec) -> Self {
        self.last.push(task);
        self
    }

    /// Adds a `before` task.
    #[must_use]
    pub fn before(mut self, task: CallSpec) -> Self {
        self.before.push(task);
        self
    }

    /// Adds an `after` task.
    #[must_use]
    pub fn after(mut self, task: CallSpec) -> Self {
        self.after.push(task);
        self
    }
}

/// One entry of the model: `{source, dest, triggers}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransitionSpec {
    /// One or more source states.
    pub source: Vec<Named>,
    /// The destination; absent for an internal transition.
    pub dest: Option<Named>,
    /// The triggers.
    pub triggers: Vec<TriggerSpec>,
    /// Where the entry starts.
    pub loc: Option<Loc>,
}

impl TransitionSpec {
    /// An entry from `sources` to `dest` with triggers.
    #[must_use]
    pub fn new(sources: &[&str], dest: Option<&str>, triggers: Vec<TriggerSpec>) -> Self {
        Self {
            source: sources.iter().map(|s| Named::new(*s)).collect(),
            dest: dest.map(Named::new),
            triggers,
            loc: None,
        }
    }
}

/// A declared state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateSpec {
    /// The state's name.
    pub name: Named,
    /// How long an instance may stay in it before the sweep fires `timeout` (or fails it).
    pub timeout: Option<std::time::Duration>,
}

/// A whole model, unchecked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelSpec {
    /// The file it came from (`<model>` for code).
    pub file: String,
    /// Every state.
    pub states: Vec<StateSpec>,
    /// The state cloud-init writes when it is done.
    pub initial: Option<Named>,
    /// States written before the initial one (e.g. `new`): the handler waits while in them.
    pub pending: Vec<Named>,
    /// States where the lifecycle ends.
    pub terminal: Vec<Named>,
    /// Resting states that count as done and healthy (e.g. `ready`).
    pub stable: Vec<Named>,
    /// The state errors lead to.
    pub failure: Option<Named>,
    /// The transitions.
    pub transitions: Vec<TransitionSpec>,
}

impl ModelSpec {
    /// A code model's spec with the lists given by name.
    #[must_use]
    pub fn new(states: &[&str], initial: &str, failure: &str) -> Self {
        Self {
            file: "<model>".into(),
            states: states
                .iter()
                .map(|s| StateSpec {
                    name: Named::new(*s),
                    timeout: None,
                })
                .collect(),
            initial: Some(Named::new(initial)),
            failure: Some(Named::new(failure)),
            ..Self::default()
        }
    }

    /// Declares terminal states.
    #[must_use]
    pub fn terminal(mut self, states: &[&str]) -> Self {
        self.terminal = states.iter().map(|s| Named::new(*s)).collect();
        self
    }

    /// Declares pending states.
    #[must_use]
    pub fn pending(mut self, states: &[&str]) -> Self {
        self.pending = states.iter().map(|s| Named::new(*s)).collect();
        self
    }

    /// Declares stable states.
    #[must_use]
    pub fn stable(mut self, states: &[&str]) -> Self {
        self.stable = states.iter().map(|s| Named::new(*s)).collect();
        self
    }

    /// Adds a transition.
    #[must_use]
    pub fn transition(mut self, transition: TransitionSpec) -> Self {
        self.transitions.push(transition);
        self
    }
}

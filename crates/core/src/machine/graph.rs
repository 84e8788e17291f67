//! The checked transition graph.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

/// A reference to a named condition or task, with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The name.
    pub name: String,
    /// The arguments (`null` when none).
    pub args: Value,
}

/// A trigger of a transition, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    /// The trigger's name.
    pub name: String,
    /// All must hold.
    pub conditions: Vec<Call>,
    /// None may hold.
    pub unless: Vec<Call>,
    /// Run each time the trigger is considered, before its conditions are evaluated.
    pub prepare: Vec<Call>,
    /// Run before the state is written.
    pub before: Vec<Call>,
    /// Run after the state is written.
    pub after: Vec<Call>,
    /// Run last, after the `after` tasks, also when the trigger's tasks failed; their errors are
    /// logged, never fatal.
    pub last: Vec<Call>,
    /// Errors are logged and the transition proceeds.
    pub ignore_errors: bool,
    /// Stop the chain after this transition changed the state.
    pub stop_after_state_change: bool,
    /// Stop the chain after this trigger fired.
    pub stop_after_trigger: bool,
}

/// One edge set: from any of `sources` to `dest` (or staying, when `dest` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// Source states.
    pub sources: Vec<String>,
    /// Destination; `None` for an internal transition.
    pub dest: Option<String>,
    /// The trigger.
    pub trigger: Trigger,
}

/// The checked graph of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Every state, in declaration order.
    pub states: Vec<String>,
    /// The state cloud-init writes when done.
    pub initial: String,
    /// States before the initial one.
    pub pending: BTreeSet<String>,
    /// Healthy resting states.
    pub stable: BTreeSet<String>,
    /// States where the lifecycle ends.
    pub terminal: BTreeSet<String>,
    /// The failure state.
    pub failure: String,
    /// Per-state timeouts.
    pub timeouts: Vec<(String, Duration)>,
    /// Transitions in declaration order (one per trigger).
    pub transitions: Vec<Transition>,
}

impl Graph {
    /// True for a declared state.
    #[must_use]
    pub fn has_state(&self, state: &str) -> bool {
        self.states.iter().any(|s| s == state)
    }

    /// True for a terminal state.
    #[must_use]
    pub fn is_terminal(&self, state: &str) -> bool {
        self.terminal.contains(state)
    }

    /// True for a pending state (or no state at all).
    #[must_use]
    pub fn is_pending(&self, state: &str) -> bool {
        state.is_empty() || self.pending.contains(state)
    }

    /// The transitions leaving `state`, in order.
    pub fn outgoing<'a, 's>(
        &'a self,
        state: &'s str,
    ) -> impl Iterator<Item = &'a Transition> + use<'a, 's> {
        self.transitions
            .iter()
            .filter(move |t| t.sources.iter().any(|s| s == state))
    }

    /// The timeout declared for a state.
    #[must_use]
    pub fn timeout_of(&self, state: &str) -> Option<Duration> {
        self.timeouts
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, d)| *d)
    }

    /// True when `from → to` is an edge of the graph (including moves to the failure state,
    /// which every non-terminal state has implicitly).
    #[must_use]
    pub fn has_edge(&self, from: &str, to: &str) -> bool {
        (to == self.failure && !self.is_terminal(from))
            || self
                .outgoing(from)
                .any(|t| t.dest.as_deref().unwrap_or(from) == to)
    }

    /// States reachable from the failure state (the failure path).
    #[must_use]
    pub fn failure_path(&self) -> BTreeSet<String> {
        self.reachable_from([self.failure.clone()])
    }

    /// States reachable from the given ones.
    #[must_use]
    pub fn reachable_from(&self, starts: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = starts.into_iter().collect();
        while let Some(state) = stack.pop() {
            if !seen.insert(state.clone()) {
                continue;
            }
            for t in self.outgoing(&state) {
                if let Some(dest) = &t.dest {
                    stack.push(dest.clone());
                }
            }
        }
        seen
    }
}

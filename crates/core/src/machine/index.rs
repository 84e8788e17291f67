//! The graph compiled for stepping: each state's number, whether it is terminal and the
//! transitions leaving it, and each trigger's conditions looked up once in the registry.
//!
//! [`super::Machine::step`] runs for every transition of every event; with this index it makes
//! one hash lookup of the record's state and no lookup by name after that.

use std::sync::Arc;

use super::graph::{Call, Graph};
use crate::record::SharedName;
use crate::tasks::{Condition, Registry};

/// A condition of a trigger with its arguments, resolved (`None`: not in the registry, which
/// validation rules out for a machine built from a model).
pub(super) struct Guarded<'g> {
    pub(super) call: &'g Call,
    pub(super) condition: Option<&'g Arc<dyn Condition>>,
}

/// The conditions of one trigger, resolved, and its names.
struct Guards {
    trigger: SharedName,
    dest: Option<SharedName>,
    conditions: Vec<Option<Arc<dyn Condition>>>,
    unless: Vec<Option<Arc<dyn Condition>>>,
}

/// One state of the graph.
struct StateEntry {
    name: SharedName,
    terminal: bool,
    /// Indices into [`Graph::transitions`], in declaration order.
    outgoing: Box<[usize]>,
}

/// See the module documentation.
pub(super) struct StepIndex {
    states: foldhash::HashMap<String, StateEntry>,
    guards: Vec<Guards>,
    /// The model's state and trigger names (and `error`), each allocated once.
    names: foldhash::HashSet<SharedName>,
    /// Some trigger has `prepare` tasks.
    has_prepare_tasks: bool,
}

impl StepIndex {
    /// Compiles `graph` with the conditions of `registry`.
    pub(super) fn new(graph: &Graph, registry: &Registry) -> Self {
        let states = graph
            .states
            .iter()
            .map(|state| {
                let outgoing = graph
                    .transitions
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.sources.iter().any(|s| s == state))
                    .map(|(k, _)| k)
                    .collect();
                let entry = StateEntry {
                    name: SharedName::from(state.as_str()),
                    terminal: graph.is_terminal(state),
                    outgoing,
                };
                (state.clone(), entry)
            })
            .collect();
        let resolve = |calls: &[Call]| -> Vec<Option<Arc<dyn Condition>>> {
            calls
                .iter()
                .map(|call| registry.condition(&call.name).cloned())
                .collect()
        };
        let guards = graph
            .transitions
            .iter()
            .map(|t| Guards {
                trigger: SharedName::from(t.trigger.name.as_str()),
                dest: t.dest.as_deref().map(SharedName::from),
                conditions: resolve(&t.trigger.conditions),
                unless: resolve(&t.trigger.unless),
            })
            .collect();
        let names = graph
            .states
            .iter()
            .map(String::as_str)
            .chain(graph.transitions.iter().map(|t| t.trigger.name.as_str()))
            .chain(["error"])
            .map(SharedName::from)
            .collect();
        Self {
            states,
            guards,
            names,
            has_prepare_tasks: graph
                .transitions
                .iter()
                .any(|t| !t.trigger.prepare.is_empty()),
        }
    }

    /// True when some trigger has `prepare` tasks.
    pub(super) fn has_prepare_tasks(&self) -> bool {
        self.has_prepare_tasks
    }

    /// `name` shared with the index when it is one of the model's names, else a new copy.
    pub(super) fn shared_name(&self, name: &str) -> SharedName {
        self.names
            .get(name)
            .cloned()
            .unwrap_or_else(|| SharedName::from(name))
    }

    /// `None` for a state outside the graph, else its shared name, whether it is terminal and
    /// the indices of the transitions leaving it.
    pub(super) fn state(&self, state: &str) -> Option<(&SharedName, bool, &[usize])> {
        self.states
            .get(state)
            .map(|entry| (&entry.name, entry.terminal, &*entry.outgoing))
    }

    /// The shared names of transition `k`: its trigger and its destination (`None`: internal).
    pub(super) fn names(&self, k: usize) -> (&SharedName, Option<&SharedName>) {
        let guards = &self.guards[k];
        (&guards.trigger, guards.dest.as_ref())
    }

    /// The `conditions` (or, with `unless`, the `unless` conditions) of transition `k`, paired
    /// with their calls in `graph`.
    pub(super) fn guards<'g>(
        &'g self,
        graph: &'g Graph,
        k: usize,
        unless: bool,
    ) -> impl Iterator<Item = Guarded<'g>> {
        let trigger = &graph.transitions[k].trigger;
        let (calls, resolved) = if unless {
            (&trigger.unless, &self.guards[k].unless)
        } else {
            (&trigger.conditions, &self.guards[k].conditions)
        };
        calls.iter().zip(resolved).map(|(call, condition)| Guarded {
            call,
            condition: condition.as_ref(),
        })
    }
}

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

/// Up to this many states, a state is looked up by scanning them.
const SCAN_LIMIT: usize = 24;

/// See the module documentation.
pub(super) struct StepIndex {
    /// The states in declaration order.
    states: Vec<StateEntry>,
    /// Their positions by name, for a model too large to scan.
    by_name: foldhash::HashMap<String, usize>,
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
                StateEntry {
                    name: SharedName::from(state.as_str()),
                    terminal: graph.is_terminal(state),
                    outgoing,
                }
            })
            .collect::<Vec<_>>();
        let by_name = graph
            .states
            .iter()
            .enumerate()
            .map(|(k, state)| (state.clone(), k))
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
            by_name,
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
        // A model's few states are found faster by comparing names (lengths first) than by
        // hashing one.
        let entry = if self.states.len() <= SCAN_LIMIT {
            self.states.iter().find(|entry| *entry.name == *state)
        } else {
            self.by_name.get(state).map(|&k| &self.states[k])
        }?;
        Some((&entry.name, entry.terminal, &*entry.outgoing))
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

#[cfg(test)]
mod tests {
    use crate::event::{ScheduledEvent, Stimulus};
    use crate::machine::{Decision, Machine};
    use crate::record::InstanceRecord;

    /// A chain `s0 → s1 → … → s{n-1} → z` of automatic triggers.
    fn chain(n: usize) -> Machine {
        let states: Vec<String> = (0..n).map(|k| format!("s{k}")).collect();
        let mut text = format!(
            "initial: s0\nfailure: f\nterminal: [z]\nstates: [{}, f, z]\ntransitions:\n",
            states.join(", ")
        );
        for k in 0..n {
            let dest = if k + 1 == n {
                "z".to_string()
            } else {
                format!("s{}", k + 1)
            };
            text.push_str(&format!(
                "  - {{source: s{k}, dest: {dest}, triggers: [{{name: t{k}}}]}}\n"
            ));
        }
        text.push_str("  - {source: f, dest: z, triggers: [{name: end}]}\n");
        Machine::from_yaml("chain.yaml", &text).expect("the chain is valid")
    }

    fn fires(machine: &Machine, state: &str) -> Option<String> {
        let mut record = InstanceRecord::new("i-1");
        record.status = Some(state.into());
        let stimulus = Stimulus::Scheduled(ScheduledEvent {
            rule: "reconcile".into(),
        });
        match machine.step(&record, &stimulus) {
            Decision::Fire(firing) => Some(format!("{}>{}", firing.trigger_name, firing.to)),
            _ => None,
        }
    }

    #[test]
    fn states_whose_names_share_a_length_or_a_beginning_are_told_apart() {
        let text = "initial: waiting_a\nfailure: f\nterminal: [z]\n\
            states: [waiting_a, waiting_ab, waiting_b, waiting, wait, f, z]\ntransitions:\n\
            - {source: waiting_a, dest: wait, triggers: [{name: ta}]}\n\
            - {source: waiting_ab, dest: waiting_b, triggers: [{name: tab}]}\n\
            - {source: waiting_b, dest: waiting, triggers: [{name: tb}]}\n\
            - {source: waiting, dest: z, triggers: [{name: tw}]}\n\
            - {source: wait, dest: waiting_ab, triggers: [{name: tt}]}\n\
            - {source: f, dest: z, triggers: [{name: end}]}\n";
        let machine = Machine::from_yaml("prefixes.yaml", text).expect("the model is valid");
        for (state, fired) in [
            ("waiting_a", "ta>wait"),
            ("waiting_ab", "tab>waiting_b"),
            ("waiting_b", "tb>waiting"),
            ("waiting", "tw>z"),
            ("wait", "tt>waiting_ab"),
        ] {
            assert_eq!(fires(&machine, state).as_deref(), Some(fired), "{state}");
        }
        for unknown in ["waiting_c", "waiting_abc", "waitin", "wait\0", "waiting\0"] {
            let mut record = InstanceRecord::new("i-1");
            record.status = Some(unknown.into());
            let stimulus = Stimulus::Scheduled(ScheduledEvent { rule: "r".into() });
            assert!(
                matches!(
                    machine.step(&record, &stimulus),
                    Decision::UnknownState { .. }
                ),
                "{unknown:?}"
            );
        }
    }

    #[test]
    fn states_are_found_by_scanning_a_small_model_and_by_hash_in_a_large_one() {
        for n in [3, super::SCAN_LIMIT + 16] {
            let machine = chain(n);
            assert_eq!(
                fires(&machine, "s0").as_deref(),
                Some("t0>s1"),
                "{n} states"
            );
            let last = format!("s{}", n - 1);
            assert_eq!(fires(&machine, &last), Some(format!("t{}>z", n - 1)));
            assert!(machine.is_terminal("z") && !machine.is_terminal(&last));
            assert!(!machine.is_terminal("nowhere"));
            let mut record = InstanceRecord::new("i-1");
            record.status = Some("nowhere".into());
            let stimulus = Stimulus::Scheduled(ScheduledEvent { rule: "r".into() });
            assert!(matches!(
                machine.step(&record, &stimulus),
                Decision::UnknownState { .. }
            ));
        }
    }
}

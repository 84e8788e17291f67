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
    /// The destination's position among the states (`None`: an internal transition).
    dest_state: Option<usize>,
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

/// Where a state is among the index's states: a record just moved into it is looked up there
/// first ([`StepIndex::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateHint(usize);

/// A state of the index: its shared name, whether it is terminal, the transitions leaving it and
/// where it is.
pub(super) type FoundState<'i> = (&'i SharedName, bool, &'i [usize], StateHint);

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
                dest_state: t
                    .dest
                    .as_deref()
                    .and_then(|d| graph.states.iter().position(|s| s == d)),
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

    /// `None` for a state outside the graph, else its shared name, whether it is terminal, the
    /// indices of the transitions leaving it and where it is. `hint`: where it probably is (the
    /// state a transition just entered), checked first.
    pub(super) fn state(&self, state: &str, hint: Option<StateHint>) -> Option<FoundState<'_>> {
        if let Some(StateHint(at)) = hint
            && let Some(entry) = self.states.get(at)
            && *entry.name == *state
        {
            return Some((&entry.name, entry.terminal, &*entry.outgoing, StateHint(at)));
        }
        // A model's few states are found faster by comparing names (lengths first) than by
        // hashing one.
        let at = if self.states.len() <= SCAN_LIMIT {
            self.states.iter().position(|entry| *entry.name == *state)
        } else {
            self.by_name.get(state).copied()
        }?;
        let entry = &self.states[at];
        Some((&entry.name, entry.terminal, &*entry.outgoing, StateHint(at)))
    }

    /// Where the record is after transition `k` from the state at `from`: its destination, or
    /// `from` for an internal transition.
    pub(super) fn entered(&self, k: usize, from: StateHint) -> StateHint {
        self.guards[k].dest_state.map_or(from, StateHint)
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

    #[test]
    fn a_hint_is_checked_and_a_wrong_one_changes_no_decision() {
        use super::StateHint;
        for n in [3, super::SCAN_LIMIT + 16] {
            let machine = chain(n);
            let stimulus = Stimulus::Scheduled(ScheduledEvent { rule: "r".into() });
            let mut record = InstanceRecord::new("i-1");
            record.status = Some("s0".into());
            let Decision::Fire(first) = machine.step(&record, &stimulus) else {
                panic!("s0 fires")
            };
            // The firing's hint finds where it leads; every hint, right or wrong or out of
            // range, leads to the decision taken without one.
            assert_eq!(first.entered, StateHint(1), "s1 is the second state");
            for state in ["s1", "f", "z", "nowhere"] {
                record.status = Some(state.into());
                let unhinted = machine.step(&record, &stimulus);
                for hint in [first.entered, StateHint(0), StateHint(n + 1), StateHint(99)] {
                    assert_eq!(
                        machine.step_hinted(&record, &stimulus, None, Some(hint)),
                        unhinted,
                        "{state} with {hint:?}"
                    );
                }
            }
        }
    }
}

//! The transition graph: model file format, validation, the pure step and rendering.
//!
//! The example model (`transitions/cluster-node.yaml`):
//!
//! ```text
//!  new ─(cloud-init)─► finished_cloud_init ─join─► join_cluster ─joined─► joined_cluster
//!                                                       │ (SSM)                │
//!                                                       ▼ failed               ▼ update_dns
//!  failure ─abandon─► abandoned                     failure            updating_dns ─(SSM)─► dns_updated
//!                                                                                         │ complete
//!  ready ─drain─► draining ─(SSM)─► leaving_cluster ─(SSM)─► completing_termination       ▼
//!                                            │ complete                       completing_lifecycle ─► ready
//!                                            ▼
//!                                        terminated
//! ```
//!
//! A model is validated into a [`Graph`]; a [`Machine`] pairs it with the registry of named
//! conditions and tasks. [`Machine::step`] is pure: it decides, the handler does.

mod file;
mod graph;
mod index;
mod model;
mod render;
mod spec;
mod step;
mod validate;

use std::sync::Arc;

pub use crate::diag::{Code, Problem, ValidationReport};
pub use file::{MAX_DURATION, parse_duration, parse_model};
pub use graph::{Call, Graph, Transition, Trigger};
pub(crate) use index::StateHint;
pub use model::{EXAMPLE_MODEL, EXAMPLE_MODEL_NAME, FileModel, Model};
pub use render::{Format, render};
pub use spec::{CallSpec, Loc, ModelSpec, Named, StateSpec, TransitionSpec, TriggerSpec};
pub use step::{Decision, Firing};
pub(crate) use step::{Found, LookAhead};
pub use validate::validate;

use crate::tasks::Registry;

/// A checked graph with the conditions and tasks it names.
#[derive(Clone)]
pub struct Machine {
    graph: Arc<Graph>,
    registry: Registry,
    /// States reachable from the failure state, computed once.
    failure_path: Arc<std::collections::BTreeSet<String>>,
    /// The graph compiled for stepping.
    index: Arc<index::StepIndex>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Validates a model (its own conditions and tasks over the built-in ones).
    ///
    /// # Errors
    /// Every problem found.
    pub fn from_model(model: &dyn Model) -> Result<Self, ValidationReport> {
        let mut registry = Registry::builtin();
        for (name, condition) in model.conditions() {
            registry.add_condition(name, condition);
        }
        for (name, condition) in model.async_conditions() {
            registry.add_async_condition(name, condition);
        }
        for (name, task) in model.tasks() {
            registry.add_task(name, task);
        }
        let graph = validate(&model.transitions(), &registry)?;
        Ok(Self {
            failure_path: Arc::new(graph.failure_path()),
            index: Arc::new(index::StepIndex::new(&graph, &registry)),
            graph: Arc::new(graph),
            registry,
        })
    }

    /// Parses and validates a model file's text.
    ///
    /// # Errors
    /// Every problem found.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, ValidationReport> {
        Self::from_model(&FileModel::parse(file, text)?)
    }

    /// The example model embedded in the crate.
    ///
    /// # Panics
    /// Never: the embedded model is validated by the tests.
    #[must_use]
    pub fn example() -> Self {
        Self::from_yaml(EXAMPLE_MODEL_NAME, EXAMPLE_MODEL)
            .expect("the embedded example model is valid")
    }

    /// The graph.
    #[must_use]
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// True for the failure state and the states reachable from it (failure handling).
    #[must_use]
    pub fn is_on_failure_path(&self, state: &str) -> bool {
        self.failure_path.contains(state)
    }

    /// True for a terminal state of the model ([`Graph::is_terminal`], by the compiled index).
    #[must_use]
    pub fn is_terminal(&self, state: &str) -> bool {
        self.is_terminal_hinted(state, None)
    }

    /// [`Self::is_terminal`], looking where `hint` says first ([`Firing::entered`]).
    pub(crate) fn is_terminal_hinted(&self, state: &str, hint: Option<StateHint>) -> bool {
        self.index
            .state(state, hint)
            .is_some_and(|(_, terminal, _, _)| terminal)
    }

    /// True when some trigger of the model has `prepare` tasks.
    #[must_use]
    pub fn has_prepare_tasks(&self) -> bool {
        self.index.has_prepare_tasks()
    }

    /// `name` as a shared string: the model's own copy when it names a state or trigger of the
    /// model (or is `error`), so that history entries allocate nothing for their names.
    #[must_use]
    pub fn shared_name(&self, name: &str) -> crate::record::SharedName {
        self.index.shared_name(name)
    }

    /// The conditions and tasks.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

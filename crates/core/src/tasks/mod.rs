//! Named conditions and tasks: the built-in ones and a [`Registry`] that a model extends.
//!
//! Conditions are pure predicates over the stimulus and the record; tasks are actions that may
//! call AWS. Every built-in task is idempotent under re-execution after a crash.

mod async_conditions;
mod builtin_conditions;
mod builtin_tasks;
mod send_command;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::aws::{AwsClients, Effect};
use crate::diag::Code;
use crate::event::Stimulus;
use crate::record::{InstanceRecord, LifecycleAction, PendingCommand};

pub use async_conditions::{AsyncCondition, AsyncConditionContext, Resolved, resolve};
pub use builtin_conditions::builtin_conditions;
pub use builtin_tasks::builtin_tasks;
pub use send_command::{
    DEFAULT_DOCUMENT, SendCommandError, SendCommandTask, ShellPlatform, posix_single_quote,
    powershell_single_quote,
};

/// What a condition sees.
#[derive(Clone, Copy, Debug)]
pub struct ConditionContext<'a> {
    /// The instance's record as the chain will write it: in the handler, with what the chain
    /// carries to its next write (the lifecycle action the event brings, what `prepare` tasks
    /// changed) already in it.
    pub record: &'a InstanceRecord,
    /// The stimulus being processed.
    pub stimulus: &'a Stimulus,
    /// The trigger being evaluated.
    pub trigger: &'a str,
    /// Its destination (`None` for an internal transition).
    pub dest: Option<&'a str>,
    /// The answers of the model's asynchronous conditions for this decision, when the handler
    /// resolved them ([`resolve`]).
    pub resolved: Option<&'a Resolved>,
}

/// A named predicate. Errors are messages: the handler moves the instance to the failure state
/// (or, with `ignore_errors`, lets the transition proceed).
pub trait Condition: Send + Sync {
    /// Evaluates the predicate with the arguments given in the model.
    ///
    /// # Errors
    /// A message when the predicate cannot be evaluated.
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String>;

    /// Checks the arguments when the model is validated.
    ///
    /// # Errors
    /// A message naming what is wrong.
    fn check_args(&self, _args: &Value) -> Result<(), String> {
        Ok(())
    }
}

impl<F> Condition for F
where
    F: Fn(ConditionContext<'_>, &Value) -> Result<bool, String> + Send + Sync,
{
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String> {
        self(ctx, args)
    }
}

/// Changes a task asks the handler to persist with the next write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordChanges {
    /// `Some(None)` clears the pending command.
    pub pending_command: Option<Option<PendingCommand>>,
    /// `Some(None)` clears the lifecycle action.
    pub lifecycle_action: Option<Option<std::sync::Arc<LifecycleAction>>>,
}

impl RecordChanges {
    /// Applies the changes to a record in memory.
    pub fn apply_to(&self, record: &mut InstanceRecord) {
        if let Some(c) = &self.pending_command {
            record.pending_command.clone_from(c);
        }
        if let Some(a) = &self.lifecycle_action {
            record.lifecycle_action.clone_from(a);
        }
    }

    /// Merges later changes over these.
    pub fn merge(&mut self, later: RecordChanges) {
        if later.pending_command.is_some() {
            self.pending_command = later.pending_command;
        }
        if later.lifecycle_action.is_some() {
            self.lifecycle_action = later.lifecycle_action;
        }
    }
}

/// What a task sees and what it reports.
pub struct TaskContext<'a> {
    /// The record as of the last write.
    pub record: &'a InstanceRecord,
    /// The stimulus being processed.
    pub stimulus: &'a Stimulus,
    /// The AWS clients.
    pub aws: &'a AwsClients,
    /// A stable id of this transition attempt (the same when the attempt is retried).
    pub attempt_id: &'a str,
    /// The transition's source state.
    pub from: &'a str,
    /// The transition's destination state.
    pub to: &'a str,
    /// The trigger's name.
    pub trigger: &'a str,
    /// True when this invocation wrote the attempt's intent itself, with a conditional write
    /// over a record that knew no such attempt: no command for it can exist, so a task sends
    /// without looking for one first. False when the intent was taken over (its writer presumed
    /// crashed): an earlier command may exist and is looked for.
    pub fresh_intent: bool,
    /// The current time.
    pub now: DateTime<Utc>,
    /// AWS calls made, for outputs.
    pub effects: Vec<Effect>,
    /// Record changes to persist.
    pub changes: RecordChanges,
}

/// A task failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}` failed: {message}")]
pub struct TaskError {
    /// The task's name.
    pub task: String,
    /// What went wrong.
    pub message: String,
    /// True when retrying the invocation may succeed (throttling, 5xx).
    pub retryable: bool,
}

/// A problem with a task's arguments, found when the model is validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentProblem {
    /// What kind of mistake it is.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// Where in the arguments: a JSON pointer (`/commands/0`, `/env/NAME`), `""` for the whole.
    /// A model file locates it at that node's line and column.
    pub pointer: String,
}

impl ArgumentProblem {
    /// An `invalid-arguments` problem about the arguments as a whole.
    #[must_use]
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArguments,
            message: message.into(),
            pointer: String::new(),
        }
    }
}

/// A named action.
#[async_trait]
pub trait Task: Send + Sync {
    /// Runs the task. It must be safe to run again after a crash.
    ///
    /// # Errors
    /// A [`TaskError`]; see [`TaskError::retryable`].
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError>;

    /// True when the task starts asynchronous work whose completion arrives as a later event
    /// (an SSM command): the chain stops after the transition.
    fn starts_async_work(&self) -> bool {
        false
    }

    /// True when the handler must record an intent (the attempt id as the pending command)
    /// before the task runs, so that a retry finds the work instead of starting it again.
    fn needs_intent(&self) -> bool {
        false
    }

    /// Checks the arguments when the model is validated.
    ///
    /// # Errors
    /// A message naming what is wrong.
    fn check_args(&self, _args: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Every problem with the arguments, typed and located (validation calls this). By default
    /// the message of [`Task::check_args`] as an `invalid-arguments` problem.
    fn check_arguments(&self, args: &Value) -> Vec<ArgumentProblem> {
        match self.check_args(args) {
            Ok(()) => Vec::new(),
            Err(message) => vec![ArgumentProblem::invalid(message)],
        }
    }
}

/// The named conditions and tasks a model may use.
#[derive(Clone, Default)]
pub struct Registry {
    conditions: BTreeMap<String, Arc<dyn Condition>>,
    async_conditions: BTreeMap<String, Arc<dyn AsyncCondition>>,
    tasks: BTreeMap<String, Arc<dyn Task>>,
}

impl Registry {
    /// The built-in conditions and tasks.
    #[must_use]
    pub fn builtin() -> Self {
        let mut registry = Self::default();
        for (name, condition) in builtin_conditions() {
            registry.conditions.insert(name.to_string(), condition);
        }
        for (name, task) in builtin_tasks() {
            registry.tasks.insert(name.to_string(), task);
        }
        registry
    }

    /// Adds (or replaces) a condition.
    pub fn add_condition(&mut self, name: impl Into<String>, condition: Arc<dyn Condition>) {
        self.conditions.insert(name.into(), condition);
    }

    /// Adds (or replaces) a condition that asks AWS ([`AsyncCondition`]).
    pub fn add_async_condition(
        &mut self,
        name: impl Into<String>,
        condition: Arc<dyn AsyncCondition>,
    ) {
        let name = name.into();
        self.conditions.insert(
            name.clone(),
            Arc::new(async_conditions::ResolvedCondition {
                inner: condition.clone(),
                name: name.clone(),
            }),
        );
        self.async_conditions.insert(name, condition);
    }

    /// An asynchronous condition by name.
    #[must_use]
    pub fn async_condition(&self, name: &str) -> Option<&Arc<dyn AsyncCondition>> {
        self.async_conditions.get(name)
    }

    /// True when the model has conditions that ask AWS.
    #[must_use]
    pub fn has_async_conditions(&self) -> bool {
        !self.async_conditions.is_empty()
    }

    /// Adds (or replaces) a task.
    pub fn add_task(&mut self, name: impl Into<String>, task: Arc<dyn Task>) {
        self.tasks.insert(name.into(), task);
    }

    /// A condition by name.
    #[must_use]
    pub fn condition(&self, name: &str) -> Option<&Arc<dyn Condition>> {
        self.conditions.get(name)
    }

    /// A task by name.
    #[must_use]
    pub fn task(&self, name: &str) -> Option<&Arc<dyn Task>> {
        self.tasks.get(name)
    }

    /// The condition names, sorted.
    pub fn condition_names(&self) -> impl Iterator<Item = &str> {
        self.conditions.keys().map(String::as_str)
    }

    /// The task names, sorted.
    pub fn task_names(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }
}

//! Models: the [`Model`] trait, written in code or loaded from a file.

use std::path::Path;
use std::sync::Arc;

use super::file::parse_model;
use super::spec::ModelSpec;
use crate::diag::{Code, Problem, ValidationReport};
use crate::tasks::{Condition, Task};

/// A lifecycle model: its transitions plus its own named conditions and tasks.
///
/// This is the subclass-and-`get_transitions` style of the original library: implement
/// `transitions()` and, when the model needs them, `conditions()` and `tasks()`. Built-in
/// conditions and tasks are always available; a model's own ones with the same name win.
pub trait Model: Send + Sync {
    /// The model's transitions and state lists.
    fn transitions(&self) -> ModelSpec;

    /// The model's own conditions.
    fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
        Vec::new()
    }

    /// The model's own conditions that ask AWS (awaited by the handler before a decision).
    fn async_conditions(&self) -> Vec<(String, Arc<dyn crate::tasks::AsyncCondition>)> {
        Vec::new()
    }

    /// The model's own tasks.
    fn tasks(&self) -> Vec<(String, Arc<dyn Task>)> {
        Vec::new()
    }
}

/// A model read from a YAML file (built-in conditions and tasks only).
#[derive(Clone, Debug)]
pub struct FileModel {
    spec: ModelSpec,
}

impl FileModel {
    /// Parses a model from text; `file` names it in problems.
    ///
    /// # Errors
    /// Every syntax and shape problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, ValidationReport> {
        Ok(Self {
            spec: parse_model(file, text)?,
        })
    }

    /// Reads and parses a model file.
    ///
    /// # Errors
    /// An unreadable file, or every syntax and shape problem.
    pub fn load(path: &Path) -> Result<Self, ValidationReport> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ValidationReport {
            problems: vec![Problem {
                code: Code::UnreadableFile,
                message: format!("failed to read the file: {e}"),
                loc: None,
                file: name.clone(),
            }],
        })?;
        Self::parse(&name, &text)
    }
}

impl Model for FileModel {
    fn transitions(&self) -> ModelSpec {
        self.spec.clone()
    }
}

/// The example model shipped in the crate (`transitions/cluster-node.yaml`).
pub const EXAMPLE_MODEL: &str = include_str!("../../../../transitions/cluster-node.yaml");

/// The example model's file name.
pub const EXAMPLE_MODEL_NAME: &str = "transitions/cluster-node.yaml";

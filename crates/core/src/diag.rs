//! Diagnostics: the validation problems of model files and waiter models, a stable kebab-case [`Code`], a
//! message and a location, printed as `FILE:LINE:COL: error[CODE]: message`.
//!
//! | code | meaning |
//! |---|---|
//! | `parse-error` | the file is not valid YAML (or, for a `.json` waiter model, JSON) |
//! | `unreadable-file` | the model file could not be read |
//! | `read-error` | the waiter model file could not be read |
//! | `unknown-key` | a mapping has a key the format does not define |
//! | `missing-key` | a required key is absent |
//! | `invalid-value` | a value has the wrong type, form or range |
//! | `unknown-state` | a state is named but not declared |
//! | `unknown-condition` | a condition name is not a registered condition |
//! | `unknown-task` | a task name is not a registered task |
//! | `invalid-arguments` | a condition's or task's arguments do not fit it |
//! | `unreachable-state` | no path from the initial state leads to the state |
//! | `dead-end` | a state that is neither terminal nor pending has no way out |
//! | `duplicate-trigger` | a state has two triggers of one name |
//! | `ambiguous-triggers` | two triggers leave a state under the same conditions |
//! | `duplicate-state` | a state is declared twice |
//! | `missing-failure-path` | no failure state, or none of its paths reaches a terminal state |
//! | `multiple-commands` | a trigger sends more than one SSM command |
//! | `unsupported-version` | a waiter model is not `version: 2` |
//! | `invalid-placeholder` | a `${Name}` placeholder is malformed |
//! | `invalid-expression` | an acceptor's `argument` is not a valid JMESPath expression |
//! | `template-in-command` | a `${...}` in the command text of an SSM command (templates never reach a shell: pass values in `env`) |
//! | `invalid-env-name` | an `env` name is not a shell variable name (`[A-Za-z_][A-Za-z0-9_]*`) |
//! | `env-unsupported-document` | `env` with an SSM document whose shell is not known, so its values cannot be quoted for it |
//! | `command-out-of-place` | a `prepare` or `last` task sends an SSM command (only `before` and `after` may) |

use std::fmt;

/// A position in a model or waiter file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    /// The file (or `<model>` for a model written in code).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The stable code of a [`Problem`]: what kind of mistake it is (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The file is not valid YAML (or JSON).
    ParseError,
    /// The model file could not be read.
    UnreadableFile,
    /// The waiter model file could not be read.
    ReadError,
    /// A mapping has a key the format does not define.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value has the wrong type, form or range.
    InvalidValue,
    /// A state is named but not declared.
    UnknownState,
    /// A condition name is not a registered condition.
    UnknownCondition,
    /// A task name is not a registered task.
    UnknownTask,
    /// A condition's or task's arguments do not fit it.
    InvalidArguments,
    /// No path from the initial state leads to the state.
    UnreachableState,
    /// A state that is neither terminal nor pending has no way out.
    DeadEnd,
    /// A state has two triggers of one name.
    DuplicateTrigger,
    /// Two triggers leave a state under the same conditions.
    AmbiguousTriggers,
    /// A state is declared twice.
    DuplicateState,
    /// No failure state, or none of its paths reaches a terminal state.
    MissingFailurePath,
    /// A trigger sends more than one SSM command.
    MultipleCommands,
    /// A waiter model is not `version: 2`.
    UnsupportedVersion,
    /// A `${Name}` placeholder is malformed.
    InvalidPlaceholder,
    /// An acceptor's `argument` is not a valid JMESPath expression.
    InvalidExpression,
    /// A `${...}` in the command text of an SSM command: templates never reach a shell.
    TemplateInCommand,
    /// An `env` name is not a shell variable name.
    InvalidEnvName,
    /// `env` with an SSM document whose shell is not known.
    EnvUnsupportedDocument,
    /// A `prepare` or `last` task sends an SSM command: only `before` and `after` tasks may.
    CommandOutOfPlace,
}

impl Code {
    /// Every code, in the order of the module's table.
    pub const ALL: [Self; 24] = [
        Self::ParseError,
        Self::UnreadableFile,
        Self::ReadError,
        Self::UnknownKey,
        Self::MissingKey,
        Self::InvalidValue,
        Self::UnknownState,
        Self::UnknownCondition,
        Self::UnknownTask,
        Self::InvalidArguments,
        Self::UnreachableState,
        Self::DeadEnd,
        Self::DuplicateTrigger,
        Self::AmbiguousTriggers,
        Self::DuplicateState,
        Self::MissingFailurePath,
        Self::MultipleCommands,
        Self::UnsupportedVersion,
        Self::InvalidPlaceholder,
        Self::InvalidExpression,
        Self::TemplateInCommand,
        Self::InvalidEnvName,
        Self::EnvUnsupportedDocument,
        Self::CommandOutOfPlace,
    ];

    /// The code as printed: kebab-case, stable across releases.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ParseError => "parse-error",
            Self::UnreadableFile => "unreadable-file",
            Self::ReadError => "read-error",
            Self::UnknownKey => "unknown-key",
            Self::MissingKey => "missing-key",
            Self::InvalidValue => "invalid-value",
            Self::UnknownState => "unknown-state",
            Self::UnknownCondition => "unknown-condition",
            Self::UnknownTask => "unknown-task",
            Self::InvalidArguments => "invalid-arguments",
            Self::UnreachableState => "unreachable-state",
            Self::DeadEnd => "dead-end",
            Self::DuplicateTrigger => "duplicate-trigger",
            Self::AmbiguousTriggers => "ambiguous-triggers",
            Self::DuplicateState => "duplicate-state",
            Self::MissingFailurePath => "missing-failure-path",
            Self::MultipleCommands => "multiple-commands",
            Self::UnsupportedVersion => "unsupported-version",
            Self::InvalidPlaceholder => "invalid-placeholder",
            Self::InvalidExpression => "invalid-expression",
            Self::TemplateInCommand => "template-in-command",
            Self::InvalidEnvName => "invalid-env-name",
            Self::EnvUnsupportedDocument => "env-unsupported-document",
            Self::CommandOutOfPlace => "command-out-of-place",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of mistake it is.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub loc: Option<Loc>,
    /// The file, used when there is no precise location.
    pub file: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some(loc) => write!(f, "{loc}: error[{}]: {}", self.code, self.message),
            None => write!(
                f,
                "{}:1:1: error[{}]: {}",
                self.file, self.code, self.message
            ),
        }
    }
}

/// Every problem found in a model; the model is unusable while there is one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct ValidationReport {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ValidationReport {
    /// The codes of the problems, in order (handy in tests).
    #[must_use]
    pub fn codes(&self) -> Vec<&'static str> {
        self.problems.iter().map(|p| p.code.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_each_has_a_row_in_the_module_table() {
        let source = include_str!("diag.rs");
        let rows: Vec<&str> = source
            .lines()
            .filter(|line| line.starts_with("//! | `"))
            .collect();
        assert_eq!(rows.len(), Code::ALL.len(), "one table row per code");
        let mut seen = BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "`{text}` is used twice");
            assert!(
                text.split('-')
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())),
                "`{text}` is not kebab-case"
            );
            let row = format!("//! | `{text}` | ");
            assert!(
                rows.iter().any(|r| r.starts_with(&row)),
                "`{text}` has no row in the module table"
            );
            assert_eq!(code.to_string(), text);
        }
    }
}

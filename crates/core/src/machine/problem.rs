//! Validation problems: a stable kebab-case code, a message and a location.

use std::fmt;

use super::spec::Loc;

/// One problem found in a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Stable code: `parse-error`, `unknown-key`, `missing-key`, `invalid-value`,
    /// `unknown-state`, `unknown-condition`, `unknown-task`, `invalid-arguments`,
    /// `unreachable-state`, `dead-end`, `duplicate-trigger`, `ambiguous-triggers`,
    /// `duplicate-state`, `missing-failure-path`, `multiple-commands`.
    pub code: &'static str,
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
        self.problems.iter().map(|p| p.code).collect()
    }
}

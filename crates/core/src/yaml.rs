//! YAML read with positions (`marked-yaml`), for the files that report located problems: model
//! files (`machine::file`) and waiter models (`waiter::model`).
//!
//! [`load`] parses a document (duplicate keys rejected) or returns its one `parse-error`;
//! a [`Reader`] locates nodes, collects problems and rejects unknown keys; [`to_json`] gives a
//! node's value as JSON.

use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use serde_json::Value;

use crate::diag::{Code, Loc, Problem, ValidationReport};

/// Parses `text` (named `file` in errors) into its root node, rejecting duplicate keys.
///
/// # Errors
/// The loader's error as a located `parse-error` problem.
pub(crate) fn load(file: &str, text: &str) -> Result<Node, ValidationReport> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| ValidationReport {
        problems: vec![load_problem(file, &e)],
    })
}

/// A YAML loader error as a located `parse-error` problem.
fn load_problem(file: &str, error: &LoadError) -> Problem {
    let (marker, message) = match error {
        LoadError::TopLevelMustBeMapping(m) => {
            (Some(*m), "the top level must be a mapping".to_string())
        }
        LoadError::TopLevelMustBeSequence(m) => {
            (Some(*m), "the top level must be a sequence".to_string())
        }
        LoadError::UnexpectedAnchor(m) => (
            Some(*m),
            "anchors and aliases are not supported".to_string(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            (Some(*m), "mapping keys must be plain names".to_string())
        }
        LoadError::UnexpectedTag(m) => (Some(*m), "YAML tags are not supported".to_string()),
        LoadError::ScanError(m, e) => (Some(*m), format!("invalid YAML: {e}")),
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start().copied(),
            format!("duplicate key `{}`", inner.key.as_str()),
        ),
    };
    Problem {
        code: Code::ParseError,
        message,
        loc: marker.map(|m| Loc {
            file: file.to_string(),
            line: m.line().max(1),
            column: m.column().max(1),
        }),
        file: file.to_string(),
    }
}

/// A YAML node as JSON: plain scalars become booleans, numbers and null where they read as such;
/// quoted scalars stay strings.
pub(crate) fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => {
            let text = s.as_str();
            if s.may_coerce() {
                if let Some(b) = s.as_bool() {
                    return Value::Bool(b);
                }
                if let Ok(i) = text.parse::<i64>() {
                    return Value::from(i);
                }
                if let Ok(f) = text.parse::<f64>()
                    && let Some(n) = serde_json::Number::from_f64(f)
                {
                    return Value::Number(n);
                }
                if matches!(text, "~" | "null") {
                    return Value::Null;
                }
            }
            Value::String(text.to_string())
        }
        Node::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// Where a reader sees a whole node start: a mapping at its first key (its own span starts at
/// its first value), anything else at its own start.
pub(crate) fn first_key(node: &Node) -> Span {
    node.as_mapping()
        .and_then(|m| m.keys().next())
        .map_or(*node.span(), |k| *k.span())
}

/// Reads the nodes of one file, collecting every located problem.
pub(crate) struct Reader<'a> {
    /// The file, named in every location.
    pub(crate) file: &'a str,
    /// The problems found so far, in the order found.
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    /// A reader of `file` with no problems yet.
    pub(crate) fn new(file: &'a str) -> Self {
        Self {
            file,
            problems: Vec::new(),
        }
    }

    /// The location of the start of `span` (lines and columns 1-based).
    pub(crate) fn loc(&self, span: &Span) -> Option<Loc> {
        span.start().map(|m| Loc {
            file: self.file.to_string(),
            line: m.line().max(1),
            column: m.column().max(1),
        })
    }

    /// Records a problem located at `span`.
    pub(crate) fn problem(&mut self, code: Code, message: String, span: &Span) {
        let loc = self.loc(span);
        self.problems.push(Problem {
            code,
            message,
            loc,
            file: self.file.to_string(),
        });
    }

    /// Records a problem about a whole node, located at [`first_key`].
    pub(crate) fn node_problem(&mut self, code: Code, message: String, node: &Node) {
        self.problem(code, message, &first_key(node));
    }

    /// Records an `unknown-key` problem for each key of the mapping `node` not in `allowed`;
    /// `what` names the mapping in the message.
    pub(crate) fn check_keys(&mut self, node: &Node, allowed: &[&str], what: &str) {
        let Some(map) = node.as_mapping() else { return };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(
                    Code::UnknownKey,
                    format!(
                        "unknown key `{}` in {what} (expected one of: {})",
                        key.as_str(),
                        allowed.join(", ")
                    ),
                    key.span(),
                );
            }
        }
    }
}

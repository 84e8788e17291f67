//! The botocore waiter model, version 2, read from JSON or YAML with located errors.
//!
//! ```yaml
//! version: 2
//! waiters:
//!   RecordReachedStatus:
//!     description: The record's ItemStatus is the expected one.   # optional
//!     operation: GetItem
//!     delay: 2                     # seconds between attempts
//!     maxAttempts: 30
//!     acceptors:                   # in order; the first that matches decides
//!       - {state: success, matcher: path, argument: Item.ItemStatus.S, expected: "${ItemStatus}"}
//!       - {state: retry, matcher: error, expected: ResourceNotFoundException}
//! ```
//!
//! `${Name}` in an `argument` stands for the parameter `Name` as a JMESPath literal (so write
//! `InstanceId == ${Id}`, not `'${Id}'`); an `expected` string that is exactly `${Name}` becomes
//! the parameter's value, and a placeholder inside a longer string its text. Parameters named by
//! placeholders are not sent to the operation.
//!
//! Every problem is collected and reported as `FILE:LINE:COL: error[CODE]: message`; unknown keys
//! are rejected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use marked_yaml::{Node, Span};
use serde_json::Value;

use crate::diag::{Code, Loc, Problem, ValidationReport};
use crate::machine::MAX_DURATION;
use crate::yaml::{self, Reader, first_key};

use super::matcher::placeholders;

/// What a matching acceptor means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptorState {
    /// The wait is over: the resource is in the wanted state.
    Success,
    /// The wait is over: the resource will never reach the wanted state.
    Failure,
    /// Try again after the delay.
    Retry,
}

impl AcceptorState {
    /// `success`, `failure` or `retry`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Retry => "retry",
        }
    }
}

/// How an acceptor looks at a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// The JMESPath `argument` evaluates to `expected` (normal responses only).
    Path(String),
    /// The argument is a non-empty list whose every element is `expected`.
    PathAll(String),
    /// The argument is a non-empty list with at least one element equal to `expected`.
    PathAny(String),
    /// The HTTP status is `expected` (error responses included).
    Status,
    /// `expected` is an error code, `true` (any error) or `false` (no error).
    Error,
}

impl Matcher {
    /// The model's name of the matcher.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Path(_) => "path",
            Self::PathAll(_) => "pathAll",
            Self::PathAny(_) => "pathAny",
            Self::Status => "status",
            Self::Error => "error",
        }
    }

    /// The JMESPath argument of a path matcher.
    #[must_use]
    pub fn argument(&self) -> Option<&str> {
        match self {
            Self::Path(a) | Self::PathAll(a) | Self::PathAny(a) => Some(a),
            Self::Status | Self::Error => None,
        }
    }
}

/// One acceptor of a waiter.
#[derive(Clone, Debug, PartialEq)]
pub struct Acceptor {
    /// The state a match leads to.
    pub state: AcceptorState,
    /// How the response is examined.
    pub matcher: Matcher,
    /// The value compared with.
    pub expected: Value,
}

/// One waiter of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct WaiterConfig {
    /// The waiter's name.
    pub name: String,
    /// What it waits for.
    pub description: Option<String>,
    /// The API operation it calls (`GetItem`, ...).
    pub operation: String,
    /// The time between two attempts.
    pub delay: Duration,
    /// The number of attempts before giving up.
    pub max_attempts: u32,
    /// The acceptors, in order.
    pub acceptors: Vec<Acceptor>,
    /// Where the waiter is defined.
    pub loc: Option<Loc>,
}

impl WaiterConfig {
    /// The parameters the acceptors name with `${..}`, sorted.
    #[must_use]
    pub fn acceptor_parameters(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for acceptor in &self.acceptors {
            if let Some(argument) = acceptor.matcher.argument() {
                names.extend(placeholders(argument).unwrap_or_default());
            }
            if let Value::String(s) = &acceptor.expected {
                names.extend(placeholders(s).unwrap_or_default());
            }
        }
        names
    }
}

/// A checked waiter model: the waiters of one file, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaiterModel {
    /// The waiters, by name.
    pub waiters: BTreeMap<String, WaiterConfig>,
}

impl WaiterModel {
    /// Reads and checks a model file (`.json`, `.yaml` or `.yml`).
    ///
    /// # Errors
    /// The file cannot be read, or every problem found in it.
    pub fn load(path: &Path) -> Result<Self, ValidationReport> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ValidationReport {
            problems: vec![Problem {
                code: Code::ReadError,
                message: format!("failed to read the waiter file: {e}"),
                loc: None,
                file: file.clone(),
            }],
        })?;
        Self::parse(&file, &text)
    }

    /// Checks a model's text; `file` names it in the errors. JSON is read as the YAML it is, after
    /// a strict JSON syntax check when `file` ends with `.json`.
    ///
    /// # Errors
    /// Every problem found, located in `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ValidationReport> {
        let report = |problems| ValidationReport { problems };
        if file.ends_with(".json")
            && let Err(e) = serde_json::from_str::<Value>(text)
        {
            return Err(report(vec![Problem {
                code: Code::ParseError,
                message: format!("invalid JSON: {e}"),
                loc: Some(Loc {
                    file: file.to_string(),
                    line: e.line().max(1),
                    column: e.column().max(1),
                }),
                file: file.to_string(),
            }]));
        }
        let root = yaml::load(file, text)?;
        let mut parser = Parser {
            reader: Reader::new(file),
        };
        let model = parser.model(&root);
        parser
            .reader
            .problems
            .sort_by_key(|p| p.loc.as_ref().map(|l| (l.line, l.column)));
        if parser.reader.problems.is_empty() {
            Ok(model)
        } else {
            Err(report(parser.reader.problems))
        }
    }
}

/// Reads a waiter model's nodes into configurations.
struct Parser<'a> {
    reader: Reader<'a>,
}

impl Parser<'_> {
    /// The value of `key` in the mapping `node`; a missing key is reported at `at` (the name of
    /// what lacks it: a mapping's own span starts at its first value).
    fn required<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        what: &str,
        at: &Span,
    ) -> Option<&'n Node> {
        let found = node.as_mapping().and_then(|m| m.get_node(key));
        if found.is_none() {
            self.reader
                .problem(Code::MissingKey, format!("{what} needs `{key}`"), at);
        }
        found
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !s.as_str().is_empty() => Some(s.as_str().to_string()),
            _ => {
                self.reader.problem(
                    Code::InvalidValue,
                    format!("{what} must be a non-empty string"),
                    node.span(),
                );
                None
            }
        }
    }

    fn model(&mut self, root: &Node) -> WaiterModel {
        let mut model = WaiterModel::default();
        if root.as_mapping().is_none() {
            self.reader.problem(
                Code::InvalidValue,
                "a waiter model must be a mapping".into(),
                root.span(),
            );
            return model;
        }
        self.reader
            .check_keys(root, &["version", "waiters"], "the waiter model");
        if let Some(version) = self.required(root, "version", "a waiter model", &first_key(root))
            && version.as_scalar().map(|s| s.as_str()) != Some("2")
        {
            self.reader.problem(
                Code::UnsupportedVersion,
                "only waiter model `version: 2` is supported".into(),
                version.span(),
            );
        }
        let Some(waiters) = self.required(root, "waiters", "a waiter model", &first_key(root))
        else {
            return model;
        };
        let Some(map) = waiters.as_mapping() else {
            self.reader.problem(
                Code::InvalidValue,
                "`waiters` must map names to waiters".into(),
                waiters.span(),
            );
            return model;
        };
        for (name, node) in map.iter() {
            if let Some(config) = self.waiter(name.as_str(), name.span(), node) {
                model.waiters.insert(config.name.clone(), config);
            }
        }
        model
    }

    fn waiter(&mut self, name: &str, name_span: &Span, node: &Node) -> Option<WaiterConfig> {
        const KEYS: &[&str] = &[
            "description",
            "operation",
            "delay",
            "maxAttempts",
            "acceptors",
        ];
        let what = format!("waiter `{name}`");
        if node.as_mapping().is_none() {
            self.reader.problem(
                Code::InvalidValue,
                format!("{what} must be a mapping"),
                node.span(),
            );
            return None;
        }
        self.reader.check_keys(node, KEYS, &what);
        let map = node.as_mapping()?;
        let description = map
            .get_node("description")
            .and_then(|n| self.string(n, "`description`"));
        let operation = self
            .required(node, "operation", &what, name_span)
            .and_then(|n| self.string(n, "`operation`"));
        let delay = self
            .required(node, "delay", &what, name_span)
            .and_then(|n| {
                let secs = n.as_scalar().and_then(|s| s.as_str().parse::<f64>().ok());
                // At most the longest duration a model may declare: later sums of instants and
                // delays then cannot overflow.
                match secs.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                    Some(delay) if delay <= MAX_DURATION => Some(delay),
                    _ => {
                        self.reader.problem(
                            Code::InvalidValue,
                            format!(
                                "`delay` must be a number of seconds from 0 to {}",
                                MAX_DURATION.as_secs()
                            ),
                            n.span(),
                        );
                        None
                    }
                }
            });
        let max_attempts = self
            .required(node, "maxAttempts", &what, name_span)
            .and_then(
                |n| match n.as_scalar().and_then(|s| s.as_str().parse::<u32>().ok()) {
                    Some(m) if m >= 1 => Some(m),
                    _ => {
                        self.reader.problem(
                            Code::InvalidValue,
                            "`maxAttempts` must be an integer ≥ 1".into(),
                            n.span(),
                        );
                        None
                    }
                },
            );
        let acceptors = match self.required(node, "acceptors", &what, name_span) {
            Some(Node::Sequence(items)) if !items.is_empty() => {
                let parsed: Vec<_> = items.iter().map(|n| self.acceptor(n)).collect();
                parsed.into_iter().collect::<Option<Vec<_>>>()
            }
            Some(other) => {
                self.reader.problem(
                    Code::InvalidValue,
                    "`acceptors` must be a non-empty list".into(),
                    other.span(),
                );
                None
            }
            None => None,
        };
        Some(WaiterConfig {
            name: name.to_string(),
            description,
            operation: operation?,
            delay: delay?,
            max_attempts: max_attempts?,
            acceptors: acceptors?,
            loc: self.reader.loc(name_span),
        })
    }

    fn acceptor(&mut self, node: &Node) -> Option<Acceptor> {
        if node.as_mapping().is_none() {
            self.reader.problem(
                Code::InvalidValue,
                "an acceptor must be a mapping".into(),
                node.span(),
            );
            return None;
        }
        self.reader.check_keys(
            node,
            &["state", "matcher", "argument", "expected"],
            "an acceptor",
        );
        let map = node.as_mapping()?;
        let state = self
            .required(node, "state", "an acceptor", &first_key(node))
            .and_then(|n| match n.as_scalar().map(|s| s.as_str()) {
                Some("success") => Some(AcceptorState::Success),
                Some("failure") => Some(AcceptorState::Failure),
                Some("retry") => Some(AcceptorState::Retry),
                _ => {
                    self.reader.problem(
                        Code::InvalidValue,
                        "`state` must be success, failure or retry".into(),
                        n.span(),
                    );
                    None
                }
            });
        let expected_node = self.required(node, "expected", "an acceptor", &first_key(node));
        let expected = expected_node.map(yaml::to_json);
        let argument = map.get_node("argument");
        let kind = self.required(node, "matcher", "an acceptor", &first_key(node))?;
        let matcher = match kind.as_scalar().map(|s| s.as_str()) {
            Some(k @ ("path" | "pathAll" | "pathAny")) => {
                let Some(arg_node) = argument else {
                    self.reader.problem(
                        Code::MissingKey,
                        format!("a `{k}` acceptor needs `argument`"),
                        &first_key(node),
                    );
                    return None;
                };
                let arg = self.string(arg_node, "`argument`")?;
                self.check_expression(&arg, arg_node.span());
                match k {
                    "path" => Matcher::Path(arg),
                    "pathAll" => Matcher::PathAll(arg),
                    _ => Matcher::PathAny(arg),
                }
            }
            Some(k @ ("status" | "error")) => {
                if let Some(arg_node) = argument {
                    self.reader.problem(
                        Code::UnknownKey,
                        format!("a `{k}` acceptor takes no `argument`"),
                        arg_node.span(),
                    );
                }
                if let (Some(value), Some(n)) = (&expected, expected_node) {
                    let ok = if k == "status" {
                        value.is_u64()
                    } else {
                        value.is_string() || value.is_boolean()
                    };
                    if !ok {
                        let want = if k == "status" {
                            "an HTTP status code"
                        } else {
                            "an error code, true or false"
                        };
                        self.reader.problem(
                            Code::InvalidValue,
                            format!("`expected` of the `{k}` acceptor must be {want}"),
                            n.span(),
                        );
                    }
                }
                if k == "status" {
                    Matcher::Status
                } else {
                    Matcher::Error
                }
            }
            _ => {
                self.reader.problem(
                    Code::InvalidValue,
                    "`matcher` must be path, pathAll, pathAny, status or error".into(),
                    kind.span(),
                );
                return None;
            }
        };
        if let (Some(Value::String(s)), Some(n)) = (&expected, expected_node)
            && let Err(message) = placeholders(s)
        {
            self.reader
                .problem(Code::InvalidPlaceholder, message, n.span());
        }
        Some(Acceptor {
            state: state?,
            matcher,
            expected: expected?,
        })
    }

    fn check_expression(&mut self, argument: &str, span: &Span) {
        if let Err(message) = placeholders(argument) {
            self.reader.problem(Code::InvalidPlaceholder, message, span);
            return;
        }
        let probe = super::matcher::substitute_argument(argument, &serde_json::Map::new(), true)
            .unwrap_or_else(|_| argument.to_string());
        if let Err(e) = jmespath::compile(&probe) {
            self.reader.problem(
                Code::InvalidExpression,
                format!(
                    "`{argument}` is not a valid JMESPath expression: {}",
                    e.reason
                ),
                span,
            );
        }
    }
}

//! The YAML file format of a model.
//!
//! ```yaml
//! initial: finished_cloud_init        # the state cloud-init writes when it is done
//! pending: [new]                      # states before it: the handler waits
//! stable: [ready]                     # healthy resting states
//! terminal: [terminated, abandoned]   # the lifecycle ends here
//! failure: failure                    # errors lead here
//! states: [new, finished_cloud_init, {name: join_cluster, timeout: 10m}, ...]
//! transitions:
//!   - source: finished_cloud_init     # one state or a list
//!     dest: join_cluster              # absent: internal transition
//!     triggers:
//!       - name: join
//!         conditions: [is_launching]  # names, or {name: {args}}
//!         unless: []
//!         before: []
//!         after: [{send_command: {commands: [/opt/join.sh]}}]
//!         ignore_errors: false
//!         stop_after_state_change: false
//!         stop_after_trigger: false
//! ```
//!
//! Parsing keeps every position and collects every problem; unknown keys are rejected.

use std::collections::BTreeMap;
use std::time::Duration;

use marked_yaml::{Node, types::MarkedScalarNode};
use serde_json::Value;

use super::spec::{CallSpec, Loc, ModelSpec, Named, StateSpec, TransitionSpec, TriggerSpec};
use crate::diag::{Code, ValidationReport};
use crate::yaml::{self, Reader};

/// Reads a model file's nodes into specs.
struct Parser<'a> {
    reader: Reader<'a>,
}

impl Parser<'_> {
    fn name(&mut self, node: &Node, what: &str) -> Option<Named> {
        match node {
            Node::Scalar(s) if !s.as_str().is_empty() => Some(self.named(s)),
            _ => {
                self.reader.problem(
                    Code::InvalidValue,
                    format!("{what} must be a name"),
                    node.span(),
                );
                None
            }
        }
    }

    fn named(&self, scalar: &MarkedScalarNode) -> Named {
        Named {
            name: scalar.as_str().to_string(),
            loc: self.reader.loc(scalar.span()),
        }
    }

    fn names(&mut self, node: &Node, what: &str) -> Vec<Named> {
        match node {
            Node::Scalar(_) => self.name(node, what).into_iter().collect(),
            Node::Sequence(items) => items.iter().filter_map(|n| self.name(n, what)).collect(),
            Node::Mapping(_) => {
                self.reader.problem(
                    Code::InvalidValue,
                    format!("{what} must be a name or a list of names"),
                    node.span(),
                );
                Vec::new()
            }
        }
    }

    fn flag(&mut self, node: &Node, key: &str) -> bool {
        match node.as_scalar().and_then(MarkedScalarNode::as_bool) {
            Some(b) => b,
            None => {
                self.reader.problem(
                    Code::InvalidValue,
                    format!("`{key}` must be true or false"),
                    node.span(),
                );
                false
            }
        }
    }

    fn calls(&mut self, node: &Node, what: &str) -> Vec<CallSpec> {
        let items: Vec<&Node> = match node {
            Node::Sequence(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut calls = Vec::new();
        for item in items {
            match item {
                Node::Scalar(s) if !s.as_str().is_empty() => calls.push(CallSpec {
                    name: self.named(s),
                    args: Value::Null,
                    arg_locs: BTreeMap::new(),
                }),
                Node::Mapping(map) if map.len() == 1 => {
                    if let Some((key, args)) = map.iter().next() {
                        let mut arg_locs = BTreeMap::new();
                        self.locate(args, String::new(), &mut arg_locs);
                        calls.push(CallSpec {
                            name: self.named(key),
                            args: yaml::to_json(args),
                            arg_locs,
                        });
                    }
                }
                other => self.reader.problem(
                    Code::InvalidValue,
                    format!("each of `{what}` must be a name or `{{name: {{arguments}}}}`"),
                    other.span(),
                ),
            }
        }
        calls
    }

    /// Records where `node` (at JSON pointer `pointer`) and each node inside it were written.
    fn locate(&self, node: &Node, pointer: String, locs: &mut BTreeMap<String, Loc>) {
        let at = match node {
            Node::Mapping(_) => yaml::first_key(node),
            _ => *node.span(),
        };
        match node {
            Node::Scalar(_) => {}
            Node::Sequence(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.locate(item, format!("{pointer}/{index}"), locs);
                }
            }
            Node::Mapping(map) => {
                for (key, value) in map.iter() {
                    let name = key.as_str().replace('~', "~0").replace('/', "~1");
                    let child = format!("{pointer}/{name}");
                    // A value is located at its key: `NAME: value` points at NAME.
                    if let Some(loc) = self.reader.loc(key.span()) {
                        locs.insert(child.clone(), loc);
                    }
                    self.locate(value, child, locs);
                }
            }
        }
        if let Some(loc) = self.reader.loc(&at) {
            locs.entry(pointer).or_insert(loc);
        }
    }

    fn trigger(&mut self, node: &Node) -> Option<TriggerSpec> {
        const KEYS: &[&str] = &[
            "name",
            "conditions",
            "unless",
            "prepare",
            "before",
            "after",
            "last",
            "ignore_errors",
            "stop_after_state_change",
            "stop_after_trigger",
        ];
        let Some(map) = node.as_mapping() else {
            self.reader.problem(
                Code::InvalidValue,
                "a trigger must be a mapping".into(),
                node.span(),
            );
            return None;
        };
        self.reader.check_keys(node, KEYS, "a trigger");
        let mut trigger = TriggerSpec::default();
        match map.get_node("name") {
            Some(n) => trigger.name = self.name(n, "`name`")?,
            None => {
                self.reader
                    .node_problem(Code::MissingKey, "a trigger needs `name`".into(), node);
                return None;
            }
        }
        if let Some(n) = map.get_node("conditions") {
            trigger.conditions = self.calls(n, "conditions");
        }
        if let Some(n) = map.get_node("unless") {
            trigger.unless = self.calls(n, "unless");
        }
        if let Some(n) = map.get_node("prepare") {
            trigger.prepare = self.calls(n, "prepare");
        }
        if let Some(n) = map.get_node("before") {
            trigger.before = self.calls(n, "before");
        }
        if let Some(n) = map.get_node("after") {
            trigger.after = self.calls(n, "after");
        }
        if let Some(n) = map.get_node("last") {
            trigger.last = self.calls(n, "last");
        }
        if let Some(n) = map.get_node("ignore_errors") {
            trigger.ignore_errors = self.flag(n, "ignore_errors");
        }
        if let Some(n) = map.get_node("stop_after_state_change") {
            trigger.stop_after_state_change = self.flag(n, "stop_after_state_change");
        }
        if let Some(n) = map.get_node("stop_after_trigger") {
            trigger.stop_after_trigger = self.flag(n, "stop_after_trigger");
        }
        Some(trigger)
    }

    fn transition(&mut self, node: &Node) -> Option<TransitionSpec> {
        let Some(map) = node.as_mapping() else {
            self.reader.problem(
                Code::InvalidValue,
                "a transition must be a mapping".into(),
                node.span(),
            );
            return None;
        };
        self.reader
            .check_keys(node, &["source", "dest", "triggers"], "a transition");
        let mut spec = TransitionSpec {
            loc: self.reader.loc(&yaml::first_key(node)),
            ..TransitionSpec::default()
        };
        match map.get_node("source") {
            Some(n) => spec.source = self.names(n, "`source`"),
            None => self.reader.node_problem(
                Code::MissingKey,
                "a transition needs `source`".into(),
                node,
            ),
        }
        if let Some(n) = map.get_node("dest") {
            spec.dest = self.name(n, "`dest`");
        }
        match map.get_node("triggers") {
            Some(Node::Sequence(items)) => {
                spec.triggers = items.iter().filter_map(|t| self.trigger(t)).collect();
            }
            Some(other) => self.reader.problem(
                Code::InvalidValue,
                "`triggers` must be a list".into(),
                other.span(),
            ),
            None => self.reader.node_problem(
                Code::MissingKey,
                "a transition needs `triggers`".into(),
                node,
            ),
        }
        Some(spec)
    }

    fn state(&mut self, node: &Node) -> Option<StateSpec> {
        match node {
            Node::Scalar(_) => Some(StateSpec {
                name: self.name(node, "a state")?,
                timeout: None,
            }),
            Node::Mapping(map) => {
                self.reader
                    .check_keys(node, &["name", "timeout"], "a state");
                let name = match map.get_node("name") {
                    Some(n) => self.name(n, "`name`")?,
                    None => {
                        self.reader.node_problem(
                            Code::MissingKey,
                            "a state needs `name`".into(),
                            node,
                        );
                        return None;
                    }
                };
                let timeout = match map.get_scalar("timeout") {
                    Some(s) => match parse_duration(s.as_str()) {
                        Ok(d) => Some(d),
                        Err(message) => {
                            self.reader.problem(Code::InvalidValue, message, s.span());
                            None
                        }
                    },
                    None => None,
                };
                Some(StateSpec { name, timeout })
            }
            Node::Sequence(_) => {
                self.reader.problem(
                    Code::InvalidValue,
                    "a state must be a name or {name, timeout}".into(),
                    node.span(),
                );
                None
            }
        }
    }
}

/// The longest duration a model may declare: 100 years, far beyond any state's timeout and
/// well inside what dates and `chrono` durations hold, so that no arithmetic on it overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses durations such as `90s`, `10m`, `1h30m`, `2d`, of at most [`MAX_DURATION`].
///
/// # Errors
/// A message naming the text that is not a duration, or that is longer than [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (e.g. 90s, 10m, 1h30m)");
    let too_long = || {
        format!(
            "`{text}` is longer than the longest duration allowed ({}d)",
            MAX_DURATION.as_secs() / 86_400
        )
    };
    let mut total = 0u64;
    let mut digits = String::new();
    let mut seen_unit = false;
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let unit: u64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        // More digits than a u64 holds is a duration too long, not a malformed one.
        let n: u64 = digits.parse().map_err(|_| too_long())?;
        total = n
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .filter(|&seconds| seconds <= MAX_DURATION.as_secs())
            .ok_or_else(too_long)?;
        digits.clear();
        seen_unit = true;
    }
    if !digits.is_empty() || !seen_unit {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Parses a model file's text into an unchecked [`ModelSpec`].
///
/// # Errors
/// Every syntax and shape problem found, located in `file`.
pub fn parse_model(file: &str, text: &str) -> Result<ModelSpec, ValidationReport> {
    let root = yaml::load(file, text)?;
    let mut parser = Parser {
        reader: Reader::new(file),
    };
    const KEYS: &[&str] = &[
        "description",
        "initial",
        "pending",
        "stable",
        "terminal",
        "failure",
        "states",
        "transitions",
    ];
    parser.reader.check_keys(&root, KEYS, "the model");
    let Some(map) = root.as_mapping() else {
        // The loader only returns mappings; a root of another kind is reported, never unwrapped.
        parser.reader.problem(
            Code::ParseError,
            "the top level must be a mapping".into(),
            root.span(),
        );
        return Err(ValidationReport {
            problems: parser.reader.problems,
        });
    };
    let mut spec = ModelSpec {
        file: file.to_string(),
        ..ModelSpec::default()
    };
    match map.get_node("states") {
        Some(Node::Sequence(items)) => {
            spec.states = items.iter().filter_map(|n| parser.state(n)).collect();
        }
        Some(other) => parser.reader.problem(
            Code::InvalidValue,
            "`states` must be a list".into(),
            other.span(),
        ),
        None => parser.reader.problem(
            Code::MissingKey,
            "the model needs `states`".into(),
            root.span(),
        ),
    }
    match map.get_node("initial") {
        Some(n) => spec.initial = parser.name(n, "`initial`"),
        None => parser.reader.problem(
            Code::MissingKey,
            "the model needs `initial`".into(),
            root.span(),
        ),
    }
    match map.get_node("failure") {
        Some(n) => spec.failure = parser.name(n, "`failure`"),
        None => parser.reader.problem(
            Code::MissingFailurePath,
            "the model declares no `failure` state: errors would have nowhere to go".into(),
            root.span(),
        ),
    }
    if let Some(n) = map.get_node("pending") {
        spec.pending = parser.names(n, "`pending`");
    }
    if let Some(n) = map.get_node("terminal") {
        spec.terminal = parser.names(n, "`terminal`");
    }
    if let Some(n) = map.get_node("stable") {
        spec.stable = parser.names(n, "`stable`");
    }
    match map.get_node("transitions") {
        Some(Node::Sequence(items)) => {
            spec.transitions = items.iter().filter_map(|n| parser.transition(n)).collect();
        }
        Some(other) => parser.reader.problem(
            Code::InvalidValue,
            "`transitions` must be a list".into(),
            other.span(),
        ),
        None => parser.reader.problem(
            Code::MissingKey,
            "the model needs `transitions`".into(),
            root.span(),
        ),
    }
    if parser.reader.problems.is_empty() {
        Ok(spec)
    } else {
        Err(ValidationReport {
            problems: parser.reader.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_compound_units() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("m").is_err(), "a unit without a number");
    }

    #[test]
    fn huge_durations_are_refused_with_a_message_not_an_overflow() {
        for text in [
            "18446744073709551615m",
            "307445734561825861m",
            "99999999999999999999999s",
            "213503982334601d",
            "36500d1s",
            "5124095576030431h5124095576030431h",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains("longer than the longest duration"),
                "{text}: {err}"
            );
        }
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
    }

    #[test]
    fn a_scalar_source_and_a_list_source_both_parse() {
        let spec = parse_model(
            "m.yaml",
            "initial: a\nfailure: f\nstates: [a, b, f]\ntransitions:\n  - source: [a, b]\n    dest: b\n    triggers: [{name: go}]\n  - source: f\n    triggers: [{name: stay}]\n",
        )
        .unwrap();
        assert_eq!(spec.transitions[0].source.len(), 2);
        assert!(spec.transitions[1].dest.is_none());
        assert_eq!(spec.transitions[0].source[1].loc.as_ref().unwrap().line, 5);
    }
}

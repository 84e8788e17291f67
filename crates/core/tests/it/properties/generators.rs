//! Generators shared by the properties: arbitrary JSON, strings that tend to break parsers, and
//! mutations of valid JSON values and texts.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Number, Value};

/// Strings that sit on the edges of what the decoders read: empty, huge numbers, dates at the
/// ends of chrono's range, templates, control characters, quotes.
const EDGES: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1e400",
    "-0",
    "NaN",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "9999-12-31T23:59:59Z",
    "+262142-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-11-20T12:00:00Z",
    "2026-13-45T99:99:99Z",
    "${",
    "${attr:",
    "${attr:Role}",
    "${}",
    "}",
    "\u{0}",
    "\u{1f}\u{7f}",
    "'\"\\",
    "é✓\u{2019}\u{feff}",
    "aws.autoscaling",
    "aws.ssm",
    "aws.events",
    "EC2 Instance-launch Lifecycle Action",
    "EC2 Command Status-change Notification",
    "EC2 Command Invocation Status-change Notification",
    "autoscaling:EC2_INSTANCE_LAUNCHING",
    "autoscaling:EC2_INSTANCE_TERMINATING",
    "Success",
    "Failed",
    "InProgress",
    "arn:aws:events:us-east-1:123456789012:rule/",
    "i-0abc",
    "{}",
    "[]",
    "{\"Records\":[]}",
    "99999999999999999999d",
    "1h30m",
];

/// A string: an edge case, a short ASCII word or any Unicode.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(EDGES).prop_map(str::to_string),
        2 => "[a-zA-Z0-9_:./-]{0,12}",
        2 => any::<String>(),
    ]
}

/// A JSON number of any kind: small, at the edges of `i64` and `u64`, or a float.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..300).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, u64::MAX - 1, i64::MAX as u64]).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![1e300, -1e300, 1.5, -0.5, 1e-300])
            .prop_map(|f: f64| { Number::from_f64(f).map_or(Value::Null, Value::Number) }),
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((string(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One change to a JSON value: at the node picked by the index, put the value, or remove the
/// node when there is none.
pub type JsonMutation = (Index, Option<Value>);

/// A few mutations.
pub fn json_mutations() -> impl Strategy<Value = Vec<JsonMutation>> {
    prop::collection::vec((any::<Index>(), prop::option::weighted(0.8, json())), 1..4)
}

/// The JSON pointers of every node of `value`, root first.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// Applies the mutations to `value`. Embedded JSON texts (an SNS `Message`, an SQS `body`) are
/// mutated as text by the caller, before they are embedded.
pub fn mutate(value: &mut Value, mutations: &[JsonMutation]) {
    for (index, replacement) in mutations {
        let mut all = Vec::new();
        pointers(value, String::new(), &mut all);
        let pointer = &all[index.index(all.len())];
        match replacement {
            Some(new) => {
                if let Some(node) = value.pointer_mut(pointer) {
                    *node = new.clone();
                }
            }
            None => remove(value, pointer),
        }
    }
}

fn remove(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        *value = Value::Null;
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// One change to a text: delete a span, insert a string, or duplicate a line.
#[derive(Clone, Debug)]
pub enum TextMutation {
    /// Delete up to this many characters at the position.
    Delete(Index, usize),
    /// Insert the string at the position.
    Insert(Index, String),
    /// Repeat the line at the position.
    DuplicateLine(Index),
}

/// A few text mutations, with YAML's own punctuation favoured among the inserted strings.
pub fn text_mutations() -> impl Strategy<Value = Vec<TextMutation>> {
    let yaml_bits = prop::sample::select(vec![
        ":",
        "- ",
        "{",
        "}",
        "[",
        "]",
        "\n",
        "  ",
        "#",
        "&a",
        "*a",
        "!!str ",
        "? ",
        "|",
        ">",
        "'",
        "\"",
        ",",
        "\t",
        "~",
        "null",
        "1e999",
        "-5",
        "99999999999999999999",
        "${x}",
    ])
    .prop_map(str::to_string);
    let mutation = prop_oneof![
        (any::<Index>(), 1usize..20).prop_map(|(i, n)| TextMutation::Delete(i, n)),
        (any::<Index>(), prop_oneof![2 => yaml_bits, 1 => string()])
            .prop_map(|(i, s)| TextMutation::Insert(i, s)),
        any::<Index>().prop_map(TextMutation::DuplicateLine),
    ];
    prop::collection::vec(mutation, 1..6)
}

/// The byte offset of a character boundary picked by `index`.
fn boundary(text: &str, index: &Index) -> usize {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    bounds[index.index(bounds.len())]
}

/// Applies the mutations to `text`.
pub fn mutate_text(text: &str, mutations: &[TextMutation]) -> String {
    let mut text = text.to_string();
    for mutation in mutations {
        match mutation {
            TextMutation::Delete(at, count) => {
                let start = boundary(&text, at);
                let end = text[start..]
                    .char_indices()
                    .nth(*count)
                    .map_or(text.len(), |(i, _)| start + i);
                text.replace_range(start..end, "");
            }
            TextMutation::Insert(at, inserted) => {
                let at = boundary(&text, at);
                text.insert_str(at, inserted);
            }
            TextMutation::DuplicateLine(at) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                if lines.is_empty() {
                    continue;
                }
                let i = at.index(lines.len());
                let mut out: Vec<&str> = lines[..=i].to_vec();
                out.extend(&lines[i..]);
                text = out.concat();
            }
        }
    }
    text
}

/// A time: mostly near now, sometimes anywhere in chrono's range, sometimes at its very ends.
pub fn time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        3 => (1_700_000_000i64..1_900_000_000).prop_map(|s| DateTime::from_timestamp(s, 0)),
        1 => (-8_000_000_000_000i64..8_000_000_000_000).prop_map(|s| DateTime::from_timestamp(s, 0)),
        1 => Just(Some(DateTime::<Utc>::MAX_UTC)),
        1 => Just(Some(DateTime::<Utc>::MIN_UTC)),
    ]
    .prop_map(Option::unwrap_or_default)
}

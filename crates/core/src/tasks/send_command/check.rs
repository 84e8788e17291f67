//! Checking `send_command`'s arguments: every problem, typed, with the JSON pointer of the
//! argument at fault (model validation locates it; the task refuses to send on the first).

use serde_json::Value;

use super::{DEFAULT_DOCUMENT, SendCommandError, ShellPlatform};

/// Parameters whose values are command text, whatever the document.
pub(super) const COMMAND_TEXT_PARAMETERS: &[&str] = &["commands", "commandLine"];

/// A problem found in the arguments, with the JSON pointer of the argument at fault.
pub(super) type Located = (String, SendCommandError);

/// True for a shell variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A JSON pointer segment (`~` and `/` escaped).
fn segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The `${instance:NAME}` references: facts about the instance read from AWS when the command
/// is built, never from the record.
pub(super) const INSTANCE_FACTS: &[&str] = &[PRIVATE_IP];
/// `${instance:private_ip}`: the private IP address SSM reports for the instance
/// (`DescribeInstanceInformation`, its `IPAddress`).
pub(super) const PRIVATE_IP: &str = "private_ip";
/// The reference to [`PRIVATE_IP`] in a template.
pub(super) const PRIVATE_IP_REFERENCE: &str = "${instance:private_ip}";

/// The references of the `${...}` templates in `text`, each checked to be one `send_command`
/// resolves.
pub(super) fn references(text: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    scan_references(text, |reference| found.push(reference))?;
    Ok(found)
}

/// Checks the references of the `${...}` templates in `text`, collecting nothing.
fn check_references(text: &str) -> Result<(), String> {
    scan_references(text, |_| {})
}

/// Calls `found` with each reference of the `${...}` templates in `text`, checking that it is one
/// `send_command` resolves.
fn scan_references<'t>(text: &'t str, mut found: impl FnMut(&'t str)) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let reference = &after[..end];
        let known = matches!(reference, "instance_id" | "group")
            || reference
                .strip_prefix("instance:")
                .is_some_and(|fact| INSTANCE_FACTS.contains(&fact))
            || reference
                .strip_prefix("attr:")
                .or_else(|| reference.strip_prefix("metadata:"))
                .is_some_and(|name| !name.is_empty());
        if !known {
            return Err(format!(
                "unknown reference `${{{reference}}}` (known: ${{instance:private_ip}}, ${{attr:NAME}}, ${{metadata:KEY}}, ${{instance_id}}, ${{group}})"
            ));
        }
        found(reference);
        rest = &after[end + 1..];
    }
    Ok(())
}

/// Where an argument's text is: `/{section}/{name}` (`name` escaped as a JSON pointer segment),
/// and `/{index}` for an item of a list. Written out only for a problem found: arguments are
/// checked before every send, and valid ones cost no allocation.
#[derive(Clone, Copy)]
struct Spot<'a> {
    section: &'static str,
    name: Option<&'a str>,
    index: Option<usize>,
}

impl Spot<'_> {
    fn pointer(self) -> String {
        let mut pointer = format!("/{}", self.section);
        if let Some(name) = self.name {
            pointer.push('/');
            pointer.push_str(&segment(name));
        }
        if let Some(index) = self.index {
            pointer.push_str(&format!("/{index}"));
        }
        pointer
    }
}

/// The strings of a parameter value with where they are: a string, or a list's strings.
fn parameter_texts<'a>(spot: Spot<'a>, value: &'a Value) -> Vec<(Spot<'a>, &'a str)> {
    match value {
        Value::String(s) => vec![(spot, s.as_str())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let at = Spot {
                    index: Some(i),
                    ..spot
                };
                v.as_str().map(|s| (at, s))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `/parameters/commands/1` as `parameters.commands[1]`, for messages.
fn argument_name(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) && !out.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// The arguments `send_command` accepts, each read once (one pass over the mapping, no lookups), and the
/// names that are not arguments, in the mapping's order.
#[derive(Default)]
pub(super) struct Arguments<'a> {
    pub(super) document: Option<&'a Value>,
    pub(super) commands: Option<&'a Value>,
    pub(super) parameters: Option<&'a Value>,
    pub(super) env: Option<&'a Value>,
    pub(super) timeout_seconds: Option<&'a Value>,
    pub(super) comment: Option<&'a Value>,
    unknown: Vec<&'a str>,
}

impl<'a> Arguments<'a> {
    pub(super) fn of(map: &'a serde_json::Map<String, Value>) -> Self {
        let mut arguments = Self::default();
        for (key, value) in map {
            let slot = match key.as_str() {
                "document" => &mut arguments.document,
                "commands" => &mut arguments.commands,
                "parameters" => &mut arguments.parameters,
                "env" => &mut arguments.env,
                "timeout_seconds" => &mut arguments.timeout_seconds,
                "comment" => &mut arguments.comment,
                _ => {
                    arguments.unknown.push(key);
                    continue;
                }
            };
            *slot = Some(value);
        }
        arguments
    }
}

/// Every problem of `send_command`'s arguments, in argument order.
pub(super) fn problems(args: &Value) -> Vec<Located> {
    let invalid = |pointer: &str, message: String| {
        (
            pointer.to_string(),
            SendCommandError::InvalidArguments(message),
        )
    };
    let Value::Object(map) = args else {
        let message = if args.is_null() {
            "expects `commands` or `parameters`"
        } else {
            "expects a mapping of arguments"
        };
        return vec![invalid("", message.into())];
    };
    let arguments = Arguments::of(map);
    let mut found = Vec::new();
    for key in &arguments.unknown {
        found.push(invalid(
            &format!("/{}", segment(key)),
            format!("unknown argument `{key}`"),
        ));
    }
    if arguments.commands.is_none() && arguments.parameters.is_none() {
        found.push(invalid("", "expects `commands` or `parameters`".into()));
    }
    let document = match arguments.document {
        None => DEFAULT_DOCUMENT,
        Some(Value::String(d)) if !d.is_empty() => d.as_str(),
        Some(_) => {
            found.push(invalid(
                "/document",
                "`document` must be a document name".into(),
            ));
            DEFAULT_DOCUMENT
        }
    };
    let mut command_text: Vec<(Spot<'_>, &str)> = Vec::new();
    match arguments.commands {
        None => {}
        Some(commands @ Value::Array(items)) if items.iter().all(Value::is_string) => {
            let spot = Spot {
                section: "commands",
                name: None,
                index: None,
            };
            command_text.extend(parameter_texts(spot, commands));
        }
        Some(_) => found.push(invalid(
            "/commands",
            "`commands` must be a list of strings".into(),
        )),
    }
    match arguments.parameters {
        None => {}
        Some(Value::Object(params)) => {
            for (name, value) in params {
                let spot = Spot {
                    section: "parameters",
                    name: Some(name),
                    index: None,
                };
                let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
                let fits = match value {
                    Value::Array(items) => items.iter().all(scalar),
                    other => scalar(other),
                };
                if !fits {
                    found.push(invalid(
                        &spot.pointer(),
                        format!("`parameters.{name}` must be a value or a list of values"),
                    ));
                } else if COMMAND_TEXT_PARAMETERS.contains(&name.as_str()) {
                    command_text.extend(parameter_texts(spot, value));
                } else {
                    for (spot, text) in parameter_texts(spot, value) {
                        if let Err(reason) = check_references(text) {
                            let pointer = spot.pointer();
                            let message = format!("`{}`: {reason}", argument_name(&pointer));
                            found.push(invalid(&pointer, message));
                        }
                    }
                }
            }
        }
        Some(_) => found.push(invalid(
            "/parameters",
            "`parameters` must be a mapping of document parameters".into(),
        )),
    }
    for (spot, text) in command_text {
        if text.contains("${") {
            let pointer = spot.pointer();
            let argument = argument_name(&pointer);
            found.push((
                pointer,
                SendCommandError::TemplateInCommand {
                    document: document.to_string(),
                    argument,
                },
            ));
        }
    }
    match arguments.env {
        None => {}
        Some(Value::Object(env)) => {
            if !env.is_empty() && ShellPlatform::of_document(document).is_none() {
                found.push((
                    "/env".into(),
                    SendCommandError::EnvUnsupportedDocument {
                        document: document.to_string(),
                    },
                ));
            }
            for (name, value) in env {
                let spot = Spot {
                    section: "env",
                    name: Some(name),
                    index: None,
                };
                if !is_env_name(name) {
                    found.push((
                        spot.pointer(),
                        SendCommandError::InvalidEnvName { name: name.clone() },
                    ));
                }
                match value {
                    Value::String(text) => {
                        if let Err(reason) = check_references(text) {
                            found.push(invalid(&spot.pointer(), format!("`env.{name}`: {reason}")));
                        }
                    }
                    _ => found.push(invalid(
                        &spot.pointer(),
                        format!("`env.{name}` must be a string"),
                    )),
                }
            }
        }
        Some(_) => found.push(invalid(
            "/env",
            "`env` must be a mapping of variable names to values".into(),
        )),
    }
    if let Some(t) = arguments.timeout_seconds
        && !t
            .as_i64()
            .is_some_and(|t| i32::try_from(t).is_ok_and(|t| t > 0))
    {
        found.push(invalid(
            "/timeout_seconds",
            "`timeout_seconds` must be a positive number of seconds".into(),
        ));
    }
    if let Some(c) = arguments.comment
        && !c.is_string()
    {
        found.push(invalid("/comment", "`comment` must be a string".into()));
    }
    found
}

//! Checking `send_command`'s arguments: every problem, typed, with the JSON pointer of the
//! argument at fault (model validation locates it; the task refuses to send on the first).

use serde_json::Value;

use super::{DEFAULT_DOCUMENT, SendCommandError, ShellPlatform};

/// Parameters whose values are command text, whatever the document.
pub(super) const COMMAND_TEXT_PARAMETERS: &[&str] = &["commands", "commandLine"];
/// The arguments `send_command` accepts.
const ARGUMENTS: &[&str] = &[
    "document",
    "commands",
    "parameters",
    "env",
    "timeout_seconds",
    "comment",
];

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
        found.push(reference);
        rest = &after[end + 1..];
    }
    Ok(found)
}

/// The strings of a parameter value with their pointers: a string, or a list's strings.
fn parameter_texts<'a>(pointer: &str, value: &'a Value) -> Vec<(String, &'a str)> {
    match value {
        Value::String(s) => vec![(pointer.to_string(), s.as_str())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| (format!("{pointer}/{i}"), s)))
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
    let mut found = Vec::new();
    for key in map.keys() {
        if !ARGUMENTS.contains(&key.as_str()) {
            found.push(invalid(
                &format!("/{}", segment(key)),
                format!("unknown argument `{key}`"),
            ));
        }
    }
    if map.get("commands").is_none() && map.get("parameters").is_none() {
        found.push(invalid("", "expects `commands` or `parameters`".into()));
    }
    let document = match map.get("document") {
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
    let mut command_text: Vec<(String, &str)> = Vec::new();
    match map.get("commands") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            command_text.extend(parameter_texts("/commands", &map["commands"]));
        }
        Some(_) => found.push(invalid(
            "/commands",
            "`commands` must be a list of strings".into(),
        )),
    }
    match map.get("parameters") {
        None => {}
        Some(Value::Object(params)) => {
            for (name, value) in params {
                let pointer = format!("/parameters/{}", segment(name));
                let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
                let fits = match value {
                    Value::Array(items) => items.iter().all(scalar),
                    other => scalar(other),
                };
                if !fits {
                    found.push(invalid(
                        &pointer,
                        format!("`parameters.{name}` must be a value or a list of values"),
                    ));
                } else if COMMAND_TEXT_PARAMETERS.contains(&name.as_str()) {
                    command_text.extend(parameter_texts(&pointer, value));
                } else {
                    for (pointer, text) in parameter_texts(&pointer, value) {
                        if let Err(reason) = references(text) {
                            found.push(invalid(
                                &pointer,
                                format!("`{}`: {reason}", argument_name(&pointer)),
                            ));
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
    for (pointer, text) in command_text {
        if text.contains("${") {
            found.push((
                pointer.clone(),
                SendCommandError::TemplateInCommand {
                    document: document.to_string(),
                    argument: argument_name(&pointer),
                },
            ));
        }
    }
    match map.get("env") {
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
                let pointer = format!("/env/{}", segment(name));
                if !is_env_name(name) {
                    found.push((
                        pointer.clone(),
                        SendCommandError::InvalidEnvName { name: name.clone() },
                    ));
                }
                match value {
                    Value::String(text) => {
                        if let Err(reason) = references(text) {
                            found.push(invalid(&pointer, format!("`env.{name}`: {reason}")));
                        }
                    }
                    _ => found.push(invalid(&pointer, format!("`env.{name}` must be a string"))),
                }
            }
        }
        Some(_) => found.push(invalid(
            "/env",
            "`env` must be a mapping of variable names to values".into(),
        )),
    }
    if let Some(t) = map.get("timeout_seconds")
        && !t
            .as_i64()
            .is_some_and(|t| i32::try_from(t).is_ok_and(|t| t > 0))
    {
        found.push(invalid(
            "/timeout_seconds",
            "`timeout_seconds` must be a positive number of seconds".into(),
        ));
    }
    if let Some(c) = map.get("comment")
        && !c.is_string()
    {
        found.push(invalid("/comment", "`comment` must be a string".into()));
    }
    found
}

//! Matching acceptors against a response, with botocore's semantics, and safe `${..}`
//! parameter substitution.

use serde_json::{Map, Value};

use super::model::{Acceptor, Matcher};
use super::operation::OperationError;

/// What one attempt got back.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// A normal response, in the API's JSON shape (HTTP 200).
    Output(Value),
    /// An error response.
    Error(OperationError),
}

impl Response {
    /// The response as a botocore waiter sees it: the output, or `{"Error": {"Code", "Message"}}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        match self {
            Self::Output(v) => v.clone(),
            Self::Error(e) => e.to_json(),
        }
    }

    /// The HTTP status: 200 for an output.
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Output(_) => Some(200),
            Self::Error(e) => e.http_status,
        }
    }
}

/// The result of examining one response with one acceptor.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Whether the acceptor matched.
    pub matched: bool,
    /// What was looked at (the argument's value, the status or the error code), for status lines.
    pub observed: Value,
}

/// Why an acceptor could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// A `${..}` names a parameter that was not given.
    #[error("missing parameter `{0}`")]
    MissingParameter(String),
    /// A `${..}` is malformed.
    #[error("{0}")]
    Placeholder(String),
    /// The argument is not a valid JMESPath expression, or failed to evaluate.
    #[error("failed to evaluate `{argument}`: {message}")]
    Expression {
        /// The argument, after substitution.
        argument: String,
        /// What went wrong.
        message: String,
    },
}

/// The parameter names of the `${Name}` placeholders in `text`, in order.
///
/// # Errors
/// An unterminated or empty placeholder.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
        let name = &after[..end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`${{{name}}}` in `{text}` is not a parameter name"));
        }
        names.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(names)
}

fn replace(
    text: &str,
    mut render: impl FnMut(&str) -> Result<String, MatchError>,
) -> Result<String, MatchError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| MatchError::Placeholder(format!("unterminated `${{` in `{text}`")))?;
        out.push_str(&render(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Substitutes each `${Name}` of a JMESPath argument by the parameter's value as a JSON literal
/// (`` `"i-1"` ``), so no value can change the expression's structure. With `lenient`, a missing
/// parameter becomes `` `null` `` (used to check an expression's syntax at load time).
///
/// # Errors
/// [`MatchError::MissingParameter`] when a parameter is missing and not `lenient`.
pub fn substitute_argument(
    argument: &str,
    params: &Map<String, Value>,
    lenient: bool,
) -> Result<String, MatchError> {
    replace(argument, |name| match params.get(name) {
        Some(value) => {
            let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
            Ok(format!("`{}`", json.replace('`', "\\`")))
        }
        None if lenient => Ok("`null`".to_string()),
        None => Err(MatchError::MissingParameter(name.to_string())),
    })
}

/// Substitutes the placeholders of an `expected` value: a string that is exactly `${Name}`
/// becomes the parameter's value; a placeholder inside a longer string, its text.
///
/// # Errors
/// [`MatchError::MissingParameter`] when a parameter is missing.
pub fn substitute_expected(
    expected: &Value,
    params: &Map<String, Value>,
) -> Result<Value, MatchError> {
    let Value::String(text) = expected else {
        return Ok(expected.clone());
    };
    let whole = placeholders(text).map_err(MatchError::Placeholder)?;
    if whole.len() == 1 && *text == format!("${{{}}}", whole[0]) {
        return params
            .get(&whole[0])
            .cloned()
            .ok_or_else(|| MatchError::MissingParameter(whole[0].clone()));
    }
    let replaced = replace(text, |name| match params.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(MatchError::MissingParameter(name.to_string())),
    })?;
    Ok(Value::String(replaced))
}

/// JSON equality as botocore's Python sees it: numbers compare by value (`1 == 1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn search(argument: &str, data: &Value) -> Result<Value, MatchError> {
    let fail = |message: String| MatchError::Expression {
        argument: argument.to_string(),
        message,
    };
    let expression = jmespath::compile(argument).map_err(|e| fail(e.reason.to_string()))?;
    let result = expression
        .search(data)
        .map_err(|e| fail(e.reason.to_string()))?;
    serde_json::to_value(&*result).map_err(|e| fail(e.to_string()))
}

/// Examines `response` with `acceptor`, as botocore does: path matchers never match an error
/// response; `pathAll` and `pathAny` need a non-empty list; `status` looks at the HTTP status of
/// any response; `error` matches an error code, any error (`true`) or no error (`false`).
///
/// # Errors
/// A missing parameter or an argument that cannot be evaluated.
pub fn evaluate(
    acceptor: &Acceptor,
    response: &Response,
    params: &Map<String, Value>,
) -> Result<Evaluation, MatchError> {
    let expected = substitute_expected(&acceptor.expected, params)?;
    let evaluation = match (&acceptor.matcher, response) {
        (Matcher::Path(_) | Matcher::PathAll(_) | Matcher::PathAny(_), Response::Error(e)) => {
            // Still substitute, so a missing parameter is reported whatever the response.
            if let Some(argument) = acceptor.matcher.argument() {
                substitute_argument(argument, params, false)?;
            }
            Evaluation {
                matched: false,
                observed: Value::String(e.code.clone()),
            }
        }
        (matcher, Response::Output(output)) if matcher.argument().is_some() => {
            let argument =
                substitute_argument(matcher.argument().unwrap_or_default(), params, false)?;
            let observed = search(&argument, output)?;
            let matched = match (matcher, &observed) {
                (Matcher::Path(_), value) => json_eq(value, &expected),
                (Matcher::PathAll(_), Value::Array(items)) => {
                    !items.is_empty() && items.iter().all(|v| json_eq(v, &expected))
                }
                (Matcher::PathAny(_), Value::Array(items)) => {
                    items.iter().any(|v| json_eq(v, &expected))
                }
                _ => false,
            };
            Evaluation { matched, observed }
        }
        (Matcher::Status, response) => {
            let status = response.http_status();
            Evaluation {
                matched: status.is_some_and(|s| expected.as_u64() == Some(u64::from(s))),
                observed: status.map_or(Value::Null, Value::from),
            }
        }
        (_, response) => {
            let code = match response {
                Response::Error(e) => Value::String(e.code.clone()),
                Response::Output(_) => Value::Null,
            };
            let matched = match (&expected, response) {
                (Value::Bool(true), Response::Error(_))
                | (Value::Bool(false), Response::Output(_)) => true,
                (Value::String(want), Response::Error(e)) => *want == e.code,
                _ => false,
            };
            Evaluation {
                matched,
                observed: code,
            }
        }
    };
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waiter::model::AcceptorState;
    use serde_json::json;

    fn acceptor(matcher: Matcher, expected: Value) -> Acceptor {
        Acceptor {
            state: AcceptorState::Success,
            matcher,
            expected,
        }
    }

    fn error(code: &str) -> Response {
        Response::Error(OperationError {
            code: code.into(),
            message: "m".into(),
            http_status: Some(400),
        })
    }

    fn matches(a: &Acceptor, r: &Response) -> bool {
        evaluate(a, r, &Map::new()).unwrap().matched
    }

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn path_matches_the_expected_value_and_never_an_error_response() {
        let a = acceptor(Matcher::Path("Item.ItemStatus.S".into()), json!("ready"));
        assert!(matches(
            &a,
            &Response::Output(json!({"Item": {"ItemStatus": {"S": "ready"}}}))
        ));
        assert!(!matches(
            &a,
            &Response::Output(json!({"Item": {"ItemStatus": {"S": "new"}}}))
        ));
        let b = acceptor(Matcher::Path("Error.Code".into()), json!("Boom"));
        assert!(
            !matches(&b, &error("Boom")),
            "path matchers ignore error responses"
        );
    }

    #[test]
    fn path_all_needs_a_non_empty_list_of_expected_values() {
        let a = acceptor(Matcher::PathAll("Xs[].S".into()), json!("InService"));
        let out = |xs: Value| Response::Output(json!({ "Xs": xs }));
        assert!(matches(
            &a,
            &out(json!([{"S": "InService"}, {"S": "InService"}]))
        ));
        assert!(!matches(
            &a,
            &out(json!([{"S": "InService"}, {"S": "Pending"}]))
        ));
        assert!(!matches(&a, &out(json!([]))), "an empty list never matches");
        assert!(
            !matches(&a, &Response::Output(json!({}))),
            "null is not a list"
        );
        assert!(!matches(&a, &error("X")));
    }

    #[test]
    fn path_any_needs_one_expected_element() {
        let a = acceptor(Matcher::PathAny("Xs[].S".into()), json!("Terminated"));
        let out = |xs: Value| Response::Output(json!({ "Xs": xs }));
        assert!(matches(
            &a,
            &out(json!([{"S": "InService"}, {"S": "Terminated"}]))
        ));
        assert!(!matches(&a, &out(json!([{"S": "InService"}]))));
        assert!(!matches(&a, &out(json!([]))));
        assert!(
            !matches(&a, &Response::Output(json!({"Xs": "Terminated"}))),
            "not a list"
        );
        assert!(!matches(&a, &error("X")));
    }

    #[test]
    fn status_matches_outputs_and_error_responses() {
        let ok = acceptor(Matcher::Status, json!(200));
        assert!(matches(&ok, &Response::Output(json!({}))));
        assert!(!matches(&ok, &error("X")));
        let bad = acceptor(Matcher::Status, json!(400));
        assert!(matches(&bad, &error("X")));
    }

    #[test]
    fn error_matches_a_code_any_error_or_no_error() {
        let code = acceptor(Matcher::Error, json!("ResourceNotFoundException"));
        assert!(matches(&code, &error("ResourceNotFoundException")));
        assert!(!matches(&code, &error("AccessDenied")));
        assert!(!matches(&code, &Response::Output(json!({}))));
        let any = acceptor(Matcher::Error, json!(true));
        assert!(matches(&any, &error("AccessDenied")));
        assert!(!matches(&any, &Response::Output(json!({}))));
        let none = acceptor(Matcher::Error, json!(false));
        assert!(matches(&none, &Response::Output(json!({}))));
        assert!(!matches(&none, &error("AccessDenied")));
    }

    #[test]
    fn numbers_compare_by_value() {
        let a = acceptor(Matcher::Path("Count".into()), json!(1));
        assert!(matches(&a, &Response::Output(json!({"Count": 1.0}))));
    }

    #[test]
    fn parameters_are_substituted_as_literals_and_cannot_inject() {
        let a = acceptor(
            Matcher::PathAny("Xs[?Id == ${Id}].S".into()),
            json!("${Wanted}"),
        );
        let out = Response::Output(
            json!({"Xs": [{"Id": "a' || 'b", "S": "ok"}, {"Id": "b", "S": "no"}]}),
        );
        let p = params(json!({"Id": "a' || 'b", "Wanted": "ok"}));
        assert!(evaluate(&a, &out, &p).unwrap().matched);
        let p = params(json!({"Id": "b` || `true", "Wanted": "ok"}));
        assert!(
            !evaluate(&a, &out, &p).unwrap().matched,
            "a backtick cannot break out"
        );
    }

    #[test]
    fn a_missing_parameter_is_an_error_not_an_empty_string() {
        let a = acceptor(
            Matcher::Path("Item.ItemStatus.S".into()),
            json!("${ItemStatus}"),
        );
        let out = Response::Output(json!({"Item": {"ItemStatus": {"S": ""}}}));
        assert_eq!(
            evaluate(&a, &out, &Map::new()),
            Err(MatchError::MissingParameter("ItemStatus".into()))
        );
        let b = acceptor(Matcher::Path("Xs[?Id == ${Id}]".into()), json!([]));
        assert_eq!(
            evaluate(&b, &error("X"), &Map::new()),
            Err(MatchError::MissingParameter("Id".into()))
        );
    }

    #[test]
    fn expected_placeholders_keep_the_parameter_type_or_interpolate() {
        let p = params(json!({"N": 3, "S": "x"}));
        assert_eq!(substitute_expected(&json!("${N}"), &p), Ok(json!(3)));
        assert_eq!(
            substitute_expected(&json!("n=${N}, s=${S}"), &p),
            Ok(json!("n=3, s=x"))
        );
        assert!(placeholders("a ${b").is_err());
        assert!(placeholders("${}").is_err());
    }
}

//! Input validation against the model, before any request: unknown and missing members, wrong
//! types and values below the model's `min` (botocore's checks), every problem named by its path
//! (`Filters[0].Values`).

use std::fmt;

use serde_json::Value;

use super::model::{ServiceModel, ShapeType};
use super::{Error, Result};

/// One problem of an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where (`Filters[0].Values`; empty for the input itself).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem of an input, in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Checks `input` against the input shape of `operation`.
///
/// # Errors
/// [`Error::InvalidInput`] with every problem; [`Error::UnknownOperation`] or
/// [`Error::MissingShape`] when the model is at fault.
pub fn validate(model: &ServiceModel, operation: &str, input: &Value) -> Result<()> {
    let op = model.operation(operation)?;
    let mut problems = Vec::new();
    match &op.input {
        Some(input_ref) => check(model, &input_ref.shape, input, "", &mut problems)?,
        None => match input.as_object() {
            Some(map) if map.is_empty() => {}
            Some(map) => {
                for key in map.keys() {
                    problems.push(Problem {
                        path: key.clone(),
                        message: format!("unknown member: {operation} takes no input"),
                    });
                }
            }
            None => problems.push(Problem {
                path: String::new(),
                message: "the input must be a JSON object".into(),
            }),
        },
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            operation: operation.to_string(),
            problems: Problems(problems),
        })
    }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check(
    model: &ServiceModel,
    shape_name: &str,
    value: &Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let shape = model.shape(shape_name)?;
    let wrong = |expected: &str| Problem {
        path: path.to_string(),
        message: format!("expected {expected}, got {}", type_name(value)),
    };
    let below_min = |what: &str, found: f64| {
        shape.min.filter(|min| found < *min).map(|min| Problem {
            path: path.to_string(),
            message: format!("invalid {what}: {found}, valid min {what}: {min}"),
        })
    };
    match shape.kind {
        ShapeType::Structure if shape.document => {}
        ShapeType::Structure => {
            let Some(map) = value.as_object() else {
                problems.push(wrong("an object"));
                return Ok(());
            };
            for required in &shape.required {
                if !map.contains_key(required) {
                    problems.push(Problem {
                        path: join(path, required),
                        message: "missing required member".into(),
                    });
                }
            }
            for (key, member) in map {
                match shape.members.get(key) {
                    Some(member_ref) => {
                        check(model, &member_ref.shape, member, &join(path, key), problems)?;
                    }
                    None => {
                        let known: Vec<&str> = shape.members.keys().map(String::as_str).collect();
                        problems.push(Problem {
                            path: join(path, key),
                            message: format!("unknown member (known: {})", known.join(", ")),
                        });
                    }
                }
            }
        }
        ShapeType::List => {
            let Some(items) = value.as_array() else {
                problems.push(wrong("a list"));
                return Ok(());
            };
            #[allow(
                clippy::cast_precision_loss,
                reason = "list lengths are far below 2^52"
            )]
            problems.extend(below_min("length", items.len() as f64));
            let member = shape.member.as_ref().map(|m| m.shape.as_str());
            for (i, item) in items.iter().enumerate() {
                if let Some(member) = member {
                    check(model, member, item, &format!("{path}[{i}]"), problems)?;
                }
            }
        }
        ShapeType::Map => {
            let Some(map) = value.as_object() else {
                problems.push(wrong("an object (a map)"));
                return Ok(());
            };
            if let Some(value_ref) = &shape.value {
                for (key, item) in map {
                    check(model, &value_ref.shape, item, &join(path, key), problems)?;
                }
            }
        }
        ShapeType::String => match value.as_str() {
            #[allow(
                clippy::cast_precision_loss,
                reason = "string lengths are far below 2^52"
            )]
            Some(text) => problems.extend(below_min("length", text.chars().count() as f64)),
            None => problems.push(wrong("a string")),
        },
        ShapeType::Integer | ShapeType::Long => match value.as_f64() {
            Some(number) if value.is_i64() || value.is_u64() => {
                problems.extend(below_min("range", number))
            }
            _ => problems.push(wrong("an integer")),
        },
        ShapeType::Float | ShapeType::Double => match value.as_f64() {
            Some(number) => problems.extend(below_min("range", number)),
            None => problems.push(wrong("a number")),
        },
        ShapeType::Boolean => {
            if !value.is_boolean() {
                problems.push(wrong("a boolean"));
            }
        }
        ShapeType::Timestamp => {
            let ok = match value {
                Value::Number(_) => true,
                Value::String(s) => super::timestamp::parse(s).is_some(),
                _ => false,
            };
            if !ok {
                problems.push(wrong("a timestamp (ISO 8601 text or epoch seconds)"));
            }
        }
        ShapeType::Blob => {
            if !value.is_string() {
                problems.push(wrong("a string (the bytes)"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(service: &str, operation: &str, input: &Value) -> Vec<String> {
        let model = ServiceModel::builtin(service).unwrap();
        match validate(&model, operation, input) {
            Ok(()) => Vec::new(),
            Err(Error::InvalidInput { problems, .. }) => {
                problems.0.iter().map(ToString::to_string).collect()
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn a_valid_input_passes() {
        let input = serde_json::json!({"InstanceIds": ["i-1"],
            "Filters": [{"Name": "instance-state-name", "Values": ["running"]}], "MaxResults": 5});
        assert!(problems("ec2", "DescribeInstances", &input).is_empty());
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let input = serde_json::json!({"Filters": [{"Name": "x", "Values": "running"}]});
        assert_eq!(
            problems("ec2", "DescribeInstances", &input),
            ["Filters[0].Values: expected a list, got a string"]
        );
    }

    #[test]
    fn unknown_and_missing_members_are_all_reported() {
        let input = serde_json::json!({"Key": {"Ident": {"S": "i-1"}}, "Tabel": "t"});
        let found = problems("dynamodb", "GetItem", &input);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0], "TableName: missing required member");
        assert!(
            found[1].starts_with("Tabel: unknown member (known: "),
            "{found:?}"
        );
    }

    #[test]
    fn values_below_the_models_min_are_refused_as_botocore_does() {
        // LifecycleActionToken: min 36 (a UUID); LifecycleHookName and AutoScalingGroupName: min 1.
        let input = serde_json::json!({"LifecycleHookName": "hook", "AutoScalingGroupName": "",
            "LifecycleActionToken": "short", "LifecycleActionResult": "CONTINUE"});
        assert_eq!(
            problems("autoscaling", "CompleteLifecycleAction", &input),
            [
                "AutoScalingGroupName: invalid length: 0, valid min length: 1",
                "LifecycleActionToken: invalid length: 5, valid min length: 36"
            ]
        );
        let input = serde_json::json!({"TableName": "", "Key": {}});
        assert_eq!(
            problems("dynamodb", "GetItem", &input),
            ["TableName: invalid length: 0, valid min length: 1"]
        );
    }

    #[test]
    fn integers_booleans_and_timestamps_are_checked() {
        let input = serde_json::json!({"MaxRecords": "10", "AutoScalingGroupNames": [1]});
        assert_eq!(
            problems("autoscaling", "DescribeAutoScalingGroups", &input),
            [
                "MaxRecords: expected an integer, got a string",
                "AutoScalingGroupNames[0]: expected a string, got a number"
            ]
        );
        let input = serde_json::json!({"ConsistentRead": "yes", "TableName": "t", "Key": {}});
        assert_eq!(
            problems("dynamodb", "GetItem", &input),
            ["ConsistentRead: expected a boolean, got a string"]
        );
        let input =
            serde_json::json!({"StartTime": "yesterday", "EndTime": "2024-01-01T00:00:00Z"});
        assert_eq!(
            problems("ec2", "DescribeSpotPriceHistory", &input),
            ["StartTime: expected a timestamp (ISO 8601 text or epoch seconds), got a string"]
        );
    }
}

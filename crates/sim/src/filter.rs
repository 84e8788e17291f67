//! Lambda event filtering, as the template's event source mapping applies it to stream records:
//! the subset of EventBridge patterns the filters use (exact values, `anything-but`, `exists`,
//! `prefix`).

use serde_json::Value;

/// True when `record` matches `pattern`: every field the pattern names matches.
#[must_use]
pub fn matches(pattern: &Value, record: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(name, expected)| {
        let found = record.get(name);
        match expected {
            Value::Object(_) => found.is_some_and(|inner| matches(expected, inner)),
            Value::Array(allowed) => allowed.iter().any(|one| allows(one, found)),
            _ => false,
        }
    })
}

/// One entry of a pattern's list against the field found (if any).
fn allows(entry: &Value, found: Option<&Value>) -> bool {
    match entry {
        Value::Object(rule) => {
            if let Some(exists) = rule.get("exists").and_then(Value::as_bool) {
                return found.is_some() == exists;
            }
            if let Some(prefix) = rule.get("prefix").and_then(Value::as_str) {
                return found
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.starts_with(prefix));
            }
            if let Some(excluded) = rule.get("anything-but") {
                let excluded: Vec<&Value> = match excluded {
                    Value::Array(values) => values.iter().collect(),
                    one => vec![one],
                };
                return found.is_some_and(|f| !f.is_object() && !excluded.contains(&f));
            }
            false
        }
        scalar => found == Some(scalar),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::matches;

    #[test]
    fn exact_values_anything_but_and_exists_match_as_lambda_filters_do() {
        let record = json!({"eventName": "MODIFY", "dynamodb": {
            "NewImage": {"ItemStatus": {"S": "ready"}}, "OldImage": {"ItemStatus": {"S": "new"}}}});
        assert!(matches(
            &json!({"eventName": ["MODIFY", "INSERT"]}),
            &record
        ));
        assert!(!matches(&json!({"eventName": ["REMOVE"]}), &record));
        assert!(matches(
            &json!({"dynamodb": {"OldImage": {"ItemStatus": {"S": [{"anything-but": ["ready"]}]}}}}),
            &record
        ));
        assert!(!matches(
            &json!({"dynamodb": {"OldImage": {"ItemStatus": {"S": [{"anything-but": ["new"]}]}}}}),
            &record
        ));
        assert!(matches(
            &json!({"dynamodb": {"OldImage": {"Gone": [{"exists": false}]}}}),
            &record
        ));
        assert!(!matches(
            &json!({"dynamodb": {"OldImage": {"ItemStatus": [{"exists": false}]}}}),
            &record
        ));
        assert!(matches(
            &json!({"dynamodb": {"NewImage": {"ItemStatus": {"S": [{"prefix": "rea"}]}}}}),
            &record
        ));
        assert!(!matches(
            &json!({"dynamodb": {"NewImage": {"ItemStatus": {"S": [{"prefix": "arn:"}]}}}}),
            &record
        ));
    }
}

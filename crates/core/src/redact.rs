//! Redaction of secret-looking values in outputs and logs.

use serde_json::Value;

/// The text that replaces a redacted value.
pub const REDACTED: &str = "<redacted>";

/// True when an attribute or parameter name looks like it holds a secret.
#[must_use]
pub fn looks_secret(name: &str) -> bool {
    // Without lowercasing a copy, and one pass over the name: each position is compared only
    // with the words starting with its letter. Every command's parameters, every task's effect
    // and every record attribute shown is redacted, so this runs for every key of them.
    let name = name.as_bytes();
    let at = |k: usize, word: &[u8]| {
        name.get(k..k + word.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(word))
    };
    (0..name.len()).any(|k| match name[k].to_ascii_lowercase() {
        b't' => at(k, b"token"),
        b's' => at(k, b"secret"),
        b'p' => at(k, b"password") || at(k, b"passwd"),
        b'k' => at(k, b"key"),
        b'c' => at(k, b"credential"),
        _ => false,
    })
}

/// Replaces, recursively, the values of object keys that look secret.
#[must_use]
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if looks_secret(k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// [`redact`] in place: the secret-looking values of `value` are replaced, nothing is copied.
pub fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if looks_secret(k) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact_in_place(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

/// What outputs may show of a record: its identity, state and handler bookkeeping, never the
/// attributes cloud-init wrote nor the stored stimulus or lifecycle token.
#[must_use]
pub fn public_record(record: &crate::record::InstanceRecord) -> Value {
    serde_json::json!({
        "Ident": record.ident,
        "ItemStatus": record.status,
        "Version": record.version,
        "EnteredAt": record.entered_at,
        "GroupName": record.group,
        "LastError": record.last_error,
        "Gone": record.gone,
        "Transitions": record.history.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The plain definition: some word occurs in the name, ignoring ASCII case.
    fn contains_a_word(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        ["token", "secret", "password", "passwd", "key", "credential"]
            .iter()
            .any(|word| name.contains(word))
    }

    #[test]
    fn a_name_looks_secret_when_it_holds_a_word_in_any_case_anywhere() {
        let mut names = vec![
            String::new(),
            "k".into(),
            "ke".into(),
            "InstanceIp".into(),
            "Ident".into(),
            "commands".into(),
            "passw".into(),
            "pass_word".into(),
            "tokeN".into(),
            "ApiKey".into(),
            "KEY".into(),
            "db-PASSWD".into(),
            "ssPassword".into(),
            "x_credentials_y".into(),
            "clientSecretArn".into(),
            "tttoken".into(),
            "cccredential".into(),
            "монкей".into(),
            "ключ-key".into(),
            "keyé".into(),
        ];
        for word in ["token", "secret", "password", "passwd", "key", "credential"] {
            for cut in 0..word.len() {
                names.push(word[..cut].to_string());
                names.push(format!("{}{}", &word[..cut], &word[cut..].to_uppercase()));
            }
        }
        for name in &names {
            assert_eq!(looks_secret(name), contains_a_word(name), "{name:?}");
        }
    }

    #[test]
    fn a_public_record_shows_no_cloud_init_attribute() {
        let mut record = crate::record::InstanceRecord::new("i-1");
        std::sync::Arc::make_mut(&mut record.attributes)
            .insert("JoinToken".into(), json!("s3cret"));
        std::sync::Arc::make_mut(&mut record.attributes).insert("Role".into(), json!("worker"));
        let shown = public_record(&record).to_string();
        assert!(
            !shown.contains("s3cret") && !shown.contains("worker"),
            "{shown}"
        );
    }

    #[test]
    fn secret_looking_keys_are_redacted_at_any_depth() {
        let value = json!({"JoinToken": "abc", "nested": [{"db_password": "p", "host": "h"}], "ApiKey": null});
        let out = redact(&value);
        assert_eq!(out["JoinToken"], REDACTED);
        assert_eq!(out["nested"][0]["db_password"], REDACTED);
        assert_eq!(out["nested"][0]["host"], "h");
        assert!(out["ApiKey"].is_null());
    }

    #[test]
    fn redacting_in_place_gives_what_redact_returns() {
        let value = json!({"JoinToken": "abc", "nested": [{"db_password": "p", "host": "h"}],
            "ApiKey": null, "Parameters": {"commands": ["echo"], "SecretArn": ["x"]}});
        let mut in_place = value.clone();
        redact_in_place(&mut in_place);
        assert_eq!(in_place, redact(&value));
        assert_eq!(in_place["Parameters"]["SecretArn"], REDACTED);
    }
}

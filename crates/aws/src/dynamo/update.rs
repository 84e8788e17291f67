//! Update and condition expressions: one conditional `UpdateItem` per [`Commit`], and the merge
//! that cloud-init does.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::codec::to_attribute;
use asg_lifecycle::record::attr;
use asg_lifecycle::store::{Activity, BaseLists, Change, Commit};

/// The expressions and placeholders of one `UpdateItem`.
#[derive(Debug, Default)]
pub(super) struct Expression {
    set: Vec<String>,
    remove: Vec<String>,
    condition: Vec<String>,
    /// `#n` placeholders.
    pub names: HashMap<String, String>,
    /// `:v` placeholders.
    pub values: HashMap<String, AttributeValue>,
}

impl Expression {
    /// A placeholder for an attribute name (every name goes through one: many are reserved
    /// words).
    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn set(&mut self, attribute: &str, value: AttributeValue) {
        let (n, v) = (self.name(attribute), self.value(value));
        self.set.push(format!("{n} = {v}"));
    }

    fn set_json(&mut self, attribute: &str, value: &impl Serialize) {
        let json = serde_json::to_value(value).unwrap_or(Value::Null);
        self.set(attribute, to_attribute(&json));
    }

    fn remove(&mut self, attribute: &str) {
        let n = self.name(attribute);
        self.remove.push(n);
    }

    /// True when the update sets or removes `attribute`.
    fn touches(&self, attribute: &str) -> bool {
        self.names
            .iter()
            .filter(|(_, a)| *a == attribute)
            .any(|(placeholder, _)| {
                self.remove.contains(placeholder)
                    || self
                        .set
                        .iter()
                        .any(|part| part.starts_with(&format!("{placeholder} = ")))
            })
    }

    fn change<T: Serialize>(&mut self, attribute: &str, change: &Change<T>) {
        match change {
            Change::Keep => {}
            Change::Set(v) => self.set_json(attribute, v),
            Change::Clear => self.remove(attribute),
        }
    }

    /// The update expression (`None` when there is nothing to update).
    pub fn update(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The condition expression (`None` when unconditional).
    pub fn condition(&self) -> Option<String> {
        (!self.condition.is_empty()).then(|| self.condition.join(" AND "))
    }
}

/// The conditional update of a commit, given the record's lists as read.
///
/// The condition is the commit's expectation: `ItemStatus` (or its absence), `Version` (absent
/// or 0 when only cloud-init wrote the record) and, when asked, the event id not in
/// `RecentEvents`. `History` and `RecentEvents` are written whole, appended and trimmed from
/// `base`: the `Version` condition guarantees `base` is what is stored.
pub(super) fn commit_expression(commit: &Commit, base: &BaseLists) -> Expression {
    let mut e = Expression::default();
    // condition
    let status = e.name(attr::ITEM_STATUS);
    let cond = match (&commit.expected_status, commit.repairs(attr::ITEM_STATUS)) {
        (Some(s), _) => format!("{status} = {}", e.value(AttributeValue::S(s.clone()))),
        // Read as no state: the malformed value must still be the stored one.
        (None, Some(malformed)) => format!("{status} = {}", e.value(stored(&malformed.raw))),
        (None, None) => format!("attribute_not_exists({status})"),
    };
    e.condition.push(cond);
    let version = e.name(attr::VERSION);
    if let Some(malformed) = commit.repairs(attr::VERSION) {
        // The malformed version as stored: of two writes that read it, only the first holds.
        let raw = e.value(stored(&malformed.raw));
        e.condition.push(format!("{version} = {raw}"));
    } else {
        let expected = e.value(AttributeValue::N(commit.expected_version.to_string()));
        e.condition.push(if commit.expected_version == 0 {
            format!("(attribute_not_exists({version}) OR {version} = {expected})")
        } else {
            format!("{version} = {expected}")
        });
    }
    if let Some(event) = &commit.unprocessed_event {
        let recent = e.name(attr::RECENT_EVENTS);
        let v = e.value(AttributeValue::S(event.clone()));
        e.condition.push(format!("NOT contains({recent}, {v})"));
    }
    // update
    e.set(
        attr::VERSION,
        // Checked before the request is built (`Commit::new_version`).
        AttributeValue::N(commit.expected_version.saturating_add(1).to_string()),
    );
    if let Some(new) = &commit.status {
        e.set(attr::ITEM_STATUS, AttributeValue::S(new.clone()));
        if commit.expected_status.as_deref() != Some(new.as_str()) {
            e.set_json(attr::ENTERED_AT, &commit.now);
        }
    }
    let (mut history, mut recent) = (base.history.to_vec(), base.recent_events.to_vec());
    commit.apply_to_lists(&mut history, &mut recent);
    if !commit.history.is_empty() {
        e.set_json(attr::HISTORY, &history);
    }
    if commit.mark_processed.is_some() {
        e.set_json(attr::RECENT_EVENTS, &recent);
    }
    e.change(attr::LIFECYCLE_ACTION, &commit.lifecycle_action);
    e.change(attr::PENDING_COMMAND, &commit.pending_command);
    e.change(attr::IN_FLIGHT, &commit.in_flight);
    e.change(attr::LAST_ERROR, &commit.last_error_change());
    if let Some(group) = &commit.group {
        e.set(attr::GROUP, AttributeValue::S(group.clone()));
    }
    match &commit.activity {
        Activity::Keep => {}
        Activity::Active(group) => {
            e.set(attr::ACTIVE_GROUP, AttributeValue::S(group.clone()));
            e.remove(attr::EXPIRES_AT);
        }
        Activity::Inactive { expires_at } => {
            e.remove(attr::ACTIVE_GROUP);
            e.set(attr::EXPIRES_AT, AttributeValue::N(expires_at.to_string()));
        }
    }
    if commit.gone {
        e.set(attr::GONE, AttributeValue::Bool(true));
    }
    // The instance's own attributes, copied from its registration (never a handler-owned name).
    for (name, value) in &commit.attributes {
        if asg_lifecycle::registration::is_instance_attribute(name) && !e.touches(name) {
            e.set(name, to_attribute(value));
        }
    }
    // Malformed attributes the write does not set are removed: the item is repaired.
    for malformed in &commit.repair {
        if !e.touches(&malformed.attribute) {
            e.remove(&malformed.attribute);
        }
    }
    e
}

/// A malformed attribute's stored value as an attribute value: the typed form the codec keeps
/// (`{"S": "x"}`), else the plain JSON form.
fn stored(raw: &Value) -> AttributeValue {
    crate::codec::parse_attribute(raw).unwrap_or_else(|_| to_attribute(raw))
}

/// The merge cloud-init does on its registration item: `SET` of its own attributes (and
/// `ItemStatus`), never a handler-owned one; a null `ItemStatus` removes it.
pub(super) fn cloud_init_expression(attributes: &Map<String, Value>) -> Expression {
    let mut e = Expression::default();
    for (name, value) in attributes {
        if name == attr::IDENT || attr::HANDLER_OWNED.contains(&name.as_str()) {
            continue;
        }
        if name == attr::ITEM_STATUS && !value.is_string() {
            e.remove(name);
        } else {
            e.set(name, to_attribute(value));
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::record::{HISTORY_LIMIT, HistoryEntry, InstanceRecord};
    use chrono::Utc;

    fn entry(n: usize) -> HistoryEntry {
        HistoryEntry {
            from: format!("s{n}").into(),
            to: format!("s{}", n + 1).into(),
            trigger: "t".into(),
            event_id: format!("e{n}").into(),
            version: n as u64,
            at: Utc::now(),
        }
    }

    #[test]
    fn a_first_write_expects_no_status_and_no_version() {
        let commit = Commit::expecting(&InstanceRecord::new("i-1"), Utc::now());
        let e = commit_expression(&commit, &BaseLists::default());
        let condition = e.condition().unwrap();
        assert!(
            condition.starts_with(
                "attribute_not_exists(#n0) AND (attribute_not_exists(#n1) OR #n1 = :v0)"
            ),
            "{condition}"
        );
        assert_eq!(e.update().unwrap(), "SET #n1 = :v1");
    }

    #[test]
    fn a_full_history_is_written_whole_without_its_oldest_entry() {
        let mut record = InstanceRecord::new("i-1");
        record.status = Some("a".into());
        record.version = 7;
        record.history = std::sync::Arc::new((0..HISTORY_LIMIT).map(entry).collect());
        let mut commit = Commit::expecting(&record, Utc::now());
        commit.history = vec![entry(99)];
        let e = commit_expression(&commit, commit.base.as_ref().unwrap());
        let history_name = e
            .names
            .iter()
            .find(|(_, a)| *a == "History")
            .unwrap()
            .0
            .clone();
        let update = e.update().unwrap();
        let placeholder = update
            .split(", ")
            .find_map(|part| part.strip_prefix(&format!("{history_name} = ")))
            .unwrap()
            .trim_start_matches("SET ");
        let AttributeValue::L(list) = &e.values[placeholder] else {
            panic!()
        };
        assert_eq!(list.len(), HISTORY_LIMIT);
    }

    #[test]
    fn every_used_placeholder_is_declared_and_none_unused() {
        let mut commit = Commit::expecting(&InstanceRecord::new("i-1"), Utc::now());
        commit.status = Some("x".into());
        commit.unprocessed_event = Some("e".into());
        commit.mark_processed = Some("e".into());
        commit.last_error = Change::Clear;
        commit.activity = Activity::Inactive { expires_at: 5 };
        let e = commit_expression(&commit, &BaseLists::default());
        let text = format!("{} {}", e.update().unwrap(), e.condition().unwrap());
        for name in e.names.keys().chain(e.values.keys()) {
            assert!(text.contains(name.as_str()), "{name} unused in {text}");
        }
    }

    /// The update and condition with every placeholder replaced by its name or value.
    fn spelled(e: &Expression) -> (String, String) {
        let spell = |text: String| {
            let mut out = text;
            let mut names: Vec<_> = e.names.iter().collect();
            names.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            for (placeholder, name) in names {
                out = out.replace(placeholder.as_str(), name);
            }
            let mut values: Vec<_> = e.values.iter().collect();
            values.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            for (placeholder, value) in values {
                out = out.replace(placeholder.as_str(), &format!("{value:?}"));
            }
            out
        };
        (
            spell(e.update().unwrap_or_default()),
            spell(e.condition().unwrap_or_default()),
        )
    }

    fn read(item: serde_json::Value) -> InstanceRecord {
        let item = crate::codec::json_to_item(item.as_object().unwrap());
        crate::codec::record_from_item(&item).unwrap()
    }

    #[test]
    fn a_malformed_version_is_conditioned_on_as_stored_and_overwritten() {
        let record = read(serde_json::json!({"Ident": "i-1", "ItemStatus": "a", "Version": "x"}));
        assert_eq!(record.version, 0);
        let commit = Commit::expecting(&record, Utc::now());
        let e = commit_expression(&commit, commit.base.as_ref().unwrap());
        let (update, condition) = spelled(&e);
        assert!(
            condition.contains(r#"Version = S("x")"#),
            "the write holds only while the malformed value is stored: {condition}"
        );
        assert!(
            !condition.contains("attribute_not_exists(Version)"),
            "{condition}"
        );
        assert!(update.contains(r#"Version = N("1")"#), "{update}");
        assert!(
            !update.contains("REMOVE Version"),
            "set, not removed: {update}"
        );
    }

    #[test]
    fn malformed_attributes_the_write_does_not_set_are_removed_and_noted() {
        let record = read(serde_json::json!({
            "Ident": "i-1", "ItemStatus": 7, "Version": 2, "InFlight": "junk",
            "PendingCommand": 3, "LastError": {"x": 1}
        }));
        let mut commit = Commit::expecting(&record, Utc::now());
        commit.pending_command = Change::Clear;
        let e = commit_expression(&commit, commit.base.as_ref().unwrap());
        let (update, condition) = spelled(&e);
        assert!(
            condition.contains(r#"ItemStatus = N("7")"#),
            "read as no state, conditioned on as stored: {condition}"
        );
        let removed = update.split("REMOVE ").nth(1).unwrap_or_default();
        for name in ["InFlight", "PendingCommand", "ItemStatus"] {
            assert_eq!(
                removed.matches(name).count(),
                1,
                "{name} removed once: {update}"
            );
        }
        assert!(
            update.contains("LastError = S(\"malformed attributes were left out and repaired"),
            "{update}"
        );
        let text = format!("{} {}", e.update().unwrap(), e.condition().unwrap());
        for name in e.names.keys().chain(e.values.keys()) {
            assert!(text.contains(name.as_str()), "{name} unused in {text}");
        }
    }

    #[test]
    fn cloud_init_never_sets_a_handler_owned_attribute() {
        let attrs = serde_json::json!({"Ident": "i", "ItemStatus": "new", "InstanceIp": "10.0.0.1", "Version": 9});
        let e = cloud_init_expression(attrs.as_object().unwrap());
        let mut names: Vec<_> = e.names.values().cloned().collect();
        names.sort();
        assert_eq!(names, ["InstanceIp", "ItemStatus"]);
    }
}

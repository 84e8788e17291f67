//! The record's item form read and written with typed serde, without building a
//! `serde_json::Value` tree: the JSON store file's fast path.
//!
//! Writing ([`StoredItem`]) gives the same attributes as [`InstanceRecord::to_item`] (without
//! `Ident`). Reading ([`InstanceRecord::from_item_json`]) takes the typed path for an item in
//! the form the handler writes; an item with anything else (a malformed attribute, a date
//! outside the years 0000–9999, a version no write can follow) is read by
//! [`InstanceRecord::from_item`], so both give the same record.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{
    HistoryEntry, InFlight, InstanceRecord, LifecycleAction, PendingCommand, RecordFormatError,
    attr, next_version,
};

/// A record in its item form without `Ident` (the value of a JSON store file's entry),
/// serialized field by field.
pub struct StoredItem<'a>(pub &'a InstanceRecord);

impl Serialize for StoredItem<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in r.attributes.iter() {
            // `to_item` lets the handler's fields win over a cloud-init attribute of their name.
            if name != attr::IDENT
                && name != attr::ITEM_STATUS
                && !attr::HANDLER_OWNED.contains(&name.as_str())
            {
                map.serialize_entry(name, value)?;
            }
        }
        if let Some(status) = &r.status {
            map.serialize_entry(attr::ITEM_STATUS, status)?;
        }
        if r.version > 0 {
            map.serialize_entry(attr::VERSION, &r.version)?;
        }
        if let Some(v) = &r.lifecycle_action {
            map.serialize_entry(attr::LIFECYCLE_ACTION, v)?;
        }
        if let Some(v) = &r.pending_command {
            map.serialize_entry(attr::PENDING_COMMAND, v)?;
        }
        if let Some(v) = &r.in_flight {
            map.serialize_entry(attr::IN_FLIGHT, v)?;
        }
        if let Some(v) = &r.entered_at {
            map.serialize_entry(attr::ENTERED_AT, v)?;
        }
        if !r.recent_events.is_empty() {
            map.serialize_entry(attr::RECENT_EVENTS, &r.recent_events)?;
        }
        if !r.history.is_empty() {
            map.serialize_entry(attr::HISTORY, &r.history)?;
        }
        if let Some(v) = &r.last_error {
            map.serialize_entry(attr::LAST_ERROR, v)?;
        }
        if let Some(v) = &r.group {
            map.serialize_entry(attr::GROUP, v)?;
        }
        if let Some(v) = &r.active_group {
            map.serialize_entry(attr::ACTIVE_GROUP, v)?;
        }
        if let Some(v) = &r.expires_at {
            map.serialize_entry(attr::EXPIRES_AT, v)?;
        }
        if r.gone {
            map.serialize_entry(attr::GONE, &true)?;
        }
        map.end()
    }
}

/// An item in the form the handler writes, every attribute typed.
#[derive(Default)]
struct TypedItem {
    status: Option<String>,
    version: Option<u64>,
    lifecycle_action: Option<LifecycleAction>,
    pending_command: Option<PendingCommand>,
    in_flight: Option<InFlight>,
    entered_at: Option<DateTime<Utc>>,
    recent_events: Option<Vec<String>>,
    history: Option<Vec<HistoryEntry>>,
    last_error: Option<String>,
    group: Option<String>,
    active_group: Option<String>,
    expires_at: Option<i64>,
    gone: Option<bool>,
    attributes: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for TypedItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TypedItemVisitor)
    }
}

struct TypedItemVisitor;

impl<'de> Visitor<'de> for TypedItemVisitor {
    type Value = TypedItem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an item: a map of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypedItem, A::Error> {
        let mut item = TypedItem::default();
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                attr::IDENT => {
                    map.next_value::<IgnoredAny>()?;
                }
                attr::ITEM_STATUS => item.status = map.next_value()?,
                attr::VERSION => item.version = map.next_value()?,
                attr::LIFECYCLE_ACTION => item.lifecycle_action = map.next_value()?,
                attr::PENDING_COMMAND => item.pending_command = map.next_value()?,
                attr::IN_FLIGHT => item.in_flight = map.next_value()?,
                attr::ENTERED_AT => item.entered_at = map.next_value()?,
                attr::RECENT_EVENTS => item.recent_events = map.next_value()?,
                attr::HISTORY => item.history = map.next_value()?,
                attr::LAST_ERROR => item.last_error = map.next_value()?,
                attr::GROUP => item.group = map.next_value()?,
                attr::ACTIVE_GROUP => item.active_group = map.next_value()?,
                attr::EXPIRES_AT => item.expires_at = map.next_value()?,
                attr::GONE => item.gone = map.next_value()?,
                _ => {
                    let value = map.next_value()?;
                    item.attributes.insert(name, value);
                }
            }
        }
        Ok(item)
    }
}

impl InstanceRecord {
    /// Reads a record from its item form as JSON text (a JSON store file's entry): typed when
    /// the item is in the form the handler writes, else as [`Self::from_item`] reads it.
    ///
    /// # Errors
    /// [`RecordFormatError`] when `ident` is empty or the text is not a JSON object.
    pub fn from_item_json(ident: &str, text: &str) -> Result<Self, RecordFormatError> {
        if let Some(record) = Self::typed(ident, text) {
            return Ok(record);
        }
        let item: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| RecordFormatError {
                ident: ident.to_string(),
                attribute: attr::IDENT.into(),
                message: format!("the item is not a JSON object: {e}"),
            })?;
        Self::from_item(ident, &item)
    }

    /// The typed path: `None` when the item needs [`Self::from_item`]'s care.
    fn typed(ident: &str, text: &str) -> Option<Self> {
        if ident.is_empty() {
            return None;
        }
        let item: TypedItem = serde_json::from_str(text).ok()?;
        let version = match item.version {
            Some(v) => next_version(v).ok().map(|_| v)?,
            None => 0,
        };
        let record = Self {
            ident: ident.to_string(),
            status: item.status,
            version,
            attributes: std::sync::Arc::new(item.attributes),
            lifecycle_action: item.lifecycle_action.map(std::sync::Arc::new),
            pending_command: item.pending_command,
            in_flight: item.in_flight.map(std::sync::Arc::new),
            entered_at: item.entered_at,
            recent_events: std::sync::Arc::new(item.recent_events.unwrap_or_default()),
            history: std::sync::Arc::new(item.history.unwrap_or_default()),
            last_error: item.last_error,
            group: item.group,
            active_group: item.active_group,
            expires_at: item.expires_at,
            gone: item.gone.unwrap_or(false),
            malformed: Vec::new(),
            unwritten: None,
        };
        record.first_bad_date().is_none().then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Items in the handler's form and items the typed path leaves to `from_item`.
    fn items() -> Vec<Value> {
        let at = "2026-12-01T00:48:00.965135004Z";
        let history = json!([{"From": "finished_cloud_init", "To": "join_cluster",
            "Trigger": "join", "EventId": "launch-1", "Version": 1, "At": at}]);
        vec![
            json!({}),
            json!({"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}),
            json!({
                "ActiveGroup": "web", "ItemStatus": "join_cluster", "Version": 3,
                "LifecycleAction": {"Token": "t", "Hook": "launch-hook", "Group": "web",
                    "Transition": "autoscaling:EC2_INSTANCE_LAUNCHING", "EventId": "launch-1",
                    "StartedAt": at, "LastHeartbeat": at, "Metadata": {"cluster": "blue"}},
                "PendingCommand": {"AttemptId": "i-1:a:b:v2", "CommandId": "c-1",
                    "Trigger": "join", "Deadline": at, "IntentAt": at},
                "EnteredAt": at, "RecentEvents": ["launch-1", "ssm-1"], "History": history,
                "LastError": "boom", "GroupName": "web", "ExpiresAt": 1_900_000_000,
                "Gone": true, "Custom": [1, {"a": null}], "Nothing": null, "Ident": "ignored",
            }),
            json!({"ItemStatus": null, "Version": null, "History": null, "Gone": null}),
            // Left to `from_item`: malformed attributes, a version no write can follow, a date
            // outside the years 0000-9999.
            json!({"ItemStatus": 7, "Version": "three", "InFlight": 7}),
            json!({"ItemStatus": "ready", "Version": u64::MAX, "History": history}),
            json!({"ItemStatus": "ready", "EnteredAt": "+10000-01-01T00:00:00Z"}),
            json!({"ItemStatus": "ready", "Version": 2.5, "Gone": "yes"}),
        ]
    }

    #[test]
    fn the_typed_reader_reads_every_item_as_from_item_does() {
        for (k, item) in items().into_iter().enumerate() {
            let map = item.as_object().unwrap();
            let handler_form = k < 4;
            assert_eq!(
                InstanceRecord::typed("i-1", &item.to_string()).is_some(),
                handler_form,
                "the typed path reads the handler's form, only: {item}"
            );
            let expected = InstanceRecord::from_item("i-1", map).unwrap();
            let typed = InstanceRecord::from_item_json("i-1", &item.to_string()).unwrap();
            assert_eq!(typed, expected, "{item}");
        }
        assert!(InstanceRecord::from_item_json("", "{}").is_err());
        assert!(InstanceRecord::from_item_json("i-1", "[1]").is_err());
    }

    #[test]
    fn a_stored_item_holds_what_to_item_holds_without_ident_and_reads_back() {
        for item in items() {
            let record = InstanceRecord::from_item("i-1", item.as_object().unwrap()).unwrap();
            let mut expected = record.to_item();
            expected.remove(attr::IDENT);
            let written = serde_json::to_string(&StoredItem(&record)).unwrap();
            let parsed: Map<String, Value> = serde_json::from_str(&written).unwrap();
            assert_eq!(parsed, expected, "{item}");
            let mut again = InstanceRecord::from_item_json("i-1", &written).unwrap();
            let mut record = record;
            // Malformed attributes are left out, so they are not written either.
            record.malformed.clear();
            again.malformed.clear();
            assert_eq!(again, record, "{item}");
        }
    }
}

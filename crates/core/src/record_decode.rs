//! Reading a record from its stored item, whatever an instance wrote into it.
//!
//! # Guarantees
//! - **No attribute wedges a record.** A malformed handler-owned attribute (`LifecycleAction`,
//!   `PendingCommand`, `InFlight`, `EnteredAt`, `RecentEvents`, `History`, `LastError`,
//!   `GroupName`, `ActiveGroup`, `ExpiresAt`, `Gone`, a date outside the years 0000–9999) is left
//!   out of the record and named in [`InstanceRecord::malformed`], so the instance's events are
//!   still handled. The next handler write repairs the item: it removes every such attribute it
//!   does not set, and records which ones in `LastError` (unless it sets an error of its own).
//! - **`ItemStatus`** that is not a string reads as no state (as before cloud-init's first
//!   write): the instance wrote it, and no state can be taken from it. The handler's next write
//!   conditions on the stored value and removes it (or sets a state of its own).
//! - **`Version`** arbitrates conditional writes. One that is not a number a write can follow
//!   (not an integer, negative, or the largest `u64`) reads as the newest version `History`
//!   names (0 without one), and the next write conditions on the malformed value as stored,
//!   then overwrites it with that version plus one. Two invocations that read the same
//!   malformed value cannot both win: the first write replaces it, so the second one's
//!   condition fails (a conflict: it reads again and sees the new version).
//! - Only an item that names no instance (an empty `Ident`) is refused, with a
//!   [`RecordFormatError`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{InstanceRecord, MalformedAttribute, RecordFormatError, attr, next_version};
use crate::event::Stimulus;

/// The longest message kept of why an attribute could not be read (it may quote the value).
const MESSAGE_CHARS: usize = 200;

/// Reads an item's attributes, collecting the malformed ones.
struct Reader<'a> {
    ident: &'a str,
    item: &'a Map<String, Value>,
    malformed: Vec<MalformedAttribute>,
}

impl Reader<'_> {
    fn bad(&mut self, attribute: &str, message: &str) {
        let message: String = message.chars().take(MESSAGE_CHARS).collect();
        tracing::warn!(instance = self.ident, attribute, %message, "malformed attribute left out of the record; the next write repairs it");
        self.malformed.push(MalformedAttribute {
            attribute: attribute.to_string(),
            message,
            raw: self.item.get(attribute).cloned().unwrap_or(Value::Null),
        });
    }

    fn field<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.item.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => match serde_json::from_value(v.clone()) {
                Ok(value) => Some(value),
                Err(e) => {
                    self.bad(name, &e.to_string());
                    None
                }
            },
        }
    }
}

impl InstanceRecord {
    /// Reads a record from its flat item form (`{"Ident": ..., "ItemStatus": ..., ...}`):
    /// malformed attributes are left out and named in [`Self::malformed`] (see the module).
    ///
    /// # Errors
    /// [`RecordFormatError`] only when `ident` is empty: the item names no instance.
    pub fn from_item(ident: &str, item: &Map<String, Value>) -> Result<Self, RecordFormatError> {
        if ident.is_empty() {
            return Err(RecordFormatError {
                ident: String::new(),
                attribute: attr::IDENT.into(),
                message: "the item names no instance".into(),
            });
        }
        let mut reader = Reader {
            ident,
            item,
            malformed: Vec::new(),
        };
        let mut record = Self::new(ident);
        record.status = match item.get(attr::ITEM_STATUS) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                reader.bad(
                    attr::ITEM_STATUS,
                    &format!("expected a string, found {other}"),
                );
                None
            }
        };
        record.lifecycle_action = reader.field(attr::LIFECYCLE_ACTION);
        record.pending_command = reader.field(attr::PENDING_COMMAND);
        record.in_flight = reader.field(attr::IN_FLIGHT);
        record.entered_at = reader.field(attr::ENTERED_AT);
        record.recent_events = reader.field(attr::RECENT_EVENTS).unwrap_or_default();
        record.history = reader.field(attr::HISTORY).unwrap_or_default();
        record.last_error = reader.field(attr::LAST_ERROR);
        record.group = reader.field(attr::GROUP);
        record.active_group = reader.field(attr::ACTIVE_GROUP);
        record.expires_at = reader.field(attr::EXPIRES_AT);
        record.gone = reader.field(attr::GONE).unwrap_or(false);
        while let Some((attribute, message)) = record.first_bad_date() {
            reader.bad(attribute, &message);
            record.clear(attribute);
        }
        // After `History`: a malformed version restarts from the newest one it names.
        record.version = match reader.field::<u64>(attr::VERSION) {
            Some(version) => match next_version(version) {
                Ok(_) => version,
                Err(e) => {
                    reader.bad(attr::VERSION, &e.to_string());
                    record.restarted_version()
                }
            },
            None if reader
                .malformed
                .iter()
                .any(|m| m.attribute == attr::VERSION) =>
            {
                record.restarted_version()
            }
            None => 0,
        };
        for (name, value) in item {
            if name != attr::IDENT
                && name != attr::ITEM_STATUS
                && !attr::HANDLER_OWNED.contains(&name.as_str())
            {
                std::sync::Arc::make_mut(&mut record.attributes)
                    .insert(name.clone(), value.clone());
            }
        }
        record.malformed = reader.malformed;
        Ok(record)
    }

    /// What the next write records in `LastError` about the attributes it repairs, if any.
    #[must_use]
    pub fn repair_note(malformed: &[MalformedAttribute]) -> Option<String> {
        if malformed.is_empty() {
            return None;
        }
        let named: Vec<String> = malformed
            .iter()
            .map(|m| format!("`{}` ({})", m.attribute, m.message))
            .collect();
        Some(format!(
            "malformed attributes were left out and repaired: {}",
            named.join("; ")
        ))
    }

    /// The version a record with a malformed `Version` reads as: the newest `History` names,
    /// when a write can follow it, else 0.
    fn restarted_version(&self) -> u64 {
        self.history
            .iter()
            .map(|h| h.version)
            .filter(|v| next_version(*v).is_ok())
            .max()
            .unwrap_or(0)
    }

    /// Leaves a handler-owned attribute out.
    fn clear(&mut self, attribute: &str) {
        match attribute {
            attr::LIFECYCLE_ACTION => self.lifecycle_action = None,
            attr::PENDING_COMMAND => self.pending_command = None,
            attr::IN_FLIGHT => self.in_flight = None,
            attr::ENTERED_AT => self.entered_at = None,
            attr::HISTORY => self.history = std::sync::Arc::default(),
            _ => {}
        }
    }

    /// The first attribute holding a date without a four-digit year, as RFC 3339 writes dates
    /// and as every date the handler writes has: a date at the ends of `chrono`'s range would
    /// make the handler's date arithmetic (a hook's expiry, a deadline) overflow.
    pub(super) fn first_bad_date(&self) -> Option<(&'static str, String)> {
        let supported = |at: &DateTime<Utc>| (0..=9999).contains(&chrono::Datelike::year(at));
        let check = |attribute: &'static str, dates: &[Option<&DateTime<Utc>>]| {
            dates.iter().flatten().find(|at| !supported(at)).map(|at| {
                (
                    attribute,
                    format!("the date {at} is outside the years 0000 to 9999"),
                )
            })
        };
        let action = self.lifecycle_action.as_ref().and_then(|a| {
            check(
                attr::LIFECYCLE_ACTION,
                &[Some(&a.started_at), a.last_heartbeat.as_ref()],
            )
        });
        let pending = self.pending_command.as_ref().and_then(|p| {
            check(
                attr::PENDING_COMMAND,
                &[Some(&p.intent_at), p.deadline.as_ref()],
            )
        });
        let in_flight = self.in_flight.as_ref().and_then(|f| {
            let time = match &f.stimulus {
                Stimulus::Lifecycle(event) => event.time.as_ref(),
                Stimulus::Command(_) | Stimulus::Scheduled(_) | Stimulus::Registered(_) => None,
            };
            check(attr::IN_FLIGHT, &[time])
        });
        let history: Vec<Option<&DateTime<Utc>>> =
            self.history.iter().map(|h| Some(&h.at)).collect();
        action
            .or(pending)
            .or(in_flight)
            .or_else(|| check(attr::ENTERED_AT, &[self.entered_at.as_ref()]))
            .or_else(|| check(attr::HISTORY, &history))
    }
}

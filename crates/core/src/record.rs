//! The instance record: one item per instance, keyed by `Ident`.
//!
//! Cloud-init owns `Ident`, `InstanceIp`, its own extra attributes and the first `ItemStatus`
//! values; the handler owns everything else. A record converts to and from a flat JSON object whose
//! keys are the DynamoDB attribute names, so the JSON store file and the table hold the same shape.
//!
//! Every instance can write any item of the table today, so a handler-owned attribute may hold
//! anything. Reading never refuses a record for one (`record_decode.rs`): a malformed attribute is
//! left out and named in [`InstanceRecord::malformed`], and the next handler write repairs the
//! item. Only an item without an `Ident` cannot be read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{LifecycleEvent, LifecycleTransition, Stimulus};

/// Attribute names of the handler-owned fields (and the cloud-init ones the handler reads).
pub mod attr {
    /// Partition key: the EC2 instance id.
    pub const IDENT: &str = "Ident";
    /// The current state.
    pub const ITEM_STATUS: &str = "ItemStatus";
    /// Bumped by every handler write; absent on a record only cloud-init has written.
    pub const VERSION: &str = "Version";
    /// The pending lifecycle action.
    pub const LIFECYCLE_ACTION: &str = "LifecycleAction";
    /// The pending SSM command (intent or sent).
    pub const PENDING_COMMAND: &str = "PendingCommand";
    /// The event whose chain of transitions is not finished yet.
    pub const IN_FLIGHT: &str = "InFlight";
    /// When the current state was entered (RFC 3339).
    pub const ENTERED_AT: &str = "EnteredAt";
    /// Ids of events fully processed, newest last.
    pub const RECENT_EVENTS: &str = "RecentEvents";
    /// Bounded transition history, newest last.
    pub const HISTORY: &str = "History";
    /// The last error met while handling this instance.
    pub const LAST_ERROR: &str = "LastError";
    /// The Auto Scaling group name.
    pub const GROUP: &str = "GroupName";
    /// Sparse index attribute: the group name, present only while the record is active.
    pub const ACTIVE_GROUP: &str = "ActiveGroup";
    /// Expiry time (epoch seconds) for DynamoDB TTL, set at a terminal state.
    pub const EXPIRES_AT: &str = "ExpiresAt";
    /// Set when the instance left its group without reaching a terminal state.
    pub const GONE: &str = "Gone";

    /// Every handler-owned attribute name.
    pub const HANDLER_OWNED: &[&str] = &[
        VERSION,
        LIFECYCLE_ACTION,
        PENDING_COMMAND,
        IN_FLIGHT,
        ENTERED_AT,
        RECENT_EVENTS,
        HISTORY,
        LAST_ERROR,
        GROUP,
        ACTIVE_GROUP,
        EXPIRES_AT,
        GONE,
    ];
}

/// How many processed event ids a record keeps for deduplication.
pub const RECENT_EVENTS_LIMIT: usize = 32;
/// How many history entries a record keeps.
pub const HISTORY_LIMIT: usize = 50;

/// A lifecycle action that Auto Scaling holds open for this instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleAction {
    /// The lifecycle action token.
    pub token: Option<String>,
    /// The lifecycle hook name.
    pub hook: String,
    /// The Auto Scaling group name.
    pub group: String,
    /// `autoscaling:EC2_INSTANCE_LAUNCHING` or `autoscaling:EC2_INSTANCE_TERMINATING`.
    pub transition: String,
    /// Id of the event that announced it.
    pub event_id: String,
    /// The notification metadata, parsed as JSON when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// When the action was announced.
    pub started_at: DateTime<Utc>,
    /// The last heartbeat sent for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// Where the instance comes from (`EC2`, `WarmPool`, `AutoScalingGroup`), when the event
    /// said (groups with a warm pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Where it goes (`AutoScalingGroup`, `WarmPool`, `EC2`), when the event said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

impl LifecycleAction {
    /// The action a lifecycle event announces, as a record holds it: started at the event's
    /// `time` (Auto Scaling's clock for the hook's timeout), or `now` when the event has none or
    /// claims a time to come.
    #[must_use]
    pub fn announced(event: &LifecycleEvent, event_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            token: event.token.clone(),
            hook: event.hook.clone(),
            group: event.group.clone(),
            transition: event.transition.api_name().to_string(),
            event_id: event_id.to_string(),
            metadata: event.metadata.clone(),
            started_at: Self::started_at(event, now),
            last_heartbeat: None,
            origin: event.origin.clone(),
            destination: event.destination.clone(),
        }
    }

    /// When the action `event` announces started, as [`Self::announced`] records it.
    #[must_use]
    pub fn started_at(event: &LifecycleEvent, now: DateTime<Utc>) -> DateTime<Utc> {
        event.time.map_or(now, |t| t.min(now))
    }

    /// True when `event` (with id `event_id`) replaces this held action: it is another event,
    /// announces an action no older than the held one, and is not a late launch event over a
    /// held terminate action (the terminate hook is the one Auto Scaling waits on).
    #[must_use]
    pub fn yields_to(&self, event: &LifecycleEvent, event_id: &str) -> bool {
        let late_launch = self.transition == LifecycleTransition::Terminating.api_name()
            && event.transition == LifecycleTransition::Launching;
        // A late event for an action older than the held one (e.g. the launch into the warm pool
        // redelivered after the launch out of it) never replaces it.
        let older = event.time.is_some_and(|t| t < self.started_at);
        self.event_id != event_id && !late_launch && !older
    }
}

/// An SSM command started by a transition; `command_id` is absent while only the intent exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PendingCommand {
    /// The transition attempt that sends it (also the command's comment tag).
    pub attempt_id: String,
    /// The SSM command id, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// The trigger whose task sends it.
    pub trigger: String,
    /// When the status event is due at the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// When the intent was recorded.
    pub intent_at: DateTime<Utc>,
}

impl PendingCommand {
    /// The intent to send `trigger`'s command in attempt `attempt_id`, recorded at `now` before
    /// the command is sent.
    #[must_use]
    pub fn intent(attempt_id: &str, trigger: &str, now: DateTime<Utc>) -> Self {
        Self {
            attempt_id: attempt_id.to_string(),
            command_id: None,
            trigger: trigger.to_string(),
            deadline: None,
            intent_at: now,
        }
    }
}

/// Which part of a transition attempt an interrupted chain stopped in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InFlight {
    /// The event being processed.
    pub event_id: String,
    /// The stimulus, kept so that a redelivery or the sweep can finish the chain.
    pub stimulus: Stimulus,
    /// The attempt id of the transition in progress.
    pub attempt_id: String,
    /// `after` tasks of the last written transition that have not run yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_after: Vec<String>,
    /// The trigger whose `after` tasks are pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The state the pending `after` tasks' transition came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A name shared rather than copied: the state and trigger names of a history entry are the
/// model's own (`Arc` clones of the graph's names), and one event id serves all the entries of a
/// chain, so a transition recorded allocates nothing for its names.
pub type SharedName = std::sync::Arc<str>;

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// Source state.
    pub from: SharedName,
    /// Destination state.
    pub to: SharedName,
    /// The trigger that fired (`error` for a move to the failure state).
    pub trigger: SharedName,
    /// The event that caused it.
    pub event_id: SharedName,
    /// The version the record got with this transition.
    pub version: u64,
    /// When it was written.
    pub at: DateTime<Utc>,
}

/// The instance record as the handler sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceRecord {
    /// The instance id (`Ident`).
    pub ident: String,
    /// `ItemStatus`: the current state, absent before cloud-init's first write.
    pub status: Option<String>,
    /// `Version`: 0 when only cloud-init has written the record.
    pub version: u64,
    /// Attributes owned by cloud-init (`InstanceIp`, join tokens, ...), by name.
    pub attributes: std::sync::Arc<BTreeMap<String, Value>>,
    /// The lifecycle action held open for the instance.
    pub lifecycle_action: Option<std::sync::Arc<LifecycleAction>>,
    /// The SSM command the machine waits for.
    pub pending_command: Option<PendingCommand>,
    /// The unfinished chain, if any.
    pub in_flight: Option<std::sync::Arc<InFlight>>,
    /// When the current state was entered.
    pub entered_at: Option<DateTime<Utc>>,
    /// Processed event ids, newest last, at most [`RECENT_EVENTS_LIMIT`]. Shared: a copy of the
    /// record shares the list, and a write copies it once ([`std::sync::Arc::make_mut`]).
    pub recent_events: std::sync::Arc<Vec<String>>,
    /// Transition history, newest last, at most [`HISTORY_LIMIT`]. Shared as `recent_events`.
    pub history: std::sync::Arc<Vec<HistoryEntry>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The Auto Scaling group name, once known.
    pub group: Option<String>,
    /// The sparse active-index attribute (the group, or `-` when unknown).
    pub active_group: Option<String>,
    /// TTL expiry, epoch seconds.
    pub expires_at: Option<i64>,
    /// True when the instance left its group before reaching a terminal state.
    pub gone: bool,
    /// Handler-owned attributes (and `ItemStatus`) that were malformed when read: left out of
    /// this record, removed or overwritten by the next handler write. Never stored.
    pub malformed: Vec<MalformedAttribute>,
    /// A registration taken into this record in memory and not written yet: `status` and
    /// `attributes` already show it, the next handler write stores it. Never stored. Boxed: it
    /// is rare, and a record is moved whole several times per event.
    pub unwritten: Option<Box<UnwrittenRegistration>>,
}

/// What a record shows of the instance's registration beyond what is stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnwrittenRegistration {
    /// `ItemStatus` as stored (what the next write expects).
    pub stored_status: Option<String>,
    /// The instance's own attributes the next write sets.
    pub attributes: serde_json::Map<String, Value>,
}

/// A record's group membership: the attributes a watcher of one group filters on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// `GroupName`.
    pub group: Option<String>,
    /// `ActiveGroup`, the sparse index attribute.
    pub active_group: Option<String>,
}

impl Membership {
    /// The membership of `record`.
    #[must_use]
    pub fn of(record: &InstanceRecord) -> Self {
        Self {
            group: record.group.clone(),
            active_group: record.active_group.clone(),
        }
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        // A digit: `n % 10` is below 10.
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// A stored attribute that could not be read: the record was read without it.
#[derive(Clone, Debug, PartialEq)]
pub struct MalformedAttribute {
    /// The attribute's name.
    pub attribute: String,
    /// What was wrong with it.
    pub message: String,
    /// The stored value as the store read it (DynamoDB: its typed JSON form, `{"S": "x"}`):
    /// a write conditions on it where the attribute arbitrates (`Version`, `ItemStatus`).
    pub raw: Value,
}

/// An item that cannot be read as a record at all (it names no instance).
#[derive(Debug, thiserror::Error)]
#[error("failed to read attribute `{attribute}` of record `{ident}`: {message}")]
pub struct RecordFormatError {
    /// The record's ident.
    pub ident: String,
    /// The attribute at fault.
    pub attribute: String,
    /// What was wrong.
    pub message: String,
}

/// A version that has no successor: the record cannot be written again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record version {version} cannot be incremented: it is the largest version there is")]
pub struct VersionOverflow {
    /// The version that has no successor.
    pub version: u64,
}

/// The version a write over a record at `version` gives it.
///
/// # Errors
/// [`VersionOverflow`] for `u64::MAX` (never reached by counting, only by a forged item).
pub fn next_version(version: u64) -> Result<u64, VersionOverflow> {
    version.checked_add(1).ok_or(VersionOverflow { version })
}

impl InstanceRecord {
    /// The version the next write over this record gives it.
    ///
    /// # Errors
    /// [`VersionOverflow`] when the record's version has no successor.
    pub fn next_version(&self) -> Result<u64, VersionOverflow> {
        next_version(self.version)
    }

    /// `ItemStatus` as stored: what a write over this record expects (the state shown may be a
    /// registration's, not written yet).
    #[must_use]
    pub fn stored_status(&self) -> Option<&String> {
        match &self.unwritten {
            Some(unwritten) => unwritten.stored_status.as_ref(),
            None => self.status.as_ref(),
        }
    }

    /// A record that only names its instance.
    #[must_use]
    pub fn new(ident: impl Into<String>) -> Self {
        Self {
            ident: ident.into(),
            ..Self::default()
        }
    }

    /// The state, or `""` when cloud-init has not written one.
    #[must_use]
    pub fn state(&self) -> &str {
        self.status.as_deref().unwrap_or("")
    }

    /// True when this event id was fully processed already.
    #[must_use]
    pub fn has_processed(&self, event_id: &str) -> bool {
        self.recent_events.iter().any(|e| e == event_id)
    }

    /// The id of the attempt to fire `trigger` from `from` for `event_id`: the interrupted
    /// attempt's when the record's unfinished chain was making this same attempt, else a new one.
    #[must_use]
    pub fn attempt_id(&self, event_id: &str, from: &str, trigger: &str) -> String {
        match &self.in_flight {
            Some(f)
                if f.event_id == event_id
                    && f.trigger.as_deref() == Some(trigger)
                    && f.from.as_deref() == Some(from) =>
            {
                f.attempt_id.clone()
            }
            _ => self.new_attempt_id(from, trigger),
        }
    }

    /// A stable id of an attempt to fire `trigger` from `from` at this record's version, short
    /// enough to stay whole at the end of an SSM comment (100 characters): readable when it
    /// fits, else the instance plus a hash of the rest.
    #[must_use]
    pub fn new_attempt_id(&self, from: &str, trigger: &str) -> String {
        // `{ident}:{from}:{trigger}:v{version}`, built without formatting machinery (a chain
        // makes one per transition): its pieces are hashed in place when it is too long.
        let mut digits = [0u8; 20];
        let version = decimal(self.version, &mut digits);
        let ident = self.ident.as_str();
        let pieces = [ident, ":", from, ":", trigger, ":v", version];
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if len <= 80 {
            let mut readable = String::with_capacity(len);
            pieces.iter().for_each(|p| readable.push_str(p));
            return readable;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in pieces.iter().flat_map(|p| p.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{ident}:{hash:016x}:v{version}")
    }

    /// A cloud-init attribute as a string, if it is one.
    #[must_use]
    pub fn attribute_str(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }

    /// Writes the record in its flat item form; absent fields are left out.
    #[must_use]
    pub fn to_item(&self) -> Map<String, Value> {
        let mut item = Map::new();
        item.insert(attr::IDENT.into(), Value::String(self.ident.clone()));
        for (name, value) in self.attributes.iter() {
            item.insert(name.clone(), value.clone());
        }
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(v) = value {
                item.insert(name.into(), v);
            }
        };
        let json = |v: &dyn erased::Json| v.to_json();
        put(attr::ITEM_STATUS, self.status.clone().map(Value::String));
        if self.version > 0 {
            put(attr::VERSION, Some(Value::from(self.version)));
        }
        put(
            attr::LIFECYCLE_ACTION,
            self.lifecycle_action.as_ref().map(|v| json(v)),
        );
        put(
            attr::PENDING_COMMAND,
            self.pending_command.as_ref().map(|v| json(v)),
        );
        put(attr::IN_FLIGHT, self.in_flight.as_ref().map(|v| json(v)));
        put(attr::ENTERED_AT, self.entered_at.as_ref().map(|v| json(v)));
        if !self.recent_events.is_empty() {
            put(attr::RECENT_EVENTS, Some(json(&self.recent_events)));
        }
        if !self.history.is_empty() {
            put(attr::HISTORY, Some(json(&self.history)));
        }
        put(attr::LAST_ERROR, self.last_error.clone().map(Value::String));
        put(attr::GROUP, self.group.clone().map(Value::String));
        put(
            attr::ACTIVE_GROUP,
            self.active_group.clone().map(Value::String),
        );
        put(attr::EXPIRES_AT, self.expires_at.map(Value::from));
        if self.gone {
            put(attr::GONE, Some(Value::Bool(true)));
        }
        item
    }
}

mod erased {
    /// Serialize to JSON without a fallible path (all record parts are plain data).
    pub trait Json {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

#[path = "record_decode.rs"]
mod decode;
#[path = "record_item.rs"]
mod item;

pub use item::StoredItem;

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;

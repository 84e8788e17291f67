//! The conditional write every handler update is made of.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{Result, StoreError};
use crate::record::{
    HISTORY_LIMIT, HistoryEntry, InFlight, InstanceRecord, LifecycleAction, MalformedAttribute,
    PendingCommand, RECENT_EVENTS_LIMIT,
};

/// A change to an optional attribute.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Set it.
    Set(T),
    /// Remove it.
    Clear,
}

impl<T: Clone> Change<T> {
    /// Applies the change to a field.
    pub fn apply(&self, field: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Set(v) => *field = Some(v.clone()),
            Self::Clear => *field = None,
        }
    }

    /// From a task's `Option<Option<T>>` change.
    #[must_use]
    pub fn from_option(change: Option<Option<T>>) -> Self {
        match change {
            None => Self::Keep,
            Some(Some(v)) => Self::Set(v),
            Some(None) => Self::Clear,
        }
    }
}

/// Whether the record stays in the sparse active index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Activity {
    /// Leave as it is.
    #[default]
    Keep,
    /// Active, indexed under this group (or `-`).
    Active(String),
    /// Leaves the index; expires (TTL) at this epoch second.
    Inactive {
        /// TTL expiry, epoch seconds.
        expires_at: i64,
    },
}

/// One conditional write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commit {
    /// The record.
    pub ident: String,
    /// `ItemStatus` must be this (`None`: absent).
    pub expected_status: Option<String>,
    /// `Version` must be this (`0`: absent).
    pub expected_version: u64,
    /// The write is refused (as a conflict) when this event was processed already.
    pub unprocessed_event: Option<String>,
    /// The new `ItemStatus`, when it changes.
    pub status: Option<String>,
    /// History entries to append, oldest first (several when transitions without tasks were
    /// written together).
    pub history: Vec<HistoryEntry>,
    /// An event id to add to `RecentEvents`.
    pub mark_processed: Option<String>,
    /// The lifecycle action.
    pub lifecycle_action: Change<std::sync::Arc<LifecycleAction>>,
    /// The pending command.
    pub pending_command: Change<PendingCommand>,
    /// The unfinished chain.
    pub in_flight: Change<InFlight>,
    /// The last error.
    pub last_error: Change<String>,
    /// The group name, once known.
    pub group: Option<String>,
    /// Active-index membership.
    pub activity: Activity,
    /// Mark the instance as gone from its group.
    pub gone: bool,
    /// The instance's own attributes to set, copied from its registration
    /// ([`crate::registration::Registration`]); never a handler-owned name.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The time of the write.
    pub now: DateTime<Utc>,
    /// The bounded lists of the record as read (set by [`Commit::expecting`]).
    ///
    /// A store that cannot trim a list server-side (DynamoDB cannot append to a list and remove
    /// its head in one update expression) writes `History` and `RecentEvents` whole, computed
    /// from these; the `Version` condition guarantees they are the stored ones. `None`: the store
    /// reads them first.
    pub base: Option<BaseLists>,
    /// The attributes the record was read without, because they were malformed (set by
    /// [`Commit::expecting`]). The write repairs them: it conditions on the stored value of
    /// `Version` and `ItemStatus` when those are among them, removes every one it does not set,
    /// and notes them in `LastError` ([`Commit::last_error_change`]).
    pub repair: Vec<MalformedAttribute>,
}

/// `History` and `RecentEvents` of a record as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BaseLists {
    /// `History`, oldest first (shared with the record).
    pub history: std::sync::Arc<Vec<HistoryEntry>>,
    /// `RecentEvents`, oldest first (shared with the record).
    pub recent_events: std::sync::Arc<Vec<String>>,
}

impl BaseLists {
    /// The lists of a record.
    #[must_use]
    pub fn of(record: &InstanceRecord) -> Self {
        Self {
            history: record.history.clone(),
            recent_events: record.recent_events.clone(),
        }
    }
}

impl Commit {
    /// A commit that expects the record exactly as it was read (and stores the registration it
    /// took in, if any: [`InstanceRecord::unwritten`]).
    #[must_use]
    pub fn expecting(record: &InstanceRecord, now: DateTime<Utc>) -> Self {
        let mut commit = Self::default();
        commit.expect(record, now);
        commit
    }

    /// Makes this (empty) commit expect `record` as [`Commit::expecting`] does, in place: a
    /// commit built in a box is not moved into it.
    pub fn expect(&mut self, record: &InstanceRecord, now: DateTime<Utc>) {
        self.ident.clone_from(&record.ident);
        self.expected_status = record.stored_status().cloned();
        self.expected_version = record.version;
        self.now = now;
        self.base = Some(BaseLists::of(record));
        self.repair.clone_from(&record.malformed);
        // A registration taken in but not written yet is written by this write.
        if let Some(unwritten) = &record.unwritten {
            if record.status != unwritten.stored_status {
                self.status.clone_from(&record.status);
            }
            self.attributes.clone_from(&unwritten.attributes);
        }
    }

    /// The malformed stored value of `attribute` the write repairs, if any.
    #[must_use]
    pub fn repairs(&self, attribute: &str) -> Option<&MalformedAttribute> {
        self.repair.iter().find(|m| m.attribute == attribute)
    }

    /// What the write does to `LastError`: an error the commit sets, else the note of the
    /// attributes it repairs, else the commit's own change.
    #[must_use]
    pub fn last_error_change(&self) -> Change<String> {
        match (&self.last_error, InstanceRecord::repair_note(&self.repair)) {
            (Change::Set(_), _) | (_, None) => self.last_error.clone(),
            (_, Some(note)) => Change::Set(note),
        }
    }

    /// The version the write gives the record.
    ///
    /// # Errors
    /// [`StoreError::VersionOverflow`] when the expected version has no successor.
    pub fn new_version(&self) -> Result<u64> {
        Ok(crate::record::next_version(self.expected_version)?)
    }

    /// Checks the expectation against the current record (`None` when absent).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it does not hold.
    pub fn check(&self, current: Option<&InstanceRecord>) -> Result<()> {
        self.new_version()?;
        let (status, version, processed) = match current {
            Some(r) => (
                r.status.as_deref(),
                r.version,
                self.unprocessed_event
                    .as_deref()
                    .is_some_and(|e| r.has_processed(e)),
            ),
            None => (None, 0, false),
        };
        if status == self.expected_status.as_deref()
            && version == self.expected_version
            && !processed
        {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                ident: self.ident.clone(),
            })
        }
    }

    /// Appends the history entries and the processed event id to the bounded lists, dropping the
    /// oldest entries beyond [`HISTORY_LIMIT`] and [`RECENT_EVENTS_LIMIT`].
    pub fn apply_to_lists(&self, history: &mut Vec<HistoryEntry>, recent_events: &mut Vec<String>) {
        if !self.history.is_empty() {
            append_bounded(history, self.history.iter().cloned(), HISTORY_LIMIT);
        }
        if let Some(event) = &self.mark_processed {
            mark_processed(recent_events, Cow::Borrowed(event));
        }
    }

    /// Applies the write to a record (the in-memory semantics of the DynamoDB update).
    pub fn apply(&self, record: &mut InstanceRecord) {
        // Checked by `check` (`new_version`) before any write is applied.
        record.version = self.expected_version.saturating_add(1);
        if let Some(status) = &self.status {
            enter(record, status.clone(), self.now);
        }
        if !self.history.is_empty() || self.mark_processed.is_some() {
            self.apply_to_lists(
                std::sync::Arc::make_mut(&mut record.history),
                std::sync::Arc::make_mut(&mut record.recent_events),
            );
        }
        self.lifecycle_action.apply(&mut record.lifecycle_action);
        self.pending_command.apply(&mut record.pending_command);
        // Shared on the record (large, and rare: inline it would make every record move copy it,
        // and every record copy copy its strings).
        match &self.in_flight {
            Change::Keep => {}
            Change::Set(in_flight) => {
                record.in_flight = Some(std::sync::Arc::new(in_flight.clone()))
            }
            Change::Clear => record.in_flight = None,
        }
        self.last_error_change().apply(&mut record.last_error);
        // Every malformed attribute is left out of the record already: the write repairs them.
        record.malformed.clear();
        record.unwritten = None;
        if let Some(group) = &self.group {
            record.group = Some(group.clone());
        }
        match &self.activity {
            Activity::Keep => {}
            Activity::Active(group) => {
                record.active_group = Some(group.clone());
                record.expires_at = None;
            }
            Activity::Inactive { expires_at } => {
                record.active_group = None;
                record.expires_at = Some(*expires_at);
            }
        }
        if self.gone {
            record.gone = true;
        }
        for (name, value) in &self.attributes {
            if crate::registration::is_instance_attribute(name) {
                std::sync::Arc::make_mut(&mut record.attributes)
                    .insert(name.clone(), value.clone());
            }
        }
    }

    /// Takes the write's state, history entries and event id out, to be moved into the record:
    /// applying the rest of the write and them is applying the write.
    pub(crate) fn take_moved(&mut self) -> Moved {
        Moved {
            status: self.status.take(),
            history: std::mem::take(&mut self.history),
            mark_processed: self.mark_processed.take(),
            now: self.now,
        }
    }

    /// Puts back what [`Self::take_moved`] took, unapplied.
    pub(crate) fn put_back(&mut self, moved: Moved) {
        self.status = moved.status;
        self.history = moved.history;
        self.mark_processed = moved.mark_processed;
    }
}

/// The parts of a write [`Commit::take_moved`] takes out, to move into the record.
pub(crate) struct Moved {
    status: Option<String>,
    history: Vec<HistoryEntry>,
    mark_processed: Option<String>,
    now: DateTime<Utc>,
}

impl Moved {
    /// Applies the parts as [`Commit::apply`] would, moving them.
    pub(crate) fn apply(self, record: &mut InstanceRecord) {
        if let Some(status) = self.status {
            enter(record, status, self.now);
        }
        if let Some(event) = self.mark_processed {
            let recent_events = std::sync::Arc::make_mut(&mut record.recent_events);
            mark_processed(recent_events, Cow::Owned(event));
        }
        if !self.history.is_empty() {
            let history = std::sync::Arc::make_mut(&mut record.history);
            if history.is_empty() && self.history.len() <= HISTORY_LIMIT {
                // A record's first entries: the write's list becomes the record's, uncopied.
                *history = self.history;
            } else {
                append_bounded(history, self.history, HISTORY_LIMIT);
            }
        }
    }
}

/// Sets the record's state, noting when it entered a new one.
fn enter(record: &mut InstanceRecord, status: String, now: DateTime<Utc>) {
    if record.status.as_deref() != Some(status.as_str()) {
        record.entered_at = Some(now);
    }
    record.status = Some(status);
}

/// Appends `entries` to a bounded list, dropping its oldest beyond `limit`.
fn append_bounded<T>(list: &mut Vec<T>, entries: impl IntoIterator<Item = T>, limit: usize) {
    list.extend(entries);
    let excess = list.len().saturating_sub(limit);
    list.drain(..excess);
}

/// Adds an event id to `RecentEvents` unless it is there, keeping the newest
/// [`RECENT_EVENTS_LIMIT`].
fn mark_processed(recent_events: &mut Vec<String>, event: Cow<'_, str>) {
    if !recent_events.iter().any(|e| *e == *event) {
        recent_events.push(event.into_owned());
    }
    let excess = recent_events.len().saturating_sub(RECENT_EVENTS_LIMIT);
    recent_events.drain(..excess);
}

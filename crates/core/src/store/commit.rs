//! The conditional write every handler update is made of.

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
            history.extend(self.history.iter().cloned());
            let excess = history.len().saturating_sub(HISTORY_LIMIT);
            history.drain(..excess);
        }
        if let Some(event) = &self.mark_processed {
            if !recent_events.iter().any(|e| e == event) {
                recent_events.push(event.clone());
            }
            let excess = recent_events.len().saturating_sub(RECENT_EVENTS_LIMIT);
            recent_events.drain(..excess);
        }
    }

    /// Applies the write to a record (the in-memory semantics of the DynamoDB update).
    pub fn apply(&self, record: &mut InstanceRecord) {
        // Checked by `check` (`new_version`) before any write is applied.
        record.version = self.expected_version.saturating_add(1);
        if let Some(status) = &self.status {
            if record.status.as_deref() != Some(status) {
                record.entered_at = Some(self.now);
            }
            record.status = Some(status.clone());
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
}
